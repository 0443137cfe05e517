import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import { httpChunk, sseSink } from '../../src/http/sse-sink.js';
import type { SseSink } from '../../src/hub/sse-client.js';

/** A server whose one response is handed to `use` after its head and a first write went through the response. */
async function withResponse(httpVersion: '1.1' | '1.0', use: (sink: SseSink, res: http.ServerResponse) => void): Promise<string> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write(': first\n\n');
    use(sseSink(res), res);
  });
  // The client waits for the socket to close: after a keep-alive response, let that come at once (node's default waits 5 s).
  server.keepAliveTimeout = 20;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  try {
    const socket = net.connect(port, '127.0.0.1');
    socket.write(`GET / HTTP/${httpVersion}\r\nHost: x\r\n\r\n`);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    await once(socket, 'close');
    return Buffer.concat(chunks).toString('latin1');
  } finally {
    server.close();
  }
}

/** The body of a raw HTTP/1.1 chunked response, decoded; fails on malformed framing or a missing last chunk. */
function dechunk(raw: string): string {
  let rest = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  let body = '';
  for (;;) {
    const eol = rest.indexOf('\r\n');
    assert.ok(eol > 0, 'a chunk size line');
    const size = parseInt(rest.slice(0, eol), 16);
    assert.ok(Number.isInteger(size), `chunk size ${JSON.stringify(rest.slice(0, eol))}`);
    const data = rest.slice(eol + 2, eol + 2 + size);
    assert.equal(rest.slice(eol + 2 + size, eol + 4 + size), '\r\n', 'each chunk ends with CRLF');
    rest = rest.slice(eol + 4 + size);
    if (size === 0) return body;
    body += data;
  }
}

describe('sseSink', () => {
  it('HTTP/1.1: writes straight to the socket as whole chunks, in order with the response’s own writes and its end', async () => {
    const raw = await withResponse('1.1', (sink, res) => {
      assert.notEqual(sink, res, 'a chunked response gets the socket sink');
      assert.equal(sink.write(Buffer.from('event: a\ndata: {}\n\n')), true);
      assert.equal(sink.write(Buffer.alloc(0)), true, 'an empty write writes nothing (an empty chunk would end the body)');
      sink.write(Buffer.from('é'.repeat(300)));
      sink.write(Buffer.alloc(100_000, 'z')); // larger than what is framed by copying
      sink.end(Buffer.from('event: shutdown\ndata: {}\n\n'));
    });
    assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(raw, /\r\nTransfer-Encoding: chunked\r\n/i);
    assert.equal(dechunk(raw), `: first\n\nevent: a\ndata: {}\n\n${Buffer.from('é'.repeat(300)).toString('latin1')}${'z'.repeat(100_000)}event: shutdown\ndata: {}\n\n`);
  });

  it('HTTP/1.0 (no chunked encoding): the response itself is the sink', async () => {
    const raw = await withResponse('1.0', (sink, res) => {
      assert.equal(sink, res);
      sink.write(Buffer.from('data: x\n\n'));
      sink.end();
    });
    assert.equal(raw.slice(raw.indexOf('\r\n\r\n') + 4), ': first\n\ndata: x\n\n');
  });

  it('the chunk of a shared buffer is framed once and reused', () => {
    const frame = Buffer.from('data: shared\n\n');
    const chunk = httpChunk(frame);
    assert.equal(chunk.toString(), `e\r\ndata: shared\n\n\r\n`);
    assert.equal(httpChunk(frame), chunk, 'same buffer, same chunk');
    assert.notEqual(httpChunk(Buffer.from('data: shared\n\n')), chunk, 'keyed by the buffer, not its bytes');
  });

  it('reports a full socket and relays its drain', async () => {
    let drained = false;
    let sawFull = false;
    await withResponse('1.1', (sink) => {
      const big = Buffer.alloc(1 << 20, 'x');
      // The client reads everything: the kernel buffers fill first, then drain.
      while (sink.write(big)) {
        /* fill */
      }
      sawFull = true;
      const onDrain = () => {
        drained = true;
        sink.off('drain', onDrain);
        sink.end();
      };
      sink.on('drain', onDrain);
    });
    assert.ok(sawFull && drained);
  });
});
