/**
 * ClusterRegistry: every relay process publishes a snapshot of its clients
 * and state to Redis every few seconds with a short TTL, so the status
 * endpoint of any process can show all of them.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** How often a process publishes its snapshot; it expires after three periods. */
const PERIOD_MS = 2000;
const TTL_MS = 3 * PERIOD_MS;

/** What one process reports about itself. */
export interface ProcessSnapshot {
  readonly process: string;
  readonly role: string;
  readonly at: string;
  readonly clients: readonly Record<string, unknown>[];
  readonly broker: unknown;
}

/** Publishes this process's snapshot and reads everyone's. */
export class ClusterRegistry {
  private timer: NodeJS.Timeout | undefined;
  /** Open streams per user in the other processes, as of the last period. */
  private remoteUsers = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: { processes: string; process: (name: string) => string; users: (name: string) => string },
    private readonly processName: string,
    private readonly snapshot: () => ProcessSnapshot,
    /** This process's open streams per user (small; read by every process each period). */
    private readonly userCounts: () => Record<string, number>,
    private readonly log: Logger,
  ) {}

  start(): void {
    const publish = () =>
      void this.publish()
        .then(() => this.refreshRemoteUsers())
        .catch((err: unknown) => this.log.debug({ err }, 'could not exchange status snapshots'));
    publish();
    this.timer = setInterval(publish, PERIOD_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.redis
      .multi()
      .del(this.keys.process(this.processName), this.keys.users(this.processName))
      .zrem(this.keys.processes, this.processName)
      .exec()
      .catch(() => {});
  }

  /** Streams `username` has open in the other processes (at most one period old). */
  remoteStreamsOf(username: string): number {
    return this.remoteUsers.get(username) ?? 0;
  }

  /** Snapshots of every live process; this one's is taken fresh. */
  async all(): Promise<ProcessSnapshot[]> {
    const names = await this.otherProcesses();
    const values = names.length === 0 ? [] : await this.redis.mget(...names.map((n) => this.keys.process(n)));
    const others = values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as ProcessSnapshot);
    return [this.snapshot(), ...others];
  }

  private async otherProcesses(): Promise<string[]> {
    return (await this.redis.zrangebyscore(this.keys.processes, Date.now() - TTL_MS, '+inf')).filter((n) => n !== this.processName);
  }

  private async refreshRemoteUsers(): Promise<void> {
    const names = await this.otherProcesses();
    const values = names.length === 0 ? [] : await this.redis.mget(...names.map((n) => this.keys.users(n)));
    const counts = new Map<string, number>();
    for (const value of values) {
      if (value === null) continue;
      for (const [user, n] of Object.entries(JSON.parse(value) as Record<string, number>)) counts.set(user, (counts.get(user) ?? 0) + n);
    }
    this.remoteUsers = counts;
  }

  private async publish(): Promise<void> {
    const now = Date.now();
    await this.redis
      .multi()
      .set(this.keys.process(this.processName), JSON.stringify(this.snapshot()), 'PX', TTL_MS)
      .set(this.keys.users(this.processName), JSON.stringify(this.userCounts()), 'PX', TTL_MS)
      .zadd(this.keys.processes, now, this.processName)
      .zremrangebyscore(this.keys.processes, '-inf', now - TTL_MS)
      .exec();
  }
}
