/**
 * RedisBus: one Redis Stream per channel group. The listener appends each
 * event once (XADD, approximately trimmed); each web process runs ONE
 * blocking reader for all its clients, so Redis work per event does not grow
 * with the number of clients. After an outage a reader resumes from the last
 * stream id it saw; what the trim removed meanwhile it reads from the store.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { compareIds, type RelayEvent } from '../model/event.js';
import type { Backfill, Bus, BusHandler, BusHealth } from './bus.js';

/** Entries kept in the stream (approximately): minutes of traffic at high rates. */
const STREAM_MAXLEN = 100_000;
/** How long one XREAD blocks; a read cycle completes at least this often. */
const BLOCK_MS = 2000;
/** Entries read per XREAD. */
const READ_COUNT = 1000;
/** A reader silent this long is reported stalled (readiness fails)… */
const STALL_MS = 3 * BLOCK_MS;
/** …and this long, its connection is dropped and reopened (a half-open socket after a failover never errors). */
const RECONNECT_STALLED_MS = 5 * BLOCK_MS;

/** The Redis connections the bus uses: the shared command connection, and a way to open its blocking reader (and replace its connection). */
export interface RedisSource {
  readonly commands: Redis;
  open(role: string, blocking?: boolean): Redis;
  /** Drops a stalled connection for a new one, unless one is being made already (cluster/redis.ts replaceConnection); true when dropped. */
  replace(client: Redis): boolean;
}

/** Options of RedisBus. */
export interface RedisBusOptions {
  readonly redis: RedisSource;
  /** The stream's key (cluster/redis.ts redisKeys(group).stream). */
  readonly stream: string;
  readonly log: Logger;
  readonly backfill: Backfill;
}

/** The bus over Redis Streams. */
export class RedisBus implements Bus {
  readonly kind = 'redis';
  /** Commands (XADD); owned by whoever opened it, not closed here. */
  private readonly redis: Redis;
  private reader: Redis | undefined;
  private readonly handlers = new Set<BusHandler>();
  /** Last stream entry read; set to the stream's tail when the reader starts (clients start live). */
  private lastStreamId = '0-0';
  private lastEventId: string | null = null;
  private lastReadAt = 0;
  private readError: string | null = null;
  private closed = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: RedisBusOptions) {
    this.redis = options.redis.commands;
  }

  async publish(events: readonly RelayEvent[]): Promise<void> {
    if (events.length === 0) return;
    // One transaction per batch: a failed publish is retried whole, never half-applied.
    const tx = this.redis.multi();
    for (const event of events) tx.xadd(this.options.stream, 'MAXLEN', '~', STREAM_MAXLEN, '*', ...encode(event));
    const results = await tx.exec();
    const failed = results?.find(([err]) => err !== null);
    if (!results || failed) throw failed?.[0] ?? new Error('Redis transaction aborted');
  }

  subscribe(handler: BusHandler): () => void {
    this.handlers.add(handler);
    this.loop ??= this.readLoop();
    return () => this.handlers.delete(handler);
  }

  health(): BusHealth {
    if (this.loop === undefined) return { state: this.redis.status === 'ready' ? 'ok' : `redis ${this.redis.status}` };
    // A connection lost (refused, reset) shows at once; a silent one only through the stall below.
    if (this.reader !== undefined && this.reader.status !== 'ready') return { state: `reader redis ${this.reader.status}${this.readError ? `: ${this.readError}` : ''}` };
    const idle = Date.now() - this.lastReadAt;
    // A reader that has not finished a read cycle in 3 blocks is stuck, whatever PING says.
    if (idle > STALL_MS) return { state: `reader stalled for ${Math.round(idle / 1000)} s${this.readError ? `: ${this.readError}` : ''}` };
    return { state: 'ok', lastReadAt: new Date(this.lastReadAt).toISOString() };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reader?.disconnect();
    await this.loop?.catch(() => {});
  }

  private async readLoop(): Promise<void> {
    const reader = this.options.redis.open('reader', true);
    this.reader = reader;
    this.lastReadAt = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - this.lastReadAt < RECONNECT_STALLED_MS || this.closed) return;
      if (!this.options.redis.replace(reader)) return; // still reconnecting by itself
      this.options.log.warn({ silentMs: Date.now() - this.lastReadAt }, 'bus reader stalled; reconnecting it');
      this.lastReadAt = Date.now(); // one reconnect per stall period
    }, BLOCK_MS);
    watchdog.unref();
    // Start after the newest entry. Not "$": between two XREADs with "$", an entry could slip by.
    for (let started = false; !started && !this.closed; ) {
      try {
        this.lastStreamId = await this.currentStreamTail();
        started = true;
      } catch (err) {
        this.readError = (err as Error).message;
        await delay(500);
      }
    }
    while (!this.closed) {
      try {
        const reply = (await reader.xread('COUNT', READ_COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', this.options.stream, this.lastStreamId)) as
          | [string, [string, string[]][]][]
          | null;
        this.lastReadAt = Date.now();
        this.readError = null;
        const entries = reply?.[0]?.[1] ?? [];
        if (entries.length === 0) continue;
        this.lastStreamId = entries.at(-1)![0];
        await this.deliver(entries.map(([, fields]) => decode(fields)));
      } catch (err) {
        if (this.closed) break;
        this.readError = (err as Error).message;
        this.options.log.warn({ err: this.readError, lastStreamId: this.lastStreamId }, 'bus read failed; retrying');
        await delay(500);
      }
    }
    clearInterval(watchdog);
  }

  /** Hands events on in order, without duplicates, after filling any gap the stream trim left. */
  private async deliver(events: RelayEvent[]): Promise<void> {
    const out: RelayEvent[] = [];
    for (const event of events) {
      if (event.id !== null && this.lastEventId !== null) {
        if (compareIds(event.id, this.lastEventId) <= 0) continue; // a publish retried after a partial failure
        if (BigInt(event.id) > BigInt(this.lastEventId) + 1n) {
          // Usually a hole in the id sequence (nothing stored); after a long outage, trimmed entries.
          out.push(...(await this.options.backfill(this.lastEventId, event.id)));
        }
      }
      if (event.id !== null) this.lastEventId = event.id;
      out.push(event);
    }
    for (const handler of this.handlers) handler(out);
  }

  /** The id of the newest stream entry, or "0-0" for an empty stream. */
  private async currentStreamTail(): Promise<string> {
    const last = (await this.redis.xrevrange(this.options.stream, '+', '-', 'COUNT', 1)) as [string, string[]][];
    return last[0]?.[0] ?? '0-0';
  }
}

/** A RelayEvent as stream fields; null fields are left out. */
function encode(event: RelayEvent): string[] {
  const fields = ['e', event.event, 'm', event.msgType, 'd', event.data, 't', String(event.receivedAt)];
  if (event.id !== null) fields.push('i', event.id);
  if (event.runId !== null) fields.push('r', event.runId);
  if (event.namespace !== null) fields.push('n', event.namespace);
  if (event.senderAgent !== null) fields.push('s', event.senderAgent);
  if (event.processedBy !== null) fields.push('p', event.processedBy);
  return fields;
}

function decode(fields: string[]): RelayEvent {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  return {
    id: map.get('i') ?? null,
    event: map.get('e') ?? 'message',
    msgType: map.get('m') ?? '',
    data: map.get('d') ?? '{}',
    receivedAt: Number(map.get('t') ?? 0),
    runId: map.get('r') ?? null,
    namespace: map.get('n') ?? null,
    senderAgent: map.get('s') ?? null,
    processedBy: map.get('p') ?? null,
  };
}
