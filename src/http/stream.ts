/** `GET /api/messages/stream/`: the SSE stream (SPEC §3). */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/tokens.js';
import { SseClient, type StreamCredential } from '../hub/sse-client.js';
import { AppError } from '../errors.js';
import { filtersToJson, parseFilters, restrictNamespaces } from '../model/filter.js';
import { replay } from '../hub/replay.js';
import { ConnectLimiter } from './connect-limiter.js';
import { encodeConnected } from '../hub/sse-frame.js';
import { sseSink } from './sse-sink.js';
import type { Authenticate, HttpDeps } from './deps.js';
import { isEventId } from '../model/event.js';
import { authenticated, errorResponses, FILTER_QUERY } from './openapi.js';

/** Response headers of every stream (the old relay's, plus no proxy buffering). */
export const STREAM_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache',
  'X-Accel-Buffering': 'no',
  Connection: 'keep-alive',
} as const;

/** Seconds a client is asked to wait when a stream limit is reached. */
const RETRY_AFTER_SECONDS = 5;

/** Registers the stream route. */
export function registerStreamRoutes(app: FastifyInstance, deps: HttpDeps, authenticate: Authenticate): void {
  const { hub, config, subscribers, store } = deps;
  const connectLimiter = new ConnectLimiter(config.sse.connectsPerMinute);

  app.get('/api/messages/stream/', { schema: streamSchema(config) }, async (request, reply) => {
    const principal = await authenticate(request);
    const query = request.query as Record<string, unknown>;
    // A restricted credential's namespaces bound the filters, so live, replay and the hub index all see them.
    const filters = restrictNamespaces(parseFilters(query), principal.namespaces);
    const lastEventId = readLastEventId(request);
    // HEAD answers what a GET would start with (auth, filters, headers checked) and holds no stream.
    if (request.method === 'HEAD') return reply.status(200).headers(STREAM_HEADERS).send();
    if (hub.closing) throw new AppError('UNAVAILABLE', 'This relay process is shutting down; reconnect to another.', {}, 1);
    if (hub.size >= config.sse.maxClients) {
      throw new AppError('SERVER_FULL', 'This relay process has reached its stream limit; retry later.', {}, RETRY_AFTER_SECONDS);
    }
    if (!connectLimiter.take(request.ip)) {
      throw new AppError('RATE_LIMITED', 'Too many stream connections from this address; slow down.', {}, connectLimiter.retryAfter(request.ip));
    }
    if (hub.streamsOf(principal.username) + deps.remoteStreamsOf(principal.username) >= config.sse.maxStreamsPerUser) {
      throw new AppError('TOO_MANY_STREAMS', `User ${principal.username} has reached the limit of ${config.sse.maxStreamsPerUser} streams.`, {}, RETRY_AFTER_SECONDS);
    }

    // From here on we own the socket: fastify must not send a reply of its own.
    reply.hijack();
    const res = reply.raw;
    // Headers set by hooks (CORS, security) are not sent for a hijacked reply: send them here.
    const headers: Record<string, string | number | string[]> = { ...(reply.getHeaders() as Record<string, string | number | string[]>), ...STREAM_HEADERS };
    // HTTP/2 forbids connection-specific headers; its streams stay open by design.
    if (request.raw.httpVersionMajor >= 2) delete headers.Connection;
    res.writeHead(200, headers);
    if (request.raw.httpVersionMajor < 2) res.socket?.setNoDelay(true);
    const client = new SseClient(
      sseSink(res),
      { username: principal.username, remoteAddress: request.ip ?? null, filters, lastEventId, credential: streamCredential(principal) },
      config.sse.clientQueueSize,
      deps.metrics,
      config.sse.clientQueueBytes,
    );
    res.write(encodeConnected({ client_id: client.id, status: 'connected', last_event_id: lastEventId }));
    // Join live first (held back while replaying), so nothing published during the replay is missed.
    if (lastEventId !== null) client.beginReplay();
    hub.add(client);
    subscribers.opened(client);
    request.log.info({ clientId: client.id, user: principal.username, via: principal.via ?? 'token', filters: filtersToJson(filters), lastEventId }, 'stream opened');
    if (lastEventId !== null) {
      replay(client, { store, filters, afterId: lastEventId, max: config.sse.replayMax }).then(
        (result) => {
          deps.metrics.replayServed(result.replayed);
          request.log.info({ clientId: client.id, replayed: result.replayed, gaps: result.gaps }, 'replay done');
        },
        (err: unknown) => {
          // The client reconnects with the last id it got; nothing is lost by ending here.
          request.log.error({ err, clientId: client.id }, 'replay failed; closing the stream');
          client.close();
        },
      );
    }
    res.on('close', () => {
      client.detach();
      hub.remove(client);
      subscribers.closed(client);
      request.log.info({ clientId: client.id, sent: client.sent, dropped: client.dropped, skippedRepeats: client.skippedRepeats }, 'stream closed');
    });
  });
}

