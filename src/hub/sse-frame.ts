/**
 * SSE wire format (SPEC §3). Every function returns the bytes of one frame,
 * ready to write; callers encode once and share the Buffer among clients.
 */
import type { RelayEvent } from '../model/event.js';

/** Client reconnection delay announced in the first frame, ms. */
export const RETRY_MS = 3000;

/** `id:` (when stored), `event:` and `data:` of a relayed event. `data` must be one line (JSON is). */
export function encodeEvent(event: RelayEvent): Buffer {
  const idLine = event.id === null ? '' : `id: ${event.id}\n`;
  return Buffer.from(`${idLine}event: ${event.event}\ndata: ${event.data}\n\n`, 'utf8');
}

/** A control event of the relay itself (connected, heartbeat, gap, shutdown) with a JSON body. */
export function encodeControl(name: 'connected' | 'heartbeat' | 'gap' | 'shutdown', body: unknown): Buffer {
  return Buffer.from(`event: ${name}\ndata: ${JSON.stringify(body)}\n\n`, 'utf8');
}

/** The frame that opens every stream: the reconnection delay. */
export function encodeRetry(ms: number = RETRY_MS): Buffer {
  return Buffer.from(`retry: ${ms}\n\n`, 'utf8');
}

/** A heartbeat frame for this instant: a float UNIX timestamp, as the old relay sent (always with a fraction, so Python reads a float). */
export function encodeHeartbeat(nowMs: number): Buffer {
  return Buffer.from(`event: heartbeat\ndata: {"timestamp":${(nowMs / 1000).toFixed(3)}}\n\n`, 'utf8');
}
