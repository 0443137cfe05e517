/** This process's clients as the status endpoint and the cluster registry list them (keys as in the old relay). */
import { filtersToJson } from '../model/filter.js';
import type { Hub } from './hub.js';

/** This process's clients as the status endpoint lists them. */
export function clientRecords(hub: Hub, processName: string): Record<string, unknown>[] {
  return [...hub.clients()].map((c) => ({
    client_id: c.id,
    user: c.info.username,
    remote_addr: c.info.remoteAddress,
    connected_at: new Date(c.connectedAt).toISOString(),
    filters: filtersToJson(c.info.filters),
    events_sent: c.sent,
    events_dropped: c.dropped,
    queue_depth: c.queueDepth,
    process: processName,
  }));
}
