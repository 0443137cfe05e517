/**
 * Profile (run only when named: --only profile). Two live steps with the relay
 * under the V8 sampling profiler, summarised by self time
 * (bench/profile-summary.ts) into bench/results/<timestamp>-profile.md:
 *
 * - fanout, 1,000 clients × 200 msg/s, relay started with `node --cpu-prof`
 *   (a node flag: NODE_OPTIONS refuses it), which profiles its whole life;
 * - both that step and filtered fanout (10,000 clients × own run_id, 1,000
 *   msg/s) also through bench/lib/profile-window.ts, which profiles only the
 *   measured step (not start-up and connection set-up).
 */
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gapsMarkdown, summaryMarkdown } from '../profile-summary.js';
import { LoadClients } from '../lib/children.js';
import { liveRow, liveStep, sleep, type BenchContext } from '../lib/context.js';
import { waitQuiet } from '../lib/quiet.js';

const WINDOW_HOOK = fileURLToPath(new URL('../lib/profile-window.ts', import.meta.url));

interface Target {
  name: string;
  clients: number;
  rate: number;
  path: (i: number) => string;
  runIdCount: number;
  perMessage: number;
  msgType: string;
  loadProcesses: number;
  /** Also profile the whole process life with --cpu-prof. */
  whole: boolean;
  /** Seconds of the same load before the profiled step, so the step sees optimised code (a long-running relay's state). */
  warmSeconds?: number;
}

const TARGETS: Target[] = [
  { name: 'fanout', clients: 1000, rate: 200, path: () => '/api/messages/stream/?msg_types=bench_fanout', runIdCount: 1, perMessage: 1000, msgType: 'bench_fanout', loadProcesses: 2, whole: true },
  { name: 'filtered', clients: 10_000, rate: 1000, path: (i) => `/api/messages/stream/?run_ids=f${i}`, runIdCount: 10_000, perMessage: 1, msgType: 'bench_filtered', loadProcesses: 4, whole: false },
  // The cost of a message before fanout: one client whose filter matches nothing (as the ingest-cost scenario).
  { name: 'ingest', clients: 1, rate: 1000, path: () => '/api/messages/stream/?msg_types=bench_matches_nothing', runIdCount: 100, perMessage: 0, msgType: 'bench_ingest_cost', loadProcesses: 1, whole: false, warmSeconds: 10 },
];

/** Runs one target; returns the markdown of its summaries. */
async function profileOne(ctx: BenchContext, t: Target, seconds: number): Promise<string> {
  const dir = path.join(ctx.resultsDir, `${ctx.stem}-profile-${t.name}`);
  mkdirSync(dir, { recursive: true });
  const nodeArgs = [...(t.whole ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []), '--import', WINDOW_HOOK];
  const store = process.env.BENCH_PROFILE_STORE === 'postgres' ? 'postgres' : 'sqlite';
  const relay = await ctx.relay({ store, bus: 'memory' }, { nodeArgs, env: { BENCH_PROFILE_DIR: dir } });
  const windowFile = path.join(dir, 'window.cpuprofile');
  try {
    const clients = await LoadClients.start(t.loadProcesses);
    try {
      const opened = await clients.open(relay.url, relay.token, Array.from({ length: t.clients }, (_, i) => t.path(i)), { concurrency: 50 });
      if (opened.opened !== t.clients) throw new Error(`only ${opened.opened} of ${t.clients} streams opened`);
      if (t.warmSeconds) await liveStep(ctx, relay, clients, { rate: t.rate, seconds: t.warmSeconds, msgType: t.msgType, runIdPrefix: 'warm', runIdCount: t.runIdCount, perMessage: t.perMessage });
      await waitQuiet(ctx);
      process.kill(relay.pid, 'SIGUSR2'); // start the window profile
      const r = await liveStep(ctx, relay, clients, { rate: t.rate, seconds, msgType: t.msgType, runIdPrefix: t.runIdCount > 1 ? 'f' : 'fanout', runIdCount: t.runIdCount, perMessage: t.perMessage });
      process.kill(relay.pid, 'SIGUSR2'); // stop it: window.cpuprofile
      for (let i = 0; i < 100 && !existsSync(windowFile); i++) await sleep(100);
      ctx.add(liveRow(`profile ${t.name}`, relay, t.clients, t.rate, r, ['relay under the V8 sampling profiler (slows it a little)'], r.cpu.other > 20));
    } finally {
      await clients.close();
    }
  } finally {
    await relay.stop();
  }
  const parts = [`## ${t.name}: ${t.clients.toLocaleString('en-US')} clients × ${t.rate} msg/s, ${seconds} s, ${store === 'postgres' ? 'PostgreSQL' : 'SQLite'} + in-memory bus\n`];
  // parseChunk (@stomp/stompjs) runs whenever the relay reads broker frames: its gaps are the relay not reading.
  if (existsSync(windowFile)) parts.push(`### The measured step only\n\n${summaryMarkdown(windowFile, 30)}\n${gapsMarkdown(windowFile, 'parseChunk')}`);
  // --cpu-prof writes one file per thread at exit; the relay's main thread writes the largest.
  const whole = readdirSync(dir)
    .filter((f) => f.startsWith('CPU.') && f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size)[0];
  if (whole) parts.push(`### Whole process life (--cpu-prof: start-up, ${t.clients} connects, the step, shutdown)\n\n${summaryMarkdown(whole, 20)}`);
  return parts.join('\n');
}

/**
 * Profiles each target (15 s; --quick 8 s) and writes bench/results/<stem>-profile.md.
 * BENCH_PROFILE_TARGETS=ingest,fanout profiles only those.
 */
export async function profile(ctx: BenchContext): Promise<void> {
  const seconds = ctx.quick ? 8 : 15;
  const only = process.env.BENCH_PROFILE_TARGETS?.split(',').filter(Boolean);
  const targets = only ? TARGETS.filter((t) => only.includes(t.name)) : TARGETS;
  if (targets.length === 0) throw new Error(`BENCH_PROFILE_TARGETS names no target; known: ${TARGETS.map((t) => t.name).join(', ')}`);
  const sections = ['# Relay CPU profiles\n'];
  for (const t of targets) sections.push(await profileOne(ctx, t, seconds));
  const text = sections.join('\n');
  writeFileSync(path.join(ctx.resultsDir, `${ctx.stem}-profile.md`), text);
  ctx.log(`profiles summarised in bench/results/${ctx.stem}-profile.md`);
}
