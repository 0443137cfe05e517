/** `GET /api/messages/stream/status/`: who is connected across all processes, and the state of broker and bus. */
import type { FastifyInstance } from 'fastify';
import type { BrokerStatus } from '../broker/stomp.js';
import type { BusHealth } from '../bus/bus.js';
import type { ProcessSnapshot } from '../cluster/registry.js';
import { filtersToJson } from '../model/filter.js';
import type { Hub } from '../hub/hub.js';
import type { Authenticate, HttpDeps } from './server.js';

/** Live facts the status endpoint reports, read at request time. */
export interface StatusSources {
  /** Broker connection, or null in a process that runs no listener. */
  broker(): BrokerStatus | null;
  bus(): BusHealth & { kind: string };
  /** ISO time of the last message the listener received, or null. */
  lastMessageAt(): Promise<string | null>;
  /** Snapshots of every relay process (just this one without Redis). */
  processes(): Promise<ProcessSnapshot[]>;
}

/** This process's clients as the status endpoint lists them. */
export function clientRecords(hub: Hub, processName: string): Record<string, unknown>[] {
  return [...hub.clients()].map((c) => ({
    client_id: c.id,
    user: c.info.username,
    remote_addr: c.info.remoteAddress,
    connected_at: c.connectedAt.toISOString(),
    filters: filtersToJson(c.info.filters),
    events_sent: c.sent,
    events_dropped: c.dropped,
    queue_depth: c.queueDepth,
    process: processName,
  }));
}

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
