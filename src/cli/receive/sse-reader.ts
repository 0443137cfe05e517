/**
 * Incremental Server-Sent Events parsing (HTML spec "event stream
 * interpretation") for the `receive` client: text in any chunking, events out.
 */

/** One dispatched event. */
export interface SseMessage {
  /** The `event:` name, `message` when the block had none. */
  readonly event: string;
  /** The `data:` lines joined by `\n`. */
  readonly data: string;
  /** The `id:` sent in this event's own block, if any. */
  readonly id: string | undefined;
  /** The stream's running last event id after this event (the spec's value). */
  readonly lastEventId: string;
}

/** Longest line accepted (characters); a longer one means the stream is broken. Larger than any relayed message can be. */
export const MAX_LINE_LENGTH = 128 * 1024 * 1024;

/** Thrown by SseParser.push when a line exceeds MAX_LINE_LENGTH. */
export class SseLineTooLongError extends Error {
  constructor(limit: number) {
    super(`event stream line longer than ${limit} characters`);
    this.name = 'SseLineTooLongError';
  }
}

/**
 * Parses an event stream fed in pieces of decoded text. Lines end in CRLF, LF
 * or CR (also when split between pieces); a leading BOM is skipped; comments
 * are ignored; a block without `data:` dispatches nothing.
 */
export class SseParser {
  private partial = '';
  private skipLf = false;
  private atStart = true;
  private data: string[] = [];
  private eventName = '';
  private blockId: string | undefined;
  private runningId = '';
  /** The last valid `retry:` value in ms, if the server sent one. */
  retryMs: number | undefined;

  constructor(private readonly maxLineLength: number = MAX_LINE_LENGTH) {}

  /** Feeds the next piece of text; returns the events completed by it, in order. */
  push(text: string): SseMessage[] {
    const out: SseMessage[] = [];
    let start = 0;
    if (this.atStart && text.length > 0) {
      this.atStart = false;
      if (text.charCodeAt(0) === 0xfeff) start = 1;
    }
    if (this.skipLf && start < text.length) {
      this.skipLf = false;
      if (text.charCodeAt(start) === 10) start++;
    }
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.partial === '' ? text.slice(start, i) : this.partial + text.slice(start, i);
      this.partial = '';
      this.line(line, out);
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else this.skipLf = true;
      }
      start = i + 1;
    }
    if (start < text.length) {
      this.partial += text.slice(start);
      if (this.partial.length > this.maxLineLength) throw new SseLineTooLongError(this.maxLineLength);
    }
    return out;
  }

  /** The running last event id (what a reconnect sends as Last-Event-ID). */
  get lastEventId(): string {
    return this.runningId;
  }

  private line(line: string, out: SseMessage[]): void {
    if (line === '') {
      this.dispatch(out);
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' */) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32 /* ' ' */) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.eventName = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.blockId = this.runningId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.retryMs = Number(value);
        break;
      default: // unknown fields are ignored
    }
  }

  private dispatch(out: SseMessage[]): void {
    if (this.data.length > 0) {
      out.push({ event: this.eventName || 'message', data: this.data.join('\n'), id: this.blockId, lastEventId: this.runningId });
    }
    this.data = [];
    this.eventName = '';
    this.blockId = undefined;
  }
}

/**
 * Reads a fetch() body as an event stream: yields the events of each chunk as
 * it arrives (an empty list for a chunk that completed none, so callers see
 * every sign of life). Bad UTF-8 becomes U+FFFD, as browsers do.
 */
export async function* readSse(body: ReadableStream<Uint8Array>, parser: SseParser = new SseParser()): AsyncGenerator<SseMessage[]> {
  const decoder = new TextDecoder('utf-8');
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield parser.push(decoder.decode(value, { stream: true }));
    }
    const tail = decoder.decode();
    if (tail !== '') yield parser.push(tail);
  } finally {
    // Cancelling (not just releasing) ends the HTTP response, so its socket is not left open.
    await reader.cancel().catch(() => {});
  }
}
