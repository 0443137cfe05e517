/**
 * One scrape of a relay's /metrics (Prometheus text), read by name: plain
 * values summed over label sets, and histograms' cumulative buckets. Each
 * scrape costs the relay time (with 10,000 clients, tens of ms), so callers
 * scrape once and read many values.
 */

/** A parsed scrape. */
export class MetricsText {
  private constructor(private readonly lines: string[]) {}

  /** Scrapes `${url}/metrics`. */
  static async scrape(url: string): Promise<MetricsText> {
    return new MetricsText((await (await fetch(`${url}/metrics`)).text()).split('\n'));
  }

  /** A counter or gauge (or a histogram's _sum/_count), summed over its label sets; null if absent. */
  value(name: string): number | null {
    let total: number | null = null;
    for (const line of this.lines) {
      if (!line.startsWith(name)) continue;
      const next = line[name.length];
      if (next !== ' ' && next !== '{') continue;
      total = (total ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  }

  /** A histogram's cumulative buckets, upper bound (s; Infinity for +Inf) → count, summed over label sets. */
  buckets(name: string): Map<number, number> {
    const out = new Map<number, number>();
    const prefix = `${name}_bucket{`;
    for (const line of this.lines) {
      if (!line.startsWith(prefix)) continue;
      const le = /le="([^"]+)"/.exec(line)?.[1];
      if (le === undefined) continue;
      const bound = le === '+Inf' ? Infinity : Number(le);
      out.set(bound, (out.get(bound) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
    }
    return out;
  }
}
