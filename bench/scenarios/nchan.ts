/**
 * swf-relay and nchan (Debian's C nginx module) side by side: the same steps
 * (1,000 clients × 200 msg/s, 100 × 1,000), the same load clients, ~1 KB
 * messages and token-bucket pacing, each step run on the relay and then on
 * nchan back to back so both see the same machine. Compared: server CPU per
 * delivered event (the relay process; nginx master + worker), latency,
 * delivery. The publish paths differ: relay = STOMP → ActiveMQ → SQLite
 * commit → fanout; nchan = HTTP POST → nginx → fanout.
 */
import { LoadClients } from '../lib/children.js';
import { Histogram } from '../lib/histogram.js';
import { liveRow, liveStep, MESSAGE_BYTES, measureLive, waitIngested, type BenchContext, type LiveResult } from '../lib/context.js';
import { ensureNchanInstalled, startNchan, type NchanServer } from '../lib/nchan.js';
import { cpuMicrosPer } from '../lib/proc.js';
import { measureUndisturbed } from '../lib/quiet.js';
import type { BenchRelay } from '../lib/relay.js';

const MSG_TYPE = 'bench_nchan';
const STEPS = [
  { clients: 1000, rate: 200 },
  { clients: 100, rate: 1000 },
];
/** Unmeasured publishing before each side's step (cold code, fresh connections), as in fanout. */
const WARM_UP_SECONDS = 2;
/** Streams per load-client process, as in fanout. */
const STREAMS_PER_LOAD_PROCESS = 500;
/** What the rows call nchan in the "store + bus" column. */
const NCHAN_VARIANT = { store: 'nchan', bus: 'nginx 1 worker' };

type Step = (typeof STEPS)[number];

/** One side of one step. */
interface Side {
  result: LiveResult;
  disturbed: boolean;
  /** Server CPU per delivered event, µs (null if nothing was delivered). */
  us: number | null;
}

/** CPU of a role (% of one core over the step; default the server's, the `relay` role) per delivered event, µs. */
function microsPerEvent(r: LiveResult, percent = r.cpu.relay): number | null {
  return cpuMicrosPer(r.cpu, percent, r.delivered);
}

/**
 * The load generator's share: on two shared cores the load clients compete
 * with the server, and what they pay per event depends on how the server
 * writes (one message per read from nchan, batches from the relay).
 */
const loadNote = (r: LiveResult) => `load clients + publisher: ${fmtUs(microsPerEvent(r, r.cpu.load))} µs CPU per delivered event`;

/** Forks load clients for `count` streams, opens them with `open` (all must open), runs `body`, then closes the clients. */
async function withClients<T>(count: number, open: (clients: LoadClients) => Promise<{ opened: number; failures: Record<string, number> }>, body: (clients: LoadClients) => Promise<T>): Promise<T> {
  const clients = await LoadClients.start(Math.ceil(count / STREAMS_PER_LOAD_PROCESS));
  try {
    const opened = await open(clients);
    if (opened.opened !== count) throw new Error(`only ${opened.opened} of ${count} streams opened: ${JSON.stringify(opened.failures)}`);
    return await body(clients);
  } finally {
    await clients.close();
  }
}

/** The relay side of a step: what the fanout scenario does for one rate. */
async function relaySide(ctx: BenchContext, relay: BenchRelay, step: Step, seconds: number, ingested: { total: number }): Promise<Side> {
  const paths = Array.from({ length: step.clients }, () => `/api/messages/stream/?msg_types=${MSG_TYPE}`);
  return withClients(step.clients, (clients) => clients.open(relay.url, relay.token, paths), async (clients) => {
    const live = (rate: number, s: number) => liveStep(ctx, relay, clients, { rate, seconds: s, msgType: MSG_TYPE, runIdPrefix: 'nchan', runIdCount: 1, perMessage: step.clients });
    ingested.total += (await live(Math.min(step.rate, 200), WARM_UP_SECONDS)).sent;
    const { result, notes, disturbed } = await measureUndisturbed(ctx, `relay ${step.clients} × ${step.rate} msg/s`, async () => {
      const r = await live(step.rate, seconds);
      ingested.total += r.sent;
      if (!(await waitIngested(relay, ingested.total, 60_000))) r.notes.push('relay still behind the broker 60 s after the step');
      return r;
    });
    const us = microsPerEvent(result);
    ctx.add(liveRow('nchan', relay, step.clients, step.rate, result, [`relay side: ${fmtUs(us)} µs relay CPU per delivered event; ${loadNote(result)}`, ...notes], disturbed));
    return { result, disturbed, us };
  });
}

/** One measured nchan step: HTTP POSTs to `channel`, CPU of nginx's master and worker. */
async function nchanStep(ctx: BenchContext, server: NchanServer, clients: LoadClients, channel: string, rate: number, seconds: number, perMessage: number): Promise<LiveResult> {
  await clients.reset();
  const problems = server.problems().length;
  const { result, pub } = await measureLive(ctx, clients, { pids: server.pids, rssPid: server.workerPid }, perMessage, () =>
    ctx.publisher.publishHttp({ url: server.publishUrl(channel), count: Math.round(rate * seconds), rate, maxMs: seconds * 1500 + 5000, msgType: MSG_TYPE, runIdPrefix: 'nchan', runIdCount: 1, size: MESSAGE_BYTES }),
  );
  if (pub.answered && pub.answered.count > 0) {
    const h = new Histogram();
    h.merge(pub.answered);
    const a = h.summary();
    result.notes.unshift(`publish path alone (POST made → answered, in the publisher): p50 ${fmtMs(a.p50)} / p99 ${fmtMs(a.p99)} / max ${fmtMs(a.max)} ms`);
  }
  const failed = Object.entries(pub.failures ?? {});
  if (failed.length) result.notes.unshift(`publish failures ${failed.map(([k, v]) => `${k}×${v}`).join(', ')} (not counted as sent)`);
  const logged = server.problems().slice(problems);
  if (logged.length) result.notes.unshift(`nginx logged ${logged.length} error line(s), last: ${logged.at(-1)!.slice(0, 200)}`);
  return result;
}

