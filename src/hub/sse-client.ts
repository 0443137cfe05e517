/**
 * One SSE client: writes frames while its socket accepts them, queues at most
 * `queueSize` events and `queueBytes` bytes while it does not (dropping the
 * oldest), and tells the client what it lost with a `gap` event once it reads again. A stream never
 * repeats an event id: every path that writes events (live, replay, hand-over)
 * admits only ids above the highest one this stream has already taken.
 */
import { randomUUID } from 'node:crypto';
import { compareIds, idAtOrBelow } from '../model/event.js';
import { joinFrames } from './frame-batch.js';
import { requestFlush, type Flushable } from './flush-rounds.js';
import type { Filters } from '../model/filter.js';
import { noopMetrics, type Metrics } from '../metrics.js';
import { DEFAULT_CLIENT_QUEUE_BYTES } from '../config.js';
import { encodeControl } from './sse-frame.js';

/** Why a stream was closed; also a metrics label. */
export const CLOSE_REASONS = {
  clientGone: 'client_gone',
  shutdown: 'shutdown',
  error: 'error',
  /** The stream's credential was revoked or expired, or its user disabled (credential-watch.ts). */
  revoked: 'revoked',
} as const;
export type CloseReason = (typeof CLOSE_REASONS)[keyof typeof CLOSE_REASONS];

/** Who is connected and with what; fixed at connect time. */
export interface ClientInfo {
  readonly username: string;
  readonly remoteAddress: string | null;
  readonly filters: Filters;
  readonly lastEventId: string | null;
  /** The relay credential the stream was opened with, re-checked while it is open; null when none is (proxy, swf-monitor's). */
  readonly credential?: StreamCredential | null;
}

/** A relay token (by id) or session (by the SHA-256 of its id). */
export interface StreamCredential {
  readonly kind: 'token' | 'session';
  readonly id: string;
}

/** Most live events held back during a replay before the replay reads them from the store instead. */
const LIVE_BUFFER_MAX = 10_000;

/** One replayed event: its frame and its store id. */
export interface ReplayedEvent {
  readonly frame: Buffer;
  readonly id: string;
}

/** One event waiting in the queue. */
interface Queued {
  readonly frame: Buffer;
  readonly id: string | null;
  /** Broker receipt time (ms), 0 when unknown. */
  readonly receivedAt: number;
}

/** Where a stream's frames go: a Writable (the response), or for HTTP/1.1 its socket with chunk framing (http/sse-sink.ts). */
export interface SseSink {
  /** Writes one chunk; false when the client is behind ('drain' follows). */
  write(chunk: Buffer): boolean;
  /** Ends the response, with a last chunk if given. */
  end(chunk?: Buffer): void;
  on(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}

/** A connected stream. Create with `new SseClient(socket, info, queueSize, metrics, queueBytes)`. */
export class SseClient implements Flushable {
  readonly id = randomUUID();
  /** Connect time (ms since the epoch): a number, not a Date, which costs ~100 bytes per held stream. */
  readonly connectedAt = Date.now();
  /** Events written to the socket. */
  sent = 0;
  /** Events dropped because the queue was full. */
  dropped = 0;
  /** Events not sent because their id was at or below the high-water mark (a second copy of an id already sent). */
  skippedRepeats = 0;
  /** Set when counters changed since the last flush to the store. */
  dirty = false;
  lastActivity = Date.now();
  private readonly queue: Queued[] = [];
  /** Bytes of the frames in `queue`: a running total, so the byte bound costs one addition per event. */
  private queuedBytes = 0;
  /** Frames collected since the last write, written together by flushPending(). */
  private pending: Buffer[] = [];
  /** Receipt time of the oldest event in `pending` (0 if none has one), for the latency histogram. */
  private pendingOldest = 0;
  private blocked = false;
  private closed = false;
  /** Dropped events not yet reported with a `gap` event. */
  private gap: { fromId: string | null; toId: string | null; count: number } | null = null;
  /** While replaying from the store, live events wait here (see beginReplay). */
  private liveBuffer: Queued[] | null = null;
  /** Bytes of the frames in `liveBuffer`. */
  private liveBytes = 0;
  /** Set when the live buffer overflowed during replay: the replay must read the store further. */
  liveOverflowed = false;
  /**
   * High-water mark: the highest event id this stream has taken (written, or
   * queued for the socket), null before the first. Ids only grow, so an id at
   * or below it is a copy of one the client has (or was told it lost).
   */
  private highWater: string | null = null;
  /** The socket's 'drain' listener, kept so close() and detach() can remove it. */
  private readonly onDrain = (): void => this.drain();

