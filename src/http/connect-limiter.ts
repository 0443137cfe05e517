/**
 * Connect-rate limit per address: a token bucket of `perMinute` tokens,
 * refilled continuously. Per process, in memory; entries of quiet addresses
 * are dropped so the map stays small.
 */

/** Addresses tracked before quiet ones are pruned. */
const PRUNE_ABOVE = 10_000;

interface Bucket {
  tokens: number;
  at: number;
}

/** Allows `perMinute` connects per address (0 = unlimited). */
export class ConnectLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly perMinute: number) {}

  /** Takes one token for `address`; false when none is left. */
  take(address: string, now: number = Date.now()): boolean {
    if (this.perMinute === 0) return true;
    const bucket = this.refill(address, now);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Whole seconds until `address` has a token again. */
  retryAfter(address: string, now: number = Date.now()): number {
    const bucket = this.refill(address, now);
    return bucket.tokens >= 1 ? 0 : Math.ceil(((1 - bucket.tokens) * 60) / this.perMinute);
  }

  private refill(address: string, now: number): Bucket {
    let bucket = this.buckets.get(address);
    if (!bucket) {
      if (this.buckets.size >= PRUNE_ABOVE) this.prune(now);
      bucket = { tokens: this.perMinute, at: now };
      this.buckets.set(address, bucket);
    }
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + ((now - bucket.at) / 60_000) * this.perMinute);
    bucket.at = now;
    return bucket;
  }

  private prune(now: number): void {
    // A bucket full again has no state worth keeping.
    for (const [address, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 60_000) * this.perMinute >= this.perMinute) this.buckets.delete(address);
    }
  }
}
