/**
 * Bus: carries relayed events from the one writer (the listener) to every web
 * process. In-memory by default; Redis Streams when REDIS_URL is set.
 */
import type { RelayEvent } from '../model/event.js';

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

/** Reads stored events with id in (afterId, beforeId), in id order: fills what a bus lost (a trimmed Redis stream). */
export type Backfill = (afterId: string, beforeId: string) => Promise<RelayEvent[]>;
