/**
 * The soak of issue 16 (`npm run soak -- --minutes N`, default 30): steady
 * mixed load on a small cluster for N minutes, sampling what would betray a
 * leak, then a verdict per metric.
 *
 *   node --import tsx bench/soak.ts [--minutes 30] [--rate 100] [--readers 10] [--churners 20] [--sample-seconds 10]
 *
 * Topology, all private and on loopback: ActiveMQ, Redis, a fresh PostgreSQL
 * database, one `swf-relay listen` and two `swf-relay serve` on the Redis bus.
 * Load: persistent STOMP messages in the testbed's shapes at a steady rate;
 * long-lived readers that must receive every matching message once; churners
 * that come and go with random filters, sometimes resuming with Last-Event-ID;
 * a history and a status call every few seconds. Prints a table per metric
 * (first, last, max, slope per hour after the warm-up, verdict) and writes the
 * samples as JSON under a temp dir. Exits 1 on any loss, duplicate, failed
 * call, dead process or growing metric. docs/benchmarks.md ("Soak") explains it.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startActiveMQ } from '../test/helpers/activemq.js';
import { createTestDatabase } from '../test/helpers/postgres.js';
import { startPrivateRedis } from '../test/helpers/redis.js';
import { makeToken } from '../test/helpers/relay.js';
import { openFileLimit, rssKb } from './lib/proc.js';
import { spawnRelay, type RelayChild } from './lib/relay-process.js';
import { machineInfo } from './lib/report.js';
import { Churners, Reader, READER_FILTERS } from './lib/soak-clients.js';
import { SteadyPublisher } from './lib/soak-publish.js';
import { trend, trendTable, type Metric } from './lib/soak-report.js';
import { takeSample, type Sample } from './lib/soak-sample.js';
import { filterQuery, SoakTraffic } from './lib/soak-traffic.js';
import { connectProducer } from './lib/stomp-producer.js';

const USAGE = 'usage: npm run soak -- [--minutes 30] [--rate 100] [--readers 10] [--churners 20] [--sample-seconds 10]';

interface Args {
  minutes: number;
  rate: number;
  readers: number;
  churners: number;
  sampleSeconds: number;
}

function parseArgs(argv: string[]): Args {
  const out: Args = { minutes: 30, rate: 100, readers: 10, churners: 20, sampleSeconds: 10 };
  const keys: Record<string, keyof Args> = { '--minutes': 'minutes', '--rate': 'rate', '--readers': 'readers', '--churners': 'churners', '--sample-seconds': 'sampleSeconds' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    if (flag === '--help' || flag === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    const key = keys[flag];
    const value = Number(inline ?? argv[++i]);
    if (!key || !Number.isFinite(value) || value <= 0 || (key !== 'minutes' && !Number.isInteger(value))) {
      console.error(`bad argument ${argv[i]}\n${USAGE}`);
      process.exit(2);
    }
    out[key] = value;
  }
  return out;
}

/** Seconds of warm-up excluded from the slopes: the first 20 % of the run, at least one minute. */
const warmUpSeconds = (minutes: number) => Math.max(60, minutes * 60 * 0.2);
/** Longest wait for the readers to catch up after the last message, and the whole run's bound beyond its minutes. */
const DRAIN_MS = 120_000;
const OVERRUN_MS = 10 * 60_000;
/** A history and a status call this often. */
const API_EVERY_MS = 5_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The judged and reported series; tolerances are per hour, floors absorb a short run's noise. */
function metrics(processNames: readonly string[]): Metric[] {
  const perProcess = processNames.flatMap((name): Metric[] => [
    { name: `${name} RSS`, unit: 'MB', value: (s) => s.processes[name]?.rssMb ?? null, perHour: 20, floor: 10 },
    { name: `${name} open fds`, unit: 'fds', value: (s) => s.processes[name]?.fds ?? null, perHour: 20, floor: 10 },
  ]);
  return [
    ...perProcess,
    { name: 'clients in the status endpoint', unit: 'clients', value: (s) => s.statusClients, perHour: 20, floor: 10 },
    { name: 'clients the soak holds open', unit: 'clients', value: (s) => s.heldClients, perHour: null, floor: 0 },
    { name: 'relay keys in Redis', unit: 'keys', value: (s) => s.relayKeys, perHour: 5, floor: 3 },
    { name: 'registry keys in Redis', unit: 'keys', value: (s) => s.registryKeys, perHour: 5, floor: 3 },
    { name: 'Redis used_memory', unit: 'MB', value: (s) => s.redisUsedMb, perHour: null, floor: 0 },
    { name: 'bus stream (bounded by MAXLEN ~100,000)', unit: 'entries', value: (s) => s.busStreamLength, perHour: null, floor: 0 },
    { name: 'Redis used_memory less the bus stream', unit: 'MB', value: (s) => (s.redisUsedMb === null || s.busStreamMb === null ? null : +(s.redisUsedMb - s.busStreamMb).toFixed(2)), perHour: 10, floor: 3 },
    { name: 'readers: matching messages not yet received', unit: 'msgs', value: (s) => s.readersExpected - s.readersDelivered, perHour: 500, floor: 500 },
  ];
}

