/**
 * Hub: this process's SSE clients, indexed by their filters so that an event
 * costs work only for the clients it can match; fanout and heartbeats.
 */
import type { Bus } from '../bus/bus.js';
import type { SseClient } from './sse-client.js';
import type { RelayEvent } from '../model/event.js';
import { matches, type Filters } from '../model/filter.js';
import { AGENT_STATUS } from '../model/message.js';
import { encodeEvent, encodeHeartbeat } from './sse-frame.js';

type IndexKey = 'runIds' | 'msgTypes' | 'namespaces' | 'agents';

/**
 * Each filtered client sits in one bucket per value of one of its filters
 * (the most selective given: run ids, then message types, namespaces, agents).
 * Clients without filters sit in `unfiltered`.
 */
const INDEX_ORDER: readonly IndexKey[] = ['runIds', 'msgTypes', 'namespaces', 'agents'];

/**
 * The clients of one index value: the client itself while it is the only one (the usual case for a
 * run id, and a Set costs some 200 bytes per held stream), a Set once there are more.
 */
type Bucket = SseClient | Set<SseClient>;

/** Counters of the hub's work, for status and metrics. */
export interface HubCounters {
  /** Events handed to the hub. */
  relayed: number;
  /** Event deliveries to matching clients (handed to SseClient.send, which stops a repeated id: see its skippedRepeats). */
  delivered: number;
  /** Broker receipt to fanout of the last event, ms. */
  lastLagMs: number;
}

/** The clients of this process. */
export class Hub {
  readonly counters: HubCounters = { relayed: 0, delivered: 0, lastLagMs: 0 };
  /** Sent and dropped counts of clients that have left. */
  private readonly closedTotals = { sent: 0, dropped: 0 };
  private readonly all = new Set<SseClient>();
  private readonly unfiltered = new Set<SseClient>();
  private readonly index: Record<IndexKey, Map<string, Bucket>> = {
    runIds: new Map(),
    msgTypes: new Map(),
    namespaces: new Map(),
    agents: new Map(),
  };
  private readonly perUser = new Map<string, number>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Set when the process is shutting down: no new streams. */
  closing = false;

  /** Number of connected clients. */
  get size(): number {
    return this.all.size;
  }

  /** Open streams of one user. */
  streamsOf(username: string): number {
    return this.perUser.get(username) ?? 0;
  }

  /** Open streams per user, e.g. for the cluster-wide per-user limit. */
  userCounts(): Record<string, number> {
    return Object.fromEntries(this.perUser);
  }

  /** Every connected client. */
  clients(): IterableIterator<SseClient> {
    return this.all.values();
  }

  add(client: SseClient): void {
    if (this.all.has(client)) return;
    this.all.add(client);
    this.perUser.set(client.info.username, this.streamsOf(client.info.username) + 1);
    const key = indexKeyOf(client.info.filters);
    if (key === null) {
      this.unfiltered.add(client);
      return;
    }
    const index = this.index[key];
    for (const value of client.info.filters[key]!) {
      const bucket = index.get(value);
      if (bucket === undefined) index.set(value, client);
      else if (bucket instanceof Set) bucket.add(client);
      else if (bucket !== client) index.set(value, new Set([bucket, client]));
    }
  }

  /** Events written to and dropped for clients, since start (live and closed clients). */
  totals(): { sent: number; dropped: number } {
    let { sent, dropped } = this.closedTotals;
    for (const client of this.all) {
      sent += client.sent;
      dropped += client.dropped;
    }
    return { sent, dropped };
  }

  remove(client: SseClient): void {
    if (!this.all.delete(client)) return;
    this.closedTotals.sent += client.sent;
    this.closedTotals.dropped += client.dropped;
    const left = this.streamsOf(client.info.username) - 1;
    if (left > 0) this.perUser.set(client.info.username, left);
    else this.perUser.delete(client.info.username);
    const key = indexKeyOf(client.info.filters);
    if (key === null) {
      this.unfiltered.delete(client);
      return;
    }
    const index = this.index[key];
    for (const value of client.info.filters[key]!) {
      const bucket = index.get(value);
      if (bucket === client) index.delete(value);
      else if (bucket instanceof Set && bucket.delete(client) && bucket.size === 1) index.set(value, bucket.values().next().value!);
    }
  }

  /** Follows `bus`: every batch published on it is dispatched to this hub's clients. Returns the unsubscribe function. */
  follow(bus: Pick<Bus, 'subscribe'>): () => void {
    return bus.subscribe((events) => this.dispatch(events));
  }

  /** Delivers events, in order, to every client whose filters match. Never throws. */
  dispatch(events: readonly RelayEvent[]): void {
    for (const event of events) this.dispatchOne(event);
    const last = events.at(-1);
    if (last && last.receivedAt > 0) this.counters.lastLagMs = Date.now() - last.receivedAt;
  }

  private dispatchOne(event: RelayEvent): void {
    this.counters.relayed++;
    // Encoded lazily, once, and shared by every matching client.
    let frame: Buffer | undefined;
    const deliver = (client: SseClient) => {
      if (!matches(client.info.filters, event)) return;
      frame ??= encodeEvent(event);
      client.send(frame, event.id, event.receivedAt);
      this.counters.delivered++;
    };
    // Unfiltered clients take every event except agent_status: no per-client match needed.
    if (event.msgType !== AGENT_STATUS && this.unfiltered.size > 0) {
      frame ??= encodeEvent(event);
      for (const client of this.unfiltered) client.send(frame, event.id, event.receivedAt);
      this.counters.delivered += this.unfiltered.size;
    }
    this.visit('runIds', event.runId, deliver);
    this.visit('msgTypes', event.msgType, deliver);
    this.visit('namespaces', event.namespace, deliver);
    this.visit('agents', event.senderAgent, deliver);
    if (event.processedBy !== event.senderAgent) {
      // A client listing both agents was already visited through the sender's bucket.
      this.visit('agents', event.processedBy, (client) => {
        if (event.senderAgent === null || !client.info.filters.agents!.has(event.senderAgent)) deliver(client);
      });
    }
  }

  private visit(key: IndexKey, value: string | null, fn: (client: SseClient) => void): void {
    if (value === null) return;
    const bucket = this.index[key].get(value);
    if (bucket instanceof Set) for (const client of bucket) fn(client);
    else if (bucket !== undefined) fn(bucket);
  }

  /** Starts sending `heartbeat` every `seconds` to every client; 0 disables. */
  startHeartbeats(seconds: number): void {
    this.stopHeartbeats();
    if (seconds <= 0) return;
    this.heartbeatTimer = setInterval(() => {
      const frame = encodeHeartbeat(Date.now());
      for (const client of this.all) client.sendControl(frame);
    }, seconds * 1000);
    this.heartbeatTimer.unref();
  }

  /**
   * Shutdown: ends every stream with `lastFrame`, each at a random moment within
   * `spreadMs`, so clients do not all reconnect at once. Resolves when all are closed.
   */
  async closeAll(lastFrame: Buffer, spreadMs: number): Promise<void> {
    this.closing = true;
    const closing = [...this.all].map(
      (client) =>
        new Promise<void>((resolve) => {
          setTimeout(() => {
            client.close(lastFrame);
            resolve();
          }, Math.random() * spreadMs);
        }),
    );
    await Promise.all(closing);
  }

  stopHeartbeats(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }
}

function indexKeyOf(filters: Filters): IndexKey | null {
  for (const key of INDEX_ORDER) if (filters[key] !== null) return key;
  return null;
}
