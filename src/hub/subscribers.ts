/**
 * SubscriberRecorder: keeps the subscribers table (one row per SSE
 * connection) up to date with batched writes, never one per delivered event.
 */
import type { Logger } from 'pino';
import type { SseClient } from './sse-client.js';
import { filtersToJson } from '../model/filter.js';
import type { StoredSubscriber, SubscriberStore, SubscriberUpdate } from '../store/store.js';

/** Default seconds between counter flushes. */
export const SUBSCRIBER_FLUSH_MS = 5000;

/** A close seen on a stream's socket, with its time. */
interface SeenClose {
  readonly client: SseClient;
  readonly at: string;
}

/**
 * Records opens immediately and counters/closes every `flushMs`. Until a close
 * is written, list() reports it from memory, so a stream this process has seen
 * close is never listed as active.
 */
export class SubscriberRecorder {
  /** Opens whose row is being written, by client id. */
  private readonly opening = new Map<string, Promise<void>>();
  /** Closes not yet taken by a flush, by client id. */
  private readonly closes = new Map<string, SeenClose>();
  /** Closes taken by a flush whose write has not committed yet. */
  private readonly writing = new Map<string, SeenClose>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: SubscriberStore,
    private readonly log: Logger,
    private readonly processName: string,
    private readonly liveClients: () => Iterable<SseClient>,
    private readonly flushMs: number = SUBSCRIBER_FLUSH_MS,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.flushMs);
    this.timer.unref();
  }

  /** Records a new connection. */
  opened(client: SseClient): void {
    const write: Promise<void> = this.store
      .openSubscriber({
        clientId: client.id,
        name: client.info.username,
        username: client.info.username,
        ip: client.info.remoteAddress,
        process: this.processName,
        connectedAt: new Date(client.connectedAt).toISOString(),
        filters: JSON.stringify(filtersToJson(client.info.filters)),
      })
      .catch((err: unknown) => this.log.error({ err, clientId: client.id }, 'could not record subscriber'))
      // Once written there is nothing to wait for: a held stream does not keep its settled promise here.
      .then(() => {
        if (this.opening.get(client.id) === write) this.opening.delete(client.id);
      });
    this.opening.set(client.id, write);
  }

  /** Resolves once every connection opened so far is recorded (so a listing includes them). */
  async settled(): Promise<void> {
    await Promise.all(this.opening.values());
  }

  /** Marks a connection closed now; the close and its final counters go out with the next flush. */
  closed(client: SseClient): void {
    this.closes.set(client.id, { client, at: new Date().toISOString() });
  }

  /**
   * Subscribers newest first, as the table has them with the closes this
   * process has seen but not yet written applied.
   */
  async list(activeOnly: boolean, limit: number): Promise<StoredSubscriber[]> {
    // Taken before the read: a close is removed from here only once its write has
    // committed, so the read below sees it either way.
    const unwritten = new Map([...this.writing, ...this.closes]);
    await this.settled();
    // Active-only, the unwritten closes still read as active: fetch enough to drop them.
    const rows = await this.store.listSubscribers(activeOnly, activeOnly ? limit + unwritten.size : limit);
    const listed: StoredSubscriber[] = [];
    for (const row of rows) {
      const close = unwritten.get(row.clientId);
      if (!close) listed.push(row);
      else if (!activeOnly) {
        const { client, at } = close;
        listed.push({ ...row, isActive: false, disconnectedAt: at, lastActivity: new Date(client.lastActivity).toISOString(), messagesSent: client.sent, messagesDropped: client.dropped });
      }
    }
    return listed.slice(0, limit);
  }

  /** Writes counters of changed clients and the closes not yet written, in one transaction. */
  async flush(): Promise<void> {
    const updates: SubscriberUpdate[] = [];
    const waits: Promise<void>[] = [];
    const add = (client: SseClient, disconnectedAt: string | null) => {
      client.dirty = false;
      const opening = this.opening.get(client.id);
      if (opening) waits.push(opening);
      updates.push({
        clientId: client.id,
        messagesSent: client.sent,
        messagesDropped: client.dropped,
        lastActivity: new Date(client.lastActivity).toISOString(),
        disconnectedAt,
      });
    };
    for (const client of this.liveClients()) if (client.dirty) add(client, null);
    const closed = [...this.closes.values()];
    this.closes.clear();
    for (const close of closed) {
      this.writing.set(close.client.id, close);
      add(close.client, close.at);
    }
    if (updates.length === 0) return;
    try {
      await Promise.all(waits);
      await this.store.updateSubscribers(updates);
      for (const { client } of closed) this.opening.delete(client.id);
    } catch (err) {
      this.log.error({ err, count: updates.length }, 'could not flush subscriber counters');
      // Not recorded: retried with the next flush, and listed from memory meanwhile.
      for (const close of closed) if (!this.closes.has(close.client.id)) this.closes.set(close.client.id, close);
    } finally {
      for (const { client } of closed) this.writing.delete(client.id);
    }
  }

  /** Stops the timer and flushes what is left. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }
}
