/**
 * Bus: runs bench/bus.ts (in-memory vs Redis Streams, events/s from publish to
 * every reader, Redis commands per event) as its own process and tables its
 * JSON lines.
 */
import { fileURLToPath } from 'node:url';
import type { BenchContext } from '../lib/context.js';
import { waitQuiet } from '../lib/quiet.js';
import { runJsonLines } from '../lib/json-lines.js';

const SCRIPT = fileURLToPath(new URL('../bus.ts', import.meta.url));

interface BusLine {
  bus: string;
  events: number;
  readers: number;
  seconds: number;
  events_per_s: number;
  redis_commands_per_event?: number;
  xadd_per_event?: number;
  xread_calls?: number;
}

/** Runs bench/bus.ts once (events per run: 100,000; --quick 20,000) and adds a row per bus. */
export async function busScenario(ctx: BenchContext): Promise<void> {
  const events = ctx.quick ? 20_000 : 100_000;
  await waitQuiet(ctx);
  const { lines, cpuSeconds } = await runJsonLines<BusLine>(SCRIPT, [String(events)], { BENCH_REDIS_URL: ctx.redisUrl });
  for (const r of lines) {
    const notes = [`${r.events.toLocaleString('en-US')} events in batches of 500 to ${r.readers} reader(s) in one process (bench/bus.ts), ${r.seconds} s`];
    if (r.redis_commands_per_event !== undefined) notes.push(`${r.redis_commands_per_event} Redis commands per event (XADD ${r.xadd_per_event}/event, ${r.xread_calls} XREAD calls)`);
    ctx.add({ scenario: 'bus', bus: r.bus, perSecond: r.events_per_s, notes, extra: { ...r, benchProcessCpuSeconds: cpuSeconds } });
  }
}
