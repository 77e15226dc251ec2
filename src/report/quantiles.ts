// Latency quantiles in O(1) memory: a fixed histogram of logarithmic buckets over milliseconds.
// A 1 GB log has millions of `ms` values; keeping them to sort is what this avoids. Buckets grow
// by a factor GAMMA, so every value in a bucket is within GAMMA of every other, and reporting
// the bucket's geometric middle is off by at most sqrt(GAMMA) - 1 (under 1%) relative to the true
// sample at that rank. The access log rounds `ms` to microseconds, so values are 0 or >= 0.001.

/** Bucket growth factor: 2% wide buckets, so estimates are within 1% of a real sample. */
const GAMMA = 1.02;
/** The worst relative error of a quantile estimate (for values in [MIN_MS, MAX_MS]). */
export const RELATIVE_ERROR = Math.sqrt(GAMMA) - 1;
/** Below this (a microsecond) values count as zero: the log has no finer resolution. */
const MIN_MS = 0.001;
/** Above this (about 2.8 hours) values share one overflow bucket; the exact max is still kept. */
const MAX_MS = 1e7;

const LOG_GAMMA = Math.log(GAMMA);
const BUCKETS = Math.ceil(Math.log(MAX_MS / MIN_MS) / LOG_GAMMA) + 1;

export interface Summary {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

export class LatencyHistogram {
  // Index 0 holds values below MIN_MS; index i >= 1 holds [MIN_MS*GAMMA^(i-1), MIN_MS*GAMMA^i).
  // Float64 counts: exact up to 2^53, so no overflow on any real log.
  private readonly counts = new Float64Array(BUCKETS + 1);
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;

  add(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.counts[bucketOf(ms)]! += 1;
    this.count++;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
  }

  /**
   * The nearest-rank quantile: an estimate of the smallest sample with at least q of all
   * samples at or below it. Clamped to the observed min and max, so p100 is the exact max.
   */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      // The overflow bucket has no middle: its best estimate is the exact max.
      if (seen >= rank) return i === BUCKETS ? this.max : Math.min(this.max, Math.max(this.min, middleOf(i)));
    }
    return this.max;
  }

  summary(): Summary {
    return {
      count: this.count,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
      max: this.count === 0 ? null : this.max,
    };
  }
}

function bucketOf(ms: number): number {
  if (ms < MIN_MS) return 0;
  if (ms >= MAX_MS) return BUCKETS;
  // floor(log_gamma(ms / MIN_MS)) + 1; the min() guards float rounding at the top edge.
  return Math.min(BUCKETS - 1, Math.floor(Math.log(ms / MIN_MS) / LOG_GAMMA) + 1);
}

function middleOf(bucket: number): number {
  if (bucket === 0) return 0;
  // Geometric middle of [MIN_MS*GAMMA^(b-1), MIN_MS*GAMMA^b).
  return MIN_MS * GAMMA ** (bucket - 0.5);
}
