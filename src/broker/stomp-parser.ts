/**
 * A faster STOMP frame parser for @stomp/stompjs. The library's own Parser
 * reads one byte per function call and collects bytes in a JS array: 39 µs of
 * CPU for a 1.2 kB MESSAGE frame on the benchmark machine, two thirds of the
 * relay's whole budget per message (docs/benchmarks.md). This one finds line
 * ends and the NUL with Buffer.indexOf and takes the body by content-length in
 * one copy (~2 µs), and hands the library exactly the raw frames its own
 * parser would (test/unit/stomp-parser.test.ts compares them on every split of
 * a stream). installFastStompParser() puts it behind the library's
 * Parser.parseChunk, the one method the library calls; and replaces
 * FrameImpl.fromRawFrame, which ran two regular expressions per header to trim
 * and four to unescape, with one that gives the same headers with String.trim
 * and unescapes only values that hold a backslash.
 */
import { FrameImpl, Parser } from '@stomp/stompjs';

const NUL = 0;
const LF = 10;
const CR = 13;
const COLON = 58;

/** What the library's frame callback receives (its IRawFrameType). */
export interface RawFrame {
  command: string | undefined;
  headers: [string, string][];
  binaryBody: Uint8Array | undefined;
}

/** Parses a byte stream into raw STOMP frames and heart-beats, like @stomp/stompjs's Parser. */
export class FastStompParser {
  /** Bytes of an incomplete frame, in arrival order. */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  /** Total bytes the incomplete frame needs (headers read, content-length known), or 0 when not known yet. */
  private need = 0;

  constructor(
    private readonly onFrame: (frame: RawFrame) => void,
    private readonly onIncomingPing: () => void,
  ) {}

  parseChunk(segment: string | ArrayBuffer | Uint8Array, appendMissingNULLonIncoming = false): void {
    let chunk = typeof segment === 'string' ? Buffer.from(segment, 'utf8') : segment instanceof ArrayBuffer ? Buffer.from(segment) : Buffer.from(segment.buffer, segment.byteOffset, segment.byteLength);
    if (appendMissingNULLonIncoming && chunk[chunk.length - 1] !== NUL) chunk = Buffer.concat([chunk, Buffer.of(NUL)]);
    if (this.partsBytes > 0) {
      this.parts.push(chunk);
      this.partsBytes += chunk.length;
      // A long body arriving in many reads: join once it is all here, not at every read.
      if (this.need > 0 && this.partsBytes < this.need) return;
      chunk = Buffer.concat(this.parts, this.partsBytes);
      this.parts = [];
      this.partsBytes = 0;
    }
    this.need = 0;
    let pos = 0;
    while (pos < chunk.length) {
      // Between frames: NUL and CR are skipped, LF is a heart-beat.
      const byte = chunk[pos]!;
      if (byte === NUL || byte === CR || byte === LF) {
        if (byte === LF) this.onIncomingPing();
        pos++;
        continue;
      }
      const end = this.frameAt(chunk, pos);
      if (end < 0) break;
      pos = end;
    }
    if (pos < chunk.length) {
      const rest = chunk.subarray(pos);
      this.parts.push(rest);
      this.partsBytes = rest.length;
    }
  }

  /**
   * Reads the frame that starts at `start`. Returns where the next thing starts, or -1 when the
   * frame is not complete yet (with this.need set to its size once the headers tell it).
   */
  private frameAt(buf: Buffer, start: number): number {
    let pos = start;
    let eol = buf.indexOf(LF, pos);
    if (eol < 0) return -1;
    const command = withoutCr(buf.toString('utf8', pos, eol));
    const headers: [string, string][] = [];
    let contentLength: string | undefined;
    for (pos = eol + 1; ; pos = eol + 1) {
      eol = buf.indexOf(LF, pos);
      if (eol < 0) return -1;
      if (eol === pos || (eol === pos + 1 && buf[pos] === CR)) break; // the blank line
      // The key runs to the first colon (CR kept, as the library does); the value drops every CR.
      const colon = buf.indexOf(COLON, pos);
      const header: [string, string] =
        colon < 0 || colon > eol ? [buf.toString('utf8', pos, eol), ''] : [buf.toString('utf8', pos, colon), withoutCr(buf.toString('utf8', colon + 1, eol))];
      if (header[0] === 'content-length' && contentLength === undefined) contentLength = header[1];
      headers.push(header);
    }
    const bodyStart = eol + 1;
    // A valid content-length gives the body (NULs included), and the byte after it ends the frame,
    // whatever it is (as in the library). Without one — or with one the library would never finish
    // (not a number, negative) — the body runs to the first NUL.
    const length = contentLength === undefined ? NaN : parseInt(contentLength, 10);
    let bodyEnd: number;
    if (length >= 0) {
      bodyEnd = bodyStart + length;
      if (bodyEnd + 1 > buf.length) {
        this.need = bodyEnd + 1 - start;
        return -1;
      }
    } else {
      bodyEnd = buf.indexOf(NUL, bodyStart);
      if (bodyEnd < 0) return -1;
    }
    const next = bodyEnd + 1;
    const frame: RawFrame = { command, headers, binaryBody: Uint8Array.prototype.slice.call(buf, bodyStart, bodyEnd) };
    try {
      this.onFrame(frame);
    } catch {
      // As the library: an exception in a frame handler does not stop the parsing of the stream.
    }
    return next;
  }
}

function withoutCr(text: string): string {
  return text.includes('\r') ? text.replaceAll('\r', '') : text;
}

/** The library's unescaping of a header value (its hdrValueUnEscape, which its types keep private), in its order. */
function unescapeValue(value: string): string {
  return value.replace(/\\r/g, '\r').replace(/\\n/g, '\n').replace(/\\c/g, ':').replace(/\\\\/g, '\\');
}

/** FrameImpl.fromRawFrame as the library has it: same result, no regular expression for the common header. */
export function fromRawFrame(rawFrame: RawFrame, escapeHeaderValues: boolean): FrameImpl {
  const headers: Record<string, string> = {};
  const unescape = escapeHeaderValues && rawFrame.command !== 'CONNECT' && rawFrame.command !== 'CONNECTED';
  // Backwards, so the first of repeated headers wins (STOMP 1.2). The library reverses the array in place; so do we.
  for (const [key, value] of rawFrame.headers.reverse()) {
    // String.trim removes the same characters as the library's /^\s+|\s+$/ (both: WhiteSpace and LineTerminator).
    const trimmed = value.trim();
    headers[key.trim()] = unescape && trimmed.includes('\\') ? unescapeValue(trimmed) : trimmed;
  }
  return new FrameImpl({ command: rawFrame.command!, headers, binaryBody: rawFrame.binaryBody, escapeHeaderValues });
}

/** The library's Parser with the parser it gets from this module. */
type PatchedParser = Parser & { onFrame: (frame: RawFrame) => void; onIncomingPing: () => void; fast?: FastStompParser };

let installed = false;

/** Makes every @stomp/stompjs Parser parse with FastStompParser (idempotent). */
export function installFastStompParser(): void {
  if (installed) return;
  installed = true;
  Parser.prototype.parseChunk = function parseChunk(this: PatchedParser, segment: string | ArrayBuffer, appendMissingNULLonIncoming = false) {
    this.fast ??= new FastStompParser(this.onFrame, this.onIncomingPing);
    this.fast.parseChunk(segment, appendMissingNULLonIncoming);
  };
  (FrameImpl as unknown as { fromRawFrame: typeof fromRawFrame }).fromRawFrame = fromRawFrame;
}
