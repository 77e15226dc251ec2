// The routing decision: one pure function of the request's facts, the compiled config and a
// read-only view of mirror state. The HTTP server, `explain` and the bench all call it, so what
// `explain` prints is exactly what a client would get. It changes nothing: what it wants done
// (stale answers refreshed, a breaker's trial check, its cache reads counted) it returns, and the
// server does it after answering.
import type { CompiledConfig, CompiledMirror, CompiledRoute } from '../config/compiled.js';
import { locateRequestClient, type ClientLocation, type LocationCache } from '../geo/location.js';
import { blobUrl } from '../mirrors/blob-url.js';
import { byLatencyWithinRegions, candidatesFor, type Candidate } from '../mirrors/candidates.js';
import type { Availability, AvailabilityCheck, CacheReads, MirrorStateView, ObjectKind } from '../mirrors/state-view.js';
import { distrust, type Freshness, type TrustRequest } from '../trust/view.js';
import { checkBinaryPath, MAX_PATH_LENGTH, parseOciPath, type OciRequest } from './request-path.js';
import type { TargetMemo } from './target-memo.js';

export interface RequestFacts {
  method: string;
  /** The path as received, still percent-encoded. */
  path: string;
  /** The query string as received, without the '?'; kept on redirects (tag-list pagination needs it). */
  query: string;
  /** The socket's remote address. */
  peerAddress: string;
  forwardedFor?: string | undefined;
  /** Set on the second pass, after the availability checks asked for have been given their time. */
  checksDone?: boolean;
}

/** Why a candidate was passed over, or that it was chosen. */
export interface Verdict {
  mirror: string;
  region: string;
  outcome: 'chosen' | 'skipped' | 'alternative';
  reason?: string;
}

export interface MirrorListEntry {
  mirror: string;
  region: string;
  url: string;
  usable: boolean;
  reason?: string;
  /** How far the mirror is behind production, when the background audit has covered it (issue 9). */
  freshness?: Freshness;
}

/** Set on a decision that consulted mirror state: the server acts on both after answering. */
export interface FollowUp {
  /** The availability-cache reads, each (mirror, object) once: for the cache's hit counters. */
  reads?: CacheReads;
  /** Stale answers it used, and breaker trials due: checked in the background after the answer. */
  refresh?: AvailabilityCheck[];
}

export type Decision =
  | ({
      kind: 'redirect';
      status: 302 | 307;
      location: string;
      mirror: CompiledMirror;
      region: string;
      route: CompiledRoute;
      client: ClientLocation;
      verdicts: Verdict[];
      /** Next best mirrors that can serve, for RFC 6249 Link headers. */
      alternatives: { mirror: CompiledMirror; region: string; url: string }[];
      /** The object's size when an availability check recorded it: egress figures for `report`. */
      bytes?: number;
    } & FollowUp)
  /** `GET /v2/`: answered here; the client is located for the access log, as for every answer. */
  | { kind: 'v2-base'; client?: ClientLocation }
  /** `?mirrorlist` (JSON or HTML) or `<path>.meta4` (Metalink): every candidate, best first. */
  | ({
      kind: 'mirrorlist';
      format: 'mirrorlist' | 'metalink';
      file: string;
      path: string;
      sha256?: string;
      /** Bytes, when an availability check recorded it. */
      size?: number;
      client: ClientLocation;
      route: CompiledRoute;
      entries: MirrorListEntry[];
    } & FollowUp)
  | ({ kind: 'error'; status: number; code: string; message: string; client?: ClientLocation; verdicts?: Verdict[]; retryAfterSeconds?: number } & FollowUp)
  /** The decision needs availability facts that are not cached: check these, then decide again. */
  | ({ kind: 'check'; checks: AvailabilityCheck[] } & FollowUp);

/** Checksums and signatures are always fetched from the origin: a user who verifies trusts only it. */
const INTEGRITY_SUFFIXES = ['.sha256', '.sha512', '.sha1', '.md5', '.asc', '.sig', '.pem', '.cert', '.gpg', '.sha256sum', '.sha512sum', '.sha1sum', '.md5sum'];
/** Checksum files known by name: SHA256SUMS (Debian, Ubuntu, Go), goreleaser's checksums.txt. */
const CHECKSUM_FILE = /(?:^|\/)(?:(?:SHA(?:1|224|256|384|512)|MD5|B2)SUMS|(?:[^/]*[_.-])?checksums\.txt)$/i;

