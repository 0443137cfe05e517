/** `GET /api/messages/stream/status/`: who is connected, and the state of broker and bus. */
import type { FastifyInstance } from 'fastify';
import type { BrokerStatus } from '../broker/stomp.js';
import { filtersToJson } from '../filter.js';
import type { Authenticate, HttpDeps } from './server.js';

/** Live facts the status endpoint reports, read at request time. */
export interface StatusSources {
  /** Broker connection, or null in a process that runs no listener. */
  broker(): BrokerStatus | null;
  bus(): { kind: string; state: string };
  /** ISO time of the last message the listener received, or null. */
  lastMessageAt(): Promise<string | null>;
}

/** Registers the status route. */
export function registerStatusRoutes(app: FastifyInstance, deps: HttpDeps, authenticate: Authenticate): void {
  app.get('/api/messages/stream/status/', async (request) => {
    await authenticate(request);
    const clients = [...deps.hub.clients()].map((c) => ({
      client_id: c.id,
      user: c.info.username,
      remote_addr: c.info.remoteAddress,
      connected_at: c.connectedAt.toISOString(),
      filters: filtersToJson(c.info.filters),
      events_sent: c.sent,
      events_dropped: c.dropped,
      queue_depth: c.queueDepth,
      process: deps.processName,
    }));
    return {
      connected_clients: clients.length,
      client_ids: clients.map((c) => c.client_id),
      client_filters: Object.fromEntries(clients.map((c) => [c.client_id, c.filters])),
      clients,
      broker: deps.status.broker(),
      bus: deps.status.bus(),
      last_message_at: await deps.status.lastMessageAt(),
      processes: [deps.processName],
    };
  });
}
