/**
 * Where a stream's frames go. For HTTP/1.1 (chunked transfer encoding) each
 * write goes straight to the socket as one ready-made chunk: node's
 * `ServerResponse.write` corks the socket, writes the chunk's size line, the
 * data and a CRLF as three writes and uncorks on the next tick, which measured
 * ~2 µs of the ~6 µs of JavaScript per write to a thousand streams. The frames
 * a write carries are shared by every client of a batch (frame-batch.ts), so
 * their chunk is framed once and shared as well. Anything else (HTTP/1.0, a
 * close-delimited body; HTTP/2) goes through the response as before.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { SseSink } from '../hub/sse-client.js';

const CRLF = Buffer.from('\r\n');

/** Largest buffer framed by copying it into a chunk (and sharing that chunk); larger ones are written around. */
const FRAMED_COPY_MAX = 64 * 1024;

/** Each shared buffer's chunk, kept while the buffer lives. */
const chunks = new WeakMap<Buffer, Buffer>();

/**
 * The sink for a stream whose head has been set with `res.writeHead` (which
 * decides the framing). Nothing may be written through it before the
 * response's first `res.write`, which sends the head.
 */
export function sseSink(res: ServerResponse): SseSink {
  // chunkedEncoding is node's own flag, set by writeHead for an HTTP/1.1 body of unknown length.
  if (res.chunkedEncoding !== true || !res.socket) return res;
  return new ChunkedSocketSink(res, res.socket);
}

/** A chunk of HTTP/1.1 chunked transfer encoding: size in hex, CRLF, data, CRLF. */
export function httpChunk(data: Buffer): Buffer {
  let chunk = chunks.get(data);
  if (chunk === undefined) {
    chunk = Buffer.concat([Buffer.from(sizeLine(data)), data, CRLF]);
    chunks.set(data, chunk);
  }
  return chunk;
}

/** The line that opens a chunk: its size in hex. */
function sizeLine(data: Buffer): string {
  return `${data.length.toString(16)}\r\n`;
}

class ChunkedSocketSink implements SseSink {
  constructor(
    private readonly res: ServerResponse,
    private readonly socket: Socket,
  ) {}

  write(data: Buffer): boolean {
    // An empty chunk would end the body: there is nothing to write anyway.
    if (data.length === 0) return true;
    if (data.length <= FRAMED_COPY_MAX) return this.socket.write(httpChunk(data));
    // A large buffer (a replay page) is one client's own: frame it around the data rather than copy it.
    this.socket.cork();
    this.socket.write(sizeLine(data));
    this.socket.write(data);
    const ok = this.socket.write(CRLF);
    this.socket.uncork();
    return ok;
  }

  /** Through the response: it writes the last chunk and the terminating empty chunk, and knows the socket's keep-alive. */
  end(data?: Buffer): void {
    if (data) this.res.end(data);
    else this.res.end();
  }

  on(event: 'drain' | 'close', listener: () => void): this {
    // Backpressure is the socket's: the response only relays 'drain' after its own write returned false.
    (event === 'drain' ? this.socket : this.res).on(event, listener);
    return this;
  }

  off(event: 'drain' | 'close', listener: () => void): this {
    (event === 'drain' ? this.socket : this.res).off(event, listener);
    return this;
  }
}