function isIntegrityFile(path: string): boolean {
  return INTEGRITY_SUFFIXES.some((suffix) => path.endsWith(suffix)) || CHECKSUM_FILE.test(path);
}
const MAX_ALTERNATIVES = 3;
const METALINK_SUFFIX = '.meta4';

export interface Target {
  route: CompiledRoute;
  /** The object's path as requested (without .meta4). */
  path: string;
  /** The path below the route prefix, as file manifests name it. */
  relativePath: string;
  /**
   * Builds the URL of the object on a mirror; with `query` false, without the client's query
   * string: what availability checks HEAD, so that the cached answer (keyed by the object) is
   * about exactly what was asked of the mirror, and one client's query cannot poison it.
   */
  urlOn(mirror: CompiledMirror, query?: boolean): string;
  /** Availability cache key and kind, for objects worth checking before a redirect. */
  check?: { key: string; kind: ObjectKind };
  originOnly: boolean;
  /** Blob buckets (`blobs:` mirrors) serve this request: blob GETs and HEADs only. */
  blobMirrors: boolean;
  status: 302 | 307;
  /** What mirror trust (src/trust/) needs to know about the request. */
  trust: TrustRequest;
}

/**
 * The answer to one request. `locations` memoises client locations across requests, and
 * `targets` what a path names (the server owns one of each); without them every call works both
 * out afresh, with the same answer.
 */
export function decide(facts: RequestFacts, config: CompiledConfig, state: MirrorStateView, locations?: LocationCache, targets?: TargetMemo<Target>): Decision {
  if (facts.method !== 'GET' && facts.method !== 'HEAD') {
    return refusal(facts, config, locations, 405, 'UNSUPPORTED', `${facts.method} is not supported: this endpoint is read-only (GET and HEAD)`);
  }
  if (!facts.path.startsWith('/')) return refusal(facts, config, locations, 400, 'PATH_INVALID', 'the request target must be a path starting with /');
  if (facts.path.length > MAX_PATH_LENGTH) return refusal(facts, config, locations, 414, 'PATH_INVALID', `path longer than ${MAX_PATH_LENGTH} characters`);
  const isOci = facts.path === '/v2' || facts.path.startsWith('/v2/');
  // Mirror lists are for files: `<path>.meta4` (Metalink) or `<path>?mirrorlist`.
  const listing = isOci ? undefined : facts.path.endsWith(METALINK_SUFFIX) ? 'metalink' : facts.query !== '' && /(?:^|&)mirrorlist(?:[=&]|$)/.test(facts.query) ? 'mirrorlist' : undefined;
  const objectFacts = listing === 'metalink' ? { ...facts, path: facts.path.slice(0, -METALINK_SUFFIX.length) } : listing ? { ...facts, query: '' } : facts;
  const target = targetOf(objectFacts, isOci, config, targets);
  if ('kind' in target) return target.kind === 'error' || target.kind === 'v2-base' ? { ...target, client: locate(facts, config, locations) } : target;

  const client = locate(facts, config, locations);
  // Blob buckets hold blobs only: for anything else they are not candidates at all (not "skipped").
  const listed = candidatesFor(target.route, client, target.blobMirrors);
  const candidates = target.route.order === 'latency' ? byLatencyWithinRegions(listed, (name) => state.health(name).latencyMs) : listed;
  if (listing) return list(target, candidates, client, state, facts.checksDone === true, listing, target.path.slice(target.path.lastIndexOf('/') + 1));
  return choose(target, candidates, client, state, facts.checksDone === true);
}

