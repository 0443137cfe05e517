/**
 * The bus's backfill from the store: what a trimmed Redis stream lost, every
 * event the bus carried is also a stored message, so it is read back by id.
 */
import type { Backfill } from '../bus/bus.js';
import { storedEvent } from '../model/event.js';
import type { MessageStore } from './store.js';

/** Most stored events one backfill reads (a longer outage leaves the rest to clients' replay). */
const BACKFILL_MAX = 100_000;

/** A Backfill reading `messages`. At most the ids strictly between the two can exist, so a mere hole in the id sequence reads nothing extra. */
export function storeBackfill(messages: MessageStore, max: number = BACKFILL_MAX): Backfill {
  return async (afterId, beforeId) => {
    const between = BigInt(beforeId) - BigInt(afterId) - 1n;
    if (between <= 0n) return [];
    const rows = await messages.messagesAfter(afterId, Number(between < BigInt(max) ? between : BigInt(max)));
    return rows.filter((row) => BigInt(row.id) < BigInt(beforeId)).map(storedEvent);
  };
}
