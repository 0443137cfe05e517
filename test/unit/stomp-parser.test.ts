// FastStompParser gives @stomp/stompjs exactly the raw frames and heart-beats the library's own
// Parser gives, for any way a stream is cut into reads; and once installed, the library uses it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameImpl, Parser } from '@stomp/stompjs';
import { FastStompParser, fromRawFrame, installFastStompParser, type RawFrame } from '../../src/broker/stomp-parser.js';

type Seen = (RawFrame | 'ping')[];

/** What a parser built by `make` reports for `stream` fed in `cuts` pieces. */
function parse(make: (onFrame: (f: RawFrame) => void, onPing: () => void) => { parseChunk(c: Uint8Array | string): void }, stream: Uint8Array | string, cuts: number[] = []): Seen {
  const seen: Seen = [];
  const parser = make((f) => seen.push({ command: f.command, headers: f.headers.map(([k, v]) => [k, v] as [string, string]), binaryBody: f.binaryBody && Uint8Array.from(f.binaryBody) }), () => seen.push('ping'));
  const bytes = typeof stream === 'string' ? new TextEncoder().encode(stream) : stream;
  let from = 0;
  for (const at of [...cuts, bytes.length]) {
    // Each read as its own ArrayBuffer-backed view, as a socket hands them over.
    parser.parseChunk(bytes.slice(from, at));
    from = at;
  }
  return seen;
}

// The library's parser, untouched: each test file runs in its own process and this one installs the fast one only at the end.
const library = (onFrame: (f: RawFrame) => void, onPing: () => void) => {
  const p = new Parser(onFrame as never, onPing);
  return { parseChunk: (c: Uint8Array | string) => p.parseChunk(typeof c === 'string' ? c : (c.buffer.slice(c.byteOffset, c.byteOffset + c.byteLength) as ArrayBuffer)) };
};
const fast = (onFrame: (f: RawFrame) => void, onPing: () => void) => new FastStompParser(onFrame, onPing);

const body = JSON.stringify({ msg_type: 'stf_gen', run_id: 9007199254740993, note: 'ünïcode ✓', pad: 'x'.repeat(300) });
const message = (id: number, text = body) =>
  `MESSAGE\ncontent-length:${Buffer.byteLength(text)}\ndestination:/topic/epictopic\nsubscription:sub-0\nack:ID\\cbroker-1\\c${id}\nmessage-id:ID\\cbroker-1\\c1\\c1\\c1\\c${id}\npersistent:true\n\n${text}\0`;

const STREAMS: Record<string, Uint8Array | string> = {
  'one MESSAGE with content-length': message(1),
  'heart-beats between and around frames, CRLF line ends, NUL padding': `\n\n${message(2)}\n\0\r\nRECEIPT\r\nreceipt-id:sub-1\r\n\r\n\0\n${message(3)}`,
  'a body without content-length runs to the NUL': 'MESSAGE\ndestination:/topic/t\nmessage-id:m-4\n\n{"msg_type":"no_length"}\0',
  'a body with NULs inside content-length, and an empty body': Buffer.concat([Buffer.from('MESSAGE\ncontent-length:5\nmessage-id:m-5\n\na\0b\0c\0'), Buffer.from('MESSAGE\ncontent-length:0\nmessage-id:m-6\n\n\0')]),
  'repeated headers, a colon in a value, escapes left for the frame layer': 'MESSAGE\nmessage-id:m-7\nmessage-id:second\nx-url:http://h:1/p\nweird:a\\nb\\\\c\\cd\ncontent-length:2\n\nok\0',
  'CONNECTED and ERROR frames': 'CONNECTED\nversion:1.2\nheart-beat:2000,2000\nserver:a\\cb\n\n\0ERROR\nmessage:bad thing\ncontent-length:4\n\noops\0',
  'header values with spaces, tabs and every escape': 'MESSAGE\n key : \t spaced value \u00a0\nx:\\r\\n\\c\\\\ end\nx:first wins? no, the first one does\nempty:\ncontent-length:1\n\nz\0',
  'many frames in a row': Array.from({ length: 20 }, (_, i) => message(100 + i, `{"msg_type":"m","i":${i}}`)).join(''),
};

