/**
 * Ingestor: the one writer. Classifies broker messages, commits them to the
 * store in small batches, publishes the stored ones on the bus in id order,
 * and only then acknowledges them to the broker.
 *
 * Group commit, adaptive: a commit starts at least `commitIntervalMs` after
 * the previous one started. Messages further apart than that are committed at
 * once (no added latency at low rates); faster ones gather into one commit per
 * interval (each commit costs an fsync or a database round trip and an ACK
 * write — at 1,000 msg/s, 10 ms batches cut the relay's CPU per message by
 * about 40 %, docs/benchmarks.md); a backlog commits full batches back to back.
 */
import { randomUUID } from 'node:crypto';
import timers from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Bus } from '../bus/bus.js';
import { AppError } from '../errors.js';
import { agentStatusEvent, workflowEvent, type RelayEvent } from '../model/event.js';
import { oneLine } from '../model/json-text.js';
import { classifyBody, enrichHeartbeat, enrichWorkflow, type Classified, type RejectReason } from '../model/message.js';
import type { Metrics } from '../metrics.js';
import type { InboundMessage, InboundSink } from '../model/inbound.js';
import { StaleWriterError, StoreUnreachableError, type AgentHeartbeat, type NewRejected, type NewWorkflowMessage, type MessageStore } from '../store/store.js';

/** Most messages committed in one transaction. */
const MAX_BATCH = 500;
/** Retry delays after a failed commit or publish: doubling from 200 ms up to 10 s. */
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 10_000;

/** What the ingestor has done since start. */
export interface IngestCounters {
  received: number;
  stored: number;
  duplicates: number;
  heartbeats: number;
  rejected: Partial<Record<RejectReason, number>>;
  commits: number;
  commitFailures: number;
  /** Batches refused because another listener claimed the store (fencing); their messages were left to the broker. */
  fenced: number;
}

/** A message on its way through, with what became of it. */
type Item =
  | {
      kind: 'workflow';
      message: InboundMessage;
      row: NewWorkflowMessage;
      agent: AgentHeartbeat | null;
      receivedAt: number;
      settle?: Settle;
      /** A commit carrying it got no answer (StoreUnreachableError): it may be stored already, by that commit. */
      maybeStored?: boolean;
    }
  | { kind: 'heartbeat'; message: InboundMessage; row: AgentHeartbeat; content: string; fields: Extract<Classified, { kind: 'heartbeat' }>['fields']; receivedAt: number }
  | { kind: 'rejected'; message: InboundMessage; row: NewRejected };

/** How an HTTP publisher learns the outcome: the new id (null when it was a duplicate), or an error. */
interface Settle {
  resolve(id: string | null): void;
  reject(err: Error): void;
  /** Set once the commit assigned (or refused) an id. */
  id?: string | null;
}

/** What an HTTP publisher is told when the store refused this writer (fencing). */
const NO_LONGER_LISTENER = 'this process is no longer the listener; retry';

/** queue_name of messages published over HTTP. */
export const HTTP_QUEUE_NAME = 'http';

/** Options of createIngestor. */
export interface IngestorOptions {
  readonly store: MessageStore;
  readonly bus: Bus;
  readonly log: Logger;
  /** Largest accepted body, bytes. */
  readonly maxBytes: number;
  readonly metrics?: Metrics;
  /** Least time between the starts of two commits, ms (0: commit as soon as the previous one ends). */
  readonly commitIntervalMs?: number;
  /** Called when the store refused a commit as stale (another listener claimed it): this one must stop consuming. */
  readonly onStale?: () => void;
}

/** The one writer of the store (SPEC §3: ids are committed in id order). */
export class Ingestor implements InboundSink {
  readonly counters: IngestCounters = { received: 0, stored: 0, duplicates: 0, heartbeats: 0, rejected: {}, commits: 0, commitFailures: 0, fenced: 0 };
  /** ISO time of the last message received, or null. */
  lastMessageAt: string | null = null;
  private pending: Item[] = [];
  /** The batch being committed and published; acknowledged once both succeed. */
  private inFlight: readonly Item[] = [];
  private running = false;
  private stopping = false;
  private idleWaiters: (() => void)[] = [];
  /** Date.now() when the last commit began. */
  private lastCommitAt = -Infinity;
  private readonly commitIntervalMs: number;
  /** The epoch of this writer's claim on the store (the listener lease), checked by every commit; none without a lease. */
  private writerEpoch: number | undefined;
  /**
   * The store refused this writer's epoch and no new claim has come yet. Messages still arriving
   * meanwhile (the broker connection closes only after the lease is handed over) are left to the
   * broker like the dropped ones: stored now, they would overtake those, which come back later.
   */
  private fenced = false;

