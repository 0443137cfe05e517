/**
 * A read-only connection to swf-monitor's own database (DJANGO_DATABASE_URL),
 * used only to look credentials up. SQLite is opened with `readonly` (and
 * `query_only`); every PostgreSQL session starts with
 * `default_transaction_read_only=on`; and only statements that read pass, so
 * the relay cannot write there even by mistake.
 *
 * The one file of auth/ that talks to a database driver: this is a foreign
 * credential store, not the relay's Store (docs/architecture.md).
 */
import type BetterSqlite3 from 'better-sqlite3';
import type pg from 'pg';
import type { DatabaseConfig } from '../config.js';

/** The monitor's database, for SELECTs only. */
export interface DjangoDb {
  readonly dialect: DatabaseConfig['kind'];
  /** Runs one SELECT with positional parameters `$1`, `$2`, … and returns its rows; rejects when the database cannot answer. */
  select<T extends object>(sql: string, params: readonly unknown[]): Promise<T[]>;
  /** Closes the connection(s); later selects reject. */
  close(): Promise<void>;
}

/** How long a connection attempt or a query may take: a lookup sits in front of every request that carries a Django credential. */
export const DJANGO_DB_TIMEOUT_MS = 2000;

/** Opens nothing yet: connections are made on first use, so a monitor database that is down at start does not stop the relay. */
export function openDjangoDb(database: DatabaseConfig): DjangoDb {
  return database.kind === 'sqlite' ? sqliteDb(database.path) : postgresDb(database.url);
}

function assertSelect(sql: string): void {
  if (!/^\s*select\s/i.test(sql)) throw new Error('the Django database is read-only for the relay: SELECT only');
}

function sqliteDb(path: string): DjangoDb {
  let db: BetterSqlite3.Database | undefined;
  let closed = false;
  const statements = new Map<string, { statement: BetterSqlite3.Statement; order: number[] }>();
  const open = async (): Promise<BetterSqlite3.Database> => {
    if (closed) throw new Error('the Django database connection is closed');
    if (db) return db;
    const { sqliteDriver } = await import('../store/sqlite-driver.js');
    const Database = sqliteDriver();
    // A missing file is an unreachable database, never a new empty one; the timeout bounds
    // how long a lookup blocks while Django holds a write lock.
    const opened = new Database(path, { readonly: true, fileMustExist: true, timeout: DJANGO_DB_TIMEOUT_MS / 2 });
    opened.pragma('query_only = ON');
    return (db = opened);
  };
  return {
    dialect: 'sqlite',
    async select<T extends object>(sql: string, params: readonly unknown[]): Promise<T[]> {
      assertSelect(sql);
      const conn = await open();
      let prepared = statements.get(sql);
      if (!prepared) {
        // better-sqlite3 binds `?` in order; `$n` is PostgreSQL's spelling, so map one onto the other.
        const order = [...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]) - 1);
        const statement = conn.prepare(sql.replace(/\$\d+/g, '?'));
        if (!statement.readonly) throw new Error('the Django database is read-only for the relay: statement would write');
        statements.set(sql, (prepared = { statement, order }));
      }
      return prepared.statement.all(...prepared.order.map((i) => params[i])) as T[];
    },
    async close() {
      closed = true;
      statements.clear();
      db?.close();
      db = undefined;
    },
  };
}

function postgresDb(url: string): DjangoDb {
  let pool: pg.Pool | undefined;
  let closed = false;
  const open = async (): Promise<pg.Pool> => {
    if (closed) throw new Error('the Django database connection is closed');
    if (pool) return pool;
    const { default: pgModule } = await import('pg');
    // `options` given in the URL are kept, and ours come after them so they win.
    const target = new URL(url);
    const given = target.searchParams.get('options');
    target.searchParams.delete('options');
    pool = new pgModule.Pool({
      connectionString: target.toString(),
      options: [given, '-c default_transaction_read_only=on'].filter(Boolean).join(' '),
      max: 4,
      connectionTimeoutMillis: DJANGO_DB_TIMEOUT_MS,
      statement_timeout: DJANGO_DB_TIMEOUT_MS,
      query_timeout: DJANGO_DB_TIMEOUT_MS + 500,
      idleTimeoutMillis: 30_000,
      application_name: 'swf-relay (read-only auth)',
    });
    // A dropped idle connection must not crash the process; the pool replaces it on next use.
    pool.on('error', () => {});
    return pool;
  };
  return {
    dialect: 'postgres',
    async select<T extends object>(sql: string, params: readonly unknown[]): Promise<T[]> {
      assertSelect(sql);
      const result = await (await open()).query(sql, [...params]);
      return result.rows as T[];
    },
    async close() {
      closed = true;
      await pool?.end();
      pool = undefined;
    },
  };
}
