/**
 * The REST API beside the stream (SPEC §4): history, HTTP publish, agents,
 * subscribers.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { SseClient } from '../hub/sse-client.js';
import { AppError } from '../errors.js';
import { filtersToJson, parseFilters, restrictNamespaces } from '../model/filter.js';
import type { StoredMessage } from '../store/store.js';
import { mountOf } from './base-path.js';
import type { Authenticate, HttpDeps } from './deps.js';
import { isEventId } from '../model/event.js';
import { authenticated, errorResponses, FILTER_QUERY, nullable, resultsOf } from './openapi.js';

/** Most rows one history or subscribers page returns. */
export const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;
/**
 * Content bytes after which a history page ends (with the row that reaches them), whatever `limit`
 * says: 1,000 rows of 1 MB would be a 1 GB answer. The page then has a `next` like a full one.
 */
export const HISTORY_PAGE_BYTES = 8 * 1024 * 1024;

/** Registers /api/messages/ (GET history, POST publish), /api/agents/, /api/subscribers/. */
export function registerApiRoutes(app: FastifyInstance, deps: HttpDeps, authenticate: Authenticate): void {
  const { store } = deps;
  const security = authenticated(deps.config);

  app.get('/api/messages/', { schema: { ...HISTORY_SCHEMA, security } }, async (request, reply) => {
    const principal = await authenticate(request);
    const query = request.query as Record<string, unknown>;
    const filters = restrictNamespaces(parseFilters(query), principal.namespaces);
    const afterId = idParam(query, 'after_id');
    const beforeId = idParam(query, 'before_id');
    const limit = intParam(query, 'limit', 1, MAX_PAGE) ?? DEFAULT_PAGE;
    const order = afterId !== undefined ? 'asc' : 'desc';
    const rows = await store.listMessages({
      filters,
      afterId,
      beforeId,
      since: timeParam(query, 'since'),
      until: timeParam(query, 'until'),
      limit,
      order,
      maxBytes: HISTORY_PAGE_BYTES,
    });
    const last = rows.at(-1);
    let next: string | null = null;
    // Short of `limit` and of the byte budget: nothing more matched. Otherwise there may be more.
    if (last && (rows.length === limit || contentBytes(rows) >= HISTORY_PAGE_BYTES)) {
      const params = new URLSearchParams(request.url.split('?')[1] ?? '');
      params.set(order === 'asc' ? 'after_id' : 'before_id', last.id);
      // Under the prefix the client came by, so following it stays there.
      next = `${mountOf(request, deps.config.basePath)}/api/messages/?${params.toString()}`;
    }
    // Built as text so each stored content goes out as stored: parsing and re-serialising it would round integers beyond 2^53.
    return reply.type('application/json; charset=utf-8').send(`{"results":[${rows.map(historyItem).join(',')}],"next":${JSON.stringify(next)}}`);
  });

  // Publishing takes the raw body, so it is validated exactly as a broker message is.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    scope.post('/api/messages/', { schema: { ...PUBLISH_SCHEMA, security } }, async (request, reply) => {
      const principal = await authenticate(request);
      if (!principal.canPublish) throw new AppError('FORBIDDEN', 'This token may not publish; create one with --publish.');
      if (deps.publish === null) throw new AppError('UNAVAILABLE', 'This process cannot reach the listener; publish to a process that runs it.');
      const body = request.body;
      if (!Buffer.isBuffer(body) || body.byteLength === 0) throw new AppError('BAD_REQUEST', 'The body must be a JSON workflow message.', { reason: 'empty' });
      const idempotencyKey = idempotencyKeyOf(request.headers['idempotency-key']);
      if (idempotencyKey === null) return reply.status(201).send({ id: await deps.publish(body, principal.username), status: 'stored' });
      // The key, scoped to the publisher, becomes the message-id: a retry is the same message, which the store keeps once.
      const messageId = `http:key:${createHash('sha256').update(`${principal.username}\n${idempotencyKey}`).digest('base64url')}`;
      const id = await deps.publish(body, principal.username, messageId);
      if (id !== null) return reply.status(201).send({ id, status: 'stored' });
      void reply.header('Idempotent-Replayed', 'true');
      return reply.status(201).send({ id: await store.idOfBrokerMessage(messageId), status: 'stored' });
    });
  });

  app.get('/api/agents/', { schema: { ...AGENTS_SCHEMA, security } }, async (request) => {
    const { namespaces } = await authenticate(request);
    const now = Date.now();
    // A restricted credential sees only agents of its namespaces (one without a namespace is nobody's).
    const agents = (await store.listAgents()).filter((a) => !namespaces || (a.namespace !== null && namespaces.has(a.namespace)));
    return {
      results: agents.map((a) => ({
        name: a.name,
        agent_type: a.agentType,
        status: a.status,
        namespace: a.namespace,
        last_heartbeat: a.lastHeartbeat,
        seconds_since_heartbeat: Math.max(0, Math.round((now - Date.parse(a.lastHeartbeat)) / 100) / 10),
      })),
    };
  });

  app.get('/api/subscribers/', { schema: { ...SUBSCRIBERS_SCHEMA, security } }, async (request) => {
    const principal = await authenticate(request);
    const query = request.query as Record<string, unknown>;
    const active = query.active === 'true' || query.active === '1';
    const limit = intParam(query, 'limit', 1, MAX_PAGE) ?? DEFAULT_PAGE;
    const live = new Map<string, SseClient>([...deps.hub.clients()].map((c) => [c.id, c]));
    // Not the table alone: a stream this process saw close is listed as past even before the flush writes it.
    const rows = await deps.subscribers.list(active, limit);
    // Other users' addresses and filters are for admins; everyone else gets their own rows and a count of the rest.
    const own = rows.filter((s) => s.username === principal.username);
    return {
      other_users: rows.length - own.length,
      results: (principal.isAdmin ? rows : own).map((s) => {
        const client = live.get(s.clientId);
        return {
          client_id: s.clientId,
          name: s.name,
          user: s.username,
          ip: s.ip,
          location: s.location,
          process: s.process,
          connected_at: s.connectedAt,
          disconnected_at: s.disconnectedAt,
          last_activity: client ? new Date(client.lastActivity).toISOString() : s.lastActivity,
          is_active: s.isActive,
          filters: client ? filtersToJson(client.info.filters) : JSON.parse(s.filters),
          // Live counters for streams of this process; flushed ones (a few seconds old) for the rest.
          messages_sent: client?.sent ?? s.messagesSent,
          messages_dropped: client?.dropped ?? s.messagesDropped,
        };
      }),
    };
  });
}