  constructor(private readonly options: IngestorOptions) {
    this.commitIntervalMs = options.commitIntervalMs ?? 0;
  }

  /** Commits from now on carry `epoch` (from store.claimWriter()); the store refuses them once another writer claims it. */
  fenceWith(epoch: number): void {
    this.writerEpoch = epoch;
    this.fenced = false;
  }

  /** Takes one broker message; it is acknowledged once committed and published. */
  accept(message: InboundMessage): void {
    this.counters.received++;
    const receivedAt = Date.now();
    this.lastMessageAt = new Date(receivedAt).toISOString();
    if (this.fenced) return; // not acknowledged: the broker redelivers it, in order, to whoever holds the lease
    this.enqueue(this.toItem(message, classifyBody(message.body, this.options.maxBytes), receivedAt));
  }

  /**
   * Publishes a workflow message that arrived over HTTP through the same
   * pipeline (one writer, ids in commit order). Resolves with its id once it
   * is stored and relayed; throws AppError BAD_REQUEST when it is not valid.
   */
  submit(body: Uint8Array, publisher: string, messageId: string = `http:${randomUUID()}`): Promise<string | null> {
    const classified = classifyBody(body, this.options.maxBytes);
    if (classified.kind === 'rejected') return Promise.reject(new AppError('BAD_REQUEST', classified.detail, { reason: classified.reason }));
    if (classified.kind !== 'workflow') {
      return Promise.reject(new AppError('BAD_REQUEST', 'only workflow messages (with msg_type) can be published here', { reason: 'not_workflow' }));
    }
    if (this.stopping) return Promise.reject(new AppError('UNAVAILABLE', 'the relay is shutting down'));
    if (this.fenced) return Promise.reject(new AppError('UNAVAILABLE', NO_LONGER_LISTENER));
    this.counters.received++;
    const receivedAt = Date.now();
    const message: InboundMessage = { body, headers: { 'message-id': messageId, 'published-by': publisher }, destination: HTTP_QUEUE_NAME, messageId, ack: () => {} };
    return new Promise((resolve, reject) => {
      const item = this.toItem(message, classified, receivedAt);
      if (item.kind === 'workflow') item.settle = { resolve, reject };
      this.enqueue(item);
    });
  }

  private enqueue(item: Item): void {
    this.pending.push(item);
    if (!this.running) {
      this.running = true;
      // Let the messages of this socket read join the batch before committing.
      setImmediate(() => void this.run());
    }
  }

  /**
   * When the oldest message not yet acknowledged was received (ms since the epoch), or null
   * when none waits. Items are in arrival order, so it is the in-flight batch's first, else
   * the queue's. Read at scrape time: a stalled commit or publish shows as a growing age.
   */
  oldestPendingAt(): number | null {
    const oldest = this.inFlight[0] ?? this.pending[0];
    if (oldest === undefined) return null;
    return oldest.kind === 'rejected' ? Date.parse(oldest.row.receivedAt) : oldest.receivedAt;
  }

