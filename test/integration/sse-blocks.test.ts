// The stream's raw bytes, block by block: no block without a `data:` line except comments — the
// opening block (retry + connected), heartbeats, every kind of gap, and shutdown. Clients that read a
// stream block by block (the testbed's receiver) print a data-less block as an empty message.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createToken } from '../../src/auth/tokens.js';
import { freePort, openStoreOf, startRelay, type RelayProcess } from '../helpers/relay.js';
import { openStream, parseSse, type SseStream } from '../helpers/sse-client.js';

/** The blocks of a complete stream text (it ends with a blank line), in order. */
function blocksOf(raw: string): string[] {
  assert.ok(raw.endsWith('\n\n'), `the stream ends after a complete block: ${JSON.stringify(raw.slice(-200))}`);
  assert.ok(!raw.includes('\r'), 'LF line ends only');
  return raw.slice(0, -2).split('\n\n');
}

/** Blocks that have a line other than a comment but no `data:` line. */
function dataLess(blocks: string[]): string[] {
  return blocks.filter((block) => {
    const fields = block.split('\n').filter((line) => !line.startsWith(':'));
    return fields.length > 0 && !fields.some((line) => line.startsWith('data:'));
  });
}

describe('every block of a stream carries data (except comments)', () => {
  let relay: RelayProcess;
  let dir: string;
  let token = '';
  const streams = new Map<string, SseStream>();

  const publish = async (body: object) => {
    const res = await fetch(`${relay.url}/api/messages/`, { method: 'POST', headers: { Authorization: `Token ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 201, await res.text());
  };
  const open = async (name: string, query: string, headers: Record<string, string> = {}) => {
    const stream = await openStream(`${relay.url}/api/messages/stream/${query}`, { Authorization: `Token ${token}`, ...headers });
    assert.equal(stream.status, 200, stream.raw());
    streams.set(name, stream);
    await stream.waitFor((events) => events.some((e) => e.event === 'connected'));
    return stream;
  };
  const gapReasons = (stream: SseStream) => stream.events().filter((e) => e.event === 'gap').map((e) => (JSON.parse(e.data) as { reason: string }).reason);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-blocks-'));
    const env = {
      DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
      // No broker: messages come in over HTTP publish, through the same writer.
      ACTIVEMQ_PORT: String(await freePort()),
      SSE_HEARTBEAT_SECONDS: '1',
      SSE_REPLAY_MAX: '2',
      SSE_CLIENT_QUEUE_SIZE: '1',
      LOG_LEVEL: 'error',
    };
    const store = await openStoreOf(env);
    token = (await createToken(store, 'tester', { createUser: true, canPublish: true })).key;
    await store.close();
    relay = await startRelay(env);
  });

  after(async () => {
    for (const stream of streams.values()) stream.close();
    await relay?.stop('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('opening block, heartbeats, live events, gaps (unknown_id, replay_limit, slow_client) and shutdown', async () => {
    for (let seq = 0; seq < 5; seq++) await publish({ msg_type: 'blocks_replay', seq });

    const live = await open('live', '?msg_types=blocks_live');
    await open('unknown id', '', { 'Last-Event-ID': '999999' });
    await open('replay limit', '?msg_types=blocks_replay&last_event_id=0');
    const slow = await open('slow client', '?msg_types=blocks_slow');
    const slowId = (JSON.parse(slow.events()[0]!.data) as { client_id: string }).client_id;

    await publish({ msg_type: 'blocks_live', seq: 0 });
    await live.waitFor((events) => events.some((e) => e.event === 'blocks_live') && events.filter((e) => e.event === 'heartbeat').length >= 2);

    // The slow client stops reading until the relay drops events for it; reading again, it gets the gap.
    slow.pause();
    const pad = 'x'.repeat(256 * 1024);
    let dropped = 0;
    for (let seq = 0; dropped === 0; seq++) {
      assert.ok(seq < 400, 'the relay dropped events for a client that does not read (100 MiB published)');
      await publish({ msg_type: 'blocks_slow', seq, pad });
      if (seq % 10 === 9) {
        const status = (await (await fetch(`${relay.url}/api/messages/stream/status/`, { headers: { Authorization: `Token ${token}` } })).json()) as {
          clients: { client_id: string; events_dropped: number }[];
        };
        dropped = status.clients.find((c) => c.client_id === slowId)?.events_dropped ?? 0;
      }
    }
    slow.resume();
    await slow.waitFor((events) => events.some((e) => e.event === 'gap'), 30_000);

    // Shutdown: every stream gets `shutdown`, then ends.
    const code = await relay.stop('SIGTERM');
    assert.equal(code, 0, relay.output().slice(-2000));
    await Promise.all([...streams.values()].map((s) => s.body()));

    for (const [name, stream] of streams) {
      const raw = stream.raw();
      const blocks = blocksOf(raw);
      assert.match(blocks[0]!, /^retry: 3000\nevent: connected\ndata: \{"client_id":"[0-9a-f-]{36}","status":"connected","last_event_id":[^}]*\}$/, `${name}: the opening block`);
      assert.deepEqual(dataLess(blocks), [], `${name}: blocks without data`);
      assert.equal(blocks.length, parseSse(raw).length, `${name}: one event per block`);
      assert.match(blocks.at(-1)!, /^event: shutdown\ndata: /, `${name}: ends with shutdown`);
    }
    // Every kind of block the relay writes was there to be checked.
    assert.ok(live.events().filter((e) => e.event === 'heartbeat').length >= 2, 'heartbeats');
    assert.deepEqual(gapReasons(streams.get('unknown id')!), ['unknown_id']);
    assert.deepEqual(gapReasons(streams.get('replay limit')!), ['replay_limit']);
    assert.ok(gapReasons(slow).includes('slow_client'), `slow_client gap: ${gapReasons(slow).join(', ')}`);
  });

  test('control: the checker finds a data-less block and lets comments through', () => {
    assert.deepEqual(dataLess(blocksOf('retry: 3000\n\nevent: connected\ndata: {}\n\n')), ['retry: 3000']);
    assert.deepEqual(dataLess(blocksOf(': keep-alive\n\nid: 7\n\nevent: x\ndata: 1\n\n')), ['id: 7']);
    assert.deepEqual(dataLess(blocksOf(': keep-alive\n\nevent: x\ndata: 1\n\n')), []);
  });
});
