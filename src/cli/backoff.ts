import { setTimeout as delay } from 'node:timers/promises';
/** Reconnect delays for the client commands: capped exponential backoff with full jitter. Pure. */

/** Shape of the backoff. */
export interface BackoffOptions {
  /** Ceiling of the first delay, ms. */
  readonly initialMs: number;
  /** Ceiling no delay exceeds, ms. */
  readonly maxMs: number;
}

/** Defaults of `receive`: the first retry within 0.5 s, never more than 30 s apart. */
export const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({ initialMs: 500, maxMs: 30_000 });

/**
 * The delay before retry number `attempt` (1 = first retry), "full jitter":
 * uniform in [0, min(maxMs, initialMs · 2^(attempt-1))), so many clients cut
 * off together do not come back together. `random` returns [0, 1).
 */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30); // 2^30 · initialMs is beyond any cap; avoids Infinity
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** exponent);
  return Math.floor(random() * ceiling);
}

/** Waits `ms`, or less if `signal` aborts first; never rejects. */
export async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return;
  await delay(ms, undefined, { signal }).catch(() => {}); // an abort ends the wait early, it is not an error
}
