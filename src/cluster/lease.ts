/**
 * ListenerLease: only one listener consumes at a time. A Redis key held with
 * a short TTL and renewed while the holder lives; a second listener waits for
 * it and takes over within one TTL after the first dies.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** Lease lifetime; a dead holder is replaced within this. */
export const LEASE_TTL_MS = 6000;

// Compare-and-act, atomically: only the holder may renew or release. A lease that vanished
// (Redis restarted without persistence) is taken back by its holder rather than lost.
const RENEW = `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/** What runs only while the lease is held (the broker listener and the publish server). */
export interface LeasedWork {
  /** Starts consuming; called each time the lease is won. */
  start(): void;
  /** Stops consuming and waits in standby; called when the lease is lost. */
  pause(): Promise<void>;
}

/** One process's claim on the listener role. */
export class ListenerLease {
  private renewTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** True while this process holds the lease. */
  held = false;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    /** This process's name, stored as the lease value. */
    readonly holder: string,
    private readonly log: Logger,
    private readonly ttlMs: number = LEASE_TTL_MS,
  ) {}

  /** Resolves once this process holds the lease (false if stop() was called first). */
  async acquire(): Promise<boolean> {
    let announced = '';
    while (!this.stopped) {
      try {
        if ((await this.redis.set(this.key, this.holder, 'PX', this.ttlMs, 'NX')) === 'OK') {
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
      await new Promise((resolve) => setTimeout(resolve, this.ttlMs / 4));
    }
    return false;
  }

  /** Renews every third of the TTL; calls `onLost` once if the lease was lost (expired or taken). */
  keep(onLost: () => void): void {
    this.renewTimer = setInterval(async () => {
      try {
        const renewed = (await this.redis.eval(RENEW, 1, this.key, this.holder, String(this.ttlMs))) as number;
        if (renewed === 1) return;
        clearInterval(this.renewTimer);
        this.held = false;
        this.log.error({ lease: this.key }, 'listener lease lost; stopping consumption');
        onLost();
      } catch (err) {
        // Redis unreachable: keep consuming; if it stays away past the TTL another listener may start, and the
        // broker's client-id (one connection per durable subscription) still keeps the two from double-consuming.
        this.log.warn({ err: (err as Error).message }, 'cannot renew the listener lease');
      }
    }, this.ttlMs / 3);
    this.renewTimer.unref();
  }

  /** Runs `work` while this process holds the lease: waits to win it, starts, and on losing it pauses and waits again. */
  async hold(work: LeasedWork): Promise<void> {
    if (!(await this.acquire())) return;
    work.start();
    this.keep(() => {
      void work.pause().then(() => this.hold(work));
    });
  }

  /** Stops renewing and gives the lease up, so a standby takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    this.held = false;
    clearInterval(this.renewTimer);
    await this.redis.eval(RELEASE, 1, this.key, this.holder).catch(() => {});
  }
}
