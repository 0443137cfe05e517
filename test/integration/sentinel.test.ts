// Redis failover as production runs it: Redis Sentinel. One listener and two web processes on
// PostgreSQL with REDIS_URL=redis+sentinel://…, SSE readers on both web processes, persistent
// messages at a steady 50/s; the Redis master is killed with SIGKILL mid-traffic and Sentinel
// promotes a replica. Every reader must get every message once, in order, without a gap event
// and without a silent stall; afterwards both web processes are ready, the listener holds the
// lease on the new master and new readers can connect.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { createToken } from '../../src/auth/tokens.js';
import { redisKeys } from '../../src/cluster/redis.js';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startSentinelDeployment, type SentinelDeployment } from '../helpers/redis-sentinel.js';
import { deploymentEnv, makeToken, openStoreOf, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { openStream, type SseEvent, type SseStream } from '../helpers/sse-client.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';

const CONTROL = new Set(['connected', 'heartbeat', 'gap', 'shutdown']);
const relayed = (events: SseEvent[]) => events.filter((e) => !CONTROL.has(e.event));
const seqOf = (e: SseEvent) => (JSON.parse(e.data) as { seq: number }).seq;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** Messages per second the publisher sends. */
const RATE = 50;
/** Published after the failover is complete, before the publisher stops. */
const AFTER_FAILOVER_MS = 5000;
/** A message published after the failover must reach every reader within this (measured: see the test's log line). */
const DELIVERY_BOUND_MS = 15_000;
/** With the old master frozen, messages published after the failover and this long before it returns must arrive before it returns. */
const HEAL_MARGIN_MS = 3000;

/** An SSE reader that notes when each relayed message (by seq) arrived. */
type Reader = { name: string; stream: SseStream; arrivedAt: Map<number, number>; done: Promise<SseEvent[]>; expect(count: number): void };

describe('Redis Sentinel failover', () => {
  let broker: PrivateBroker;
  let pg: TestDatabase;
  let sentinel: SentinelDeployment;
  let publisher: Publisher;
  let token: string;
  let publishToken: string;
  let listener: RelayProcess;
  let webA: RelayProcess;
  let webB: RelayProcess;
  const processes: RelayProcess[] = [];
  const streams: SseStream[] = [];
  const group = `sentinel-${randomUUID()}`;
  const topic = `/topic/${group}`; // as deploymentEnv names it

  before(async () => {
    [sentinel, broker, pg] = await Promise.all([startSentinelDeployment(), startActiveMQ(), createTestDatabase()]);
    token = await makeToken({ DATABASE_URL: pg.url });
    const store = await openStoreOf({ DATABASE_URL: pg.url });
    publishToken = (await createToken(store, 'http-publisher', { createUser: true, canPublish: true })).key;
    await store.close();
    publisher = await connectPublisher(broker.host, broker.port);
    const env = deploymentEnv({ databaseUrl: pg.url, redisUrl: sentinel.url, brokerPort: broker.port }, group, { ACTIVEMQ_HEARTBEAT_MS: '2000', SSE_HEARTBEAT_SECONDS: '1' });
    const launch = async (command: 'listen' | 'serve') => {
      const relay = await startRelay(env, { command });
      processes.push(relay);
      return relay;
    };
    [listener, webA, webB] = await Promise.all([launch('listen'), launch('serve'), launch('serve')]);
    await waitUntil(async () => (await status(webA)).broker?.state === 'connected', 'the listener to subscribe (seen from a web process)', outputs, 30_000);
  });

  after(async () => {
    for (const s of streams) s.close();
    await publisher?.close().catch(() => {});
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    await broker?.stop();
    await pg?.drop();
    await sentinel?.stop();
  });

  const outputs = () => processes.map((p) => `--- process ${p.pid}\n${p.output().slice(-3000)}`).join('\n');
  /** The listener's log lines about the lease and the store claim. */
  const leaseHistory = () => listener.output().split('\n').filter((line) => /lease|store claimed|another listener/.test(line)).join('\n');
  const status = async (relay: RelayProcess) =>
    (await (await fetch(`${relay.url}/api/messages/stream/status/`, { headers: { Authorization: `Token ${token}` } })).json()) as {
      client_ids: string[];
      broker: { state: string } | null;
      processes: { process: string; role: string }[];
    };
  const openReader = async (relay: RelayProcess, name: string, msgType: string): Promise<Reader> => {
    const stream = await openStream(`${relay.url}/api/messages/stream/?msg_types=${msgType}`, { Authorization: `Token ${token}` });
    streams.push(stream);
    assert.equal(stream.status, 200, `${name}: ${stream.status}`);
    await stream.waitFor((e) => e.some((x) => x.event === 'connected'));
    const arrivedAt = new Map<number, number>();
    let expected: number | null = null;
    let seen = 0;
    // waitFor re-checks on every chunk received (heartbeats every second keep it checking): note arrival times there.
    const done = stream.waitFor((events) => {
      for (; seen < events.length; seen++) {
        const e = events[seen]!;
        if (!CONTROL.has(e.event)) {
          const seq = seqOf(e);
          if (!arrivedAt.has(seq)) arrivedAt.set(seq, Date.now());
        }
      }
      return expected !== null && relayed(events).length >= expected;
    }, 120_000); // the whole traffic of one test with time to drain: a stall fails here, not at the test's timeout
    done.catch(() => {}); // awaited later; an early end of stream must not be an unhandled rejection
    return { name, stream, arrivedAt, done, expect: (count) => (expected = count) };
  };

  /**
   * Steady traffic of `msgType` to four readers (two per web process); `fault` breaks the master
   * once 100 messages went through and resolves with its port; the test waits for Sentinel's
   * failover, publishes AFTER_FAILOVER_MS more, then awaits `heal` (if any: the old master comes
   * back) while publishing on, and checks what every reader got.
   */
  const survives = async (msgType: string, fault: () => Promise<number>, heal?: (oldMaster: number) => Promise<void>) => {
    const readers = [await openReader(webA, 'A1', msgType), await openReader(webA, 'A2', msgType), await openReader(webB, 'B1', msgType), await openReader(webB, 'B2', msgType)];
    // A steady publisher: message `seq` goes out at start + seq / RATE seconds, whatever happens to Redis.
    const sentAt: number[] = [];
    let stopAfter = Number.POSITIVE_INFINITY;
    const publishing = (async () => {
      const start = Date.now();
      for (let seq = 0; seq < stopAfter; seq++) {
        const wait = start + (seq * 1000) / RATE - Date.now();
        if (wait > 0) await delay(wait);
        sentAt[seq] = Date.now();
        publisher.send(topic, JSON.stringify({ msg_type: msgType, seq }), { persistent: 'true' });
      }
    })();

    // Traffic flows through the master before it fails.
    await waitUntil(() => readers.every((r) => r.arrivedAt.size >= 100), 'the readers to receive 100 messages before the fault', outputs, 30_000);
    const oldMaster = await fault();
    const faultAt = Date.now();
    const newMaster = await sentinel.waitForFailover(oldMaster, 60_000);
    const failoverAt = Date.now();
    await delay(AFTER_FAILOVER_MS);
    const healAt = Date.now();
    await heal?.(oldMaster);
    stopAfter = sentAt.length; // the loop ends after the message it is about to send
    await publishing;
    const total = sentAt.length;
    await publisher.sendAndWait(topic, JSON.stringify({ msg_type: 'fence' }), { persistent: 'true' }); // the broker has every message

    for (const r of readers) r.expect(total);
    const results = await Promise.all(readers.map((r) => r.done.catch((err: Error) => assert.fail(`reader ${r.name}: ${err.message}\n${outputs()}`))));
    for (const [i, events] of results.entries()) {
      const name = readers[i]!.name;
      const messages = relayed(events);
      assert.deepEqual(messages.map(seqOf), range(0, total), `${name}: every message once, in order\n${outputs()}`);
      const ids = messages.map((e) => BigInt(e.id!));
      for (let j = 1; j < ids.length; j++) assert.ok(ids[j]! > ids[j - 1]!, `${name}: ids strictly increase at ${j}`);
      assert.ok(!events.some((e) => e.event === 'gap' || e.event === 'shutdown'), `${name}: no gap or shutdown event`);
    }

    // No silent stall: what was published once the new master was in place reached every reader within the bound.
    const latency = (r: Reader, seq: number) => r.arrivedAt.get(seq)! - sentAt[seq]!;
    const afterFault = range(0, total).filter((seq) => sentAt[seq]! >= faultAt);
    const afterFailover = afterFault.filter((seq) => sentAt[seq]! >= failoverAt);
    assert.ok(afterFailover.length >= (RATE * AFTER_FAILOVER_MS) / 1000 / 2, `enough traffic after the failover (${afterFailover.length})`);
    const worstAfterFailover = Math.max(...readers.flatMap((r) => afterFailover.map((seq) => latency(r, seq))));
    assert.ok(worstAfterFailover <= DELIVERY_BOUND_MS, `messages published after the failover arrived within ${worstAfterFailover} ms (bound ${DELIVERY_BOUND_MS} ms)\n${outputs()}`);
    if (heal) {
      // The old master still unreachable (not closed: frozen) must not hold anything up: connections follow the new master.
      const beforeHeal = afterFailover.filter((seq) => sentAt[seq]! <= healAt - HEAL_MARGIN_MS);
      assert.ok(beforeHeal.length >= RATE, `enough traffic between the failover and the old master's return (${beforeHeal.length})`);
      for (const r of readers) {
        const late = beforeHeal.filter((seq) => r.arrivedAt.get(seq)! >= healAt);
        assert.deepEqual(late, [], `${r.name}: messages published after the failover arrived only once the old master came back (a stall on the old master)\n${outputs()}`);
      }
    }
    const firstAfterFault = Math.min(...readers.flatMap((r) => afterFault.map((seq) => r.arrivedAt.get(seq)!)));
    const worstOverall = Math.max(...readers.flatMap((r) => range(0, total).map((seq) => latency(r, seq))));
    // Steady state again: the last second of traffic arrives about as fast as before the fault.
    const lastSecond = range(Math.max(0, total - RATE), total);
    const worstLastSecond = Math.max(...readers.flatMap((r) => lastSecond.map((seq) => latency(r, seq))));
    console.log(
      `# ${msgType}: fault → Sentinel failover ${failoverAt - faultAt} ms; fault → first message published after it delivered ${firstAfterFault - faultAt} ms; ` +
        `worst delivery latency ${worstOverall} ms overall, ${worstAfterFailover} ms for messages published after the failover, ${worstLastSecond} ms in the last second; ${total} messages`,
    );
    await healthyOn(newMaster, readers, msgType, total);
  };

  /** After a failover: both web processes ready, the listener holds the lease on the new master, status lists everyone, new readers connect, old ones stay live. */
  const healthyOn = async (newMaster: number, readers: Reader[], msgType: string, total: number) => {
    for (const web of [webA, webB]) {
      await waitUntil(async () => (await fetch(`${web.url}/readyz`)).status === 200, `/readyz 200 on ${web.url}`, outputs, 20_000);
    }
    // On the master the sentinels name now (with a 1 s down-after, a loaded machine may see a second
    // failover), within a few renewals: a listener that lost the lease in the failover takes it back.
    const holder = `${hostname()}:${listener.pid}`;
    let seen = '';
    await waitUntil(
      async () => {
        const port = await sentinel.master().catch(() => newMaster);
        const redis = sentinel.client(port);
        try {
          await redis.connect();
          const value = await redis.get(redisKeys(group).lease);
          seen = `port ${port} (failover elected ${newMaster}): ${value}`;
          return value === holder;
        } catch (err) {
          seen = `port ${port}: ${(err as Error).message}`;
          return false;
        } finally {
          redis.disconnect();
        }
      },
      `the listener (${holder}) to hold the lease on the current master`,
      // waitUntil keeps the last 4,000 characters: the sentinels' view, the listener's lease history, what was read.
      () => `${sentinel.logs().slice(-1500)}\n${leaseHistory()}\nlast seen on ${seen}`,
      10_000,
    );
    const clientIds = readers.map((r) => JSON.parse(r.stream.events()[0]!.data).client_id as string);
    for (const web of [webA, webB]) {
      await waitUntil(
        async () => {
          const st = await status(web);
          return st.broker?.state === 'connected' && st.processes.map((p) => p.role).sort().join() === 'listener,web,web' && clientIds.every((id) => st.client_ids.includes(id));
        },
        `status on ${web.url} to list the listener (subscribed), both web processes and every reader`,
        outputs,
      );
    }
    const late = [await openReader(webA, 'A-late', msgType), await openReader(webB, 'B-late', msgType)];
    for (let seq = total; seq < total + 20; seq++) publisher.send(topic, JSON.stringify({ msg_type: msgType, seq }), { persistent: 'true' });
    for (const r of late) await r.stream.waitFor((e) => relayed(e).length >= 20, 20_000); // before the HTTP one, which would overtake them
    // HTTP publish on a web process goes through Redis to the listener (publish RPC): both sides follow the new master.
    const posted = await fetch(`${webB.url}/api/messages/`, {
      method: 'POST',
      headers: { Authorization: `Token ${publishToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ msg_type: msgType, seq: total + 20 }),
    });
    assert.equal(posted.status, 201, await posted.clone().text());
    const end = total + 21;
    for (const r of late) {
      const events = relayed(await r.stream.waitFor((e) => relayed(e).length >= 21, 20_000));
      assert.deepEqual(events.map(seqOf), range(total, end), `${r.name}: a reader opened after the failover gets the new messages`);
    }
    for (const r of readers) {
      const events = relayed(await r.stream.waitFor((e) => relayed(e).length >= end, 20_000));
      assert.deepEqual(events.map(seqOf), range(0, end), `${r.name}: still live`);
    }
    for (const r of [...readers, ...late]) r.stream.close();
  };

  test('SIGKILL of the master mid-traffic: every reader gets every message once, in order, no gap, no stall', async () => {
    await survives('after_kill', () => sentinel.killMaster());
  });

  test('the master frozen mid-traffic (SIGSTOP: sockets open, no answers), then back and demoted: the same', async () => {
    let frozen: number | undefined;
    try {
      await survives(
        'after_freeze',
        async () => (frozen = await sentinel.freezeMaster()),
        async (oldMaster) => {
          // The old master returns, after the failover, believing it is master; the sentinels make it a replica of the new one.
          sentinel.thaw(oldMaster);
          frozen = undefined;
          await waitUntil(async () => (await sentinel.roleOf(oldMaster)) === 'slave', 'the old master to be demoted to a replica', sentinel.logs, 30_000);
        },
      );
    } finally {
      if (frozen !== undefined) sentinel.thaw(frozen);
    }
  });
});
