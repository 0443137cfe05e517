// Issue 14 (memory): replay, the per-client queue and history are bounded by bytes, not rows.
// The relay runs as a process without a broker (HTTP publish); 120 stored messages of ~1 MB,
// 8 streams resuming from id 0 that never read, then one history page with limit=1000. The
// relay's RSS is sampled every 100 ms throughout and must stay under 600 MB.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createToken } from '../../src/auth/tokens.js';
import { freePort, openStoreOf, rssBytes, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { request, type IncomingMessage } from 'node:http';

const MiB = 1024 * 1024;
const MESSAGES = 120;
const STREAMS = 8;
const RSS_LIMIT = 600 * MiB;
const MSG_TYPE = 'mem_big';

/** Samples the RSS of `pid` every 100 ms; stop() returns the peak seen. */
function rssSampler(pid: number): { stop(): number } {
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssBytes(pid));
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssBytes(pid));
    },
  };
}

const mb = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;

/**
 * A stream resuming from `lastEventId` whose response is paused as soon as it arrives: past the few
 * KB Node buffers, the client does not read, so the relay meets a full socket. (Plain node:http, not
 * helpers/sse-client.ts: an overloaded relay may take longer than its 10 s to answer.)
 */
function stalledStream(url: string, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      res.pause();
      resolve(res);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resumes `res` and resolves with the ids of its `event` frames once it has `count` of them. */
function readIds(res: IncomingMessage, event: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  const frameStart = new RegExp(`(?:^|\\n)id: (\\d+)\\nevent: ${event}\\n`, 'g');
  let tail = '';
  return new Promise((resolve, reject) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      // Frames are 1 MB: scan only the new text (plus a short overlap for a frame start cut in two).
      const text = tail + chunk;
      for (const m of text.matchAll(frameStart)) if (m.index + m[0].length > tail.length) ids.push(m[1]!);
      tail = text.slice(-64);
      if (ids.length >= count) resolve(ids);
    });
    res.on('end', () => reject(new Error(`stream ended after ${ids.length} events`)));
    res.on('error', reject);
    res.resume();
  });
}