  constructor(
    private readonly out: SseSink,
    readonly info: ClientInfo,
    private readonly queueSize: number,
    private readonly metrics: Metrics = noopMetrics,
    /** Most bytes of frames queued (SSE_CLIENT_QUEUE_BYTES); the newest event is kept even when it alone is larger. */
    private readonly queueBytes: number = DEFAULT_CLIENT_QUEUE_BYTES,
  ) {
    out.on('drain', this.onDrain);
  }

  /** Events waiting for the socket. */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** True once closed; a closed client ignores everything. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Sends (or queues) one encoded event, unless its id is at or below the
   * high-water mark. `id` is its event id (null for agent_status, always
   * sent); `receivedAt` its broker receipt (ms).
   */
  send(frame: Buffer, id: string | null, receivedAt = 0): void {
    if (this.closed) return;
    if (this.liveBuffer !== null) {
      // Judged at the hand-over, against the mark the replay will have raised by then.
      this.bufferLive({ frame, id, receivedAt });
      return;
    }
    // Before queueing, so a slow_client gap only ever counts ids this stream has not sent.
    if (!this.admit(id)) return;
    this.dirty = true;
    if (!this.blocked) {
      if (this.pendingOldest === 0) this.pendingOldest = receivedAt;
      this.coalesce(frame);
      this.sent++;
      return;
    }
    if (this.queue.length >= this.queueSize) this.dropOldest();
    // Frames shared with other clients count in full for each: a bound per client, not an exact share.
    while (this.queue.length > 0 && this.queuedBytes + frame.length > this.queueBytes) this.dropOldest();
    this.queue.push({ frame, id, receivedAt });
    this.queuedBytes += frame.length;
  }

  /**
   * Replay-then-live: from now on live events are held back (the client has
   * joined the hub first, so nothing published from now on is missed) while
   * the caller writes stored events with writeReplayed(); endReplay() then
   * hands over, skipping what the replay already sent.
   */
  beginReplay(): void {
    this.liveBuffer = [];
    this.liveBytes = 0;
    this.liveOverflowed = false;
  }

