/**
 * SSE wire format (SPEC §3). Every function returns the bytes of one frame,
 * ready to write; callers encode once and share the Buffer among clients.
 * Every frame carries a `data:` line: naive clients (the testbed's receiver)
 * treat each blank-line-separated block as a message and print a data-less
 * one as an empty "Non-JSON message".
 */
import type { RelayEvent } from '../model/event.js';

/** Client reconnection delay announced in the opening frame, ms. */
export const RETRY_MS = 3000;

/** `id:` (when stored), `event:` and `data:` of a relayed event. `data` must be one line (JSON is). */
export function encodeEvent(event: RelayEvent): Buffer {
  const idLine = event.id === null ? '' : `id: ${event.id}\n`;
  return Buffer.from(`${idLine}event: ${event.event}\ndata: ${event.data}\n\n`, 'utf8');
}

/** A control event of the relay itself (heartbeat, gap, shutdown) with a JSON body; `connected` is encodeConnected's. */
export function encodeControl(name: 'heartbeat' | 'gap' | 'shutdown', body: unknown): Buffer {
  return Buffer.from(`event: ${name}\ndata: ${JSON.stringify(body)}\n\n`, 'utf8');
}

/** The body of the `connected` event. */
export interface ConnectedBody {
  client_id: string;
  status: 'connected';
  last_event_id: string | null;
}

/** The frame that opens every stream: `retry:` (default RETRY_MS) in the same block as the `connected` event, never alone. */
export function encodeConnected(body: ConnectedBody, retryMs: number = RETRY_MS): Buffer {
  return Buffer.from(`retry: ${retryMs}\nevent: connected\ndata: ${JSON.stringify(body)}\n\n`, 'utf8');
}

/** A heartbeat frame for this instant: a float UNIX timestamp, as the old relay sent (always with a fraction, so Python reads a float). */
export function encodeHeartbeat(nowMs: number): Buffer {
  return Buffer.from(`event: heartbeat\ndata: {"timestamp":${(nowMs / 1000).toFixed(3)}}\n\n`, 'utf8');
}