/** What the request's path names, through the server's memo when there is one (paths without a query only). */
function targetOf(facts: RequestFacts, isOci: boolean, config: CompiledConfig, targets: TargetMemo<Target> | undefined): Target | Decision {
  if (!targets || facts.query !== '') return isOci ? ociTarget(facts, config) : binaryTarget(facts, config);
  const known = targets.get(config, facts.path);
  if (known) return known;
  const target = isOci ? ociTarget(facts, config) : binaryTarget(facts, config);
  // Refusals are cheap to work out again, and a client could fill the memo with bad paths. A
  // request's second pass (after its availability checks) is not a second request for the path.
  if (!('kind' in target) && !facts.checksDone) targets.set(config, facts.path, withUrlsKept(target));
  return target;
}

/**
 * A memoised target keeps each mirror's URL once built: without a query string, both of urlOn's
 * forms are the same, and a redirect builds two or three of them (Location, Link) per request.
 */
function withUrlsKept(target: Target): Target {
  const build = target.urlOn;
  const urls = new Map<CompiledMirror, string>();
  target.urlOn = (mirror) => {
    let url = urls.get(mirror);
    if (url === undefined) {
      url = build(mirror);
      urls.set(mirror, url);
    }
    return url;
  };
  return target;
}

/** An error answer, with the client located: the access log and `report` count bad requests per country. */
function refusal(facts: RequestFacts, config: CompiledConfig, locations: LocationCache | undefined, status: number, code: string, message: string): Decision {
  return { kind: 'error', status, code, message, client: locate(facts, config, locations) };
}

/** The request's client, through the server's memo when there is one. */
function locate(facts: RequestFacts, config: CompiledConfig, locations: LocationCache | undefined): ClientLocation {
  return locations ? locations.locateRequest(facts.peerAddress, facts.forwardedFor, config.trustedProxies, config.geo) : locateRequestClient(facts.peerAddress, facts.forwardedFor, config.trustedProxies, config.geo);
}

function ociTarget(facts: RequestFacts, config: CompiledConfig): Target | Decision {
  const request = parseOciPath(facts.path);
  if ('status' in request) return { kind: 'error', ...request };
  if (request.kind === 'base') return { kind: 'v2-base' };
  if (request.kind === 'catalog') return { kind: 'error', status: 404, code: 'UNSUPPORTED', message: 'catalog is not offered' };
  const ns = namespaceOf(facts.query);
  if (ns !== undefined && config.namespaces.size > 0 && !config.namespaces.has(ns)) {
    return { kind: 'error', status: 404, code: 'NAME_UNKNOWN', message: `this redirector does not mirror registry "${ns}" (it serves ${[...config.namespaces].join(', ')})` };
  }
  const route = config.ociRoutes.find((r) => r.namePrefix === '' || request.name === r.namePrefix || request.name.startsWith(`${r.namePrefix}/`));
  if (!route) return { kind: 'error', status: 404, code: 'NAME_UNKNOWN', message: `repository "${request.name}" is not served here` };
  const query = apiQuery(facts.query, request.kind);
  const target: Target = {
    route,
    path: facts.path,
    relativePath: request.name,
    urlOn: (mirror, withQuery = true) =>
      mirror.kind === 'blobs' ? blobUrl(mirror, request.reference!) : `${mirror.base}/v2/${mirror.repository ? `${mirror.repository}/` : ''}${request.name}/${request.tail}${withQuery ? query : ''}`,
    // Tag lists and referrers change with every push: where there is an origin, only it has the
    // truth (referrers also on a mirror the audit proved to have the origin's list, see evaluate).
    originOnly: route.origin !== undefined && (request.kind === 'tags' || request.kind === 'referrers'),
    blobMirrors: request.kind === 'blob',
    status: 307,
    trust: { routePrefix: route.prefix, hasOrigin: route.origin !== undefined, kind: request.kind, name: request.name, ...(request.reference !== undefined && { reference: request.reference }) },
  };
  const check = ociCheck(request);
  if (check) {
    target.check = check;
    target.trust.key = check.key;
  }
  return target;
}

/** The query parameters the distribution API defines for a request; the rest (containerd's `ns`) are for us. */
const API_PARAMETERS: Partial<Record<OciRequest['kind'], ReadonlySet<string>>> = {
  tags: new Set(['n', 'last']),
  referrers: new Set(['artifactType']),
};