  /**
   * Writes replayed events (one page, in id order) in one write, waiting for
   * the socket rather than dropping; those at or below the high-water mark are
   * left out. Resolves with how many were written, or null once closed.
   */
  async writeReplayed(events: readonly ReplayedEvent[]): Promise<number | null> {
    if (this.closed) return null;
    const frames: Buffer[] = [];
    for (const event of events) if (this.admit(event.id)) frames.push(event.frame);
    if (frames.length > 0) {
      this.sent += frames.length;
      this.dirty = true;
      this.lastActivity = Date.now();
      if (!this.out.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames))) await this.waitDrain();
    }
    return this.closed ? null : frames.length;
  }

  /** Writes a control frame now, in order with replayed events (used for `gap` during replay). */
  async writeReplayControl(frame: Buffer): Promise<boolean> {
    if (this.closed) return false;
    if (!this.out.write(frame)) await this.waitDrain();
    return !this.closed;
  }

  /**
   * Ends replay: raises the high-water mark to `lastReplayedId` (where the
   * replay ended); live events held back with an id above it (and
   * those without id) go out, in order, through send() and so through the
   * high-water mark. From here on, a live copy of a row the replay already
   * sent (committed before its last page, but still on the bus) is stopped by
   * the mark as well.
   */
  endReplay(lastReplayedId: string | null): void {
    // The client has (or was told by a gap it lost) every id up to where the replay ended, even when
    // the replay sent nothing: a late live copy below it (a former listener publishing a batch it
    // committed before it lost the lease) is a repeat for this client too.
    if (lastReplayedId !== null && (this.highWater === null || compareIds(lastReplayedId, this.highWater) > 0)) this.highWater = lastReplayedId;
    const held = this.liveBuffer ?? [];
    this.liveBuffer = null;
    this.liveBytes = 0;
    for (const q of held) {
      if (q.id === null || lastReplayedId === null || compareIds(q.id, lastReplayedId) > 0) this.send(q.frame, q.id, q.receivedAt);
    }
  }

  /** Writes a control frame (heartbeat) unless the socket is backed up: a queued client has data coming anyway. */
  sendControl(frame: Buffer): void {
    if (this.closed || this.blocked) return;
    this.coalesce(frame);
  }

  /** Ends the stream (after what is already on its way), optionally with a last frame. */
  close(lastFrame?: Buffer): void {
    if (this.closed) return;
    this.flushPending();
    this.closed = true;
    this.clearQueue();
    // A keep-alive socket may carry another response after this one: leave it no listener.
    this.out.off('drain', this.onDrain);
    if (lastFrame) this.out.end(lastFrame);
    else this.out.end();
  }

  /** Marks the client closed after its socket went away. */
  detach(): void {
    this.closed = true;
    this.clearQueue();
    this.out.off('drain', this.onDrain);
  }

  private clearQueue(): void {
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  /**
   * Collects frames and writes them once, in this process's next flush round
   * (flush-rounds.ts: at the end of this turn when the process is not busy). A
   * whole batch then meets the socket as one write, so a burst is judged by
   * whether the client keeps up, not by how many events one commit happened to carry.
   */
  private coalesce(frame: Buffer): void {
    this.pending.push(frame);
    if (this.pending.length === 1) requestFlush(this);
  }

  /** Writes the frames collected so far (called by the flush round, and by close()). */
  flushPending(): void {
    if (this.closed || this.pending.length === 0) return;
    const frames = this.pending;
    this.pending = [];
    this.write(joinFrames(frames));
    this.observeLatency(this.pendingOldest);
    this.pendingOldest = 0;
  }

  private observeLatency(receivedAt: number): void {
    if (receivedAt > 0) this.metrics.observeDelivery((Date.now() - receivedAt) / 1000);
  }

  private write(frame: Buffer): void {
    this.lastActivity = Date.now();
    if (!this.out.write(frame)) this.blocked = true;
  }

  /** True when an event with `id` may go out on this stream (and raises the mark); false for a repeated id. */
  private admit(id: string | null): boolean {
    if (id === null) return true;
    // Hot path, per client per event: one string comparison (no BigInt, no parse), and the mark
    // keeps a reference to the event's own id string, so nothing is allocated.
    if (this.highWater !== null && idAtOrBelow(id, this.highWater)) {
      this.skippedRepeats++;
      return false;
    }
    this.highWater = id;
    return true;
  }

  private bufferLive(q: Queued): void {
    const buffer = this.liveBuffer!;
    if (buffer.length >= LIVE_BUFFER_MAX || (buffer.length > 0 && this.liveBytes + q.frame.length > this.queueBytes)) {
      // Every workflow event held here is also in the store: let the replay read them from there
      // instead. Held agent_status events (not stored) are lost; they only refresh agent state.
      buffer.length = 0;
      this.liveBytes = 0;
      this.liveOverflowed = true;
    }
    buffer.push(q);
    this.liveBytes += q.frame.length;
  }

  private waitDrain(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.out.off('drain', done);
        this.out.off('close', done);
        resolve();
      };
      this.out.on('drain', done);
      this.out.on('close', done);
    });
  }

  private dropOldest(): void {
    const lost = this.queue.shift();
    if (!lost) return;
    this.queuedBytes -= lost.frame.length;
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
    this.queuedBytes = 0;
    if (waiting.length > 0) {
      this.sent += waiting.length;
      this.dirty = true;
      this.write(waiting.length === 1 ? waiting[0]!.frame : Buffer.concat(waiting.map((q) => q.frame)));
      this.observeLatency(waiting.find((q) => q.receivedAt > 0)?.receivedAt ?? 0);
    }
  }
}
