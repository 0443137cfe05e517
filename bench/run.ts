/**
 * The benchmark suite of issue 8 (`npm run bench`):
 *
 *   node --import tsx bench/run.ts [--quick] [--only <scenario>[,<scenario>…]] [--write-docs]
 *                                  [--fanout <clients>x<rate>[,<rate>…][@<store>+<bus>]] [--relay-env NAME=VALUE]…
 *
 * Starts a private ActiveMQ, then per scenario a relay (`swf-relay start`,
 * its own process) on SQLite or PostgreSQL with the in-memory or Redis bus,
 * load clients in child processes and a STOMP publisher process; loopback only,
 * every step bounded in time. Scenarios: fanout, nchan (the relay and nchan,
 * Debian's nginx module, side by side), filtered, idle, ingest-cost,
 * store-commit, ingest, replay, bus (default: all), and profile (only when named: fanout and
 * filtered fanout with the relay under the V8 profiler, summarised). Writes
 * bench/results/<timestamp>.json and .md; --write-docs also puts the table
 * into docs/benchmarks.md. docs/benchmarks.md describes the method.
 * Environment: BENCH_PUBLISHER_NAGLE=1 (publisher without TCP_NODELAY),
 * BENCH_CHILD_PROFILE_DIR=<dir> (load clients and publisher under --cpu-prof).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startActiveMQ } from '../test/helpers/activemq.js';
import { sharedRedisUrl } from '../test/helpers/redis.js';
import { PublisherProcess } from './lib/children.js';
import type { BenchContext, FanoutOverride } from './lib/context.js';
import { findPid, openFileLimit } from './lib/proc.js';
import { startBenchRelay } from './lib/relay.js';
import { machineInfo, markdownTable, writeDocs, type Row } from './lib/report.js';
import { busScenario } from './scenarios/bus.js';
import { fanout } from './scenarios/fanout.js';
import { filtered } from './scenarios/filtered.js';
import { idle } from './scenarios/idle.js';
import { ingestCost } from './scenarios/ingest-cost.js';
import { nchan } from './scenarios/nchan.js';
import { profile } from './scenarios/profile.js';
import { ingest, replay } from './scenarios/store.js';
import { storeCommit } from './scenarios/store-commit.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RESULTS = path.join(ROOT, 'bench', 'results');
const DOCS = path.join(ROOT, 'docs', 'benchmarks.md');

/** Scenarios in run order; `profile` runs only when named. */
const SCENARIOS: Record<string, (ctx: BenchContext) => Promise<void>> = {
  fanout,
  nchan,
  filtered,
  idle,
  'ingest-cost': ingestCost,
  'store-commit': storeCommit,
  ingest,
  replay,
  bus: busScenario,
  profile,
};
const DEFAULT = ['fanout', 'nchan', 'filtered', 'idle', 'ingest-cost', 'store-commit', 'ingest', 'replay', 'bus'];

const USAGE = `usage: node --import tsx bench/run.ts [--quick] [--only ${Object.keys(SCENARIOS).join('|')}[,…]] [--write-docs]
       [--fanout <clients>x<rate>[,<rate>…][@sqlite|postgres+memory|redis]]   (one fanout ladder instead of the plan; implies --only fanout)
       [--relay-env NAME=VALUE]…   (extra relay configuration for every relay of the run, e.g. SSE_HEARTBEAT_SECONDS=0)`;

interface Args {
  quick: boolean;
  only: string[];
  writeDocs: boolean;
  fanout: FanoutOverride | null;
  relayEnv: Record<string, string>;
}

