/**
 * One soak sample: each relay process's RSS and open file descriptors (from
 * /proc, bench/lib/proc.ts), the cluster's client registry (the clients the
 * status endpoint lists across processes, and the relay's keys in Redis),
 * Redis memory with and without the bus stream (which grows until its
 * MAXLEN trim, by design), and the long-lived readers' delivery.
 */
import type { Redis } from 'ioredis';
import { openFds, rssKb } from './proc.js';

/** A relay process to watch. */
export interface Watched {
  name: string;
  pid: number;
}

/** What one sample holds (null: could not be read). */
export interface Sample {
  /** Seconds since the load started. */
  t: number;
  published: number;
  /** Per process name: RSS in MB and open file descriptors. */
  processes: Record<string, { rssMb: number | null; fds: number | null }>;
  /** connected_clients of the status endpoint (all processes), and the clients the soak holds open. */
  statusClients: number | null;
  heldClients: number;
  /** Relay processes in the status endpoint's list. */
  statusProcesses: number | null;
  /** Keys of the relay's channel group in Redis, and the registry's among them (process snapshots, user counts, the process set). */
  relayKeys: number | null;
  registryKeys: number | null;
  redisUsedMb: number | null;
  /** The bus stream's memory (MEMORY USAGE) and length. */
  busStreamMb: number | null;
  busStreamLength: number | null;
  /** Long-lived readers, summed: messages received once, and matching messages published so far. */
  readersDelivered: number;
  readersExpected: number;
}

const mb = (kb: number | null) => (kb === null ? null : +(kb / 1024).toFixed(1));

function fdsOf(pid: number): number | null {
  try {
    return openFds(pid);
  } catch {
    return null; // the process is gone
  }
}

/** Reads everything except the soak's own counters, which the caller fills in. */
export async function takeSample(options: {
  t: number;
  processes: readonly Watched[];
  statusUrl: string;
  token: string;
  redis: Redis;
  /** `{swf-relay:<group>}` */
  keyTag: string;
}): Promise<Omit<Sample, 'published' | 'heldClients' | 'readersDelivered' | 'readersExpected'>> {
  const processes: Sample['processes'] = {};
  for (const p of options.processes) processes[p.name] = { rssMb: mb(rssKb(p.pid)), fds: fdsOf(p.pid) };
  let statusClients: number | null = null;
  let statusProcesses: number | null = null;
  try {
    const res = await fetch(options.statusUrl, { headers: { Authorization: `Token ${options.token}` }, signal: AbortSignal.timeout(10_000) });
    if (res.ok) {
      const body = (await res.json()) as { connected_clients: number; processes: unknown[] };
      statusClients = body.connected_clients;
      statusProcesses = body.processes.length;
    }
  } catch {
    // a null in the sample says it
  }
  const redis = await redisFigures(options.redis, options.keyTag).catch(() => null);
  return { t: options.t, processes, statusClients, statusProcesses, ...(redis ?? { relayKeys: null, registryKeys: null, redisUsedMb: null, busStreamMb: null, busStreamLength: null }) };
}

async function redisFigures(redis: Redis, tag: string) {
  let relayKeys = 0;
  let registryKeys = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${tag}:*`, 'COUNT', 1000);
    cursor = next;
    relayKeys += keys.length;
    registryKeys += keys.filter((k) => k.startsWith(`${tag}:process`) || k.startsWith(`${tag}:users:`)).length;
  } while (cursor !== '0');
  const used = /used_memory:(\d+)/.exec(await redis.info('memory'));
  const stream = `${tag}:events`;
  // SAMPLES 0: every node of the stream, not an estimate from a few.
  const streamBytes = (await redis.call('MEMORY', 'USAGE', stream, 'SAMPLES', '0')) as number | null;
  return {
    relayKeys,
    registryKeys,
    redisUsedMb: used ? +(Number(used[1]) / 2 ** 20).toFixed(2) : null,
    busStreamMb: streamBytes === null ? 0 : +(streamBytes / 2 ** 20).toFixed(2),
    busStreamLength: await redis.xlen(stream),
  };
}
