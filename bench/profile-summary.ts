/**
 * Summarises a V8 .cpuprofile (from node --cpu-prof): self time aggregated by
 * function + script (and by package / area), largest first. With --gaps
 * <function>, also the longest stretches in which no sample was in that
 * function (e.g. parseChunk: the relay not reading broker frames), and what
 * ran instead — where latency tails come from.
 *
 *   node --import tsx bench/profile-summary.ts <file.cpuprofile> [top=25] [--gaps <function>]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Self time of one function (or area), ms and % of the profile. */
export interface SelfTime {
  name: string;
  ms: number;
  pct: number;
}

/** Where a script belongs: a dependency (by package), node core, the project, or a V8 pseudo-frame. */
function areaOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native/V8)';
  if (url.startsWith('node:')) return 'node core';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const src = /\/(src|bench|test)\//.exec(url);
  return src ? `project ${src[1]}/` : url;
}

/** Short script name: the part after node_modules/ or the project root. */
function shortUrl(url: string): string {
  const i = url.lastIndexOf('node_modules/');
  if (i >= 0) return url.slice(i + 'node_modules/'.length);
  const m = /\/(src|bench|test)\/.*/.exec(url);
  return m ? m[0].slice(1) : url.replace(/^file:\/\//, '');
}

/** Self time by function and by area, from sample timing (falls back to hit counts). */
export function summarise(profile: CpuProfile): { totalMs: number; byFunction: SelfTime[]; byArea: SelfTime[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  if (profile.samples && profile.timeDeltas) {
    // timeDeltas[i] is the time before sample i; charge each interval to the sample that ends it.
    for (let i = 0; i < profile.samples.length; i++) {
      const id = profile.samples[i]!;
      selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, profile.timeDeltas[i] ?? 0));
    }
  } else {
    const total = profile.endTime - profile.startTime;
    const hits = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0) || 1;
    for (const n of profile.nodes) selfUs.set(n.id, ((n.hitCount ?? 0) / hits) * total);
  }
  const fn = new Map<string, number>();
  const area = new Map<string, number>();
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    // tsx-compiled project files report line 0 for every function: name the file only.
    const name = url ? `${functionName || '(anonymous)'} ${shortUrl(url)}${lineNumber > 0 ? `:${lineNumber + 1}` : ''}` : functionName || '(anonymous)';
    fn.set(name, (fn.get(name) ?? 0) + us);
    const a = areaOf(url, functionName);
    area.set(a, (area.get(a) ?? 0) + us);
    totalUs += us;
  }
  const list = (m: Map<string, number>) =>
    [...m.entries()].map(([name, us]) => ({ name, ms: us / 1000, pct: (100 * us) / (totalUs || 1) })).sort((a, b) => b.ms - a.ms);
  return { totalMs: totalUs / 1000, byFunction: list(fn), byArea: list(area) };
}

/** The summary as markdown: top functions by self time, then areas. */
export function summaryMarkdown(file: string, top = 25): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const { totalMs, byFunction, byArea } = summarise(profile);
  const busyMs = byFunction.filter((f) => f.name !== '(idle)').reduce((s, f) => s + f.ms, 0);
  const lines = [
    `Profile ${file.split('/').at(-1)}: ${(totalMs / 1000).toFixed(1)} s sampled, ${(busyMs / 1000).toFixed(1)} s not idle.`,
    '',
    '| self ms | % | function (script:line) |',
    '|---:|---:|---|',
    ...byFunction.slice(0, top).map((f) => `| ${f.ms.toFixed(0)} | ${f.pct.toFixed(1)} | ${f.name.replaceAll('|', '\\|')} |`),
    '',
    '| self ms | % | area |',
    '|---:|---:|---|',
    ...byArea.slice(0, 15).map((f) => `| ${f.ms.toFixed(0)} | ${f.pct.toFixed(1)} | ${f.name} |`),
    '',
  ];
  return lines.join('\n');
}

/** The `count` longest stretches without a sample in `fn` (longer than 50 ms), with the self time of what ran meanwhile. */
export function gapsMarkdown(file: string, fn: string, count = 5): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  if (!profile.samples || !profile.timeDeltas) return '(no sample timeline in this profile)\n';
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inFn = new Map<number, boolean>();
  const hits = (id: number): boolean => {
    let known = inFn.get(id);
    if (known === undefined) {
      const p = parent.get(id);
      known = byId.get(id)!.callFrame.functionName === fn || (p !== undefined && hits(p));
      inFn.set(id, known);
    }
    return known;
  };
  const gaps: { from: number; ms: number; ran: Map<string, number> }[] = [];
  let t = 0;
  let last = 0;
  let ran = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    t += dt;
    const id = profile.samples[i]!;
    if (hits(id)) {
      if (t - last > 50) gaps.push({ from: last, ms: t - last, ran });
      last = t;
      ran = new Map();
    } else {
      const { functionName, url } = byId.get(id)!.callFrame;
      const name = url ? `${functionName || '(anonymous)'} ${shortUrl(url)}` : functionName || '(anonymous)';
      ran.set(name, (ran.get(name) ?? 0) + dt);
    }
  }
  const lines = [`Longest stretches without a sample in \`${fn}\`:`, ''];
  for (const g of gaps.sort((a, b) => b.ms - a.ms).slice(0, count)) {
    const top = [...g.ran].sort((a, b) => b[1] - a[1]).slice(0, 5);
    lines.push(`- ${g.ms.toFixed(0)} ms from +${(g.from / 1000).toFixed(2)} s: ${top.map(([n, ms]) => `${n} ${ms.toFixed(0)} ms`).join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const g = args.indexOf('--gaps');
  const gapsFn = g >= 0 ? args.splice(g, 2)[1] : undefined;
  const [file, top] = args;
  if (!file) {
    console.error('usage: node --import tsx bench/profile-summary.ts <file.cpuprofile> [top=25] [--gaps <function>]');
    process.exit(2);
  }
  console.log(summaryMarkdown(file, Number(top ?? 25)));
  if (gapsFn) console.log(gapsMarkdown(file, gapsFn));
}