function parseArgs(argv: string[]): Args {
  const out: Args = { quick: false, only: DEFAULT, writeDocs: false, fanout: null, relayEnv: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') out.quick = true;
    else if (arg === '--fanout') {
      const m = /^(\d+)x([\d,]+)(?:@(sqlite|postgres)\+(memory|redis))?$/.exec(argv[++i] ?? '');
      if (!m) {
        console.error(USAGE);
        process.exit(2);
      }
      out.fanout = { clients: Number(m[1]), rates: m[2]!.split(',').map(Number), variant: { store: (m[3] ?? 'sqlite') as 'sqlite', bus: (m[4] ?? 'memory') as 'memory' } };
      out.only = ['fanout'];
    }
    else if (arg === '--write-docs') out.writeDocs = true;
    else if (arg === '--relay-env') {
      const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(argv[++i] ?? '');
      if (!m) {
        console.error(USAGE);
        process.exit(2);
      }
      out.relayEnv[m[1]!] = m[2]!;
    }
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      out.only = (value ?? '').split(',').filter(Boolean);
    } else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else {
      console.error(`unknown argument ${arg}`);
      process.exit(2);
    }
  }
  for (const name of out.only) {
    if (!(name in SCENARIOS)) {
      console.error(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(', ')}`);
      process.exit(2);
    }
  }
  return out;
}

function summaryLine(row: Row): string {
  const parts = [row.scenario, [row.store, row.bus].filter(Boolean).join('+')];
  if (row.clients !== undefined) parts.push(`${row.clients} clients`);
  if (row.rate !== undefined) parts.push(`${row.rate || 'max'} msg/s`);
  if (row.expected !== undefined) parts.push(`delivered ${row.delivered}/${row.expected}`);
  if (row.perSecond !== undefined) parts.push(`${row.perSecond}/s`);
  if (row.latency?.count) parts.push(`p50 ${row.latency.p50?.toFixed(1)} p99 ${row.latency.p99?.toFixed(1)} max ${row.latency.max?.toFixed(1)} ms`);
  if (row.cpu) parts.push(`cpu relay ${row.cpu.relay}% load ${row.cpu.load}% broker ${row.cpu.broker}% db ${row.cpu.services}% other ${row.cpu.other}%`);
  if (row.rssMb !== undefined) parts.push(`rss ${row.rssMb} MB`);
  if (row.disturbed) parts.push('DISTURBED');
  if (row.target) parts.push(`target ${row.target.met ? 'met' : 'MISSED'}`);
  if (row.notes.length) parts.push(`(${row.notes.join('; ')})`);
  return parts.filter(Boolean).join(' | ');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = new Date();
  const stem = started.toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
  mkdirSync(RESULTS, { recursive: true });
  const machine = machineInfo();
  const log = (message: string) => console.log(`[${((Date.now() - started.getTime()) / 1000).toFixed(0).padStart(4)} s] ${message}`);
  log(`swf-relay bench ${args.quick ? '--quick ' : ''}: ${args.only.join(', ')} on ${machine.cpus} × ${machine.cpuModel}, open-file limit ${openFileLimit()}`);

  const redisUrl = await sharedRedisUrl();
  const broker = await startActiveMQ();
  const brokerPid = findPid(`-Dactivemq.base=${broker.dataDir}`);
  const publisher = await PublisherProcess.start(broker.host, broker.port, process.env.BENCH_PUBLISHER_NAGLE !== '1');
  log(`ActiveMQ on ${broker.host}:${broker.port} (pid ${brokerPid}), shared Redis ${redisUrl}`);
  const rows: Row[] = [];
  /** Markdown sections scenarios add after the table (the nchan comparison). */
  const sections: string[] = [];
  const failures: string[] = [];
  const ctx: BenchContext = {
    quick: args.quick,
    planned: args.only,
    fanout: args.fanout,
    broker,
    brokerPid,
    publisher,
    redisUrl,
    resultsDir: RESULTS,
    stem,
    add(row) {
      rows.push(row);
      log(`  → ${summaryLine(row)}`);
    },
    addSection(markdown) {
      sections.push(markdown.trim());
    },
    log,
    relay: (variant, extra) => startBenchRelay({ broker, variant, redisUrl, nodeArgs: extra?.nodeArgs ?? [], env: { ...args.relayEnv, ...extra?.env } }),
  };
  try {
    for (const name of args.only) {
      log(`scenario ${name}`);
      try {
        await SCENARIOS[name]!(ctx);
      } catch (err) {
        failures.push(`${name}: ${(err as Error).message}`);
        log(`scenario ${name} FAILED: ${(err as Error).stack ?? String(err)}`);
      }
    }
  } finally {
    await publisher.close();
    await broker.stop();
  }

  const extraArgs = process.argv.slice(2).filter((a) => a !== '--quick' && a !== '--write-docs');
  const mode = `${args.quick ? '--quick' : 'full'}${extraArgs.length ? ` ${extraArgs.join(' ')}` : ''}`;
  const when = started.toISOString().replace(/\.\d+Z$/, 'Z');
  const table = markdownTable(rows, machine, when, mode);
  const seconds = Math.round((Date.now() - started.getTime()) / 1000);
  const md = `${table}\n${sections.map((s) => `${s}\n\n`).join('')}Total run time ${seconds} s.${failures.length ? `\n\nFailed scenarios:\n${failures.map((f) => `- ${f}`).join('\n')}` : ''}\n`;
  writeFileSync(path.join(RESULTS, `${stem}.json`), JSON.stringify({ started: when, mode, seconds, machine, rows, sections, failures }, null, 2));
  writeFileSync(path.join(RESULTS, `${stem}.md`), md);
  console.log(`\n${md}`);
  log(`wrote bench/results/${stem}.json and .md`);
  if (args.writeDocs) {
    writeDocs(DOCS, md, `node --import tsx bench/run.ts ${process.argv.slice(2).join(' ')}`.trim());
    log('updated docs/benchmarks.md');
  }
  process.exitCode = failures.length ? 1 : 0;
}

// Ctrl-C: exit through process.exit, so the exit hooks kill the relay, the broker and the children.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

await main();
