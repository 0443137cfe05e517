/** `GET /api/messages/stream/status/`: who is connected across all processes, and the state of broker and bus. */
import type { FastifyInstance } from 'fastify';
import type { Authenticate, HttpDeps } from './deps.js';

/** Registers the status route. */
export function registerStatusRoutes(app: FastifyInstance, deps: HttpDeps, authenticate: Authenticate): void {
  app.get('/api/messages/stream/status/', async (request) => {
    await authenticate(request);
    const processes = await deps.status.processes();
    const clients = processes.flatMap((p) => p.clients);
    const broker = deps.status.broker() ?? processes.map((p) => p.broker).find((b) => b !== null && b !== undefined) ?? null;
    return {
      connected_clients: clients.length,
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