/** A history page or a status answer from a random web process, every API_EVERY_MS; failures by reason. */
function apiCalls(urls: readonly string[], token: string, traffic: SoakTraffic) {
  const calls = { history: 0, status: 0, failures: {} as Record<string, number> };
  const call = async (kind: 'history' | 'status', url: string) => {
    try {
      const res = await fetch(url, { headers: { Authorization: `Token ${token}` }, signal: AbortSignal.timeout(30_000) });
      const body = (await res.json()) as { results?: unknown[]; connected_clients?: number };
      if (!res.ok || (kind === 'history' ? !Array.isArray(body.results) : typeof body.connected_clients !== 'number')) throw new Error(`${kind} HTTP ${res.status}`);
      calls[kind]++;
    } catch (err) {
      const key = (err as Error).message;
      calls.failures[key] = (calls.failures[key] ?? 0) + 1;
    }
  };
  const timer = setInterval(() => {
    const base = urls[Math.floor(Math.random() * urls.length)]!;
    const filters = [{}, { run_ids: String(traffic.currentRun - 1) }, { msg_types: 'end_run' }, { agents: 'data-agent-soak-3', limit: '500' }];
    void call('history', `${base}/api/messages/${filterQuery(filters[Math.floor(Math.random() * filters.length)]!)}`);
    void call('status', `${base}/api/messages/stream/status/`);
  }, API_EVERY_MS);
  return { calls, stop: () => clearInterval(timer) };
}

/** Cleanups, run newest first. */
type Cleanups = (() => Promise<unknown>)[];
type Log = (message: string) => void;

/** The cluster under soak. */
interface Cluster {
  broker: { host: string; port: number };
  redisUrl: string;
  tag: string;
  token: string;
  relays: [string, RelayChild][];
  webUrls: string[];
}