  /** Resolves when everything accepted so far has been handled (or abandoned by stop()). */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops retrying; messages not yet committed stay unacknowledged, for the broker to redeliver. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.idle();
  }

  private async run(): Promise<void> {
    /** A batch taken out of `pending` but given up on by stop(): its HTTP publishers must still get an answer. */
    let abandoned: Item[] = [];
    while (this.pending.length > 0 && !this.stopping) {
      // Under a backlog (a full batch waits) commit at once; else let the rest of the interval gather a batch.
      const wait = Math.min(this.lastCommitAt + this.commitIntervalMs - Date.now(), this.commitIntervalMs);
      if (wait > 0 && this.pending.length < MAX_BATCH) await timers.setTimeout(wait);
      this.lastCommitAt = Date.now();
      const items = this.pending.splice(0, MAX_BATCH);
      this.inFlight = items;
      let events: RelayEvent[] | undefined;
      try {
        events = await this.commitResilient(items);
      } catch (err) {
        if (!(err instanceof StaleWriterError)) throw err;
        this.dropFenced(items, err);
        continue;
      }
      if (events === undefined || (events.length > 0 && (await this.retry('publish', () => this.options.bus.publish(events))) === undefined)) {
        abandoned = items;
        break;
      }
      for (const item of items) {
        item.message.ack();
        if (item.kind === 'workflow' && item.settle) item.settle.resolve(item.settle.id ?? null);
      }
      this.inFlight = [];
    }
    this.inFlight = []; // a batch abandoned by stop() is the broker's to redeliver, no longer ours
    if (this.stopping) {
      for (const item of [...abandoned, ...this.pending]) {
        if (item.kind !== 'workflow' || !item.settle) continue;
        // Already committed: it is stored (replay and history have it), so a retry would only make a duplicate.
        if (typeof item.settle.id === 'string') item.settle.resolve(item.settle.id);
        else item.settle.reject(new AppError('UNAVAILABLE', 'the relay is shutting down'));
      }
      this.pending = [];
    }
    this.running = false;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /**
   * The store refused this writer (another listener claimed it while this one was frozen or cut
   * off): nothing it holds may be written. None of it is acknowledged, so the broker redelivers it
   * to the new holder; HTTP publishers are told to retry.
   */
  private dropFenced(items: Item[], err: StaleWriterError): void {
    const dropped = [...items, ...this.pending.splice(0)];
    this.fenced = true;
    this.inFlight = [];
    this.counters.fenced++;
    this.options.log.error({ epoch: err.epoch, dropped: dropped.length }, 'another listener claimed the store: not writing; leaving these messages to the broker');
    for (const item of dropped) {
      if (item.kind === 'workflow' && item.settle) item.settle.reject(new AppError('UNAVAILABLE', NO_LONGER_LISTENER));
    }
    this.options.onStale?.();
  }

  /**
   * Commits a batch; if that fails, commits its messages one at a time, so one
   * message the store refuses cannot hold up the others. Undefined when stopped.
   */
  private async commitResilient(items: Item[]): Promise<RelayEvent[] | undefined> {
    try {
      return await this.commit(items);
    } catch (err) {
      if (err instanceof StaleWriterError) throw err;
      this.counters.commitFailures++;
      this.options.log.error({ err, batch: items.length }, 'batch commit failed; committing its messages one by one');
    }
    const events: RelayEvent[] = [];
    for (const item of items) {
      const done = await this.retry('commit', () => this.commitAlone(item));
      if (done === undefined) return undefined;
      events.push(...done.value);
    }
    return events;
  }

  /**
   * Commits one message. If the store refuses it but accepts it as a rejected
   * body, it is kept there (reason `store_error`); if the store refuses both,
   * or does not answer at all (StoreUnreachableError), the caller retries, and
   * nothing is acknowledged.
   */
  private async commitAlone(item: Item): Promise<RelayEvent[]> {
    try {
      return await this.commit([item]);
    } catch (err) {
      // No answer is not a refusal: the message may even be stored. Retry it as it is (retry() waits).
      if (item.kind === 'rejected' || err instanceof StaleWriterError || err instanceof StoreUnreachableError) throw err;
      if (item.kind === 'workflow' && item.settle) {
        // An HTTP publisher is answered at once (it may retry); its message is not kept.
        item.settle.reject(new AppError('UNAVAILABLE', `the store refused the message: ${(err as Error).message}`));
        item.settle = undefined;
        return [];
      }
      const detail = `the store refused it: ${(err as Error).message}`;
      return await this.commit([this.rejectedItem(item.message, 'store_error', detail, new Date(item.receivedAt).toISOString())]);
    }
  }

  /** Writes one batch; returns the events to relay, in id order. */
  private async commit(items: Item[]): Promise<RelayEvent[]> {
    const workflow = items.filter((i): i is Extract<Item, { kind: 'workflow' }> => i.kind === 'workflow');
    const started = performance.now();
    let ids: (string | null)[];
    try {
      ids = await this.options.store.commitBatch({
        messages: workflow.map((i) => i.row),
        // In arrival order, so the last word on an agent wins; a workflow message with agent_name + status updates it too.
        heartbeats: items.flatMap((i) => (i.kind === 'heartbeat' ? [i.row] : i.kind === 'workflow' && i.agent ? [i.agent] : [])),
        rejected: items.flatMap((i) => (i.kind === 'rejected' ? [i.row] : [])),
        ...(this.writerEpoch !== undefined ? { writerEpoch: this.writerEpoch } : {}),
      });
    } catch (err) {
      if (err instanceof StoreUnreachableError) {
        // What that commit may have stored: the first of each broker message-id (a repeat in the batch is a duplicate anyway).
        const seen = new Set<string>();
        for (const item of workflow) {
          if (!seen.has(item.row.brokerMessageId)) item.maybeStored = true;
          seen.add(item.row.brokerMessageId);
        }
      }
      throw err;
    }
    if (workflow.some((item) => item.maybeStored)) await this.recoverUnanswered(workflow, ids);
    this.counters.commits++;
    this.options.metrics?.observeCommit((performance.now() - started) / 1000);
    const idOf = new Map(workflow.map((item, n) => [item, ids[n] ?? null]));
    const events: RelayEvent[] = [];
    for (const item of items) {
      if (item.kind === 'workflow') {
        const id = idOf.get(item) ?? null;
        if (item.settle) item.settle.id = id;
        if (id === null) {
          this.counters.duplicates++;
          continue;
        }
        this.counters.stored++;
        events.push(workflowEvent(id, item.row.fields, item.row.content, item.receivedAt));
      } else if (item.kind === 'heartbeat') {
        this.counters.heartbeats++;
        events.push(agentStatusEvent(item.fields, item.content, item.receivedAt));
      } else {
        const reason = item.row.reason as RejectReason;
        this.counters.rejected[reason] = (this.counters.rejected[reason] ?? 0) + 1;
        this.options.log.warn({ reason, detail: item.row.detail, messageId: item.row.brokerMessageId, size: item.row.bodySize }, 'message rejected');
      }
    }
    return events;
  }

  /** Runs `step` until it succeeds (its result, boxed) or the ingestor stops (undefined). */
  private async retry<T>(what: string, step: () => Promise<T>): Promise<{ value: T } | undefined> {
    for (let delay = RETRY_MIN_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      try {
        return { value: await step() };
      } catch (err) {
        if (err instanceof StaleWriterError) throw err; // not a failure to wait out: this writer must stop
        this.counters.commitFailures++;
        this.options.log.error({ err, retryInMs: delay }, `ingestion ${what} failed; retrying (messages stay unacknowledged)`);
        if (this.stopping) return undefined;
        await timers.setTimeout(delay); // looked up at call time, so tests can mock it
        if (this.stopping) return undefined;
      }
    }
  }

  /**
   * A retry of a commit that got no answer: the store calls a message of it "already stored" when
   * that commit was applied after all. Such a message is not a duplicate to skip but this one, not
   * yet relayed: its id is looked up (`ids` is completed in place).
   */
  private async recoverUnanswered(workflow: Extract<Item, { kind: 'workflow' }>[], ids: (string | null)[]): Promise<void> {
    try {
      for (const [n, item] of workflow.entries()) {
        if (ids[n] === null && item.maybeStored) ids[n] = await this.options.store.idOfBrokerMessage(item.row.brokerMessageId);
      }
    } catch (err) {
      // Stored but not yet relayed: never a refusal to keep as store_error. Retried as a whole.
      throw err instanceof StoreUnreachableError ? err : new StoreUnreachableError(err);
    }
    for (const item of workflow) item.maybeStored = false;
  }

  private toItem(message: InboundMessage, classified: Classified, receivedAt: number): Item {
    const receipt = { queueName: message.destination, receivedAt };
    const sentAt = new Date(receivedAt).toISOString();
    if (classified.kind === 'workflow') {
      const content = enrichWorkflow(classified, receipt);
      const row = { brokerMessageId: message.messageId, fields: classified.fields, queueName: message.destination, sentAt, content, metadata: JSON.stringify(message.headers) };
      const agent = classified.agent && { fields: classified.agent, payload: oneLine(classified.text), at: sentAt };
      return { kind: 'workflow', message, row, agent, receivedAt };
    }
    if (classified.kind === 'heartbeat') {
      const content = enrichHeartbeat(classified, receipt);
      const row = { fields: classified.fields, payload: oneLine(classified.text), at: sentAt };
      return { kind: 'heartbeat', message, row, content, fields: classified.fields, receivedAt };
    }
    return this.rejectedItem(message, classified.reason, classified.detail, sentAt);
  }

  private rejectedItem(message: InboundMessage, reason: RejectReason, detail: string, receivedAt: string): Item {
    const { body } = message;
    return {
      kind: 'rejected',
      message,
      row: {
        brokerMessageId: message.messageId === '' ? null : message.messageId,
        receivedAt,
        queueName: message.destination,
        reason,
        // A parse error may quote the body, NUL included, and PostgreSQL text cannot hold NUL.
        detail: detail.replaceAll('\u0000', '\\u0000'),
        body: body.subarray(0, this.options.maxBytes),
        bodySize: body.byteLength,
        truncated: body.byteLength > this.options.maxBytes,
        headers: JSON.stringify(message.headers),
      },
    };
  }
}
