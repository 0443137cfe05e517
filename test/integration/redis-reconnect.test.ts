// The watchdogs' cure for a half-open Redis connection (bus reader, publish-request reader) is
// replaceConnection(). Against a real redis-server that dies and comes back: called while ioredis is
// still reconnecting it must leave the attempt alone (ioredis would otherwise end the client for good),
// and called on a live connection it must give a new one that resends the read in flight.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { parseRedisUrl } from '../../src/config.js';
import { connectRedis, replaceConnection } from '../../src/cluster/redis.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis.js';
import { waitUntil } from '../helpers/relay.js';

describe('replaceConnection (a stalled reader’s new connection)', () => {
  let redis: PrivateRedis;
  const clients: Redis[] = [];
  const client = (name: string, blocking: boolean) => {
    const c = connectRedis(parseRedisUrl(redis.url), { name, blocking });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };

  before(async () => {
    redis = await startPrivateRedis();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await redis?.stop();
  });

  test('while ioredis reconnects, it leaves the attempt alone: the read in flight is answered once Redis is back', async () => {
    const reader = client('reader', true);
    await once(reader, 'ready');
    const popped = reader.brpop('reconnect:list', 0);
    await redis.kill();
    // Every reconnection attempt, at its start: the moment a disconnect would abort it.
    const refusedWhile: string[] = [];
    reader.on('connecting', () => {
      if (!replaceConnection(reader)) refusedWhile.push(reader.status);
    });
    await waitUntil(() => refusedWhile.length >= 2, 'two reconnection attempts while Redis is down');
    await redis.start();
    await waitUntil(() => reader.status === 'ready', `the reader to reconnect (status ${reader.status})`, undefined, 10_000);
    const writer = client('writer', false);
    await writer.lpush('reconnect:list', 'after the outage');
    assert.deepEqual(await popped, ['reconnect:list', 'after the outage']);
    assert.ok(refusedWhile.every((status) => status === 'connecting'), refusedWhile.join());
  });

  test('on a live connection, it drops it for a new one and the read in flight is sent again there', async () => {
    const reader = client('reader-live', true);
    await once(reader, 'ready');
    const popped = reader.brpop('replace:list', 0);
    const reconnected = once(reader, 'ready');
    assert.equal(replaceConnection(reader), true);
    await reconnected;
    const writer = client('writer-live', false);
    await writer.lpush('replace:list', 'on the new connection');
    assert.deepEqual(await popped, ['replace:list', 'on the new connection']);
  });
});
