import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { parseSse } from '../helpers/sse-client.js';

describe('parseSse', () => {
  it('joins multi-line data with \\n and defaults the event type to "message"', () => {
    assert.deepEqual(parseSse('data: first\ndata: second\ndata\ndata:third\n\n'), [
      { lastEventId: '', event: 'message', data: 'first\nsecond\n\nthird' },
    ]);
  });

  it('reads event, id and retry; strips only one leading space', () => {
    assert.deepEqual(parseSse('event: update\nid: 42\nretry: 1500\ndata:  two spaces\n\n'), [
      { id: '42', lastEventId: '42', event: 'update', data: ' two spaces', retry: 1500 },
    ]);
  });

  it('keeps lastEventId across events but reports id only where it was sent', () => {
    assert.deepEqual(parseSse('id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n'), [
      { id: '7', lastEventId: '7', event: 'message', data: 'a' },
      { lastEventId: '7', event: 'message', data: 'b' },
      { id: '', lastEventId: '', event: 'message', data: 'c' },
    ]);
  });

  it('ignores comments, unknown fields, invalid retry, ids with NUL, and data-less blocks', () => {
    const text = ': hello\n\nretry: 3000\n\nfoo: bar\nretry: 10x\nid: a\0b\n: keep-alive\ndata: x\n\n';
    assert.deepEqual(parseSse(text), [{ lastEventId: '', event: 'message', data: 'x' }]);
  });

  it('accepts CRLF, CR and LF line endings and a leading BOM', () => {
    assert.deepEqual(parseSse('\uFEFFdata: a\r\ndata: b\r\n\r\nevent: e\rdata: c\r\rdata: d\n\n'), [
      { lastEventId: '', event: 'message', data: 'a\nb' },
      { lastEventId: '', event: 'e', data: 'c' },
      { lastEventId: '', event: 'message', data: 'd' },
    ]);
  });

  it('does not dispatch an unterminated last block', () => {
    assert.deepEqual(parseSse('data: done\n\ndata: partial\n'), [{ lastEventId: '', event: 'message', data: 'done' }]);
    assert.deepEqual(parseSse('data: partial'), []);
  });

  it('treats a line without a colon as a field with an empty value', () => {
    assert.deepEqual(parseSse('data\n\n'), [{ lastEventId: '', event: 'message', data: '' }]);
  });
});

test('openStream parses frames split across chunks at any byte', async () => {
  const { createServer } = await import('node:http');
  const { openStream } = await import('../helpers/sse-client.js');
  const frames = 'id: 1\nevent: a\ndata: {"x":1}\n\nid: 22\nevent: bb\ndata: {"y":"é"}\n\n';
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    // One byte at a time, each in its own chunk.
    const bytes = Buffer.from(frames);
    let i = 0;
    const timer = setInterval(() => {
      if (i < bytes.length) res.write(bytes.subarray(i, ++i));
      else {
        clearInterval(timer);
        res.end();
      }
    }, 1);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    const stream = await openStream(`http://127.0.0.1:${port}/`);
    const events = await stream.waitFor((e) => e.length === 2);
    assert.deepEqual(events.map((e) => [e.id, e.event, e.data]), [['1', 'a', '{"x":1}'], ['22', 'bb', '{"y":"é"}']]);
    stream.close();
  } finally {
    server.close();
  }
});
