/**
 * Ingest and replay, on SQLite and on PostgreSQL.
 *
 * Ingest, live: N persistent messages published as fast as the broker
 * confirms them (a receipt window) while the relay consumes, timed from the
 * first SEND until the relay reports all N stored
 * (swf_relay_events_ingested_total counts committed rows; the relay acks to
 * the broker only after the commit). Publisher, broker and relay share the
 * cores here.
 *
 * Ingest, backlog: the relay is stopped, N persistent messages wait in its
 * durable subscription, the relay starts again; timed from its first metrics
 * sample after subscribing until all N are stored — broker → store alone.
 * The same backlog drained by the relay's broker layer alone
 * (bench/broker-consumer.ts: no store, acks every 10 ms) is what the broker
 * and a Node STOMP consumer allow on this machine, whatever the store does.
 *
 * Replay: a client connects with Last-Event-ID: 0 and no filter, and gets
 * every stored message (SSE_REPLAY_MAX is raised above N); timed from its
 * request to the last event, three times, median reported.
 */
import { randomUUID } from 'node:crypto';
import { BrokerConsumerProcess, LoadClients } from '../lib/children.js';
import { MESSAGE_BYTES, PERSISTENT, ingestedCount, pollCount, sleep, waitIngested, type BenchContext } from '../lib/context.js';
import { measureUndisturbed, waitQuiet } from '../lib/quiet.js';
import { nowMs } from '../lib/histogram.js';
import { CpuMeter, RssSampler, threadSplit, threadTicks, type CpuUse } from '../lib/proc.js';
import type { BenchRelay } from '../lib/relay.js';
import { relayNotes } from '../lib/relay-stats.js';
import type { Row } from '../lib/report.js';

const STORES = ['sqlite', 'postgres'] as const;
const REPLAY_RUNS = 3;
const INGEST_TIMEOUT_MS = 180_000;

/** Messages per ingest measurement (the replay then reads twice that: live + backlog). */
function messages(ctx: BenchContext): number {
  return ctx.quick ? 10_000 : 50_000;
}

function publishBulk(ctx: BenchContext, to: { destination: string }, count: number) {
  return ctx.publisher.publish({
    destination: to.destination,
    count,
    rate: 0,
    maxMs: INGEST_TIMEOUT_MS,
    msgType: 'bench_ingest',
    runIdPrefix: 'ingest-',
    runIdCount: 100,
    size: MESSAGE_BYTES,
    persistent: PERSISTENT,
    probe: false,
  });
}

/** Publishes `count` messages unpaced; resolves when the relay has stored them all (ingested total ≥ `base + count`). */
async function measureIngest(ctx: BenchContext, relay: BenchRelay, base: number, count: number) {
  const meter = new CpuMeter({ relay: [relay.pid], load: [ctx.publisher.pid, process.pid], broker: ctx.brokerPid ? [ctx.brokerPid] : [] });
  const rss = new RssSampler(relay.pid);
  const t0 = nowMs();
  const publishing = publishBulk(ctx, relay, count);
  const done = await waitIngested(relay, base + count, INGEST_TIMEOUT_MS, 50);
  const t1 = nowMs();
  const cpu = meter.stop();
  const pub = await publishing;
  return { done, seconds: (t1 - t0) / 1000, pub, cpu, rssMb: Math.round(rss.stop() / 1024) };
}

/** Live ingest; returns how many messages the store holds afterwards. */
async function runIngest(ctx: BenchContext, relay: BenchRelay, count: number): Promise<number> {
  let base = 0;
  const { result, notes, disturbed } = await measureUndisturbed(ctx, `ingest ${relay.variant.store}`, async () => {
    const r = await measureIngest(ctx, relay, base, count);
    base += count;
    return r;
  });
  const perSecond = Math.round(count / result.seconds);
  const row: Row = {
    scenario: 'ingest live',
    store: relay.variant.store,
    bus: relay.variant.bus,
    rate: 0,
    sentRate: Math.round(result.pub.rate),
    sent: result.pub.sent,
    perSecond: result.done ? perSecond : undefined,
    cpu: result.cpu,
    rssMb: result.rssMb,
    disturbed,
    notes: [
      `${count.toLocaleString('en-US')} persistent 1 KB messages stored in ${result.seconds.toFixed(1)} s (msg/s = stored/s, broker → store, ack after commit)`,
      `publisher done after ${((result.pub.confirmedAt - result.pub.startedAt) / 1000).toFixed(1)} s`,
      ...(result.done ? [] : [`not all stored within ${INGEST_TIMEOUT_MS / 1000} s`]),
      ...notes,
    ],
  };
  if (relay.variant.store === 'postgres') row.target = { text: '≥ 5,000 msg/s broker → PostgreSQL', met: result.done && perSecond >= 5000 };
  ctx.add(row);
  return base;
}

