/**
 * Bus: carries relayed events from the one writer (the listener) to every web
 * process. In-memory by default; Redis Streams when REDIS_URL is set.
 */
import type { RelayEvent } from '../event.js';

/** Receives events in publish order, a batch at a time. */
export type BusHandler = (events: readonly RelayEvent[]) => void;

/** One stream of events, published once and read by every subscriber. */
export interface Bus {
  /** `memory` or `redis`, for status and metrics. */
  readonly kind: string;
  /** Publishes events in order; resolves once the bus holds them. */
  publish(events: readonly RelayEvent[]): Promise<void>;
  /** Calls `handler` with every event published from now on; returns an unsubscribe function. */
  subscribe(handler: BusHandler): () => void;
  close(): Promise<void>;
}

/** Opens the bus the configuration names. */
export async function createBus(options: { redisUrl: string | undefined }): Promise<Bus> {
  if (options.redisUrl !== undefined) {
    throw new Error('REDIS_URL: the Redis bus is not available in this version; unset REDIS_URL to use the in-memory bus');
  }
  const { MemoryBus } = await import('./memory.js');
  return new MemoryBus();
}
