/**
 * The bench's child processes: load clients (bench/load-client.ts) and the
 * publisher (bench/publisher.ts: STOMP, or HTTP POSTs for nchan) and the
 * broker layer alone (bench/broker-consumer.ts), forked
 * with tsx and driven by request/response messages over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Histogram } from './histogram.js';
import { threadIds } from './proc.js';
import type { HttpPublishRequest, LoadReport, OpenResult, PublishRequest, PublishResult, Reply } from './protocol.js';

const LOAD_CLIENT = fileURLToPath(new URL('../load-client.ts', import.meta.url));
const PUBLISHER = fileURLToPath(new URL('../publisher.ts', import.meta.url));
const BROKER_CONSUMER = fileURLToPath(new URL('../broker-consumer.ts', import.meta.url));

/**
 * BENCH_LOAD_NICE=<1..19>: the nice value of the load generator (load clients, publisher), or 0. It
 * yields a shared core to the relay, as remote clients and agents would not compete with it at all;
 * it shows how much of a figure is that competition.
 */
export function loadNice(): number {
  const nice = Number(process.env.BENCH_LOAD_NICE ?? 0);
  return Number.isFinite(nice) && nice > 0 ? Math.min(19, Math.round(nice)) : 0;
}

/** A forked child answering requests by id. */
class Child {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(r: Record<string, unknown>): void; reject(e: Error): void }>();
  readonly process: ChildProcess;
  private exited = false;

  /** `loadGenerator`: a load client or the publisher, which BENCH_LOAD_NICE lowers in priority. */
  constructor(script: string, name: string, loadGenerator: boolean) {
    // BENCH_CHILD_PROFILE_DIR: profile the load clients and the publisher too (node --cpu-prof).
    const profileDir = process.env.BENCH_CHILD_PROFILE_DIR;
    const execArgv = ['--import', 'tsx', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])];
    this.process = fork(script, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    // Linux keeps a nice value per thread: set it on each (threads made later inherit it).
    const nice = loadNice();
    if (loadGenerator && nice > 0) for (const tid of threadIds(this.process.pid!)) setPriority(tid, nice);
    this.process.on('message', (reply: Reply) => {
      const w = this.waiting.get(reply.id);
      if (!w) return;
      this.waiting.delete(reply.id);
      if (reply.ok) w.resolve(reply);
      else w.reject(new Error(`${name}: ${reply.error}`));
    });
    this.process.on('exit', (code, signal) => {
      this.exited = true;
      for (const w of this.waiting.values()) w.reject(new Error(`${name} exited (code ${code}, signal ${signal})`));
      this.waiting.clear();
    });
    const kill = () => this.process.kill('SIGKILL');
    process.once('exit', kill);
    this.process.once('exit', () => process.removeListener('exit', kill));
  }

  get pid(): number {
    return this.process.pid!;
  }

  request<T>(message: Record<string, unknown>): Promise<T> {
    if (this.exited) return Promise.reject(new Error('child process has exited'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (r: Record<string, unknown>) => void, reject });
      this.process.send({ ...message, id });
    });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    await this.request({ type: 'close' }).catch(() => {});
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** Totals of several load clients' reports, with their latencies merged. */
export interface MergedReport extends Omit<LoadReport, 'latency' | 'slowToRelay' | 'slowFromRelay'> {
  latency: Histogram;
  slowToRelay: Histogram;
  slowFromRelay: Histogram;
}

/** K SSE streams spread over several load-client processes. */
export class LoadClients {
  private constructor(private readonly children: Child[]) {}