/** The nchan side of a step: same clients, pacing and message size, its own channel. */
async function nchanSide(ctx: BenchContext, server: NchanServer, step: Step, seconds: number, channel: string): Promise<Side> {
  const paths = Array.from({ length: step.clients }, () => server.subscribePath(channel));
  // No token: the load clients send no Authorization header, only Accept: text/event-stream.
  return withClients(step.clients, (clients) => clients.open(server.url, '', paths), async (clients) => {
    await nchanStep(ctx, server, clients, channel, Math.min(step.rate, 200), WARM_UP_SECONDS, step.clients);
    const { result, notes, disturbed } = await measureUndisturbed(ctx, `nchan ${step.clients} × ${step.rate} msg/s`, () => nchanStep(ctx, server, clients, channel, step.rate, seconds, step.clients));
    const us = microsPerEvent(result);
    const row = liveRow('nchan', { variant: NCHAN_VARIANT }, step.clients, step.rate, result, [
      `nchan side: ${fmtUs(us)} µs nginx CPU per delivered event; ${loadNote(result)}; "relay CPU %" and "relay RSS" are nginx's (master + worker; RSS of the worker); HTTP POST → nginx → fanout, no broker in the path`,
      ...notes,
    ], disturbed);
    ctx.add(row);
    return { result, disturbed, us };
  });
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const fmtUs = (us: number | null) => (us === null ? '–' : us < 10 ? fmt(us, 2) : fmt(us, 1));
const fmtMs = (v: number | null) => (v === null ? '–' : v < 10 ? fmt(v, 1) : fmt(v));
const pct = (r: LiveResult) => (r.expected > 0 ? `${fmt((100 * r.delivered) / r.expected, r.delivered === r.expected ? 0 : 1)} %` : '–');
const lat = (r: LiveResult) => `${fmtMs(r.latency.p50)} / ${fmtMs(r.latency.p99)}`;
const flag = (s: Side) => (s.disturbed ? ' ⚠' : '');

/** The side-by-side markdown table. */
function comparison(pairs: { step: Step; seconds: number; relay: Side; nchan: Side }[], versions: string): string {
  const lines = [
    '### swf-relay vs nchan',
    '',
    `Same load clients, ~${MESSAGE_BYTES} B messages and pacing; each step on the relay (SQLite + in-memory bus) and then on nchan (${versions}; \`worker_processes 1\`, memory store). ` +
      'µs CPU/event: the server processes\' CPU (utime + stime: the relay process; nginx master + worker) over the step ÷ delivered events. ' +
      'Publish paths differ: relay = STOMP → ActiveMQ → SQLite commit → fanout (ActiveMQ\'s CPU is not in the relay\'s figure); nchan = HTTP POST → nginx → fanout. ' +
      'Latency is publish stamp → load-client receipt, ms. ⚠ = other processes used the CPU meanwhile.',
    '',
    '| step | nchan µs CPU/event | relay µs CPU/event | ratio relay/nchan | nchan p50/p99 ms | relay p50/p99 ms | delivered nchan / relay |',
    '|---|---:|---:|---:|---|---|---|',
  ];
  for (const { step, seconds, relay, nchan } of pairs) {
    const ratio = relay.us !== null && nchan.us !== null && nchan.us > 0 ? `${fmt(relay.us / nchan.us, 1)}×` : '–';
    lines.push(
      `| ${fmt(step.clients)} clients × ${fmt(step.rate)} msg/s, ${seconds} s | ${fmtUs(nchan.us)}${flag(nchan)} | ${fmtUs(relay.us)}${flag(relay)} | ${ratio} | ${lat(nchan.result)} | ${lat(relay.result)} | ${pct(nchan.result)} / ${pct(relay.result)} |`,
    );
  }
  return lines.join('\n');
}

/** Runs every step on the relay, then on nchan; adds the rows and the comparison table. */
export async function nchan(ctx: BenchContext): Promise<void> {
  ensureNchanInstalled(ctx.log);
  const seconds = ctx.quick ? 5 : 10;
  const server = await startNchan();
  const pairs: { step: Step; seconds: number; relay: Side; nchan: Side }[] = [];
  try {
    ctx.log(`  nchan: ${server.versions} on ${server.url} (pids ${server.pids.join(', ')})`);
    const relay = await ctx.relay({ store: 'sqlite', bus: 'memory' });
    try {
      const ingested = { total: 0 };
      for (const [n, step] of STEPS.entries()) {
        const relaySideResult = await relaySide(ctx, relay, step, seconds, ingested);
        // A fresh channel per step: no message of an earlier step is in its buffer.
        const nchanSideResult = await nchanSide(ctx, server, step, seconds, `bench${n}`);
        pairs.push({ step, seconds, relay: relaySideResult, nchan: nchanSideResult });
      }
    } finally {
      await relay.stop();
    }
  } finally {
    await server.stop();
    // Whatever was measured goes into the results, even if a later step failed.
    if (pairs.length > 0) ctx.addSection(comparison(pairs, server.versions));
  }
}
