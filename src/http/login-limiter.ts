/**
 * Brute-force protection for login. Each attempt is counted BEFORE the
 * password is checked (as a failure until it succeeds), so concurrent
 * attempts cannot all slip past the check-then-record window. Keys are the
 * address alone and the user name at that address: a user is never locked
 * out by failures from someone else's address. After a few failures each
 * further attempt waits twice as long (up to 15 minutes). Kept in memory per
 * process: a cluster multiplies the allowance by its process count, still far
 * below what guessing a password needs.
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

/** The limiter's keys for a sign-in from `address` as `username` (empty: a token sign-in). */
export function loginKeys(address: string, username: string): string[] {
  return [`ip:${address}`, ...(username ? [`user:${username}@${address}`] : [])];
}

/** Counts login attempts by key (see loginKeys). */
export class LoginLimiter {
  private readonly entries = new Map<string, Entry>();

  /**
   * Reserves an attempt for `keys`: the seconds to wait when any key is
   * blocked (nothing is reserved then), else 0 — and the attempt counts as a
   * failure of every key until succeed() takes it back.
   */
  attempt(keys: readonly string[], now: number = Date.now()): number {
    let wait = 0;
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry && entry.blockedUntil > now) wait = Math.max(wait, Math.ceil((entry.blockedUntil - now) / 1000));
    }
    if (wait > 0) return wait;
    this.prune(now);
    for (const key of keys) {
      const entry = this.entries.get(key) ?? { failures: 0, blockedUntil: 0, lastFailure: 0 };
      entry.failures++;
      entry.lastFailure = now;
      if (entry.failures >= FREE_FAILURES) entry.blockedUntil = now + Math.min(1000 * 2 ** (entry.failures - FREE_FAILURES), MAX_BLOCK_MS);
      this.entries.set(key, entry);
    }
    return 0;
  }

  /** The attempt reserved for `keys` succeeded: the user's key at that address is cleared, the address gets its attempt back. */
  succeed(keys: readonly string[]): void {
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (!entry) continue;
      if (key.startsWith('user:') || entry.failures <= 1) {
        this.entries.delete(key);
        continue;
      }
      entry.failures--;
      if (entry.failures < FREE_FAILURES) entry.blockedUntil = 0;
    }
  }

  private prune(now: number): void {
    if (this.entries.size < 10_000) return;
    for (const [key, entry] of this.entries) if (now - entry.lastFailure > FORGET_MS && entry.blockedUntil <= now) this.entries.delete(key);
  }
}
