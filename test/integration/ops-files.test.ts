// The operators' files against the tools that read them and a real relay: the alert rules
// (docs/prometheus/) pass `promtool check rules` and their `promtool test rules` unit tests,
// and those unit tests fail when a rule is broken; the Grafana dashboard (docs/grafana/) is
// importable anywhere and its queries parse; every metric name the rules and the dashboard
// use is one a running relay exposes on /metrics; docs/operations.md covers every alert.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { makeToken, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RULES = join(ROOT, 'docs/prometheus/swf-relay-rules.yml');
const RULE_TESTS = join(ROOT, 'docs/prometheus/swf-relay-rules.test.yml');
const DASHBOARD = join(ROOT, 'docs/grafana/swf-relay-dashboard.json');
const OPERATIONS = join(ROOT, 'docs/operations.md');

// ---- promtool ----

const PROMTOOL_MISSING =
  "promtool is missing: install Debian's prometheus package (as root: apt-get install -y --no-install-recommends prometheus); " +
  'these tests use only its promtool and start no Prometheus server';

/** Runs promtool; its exit status and everything it printed. */
function promtool(args: string[], cwd = ROOT): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if ((run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw new Error(PROMTOOL_MISSING);
  if (run.error) throw run.error;
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

// ---- The rules file, read as text (no YAML parser in the dependencies; the file keeps one layout) ----

const ALERT_LINE = /^ *- alert: (\S+)\s*$/;

/** Each alert's block of lines, from its `- alert:` line to the next one (or the end). */
function ruleBlocks(text: string): { alert: string; start: number; end: number; block: string }[] {
  const lines = text.split('\n');
  const starts = lines.flatMap((line, i) => (ALERT_LINE.test(line) ? [i] : []));
  return starts.map((start, n) => {
    const end = starts[n + 1] ?? lines.length;
    return { alert: ALERT_LINE.exec(lines[start]!)![1]!, start, end, block: lines.slice(start, end).join('\n') };
  });
}

/** The PromQL of a rule block: a one-line `expr:` or a `expr: |` block scalar. */
function exprOf(block: string): string {
  const lines = block.split('\n');
  const at = lines.findIndex((line) => /^ *expr:/.test(line));
  assert.ok(at >= 0, `no expr in:\n${block}`);
  const [, indent, value] = /^( *)expr:\s*(.*)$/.exec(lines[at]!)!;
  if (value!.startsWith('"')) return JSON.parse(value!) as string; // a quoted one-liner
  if (value !== '|' && value !== '>') return value!;
  const body: string[] = [];
  for (const line of lines.slice(at + 1)) {
    if (line.trim() !== '' && line.length - line.trimStart().length <= indent!.length) break;
    body.push(line.trim());
  }
  return body.join('\n').trim();
}

/** The rules text with one alert's block replaced by `change(block)`; fails if that changes nothing. */
function mutate(text: string, alert: string, change: (block: string) => string): string {
  const lines = text.split('\n');
  const rule = ruleBlocks(text).find((r) => r.alert === alert);
  assert.ok(rule, `no alert ${alert} in the rules`);
  const changed = change(rule.block);
  assert.notEqual(changed, rule.block, `the mutation of ${alert} no longer matches its rule: update the test`);
  return [...lines.slice(0, rule.start), changed, ...lines.slice(rule.end)].join('\n');
}

/** Replaces a rule's expression (one line, or a `|` block and its more indented lines) by `expr`. */
const replaceExpr = (expr: string) => (block: string) => {
  const lines = block.split('\n');
  const at = lines.findIndex((line) => /^ *expr:/.test(line));
  const indent = /^( *)/.exec(lines[at]!)![1]!.length;
  let end = at + 1;
  if (/expr:\s*[|>]\s*$/.test(lines[at]!)) {
    while (end < lines.length && lines[end]!.trim() !== '' && lines[end]!.length - lines[end]!.trimStart().length > indent) end++;
  }
  return [...lines.slice(0, at), `${' '.repeat(indent)}expr: ${expr}`, ...lines.slice(end)].join('\n');
};
const replaceText = (from: string | RegExp, to: string) => (block: string) => block.replace(from, to);
const forDuration = (block: string) => /^ *for: (\S+)$/m.exec(block)?.[1];

interface Mutation {
  what: string;
  change: (block: string) => string;
  /** For a guard removed: the look-alike series (as promtool prints its labels) that must then fire. */
  decoy?: string;
}

/** Wrong versions of each rule; each must make `promtool test rules` fail for that alert. */
function mutationsOf(alert: string, block: string): Mutation[] {
  const generic: Mutation[] = [
    { what: 'never fires', change: replaceExpr('vector(1) == 0') },
    { what: 'fires without waiting (no for:)', change: replaceText(/^ *for: .*\n/m, '') },
    { what: `waits twice as long (for: 2 × ${forDuration(block)})`, change: (b: string) => b.replace(/^( *for: )(\d+)m$/m, (_, key: string, n: string) => `${key}${Number(n) * 2}m`) },
  ];
  const specific: Record<string, Mutation> = {
    SwfRelayDown: { what: "counts other jobs' targets", change: replaceText('up{job="swf-relay"}', 'up'), decoy: 'instance="relay1:9100"' },
    SwfRelayBrokerDisconnected: {
      what: 'counts a standby listener',
      change: replaceText(/\n *and on \(job, instance, process\)\n *swf_relay_ready\{check="broker"\} == 0/, ''),
      decoy: 'instance="l2:8000"',
    },
    SwfRelayNotReady: { what: 'counts the informational django check', change: replaceText('check!~"broker|django"', 'check!="broker"'), decoy: 'check="django"' },
    SwfRelayBusReaderStalled: {
      what: 'fires while nothing is stored',
      change: replaceText(/\n *and on \(job\)\n *sum by \(job\) \(rate\(swf_relay_events_ingested_total\[5m\]\)\) > 0/, ''),
      decoy: 'instance="w:8000"',
    },
    SwfRelayBusLagHigh: {
      what: 'counts a stale lag',
      change: replaceText(/\n *and on \(job, instance, process\)\n *rate\(swf_relay_events_relayed_total\[5m\]\) > 0/, ''),
      decoy: 'instance="b:8000"',
    },
    SwfRelayIngestionStalled: {
      what: 'counts any waiting message',
      change: replaceText('swf_relay_ingest_oldest_pending_seconds > 60', 'swf_relay_ingest_oldest_pending_seconds > 0'),
      decoy: 'instance="b:8000"',
    },
    SwfRelayCommitFailures: { what: 'counts a single retried failure', change: replaceText('[5m]) > 3', '[5m]) > 0'), decoy: 'instance="b:8000"' },
    SwfRelayEventsDropped: { what: 'counts drops instead of their share', change: replaceExpr('rate(swf_relay_events_dropped_total[5m]) > 0'), decoy: 'instance="b:8000"' },
  };
  assert.ok(specific[alert], `${alert} has no specific mutation here: add one that its unit tests must catch`);
  return [...generic, specific[alert]!];
}

// ---- Metric names in PromQL ----

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

/** Metric names an expression selects: identifiers that are not functions, keywords, labels, numbers or durations. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings (label values, regexes)
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$\{?\w+\}?/g, ' '); // Grafana variables
  const names = [...bare.matchAll(/(?<![\w.:])[a-zA-Z_:][\w:]*(?![\w:]|\s*\()/g)].map((m) => m[0]).filter((name) => !PROMQL_KEYWORDS.has(name.toLowerCase()));
  return [...new Set(names)];
}

/** Series names a scrape offers: each family's own, with histograms as _bucket/_sum/_count only; and which have samples. */
function exposition(text: string): { valid: Map<string, string>; sampled: Set<string> } {
  const valid = new Map<string, string>(); // series name → its family's type
  for (const [, family, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const names = type === 'histogram' ? ['_bucket', '_sum', '_count'] : type === 'summary' ? ['', '_sum', '_count'] : [''];
    for (const suffix of names) valid.set(`${family}${suffix}`, type!);
  }
  const sampled = new Set([...text.matchAll(/^([a-zA-Z_:][\w:]*)[{ ]/gm)].map((m) => m[1]!));
  return { valid, sampled };
}

/** Series Prometheus makes itself for every target, never on /metrics. */
const PROMETHEUS_OWN = new Set(['up']);

/** Problems with the names `used` (name → where) against a scrape: unknown, or known but without a sample. */
function unknownNames(used: Map<string, string[]>, scrape: { valid: Map<string, string>; sampled: Set<string> }): string[] {
  const problems: string[] = [];
  for (const [name, where] of used) {
    if (PROMETHEUS_OWN.has(name)) continue;
    const family = [...scrape.valid.entries()].find(([series]) => series.replace(/_(bucket|sum|count)$/, '') === name && series !== name);
    if (!scrape.valid.has(name)) {
      const hint = family && family[1] === 'histogram' ? ` (${name} is a histogram: use ${name}_bucket, _sum or _count)` : '';
      problems.push(`${name}${hint}, used in ${where.join('; ')}`);
    } else if (!scrape.sampled.has(name)) problems.push(`${name} has no sample on /metrics, used in ${where.join('; ')}`);
  }
  return problems;
}

// ---- The dashboard ----

interface Panel {
  id?: number;
  type: string;
  title?: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: { expr?: string; datasource?: { type?: string; uid?: string } }[];
  panels?: Panel[];
}
interface Dashboard {
  schemaVersion: number;
  uid: string;
  panels: Panel[];
  templating: { list: { type: string; name: string; query: unknown; definition?: string; datasource?: { uid?: string } }[] };
  __inputs?: unknown;
}

const dashboard = (): Dashboard => JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const allPanels = (d: Dashboard): Panel[] => d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);

/** Every PromQL expression of the dashboard, with where it is: panel targets and query variables. */
function dashboardExprs(d: Dashboard): { where: string; expr: string }[] {
  const exprs = allPanels(d).flatMap((p) => (p.targets ?? []).map((t, i) => ({ where: `dashboard panel "${p.title}" query ${i + 1}`, expr: t.expr ?? '' })));
  for (const v of d.templating.list.filter((v) => v.type === 'query')) {
    // label_values(<series selector>, <label>): the selector is PromQL, the label is not.
    const match = /^label_values\((.*),\s*\w+\)$/.exec(v.definition ?? '');
    assert.ok(match, `variable ${v.name}: expected label_values(selector, label), got ${v.definition}`);
    exprs.push({ where: `dashboard variable ${v.name}`, expr: match[1]! });
  }
  return exprs;
}

/** A dashboard expression as plain PromQL: Grafana's variables replaced by values of the right kind. */
const asPromQL = (expr: string) => expr.replaceAll('$__rate_interval', '5m').replaceAll('$job', 'swf-relay').replaceAll('$process', '.+');

// ---- Tests ----

describe('alert rules (promtool)', () => {
  const rules = readFileSync(RULES, 'utf8');
  const alerts = ruleBlocks(rules).map((r) => r.alert);

  test('the rules file holds the alerts this test knows, each with severity, for:, summary and description', () => {
    assert.deepEqual(alerts, [
      'SwfRelayDown',
      'SwfRelayBrokerDisconnected',
      'SwfRelayNotReady',
      'SwfRelayBusReaderStalled',
      'SwfRelayBusLagHigh',
      'SwfRelayIngestionStalled',
      'SwfRelayCommitFailures',
      'SwfRelayEventsDropped',
    ]);
    for (const { alert, block } of ruleBlocks(rules)) {
      assert.match(block, /^ *severity: (critical|warning)$/m, `${alert}: severity critical or warning`);
      assert.match(block, /^ *for: \d+m$/m, `${alert}: a for: duration in minutes`);
      assert.match(block, /^ *summary: "(?:[^"\\]|\\.)+"$/m, `${alert}: a summary`);
      assert.match(block, /^ *description: "(?:[^"\\]|\\.)+"$/m, `${alert}: a description`);
    }
  });

  test('promtool check rules accepts them', () => {
    const { status, output } = promtool(['check', 'rules', RULES]);
    assert.equal(status, 0, output);
    assert.match(output, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  });

  test('promtool test rules: every unit test passes', () => {
    const { status, output } = promtool(['test', 'rules', RULE_TESTS]);
    assert.equal(status, 0, output);
    assert.match(output, /SUCCESS/);
  });

  test("each alert's unit tests fail when its rule is broken (never fires, wrong for:, its guard removed)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'swf-relay-rules-'));
    try {
      // The unit tests, pointed at a rules file in the temporary directory.
      const ruleTests = readFileSync(RULE_TESTS, 'utf8');
      assert.match(ruleTests, /^rule_files:\n  - swf-relay-rules\.yml$/m);
      writeFileSync(join(dir, 'rules.test.yml'), ruleTests.replace(/^rule_files:\n  - swf-relay-rules\.yml$/m, 'rule_files:\n  - rules.yml'));
      const run = (text: string) => {
        writeFileSync(join(dir, 'rules.yml'), text);
        return promtool(['test', 'rules', 'rules.test.yml'], dir);
      };
      assert.equal(run(rules).status, 0, 'the unchanged copy passes (so a failure below is the mutation)');
      const caught: string[] = [];
      for (const { alert, block } of ruleBlocks(rules)) {
        for (const { what, change, decoy } of mutationsOf(alert, block)) {
          const { status, output } = run(mutate(rules, alert, change));
          assert.notEqual(status, 0, `${alert} ${what}: its unit tests still pass\n${output}`);
          assert.match(output, new RegExp(`alertname: ${alert}\\b`), `${alert} ${what}: the failure names that alert`);
          if (decoy) assert.ok(output.includes(`alertname="${alert}", ${decoy}`), `${alert} ${what}: fails because the look-alike ${decoy} fires\n${output}`);
          caught.push(`${alert}: ${what}`);
        }
      }
      assert.equal(caught.length, alerts.length * 4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('docs/operations.md explains every alert', () => {
    const doc = readFileSync(OPERATIONS, 'utf8');
    for (const alert of alerts) assert.match(doc, new RegExp(`\\b${alert}\\b`), `${alert} is not in docs/operations.md`);
  });
});

describe('Grafana dashboard', () => {
  test('imports anywhere: current schema, a datasource variable used by every panel and query, no fixed data source', () => {
    const d = dashboard();
    assert.ok(d.schemaVersion >= 42, 'the current Grafana schema (42)');
    assert.equal(d.uid, 'swf-relay');
    assert.equal(d.__inputs, undefined, 'no import-time inputs: the datasource variable picks the data source');
    const ds = d.templating.list.find((v) => v.type === 'datasource');
    assert.ok(ds && ds.name === 'datasource' && ds.query === 'prometheus', 'a Prometheus datasource variable');
    const ids = new Set<number>();
    for (const p of allPanels(d)) {
      assert.ok(p.id !== undefined && !ids.has(p.id), `panel "${p.title}": a unique id`);
      ids.add(p.id);
      assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `panel "${p.title}" fits the 24-column grid`);
      if (p.type === 'row') continue;
      assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `panel "${p.title}" datasource`);
      assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" has queries`);
      for (const t of p.targets!) {
        assert.deepEqual(t.datasource, { type: 'prometheus', uid: '${datasource}' }, `panel "${p.title}" query datasource`);
        assert.ok(t.expr && t.expr.trim() !== '', `panel "${p.title}": a query expression`);
      }
    }
    for (const v of d.templating.list.filter((v) => v.type === 'query')) assert.equal(v.datasource?.uid, '${datasource}', `variable ${v.name}`);
    // No two panels on the same grid cells.
    const cells = new Set<string>();
    for (const p of allPanels(d)) {
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          assert.ok(!cells.has(`${x},${y}`), `panel "${p.title}" overlaps another at ${x},${y}`);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  test('covers what an operator looks at, per process', () => {
    const exprs = dashboardExprs(dashboard()).map((e) => e.expr).join('\n');
    for (const needed of [
      'swf_relay_clients_connected',
      'swf_relay_events_relayed_total',
      'swf_relay_events_delivered_total',
      'swf_relay_events_dropped_total',
      'swf_relay_events_ingested_total',
      'swf_relay_duplicates_total',
      'sum by (reason) (rate(swf_relay_messages_rejected_total',
      'histogram_quantile(0.99, sum by (le, process) (rate(swf_relay_store_commit_seconds_bucket',
      'histogram_quantile(0.99, sum by (le, process) (rate(swf_relay_delivery_latency_seconds_bucket',
      'swf_relay_bus_lag_seconds',
      'swf_relay_broker_connected',
      'swf_relay_broker_reconnects_total',
      'swf_relay_replays_total',
      'nodejs_eventloop_lag_p99_seconds',
      'process_resident_memory_bytes',
    ]) {
      assert.ok(exprs.includes(needed), `the dashboard shows ${needed}`);
    }
    for (const { where, expr } of dashboardExprs(dashboard()).filter((e) => e.where.startsWith('dashboard panel'))) {
      assert.match(expr, /process=~"\$process"/, `${where} follows the process selection`);
    }
  });

  test('every query parses as PromQL (promtool check rules on them as recording rules)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'swf-relay-dashboard-'));
    try {
      const exprs = dashboardExprs(dashboard());
      const rules = ['groups:', '  - name: dashboard', '    rules:'];
      exprs.forEach(({ expr }, i) => rules.push(`      - record: dashboard:query_${i}`, `        expr: ${JSON.stringify(asPromQL(expr))}`));
      writeFileSync(join(dir, 'queries.yml'), `${rules.join('\n')}\n`);
      const { status, output } = promtool(['check', 'rules', 'queries.yml'], dir);
      assert.equal(status, 0, output);
      assert.match(output, new RegExp(`SUCCESS: ${exprs.length} rules found`));
      // And a broken query is refused, so the check is not a formality.
      writeFileSync(join(dir, 'broken.yml'), 'groups:\n  - name: d\n    rules:\n      - record: d:q\n        expr: "sum by (process (rate(x[5m]))"\n');
      assert.notEqual(promtool(['check', 'rules', 'broken.yml'], dir).status, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('metric names in PromQL (the extractor the next test relies on)', () => {
  test('finds the series, not functions, keywords, labels, durations or Grafana variables', () => {
    assert.deepEqual(
      metricNames('histogram_quantile(0.99, sum by (le, process) (rate(a_seconds_bucket{job="$job", process=~"$process"}[$__rate_interval]))) > 1e3'),
      ['a_seconds_bucket'],
    );
    assert.deepEqual(metricNames('b == 0\nand on (job, instance) c{check="broker"} == 0 or vector(0) offset 5m'), ['b', 'c']);
    assert.deepEqual(metricNames('sum(rate(d_total[5m])) without (reason) / ignoring(x) group_left(y) e unless bool f'), ['d_total', 'e', 'f']);
    assert.deepEqual(metricNames('label_replace(g, "dst", "$1", "src", "(.*)")'), ['g']);
  });

  test('reports names a scrape does not offer, with the histogram suffixes handled', () => {
    const scrape = exposition(
      ['# TYPE h_seconds histogram', 'h_seconds_bucket{le="1"} 0', 'h_seconds_sum 0', 'h_seconds_count 0', '# TYPE c_total counter', '# TYPE g gauge', 'g{process="x"} 1'].join('\n'),
    );
    const used = new Map([
      ['h_seconds_bucket', ['q1']],
      ['h_seconds_count', ['q2']],
      ['h_seconds', ['q3']],
      ['g', ['q4']],
      ['c_total', ['q5']],
      ['nope_total', ['q6']],
      ['up', ['q7']],
    ]);
    assert.deepEqual(unknownNames(used, scrape), [
      'h_seconds (h_seconds is a histogram: use h_seconds_bucket, _sum or _count), used in q3',
      'c_total has no sample on /metrics, used in q5',
      'nope_total, used in q6',
    ]);
  });
});

describe('metric names against a running relay', () => {
  let token: string;
  let broker: PrivateBroker;
  let relay: RelayProcess;
  let publisher: Publisher;
  let dir: string;
  const topic = `/topic/ops-files-${process.pid}`;
  const metrics = async () => (await fetch(`${relay.url}/metrics`)).text();
  /** Samples of `name` as label string (without process) → value. */
  const samples = (text: string, name: string) =>
    new Map(
      [...text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))].map((m) => [
        m[1]!.split(',').filter((label) => !label.startsWith('process=')).join(','),
        Number(m[2]),
      ]),
    );

  before(async () => {
    broker = await startActiveMQ();
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-ops-files-'));
    const env = {
      DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
      ACTIVEMQ_PORT: String(broker.port),
      ACTIVEMQ_HEARTBEAT_TOPIC: topic,
      ACTIVEMQ_CLIENT_ID: `ops-files-${process.pid}`,
      ACTIVEMQ_HEARTBEAT_MS: '2000',
    };
    token = await makeToken(env);
    relay = await startRelay(env, { waitForBroker: token });
    publisher = await connectPublisher(broker.host, broker.port);
  });

  after(async () => {
    await publisher?.close().catch(() => {});
    await relay?.stop();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('every metric the alert rules and the dashboard use is on /metrics (after a message, so lazy series exist)', async () => {
    // A workflow message, an agent heartbeat and a rejected body create every lazily labelled series.
    await publisher.sendAndWait(topic, JSON.stringify({ msg_type: 'ops_files', run_id: 1 }), { persistent: 'true' });
    await publisher.sendAndWait(topic, JSON.stringify({ agent_name: 'ops-files-agent', status: 'OK' }), { persistent: 'true' });
    await publisher.sendAndWait(topic, 'not json', { persistent: 'true' });
    await waitUntil(async () => samples(await metrics(), 'swf_relay_messages_rejected_total').get('reason="bad_json"') === 1, 'the rejected body to be counted', relay.output);

    const used = new Map<string, string[]>();
    const use = (where: string, expr: string) => {
      for (const name of metricNames(expr)) used.set(name, [...(used.get(name) ?? []), where]);
    };
    for (const { alert, block } of ruleBlocks(readFileSync(RULES, 'utf8'))) use(`alert ${alert}`, exprOf(block));
    for (const { where, expr } of dashboardExprs(dashboard())) use(where, expr);
    assert.ok(used.size >= 25, `names found: ${[...used.keys()].join(', ')}`);

    const text = await metrics();
    assert.deepEqual(unknownNames(used, exposition(text)), [], 'metric names the rules or the dashboard use but the relay does not expose');
    // The default metrics carry the process label the dashboard selects on.
    assert.match(text, /^process_resident_memory_bytes\{process="[^"]+"\} \d/m);
  });

  test('swf_relay_ready follows /readyz: 1 per check while ready; broker 0 (and swf_relay_broker_connected 0) once the broker is gone', async () => {
    // The checks are shown to an authenticated caller only.
    const ready = (await (await fetch(`${relay.url}/readyz`, { headers: { Authorization: `Token ${token}` } })).json()) as { checks: Record<string, string> };
    assert.deepEqual(ready.checks, { store: 'ok', bus: 'ok', broker: 'ok' });
    assert.deepEqual(Object.fromEntries(samples(await metrics(), 'swf_relay_ready')), { 'check="store"': 1, 'check="bus"': 1, 'check="broker"': 1 });

    await publisher.close().catch(() => {});
    await broker.halt();
    await waitUntil(async () => (await fetch(`${relay.url}/readyz`)).status === 503, 'readyz to fail', relay.output, 30_000);
    const text = await metrics();
    assert.deepEqual(Object.fromEntries(samples(text, 'swf_relay_ready')), { 'check="store"': 1, 'check="bus"': 1, 'check="broker"': 0 });
    assert.equal(samples(text, 'swf_relay_broker_connected').get(''), 0);
    assert.equal(samples(text, 'swf_relay_ingest_oldest_pending_seconds').get(''), 0, 'nothing waits: every message was acknowledged');
  });
});