// ---- OpenAPI descriptions (request schemas document only: see openapi.ts) ----

const ID = { type: 'string', pattern: '^[0-9]+$' };
const LIMIT = { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: DEFAULT_PAGE, description: 'Rows per page.' };

const HISTORY_ITEM = {
  type: 'object',
  properties: {
    id: { ...ID, description: 'The stored id (the stream\'s event id).' },
    msg_type: { type: 'string' },
    run_id: nullable('string'),
    execution_id: nullable('string'),
    sender_agent: nullable('string'),
    recipient_agent: nullable('string'),
    namespace: nullable('string'),
    processed_by: nullable('string'),
    filename: nullable('string'),
    queue_name: { type: 'string' },
    sent_at: { type: 'string', format: 'date-time', description: 'When the relay received it.' },
    message: { type: 'object', additionalProperties: true, description: 'The message as received, verbatim (integers beyond 2^53 kept exact).' },
  },
  required: ['id', 'msg_type', 'queue_name', 'sent_at', 'message'],
};

const HISTORY_SCHEMA = {
  summary: 'Stored messages (history)',
  description: 'Newest first, or oldest first after `after_id`; the same filters as the stream. Follow `next` to page without gap or duplicate.',
  tags: ['messages'],
  querystring: {
    type: 'object',
    properties: {
      ...FILTER_QUERY,
      since: { type: 'string', format: 'date-time', description: 'Received at or after (ISO-8601).' },
      until: { type: 'string', format: 'date-time', description: 'Received before (ISO-8601, exclusive).' },
      after_id: { ...ID, description: 'Only ids greater than this, oldest first.' },
      before_id: { ...ID, description: 'Only ids smaller than this.' },
      limit: LIMIT,
    },
  },
  response: {
    // Documentation only: the route sends the body as JSON text it built (each stored message
    // verbatim), and fastify sends a string as it is, never through this schema.
    200: {
      description: 'One page.',
      type: 'object',
      properties: {
        results: { type: 'array', items: HISTORY_ITEM },
        next: { ...nullable('string'), description: 'The next page (under the prefix the client came by), or null.' },
      },
      required: ['results', 'next'],
    },
    ...errorResponses(400, 401, 503),
  },
};

const PUBLISH_SCHEMA = {
  summary: 'Publish a workflow message',
  description:
    'The body is validated exactly as a broker message is (any JSON object with a `msg_type`), stored and relayed through the one writer; its `queue_name` is `http`. Needs a token created with `--publish`.',
  tags: ['messages'],
  headers: {
    type: 'object',
    properties: { 'Idempotency-Key': { type: 'string', minLength: 1, maxLength: 200, description: '1–200 visible ASCII characters: a retry with the same key stores nothing new and answers the first id.' } },
  },
  body: { type: 'object', properties: { msg_type: { type: 'string' } }, required: ['msg_type'], additionalProperties: true },
  response: {
    201: {
      description: 'Stored (or, with a repeated Idempotency-Key, already stored: header `Idempotent-Replayed: true`).',
      type: 'object',
      properties: { id: { ...nullable('string'), description: 'The stored id.' }, status: { type: 'string', enum: ['stored'] } },
      required: ['id', 'status'],
    },
    ...errorResponses(400, 401, 403, 413, 503),
  },
};

