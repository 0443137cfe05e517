/** SqliteStore: the zero-setup default (better-sqlite3, one file, WAL). */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database } from './schema.js';
import { SqliteBatchWriter } from './sqlite-batch-writer.js';
import { openSqliteConnection } from './sqlite-connection.js';
import { SqliteThreadedWriter } from './sqlite-threaded-writer.js';
import { SqlStore, type BatchWriter } from './sql-store.js';

/**
 * Opens (creating if needed) the SQLite database at `path`; `:memory:` works for tests.
 * Ingestion commits run in a writer thread with a connection of its own; a `:memory:`
 * database cannot be opened twice, so there they run on the one connection.
 */
export function openSqliteStore(path: string): SqlStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = openSqliteConnection(path);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  return new SqlStore('sqlite', db, path === ':memory:' ? inProcessWriter(sqlite) : new SqliteThreadedWriter(path));
}

/** The batch writer on the store's own connection (prepared on first use: after migrate()). */
function inProcessWriter(sqlite: ReturnType<typeof openSqliteConnection>): BatchWriter {
  let writer: SqliteBatchWriter | undefined;
  return {
    commit: async (batch) => (writer ??= new SqliteBatchWriter(sqlite)).commit(batch),
    close: async () => {},
  };
}
