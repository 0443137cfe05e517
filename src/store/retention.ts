/**
 * Retention (RETENTION_DAYS): prunes messages and rejected bodies older than
 * the limit, in small batches with a pause between them, so ingestion (which
 * shares the store) is never held up for long.
 */
import type { Logger } from 'pino';
import type { RetentionStore } from './store.js';

/** Rows deleted per transaction. */
const BATCH = 5000;
/** How often the job runs. */
const INTERVAL_MS = 60 * 60 * 1000;

/** Prunes what is older than `days` days, now and every hour. */
export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly store: RetentionStore,
    private readonly days: number,
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

  /** One pass: everything received before now − days. Returns the rows removed. */
  async runOnce(now: number = Date.now()): Promise<{ messages: number; rejected: number }> {
    const cutoff = new Date(now - this.days * 86_400_000).toISOString();
    const removed = { messages: 0, rejected: 0 };
    for (let n = BATCH; n === BATCH; ) {
      n = await this.store.pruneMessages(cutoff, BATCH);
      removed.messages += n;
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (let n = BATCH; n === BATCH; ) {
      n = await this.store.pruneRejected(cutoff, BATCH);
      removed.rejected += n;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (removed.messages + removed.rejected > 0) this.log.info({ cutoff, ...removed }, 'retention pruned old rows');
    return removed;
  }
}
