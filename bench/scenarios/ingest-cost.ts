/**
 * The relay's CPU per live message before fanout: 1,000 non-persistent msg/s with
 * one connected client whose filter matches nothing, on SQLite and on PostgreSQL
 * (in-memory bus). Reports µs of relay CPU per message (all its threads: the
 * kernel's per-process accounting) and the event loop's delay p99 over the step.
 * The measured step follows a warm-up step of the same load: a relay that has run
 * for a while has its per-message path optimised by V8, and that steady state is
 * what the target is about (a fresh process spends its first seconds in V8's
 * interpreter and compilers, ~15-25 % more CPU per message here).
 *
 * The relay's CPU is split by thread (main, busiest other: the SQLite writer on
 * SQLite, the rest: V8's helpers); a last row measures the relay's broker layer
 * alone (bench/broker-consumer.ts) under the same load: what receiving and
 * acknowledging the messages costs before any of the relay's own work.
 */
import { randomUUID } from 'node:crypto';
import { BrokerConsumerProcess, LoadClients } from '../lib/children.js';
import { LIVE_PERSISTENT, MESSAGE_BYTES, liveRow, liveStep, pollCount, waitIngested, type BenchContext } from '../lib/context.js';
import { describeLoopDelay, sampleLoopDelay } from '../lib/loop-delay.js';
import { measureUndisturbed } from '../lib/quiet.js';
import { CpuMeter, cpuMicrosPer, cpuSplit, threadSplit, threadTicks } from '../lib/proc.js';
import type { Variant } from '../lib/relay.js';

const RATE = 1000;
/** The issue-15 target, µs of relay CPU per message. */
const TARGET_US = 60;

export async function ingestCost(ctx: BenchContext): Promise<void> {
  const seconds = ctx.quick ? 5 : 10;
  const variants: Variant[] = [{ store: 'sqlite', bus: 'memory' }, { store: 'postgres', bus: 'memory' }];
  for (const variant of variants) {
    const relay = await ctx.relay(variant);
    try {
      const clients = await LoadClients.start(1);
      try {
        const opened = await clients.open(relay.url, relay.token, ['/api/messages/stream/?msg_types=bench_matches_nothing']);
        if (opened.opened !== 1) throw new Error(`the idle client did not connect: ${JSON.stringify(opened.failures)}`);
        let published = 0;
        const warm = await liveStep(ctx, relay, clients, { rate: RATE, seconds, msgType: 'bench_ingest_cost', runIdPrefix: 'w', runIdCount: 100, perMessage: 0 });
        published += warm.sent;
        await waitIngested(relay, published, 60_000);
        const warmUs = cpuMicrosPer(warm.cpu, warm.cpu.relay, warm.sent);
        const { result, notes, disturbed } = await measureUndisturbed(ctx, `ingest cost ${variant.store}`, async () => {
          const before = cpuSplit(relay.pid);
          const threadsBefore = threadTicks(relay.pid);
          const loop = sampleLoopDelay(relay);
          const r = await liveStep(ctx, relay, clients, { rate: RATE, seconds, msgType: 'bench_ingest_cost', runIdPrefix: 'c', runIdCount: 100, perMessage: 0 });
          const after = cpuSplit(relay.pid);
          const threads = threadSplit(relay.pid, threadsBefore, threadTicks(relay.pid));
          const lag = await loop.stop();
          // Ticks are 10 ms: per message, µs = ticks × 10,000 / messages.
          if (before && after && r.sent > 0) {
            const per = (ticks: number) => ((ticks * 10_000) / r.sent).toFixed(0);
            const busiest = variant.store === 'sqlite' ? 'busiest other thread (the SQLite writer)' : 'busiest other thread';
            r.notes.unshift(
              `of which user ${per(after.user - before.user)} µs, kernel ${per(after.system - before.system)} µs; ` +
                `by thread: main ${per(threads.main)} µs, ${busiest} ${per(threads.busiest)} µs, the rest (V8's helpers) ${per(threads.rest)} µs`,
            );
          }
          published += r.sent;
          if (!(await waitIngested(relay, published, 60_000))) r.notes.push('relay still behind the broker 60 s after the step');
          const us = cpuMicrosPer(r.cpu, r.cpu.relay, r.sent) ?? 0;
          r.notes.unshift(`${us.toFixed(0)} µs relay CPU per message; ${describeLoopDelay(lag)}`);
          return { ...r, us };
        });
        const warmNote = `after a ${seconds} s warm-up at the same rate (${warmUs === null ? '?' : warmUs.toFixed(0)} µs per message during it)`;
        const row = liveRow('ingest cost', relay, 1, RATE, result, ['one client connected, its filter matches nothing', warmNote, ...notes], disturbed);
        row.target = { text: `≤ ${TARGET_US} µs relay CPU per message at 1,000 msg/s`, met: result.us <= TARGET_US };
        ctx.add({ ...row, expected: undefined, delivered: undefined, perSecond: undefined });
      } finally {
        await clients.close();
      }
    } finally {
      await relay.stop();
    }
  }
  await brokerLayerAlone(ctx, seconds);
}