/** `?…` with only the API's own parameters, as received (encoding untouched), or ''. */
function apiQuery(query: string, kind: OciRequest['kind']): string {
  const allowed = API_PARAMETERS[kind];
  if (!query || !allowed) return '';
  const kept = query.split('&').filter((part) => allowed.has(part.split('=', 1)[0]!));
  return kept.length > 0 ? `?${kept.join('&')}` : '';
}

/**
 * The availability-cache key of the object a request path names (what POST /-/purge?path= drops),
 * or why there is none.
 */
export function availabilityKeyOf(path: string): { key: string } | { error: string } {
  if (path === '/v2' || path.startsWith('/v2/')) {
    const request = parseOciPath(path);
    if ('status' in request) return { error: request.message };
    const check = request.kind === 'base' || request.kind === 'catalog' ? undefined : ociCheck(request);
    return check ? { key: check.key } : { error: `${path} names no cached object (only manifests and blobs are checked)` };
  }
  const invalid = checkBinaryPath(path);
  return invalid ? { error: invalid.message } : { key: `file:${path}` };
}

function ociCheck(request: OciRequest): Target['check'] {
  // Registries link blobs per repository: having a digest under one name says nothing about another.
  if (request.kind === 'blob') return { key: `blob:${request.name}@${request.reference}`, kind: 'blob' };
  if (request.kind === 'manifest') {
    const byDigest = request.reference!.includes(':');
    return { key: `manifest:${request.name}:${request.reference}`, kind: byDigest ? 'manifest-digest' : 'manifest-tag' };
  }
  // Tag lists and referrers are never cached as present: they are sent to the origin (see originOnly).
  return undefined;
}

function binaryTarget(facts: RequestFacts, config: CompiledConfig): Target | Decision {
  const invalid = checkBinaryPath(facts.path);
  if (invalid) return { kind: 'error', ...invalid };
  const route = config.binaryRoutes.find((r) => r.prefix === '/' || facts.path === r.prefix || facts.path.startsWith(`${r.prefix}/`));
  if (!route) return { kind: 'error', status: 404, code: 'NOT_FOUND', message: `no route serves ${facts.path}` };
  const rest = route.prefix === '/' ? facts.path.slice(1) : facts.path.slice(route.prefix.length + 1);
  if (rest === '') return { kind: 'error', status: 404, code: 'NOT_FOUND', message: `${facts.path} is a route prefix, not a file` };
  const query = facts.query ? `?${facts.query}` : '';
  // One string for the cache key and trust's key: built, and hashed on lookup, once.
  const key = `file:${facts.path}`;
  const target: Target = {
    route,
    path: facts.path,
    relativePath: rest,
    urlOn: (mirror, withQuery = true) => (route.keepPrefix ? `${mirror.base}${facts.path}` : `${mirror.base}/${rest}`) + (withQuery ? query : ''),
    check: { key, kind: 'binary' },
    originOnly: route.origin !== undefined && isIntegrityFile(rest),
    blobMirrors: false,
    status: 302,
    trust: { routePrefix: route.prefix, hasOrigin: route.origin !== undefined, kind: 'file', name: '', key },
  };
  return target;
}

/** `known`: the cached availability answer evaluate read for this mirror, when it read one. */
type Evaluation = { usable: true; known?: Availability } | { usable: false; reason: string } | { usable: 'unknown'; check: AvailabilityCheck };
/** The answer for a mirror nothing was read for: one object, not one per candidate. */
const USABLE: Evaluation = { usable: true };

/** Can this candidate serve this object now? From health and cached availability only: no I/O,
 *  no state changed; what the server should do afterwards is noted in `followUp`. */
