/**
 * The IPC messages between the bench runner and its child processes (load
 * clients and the publisher). Every request carries an `id`; the child
 * answers once with `{ id, ok: true, ...result }` or `{ id, ok: false, error }`.
 */
import type { HistogramData } from './histogram.js';

/** Load client: open streams (resolves when every response has its headers, or failed). */
export interface OpenRequest {
  type: 'open';
  /** Base URL of the relay, e.g. http://127.0.0.1:8000 */
  url: string;
  /** Relay token for the Authorization header; empty for none (nchan). */
  token: string;
  /** One path (with query) per stream to open. */
  paths: string[];
  /** Extra request headers, e.g. Last-Event-ID. */
  headers?: Record<string, string>;
  /** Requests in flight at once. */
  concurrency: number;
}

/** Outcome of an OpenRequest. */
export interface OpenResult {
  opened: number;
  /** Non-200 statuses and socket errors, with counts. */
  failures: Record<string, number>;
  /** Request start of the first stream to response headers of the last, ms. */
  seconds: number;
  /** nowMs() when the first request was sent. */
  startedAt: number;
}

/** Load client: what arrived since the last reset. */
export interface LoadReport {
  /** Streams currently open. */
  open: number;
  /** Streams that ended or failed after opening. */
  closed: number;
  /** Events carrying a publish timestamp (`"t":`). */
  events: number;
  /** Fewest and most such events on one open stream. */
  minPerStream: number;
  maxPerStream: number;
  heartbeats: number;
  gaps: number;
  /** Sum of `dropped` over the gap events. */
  gapDropped: number;
  shutdowns: number;
  /** Bytes received. */
  bytes: number;
  /** nowMs() of the first and last timestamped event (0 if none). */
  firstAt: number;
  lastAt: number;
  /** Publish → receipt latency of every timestamped event. */
  latency: HistogramData;
  /** Largest latency per SLOT_MS slot of receipt time, as [slot, ms] (slot = floor(receipt ms / SLOT_MS)). */
  slotMax: [number, number][];
  /** Events slower than SLOW_MS, split at the relay's receipt time: publish → relay, relay → client. */
  slowToRelay: HistogramData;
  slowFromRelay: HistogramData;
  errors: Record<string, number>;
}

/** Requests a load client understands. */
export type LoadRequest = (OpenRequest | { type: 'reset' } | { type: 'report' } | { type: 'close' }) & { id: number };

/** Publisher: connect to the broker. */
export interface ConnectRequest {
  type: 'connect';
  host: string;
  port: number;
  /** TCP_NODELAY on the publisher's socket. */
  noDelay: boolean;
}

/** Publisher: send `count` messages to `destination`. */
export interface PublishRequest {
  type: 'publish';
  destination: string;
  count: number;
  /** Messages per second, token-bucket paced; 0 = as fast as the broker takes them (receipt window). */
  rate: number;
  /** Stop early after this long, ms. */
  maxMs: number;
  msgType: string;
  /** run_id of message n is `${runIdPrefix}${n % runIdCount}`. */
  runIdPrefix: string;
  runIdCount: number;
  /** Body size in bytes (approximately; padded). */
  size: number;
  /** STOMP `persistent: true`. */
  persistent: boolean;
  /** Also subscribe to the destination in the publisher and time publish → broker → subscriber (the broker hop alone). */
  probe: boolean;
}

/** Outcome of a PublishRequest. */
export interface PublishResult {
  sent: number;
  /** nowMs() of the first and of the last SEND, and of the final receipt. */
  startedAt: number;
  lastSentAt: number;
  confirmedAt: number;
  /** Achieved rate over the sending window, msg/s. */
  rate: number;
  /** The probe's latencies (publish → broker → probe subscriber), when asked for. */
  probe: HistogramData | null;
  /** HTTP mode: requests that failed (status or socket error → count); they are not in `sent`. */
  failures?: Record<string, number>;
  /** HTTP mode: body made (its stamp) → answer received, ms: the publish path's own delay, queueing for a connection included. */
  answered?: HistogramData;
}

/**
 * Publisher, HTTP mode (nchan): POST each body to `url` over keep-alive
 * connections, paced like a PublishRequest; no broker, so no probe.
 */
export interface HttpPublishRequest extends Pick<PublishRequest, 'count' | 'rate' | 'maxMs' | 'msgType' | 'runIdPrefix' | 'runIdCount' | 'size'> {
  type: 'publish-http';
  /** The publish URL, e.g. http://127.0.0.1:8080/pub/bench */
  url: string;
}

/** Requests the publisher understands. */
export type PublisherRequest = (ConnectRequest | PublishRequest | HttpPublishRequest | { type: 'close' }) & { id: number };

/** A child's answer. */
export type Reply = { id: number; ok: true; [key: string]: unknown } | { id: number; ok: false; error: string };

/** Broker consumer (bench/broker-consumer.ts): subscribe (durably, under `durableName` as client-id and subscription name, when given); count what arrived; close. */
export type BrokerConsumerRequest = ({ type: 'connect'; host: string; port: number; destination: string; durableName?: string } | { type: 'report' } | { type: 'close' }) & {
  id: number;
};

/**
 * A child's side of the protocol: answers each request from the parent with
 * `handle`'s result (or its error), and exits when the parent is gone (the run is over).
 */
export function serveRequests<R extends { id: number }>(handle: (request: R) => Promise<Record<string, unknown>>): void {
  process.on('message', (request: R) => {
    handle(request).then(
      (result) => process.send!({ id: request.id, ok: true, ...result } satisfies Reply),
      (err: unknown) => process.send!({ id: request.id, ok: false, error: String(err) } satisfies Reply),
    );
  });
  process.on('disconnect', () => process.exit(0));
}