/** Backlog ingest: N messages queued for the stopped relay's durable subscription, drained after it starts. */
async function runBacklog(ctx: BenchContext, relay: BenchRelay, base: number, count: number): Promise<number> {
  await waitQuiet(ctx);
  await relay.halt();
  const pub = await publishBulk(ctx, relay, count);
  await relay.resume();
  const meter = new CpuMeter({ relay: [relay.pid], load: [process.pid], broker: ctx.brokerPid ? [ctx.brokerPid] : [] });
  const rss = new RssSampler(relay.pid);
  const scrapeBefore = await relay.scrape();
  const threadsBefore = threadTicks(relay.pid);
  const { first, last, done } = await pollCount(ingestedCount(relay), count, INGEST_TIMEOUT_MS);
  const cpu = meter.stop();
  const threads = threadSplit(relay.pid, threadsBefore, threadTicks(relay.pid));
  const commitNotes = relayNotes(scrapeBefore, await relay.scrape(), last.count - (scrapeBefore.value('swf_relay_events_ingested_total') ?? 0));
  const seconds = Math.max((last.at - first.at) / 1000, 0.001);
  // Ticks are 10 ms: % of one core = ticks / seconds.
  const pct = (ticks: number) => (ticks / seconds).toFixed(0);
  const perSecond = Math.round((last.count - first.count) / seconds);
  const row: Row = {
    scenario: 'ingest backlog',
    store: relay.variant.store,
    bus: relay.variant.bus,
    sent: pub.sent,
    perSecond: done ? perSecond : undefined,
    cpu,
    rssMb: Math.round(rss.stop() / 1024),
    disturbed: cpu.other > 20,
    notes: [
      `${count.toLocaleString('en-US')} persistent messages queued for the stopped relay (published at ${Math.round(pub.rate)}/s), then drained: ${(last.count - first.count).toLocaleString('en-US')} stored in ${seconds.toFixed(1)} s after the first sample (${first.count.toLocaleString('en-US')} were in before it)`,
      `relay threads: main ${pct(threads.main)} %, busiest other ${pct(threads.busiest)} %${relay.variant.store === 'sqlite' ? ' (the SQLite writer)' : ''}, the rest ${pct(threads.rest)} % of a core`,
      ...commitNotes,
      ...(done ? [] : [`not all stored within ${INGEST_TIMEOUT_MS / 1000} s`]),
      ...(relay.variant.store === 'postgres' ? [`issue 8's ≥ 5,000 msg/s broker → PostgreSQL: ${done && perSecond >= 5000 ? 'met' : 'missed'}`] : []),
    ],
  };
  row.target = { text: '≥ 25,000 msg/s broker → store, ack after commit (issue 15)', met: done && perSecond >= 25_000 };
  ctx.add(row);
  return base + count;
}

/** The backlog drain of the relay's broker layer alone: N messages queued for its durable subscription, then drained. */
async function runBacklogBrokerLayer(ctx: BenchContext, count: number): Promise<void> {
  const name = `bench-broker-layer-${randomUUID().slice(0, 8)}`;
  const destination = `/topic/${name}`;
  // Subscribe once so the broker keeps the durable subscription's messages while nobody is connected.
  await (await BrokerConsumerProcess.start(ctx.broker.host, ctx.broker.port, destination, name)).close();
  await waitQuiet(ctx);
  const pub = await publishBulk(ctx, { destination }, count);
  const consumer = await BrokerConsumerProcess.start(ctx.broker.host, ctx.broker.port, destination, name);
  try {
    const meter = new CpuMeter({ relay: [consumer.pid], load: [process.pid], broker: ctx.brokerPid ? [ctx.brokerPid] : [] });
    const { first, last, done } = await pollCount(() => consumer.received(), count, INGEST_TIMEOUT_MS);
    const cpu = meter.stop();
    const seconds = Math.max((last.at - first.at) / 1000, 0.001);
    ctx.add({
      scenario: 'ingest backlog',
      store: 'broker layer alone',
      sent: pub.sent,
      perSecond: done ? Math.round((last.count - first.count) / seconds) : undefined,
      cpu,
      disturbed: cpu.other > 20,
      notes: [
        `the relay's StompListener in a process of its own, nothing stored, acks every 10 ms; ${count.toLocaleString('en-US')} persistent messages queued for its durable subscription (published at ${Math.round(pub.rate)}/s), then drained: ${(last.count - first.count).toLocaleString('en-US')} received in ${seconds.toFixed(1)} s after the first sample (${first.count.toLocaleString('en-US')} before it)`,
        ...(done ? [] : [`not all received within ${INGEST_TIMEOUT_MS / 1000} s`]),
      ],
    });
  } finally {
    await consumer.close();
  }
}

