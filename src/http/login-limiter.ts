/**
 * Brute-force protection for login: per user name and per address, after a
 * few failures each further attempt waits twice as long (up to 15 minutes).
 * Kept in memory per process: a cluster multiplies the allowance by its
 * process count, still far below what guessing a password needs.
 */

/** Failures allowed before backoff starts. */
const FREE_FAILURES = 5;
const MAX_BLOCK_MS = 15 * 60 * 1000;
/** Forget a key this long after its last failure. */
const FORGET_MS = 60 * 60 * 1000;

interface Entry {
  failures: number;
  blockedUntil: number;
  lastFailure: number;
}

/** Counts login failures by key (e.g. `user:alice`, `ip:192.0.2.1`). */
export class LoginLimiter {
  private readonly entries = new Map<string, Entry>();

  /** Seconds to wait before `keys` may try again (0 = now). */
  retryAfter(keys: readonly string[], now: number = Date.now()): number {
    let wait = 0;
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry && entry.blockedUntil > now) wait = Math.max(wait, Math.ceil((entry.blockedUntil - now) / 1000));
    }
    return wait;
  }

  /** Records a failed attempt for every key. */
  fail(keys: readonly string[], now: number = Date.now()): void {
    this.prune(now);
    for (const key of keys) {
      const entry = this.entries.get(key) ?? { failures: 0, blockedUntil: 0, lastFailure: 0 };
      entry.failures++;
      entry.lastFailure = now;
      if (entry.failures >= FREE_FAILURES) entry.blockedUntil = now + Math.min(1000 * 2 ** (entry.failures - FREE_FAILURES), MAX_BLOCK_MS);
      this.entries.set(key, entry);
    }
  }

  /** Clears a key after a success. */
  succeed(key: string): void {
    this.entries.delete(key);
  }

  private prune(now: number): void {
    if (this.entries.size < 10_000) return;
    for (const [key, entry] of this.entries) if (now - entry.lastFailure > FORGET_MS) this.entries.delete(key);
  }
}
