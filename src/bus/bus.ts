/**
 * Bus: carries relayed events from the one writer (the listener) to every web
 * process. In-memory by default; Redis Streams when REDIS_URL is set.
 */
import type { Logger } from 'pino';
import type { RelayEvent } from '../model/event.js';
import type { Backfill } from './redis.js';

/** Receives events in publish order, a batch at a time. */
export type BusHandler = (events: readonly RelayEvent[]) => void;

/** A bus's own view of whether it works: `ok`, or what is wrong. */
export interface BusHealth {
  readonly state: string;
  /** When the reader last completed a read cycle (Redis). */
  readonly lastReadAt?: string;
}

/** One stream of events, published once and read by every subscriber. */
export interface Bus {
  /** `memory` or `redis`, for status and metrics. */
  readonly kind: string;
  /** Publishes events in order; resolves once the bus holds them. */
  publish(events: readonly RelayEvent[]): Promise<void>;
  /** Calls `handler` with every event published from now on; returns an unsubscribe function. */
  subscribe(handler: BusHandler): () => void;
  /** Optional: health for status and readiness; a bus without it is always `ok`. */
  health?(): BusHealth;
  close(): Promise<void>;
}

/** What createBus needs besides the URL (used by the Redis bus). */
export interface BusOptions {
  readonly redisUrl: string | undefined;
  readonly group: string;
  readonly processName: string;
  readonly log: Logger;
  readonly backfill: Backfill;
}

/** Opens the bus the configuration names: Redis when REDIS_URL is set, else in-memory. */
export async function createBus(options: BusOptions): Promise<Bus> {
  if (options.redisUrl !== undefined) {
    const { RedisBus } = await import('./redis.js');
    return new RedisBus({ ...options, url: options.redisUrl });
  }
  const { MemoryBus } = await import('./memory.js');
  return new MemoryBus();
}