/** The relay's broker layer alone at RATE, after a warm-up: CPU per message received and acked. */
async function brokerLayerAlone(ctx: BenchContext, seconds: number): Promise<void> {
  const destination = `/topic/bench-broker-layer-${randomUUID().slice(0, 8)}`;
  const consumer = await BrokerConsumerProcess.start(ctx.broker.host, ctx.broker.port, destination);
  try {
    let published = 0;
    const step = async (runIdPrefix: string) => {
      const meter = new CpuMeter({ relay: [consumer.pid], load: [ctx.publisher.pid, process.pid], broker: ctx.brokerPid ? [ctx.brokerPid] : [] });
      const threadsBefore = threadTicks(consumer.pid);
      const pub = await ctx.publisher.publish({
        destination,
        count: RATE * seconds,
        rate: RATE,
        maxMs: seconds * 1500 + 5000,
        msgType: 'bench_ingest_cost',
        runIdPrefix,
        runIdCount: 100,
        size: MESSAGE_BYTES,
        persistent: LIVE_PERSISTENT,
        probe: false,
      });
      published += pub.sent;
      const received = (await pollCount(() => consumer.received(), published, 30_000)).last.count;
      const cpu = meter.stop();
      const threads = threadSplit(consumer.pid, threadsBefore, threadTicks(consumer.pid));
      return { cpu, sent: pub.sent, sentRate: pub.rate, received, published, threads };
    };
    const warm = await step('w');
    const warmUs = cpuMicrosPer(warm.cpu, warm.cpu.relay, warm.sent);
    const { result, notes, disturbed } = await measureUndisturbed(ctx, 'broker layer alone', () => step('c'));
    const us = cpuMicrosPer(result.cpu, result.cpu.relay, result.sent) ?? 0;
    const per = (ticks: number) => ((ticks * 10_000) / result.sent).toFixed(0);
    ctx.add({
      scenario: 'ingest cost',
      store: 'broker layer alone',
      clients: 0,
      rate: RATE,
      sentRate: Math.round(result.sentRate),
      sent: result.sent,
      cpu: result.cpu,
      disturbed,
      notes: [
        `${us.toFixed(0)} µs CPU per message: the relay's StompListener in a process of its own, acking what arrived every 10 ms as the relay acks a committed batch, nothing stored or validated`,
        `by thread: main ${per(result.threads.main)} µs, busiest other ${per(result.threads.busiest)} µs, the rest ${per(result.threads.rest)} µs`,
        `after a ${seconds} s warm-up at the same rate (${warmUs === null ? '?' : warmUs.toFixed(0)} µs per message during it)`,
        ...(result.received < result.published ? [`received ${result.received} of ${result.published}`] : []),
        ...notes,
      ],
    });
  } finally {
    await consumer.close();
  }
}
