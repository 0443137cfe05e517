// Keeps the architecture of src/ honest: reads the import graph from the source
// text (no dependency, no ESLint) and checks it against the rules below.
// Scanning (file system) is kept apart from checking (pure functions over a map
// of path under src/ → source), so the last test can prove the checks do fail.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// ---- The rules (paths are relative to src/) ----

/** The interface/entry files a folder shows to others; everything else in it is internal. */
const ENTRY_FILES: Readonly<Record<string, readonly string[]>> = {
  'store*': ['store/store.ts', 'store/index.ts', 'store/retention.ts', 'store/backfill.ts'],
  'bus*': ['bus/bus.ts', 'bus/index.ts'],
};

/** Folder → what it may import besides its own folder and the root leaves: a folder, an entry alias above, or one file. */
const FOLDER_RULES: Readonly<Record<string, readonly string[]>> = {
  leaves: [], // config, log, errors, metrics: everything builds on them, so they import no folder (only each other)
  main: ['cli/index.ts'], // the entry point only hands over to the CLI (not even the leaves)
  model: [], // model is pure: no I/O, no other folder
  broker: ['model'], // the STOMP client delivers raw broker messages; it does not know what happens to them
  ingest: ['model', 'store*', 'bus*'], // ingest turns messages into events; it reaches store and bus only through their interfaces
  store: ['model', 'bus*'], // persistence knows the model; backends stay behind the Store interface
  bus: ['model'], // the bus moves events between processes; it knows neither producers nor consumers
  hub: ['model', 'store*', 'bus*'], // the hub fans events out to SSE clients; storage and transport stay behind interfaces
  auth: ['model', 'store*', 'store/sqlite-driver.ts'], // auth checks keys and sessions against the Store interface only; django-db.ts opens SQLite with the store's driver choice
  cluster: ['model', 'hub', 'broker', 'bus*'], // coordination between processes sits above the core, below HTTP
  http: ['model', 'hub', 'auth', 'broker', 'cluster', 'store*', 'bus*'], // routes adapt the core to HTTP; app picks the concrete store and bus
  app: ['model', 'broker', 'ingest', 'store', 'bus', 'hub', 'http', 'auth', 'cluster'], // the composition root wires everything, except the CLI above it
  cli: ['model', 'broker', 'store', 'bus', 'hub', 'auth', 'cluster', 'app'], // commands start app; they serve no routes and ingest nothing themselves
};

/** Implementation files (a trailing / means a whole folder): only their own folder may import them. */
const PRIVATE = ['store/sqlite.ts', 'store/postgres.ts', 'store/sql-store.ts', 'store/sql-identity.ts', 'store/schema.ts', 'store/migrations/', 'bus/memory.ts', 'bus/redis.ts'];

/** Folder → the only folders (besides itself) that may import it. */
const ONLY_IMPORTED_BY: Readonly<Record<string, readonly string[]>> = {
  ingest: ['app'], // ingestion is started by app, nothing else feeds it
  http: ['app'], // the server is built by app; nothing else knows about routes
  app: ['cli'], // app is started by a command
};

/** npm package (`@scope/*` = the whole scope) → the only places that may import it (a trailing / means a folder). */
const PACKAGE_HOMES: Readonly<Record<string, readonly string[]>> = {
  'prom-client': ['app/prometheus.ts'], // one place owns the metrics registry; the rest sees the Metrics interface
  ioredis: ['bus/', 'cluster/'], // Redis is a transport detail of bus and cluster
  'better-sqlite3': ['store/', 'auth/django-db.ts'], // databases are store backends; the one exception reads swf-monitor's credentials, read-only
  'better-sqlite3-13': ['store/sqlite-driver.ts'], // one place picks the build for the running Node
  pg: ['store/', 'auth/django-db.ts'],
  fastify: ['http/', 'app/'], // the web framework stays at the edge
  '@fastify/*': ['http/', 'app/'],
};

