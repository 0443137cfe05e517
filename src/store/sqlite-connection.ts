/** One SQLite connection as the relay opens them all: WAL, durable commits, foreign keys, a busy wait. */
import type BetterSqlite3 from 'better-sqlite3';
import { sqliteDriver } from './sqlite-driver.js';

/** Opens `path` (`:memory:` works) with the relay's pragmas. */
export function openSqliteConnection(path: string): BetterSqlite3.Database {
  const BetterSqlite3 = sqliteDriver();
  const sqlite = new BetterSqlite3(path);
  // WAL lets readers (history, replay) run beside the writer; FULL makes a
  // commit durable before we acknowledge the message to the broker.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  // Two connections write (the ingestion thread and the main one): each waits for the other's lock.
  sqlite.pragma('busy_timeout = 5000');
  return sqlite;
}