  /** Forks `processes` load clients. */
  static async start(processes: number): Promise<LoadClients> {
    const children = Array.from({ length: processes }, (_, n) => new Child(LOAD_CLIENT, `load-client-${n}`, true));
    // A report round trip proves each one is up.
    await Promise.all(children.map((c) => c.request({ type: 'report' })));
    return new LoadClients(children);
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid);
  }

  /** Opens `paths` round-robin over the processes; resolves when every stream is open or failed. */
  async open(url: string, token: string, paths: string[], options: { headers?: Record<string, string>; concurrency?: number } = {}): Promise<OpenResult> {
    const shares = this.children.map((_, n) => paths.filter((_, i) => i % this.children.length === n));
    const results = await Promise.all(
      this.children.map((c, n) =>
        shares[n]!.length === 0
          ? Promise.resolve<OpenResult>({ opened: 0, failures: {}, seconds: 0, startedAt: Infinity })
          : c.request<OpenResult>({ type: 'open', url, token, paths: shares[n]!, headers: options.headers ?? {}, concurrency: options.concurrency ?? 64 }),
      ),
    );
    const failures: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + v;
    return {
      opened: results.reduce((s, r) => s + r.opened, 0),
      failures,
      seconds: Math.max(...results.map((r) => r.seconds)),
      startedAt: Math.min(...results.map((r) => r.startedAt)),
    };
  }

  async reset(): Promise<void> {
    await Promise.all(this.children.map((c) => c.request({ type: 'reset' })));
  }

  async report(): Promise<MergedReport> {
    const reports = await Promise.all(this.children.map((c) => c.request<LoadReport>({ type: 'report' })));
    const latency = new Histogram();
    const slowToRelay = new Histogram();
    const slowFromRelay = new Histogram();
    const errors: Record<string, number> = {};
    const sum = (key: keyof LoadReport) => reports.reduce((s, r) => s + (r[key] as number), 0);
    for (const r of reports) {
      latency.merge(r.latency);
      slowToRelay.merge(r.slowToRelay);
      slowFromRelay.merge(r.slowFromRelay);
      for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    }
    const slotMax = new Map<number, number>();
    for (const r of reports) for (const [slot, ms] of r.slotMax) slotMax.set(slot, Math.max(ms, slotMax.get(slot) ?? 0));
    const withOpen = reports.filter((r) => r.open > 0);
    const firsts = reports.map((r) => r.firstAt).filter((t) => t > 0);
    return {
      open: sum('open'),
      closed: sum('closed'),
      events: sum('events'),
      minPerStream: withOpen.length ? Math.min(...withOpen.map((r) => r.minPerStream)) : 0,
      maxPerStream: Math.max(0, ...reports.map((r) => r.maxPerStream)),
      heartbeats: sum('heartbeats'),
      gaps: sum('gaps'),
      gapDropped: sum('gapDropped'),
      shutdowns: sum('shutdowns'),
      bytes: sum('bytes'),
      firstAt: firsts.length ? Math.min(...firsts) : 0,
      lastAt: Math.max(0, ...reports.map((r) => r.lastAt)),
      latency,
      slowToRelay,
      slowFromRelay,
      slotMax: [...slotMax].sort((a, b) => a[0] - b[0]),
      errors,
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.children.map((c) => c.close()));
  }
}

/** The publisher process (connected to the broker; HTTP publishing needs no connect). */
export class PublisherProcess {
  private constructor(private readonly child: Child) {}

  static async start(host: string, port: number, noDelay = true): Promise<PublisherProcess> {
    const child = new Child(PUBLISHER, 'publisher', true);
    await child.request({ type: 'connect', host, port, noDelay });
    return new PublisherProcess(child);
  }

  get pid(): number {
    return this.child.pid;
  }

  publish(request: Omit<PublishRequest, 'type'>): Promise<PublishResult> {
    return this.child.request<PublishResult>({ type: 'publish', ...request });
  }

  /** The same bodies and pacing as POSTs to an HTTP publish URL (nchan). */
  publishHttp(request: Omit<HttpPublishRequest, 'type'>): Promise<PublishResult> {
    return this.child.request<PublishResult>({ type: 'publish-http', ...request });
  }

  close(): Promise<void> {
    return this.child.close();
  }
}

/** The relay's broker layer alone, subscribed to one destination (bench/broker-consumer.ts). */
export class BrokerConsumerProcess {
  private constructor(private readonly child: Child) {}

  /** Forks it and resolves once the broker confirmed its subscription (durable under `durableName`, when given). */
  static async start(host: string, port: number, destination: string, durableName?: string): Promise<BrokerConsumerProcess> {
    const child = new Child(BROKER_CONSUMER, 'broker-consumer', false);
    try {
      await child.request({ type: 'connect', host, port, destination, durableName });
    } catch (err) {
      await child.close();
      throw err;
    }
    return new BrokerConsumerProcess(child);
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Messages received (and acknowledged) so far. */
  async received(): Promise<number> {
    return (await this.child.request<{ received: number }>({ type: 'report' })).received;
  }

  close(): Promise<void> {
    return this.child.close();
  }
}
