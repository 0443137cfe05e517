// The Bus contract on Redis Streams, plus the reader's recovery of entries a trim removed
// before it could read them.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Backfill } from '../../src/bus/bus.js';
import { RedisBus } from '../../src/bus/redis.js';
import { createRedisConnections, redisKeys, type RedisConnections } from '../../src/cluster/redis.js';
import type { RelayEvent } from '../../src/model/event.js';
import { sharedRedisUrl } from '../helpers/redis.js';
import { waitUntil } from '../helpers/relay.js';
import { busContract, event } from './bus.contract.js';

const silent = pino({ level: 'silent' });

let redisUrl: string | undefined;
const connections: RedisConnections[] = [];
after(() => {
  for (const c of connections) c.close();
});
const openRedis = async (group: string, backfill: Backfill = async () => []) => {
  const redis = createRedisConnections((redisUrl ??= await sharedRedisUrl()), `test-${process.pid}`);
  connections.push(redis);
  return new RedisBus({ redis, stream: redisKeys(group).stream, log: silent, backfill });
};

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