const MAX_ROOT_FILES = 8;
const MAX_LINES = 500;

// ---- Reading the import graph (pure) ----

interface Import { from: string; spec: string; line: number }
interface Edge { from: string; to: string; lines: number[] }

const IMPORT_PATTERNS = [
  /\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g, // import/export [type] … from '…', multi-line lists too
  /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, // dynamic import('…')
  /\bimport\s+['"]([^'"]+)['"]/g, // side-effect import '…'
  /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g, // require('…') through createRequire
];

function importsOf(from: string, source: string): Import[] {
  // Blank whole-line comments (keeping line numbers) so that examples in doc comments are not read as imports.
  const code = source.replace(/^\s*\/\/.*$|^\s*\/\*[\s\S]*?\*\//gm, (c) => c.replace(/[^\n]/g, ' '));
  return IMPORT_PATTERNS.flatMap((re) =>
    [...code.matchAll(re)].map((m) => {
      const at = m.index + m[0].lastIndexOf(m[1]!);
      return { from, spec: m[1]!, line: code.slice(0, at).split('\n').length };
    }),
  );
}

/** Relative imports between .ts files, one edge per (file, imported file) with the lines; `./x.js` means `./x.ts`. */
function edgesOf(files: ReadonlyMap<string, string>): Edge[] {
  const edges = new Map<string, Edge>();
  for (const [path, source] of files) {
    if (!path.endsWith('.ts')) continue;
    for (const { spec, line } of importsOf(path, source)) {
      if (!spec.startsWith('.')) continue;
      const to = posix.join(posix.dirname(path), spec).replace(/\.js$/, '.ts');
      const key = `${path} ${to}`;
      if (!edges.has(key)) edges.set(key, { from: path, to, lines: [] });
      edges.get(key)!.lines.push(line);
    }
  }
  for (const e of edges.values()) e.lines.sort((a, b) => a - b);
  return [...edges.values()].sort((a, b) => a.from.localeCompare(b.from) || a.lines[0]! - b.lines[0]!);
}

const top = (path: string) => (path.includes('/') ? path.split('/')[0]! : '');
const group = (path: string) => (path === 'main.ts' ? 'main' : top(path) || 'leaves');
const show = (e: Edge) => `src/${e.from}:${e.lines.join(',')} → src/${e.to}`;
const under = (path: string, places: readonly string[]) => places.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p));

// ---- The checks (pure: each returns one line per violation) ----

