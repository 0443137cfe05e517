/**
 * Process accounting from Linux /proc: CPU ticks (utime + stime) per process
 * and for the whole machine, resident memory, open files. A CpuMeter splits
 * the machine's busy time over a window into relay / load generator / broker /
 * services (PostgreSQL, Redis) / everything else — "everything else" being
 * other people's work on a shared machine, which marks a run as disturbed.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ; 100 on Linux/x86). */
const TICKS_PER_SECOND = 100;

/** utime + stime of a process in ticks, or null when it is gone. */
export function cpuTicks(pid: number): number | null {
  const split = cpuSplit(pid);
  return split && split.user + split.system;
}

/** User and kernel (system) ticks from a stat file (/proc/<pid>/stat or …/task/<tid>/stat), or null when it is gone. */
function statTicks(file: string): { user: number; system: number } | null {
  try {
    const stat = readFileSync(file, 'utf8');
    // Fields after the command name (which may hold spaces) start at the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(rest[11]), system: Number(rest[12]) };
  } catch {
    return null;
  }
}

/** A process's CPU ticks, user and kernel (system) apart, or null when it is gone. */
export function cpuSplit(pid: number): { user: number; system: number } | null {
  return statTicks(`/proc/${pid}/stat`);
}

/** The thread ids of a process (empty when it is gone). */
export function threadIds(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [];
  }
}

/** CPU ticks (user + kernel) of each thread of a process, by thread id; empty when it is gone. */
export function threadTicks(pid: number): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const tid of threadIds(pid)) {
    const split = statTicks(`/proc/${pid}/task/${tid}/stat`);
    if (split) ticks.set(tid, split.user + split.system); // else the thread ended meanwhile
  }
  return ticks;
}

/**
 * Where a process's CPU went between two threadTicks readings: its main thread
 * (thread id = pid), its busiest other thread, and the rest. Node names every
 * thread "node", so the busiest other one is identified by its use alone.
 */
export function threadSplit(pid: number, before: Map<number, number>, after: Map<number, number>): { main: number; busiest: number; rest: number } {
  const used = [...after].map(([tid, t]) => [tid, Math.max(0, t - (before.get(tid) ?? 0))] as const);
  const main = used.find(([tid]) => tid === pid)?.[1] ?? 0;
  const others = used.filter(([tid]) => tid !== pid).map(([, t]) => t).sort((a, b) => b - a);
  const busiest = others[0] ?? 0;
  return { main, busiest, rest: others.slice(1).reduce((a, b) => a + b, 0) };
}

/** Resident memory of a process, kB (VmRSS), or null when it is gone. */
export function rssKb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Number of open file descriptors of a process. */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The soft open-file limit of a process (Max open files). */
export function openFileLimit(pid: number | 'self' = 'self'): number {
  const m = /Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return m ? Number(m[1]) : Infinity;
}

/** Busy ticks of the whole machine (all CPUs: everything but idle and iowait). */
function machineBusyTicks(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return user + nice + system + irq + softirq + steal;
}

/** Busy CPU of the whole machine over `ms`, in % of one core. */
export async function machineBusy(ms: number): Promise<number> {
  const t0 = performance.now();
  const b0 = machineBusyTicks();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const seconds = (performance.now() - t0) / 1000;
  return ((machineBusyTicks() - b0) / TICKS_PER_SECOND / seconds) * 100;
}

/** The pid of the process whose command line contains `needle`, or null. */
export function findPid(needle: string): number | null {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

/** The pids whose parent is `parent` (e.g. an nginx master's workers). */
export function childPids(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // ppid is the second field after the command name (which may hold spaces).
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Pids whose command name (comm) is one of `names`. */
function pidsNamed(names: ReadonlySet<string>): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (names.has(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

const SERVICE_NAMES: ReadonlySet<string> = new Set(['postgres', 'redis-server']);

/** CPU use over a window, in % of one core (the machine has os.cpus().length × 100 %). */
export interface CpuUse {
  relay: number;
  load: number;
  broker: number;
  services: number;
  other: number;
  seconds: number;
}

/** µs of CPU per unit (message, event) from a share of `cpu` (% of one core over its seconds); null for no units. */
export function cpuMicrosPer(cpu: CpuUse, percent: number, units: number): number | null {
  return units > 0 ? ((percent / 100) * cpu.seconds * 1e6) / units : null;
}

/** Who is who during a measurement window. */
export interface CpuRoles {
  relay: number[];
  load: number[];
  broker: number[];
}

/** Measures CPU by role from now until stop(). */
export class CpuMeter {
  private readonly started = performance.now();
  private readonly machine0 = machineBusyTicks();
  private readonly before = new Map<number, number>();
  private readonly services: number[];

  constructor(private readonly roles: CpuRoles) {
    this.services = pidsNamed(SERVICE_NAMES);
    for (const pid of this.allPids()) this.before.set(pid, cpuTicks(pid) ?? 0);
  }

  private allPids(): number[] {
    return [...this.roles.relay, ...this.roles.load, ...this.roles.broker, ...this.services];
  }

  stop(): CpuUse {
    const seconds = (performance.now() - this.started) / 1000;
    const pct = (ticks: number) => +((ticks / TICKS_PER_SECOND / seconds) * 100).toFixed(1);
    const used = (pids: number[]) => pids.reduce((sum, pid) => sum + Math.max(0, (cpuTicks(pid) ?? this.before.get(pid) ?? 0) - (this.before.get(pid) ?? 0)), 0);
    const relay = used(this.roles.relay);
    const load = used(this.roles.load);
    const broker = used(this.roles.broker);
    const services = used(this.services);
    const other = Math.max(0, machineBusyTicks() - this.machine0 - relay - load - broker - services);
    return { relay: pct(relay), load: pct(load), broker: pct(broker), services: pct(services), other: pct(other), seconds: +seconds.toFixed(2) };
  }
}

/** Samples a process's RSS every `everyMs` and keeps the largest value. */
export class RssSampler {
  maxKb = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number, everyMs = 200) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): number {
    const kb = rssKb(this.pid) ?? 0;
    if (kb > this.maxKb) this.maxKb = kb;
    return kb;
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.maxKb;
  }
}
