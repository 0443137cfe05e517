// Issue 16 end to end: readers that cut their connection every ~0.4 s and resume with
// Last-Event-ID while ~150 msg/s keep arriving, on real processes: a private ActiveMQ, a private
// Redis, PostgreSQL, and the relay as separate `listen` and `serve` processes on the Redis bus.
// Each reader must end up with every stored id exactly once, in increasing order. What is asserted
// is the content the readers got; how many reconnects land in the race varies from run to run.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis.js';
import { deploymentEnv, makeToken, openStoreOf, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { openStream, type SseEvent } from '../helpers/sse-client.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';

const MSG_TYPE = 'resume_load';
const RATE = 150; // messages per second, as in the report
const SECONDS = 15;
const TOTAL = RATE * SECONDS;
const READERS = 3;
/** Each connection is cut after 300–500 ms (the report: every ~0.4 s), so cuts fall at every point of a replay. */
const CUT_MS = [300, 500] as const;

const CONTROL = new Set(['connected', 'heartbeat', 'gap', 'shutdown']);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What one reader got over all its connections, in order of receipt. */
interface Reading {
  ids: number[];
  connections: number;
  gaps: string[];
  /** Ids received twice within one connection (the bytes of one response). */
  repeatedWithinConnection: number;
}

let broker: PrivateBroker;
let redis: PrivateRedis;
let pg: TestDatabase;
let publisher: Publisher;
let token: string;
const processes: RelayProcess[] = [];

const group = `resume-load-${randomUUID()}`;
const topic = `/topic/${group}`; // as deploymentEnv names it
let listener: RelayProcess;
let web: RelayProcess;
let env: Record<string, string>;

before(async () => {
  [broker, redis, pg] = await Promise.all([startActiveMQ(), startPrivateRedis(), createTestDatabase()]);
  token = await makeToken({ DATABASE_URL: pg.url });
  publisher = await connectPublisher(broker.host, broker.port);
  // The readers reconnect far more often than a browser would: no connect limit.
  env = deploymentEnv({ databaseUrl: pg.url, redisUrl: redis.url, brokerPort: broker.port }, group, { SSE_CONNECTS_PER_MINUTE: '0' });
  // One after the other: each must answer within startRelay's limit, also on a busy machine.
  listener = await startRelay(env, { command: 'listen' });
  processes.push(listener);
  web = await startRelay(env, { command: 'serve' });
  processes.push(web);
  await waitUntil(async () => {
    const res = await fetch(`${web.url}/api/messages/stream/status/`, { headers: { Authorization: `Token ${token}` } });
    return ((await res.json()) as { broker: { state: string } | null }).broker?.state === 'connected';
  }, 'the listener to subscribe (seen from the web process)', listener.output);
});

after(async () => {
  await publisher?.close().catch(() => {});
  await Promise.all(processes.map((p) => p.stop('SIGKILL')));
  await Promise.all([broker?.stop(), redis?.stop(), pg?.drop()]);
});

/** One stream, cut after `cutAfterMs` (or once id `untilId` has arrived); returns its complete events. */
async function connectOnce(url: string, lastId: number, until: { cutAfterMs: number } | { untilId: number }): Promise<SseEvent[]> {
  const stream = await openStream(url, { Authorization: `Token ${token}`, 'Last-Event-ID': String(lastId) });
  if (stream.status !== 200) assert.fail(`stream answered ${stream.status}: ${await stream.body()}`);
  try {
    if ('cutAfterMs' in until) await sleep(until.cutAfterMs);
    else await stream.waitFor((events) => events.some((e) => e.id !== undefined && Number(e.id) >= until.untilId), 30_000);
  } finally {
    stream.close();
  }
  // Complete frames only: a frame cut in half is not dispatched, as in a browser, so its id is not resumed from.
  return stream.events();
}

/** Connects, reads for a while, cuts, resumes from the last id it got; until `done()`, then once more until `finalId()`. */
async function runReader(url: string, done: () => boolean, finalId: () => Promise<number>): Promise<Reading> {
  const reading: Reading = { ids: [], connections: 0, gaps: [], repeatedWithinConnection: 0 };
  let lastId = 0;
  const take = (events: SseEvent[]) => {
    reading.connections++;
    const seen = new Set<string>();
    for (const e of events) {
      if (e.event === 'gap') reading.gaps.push(e.data);
      if (CONTROL.has(e.event) || e.id === undefined) continue;
      if (seen.has(e.id)) reading.repeatedWithinConnection++;
      seen.add(e.id);
      reading.ids.push(Number(e.id));
      lastId = Number(e.id);
    }
  };
  while (!done()) take(await connectOnce(url, lastId, { cutAfterMs: CUT_MS[0] + Math.random() * (CUT_MS[1] - CUT_MS[0]) }));
  const last = await finalId();
  if (lastId < last) take(await connectOnce(url, lastId, { untilId: last }));
  return reading;
}

test(`${READERS} readers cutting every ~0.4 s and resuming at ${RATE} msg/s on listen + serve over Redis: every id once, in order, none missing`, { timeout: 60_000 }, async (t) => {
  const stored = async () => {
    const store = await openStoreOf(env);
    try {
      return (await store.messagesAfter('0', 1_000_000)).filter((m) => m.fields.msgType === MSG_TYPE).map((m) => Number(m.id));
    } finally {
      await store.close();
    }
  };

  let publishing = true;
  const url = `${web.url}/api/messages/stream/?msg_types=${MSG_TYPE}`;
  const finalId = async () => {
    await waitUntil(async () => (await stored()).length === TOTAL, `${TOTAL} stored`, listener.output, 30_000);
    return (await stored()).at(-1)!;
  };
  const readers = Array.from({ length: READERS }, () => runReader(url, () => !publishing, finalId));

  // ~150 msg/s for ~15 s, on a schedule; a receipt every 50 messages keeps the publisher from running ahead of the broker.
  const start = Date.now();
  for (let seq = 0; seq < TOTAL; seq++) {
    const wait = start + (seq * 1000) / RATE - Date.now();
    if (wait > 0) await sleep(wait);
    const body = JSON.stringify({ msg_type: MSG_TYPE, seq });
    if (seq % 50 === 49) await publisher.sendAndWait(topic, body, { persistent: 'true' });
    else publisher.send(topic, body, { persistent: 'true' });
  }
  publishing = false;
  const readings = await Promise.all(readers);
  const all = await stored();
  assert.equal(all.length, TOTAL, 'each message stored once');

  const stopped = [...web.output().matchAll(/"skippedRepeats":(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
  t.diagnostic(`published ${TOTAL} in ${((Date.now() - start) / 1000).toFixed(1)} s; repeats stopped by the web process's high-water marks: ${stopped}`);
  // Every reader's figures first, then the assertions: a failure still reports all readers.
  const summaries = readings.map((reading, i) => {
    const counts = new Map<number, number>();
    for (const id of reading.ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    const repeated = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    const backwards = reading.ids.filter((id, k) => k > 0 && id <= reading.ids[k - 1]!).length;
    const missing = all.filter((id) => !counts.has(id));
    t.diagnostic(
      `reader ${i + 1}: ${reading.connections} connections, ${reading.ids.length} events, ${reading.ids.length - counts.size} duplicates ` +
        `(${reading.repeatedWithinConnection} within one connection), ${backwards} out of order, ${missing.length} missing`,
    );
    return { reading, repeated, backwards, missing };
  });
  summaries.forEach(({ reading, repeated, backwards, missing }, i) => {
    assert.ok(reading.connections >= 10, `reader ${i + 1} reconnected ${reading.connections} times; the test needs many resumes`);
    assert.deepEqual(
      { gaps: reading.gaps, repeated: repeated.length, firstRepeated: repeated.slice(0, 10), backwards, missing: missing.slice(0, 10) },
      { gaps: [], repeated: 0, firstRepeated: [], backwards: 0, missing: [] },
      `reader ${i + 1}: every stored id exactly once, in increasing order`,
    );
    assert.deepEqual(reading.ids, all, `reader ${i + 1}: exactly the stored ids, in id order`);
  });
});