/** Strongly connected components with more than one file (or a file importing itself), by Tarjan. */
function checkCycles(edges: readonly Edge[]): string[] {
  const next = new Map<string, Edge[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e]);
  const index = new Map<string, number>(), low = new Map<string, number>(), onStack = new Set<string>();
  const stack: string[] = [], out: string[] = [];
  const visit = (v: string): void => {
    index.set(v, index.size), low.set(v, index.get(v)!), stack.push(v), onStack.add(v);
    for (const { to: w } of next.get(v) ?? []) {
      if (!index.has(w)) visit(w), low.set(v, Math.min(low.get(v)!, low.get(w)!));
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc = new Set<string>();
    for (let w = ''; w !== v; ) (w = stack.pop()!), onStack.delete(w), scc.add(w);
    const inside = edges.filter((e) => scc.has(e.from) && scc.has(e.to));
    if (inside.length === 0) return;
    out.push(`cycle through ${[...scc].sort().map((p) => `src/${p}`).join(', ')}:\n      ${inside.map(show).join('\n      ')}`);
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

function checkSize(files: ReadonlyMap<string, string>): string[] {
  const root = [...files.keys()].filter((p) => !p.includes('/')).sort();
  const lines = (s: string) => s.split('\n').length - (s.endsWith('\n') ? 1 : 0);
  return [
    ...(root.length > MAX_ROOT_FILES ? [`src/ has ${root.length} files at its root (max ${MAX_ROOT_FILES}): ${root.join(', ')}`] : []),
    ...[...files].filter(([p, s]) => p.endsWith('.ts') && lines(s) > MAX_LINES).map(([p, s]) => `src/${p} has ${lines(s)} lines (max ${MAX_LINES})`),
  ];
}

function checkFolders(files: ReadonlyMap<string, string>, edges: readonly Edge[]): string[] {
  const unknown = [...new Set([...files.keys()].filter((p) => p.endsWith('.ts')).map(group))].filter((g) => !FOLDER_RULES[g]);
  const allowed = (e: Edge, may: readonly string[]) =>
    group(e.from) === group(e.to) ||
    (group(e.to) === 'leaves' && group(e.from) !== 'main') || // every folder may use the leaves; main only starts the CLI
    may.some((m) => m === group(e.to) || m === e.to || ENTRY_FILES[m]?.includes(e.to));
  return [
    ...unknown.map((g) => `src/${g}/ has no entry in FOLDER_RULES: add one (or move its files)`),
    ...edges.flatMap((e) => {
      const may = FOLDER_RULES[group(e.from)];
      if (!may || allowed(e, may)) return [];
      return [`${show(e)}   (${group(e.from)} may import only: ${[...may, ...(group(e.from) === 'main' ? [] : ['leaves'])].join(', ') || 'nothing'})`];
    }),
  ];
}

function checkPrivate(edges: readonly Edge[]): string[] {
  return edges
    .filter((e) => under(e.to, PRIVATE) && top(e.from) !== top(e.to))
    .map((e) => `${show(e)}   (private to src/${top(e.to)}/: go through ${ENTRY_FILES[`${top(e.to)}*`]?.join(' or ') ?? 'its entry file'})`);
}

function checkRoutes(edges: readonly Edge[]): string[] {
  return edges.filter((e) => e.to === 'http/server.ts' && top(e.from) === 'http' && e.from !== 'http/server.ts').map((e) => `${show(e)}   (take dependencies from src/http/deps.ts)`);
}

function checkOnlyImportedBy(edges: readonly Edge[]): string[] {
  return edges.flatMap((e) => {
    const importers = ONLY_IMPORTED_BY[top(e.to)];
    if (!importers || top(e.from) === top(e.to) || importers.includes(top(e.from))) return [];
    return [`${show(e)}   (only ${importers.map((f) => `src/${f}/`).join(', ')} may import src/${top(e.to)}/)`];
  });
}

function checkPackages(files: ReadonlyMap<string, string>): string[] {
  const packageOf = (spec: string) => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');
  return [...files]
    .filter(([p]) => p.endsWith('.ts'))
    .flatMap(([p, s]) => importsOf(p, s))
    .flatMap(({ from, spec, line }) => {
      const pkg = packageOf(spec);
      const rule = Object.entries(PACKAGE_HOMES).find(([k]) => (k.endsWith('/*') ? pkg.startsWith(k.slice(0, -1)) : pkg === k));
      if (spec.startsWith('.') || !rule || under(from, rule[1])) return [];
      return [`src/${from}:${line} → ${spec}   (${rule[0]} only in ${rule[1].map((h) => `src/${h}`).join(', ')})`];
    });
}

// ---- Scanning src/ (the only part that touches the file system) ----

function scanSrc(): Map<string, string> {
  const src = fileURLToPath(new URL('../../src/', import.meta.url));
  const files = new Map<string, string>();
  for (const entry of readdirSync(src, { recursive: true }) as string[]) {
    const path = entry.split(sep).join('/');
    if (top(path) === 'web' || !statSync(join(src, entry)).isFile()) continue; // src/web/ holds browser assets
    files.set(path, readFileSync(join(src, entry), 'utf8'));
  }
  return files;
}

function expectNone(violations: string[], rule: string): void {
  if (violations.length > 0) assert.fail(`${rule}: ${violations.length} violation(s)\n  - ${violations.join('\n  - ')}`);
}

// ---- Tests ----

const files = scanSrc();
const edges = edgesOf(files);

test('src/ is read: files and imports were found', () => {
  assert.ok(files.has('main.ts') && edges.some((e) => e.from === 'main.ts'), 'the scanner found no src/main.ts or none of its imports');
});
test('1. no import cycle in src/ (type-only imports included)', () => expectNone(checkCycles(edges), 'Import cycles (file:line → imported file)'));
test(`2. at most ${MAX_ROOT_FILES} files at the root of src/, no .ts file over ${MAX_LINES} lines`, () => expectNone(checkSize(files), 'Size'));
test('3. folders import only what FOLDER_RULES allows', () => expectNone(checkFolders(files, edges), 'Folder rules'));
test('4. implementation files are private to their folder', () => expectNone(checkPrivate(edges), 'Private files imported from another folder'));
test('5. route files never import src/http/server.ts', () => expectNone(checkRoutes(edges), 'Routes importing the server'));
test('6. only app imports ingest and http; only cli imports app', () => expectNone(checkOnlyImportedBy(edges), 'Restricted folders'));
test('7. npm packages are imported only in their place', () => expectNone(checkPackages(files), 'Packages out of place'));

test('the checks do fail: planted violations in fake files are each reported', () => {
  const fake = new Map<string, string>([
    ['hub/a.ts', "import type {\n  B,\n} from './b.js';\n"], // a → b → c → a, all type-only
    ['hub/b.ts', "export type { C } from './c.js';\n"],
    ['hub/c.ts', "/** import { x } from '../bus/redis.js' (in a comment: ignored) */\nimport type { A } from './a.js';\n"],
    ['model/x.ts', "export const s = await import('../http/server.js');\n"],
    ['http/ops.ts', "import type { HttpDeps } from './server.js';\n"],
    ['app/app.ts', "import '../bus/redis.js';\n"],
    ['metrics.ts', "import { Registry } from 'prom-client';\n"],
    ['bus/index.ts', "const s = require('better-sqlite3-13');\n"],
    ['big.ts', 'x;\n'.repeat(MAX_LINES + 1)],
    ...Array.from({ length: MAX_ROOT_FILES - 1 }, (_, i): [string, string] => [`leaf${i}.ts`, '']),
  ]);
  const e = edgesOf(fake);
  assert.deepEqual(checkCycles(e), [
    'cycle through src/hub/a.ts, src/hub/b.ts, src/hub/c.ts:\n      src/hub/a.ts:3 → src/hub/b.ts\n      src/hub/b.ts:1 → src/hub/c.ts\n      src/hub/c.ts:2 → src/hub/a.ts',
  ]);
  assert.deepEqual(checkFolders(fake, e), ['src/model/x.ts:1 → src/http/server.ts   (model may import only: leaves)']);
  assert.deepEqual(checkOnlyImportedBy(e), ['src/model/x.ts:1 → src/http/server.ts   (only src/app/ may import src/http/)']);
  assert.deepEqual(checkPrivate(e), ['src/app/app.ts:1 → src/bus/redis.ts   (private to src/bus/: go through bus/bus.ts or bus/index.ts)']);
  assert.deepEqual(checkRoutes(e), ['src/http/ops.ts:1 → src/http/server.ts   (take dependencies from src/http/deps.ts)']);
  assert.deepEqual(checkPackages(fake), [
    'src/metrics.ts:1 → prom-client   (prom-client only in src/app/prometheus.ts)',
    'src/bus/index.ts:1 → better-sqlite3-13   (better-sqlite3-13 only in src/store/sqlite-driver.ts)',
  ]);
  assert.deepEqual(checkSize(fake), [
    'src/ has 9 files at its root (max 8): big.ts, leaf0.ts, leaf1.ts, leaf2.ts, leaf3.ts, leaf4.ts, leaf5.ts, leaf6.ts, metrics.ts',
    'src/big.ts has 501 lines (max 500)',
  ]);
});
