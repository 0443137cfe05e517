/**
 * Replay on reconnect (SPEC §3): a client that sends Last-Event-ID gets every
 * stored, matching message after it, in id order, then live ones — no gap, no
 * duplicate. The client joins the hub before the store is read (live events
 * are held back meanwhile), and the handover skips ids already replayed. A
 * row in the last page whose live copy is still on the bus at the handover is
 * stopped later by the client's high-water mark (SseClient.send).
 */
import type { SseClient } from './sse-client.js';
import { compareIds, nextId, storedEvent } from '../model/event.js';
import type { Filters } from '../model/filter.js';
import { encodeControl, encodeEvent } from './sse-frame.js';
import type { MessageStore } from '../store/store.js';

/** Stored messages read per query while replaying. */
const PAGE_SIZE = 500;
/**
 * Content bytes after which a page ends (with the row that reaches them): a replay holds one page at
 * a time, and reads the next only once the socket took it, so a client that does not read costs
 * about this much (plus one message), however big the messages are.
 */
export const PAGE_BYTES = 1024 * 1024;

/** Why a client did not get some events; the `reason` of a `gap` event. */
export type GapReason = 'slow_client' | 'replay_limit' | 'retention' | 'unknown_id';

/** The body of a `gap` event. */
export interface Gap {
  reason: GapReason;
  from_id: string | null;
  to_id: string | null;
  dropped: number;
}

/** Options of replay(). */
export interface ReplayOptions {
  readonly store: MessageStore;
  readonly filters: Filters;
  /** The client's Last-Event-ID. */
  readonly afterId: string;
  /** Most events replayed (SSE_REPLAY_MAX); older ones beyond it are reported as a gap. */
  readonly max: number;
}

/** Counts of one replay, for logs and metrics. */
export interface ReplayResult {
  replayed: number;
  gaps: Gap[];
}

/**
 * Replays into `client`, which must already be in the hub with beginReplay()
 * called. Always ends the replay (even on error), so the client goes live.
 */
export async function replay(client: SseClient, options: ReplayOptions): Promise<ReplayResult> {
  const { store, filters, max } = options;
  const result: ReplayResult = { replayed: 0, gaps: [] };
  let cursor = options.afterId;
  const sendGap = async (gap: Gap) => {
    result.gaps.push(gap);
    return client.writeReplayControl(encodeControl('gap', gap));
  };
  try {
    const newest = (await store.maxMessageId()) ?? '0';
    if (compareIds(cursor, newest) > 0) {
      // An id we never issued (a store reset, or another relay's id): say so and go live from here.
      await sendGap({ reason: 'unknown_id', from_id: null, to_id: newest === '0' ? null : newest, dropped: 0 });
      cursor = newest;
      return result;
    }
    const pruned = await store.prunedThrough();
    if (compareIds(cursor, pruned) < 0) {
      // Upper bound: not every pruned id would have matched this client's filters.
      const dropped = Number(BigInt(pruned) - BigInt(cursor));
      if (!(await sendGap({ reason: 'retention', from_id: nextId(cursor), to_id: pruned, dropped }))) return result;
      cursor = pruned;
    }
    const skip = await store.replaySkip(cursor, filters, max);
    if (skip !== null) {
      if (!(await sendGap({ reason: 'replay_limit', from_id: skip.fromId, to_id: skip.toId, dropped: skip.count }))) return result;
      cursor = skip.toId;
    }
    for (;;) {
      client.liveOverflowed = false;
      const page = await store.messagesAfter(cursor, PAGE_SIZE, filters, PAGE_BYTES);
      let pageBytes = 0;
      if (page.length > 0) {
        const events = page.map((row) => {
          const frame = encodeEvent(storedEvent(row));
          pageBytes += frame.length;
          return { frame, id: row.id };
        });
        // One write per page: replay speed is bounded by the store, not by syscalls. It resolves once
        // the socket took the page (drain), so the next page is read only then: backpressure.
        const written = await client.writeReplayed(events);
        if (written === null) return result;
        result.replayed += written;
        cursor = page.at(-1)!.id;
      }
      // A page short of rows and of bytes means we caught up (a frame holds its content verbatim, so
      // frame bytes below PAGE_BYTES mean the store did not cut it); the held-back live events cover the
      // rest, unless they overflowed while we read (then the store has them: read on).
      if (page.length < PAGE_SIZE && pageBytes < PAGE_BYTES && !client.liveOverflowed) break;
    }
    return result;
  } finally {
    client.endReplay(cursor);
  }
}
