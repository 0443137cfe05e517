// A controllable stand-in for a client socket, for unit tests of SseClient, Hub and replay.
import { Writable } from 'node:stream';

/**
 * A real Writable standing in for a socket: records every chunk it is given (the
 * same Buffer instances, one entry per write() call), and while `block()`ed its
 * write() returns false until `unblock()` emits 'drain'. Its own high-water mark
 * is never reached.
 */
export class FakeSocket extends Writable {
  readonly chunks: Buffer[] = [];
  private full = false;

  constructor() {
    super({ highWaterMark: 1 << 30 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.chunks.push(chunk);
    callback();
  }

  override write(chunk: unknown, ...rest: unknown[]): boolean {
    const ok = (super.write as (...args: unknown[]) => boolean).apply(this, [chunk, ...rest]);
    return ok && !this.full;
  }

  /** From now on write() reports a full socket. */
  block(): void {
    this.full = true;
  }

  /** The socket accepts again: emits 'drain'. */
  unblock(): void {
    this.full = false;
    this.emit('drain');
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  /** The `id:` of every event received so far, in order. */
  ids(): string[] {
    return [...this.text().matchAll(/^id: (.*)$/gm)].map((m) => m[1]!);
  }

  /** The `event:` name of every frame received so far, in order. */
  events(): string[] {
    return [...this.text().matchAll(/^event: (.*)$/gm)].map((m) => m[1]!);
  }

  /** The parsed `data:` of every `gap` frame received so far, in order. */
  gaps(): unknown[] {
    return [...this.text().matchAll(/^event: gap\ndata: (.*)$/gm)].map((m) => JSON.parse(m[1]!) as unknown);
  }
}

/**
 * Resolves after the current event-loop turn, once SseClient has written the
 * frames it coalesced: a flush round that writes few clients runs in one
 * process.nextTick (setImmediate runs after every pending nextTick; mock timers
 * in these tests never mock setImmediate).
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
