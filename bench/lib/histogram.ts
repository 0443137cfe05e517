/**
 * Latency histogram with log-spaced buckets (2 % wide, from 0.01 ms to ~10 min):
 * recording is one Math.log and an array increment, merging is adding arrays,
 * and it crosses process boundaries as a short list of [bucket, count] pairs.
 */

/** Lower edge of bucket 1, ms (bucket 0 holds everything at or below it). */
const BASE_MS = 0.01;
/** Each bucket is this much wider than the previous one: percentiles are exact to within 2 %. */
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = 1024;

/** What a histogram looks like on the wire (IPC, JSON results). */
export interface HistogramData {
  count: number;
  sumMs: number;
  minMs: number;
  maxMs: number;
  /** Non-empty buckets as [index, count]. */
  buckets: [number, number][];
}

/** Summary figures of a histogram, ms (null when empty). */
export interface LatencySummary {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
  mean: number | null;
}

/** A mutable latency histogram; values are milliseconds. */
export class Histogram {
  private counts = new Float64Array(BUCKETS);
  count = 0;
  sumMs = 0;
  minMs = Infinity;
  maxMs = -Infinity;

  /** Records one latency (negative values, from clock skew, count as 0). */
  record(ms: number): void {
    const v = ms > 0 ? ms : 0;
    let i = v <= BASE_MS ? 0 : Math.ceil(Math.log(v / BASE_MS) / LOG_GROWTH);
    if (i >= BUCKETS) i = BUCKETS - 1;
    this.counts[i]!++;
    this.count++;
    this.sumMs += v;
    if (v < this.minMs) this.minMs = v;
    if (v > this.maxMs) this.maxMs = v;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sumMs = 0;
    this.minMs = Infinity;
    this.maxMs = -Infinity;
  }

  /** Adds another histogram (or its wire form) into this one. */
  merge(other: HistogramData): void {
    for (const [i, n] of other.buckets) this.counts[i]! += n;
    this.count += other.count;
    this.sumMs += other.sumMs;
    if (other.count > 0) {
      this.minMs = Math.min(this.minMs, other.minMs);
      this.maxMs = Math.max(this.maxMs, other.maxMs);
    }
  }

  toData(): HistogramData {
    const buckets: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return { count: this.count, sumMs: this.sumMs, minMs: this.count ? this.minMs : 0, maxMs: this.count ? this.maxMs : 0, buckets };
  }

  /** The latency below which `q` (0..1) of the values fall: the upper edge of that bucket, capped at the true max. */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(i === 0 ? BASE_MS : BASE_MS * GROWTH ** i, this.maxMs);
    }
    return this.maxMs;
  }

  summary(): LatencySummary {
    if (this.count === 0) return { count: 0, p50: null, p90: null, p99: null, max: null, mean: null };
    return { count: this.count, p50: this.quantile(0.5), p90: this.quantile(0.9), p99: this.quantile(0.99), max: this.maxMs, mean: this.sumMs / this.count };
  }
}

/** Wall-clock time in ms with sub-ms resolution, comparable between processes of this machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
