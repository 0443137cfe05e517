// A throwaway swf-monitor-like Django database for tests, made by Django itself through
// django_fixture.py (Debian's python3-django, python3-djangorestframework, python3-psycopg2),
// one long-lived Python process per database so each change is a quick round trip.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from './postgres.js';

/** Debian's interpreter: the one python3-django is installed for (another python3 on the PATH may lack it). */
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./django_fixture.py', import.meta.url));
const PACKAGES = 'python3-django python3-djangorestframework python3-psycopg2';
/** django_fixture.py's exit code when a package is missing (its stderr names which). */
const EXIT_MISSING = 3;

/** A Django database: its DJANGO_DATABASE_URL, fixture commands against it, and cleanup. */
export type DjangoProject = {
  readonly kind: 'sqlite' | 'postgres';
  /** What to give the relay as DJANGO_DATABASE_URL. */
  readonly url: string;
  /** Runs one django_fixture.py command (see its docstring) and returns its answer. */
  run<T = Record<string, unknown>>(...argv: string[]): Promise<T>;
  /** A digest of every row of Django's auth, token and session tables (and, for SQLite, of the file's bytes). */
  dump(): Promise<{ sha256: string; rows: number; file?: string }>;
  /** Stops the Python process and drops the database. */
  drop(): Promise<void>;
};

/** Creates an empty database of `kind` and runs Django's migrations in it. */
export async function createDjangoProject(kind: 'sqlite' | 'postgres'): Promise<DjangoProject> {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: install Debian's python3 and ${PACKAGES} (apt-get install -y --no-install-recommends ${PACKAGES})`);
  let url: string;
  let dropDatabase: () => Promise<void>;
  let file: string | undefined;
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'swf-relay-django-'));
    file = join(dir, 'monitor.sqlite3');
    url = `sqlite:${file}`;
    dropDatabase = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const db = await createTestDatabase();
    url = db.url;
    dropDatabase = () => db.drop();
  }
  const fixture = startFixture(url);
  const project: DjangoProject = {
    kind,
    url,
    run: (...argv) => fixture.run(argv),
    async dump() {
      const rows = await fixture.run<{ sha256: string; rows: number }>(['dump']);
      return file ? { ...rows, file: createHash('sha256').update(readFileSync(file)).digest('hex') } : rows;
    },
    async drop() {
      await fixture.stop();
      await dropDatabase();
    },
  };
  try {
    await project.run('migrate');
  } catch (err) {
    await project.drop();
    throw err;
  }
  return project;
}

/** django_fixture.py as a child process answering one JSON line per command, in order. */
function startFixture(url: string) {
  const child: ChildProcessWithoutNullStreams = spawn(PYTHON, [SCRIPT], { env: { ...process.env, DJANGO_TEST_DATABASE: url }, stdio: 'pipe' });
  const waiting: Array<{ what: string; resolve: (value: unknown) => void; reject: (err: Error) => void }> = [];
  let stderr = '';
  let gone: Error | undefined;
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const next = waiting.shift();
    if (!next) return;
    const answer = JSON.parse(line) as { ok?: unknown; error?: string };
    if (answer.error !== undefined) next.reject(new Error(`django_fixture.py ${next.what} failed:\n${answer.error}`));
    else next.resolve(answer.ok);
  });
  const exited = once(child, 'close') as Promise<[number | null]>;
  void exited.then(([code]) => {
    gone = code === EXIT_MISSING ? new Error(`Django for the tests: ${stderr.trim()}`) : new Error(`django_fixture.py exited (code ${code}):\n${stderr.slice(-3000)}`);
    for (const w of waiting.splice(0)) w.reject(gone);
  });
  child.on('error', (err) => {
    gone = err;
    for (const w of waiting.splice(0)) w.reject(err);
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  return {
    run<T>(argv: string[]): Promise<T> {
      if (gone) return Promise.reject(gone);
      return new Promise<T>((resolve, reject) => {
        waiting.push({ what: argv.join(' '), resolve: resolve as (value: unknown) => void, reject });
        child.stdin.write(`${JSON.stringify(argv)}\n`);
      });
    },
    async stop() {
      process.removeListener('exit', killOnExit);
      if (!gone) child.stdin.end();
      await exited;
    },
  };
}
