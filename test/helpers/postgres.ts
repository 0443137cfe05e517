// Throwaway PostgreSQL databases for tests, created on the server named by TEST_DATABASE_URL (default: local trust auth).
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh, empty database: `url` points at it, `drop()` disconnects everyone and drops it. */
export type TestDatabase = { url: string; drop(): Promise<void> };

/** Creates database `swf_relay_test_<hex>` on the TEST_DATABASE_URL server (or local default) and returns its URL. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = process.env.TEST_DATABASE_URL ?? DEFAULT_URL;
  const name = `swf_relay_test_${randomBytes(6).toString('hex')}`;
  await withAdmin(adminUrl, (db) => db.query(`CREATE DATABASE ${name}`));

  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    async drop() {
      if (dropped) return;
      await withAdmin(adminUrl, async (db) => {
        await db.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        await db.query(`DROP DATABASE IF EXISTS ${name}`);
      });
      dropped = true;
    },
  };
}

async function withAdmin<T>(adminUrl: string, fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  db.on('error', () => {}); // a server-side disconnect must not crash the test process
  try {
    await db.connect();
  } catch (err) {
    await db.end().catch(() => {});
    if (err instanceof pg.DatabaseError) throw err; // reachable, but refused us (auth, missing database, ...)
    const { hostname, port } = new URL(adminUrl);
    throw new Error(
      `PostgreSQL is not reachable at ${hostname || 'localhost'}:${port || '5432'} (TEST_DATABASE_URL): start it, e.g. ` +
        '`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or install Debian\'s postgresql package',
      { cause: err },
    );
  }
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}
