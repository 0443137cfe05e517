/**
 * The soak's verdicts: per metric, the least-squares slope over the samples
 * after the warm-up, in units per hour. A metric "GROWS" when that slope is
 * beyond its tolerance per hour AND the rise the line fits over the judged
 * window stands out from the noise: it is at least the metric's floor and
 * larger than the samples' scatter around the line (their standard
 * deviation). Otherwise it is "flat". The scatter matters for RSS: garbage
 * collection makes it a saw tooth of tens of MB, and a short window that ends
 * on a rising tooth fits a steep line that is no leak.
 */
import type { Sample } from './soak-sample.js';

/** One judged (or only reported) series. */
export interface Metric {
  name: string;
  unit: string;
  value(s: Sample): number | null;
  /** Largest slope per hour still called flat; null: reported, not judged. */
  perHour: number | null;
  /** Fitted rises over the judged window smaller than this are noise. */
  floor: number;
}

/** A metric's figures and verdict. */
export interface Trend {
  name: string;
  unit: string;
  first: number | null;
  last: number | null;
  max: number | null;
  /** Slope per hour over the judged samples (null with fewer than 3). */
  slopePerHour: number | null;
  /** Fitted rise over the judged window, and the samples' standard deviation around the line. */
  rise: number | null;
  scatter: number | null;
  tolerance: string;
  verdict: 'flat' | 'GROWS' | 'info' | 'too few samples';
}

/** Least-squares slope of y over x; null with fewer than 3 points or no spread in x. */
export function slope(points: readonly [number, number][]): number | null {
  const n = points.length;
  if (n < 3) return null;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx === 0 ? null : sxy / sxx;
}

/** Standard deviation of the points around the line of slope `b` through their mean. */
function scatter(points: readonly [number, number][], b: number): number {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  return Math.sqrt(points.reduce((a, [x, y]) => a + (y - my - b * (x - mx)) ** 2, 0) / n);
}

/** Judges `metric` over `samples`, using those taken at or after `warmUpSeconds`. */
export function trend(metric: Metric, samples: readonly Sample[], warmUpSeconds: number): Trend {
  const all = samples.map((s) => [s.t, metric.value(s)] as const).filter((p): p is readonly [number, number] => p[1] !== null);
  const judged = all.filter(([t]) => t >= warmUpSeconds).map(([t, v]) => [t / 3600, v] as [number, number]);
  const perHour = slope(judged);
  const hours = judged.length ? judged.at(-1)![0] - judged[0]![0] : 0;
  const rise = perHour === null ? null : perHour * hours;
  const noise = perHour === null ? null : scatter(judged, perHour);
  const tolerance = metric.perHour === null ? '–' : `${fmt(metric.perHour)} ${metric.unit}/h (rise ≥ ${fmt(metric.floor)} ${metric.unit} and > scatter)`;
  let verdict: Trend['verdict'];
  if (metric.perHour === null) verdict = 'info';
  else if (perHour === null || rise === null || noise === null) verdict = 'too few samples';
  else verdict = perHour > metric.perHour && rise >= metric.floor && rise > noise ? 'GROWS' : 'flat';
  return {
    name: metric.name,
    unit: metric.unit,
    first: all[0]?.[1] ?? null,
    last: all.at(-1)?.[1] ?? null,
    max: all.length ? Math.max(...all.map(([, v]) => v)) : null,
    slopePerHour: perHour === null ? null : +perHour.toFixed(2),
    rise: rise === null ? null : +rise.toFixed(2),
    scatter: noise === null ? null : +noise.toFixed(2),
    tolerance,
    verdict,
  };
}

function fmt(n: number | null): string {
  if (n === null) return '–';
  const digits = Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2;
  return n.toLocaleString('en-US', { maximumFractionDigits: digits });
}

/** The trends as a markdown table. */
export function trendTable(trends: readonly Trend[]): string {
  const lines = ['| metric | first | last | max | slope per hour | fitted rise | scatter | tolerance | verdict |', '|---|---|---|---|---|---|---|---|---|'];
  for (const t of trends) {
    const u = (n: number | null) => (n === null ? '–' : `${fmt(n)} ${t.unit}`);
    lines.push(`| ${t.name} | ${u(t.first)} | ${u(t.last)} | ${u(t.max)} | ${t.slopePerHour === null ? '–' : `${fmt(t.slopePerHour)} ${t.unit}/h`} | ${u(t.rise)} | ${u(t.scatter)} | ${t.tolerance} | ${t.verdict} |`);
  }
  return lines.join('\n');
}
