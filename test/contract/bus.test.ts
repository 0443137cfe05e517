// The Bus contract, run on every implementation (in-memory, Redis Streams), plus the
// Redis reader's recovery of entries a trim removed before it could read them.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Bus } from '../../src/bus/bus.js';
import { MemoryBus } from '../../src/bus/memory.js';
import { RedisBus, redisKeys, type Backfill } from '../../src/bus/redis.js';
import type { RelayEvent } from '../../src/model/event.js';
import { sharedRedisUrl } from '../helpers/redis.js';
import { waitUntil } from '../helpers/relay.js';

const silent = pino({ level: 'silent' });

function event(id: number | null, over: Partial<RelayEvent> = {}): RelayEvent {
  return {
    id: id === null ? null : String(id),
    event: 'stf_gen',
    msgType: 'stf_gen',
    runId: '100042',
    namespace: 'ns',
    senderAgent: 'agent',
    processedBy: null,
    data: JSON.stringify({ msg_type: 'stf_gen', id, text: 'ünï\n"quoted"' }),
    receivedAt: 1_764_000_000_000 + (id ?? 0),
    ...over,
  };
}

function busContract(name: string, open: (backfill?: Backfill) => Promise<Bus>): void {
  describe(`Bus contract: ${name}`, () => {
    const opened: Bus[] = [];
    const make = async (backfill?: Backfill) => {
      const bus = await open(backfill);
      opened.push(bus);
      return bus;
    };
    after(async () => {
      for (const bus of opened) await bus.close();
    });

    it('every subscriber gets every event published after it subscribed, in order, fields intact', async () => {
      const bus = await make();
      const a: RelayEvent[] = [];
      const b: RelayEvent[] = [];
      bus.subscribe((events) => a.push(...events));
      bus.subscribe((events) => b.push(...events));
      await new Promise((r) => setTimeout(r, 100)); // readers started
      const sent = [event(1), event(null, { event: 'agent_status', msgType: 'agent_status', runId: null, processedBy: null }), event(2, { namespace: null, senderAgent: null, processedBy: 'p' }), event(3, { runId: '' })];
      await bus.publish(sent.slice(0, 2));
      await bus.publish(sent.slice(2));
      await waitUntil(() => a.length === 4 && b.length === 4, 'both subscribers to get 4 events');
      assert.deepEqual(a, sent);
      assert.deepEqual(b, sent);
    });

    it('an unsubscribed handler gets nothing more', async () => {
      const bus = await make();
      const got: RelayEvent[] = [];
      const stop = bus.subscribe((events) => got.push(...events));
      const keep: RelayEvent[] = [];
      bus.subscribe((events) => keep.push(...events));
      await new Promise((r) => setTimeout(r, 100));
      await bus.publish([event(10)]);
      await waitUntil(() => got.length === 1 && keep.length === 1, 'first event');
      stop();
      await bus.publish([event(11)]);
      await waitUntil(() => keep.length === 2, 'second event to the remaining subscriber');
      assert.equal(got.length, 1);
    });

    it('reports itself healthy', async () => {
      const bus = await make();
      bus.subscribe(() => {});
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(bus.health?.().state ?? 'ok', 'ok');
    });
  });
}

busContract('memory', async () => new MemoryBus());

let redisUrl: string | undefined;
const openRedis = async (group: string, backfill: Backfill = async () => []) =>
  new RedisBus({ url: (redisUrl ??= await sharedRedisUrl()), group, processName: `test-${process.pid}`, log: silent, backfill });

busContract('redis', (backfill) => openRedis(`contract-${randomUUID()}`, backfill));

describe('RedisBus reader recovery', () => {
  it('fills from the store what a trim removed before the reader read it, and skips repeats', async () => {
    const group = `trim-${randomUUID()}`;
    const asked: [string, string][] = [];
    const bus = await openRedis(group, async (afterId, beforeId) => {
      asked.push([afterId, beforeId]);
      return Array.from({ length: Number(beforeId) - Number(afterId) - 1 }, (_, i) => event(Number(afterId) + 1 + i));
    });
    const raw = new Redis(redisUrl!);
    try {
      const got: RelayEvent[] = [];
      bus.subscribe((events) => got.push(...events));
      await new Promise((r) => setTimeout(r, 200));
      await bus.publish([event(1), event(2), event(3)]);
      await waitUntil(() => got.length === 3, 'the first three');

      // Atomically: 17 more entries, then a trim to 5: the blocked reader wakes to find only 16..20.
      const { stream } = redisKeys(group);
      const tx = raw.multi();
      for (let id = 4; id <= 20; id++) tx.xadd(stream, '*', 'e', 'stf_gen', 'm', 'stf_gen', 'd', '{}', 't', '0', 'i', String(id));
      tx.xtrim(stream, 'MAXLEN', 5);
      await tx.exec();
      await waitUntil(() => got.length >= 20, 'all twenty', () => JSON.stringify(got.map((e) => e.id)));
      assert.deepEqual(asked, [['3', '16']]);
      // A retried publish puts an old id on the stream again: the reader drops it.
      await bus.publish([event(20), event(21)]);
      await waitUntil(() => got.length >= 21, 'the new one');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(got.map((e) => Number(e.id)), Array.from({ length: 21 }, (_, i) => i + 1));
    } finally {
      raw.disconnect();
      await bus.close();
    }
  });
});