/** Starts ActiveMQ, Redis, a fresh database, one listener and two web processes. */
async function startCluster(cleanups: Cleanups, log: Log): Promise<Cluster> {
  const broker = await startActiveMQ();
  cleanups.unshift(() => broker.stop());
  const redis = await startPrivateRedis();
  cleanups.unshift(() => redis.stop());
  const db = await createTestDatabase();
  cleanups.unshift(() => db.drop());
  const tag = `soak-${randomUUID().slice(0, 8)}`;
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    SSE_CHANNEL_GROUP: tag,
    ACTIVEMQ_HOST: broker.host,
    ACTIVEMQ_PORT: String(broker.port),
    ACTIVEMQ_HEARTBEAT_TOPIC: tag,
    ACTIVEMQ_CLIENT_ID: tag,
    ACTIVEMQ_SUBSCRIPTION_NAME: tag,
    LOG_LEVEL: 'warn',
    SSE_MAX_STREAMS_PER_USER: '100000',
    // Every client connects from 127.0.0.1: no per-address connect-rate limit.
    SSE_CONNECTS_PER_MINUTE: '0',
  };
  const token = await makeToken(env, 'soak');
  const relays: [string, RelayChild][] = [];
  cleanups.unshift(() => Promise.all(relays.map(([, r]) => r.stop())));
  const listener = await spawnRelay(env, token, [], 'listen');
  relays.push(['listen', listener]);
  try {
    // A web process answers only once the listener's registry snapshot says it is subscribed.
    relays.push(['serve-a', await spawnRelay(env, token, [], 'serve')]);
    relays.push(['serve-b', await spawnRelay(env, token, [], 'serve')]);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nthe listener printed:\n${listener.output().slice(-4000)}`);
  }
  log(`ActiveMQ ${broker.host}:${broker.port}, Redis ${redis.url}, PostgreSQL database ${new URL(db.url).pathname.slice(1)}; ${relays.map(([n, r]) => `${n} pid ${r.pid}`).join(', ')}`);
  return { broker, redisUrl: redis.url, tag, token, relays, webUrls: relays.slice(1).map(([, r]) => r.url) };
}

/** What the load left to judge. */
interface LoadOutcome {
  samples: Sample[];
  readers: Reader[];
  churners: Churners;
  api: ReturnType<typeof apiCalls>['calls'];
  publisher: SteadyPublisher;
}

/** Runs the load for args.minutes, sampling every args.sampleSeconds; then stops it and lets the readers drain. */
async function runLoad(cluster: Cluster, args: Args, cleanups: Cleanups, log: Log): Promise<LoadOutcome> {
  const { token, webUrls, tag } = cluster;
  const traffic = new SoakTraffic();
  const readers = Array.from({ length: args.readers }, (_, n) => new Reader(READER_FILTERS[n % READER_FILTERS.length]!, webUrls[n % webUrls.length]!, traffic.sent));
  cleanups.unshift(async () => readers.forEach((r) => r.close()));
  await Promise.all(readers.map((r) => r.connect(token)));
  const producer = await connectProducer(cluster.broker.host, cluster.broker.port, true);
  cleanups.unshift(() => producer.close());
  const churners = new Churners({ count: args.churners, urls: webUrls, token, sent: traffic.sent, currentRun: () => traffic.currentRun, staySeconds: [2, 8], resumeChance: 0.3 });
  const redis = new Redis(cluster.redisUrl, { maxRetriesPerRequest: 2 });
  cleanups.unshift(async () => redis.disconnect());

  const loadStart = Date.now();
  const publisher = new SteadyPublisher(producer, `/topic/${tag}`, args.rate, traffic, (m) => readers.forEach((r) => r.published(m)));
  churners.start();
  const api = apiCalls(webUrls, token, traffic);
  const samples: Sample[] = [];
  const watched = cluster.relays.map(([name, r]) => ({ name, pid: r.pid }));
  const sample = async () => {
    const base = await takeSample({ t: Math.round((Date.now() - loadStart) / 1000), processes: watched, statusUrl: `${webUrls[0]}/api/messages/stream/status/`, token, redis, keyTag: `{swf-relay:${tag}}` });
    const tally = readers.map((r) => r.tally());
    const s: Sample = { ...base, published: publisher.sent, heldClients: readers.filter((r) => r.open).length + churners.openNow, readersDelivered: tally.reduce((a, t) => a + t.delivered, 0), readersExpected: tally.reduce((a, t) => a + t.expected, 0) };
    samples.push(s);
    const procs = Object.entries(s.processes).map(([n, p]) => `${n} ${p.rssMb ?? '✝'} MB/${p.fds ?? '✝'} fds`).join(', ');
    log(`t=${s.t}s sent ${s.published}; ${procs}; clients ${s.statusClients} listed / ${s.heldClients} held; keys ${s.relayKeys}; Redis ${s.redisUsedMb} MB (stream ${s.busStreamLength} entries, ${s.busStreamMb} MB); readers ${s.readersDelivered}/${s.readersExpected}`);
  };
  const endAt = loadStart + args.minutes * 60_000;
  for (let next = loadStart + args.sampleSeconds * 1000; next <= endAt; next += args.sampleSeconds * 1000) {
    await sleep(next - Date.now());
    await sample();
  }
  await sleep(endAt - Date.now());

  log('load over: stopping the publisher and the churners, draining the readers');
  api.stop();
  await publisher.stop();
  await churners.stop();
  let progress = Date.now();
  let delivered = -1;
  const drainEnd = Date.now() + DRAIN_MS;
  while (Date.now() < drainEnd && Date.now() - progress < 30_000 && readers.some((r) => r.delivered < r.expected)) {
    await sleep(500);
    const now = readers.reduce((a, r) => a + r.delivered + r.duplicates, 0);
    if (now !== delivered) [delivered, progress] = [now, Date.now()];
  }
  return { samples, readers, churners, api: api.calls, publisher };
}

/** Prints the tables, writes the JSON, and returns what failed. */
function report(cluster: Cluster, args: Args, load: LoadOutcome, extra: Record<string, unknown>): string[] {
  const failures: string[] = [];
  const { samples, readers, churners, api, publisher } = load;
  const names = cluster.relays.map(([name]) => name);
  const warmUp = warmUpSeconds(args.minutes);
  const trends = metrics(names).map((m) => trend(m, samples, warmUp));
  console.log(`\nSoak ${args.minutes} min at ${args.rate} msg/s (${publisher.sent} messages), ${samples.length} samples every ${args.sampleSeconds} s; slopes over the samples after ${warmUp} s.\n`);
  console.log(trendTable(trends));
  for (const t of trends) if (t.verdict === 'GROWS') failures.push(`${t.name} grows ${t.slopePerHour} ${t.unit}/h (tolerance ${t.tolerance})`);

  const web = (r: Reader) => cluster.relays[1 + cluster.webUrls.indexOf(r.url)]![0];
  console.log('\n| reader | web process | expected | delivered once | lost | duplicates | not matching | gaps | shutdowns |\n|---|---|---|---|---|---|---|---|---|');
  for (const [n, r] of readers.entries()) {
    const t = r.tally();
    const lost = t.expected - t.delivered;
    const name = filterQuery(r.filter) || '(no filter)';
    console.log(`| ${name} | ${web(r)} | ${t.expected} | ${t.delivered} | ${lost} | ${t.duplicates} | ${t.unexpected} | ${t.gaps} | ${t.shutdowns} |`);
    if (lost || t.duplicates || t.unexpected || t.gaps || !r.open) failures.push(`reader ${n} ${name}: ${lost} lost, ${t.duplicates} duplicates, ${t.unexpected} not matching, ${t.gaps} gaps${r.open ? '' : ', stream closed'}`);
  }
  const c = churners.total;
  console.log(`\nChurners: ${churners.sessions} sessions (${churners.resumes} resumed with Last-Event-ID) in ${churners.chains} chains; ${c.expected - c.delivered} of ${c.expected} owed messages missing, ${c.duplicates} duplicates, ${c.unexpected} not matching, ${c.gaps} gaps; ${churners.badChains} bad chains; connect failures ${JSON.stringify(churners.failures)}`);
  for (const b of churners.bad) console.log(`  bad chain: ${b}`);
  if (churners.badChains || Object.keys(churners.failures).length) failures.push(`churners: ${churners.badChains} bad chains, connect failures ${JSON.stringify(churners.failures)}`);
  console.log(`API calls: ${api.history} history pages, ${api.status} status answers, failures ${JSON.stringify(api.failures)}; publisher waited on receipts in ${publisher.stalledTicks} ticks`);
  if (Object.keys(api.failures).length) failures.push(`API call failures ${JSON.stringify(api.failures)}`);
  if (publisher.error) failures.push(`publisher: ${publisher.error.message}`);
  for (const [name, r] of cluster.relays) if (rssKb(r.pid) === null) failures.push(`${name} (pid ${r.pid}) died:\n${r.output().slice(-2000)}`);

  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'swf-relay-soak-')), 'samples.json');
  const readerTallies = readers.map((r) => ({ filter: r.filter, web: web(r), ...r.tally() }));
  const churn = { sessions: churners.sessions, resumes: churners.resumes, chains: churners.chains, ...c, badChains: churners.badChains, bad: churners.bad, failures: churners.failures };
  writeFileSync(file, JSON.stringify({ ...extra, args, warmUpSeconds: warmUp, published: publisher.sent, samples, trends, readers: readerTallies, churners: churn, api, failures }, null, 2));
  console.log(`\nSamples: ${file}`);
  return failures;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const log: Log = (message) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${message}`);
  // Whatever hangs, the run ends: the exit hooks kill the relays, Redis and the broker.
  setTimeout(() => {
    log(`soak still running ${OVERRUN_MS / 60_000} min past its ${args.minutes} minutes: giving up`);
    process.exit(1);
  }, args.minutes * 60_000 + OVERRUN_MS).unref();
  const machine = machineInfo();
  log(`swf-relay soak: ${args.minutes} min, ${args.rate} msg/s, ${args.readers} readers, ${args.churners} churners, on ${machine.cpus} × ${machine.cpuModel}, open-file limit ${openFileLimit()}`);
  const cleanups: Cleanups = [];
  let failures: string[];
  try {
    const cluster = await startCluster(cleanups, log);
    const load = await runLoad(cluster, args, cleanups, log);
    failures = report(cluster, args, load, { started: new Date(started).toISOString(), machine });
  } catch (err) {
    failures = [`soak aborted: ${(err as Error).stack ?? String(err)}`];
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
  }
  const seconds = Math.round((Date.now() - started) / 1000);
  console.log(failures.length ? `\nFAILED (${seconds} s):\n${failures.map((f) => `- ${f}`).join('\n')}` : `\nPASSED: no loss, no duplicates, every judged metric flat (${seconds} s).`);
  return failures.length ? 1 : 0;
}

// Ctrl-C: exit through process.exit, so the exit hooks kill the relays, Redis and the broker.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

process.exit(await main());
