/**
 * ListenerLease: only one listener consumes at a time. A Redis key held with
 * a short TTL and renewed while the holder lives; a second listener polls for
 * it and takes over within one TTL (plus one poll) after the first dies.
 *
 * A lease alone cannot stop a holder that was frozen (SIGSTOP, a long pause)
 * or cut off from Redis and does not yet know it lost: each win therefore
 * claims the store too (a new writer epoch), and the store refuses commits of
 * an older epoch (fencing). The refused holder surrenders and waits again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** Lease lifetime; a dead holder is replaced within this plus one poll (renewed every third of it). */
export const LEASE_TTL_MS = 3000;
/** How often a standby tries to take the lease. */
const POLL_MS = 500;

// Compare-and-act, atomically: only the holder may renew or release. A lease that vanished
// (Redis restarted without persistence) is taken back by its holder rather than lost.
const RENEW = `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/** What runs only while the lease is held (the broker listener and the publish server). */
export interface LeasedWork {
  /** Starts consuming as the writer of `epoch` (the store claim); called each time the lease is won. */
  start(epoch: number): void;
  /** Stops consuming and waits in standby; called when the lease is lost. */
  pause(): Promise<void>;
}

/** One process's claim on the listener role. */
export class ListenerLease {
  private renewTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Called once when the lease is lost (set by keep()). */
  private onLost: (() => void) | undefined;
  /** True while this process holds the lease. */
  held = false;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    /** This process's name, stored as the lease value. */
    readonly holder: string,
    private readonly log: Logger,
    /** Claims the store for the new holder (store.claimWriter): the epoch its commits carry. */
    private readonly claimStore: () => Promise<number>,
    private readonly ttlMs: number = LEASE_TTL_MS,
  ) {}

  /** Resolves once this process holds the lease (false if stop() was called first). */
  async acquire(): Promise<boolean> {
    let announced = '';
    while (!this.stopped) {
      try {
        // RENEW takes a free lease, and also one still in this process's name: after a Redis outage a
        // renewal resent on the new connection may have kept it ours (then it is not another's to wait out).
        if ((await this.redis.eval(RENEW, 1, this.key, this.holder, String(this.ttlMs))) === 1) {
          this.log.info({ lease: this.key }, 'listener lease acquired');
          this.held = true;
          return true;
        }
        const current = await this.redis.get(this.key);
        if (current !== null && current !== announced) {
          this.log.warn({ holder: current }, 'another listener holds the lease; waiting (standby)');
          announced = current;
        }
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'cannot reach Redis for the listener lease; retrying');
      }
      await sleep(Math.min(POLL_MS, this.ttlMs / 4));
    }
    return false;
  }

  /** The store claim of a new holder; retried until it lands, or undefined when the lease is lost or stopped meanwhile. */
  private async claim(): Promise<number | undefined> {
    for (let delayMs = 200; this.held && !this.stopped; delayMs = Math.min(delayMs * 2, 5000)) {
      try {
        return await this.claimStore();
      } catch (err) {
        this.log.warn({ err: (err as Error).message, retryInMs: delayMs }, 'cannot claim the store for this listener; retrying');
        await sleep(delayMs);
      }
    }
    return undefined;
  }

  /**
   * Renews every third of the TTL; calls `onLost` once if the lease was lost: taken or expired in
   * Redis, or not renewed for a whole TTL (Redis unreachable or answering nothing: by then another
   * listener may hold it, so this one lets go of the broker rather than keep its client-id busy).
   */
  keep(onLost: () => void): void {
    this.onLost = onLost;
    let renewedAt = performance.now();
    this.renewTimer = setInterval(async () => {
      if (performance.now() - renewedAt > this.ttlMs) {
        this.lose('listener lease not renewed for a whole TTL (Redis unreachable); stopping consumption');
        return;
      }
      try {
        const sentAt = performance.now();
        const renewed = (await this.redis.eval(RENEW, 1, this.key, this.holder, String(this.ttlMs))) as number;
        if (renewed === 1) {
          renewedAt = sentAt;
          return;
        }
        this.lose('listener lease lost; stopping consumption');
      } catch (err) {
        // Not yet a TTL without renewal: keep consuming; the next tick tries again.
        this.log.warn({ err: (err as Error).message }, 'cannot renew the listener lease');
      }
    }, this.ttlMs / 3);
    this.renewTimer.unref();
  }

  /**
   * The store refused this holder's commit: another listener claimed it (this one was frozen or cut
   * off past the TTL). Gives up as if the lease were lost; idempotent.
   */
  surrender(): void {
    if (!this.onLost) return;
    this.lose('another listener claimed the store; stopping consumption and waiting (standby)');
    // Still ours in Redis (the claim came from elsewhere)? Then free it, so whoever should write takes it now.
    void this.redis.eval(RELEASE, 1, this.key, this.holder).catch(() => {});
  }

  private lose(why: string): void {
    clearInterval(this.renewTimer);
    const onLost = this.onLost;
    this.onLost = undefined;
    if (!onLost) return;
    this.held = false;
    this.log.error({ lease: this.key }, why);
    onLost();
  }

  /** Runs `work` while this process holds the lease: waits to win it, claims the store, starts, and on losing it pauses and waits again. */
  async hold(work: LeasedWork): Promise<void> {
    if (!(await this.acquire())) return;
    const again = () => void work.pause().then(() => this.hold(work));
    this.keep(again);
    const epoch = await this.claim();
    if (epoch === undefined) return; // lost or stopped while claiming: keep() has already handed over
    this.log.info({ epoch }, 'store claimed: consuming');
    work.start(epoch);
  }

  /** Stops renewing and gives the lease up, so a standby takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    this.held = false;
    this.onLost = undefined;
    clearInterval(this.renewTimer);
    await this.redis.eval(RELEASE, 1, this.key, this.holder).catch(() => {});
  }
}