describe('FastStompParser', () => {
  for (const [name, stream] of Object.entries(STREAMS)) {
    it(`${name}: the library's frames, whole and cut at every byte`, () => {
      const expected = parse(library, stream);
      assert.ok(expected.some((s) => s !== 'ping'), 'the stream holds frames');
      assert.deepEqual(parse(fast, stream), expected, 'in one read');
      const length = typeof stream === 'string' ? Buffer.byteLength(stream) : stream.length;
      for (let cut = 1; cut < length; cut++) assert.deepEqual(parse(fast, stream, [cut]), expected, `cut at byte ${cut}`);
    });
  }

  it('the same frames when the stream arrives one byte at a time, or in reads of 7 bytes', () => {
    const stream = STREAMS['heart-beats between and around frames, CRLF line ends, NUL padding']!;
    const length = Buffer.byteLength(stream as string);
    const expected = parse(library, stream);
    assert.deepEqual(parse(fast, stream, Array.from({ length: length - 1 }, (_, i) => i + 1)), expected);
    assert.deepEqual(parse(fast, stream, Array.from({ length: Math.floor((length - 1) / 7) }, (_, i) => (i + 1) * 7)), expected);
  });

  it('a 3 MB body in 64 kB reads arrives whole, once', () => {
    const big = 'y'.repeat(3 * 1024 * 1024);
    const stream = Buffer.from(`MESSAGE\ncontent-length:${big.length}\nmessage-id:big\n\n${big}\0`);
    const cuts = Array.from({ length: Math.floor(stream.length / 65536) }, (_, i) => (i + 1) * 65536);
    const seen = parse(fast, stream, cuts);
    assert.equal(seen.length, 1);
    assert.equal(Buffer.from((seen[0] as RawFrame).binaryBody!).toString(), big);
  });

  it('a frame handler that throws does not stop the frames after it', () => {
    const commands: string[] = [];
    const parser = new FastStompParser((f) => {
      commands.push(f.command!);
      if (commands.length === 1) throw new Error('handler failed');
    }, () => {});
    parser.parseChunk(Buffer.from(`${message(1)}${message(2)}`));
    assert.deepEqual(commands, ['MESSAGE', 'MESSAGE']);
  });

  it('fromRawFrame gives the frame the library\'s own gives, for every frame of every stream', () => {
    const original = FrameImpl.fromRawFrame.bind(FrameImpl) as unknown as typeof fromRawFrame;
    const copy = (f: RawFrame): RawFrame => ({ ...f, headers: f.headers.map(([k, v]) => [k, v] as [string, string]) });
    const view = (f: FrameImpl) => ({ command: f.command, headers: f.headers, body: Buffer.from(f.binaryBody).toString('latin1') });
    let frames = 0;
    for (const stream of Object.values(STREAMS)) {
      for (const raw of parse(library, stream)) {
        if (raw === 'ping') continue;
        for (const escape of [true, false]) assert.deepEqual(view(fromRawFrame(copy(raw), escape)), view(original(copy(raw), escape)));
        frames++;
      }
    }
    assert.ok(frames > 25, `compared ${frames} frames`);
  });

  it('once installed, the library parses with it (and still gives the same frames)', () => {
    const stream = STREAMS['heart-beats between and around frames, CRLF line ends, NUL padding']!;
    const expected = parse(library, stream);
    installFastStompParser();
    const seen: Seen = [];
    const p = new Parser((f) => seen.push(f as RawFrame), () => seen.push('ping'));
    p.parseChunk(new TextEncoder().encode(stream as string).buffer as ArrayBuffer);
    assert.ok((p as unknown as { fast?: unknown }).fast instanceof FastStompParser, 'the library parser delegates to FastStompParser');
    assert.equal((FrameImpl as unknown as { fromRawFrame: unknown }).fromRawFrame, fromRawFrame, 'and builds frames with fromRawFrame');
    assert.deepEqual(seen.map((s) => (s === 'ping' ? s : { ...s, binaryBody: Uint8Array.from(s.binaryBody!) })), expected);
  });
});
