// Bus throughput: events/s from publish to every web process's handler, in-memory vs
// Redis Streams, and Redis commands per relayed event (which must not grow with clients:
// clients never touch Redis; each web process reads the stream once).
// Loopback only, bounded: N events per run. Usage: node --import tsx bench/bus.ts [events]
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Bus } from '../src/bus/bus.js';
import { MemoryBus } from '../src/bus/memory.js';
import { RedisBus } from '../src/bus/redis.js';
import { createRedisConnections, redisKeys, type RedisConnections } from '../src/cluster/redis.js';
import type { RelayEvent } from '../src/model/event.js';

const EVENTS = Number(process.argv[2] ?? 100_000);
const BATCH = 500; // the ingestor's largest commit
const READERS = 2; // web processes sharing one stream
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const silent = pino({ level: 'silent' });
const payload = JSON.stringify({ msg_type: 'stf_gen', run_id: '100042', pad: 'x'.repeat(900) });

function event(i: number): RelayEvent {
  return { id: String(i + 1), event: 'stf_gen', msgType: 'stf_gen', runId: '100042', namespace: 'ns', senderAgent: 'daq', processedBy: null, data: payload, receivedAt: Date.now() };
}

async function commandCounts(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  const counts = new Map<string, number>();
  for (const match of info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)) counts.set(match[1]!, Number(match[2]));
  return counts;
}

async function run(kind: 'memory' | 'redis'): Promise<Record<string, unknown>> {
  const group = `bench-${randomUUID()}`;
  const connections: RedisConnections[] = [];
  const buses: Bus[] =
    kind === 'memory'
      ? [new MemoryBus()]
      : Array.from({ length: READERS + 1 }, (_, n) => {
          const redis = createRedisConnections(REDIS_URL, `bench-${n}`);
          connections.push(redis);
          return new RedisBus({ redis, stream: redisKeys(group).stream, log: silent, backfill: async () => [] });
        });
  const publisher = buses[0]!;
  const readers = kind === 'memory' ? buses : buses.slice(1);
  let received = 0;
  const expected = EVENTS * readers.length;
  const done = new Promise<void>((resolve) => {
    for (const bus of readers)
      bus.subscribe((events) => {
        received += events.length;
        if (received >= expected) resolve();
      });
  });
  await new Promise((r) => setTimeout(r, 300)); // readers at the stream tail
  const stats = kind === 'redis' ? new Redis(REDIS_URL) : null;
  const before = stats ? await commandCounts(stats) : new Map<string, number>();
  const started = performance.now();
  for (let i = 0; i < EVENTS; i += BATCH) await publisher.publish(Array.from({ length: Math.min(BATCH, EVENTS - i) }, (_, k) => event(i + k)));
  await done;
  const seconds = (performance.now() - started) / 1000;
  const result: Record<string, unknown> = { bus: kind, events: EVENTS, readers: readers.length, seconds: +seconds.toFixed(3), events_per_s: Math.round(EVENTS / seconds) };
  if (stats) {
    const after = await commandCounts(stats);
    const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    const total = [...after.keys()].reduce((sum, name) => sum + delta(name), 0);
    result.redis_commands_per_event = +(total / EVENTS).toFixed(3);
    result.xadd_per_event = +(delta('xadd') / EVENTS).toFixed(3);
    result.xread_calls = delta('xread');
    stats.disconnect();
  }
  for (const bus of buses) await bus.close();
  for (const redis of connections) redis.close();
  return result;
}

for (const kind of ['memory', 'redis'] as const) console.log(JSON.stringify(await run(kind)));
process.exit(0);