const LAST_EVENT_ID = 'The id of the last event received: first every stored message after it that matches the filters, then live ones.';

/** The stream's OpenAPI description (documentation only: see openapi.ts). */
function streamSchema(config: HttpDeps['config']) {
  return {
    summary: 'The Server-Sent Events stream',
    description: [
      'Workflow messages as Server-Sent Events (SPEC §3). Events, in order:',
      '- `connected` (first, with `retry: 3000`): `{"client_id", "status": "connected", "last_event_id"}`;',
      "- one event per message: the event name is the message's `msg_type` (`message` when unusable as a name), `id:` its stored id, `data:` the enriched message as one line of JSON;",
      '- `heartbeat` every SSE_HEARTBEAT_SECONDS: `{"timestamp": <float UNIX time>}`;',
      '- `gap` when events the client asked for will not come: `{"reason": "slow_client"|"replay_limit"|"retention"|"unknown_id", "from_id", "to_id", "dropped"}` (page them from GET /api/messages/);',
      '- `shutdown` before the process closes the stream: reconnect with Last-Event-ID (`{"reason": "revoked"}`: the credential was revoked, expired or its user disabled; reconnecting gets 401).',
      'HEAD checks auth, filters and Last-Event-ID and opens no stream.',
    ].join('\n'),
    tags: ['stream'],
    security: authenticated(config),
    querystring: {
      type: 'object',
      properties: { ...FILTER_QUERY, last_event_id: { type: 'string', pattern: '^[0-9]+$', description: `${LAST_EVENT_ID} For clients that cannot send the header.` } },
    },
    headers: { type: 'object', properties: { 'Last-Event-ID': { type: 'string', pattern: '^[0-9]+$', description: `${LAST_EVENT_ID} Browsers send it on reconnect.` } } },
    response: {
      // Not serialised: the route writes the stream itself (hijacked reply).
      200: { description: 'The event stream (held open; headers `Cache-Control: no-cache`, `X-Accel-Buffering: no`).', content: { 'text/event-stream': { schema: { type: 'string' } } } },
      ...errorResponses(400, 401, 429, 503),
    },
  };
}

/** The relay credential an open stream is re-checked against (hub/credential-watch.ts); swf-monitor's and proxy users have none here. */
function streamCredential(principal: Principal): StreamCredential | null {
  if (principal.via === 'token' && principal.tokenId !== null) return { kind: 'token', id: principal.tokenId };
  if (principal.via === 'session' && principal.sessionIdHash !== undefined) return { kind: 'session', id: principal.sessionIdHash };
  return null;
}

/** Last-Event-ID from the header (what browsers send) or the `last_event_id` query parameter; 400 when malformed. */
export function readLastEventId(request: FastifyRequest): string | null {
  const header = request.headers['last-event-id'];
  const query = (request.query as Record<string, unknown>).last_event_id;
  const raw = typeof header === 'string' && header.trim() !== '' ? header : typeof query === 'string' && query.trim() !== '' ? query : null;
  if (raw === null) return null;
  const value = raw.trim();
  if (!isEventId(value)) {
    throw new AppError('BAD_LAST_EVENT_ID', 'Last-Event-ID (or last_event_id) must be a decimal event id.', { param: 'last_event_id' });
  }
  return String(BigInt(value));
}