function evaluate(target: Target, candidate: Candidate, client: ClientLocation, state: MirrorStateView, checksDone: boolean, followUp: FollowUp): Evaluation {
  const { mirror } = candidate;
  const { route } = target;
  const isOrigin = mirror === route.origin;
  if (target.originOnly && !isOrigin && !referrersProven(target, mirror.name, state))
    return {
      usable: false,
      reason:
        target.trust.kind === 'referrers'
          ? 'referrers are served from the origin only, unless the audit proved this mirror has the same list'
          : target.route.type === 'oci'
            ? 'tag lists are served from the origin only'
            : 'checksums and signatures are served from the origin only',
    };
  if (mirror.ipVersions && !mirror.ipVersions.has(client.ip.version)) {
    return { usable: false, reason: `serves IPv${[...mirror.ipVersions].join('/IPv')} only; client is IPv${client.ip.version}` };
  }
  const health = state.health(mirror.name);
  if (!health.up) {
    if (health.trial) wantRefresh(followUp, health.trial);
    return { usable: false, reason: `down${health.reason ? `: ${health.reason}` : ''}` };
  }
  // The origin holds everything by definition; a mirror may lag behind it, so ask (from cache).
  // A blob bucket is always asked: it is filled after promotion, and a registry serves what it lacks.
  let known: Availability | undefined;
  if (target.check && (route.origin || mirror.kind === 'blobs') && !isOrigin) {
    const { key, kind } = target.check;
    known = state.availability(mirror.name, key);
    followUp.reads ??= { hits: 0, staleHits: 0, misses: 0 };
    const reads = followUp.reads;
    if (!known) {
      reads.misses++;
      if (checksDone) return { usable: false, reason: 'availability unknown (check did not answer in time)' };
      return { usable: 'unknown', check: { mirror: mirror.name, key, url: target.urlOn(mirror, false), kind } };
    }
    if (state.isStale?.(mirror.name, key)) {
      reads.staleHits++;
      wantRefresh(followUp, { mirror: mirror.name, key, url: target.urlOn(mirror, false), kind });
    } else {
      reads.hits++;
    }
    if (known.state === 'absent') return { usable: false, reason: `does not have it (HTTP ${known.status})` };
    if (known.state === 'error') return { usable: false, reason: `availability check failed: ${known.reason}` };
  }
  // Routing by proof (issue 9): audit findings, ownership, tags and signatures.
  const distrusted = isOrigin ? undefined : distrust(state.trust, target.trust, mirror.name, known);
  if (distrusted) return { usable: false, reason: distrusted };
  return known ? { usable: true, known } : USABLE;
}

/**
 * A referrers request may go to a mirror whose last audit found its list for that digest the same
 * set as the origin's (src/trust/view.ts); otherwise only the origin has the truth.
 */
function referrersProven(target: Target, mirror: string, state: MirrorStateView): boolean {
  const { trust } = target;
  return trust.kind === 'referrers' && trust.reference !== undefined && state.trust?.referrersComplete?.(mirror, trust.routePrefix, trust.name, trust.reference) === true;
}

/** Notes a check for the server to start after answering. */
function wantRefresh(followUp: FollowUp, check: AvailabilityCheck): void {
  followUp.refresh ??= [];
  followUp.refresh.push(check);
}