describe('memory is bounded by bytes (issue 14)', () => {
  let dir: string;
  let relay: RelayProcess;
  let key: string;
  const ids: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-membytes-'));
    const env = {
      DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
      ACTIVEMQ_PORT: String(await freePort()), // no broker: publish over HTTP
      LOG_LEVEL: 'warn',
      MESSAGE_MAX_BYTES: String(2 * MiB),
    };
    const store = await openStoreOf(env);
    key = (await createToken(store, 'membytes', { createUser: true, canPublish: true })).key;
    await store.close();
    relay = await startRelay(env);
    for (let seq = 0; seq < MESSAGES; seq++) {
      const body = JSON.stringify({ msg_type: MSG_TYPE, run_id: 'mem-1', seq, pad: String(seq % 10).repeat(1_000_000) });
      const res = await fetch(`${relay.url}/api/messages/`, { method: 'POST', headers: { Authorization: `Token ${key}`, 'Content-Type': 'application/json' }, body });
      assert.equal(res.status, 201, await res.clone().text());
      ids.push(((await res.json()) as { id: string }).id);
    }
  });

  after(async () => {
    await relay?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const auth = () => ({ Authorization: `Token ${key}` });

  test('8 streams replaying 120 × 1 MB from id 0 that never read: RSS stays under 600 MB; a stream that reads again gets all, in order', async (t) => {
    const rssStart = rssBytes(relay.pid);
    const sampler = rssSampler(relay.pid);
    const streams: IncomingMessage[] = [];
    let peak = 0;
    try {
      // All at once, as clients reconnecting after a restart do.
      const opening = Array.from({ length: STREAMS }, () =>
        stalledStream(`${relay.url}/api/messages/stream/?msg_types=${MSG_TYPE}`, { ...auth(), 'Last-Event-ID': '0' }).then((res) => {
          streams.push(res);
          return res;
        }),
      );
      for (const res of await Promise.all(opening)) assert.equal(res.statusCode, 200);
      // The relay has written what the sockets accept once no stream's sent count moves for 2 s.
      let last = '';
      let stillSince = Date.now();
      let sent: number[] = [];
      await waitUntil(async () => {
        const status = (await (await fetch(`${relay.url}/api/messages/stream/status/`, { headers: auth() })).json()) as { clients: { user: string; events_sent: number }[] };
        sent = status.clients.filter((c) => c.user === 'membytes').map((c) => c.events_sent);
        const now = JSON.stringify(sent);
        if (sent.length !== STREAMS || now !== last) stillSince = Date.now();
        last = now;
        return Date.now() - stillSince >= 2000;
      }, 'the replays to stop at the sockets', relay.output, 60_000);
      peak = sampler.stop();
      t.diagnostic(`events written per stream while not reading: ${sent.join(', ')}`);
      assert.ok(peak < RSS_LIMIT, `relay RSS peaked at ${mb(peak)}`);
      assert.ok(sent.every((n) => n < MESSAGES), `the streams were really stalled (written: ${sent.join(', ')})`);

      // Backpressure only delayed the replay: a stream that reads again gets every stored message once, in order.
      assert.deepEqual(await readIds(streams[0]!, MSG_TYPE, MESSAGES), ids);
    } finally {
      peak = Math.max(peak, sampler.stop());
      t.diagnostic(`relay RSS: ${mb(rssStart)} before the streams, peak ${mb(peak)}`);
      for (const res of streams) res.destroy();
    }
  });

  test('GET /api/messages/?limit=1000 over 120 × 1 MB: RSS stays under 600 MB; the answer is cut by bytes and pages on with next, both orders', async (t) => {
    const rssStart = rssBytes(relay.pid);
    const sampler = rssSampler(relay.pid);
    let firstPage: { results: { id: string }[]; next: string | null };
    try {
      const res = await fetch(`${relay.url}/api/messages/?msg_types=${MSG_TYPE}&limit=1000`, { headers: auth() });
      assert.equal(res.status, 200);
      firstPage = (await res.json()) as typeof firstPage;
    } finally {
      const peak = sampler.stop();
      t.diagnostic(`relay RSS: ${mb(rssStart)} before the history request, peak ${mb(peak)}`);
      assert.ok(peak < RSS_LIMIT, `relay RSS peaked at ${mb(peak)}`);
    }
    assert.ok(firstPage.results.length > 0 && firstPage.results.length < MESSAGES, `cut by bytes: ${firstPage.results.length} rows`);
    assert.ok(firstPage.next !== null, 'a cut page says where to go on');

    // Following `next` yields every message once, newest first; and from after_id=0, oldest first.
    const walk = async (path: string) => {
      const seen: string[] = [];
      let pages = 0;
      for (let next: string | null = path; next !== null; pages++) {
        const page = (await (await fetch(`${relay.url}${next}`, { headers: auth() })).json()) as { results: { id: string; message: { seq: number } }[]; next: string | null };
        for (const row of page.results) {
          assert.equal(row.message.seq, ids.indexOf(row.id), 'the stored message, whole');
          seen.push(row.id);
        }
        next = page.next;
        assert.ok(pages < MESSAGES, 'pages end');
      }
      return { seen, pages };
    };
    const desc = await walk(`/api/messages/?msg_types=${MSG_TYPE}&limit=1000`);
    assert.deepEqual(desc.seen, [...ids].reverse());
    const asc = await walk(`/api/messages/?msg_types=${MSG_TYPE}&limit=1000&after_id=0`);
    assert.deepEqual(asc.seen, ids);
    t.diagnostic(`pages of limit=1000: ${desc.pages} newest first, ${asc.pages} oldest first`);
  });
});
