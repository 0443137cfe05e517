// SseParser / readSse of `swf-relay receive`: the HTML spec's event-stream rules under any chunking.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readSse, SseLineTooLongError, SseParser, type SseMessage } from '../../src/cli/receive/sse-reader.js';
import { parseSse } from '../helpers/sse-client.js';

// As the relay sends it: retry in the first block, together with the connected event.
const STREAM = [
  'retry: 3000',
  'event: connected',
  'data: {"client_id":"x","status":"connected","last_event_id":null}',
  '',
  'id: 41',
  'event: stf_gen',
  'data: {"msg_type":"stf_gen","filename":"データ.stf","sender":"agent-日本-1"}',
  '',
  ': a comment',
  'event: heartbeat',
  'data: {"timestamp":1764268800.123}',
  '',
  'event: agent_status',
  'data: {"agent_name":"a","status":"OK"}',
  '',
  'id: 42',
  'data: line one',
  'data: line two',
  '',
  '',
].join('\n');

const plain = (events: SseMessage[]) => events.map((e) => ({ event: e.event, data: e.data, id: e.id, lastEventId: e.lastEventId }));

/** What the test helper's whole-text parser (written independently) makes of the same text, in our shape. */
const reference = (text: string) => parseSse(text).map((e) => ({ event: e.event, data: e.data, id: e.id, lastEventId: e.lastEventId }));

function feedInPieces(text: string, size: number): SseMessage[] {
  const parser = new SseParser();
  const out: SseMessage[] = [];
  for (let i = 0; i < text.length; i += size) out.push(...parser.push(text.slice(i, i + size)));
  return out;
}

describe('SseParser', () => {
  it('parses a whole stream as the reference parser does', () => {
    const parser = new SseParser();
    const events = parser.push(STREAM);
    assert.deepEqual(plain(events), reference(STREAM));
    assert.deepEqual(events.map((e) => e.event), ['connected', 'stf_gen', 'heartbeat', 'agent_status', 'message']);
    assert.equal(events[4]!.data, 'line one\nline two');
    assert.equal(parser.retryMs, 3000);
    assert.equal(parser.lastEventId, '42');
  });

  it('gives the same events for every chunk size', () => {
    const whole = plain(new SseParser().push(STREAM));
    for (const size of [1, 2, 3, 5, 13, 64, 1000]) assert.deepEqual(plain(feedInPieces(STREAM, size)), whole, `pieces of ${size}`);
  });

  it('accepts CRLF, CR and LF line ends, also when a CRLF is split between pieces', () => {
    for (const eol of ['\r\n', '\r', '\n']) {
      const text = STREAM.replaceAll('\n', eol);
      const expected = reference(STREAM);
      assert.deepEqual(plain(new SseParser().push(text)), expected, JSON.stringify(eol));
      assert.deepEqual(plain(feedInPieces(text, 1)), expected, `${JSON.stringify(eol)} one character at a time`);
    }
    const parser = new SseParser();
    assert.deepEqual(parser.push('data: a\r'), []);
    assert.deepEqual(parser.push('\ndata: b\r\n'), [], 'the LF after a CR ends no second line');
    assert.deepEqual(parser.push('\r\n').map((e) => e.data), ['a\nb']);
  });

  it('skips a leading BOM, comments and unknown fields; keeps the space rule', () => {
    const events = new SseParser().push('\uFEFF: hi\nevent:x\ndata\ndata:  two\nfoo: bar\n\n');
    assert.deepEqual(plain(events), [{ event: 'x', data: '\n two', id: undefined, lastEventId: '' }]);
  });

  it('dispatches nothing for a block without data, but keeps its id; ignores ids with NUL and bad retry', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('id: 7\nevent: x\n\n'), []);
    assert.equal(parser.lastEventId, '7');
    assert.deepEqual(plain(parser.push('id: 8\0\nretry: 1x\ndata: y\n\n')), [{ event: 'message', data: 'y', id: undefined, lastEventId: '7' }]);
    assert.equal(parser.retryMs, undefined);
  });

  it('holds an unterminated block back until its blank line', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('data: partial'), []);
    assert.deepEqual(parser.push('\n'), []);
    assert.deepEqual(parser.push('\n').map((e) => e.data), ['partial']);
  });

  it('refuses a line longer than its limit', () => {
    assert.throws(() => new SseParser(10).push(`data: ${'x'.repeat(20)}`), SseLineTooLongError);
  });
});

describe('readSse', () => {
  it('decodes UTF-8 split anywhere between chunks and yields once per chunk', async () => {
    const bytes = Buffer.from(STREAM, 'utf8');
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += 3) chunks.push(bytes.subarray(i, i + 3));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(chunk);
        controller.close();
      },
    });
    const batches: SseMessage[][] = [];
    for await (const batch of readSse(body)) batches.push(batch);
    assert.equal(batches.length, chunks.length);
    assert.deepEqual(plain(batches.flat()), reference(STREAM));
    assert.ok(batches.flat().some((e) => e.data.includes('データ.stf')));
  });

  it('cancels the body when the consumer stops early', async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(Buffer.from('data: x\n\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const batch of readSse(body)) if (batch.length > 0) break;
    assert.ok(cancelled);
  });
});