function choose(target: Target, candidates: readonly Candidate[], client: ClientLocation, state: MirrorStateView, checksDone: boolean): Decision {
  const { route } = target;
  const verdicts: Verdict[] = [];
  const pending: AvailabilityCheck[] = [];
  const followUp: FollowUp = {};
  let chosen: Candidate | undefined;
  let chosenKnown: Availability | undefined;
  const alternatives: { mirror: CompiledMirror; region: string; url: string }[] = [];

  for (const candidate of candidates) {
    const { mirror, region } = candidate;
    const verdict = evaluate(target, candidate, client, state, checksDone, followUp);
    if (verdict.usable === false) {
      verdicts.push({ mirror: mirror.name, region, outcome: 'skipped', reason: verdict.reason });
    } else if (verdict.usable === 'unknown') {
      // Before a choice: ask about this one and every better-ranked unknown one, in one round.
      // After it: an unchecked mirror is simply not offered as an alternative.
      if (!chosen) pending.push(verdict.check);
    } else if (pending.length > 0) {
      // This one can serve, but better-ranked mirrors are unchecked: check them before settling.
      break;
    } else if (!chosen) {
      chosen = candidate;
      chosenKnown = verdict.known;
      verdicts.push({ mirror: mirror.name, region, outcome: 'chosen' });
    } else if (alternatives.length < MAX_ALTERNATIVES) {
      alternatives.push({ mirror, region, url: target.urlOn(mirror) });
      verdicts.push({ mirror: mirror.name, region, outcome: 'alternative' });
    }
  }
  if (pending.length > 0) return { kind: 'check', checks: pending, ...followUp };

  if (!chosen) {
    // A bucket is never the blind fallback: it holds blobs only, and only once filled.
    const mirror = route.default.mirrors.find((m) => m.kind !== 'blobs') ?? route.origin;
    if (route.whenAllDown === 'unavailable' || !mirror) {
      return { kind: 'error', status: 503, code: 'UNAVAILABLE', message: 'no mirror can serve this right now', client, verdicts, retryAfterSeconds: 30, ...followUp };
    }
    // Configured to prefer an answer over an error: the default mirror may still work for this object.
    verdicts.push({ mirror: mirror.name, region: 'default', outcome: 'chosen', reason: 'every candidate was skipped; falling back to the default' });
    return { kind: 'redirect', status: target.status, location: target.urlOn(mirror), mirror, region: 'default', route, client, verdicts, alternatives: [], ...followUp };
  }
  const decision: Decision = { kind: 'redirect', status: target.status, location: target.urlOn(chosen.mirror), mirror: chosen.mirror, region: chosen.region, route, client, verdicts, alternatives, ...followUp };
  // The chosen mirror's own answer, read once already, usually has the size.
  const bytes =
    chosenKnown?.state === 'present' && chosenKnown.contentLength !== undefined ? chosenKnown.contentLength : knownSize(target, [chosen.mirror, ...route.default.mirrors], state, chosen.mirror.kind === 'blobs');
  if (bytes !== undefined) decision.bytes = bytes;
  return decision;
}

/** Size of the object from the first cached availability answer that has one (the same object everywhere);
 *  not a read for the hit counters (evaluate counted each candidate already). */
function knownSize(target: Target, mirrors: readonly CompiledMirror[], state: MirrorStateView, checked = false): number | undefined {
  // Only routes with an origin, and blob buckets, check availability; elsewhere there is nothing to look up.
  if (!target.check || (!target.route.origin && !checked)) return undefined;
  for (const mirror of mirrors) {
    const known = state.availability(mirror.name, target.check.key);
    if (known?.state === 'present' && known.contentLength !== undefined) return known.contentLength;
  }
  return undefined;
}

/** Every candidate with its state, for `?mirrorlist` and `.meta4`: checks all unknown ones first. */
function list(target: Target, candidates: readonly Candidate[], client: ClientLocation, state: MirrorStateView, checksDone: boolean, format: 'mirrorlist' | 'metalink', file: string): Decision {
  const entries: MirrorListEntry[] = [];
  const pending: AvailabilityCheck[] = [];
  const followUp: FollowUp = {};
  for (const candidate of candidates) {
    const verdict = evaluate(target, candidate, client, state, checksDone, followUp);
    if (verdict.usable === 'unknown') pending.push(verdict.check);
    else {
      const freshness = state.trust?.freshness?.(candidate.mirror.name);
      entries.push({
        mirror: candidate.mirror.name,
        region: candidate.region,
        url: target.urlOn(candidate.mirror),
        usable: verdict.usable,
        ...(verdict.usable ? {} : { reason: verdict.reason }),
        ...(freshness && { freshness }),
      });
    }
  }
  if (pending.length > 0) return { kind: 'check', checks: pending, ...followUp };
  const listing: Decision = { kind: 'mirrorlist', format, file, path: target.path, client, route: target.route, entries, ...followUp };
  const sha256 = target.route.checksums.get(target.relativePath);
  if (sha256) listing.sha256 = sha256;
  const size = knownSize(
    target,
    candidates.map((c) => c.mirror),
    state,
  );
  if (size !== undefined) listing.size = size;
  return listing;
}

function namespaceOf(query: string): string | undefined {
  if (!query.includes('ns=')) return undefined;
  return new URLSearchParams(query).get('ns') ?? undefined;
}
