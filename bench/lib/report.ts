/**
 * Results: one row per measurement, the machine it ran on, the markdown
 * table, and the copy of that table in docs/benchmarks.md (between markers,
 * so hand-written notes around it survive --write-docs).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import type { LatencySummary } from './histogram.js';
import { loadNice } from './children.js';
import type { CpuUse } from './proc.js';

/** One measured step of a scenario. */
export interface Row {
  scenario: string;
  store?: string;
  bus?: string;
  /** Streams connected during the step. */
  clients?: number;
  /** Set publish rate, msg/s (0 = as fast as the broker takes them). */
  rate?: number;
  /** Achieved publish rate, msg/s. */
  sentRate?: number;
  sent?: number;
  expected?: number;
  delivered?: number;
  /** Delivered events per second (or stored msg/s for ingest, replayed events/s for replay). */
  perSecond?: number;
  latency?: LatencySummary;
  cpu?: CpuUse;
  /** Largest relay RSS sampled, MB. */
  rssMb?: number;
  /** The issue's target this row checks (issue 8 or 15), and whether it was met. */
  target?: { text: string; met: boolean };
  /** CPU of processes outside the run was high: the numbers may be disturbed. */
  disturbed?: boolean;
  notes: string[];
  /** Anything else worth keeping in the JSON (series, raw reports). */
  extra?: Record<string, unknown>;
}

/** What the table header says about the machine. */
export interface Machine {
  cpuModel: string;
  cpus: number;
  memoryGb: number;
  node: string;
  kernel: string;
  os: string;
  openFileLimit: string;
}

/** This machine: CPU model and count, memory, OS, kernel, Node, open-file limit. */
export function machineInfo(): Machine {
  const cpus = os.cpus();
  let prettyOs = `${os.type()} ${os.release()}`;
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m) prettyOs = m[1]!;
  } catch {
    // not Linux, or no os-release: keep the kernel name
  }
  let limit = 'unknown';
  try {
    limit = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  } catch {
    // keep unknown
  }
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
    memoryGb: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    os: prettyOs,
    openFileLimit: limit,
  };
}

const fmt = (n: number | null | undefined, digits = 0): string =>
  n === null || n === undefined || Number.isNaN(n) ? '–' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

const ms = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : n < 10 ? fmt(n, 1) : fmt(n));

function rowCells(r: Row): string[] {
  const delivered =
    r.expected !== undefined && r.delivered !== undefined
      ? `${fmt(r.delivered)} / ${fmt(r.expected)} (${r.expected ? fmt((100 * r.delivered) / r.expected, r.delivered === r.expected ? 0 : 1) : '–'} %)`
      : '–';
  const rate = r.rate === undefined ? '–' : `${r.rate === 0 ? 'max' : fmt(r.rate)}${r.sentRate !== undefined ? ` → ${fmt(r.sentRate)}` : ''}`;
  const lat = r.latency && r.latency.count > 0 ? `${ms(r.latency.p50)} / ${ms(r.latency.p99)} / ${ms(r.latency.max)}` : '–';
  const cpu = r.cpu ? `${fmt(r.cpu.relay)}` : '–';
  const others = r.cpu ? `${fmt(r.cpu.load)} / ${fmt(r.cpu.broker)} / ${fmt(r.cpu.services)} / ${fmt(r.cpu.other)}` : '–';
  const target = r.target ? `${r.target.met ? 'met' : '**missed**'}: ${r.target.text}` : '';
  const notes = [...(r.disturbed ? ['⚠ disturbed (other CPU high)'] : []), ...r.notes].join('; ');
  return [
    r.scenario,
    [r.store, r.bus].filter(Boolean).join(' + ') || '–',
    r.clients === undefined ? '–' : fmt(r.clients),
    rate,
    delivered,
    r.perSecond === undefined ? '–' : fmt(r.perSecond),
    lat,
    cpu,
    r.rssMb === undefined ? '–' : fmt(r.rssMb),
    others,
    target,
    notes,
  ];
}

/** The markdown table of a run, with a header naming the machine and the shared-cores caveat. */
export function markdownTable(rows: Row[], machine: Machine, when: string, mode: string): string {
  const header = [
    `Run ${when} (${mode}) on ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGb} GB RAM, ${machine.os}, kernel ${machine.kernel}, Node ${machine.node}, ulimit -n ${machine.openFileLimit}.`,
    '',
    `All processes share these ${machine.cpus} cores over loopback: the relay, ActiveMQ, PostgreSQL/Redis, the load clients and the publisher` +
      (loadNice() > 0 ? ` (the load clients and the publisher at nice ${loadNice()}: BENCH_LOAD_NICE).` : '.'),
    'CPU is in % of one core (the machine has ' + `${machine.cpus * 100} %). Latency is publish (in the publisher) → receipt (in a load client), through ActiveMQ, the store and the bus.`,
    '',
  ];
  const columns = ['scenario', 'store + bus', 'clients', 'msg/s set → sent', 'delivered / expected', 'events/s', 'p50 / p99 / max ms', 'relay CPU %', 'relay RSS MB', 'CPU % load / broker / db+redis / other', 'target', 'notes'];
  const lines = [`| ${columns.join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${rowCells(r).map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`);
  return [...header, ...lines, ''].join('\n');
}

const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';

/** Writes `table` into docs/benchmarks.md between the markers (creating the file with a short preface if needed). */
export function writeDocs(file: string, table: string, command: string): void {
  const block = `${START}\n\n_Generated by \`${command}\`._\n\n${table}\n${END}`;
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8');
    const a = text.indexOf(START);
    const b = text.indexOf(END);
    if (a >= 0 && b > a) {
      writeFileSync(file, text.slice(0, a) + block + text.slice(b + END.length));
      return;
    }
  }
  writeFileSync(
    file,
    `# Benchmarks\n\nMeasured with \`npm run bench\` (bench/run.ts).\n\n## Latest results\n\n${block}\n`,
  );
}
