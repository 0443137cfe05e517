/** openBus(): the bus the configuration names — Redis Streams when a Redis connection is given, else in-memory. */
import type { Logger } from 'pino';
import type { Backfill, Bus } from './bus.js';
import type { RedisSource } from './redis.js';

/** What openBus needs; `redis` null means the in-memory bus (one process). */
export interface BusOptions {
  readonly redis: RedisSource | null;
  /** Key of the Redis stream (see cluster/redis.ts redisKeys). */
  readonly stream: string;
  readonly log: Logger;
  /** Reads from the store what a trimmed stream lost. */
  readonly backfill: Backfill;
}

/** Opens the bus; the implementations load only when used. */
export async function openBus(options: BusOptions): Promise<Bus> {
  if (options.redis !== null) {
    const { RedisBus } = await import('./redis.js');
    return new RedisBus({ redis: options.redis, stream: options.stream, log: options.log, backfill: options.backfill });
  }
  const { MemoryBus } = await import('./memory.js');
  return new MemoryBus();
}
