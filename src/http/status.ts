/**
 * `GET /api/messages/stream/status/`: who is connected across all processes, and the state of broker and bus.
 * Admins see every client's details; others see their own and a count of the rest.
 */
import type { FastifyInstance } from 'fastify';
import type { Authenticate, HttpDeps } from './deps.js';
import { authenticated, errorResponses, nullable } from './openapi.js';

const FILTERS = { type: 'object', description: 'msg_types, agents, run_ids, namespaces: each a list.', additionalProperties: { type: 'array', items: { type: 'string' } } };

/**
 * The status body. It serialises the answer, so it lists every field (in the order the handler
 * builds them); records that come from other processes' snapshots also keep any field not listed.
 */
const STATUS_RESPONSE = {
  description: 'Clients across all relay processes, broker and bus state.',
  type: 'object',
  properties: {
    connected_clients: { type: 'integer', description: 'All clients, of every user.' },
    other_users_clients: { type: 'integer', description: "Clients of other users (listed in `clients` only for admins)." },
    client_ids: { type: 'array', items: { type: 'string' } },
    client_filters: { type: 'object', description: 'client_id → its filters.', additionalProperties: FILTERS },
    clients: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          client_id: { type: 'string' },
          user: { type: 'string' },
          remote_addr: nullable('string'),
          connected_at: { type: 'string', format: 'date-time' },
          filters: FILTERS,
          events_sent: { type: 'integer' },
          events_dropped: { type: 'integer' },
          queue_depth: { type: 'integer' },
          process: { type: 'string', description: 'host:pid of the process holding the stream.' },
        },
        additionalProperties: true,
      },
    },
    broker: {
      type: ['object', 'null'],
      description: 'The broker connection (null where no process runs a listener).',
      properties: {
        state: { type: 'string' },
        destination: { type: 'string' },
        durable: { type: 'boolean' },
        connectedSince: nullable('string'),
        reconnects: { type: 'integer' },
        lastError: nullable('string'),
      },
      additionalProperties: true,
    },
    bus: {
      type: 'object',
      properties: { kind: { type: 'string', description: 'memory or redis' }, state: { type: 'string' }, lastReadAt: { type: 'string', format: 'date-time' } },
      additionalProperties: true,
    },
    last_message_at: { ...nullable('string'), format: 'date-time' },
    processes: {
      type: 'array',
      items: {
        type: 'object',
        properties: { process: { type: 'string' }, role: { type: 'string' }, clients: { type: 'integer' }, at: { type: 'string', format: 'date-time' } },
        additionalProperties: true,
      },
    },
  },
  required: ['connected_clients', 'other_users_clients', 'client_ids', 'client_filters', 'clients', 'broker', 'bus', 'last_message_at', 'processes'],
} as const;

/** Registers the status route. */
export function registerStatusRoutes(app: FastifyInstance, deps: HttpDeps, authenticate: Authenticate): void {
  const schema = {
    summary: 'Who is connected, and broker and bus state',
    description: 'Across all relay processes, not just the one answering (SPEC §3).',
    tags: ['stream'],
    security: authenticated(deps.config),
    response: { 200: STATUS_RESPONSE, ...errorResponses(401, 503) },
  };
  app.get('/api/messages/stream/status/', { schema }, async (request) => {
    const principal = await authenticate(request);
    const processes = await deps.status.processes();
    const all = processes.flatMap((p) => p.clients);
    // Other users' addresses and filters are for admins; everyone else gets their own streams and a count.
    const clients = principal.isAdmin ? all : all.filter((c) => c.user === principal.username);
    const broker = deps.status.broker() ?? processes.map((p) => p.broker).find((b) => b !== null && b !== undefined) ?? null;
    return {
      connected_clients: all.length,
      other_users_clients: all.length - all.filter((c) => c.user === principal.username).length,
      client_ids: clients.map((c) => c.client_id),
      client_filters: Object.fromEntries(clients.map((c) => [c.client_id, c.filters])),
      clients,
      broker,
      bus: deps.status.bus(),
      last_message_at: await deps.status.lastMessageAt(),
      processes: processes.map((p) => ({ process: p.process, role: p.role, clients: p.clients.length, at: p.at })),
    };
  });
}