async function replayOnce(relay: BenchRelay, clients: LoadClients, stored: number) {
  await clients.reset();
  const meter = new CpuMeter({ relay: [relay.pid], load: [...clients.pids, process.pid], broker: [] });
  const rss = new RssSampler(relay.pid, 100);
  const opened = await clients.open(relay.url, relay.token, ['/api/messages/stream/'], { headers: { 'last-event-id': '0' }, concurrency: 1 });
  if (opened.opened !== 1) throw new Error(`replay stream did not open: ${JSON.stringify(opened.failures)}`);
  const deadline = performance.now() + 120_000;
  let report = await clients.report();
  while (report.events < stored && performance.now() < deadline) {
    await sleep(20);
    report = await clients.report();
  }
  const cpu: CpuUse = meter.stop();
  const seconds = (report.lastAt - opened.startedAt) / 1000;
  return { events: report.events, seconds, perSecond: Math.round(report.events / seconds), cpu, rssMb: Math.round(rss.stop() / 1024), gaps: report.gaps };
}

/** Replays the `stored` messages of the relay's store to a client reconnecting with Last-Event-ID 0. */
async function runReplay(ctx: BenchContext, relay: BenchRelay, stored: number): Promise<void> {
  const clients = await LoadClients.start(1);
  try {
    const runs = [];
    await waitQuiet(ctx);
    for (let i = 0; i < REPLAY_RUNS; i++) runs.push(await replayOnce(relay, clients, stored));
    const sorted = [...runs].sort((a, b) => a.perSecond - b.perSecond);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    const row: Row = {
      scenario: 'replay',
      store: relay.variant.store,
      bus: relay.variant.bus,
      clients: 1,
      expected: stored,
      delivered: median.events,
      perSecond: median.perSecond,
      cpu: median.cpu,
      rssMb: Math.max(...runs.map((r) => r.rssMb)),
      disturbed: median.cpu.other > 20,
      target: { text: '≥ 50,000 events/s to a reconnecting client', met: median.events === stored && median.perSecond >= 50_000 },
      notes: [
        `Last-Event-ID: 0 over ${stored.toLocaleString('en-US')} stored messages; median of ${REPLAY_RUNS}: ${runs.map((r) => `${r.perSecond.toLocaleString('en-US')}/s in ${r.seconds.toFixed(2)} s`).join(', ')}`,
        ...(runs.some((r) => r.gaps > 0) ? ['gap events received'] : []),
      ],
      extra: { runs },
    };
    ctx.add(row);
  } finally {
    await clients.close();
  }
}

/** Ingest on each store; when replay is also planned, replay right after on the same relay (its store holds the messages). */
export async function ingest(ctx: BenchContext): Promise<void> {
  for (const store of STORES) {
    const relay = await ctx.relay({ store, bus: 'memory' });
    try {
      const live = await runIngest(ctx, relay, messages(ctx));
      // The relay restarts here: its counters (ingested_total) start again from 0.
      const stored = await runBacklog(ctx, relay, live, messages(ctx));
      if (ctx.planned.includes('replay')) await runReplay(ctx, relay, stored);
    } finally {
      await relay.stop();
    }
  }
  await runBacklogBrokerLayer(ctx, messages(ctx));
}

/** Replay on each store (seeded through the broker); nothing to do when ingest ran it already. */
export async function replay(ctx: BenchContext): Promise<void> {
  if (ctx.planned.includes('ingest')) return;
  for (const store of STORES) {
    const relay = await ctx.relay({ store, bus: 'memory' });
    try {
      const count = 2 * messages(ctx);
      await publishBulk(ctx, relay, count);
      if (!(await waitIngested(relay, count, INGEST_TIMEOUT_MS))) throw new Error(`the relay did not store ${count} messages in time`);
      await runReplay(ctx, relay, count);
    } finally {
      await relay.stop();
    }
  }
}
