/**
 * Retention: prunes what the store no longer needs, in small batches with a
 * pause between them, so ingestion (which shares the store) is never held up
 * for long — messages and rejected bodies older than RETENTION_DAYS (when
 * set), sessions a day after they ended, and subscriber rows of connections
 * closed longer ago than SUBSCRIBERS_RETENTION_DAYS.
 */
import type { Logger } from 'pino';
import type { RetentionStore } from './store.js';

/** Rows deleted per transaction. */
const BATCH = 5000;
/** How often the job runs. */
const INTERVAL_MS = 60 * 60 * 1000;

/** An ended session is kept this long (its row says why a cookie stopped working), then pruned. */
const SESSION_KEEP_MS = 86_400_000;

/** What to keep, in days. */
export interface RetentionOptions {
  /** Messages and rejected bodies (RETENTION_DAYS); undefined keeps them forever. */
  readonly messageDays: number | undefined;
  /** Subscriber rows of closed connections (SUBSCRIBERS_RETENTION_DAYS). */
  readonly subscriberDays: number;
}

/** What one pass removed. */
export interface Pruned {
  messages: number;
  rejected: number;
  sessions: number;
  subscribers: number;
}

/** Prunes now and every hour. */
export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly store: RetentionStore,
    private readonly options: RetentionOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    const tick = () => {
      this.running ??= this.runOnce()
        .catch((err: unknown) => this.log.error({ err }, 'retention run failed'))
        .finally(() => (this.running = undefined));
    };
    tick();
    this.timer = setInterval(tick, INTERVAL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One pass at time `now`; returns the rows removed. */
  async runOnce(now: number = Date.now()): Promise<Pruned> {
    const before = (ms: number) => new Date(now - ms).toISOString();
    const { messageDays, subscriberDays } = this.options;
    const removed: Pruned = { messages: 0, rejected: 0, sessions: 0, subscribers: 0 };
    if (messageDays !== undefined) {
      removed.messages = await inBatches((batch) => this.store.pruneMessages(before(messageDays * 86_400_000), batch));
      removed.rejected = await inBatches((batch) => this.store.pruneRejected(before(messageDays * 86_400_000), batch));
    }
    removed.sessions = await inBatches((batch) => this.store.pruneSessions(before(SESSION_KEEP_MS), batch));
    removed.subscribers = await inBatches((batch) => this.store.pruneSubscribers(before(subscriberDays * 86_400_000), batch));
    if (Object.values(removed).some((n) => n > 0)) this.log.info(removed, 'retention pruned old rows');
    return removed;
  }
}

/** Calls `prune` with BATCH until it removes fewer; yields to the event loop between batches. Returns the total. */
async function inBatches(prune: (batch: number) => Promise<number>): Promise<number> {
  let total = 0;
  for (let n = BATCH; n === BATCH; ) {
    n = await prune(BATCH);
    total += n;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return total;
}
