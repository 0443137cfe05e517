/**
 * SubscriberRecorder: keeps the subscribers table (one row per SSE
 * connection) up to date with batched writes, never one per delivered event.
 */
import type { Logger } from 'pino';
import type { SseClient } from './sse-client.js';
import { filtersToJson } from '../model/filter.js';
import type { SubscriberStore, SubscriberUpdate } from '../store/store.js';

/** Default seconds between counter flushes. */
export const SUBSCRIBER_FLUSH_MS = 5000;

/** Records opens immediately and counters/closes every `flushMs`. */
export class SubscriberRecorder {
  private readonly opening = new Map<string, Promise<void>>();
  private readonly closedSince = new Set<SseClient>();
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
    const write = this.store
      .openSubscriber({
        clientId: client.id,
        name: client.info.username,
        username: client.info.username,
        ip: client.info.remoteAddress,
        process: this.processName,
        connectedAt: client.connectedAt.toISOString(),
        filters: JSON.stringify(filtersToJson(client.info.filters)),
      })
      .catch((err: unknown) => this.log.error({ err, clientId: client.id }, 'could not record subscriber'));
    this.opening.set(client.id, write);
  }

  /** Resolves once every connection opened so far is recorded (so a listing includes them). */
  async settled(): Promise<void> {
    await Promise.all(this.opening.values());
  }

  /** Marks a connection closed; its final counters go out with the next flush. */
  closed(client: SseClient): void {
    this.closedSince.add(client);
  }

  /** Writes counters of changed clients and the closes since the last flush, in one transaction. */
  async flush(): Promise<void> {
    const now = new Date().toISOString();
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
    const closed = [...this.closedSince];
    this.closedSince.clear();
    for (const client of closed) add(client, now);
    if (updates.length === 0) return;
    await Promise.all(waits);
    for (const client of closed) this.opening.delete(client.id);
    try {
      await this.store.updateSubscribers(updates);
    } catch (err) {
      this.log.error({ err, count: updates.length }, 'could not flush subscriber counters');
    }
  }

  /** Stops the timer and flushes what is left. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }
}
