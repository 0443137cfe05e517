/**
 * Counts SSE frames as they arrive, cheaply: no decoding to strings, no JSON.
 * Per chunk, Buffer.indexOf (native) finds each frame's end (a blank line)
 * and its `"t":<ms>` publish timestamp; control frames (heartbeat, gap,
 * shutdown) are told apart by their first line. A frame split across chunks
 * is finished from a small joint copy, never by copying the whole chunk.
 */
import { Histogram } from './histogram.js';

const FRAME_END = Buffer.from('\n\n');
const T_KEY = Buffer.from('"t":');
const GAP = Buffer.from('event: gap\n');
const HEARTBEAT = Buffer.from('event: heartbeat\n');
const SHUTDOWN = Buffer.from('event: shutdown\n');
const DROPPED_KEY = Buffer.from('"dropped":');
const SENT_AT_KEY = Buffer.from('"sent_at":"');
/** Events slower than this are split into their two hops by the relay's `sent_at` (its broker-receipt time, ms precision). */
export const SLOW_MS = 50;
/** Width of the latency timeline's slots, ms. */
export const SLOT_MS = 250;
/** A split frame is finished from its start plus this much of the next chunk (our frames are ~1.2 KB). */
const JOINT_BYTES = 4096;

/** One stream's state: the start of a frame split across chunks, and its timestamped events. */
export interface StreamCount {
  carry: Buffer | null;
  events: number;
}

/** A non-negative decimal number (digits, optional fraction) at `at`. */
function readNumber(buf: Buffer, at: number): number {
  let i = at;
  let v = 0;
  let c = buf[i];
  while (c !== undefined && c >= 48 && c <= 57) {
    v = v * 10 + (c - 48);
    c = buf[++i];
  }
  if (c === 46) {
    let scale = 0.1;
    c = buf[++i];
    while (c !== undefined && c >= 48 && c <= 57) {
      v += (c - 48) * scale;
      scale /= 10;
      c = buf[++i];
    }
  }
  return v;
}

function startsWith(buf: Buffer, at: number, prefix: Buffer): boolean {
  return buf.length - at >= prefix.length && buf.compare(prefix, 0, prefix.length, at, at + prefix.length) === 0;
}

/** What the streams of one process received since the last reset(). */
export class SseCounter {
  readonly latency = new Histogram();
  events = 0;
  heartbeats = 0;
  gaps = 0;
  /** Sum of `dropped` over the gap events. */
  gapDropped = 0;
  shutdowns = 0;
  bytes = 0;
  /** Receipt time of the first and last timestamped event (0 if none). */
  firstAt = 0;
  lastAt = 0;
  /** Largest latency per SLOT_MS of receipt time (slot = floor(at / SLOT_MS)): when did the slow ones arrive. */
  readonly slotMax = new Map<number, number>();
  /** For events slower than SLOW_MS: publish → relay receipt, and relay receipt → client receipt. */
  readonly slowToRelay = new Histogram();
  readonly slowFromRelay = new Histogram();

  reset(): void {
    this.latency.reset();
    this.slotMax.clear();
    this.slowToRelay.reset();
    this.slowFromRelay.reset();
    this.events = this.heartbeats = this.gaps = this.gapDropped = this.shutdowns = this.bytes = this.firstAt = this.lastAt = 0;
  }

  /** Counts the complete frames of `chunk` (plus what `stream` carried over), all received at `at` (ms, nowMs()). */
  onData(stream: StreamCount, chunk: Buffer, at: number): void {
    this.bytes += chunk.length;
    let buf = chunk;
    let pos = 0;
    const carry = stream.carry;
    if (carry !== null) {
      stream.carry = null;
      // The carry holds no frame end, so the first one in the joint ends the split frame.
      const joint = Buffer.concat([carry, chunk.subarray(0, JOINT_BYTES)]);
      const end = joint.indexOf(FRAME_END);
      if (end >= 0) {
        this.frame(stream, joint, 0, end, at);
        pos = end + FRAME_END.length - carry.length;
      } else if (chunk.length <= JOINT_BYTES) {
        stream.carry = joint; // still incomplete
        return;
      } else buf = Buffer.concat([carry, chunk]); // a frame longer than the joint: copy it all
    }
    for (;;) {
      const end = buf.indexOf(FRAME_END, pos);
      if (end < 0) break;
      this.frame(stream, buf, pos, end, at);
      pos = end + FRAME_END.length;
    }
    // Copy the tail: a view would pin the whole chunk.
    if (pos < buf.length) stream.carry = Buffer.from(buf.subarray(pos));
  }

  /** Splits a slow event's latency at the relay's receipt time (`sent_at`, which the relay adds unless the publisher set it). */
  private splitSlow(buf: Buffer, from: number, end: number, at: number, ms: number): void {
    const k = buf.indexOf(SENT_AT_KEY, from);
    if (k < 0 || k >= end) return;
    const receipt = Date.parse(buf.toString('latin1', k + SENT_AT_KEY.length, k + SENT_AT_KEY.length + 24));
    if (Number.isNaN(receipt)) return;
    const toRelay = ms - (at - receipt);
    this.slowToRelay.record(toRelay);
    this.slowFromRelay.record(ms - toRelay);
  }

  /** One complete frame buf[pos, end): a timestamped event, or a control event. */
  private frame(stream: StreamCount, buf: Buffer, pos: number, end: number, at: number): void {
    const t = buf.indexOf(T_KEY, pos);
    if (t >= 0 && t < end) {
      const ms = at - readNumber(buf, t + T_KEY.length);
      this.latency.record(ms);
      const slot = Math.floor(at / SLOT_MS);
      if (ms > (this.slotMax.get(slot) ?? -Infinity)) this.slotMax.set(slot, ms);
      if (ms > SLOW_MS) this.splitSlow(buf, t, end, at, ms);
      stream.events++;
      this.events++;
      if (this.firstAt === 0) this.firstAt = at;
      this.lastAt = at;
    } else if (startsWith(buf, pos, HEARTBEAT)) this.heartbeats++;
    else if (startsWith(buf, pos, GAP)) {
      this.gaps++;
      const d = buf.indexOf(DROPPED_KEY, pos);
      if (d >= 0 && d < end) this.gapDropped += readNumber(buf, d + DROPPED_KEY.length);
    } else if (startsWith(buf, pos, SHUTDOWN)) this.shutdowns++;
  }
}
