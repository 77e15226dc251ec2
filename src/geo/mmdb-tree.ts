// The search tree of a MaxMind-format (.mmdb) file, walked with an address we have already
// parsed. maxmind's Reader.get takes text and parses it again (a split and parseInt per part,
// bytes in an array, then a bit read per step) on every lookup: with a new client on every
// request that was most of a GeoIP lookup's cost. This walk is the same algorithm as mmdb-lib's
// findAddressInTree (https://maxmind.github.io/MaxMind-DB/, "Search Tree Section"), reading the
// IPv4 address's bits off its number; test/geo/mmdb-tree.test.ts checks it against maxmind on
// many addresses. Decoding a record stays maxmind's job.
import { ipv4Bit, ipv6Bit, type ParsedIp } from './ip.js';

/** What the walk needs of the file's metadata (maxmind's `reader.metadata`). */
export interface MmdbTreeShape {
  readonly ipVersion: number;
  readonly nodeCount: number;
  readonly recordSize: number;
  readonly nodeByteSize: number;
}

export class MmdbTree {
  private readonly nodeCount: number;
  private readonly recordSize: number;
  private readonly nodeByteSize: number;
  /** Where IPv4 addresses start: the node reached by 96 zero bits in an IPv6 tree (::/96). */
  private readonly ipv4Start: number;

  constructor(
    private readonly db: Buffer,
    shape: MmdbTreeShape,
  ) {
    if (shape.recordSize !== 24 && shape.recordSize !== 28 && shape.recordSize !== 32) throw new Error(`unsupported mmdb record size ${shape.recordSize}`);
    this.nodeCount = shape.nodeCount;
    this.recordSize = shape.recordSize;
    this.nodeByteSize = shape.nodeByteSize;
    let start = 0;
    if (shape.ipVersion !== 4) for (let i = 0; i < 96 && start < this.nodeCount; i++) start = this.child(start, 0);
    this.ipv4Start = start;
  }

  /**
   * The record the address leads to, as the tree's own number (greater than nodeCount, the same
   * number for every address that shares a record), or undefined when the file has no data for it.
   */
  find(ip: ParsedIp): number | undefined {
    const nodeCount = this.nodeCount;
    let node: number;
    if (ip.version === 4) {
      const value = ip.value;
      node = this.ipv4Start;
      for (let i = 0; i < 32 && node < nodeCount; i++) node = this.child(node, ipv4Bit(value, i));
    } else {
      const groups = ip.groups;
      node = 0;
      for (let i = 0; i < 128 && node < nodeCount; i++) node = this.child(node, ipv6Bit(groups, i));
    }
    return node > nodeCount ? node : undefined;
  }

  /** The left (0) or right (1) record of a node: 24, 28 or 32 bits each, big-endian. */
  private child(node: number, bit: number): number {
    const db = this.db;
    const at = node * this.nodeByteSize;
    if (this.recordSize === 24) {
      const o = bit ? at + 3 : at;
      return (db[o]! << 16) | (db[o + 1]! << 8) | db[o + 2]!;
    }
    if (this.recordSize === 28) {
      // The middle byte holds the high nibble of the left record and the low nibble of the right.
      if (bit) return (((db[at + 3]! & 0x0f) << 24) | (db[at + 4]! << 16) | (db[at + 5]! << 8) | db[at + 6]!) >>> 0;
      return (((db[at + 3]! & 0xf0) << 20) | (db[at]! << 16) | (db[at + 1]! << 8) | db[at + 2]!) >>> 0;
    }
    return db.readUInt32BE(bit ? at + 4 : at);
  }
}
