/**
 * One SSE client: writes frames while its socket accepts them, queues at most
 * `queueSize` events while it does not (dropping the oldest), and tells the
 * client what it lost with a `gap` event once it reads again.
 */
import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { Filters } from './filter.js';
import { encodeControl } from './sse-frame.js';

/** Why a stream was closed; also a metrics label. */
export const CLOSE_REASONS = {
  clientGone: 'client_gone',
  shutdown: 'shutdown',
  error: 'error',
} as const;
export type CloseReason = (typeof CLOSE_REASONS)[keyof typeof CLOSE_REASONS];

/** Who is connected and with what; fixed at connect time. */
export interface ClientInfo {
  readonly username: string;
  readonly remoteAddress: string | null;
  readonly filters: Filters;
  readonly lastEventId: string | null;
}

/** One event waiting in the queue. */
interface Queued {
  readonly frame: Buffer;
  readonly id: string | null;
}

/** A connected stream. Create with `new SseClient(socket, info, queueSize)`. */
export class SseClient {
  readonly id = randomUUID();
  readonly connectedAt = new Date();
  /** Events written to the socket. */
  sent = 0;
  /** Events dropped because the queue was full. */
  dropped = 0;
  /** Set when counters changed since the last flush to the store. */
  dirty = false;
  lastActivity = Date.now();
  private readonly queue: Queued[] = [];
  private blocked = false;
  private closed = false;
  /** Dropped events not yet reported with a `gap` event. */
  private gap: { fromId: string | null; toId: string | null; count: number } | null = null;

  constructor(
    private readonly out: Writable,
    readonly info: ClientInfo,
    private readonly queueSize: number,
  ) {
    out.on('drain', () => this.drain());
  }

  /** Events waiting for the socket. */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** True once closed; a closed client ignores everything. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends (or queues) one encoded event. `id` is its event id, for gap reporting. */
  send(frame: Buffer, id: string | null): void {
    if (this.closed) return;
    this.dirty = true;
    if (!this.blocked) {
      this.write(frame);
      this.sent++;
      return;
    }
    if (this.queue.length >= this.queueSize) this.dropOldest();
    this.queue.push({ frame, id });
  }

  /** Writes a control frame (heartbeat) unless the socket is backed up: a queued client has data coming anyway. */
  sendControl(frame: Buffer): void {
    if (this.closed || this.blocked) return;
    this.write(frame);
  }

  /** Ends the stream, optionally with a last frame. */
  close(lastFrame?: Buffer): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    if (lastFrame) this.out.end(lastFrame);
    else this.out.end();
  }

  /** Marks the client closed after its socket went away. */
  detach(): void {
    this.closed = true;
    this.queue.length = 0;
  }

  private write(frame: Buffer): void {
    this.lastActivity = Date.now();
    if (!this.out.write(frame)) this.blocked = true;
  }

  private dropOldest(): void {
    const lost = this.queue.shift();
    if (!lost) return;
    this.dropped++;
    if (this.gap === null) this.gap = { fromId: lost.id, toId: lost.id, count: 0 };
    this.gap.count++;
    if (lost.id !== null) {
      this.gap.fromId ??= lost.id;
      this.gap.toId = lost.id;
    }
  }

  private drain(): void {
    this.blocked = false;
    if (this.closed) return;
    if (this.gap !== null) {
      const { fromId, toId, count } = this.gap;
      this.gap = null;
      this.write(encodeControl('gap', { reason: 'slow_client', from_id: fromId, to_id: toId, dropped: count }));
    }
    // One write for everything that waited: fewer syscalls than one per event.
    const waiting = this.queue.splice(0, this.queue.length);
    if (waiting.length > 0) {
      this.sent += waiting.length;
      this.dirty = true;
      this.write(waiting.length === 1 ? waiting[0]!.frame : Buffer.concat(waiting.map((q) => q.frame)));
    }
  }
}