const AGENTS_SCHEMA = {
  summary: 'Agents known from heartbeats',
  tags: ['agents'],
  response: {
    200: resultsOf('Every known agent.', {
      name: { type: 'string' },
      agent_type: nullable('string'),
      status: { type: 'string' },
      namespace: nullable('string'),
      last_heartbeat: { type: 'string', format: 'date-time' },
      seconds_since_heartbeat: { type: 'number' },
    }),
    ...errorResponses(401, 503),
  },
};

/** A list answer with `other_users` beside `results` (first, as the handler builds it). */
function withOtherUsers(list: object): object {
  const { properties, required, ...rest } = list as { properties: Record<string, object>; required: string[] };
  const otherUsers = { type: 'integer', description: 'Rows of other users in this page (listed only for admins).' };
  return { ...rest, properties: { other_users: otherUsers, ...properties }, required: ['other_users', ...required] };
}

const SUBSCRIBERS_SCHEMA = {
  summary: 'Stream connections, current and past',
  tags: ['agents'],
  querystring: {
    type: 'object',
    properties: { active: { type: 'string', description: '`true` or `1`: only open streams; anything else: all.' }, limit: LIMIT },
  },
  response: {
    200: withOtherUsers(resultsOf("Newest connections first: every user's for an admin, else the caller's own.", {
      client_id: { type: 'string' },
      name: { type: 'string' },
      user: nullable('string'),
      ip: nullable('string'),
      location: nullable('string'),
      process: { type: 'string' },
      connected_at: { type: 'string', format: 'date-time' },
      disconnected_at: nullable('string'),
      last_activity: { type: 'string', format: 'date-time' },
      is_active: { type: 'boolean' },
      filters: { type: 'object', additionalProperties: true, description: 'msg_types, agents, run_ids, namespaces: each a list.' },
      messages_sent: { type: 'integer' },
      messages_dropped: { type: 'integer' },
    })),
    ...errorResponses(400, 401, 503),
  },
};

/** UTF-8 bytes of the rows' content, as the store counts them for `maxBytes`. */
function contentBytes(rows: readonly StoredMessage[]): number {
  let total = 0;
  for (const row of rows) total += Buffer.byteLength(row.content, 'utf8');
  return total;
}

/** One history item as JSON text: the columns, then `message`, the stored content verbatim. */
function historyItem(m: StoredMessage): string {
  const columns = JSON.stringify({
    id: m.id,
    msg_type: m.fields.msgType,
    run_id: m.fields.runId,
    execution_id: m.fields.executionId,
    sender_agent: m.fields.senderAgent,
    recipient_agent: m.fields.recipientAgent,
    namespace: m.fields.namespace,
    processed_by: m.fields.processedBy,
    filename: m.fields.filename,
    queue_name: m.queueName,
    sent_at: m.sentAt,
  });
  return `${columns.slice(0, -1)},"message":${m.content}}`;
}

function single(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new AppError('BAD_REQUEST', `${name} may be given once`, { param: name });
  return value.trim();
}

function idParam(query: Record<string, unknown>, name: string): string | undefined {
  const value = single(query, name);
  if (value === undefined) return undefined;
  if (!isEventId(value)) throw new AppError('BAD_REQUEST', `${name} must be a message id (digits)`, { param: name });
  return String(BigInt(value));
}

function intParam(query: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const value = single(query, name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new AppError('BAD_REQUEST', `${name} must be an integer from ${min} to ${max}`, { param: name });
  return n;
}

/** A valid Idempotency-Key header (1–200 visible ASCII characters), null when absent; 400 when malformed. */
function idempotencyKeyOf(header: string | string[] | undefined): string | null {
  if (header === undefined) return null;
  if (typeof header !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(header)) {
    throw new AppError('BAD_REQUEST', 'Idempotency-Key must be 1 to 200 visible ASCII characters', { param: 'Idempotency-Key' });
  }
  return header;
}

/** The times whose ISO-8601 text sorts as the times do (four-digit years). */
const MIN_TIME_MS = Date.parse('0000-01-01T00:00:00.000Z');
const MAX_TIME_MS = Date.parse('9999-12-31T23:59:59.999Z');

function timeParam(query: Record<string, unknown>, name: string): string | undefined {
  const value = single(query, name);
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  // Stored times are compared as ISO text, which orders correctly only for years 0000–9999.
  if (Number.isNaN(ms) || ms < MIN_TIME_MS || ms > MAX_TIME_MS) throw new AppError('BAD_REQUEST', `${name} must be an ISO-8601 time between the years 0000 and 9999`, { param: name });
  return new Date(ms).toISOString();
}
