/** SqliteStore: the zero-setup default (better-sqlite3, one file, WAL). */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database } from './schema.js';
import { sqliteDriver } from './sqlite-driver.js';
import { SqlStore } from './sql-store.js';

/** Opens (creating if needed) the SQLite database at `path`; `:memory:` works for tests. */
export function openSqliteStore(path: string): SqlStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const BetterSqlite3 = sqliteDriver();
  const sqlite = new BetterSqlite3(path);
  // WAL lets readers (history, replay) run beside the writer; FULL makes a
  // commit durable before we acknowledge the message to the broker.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  return new SqlStore('sqlite', db);
}
