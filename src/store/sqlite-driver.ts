/**
 * The better-sqlite3 build that is safe on the running Node.
 *
 * - better-sqlite3 12 derives its Database and Statement from node::ObjectWrap. Compiled
 *   against Node ≥ 24.19's headers, ObjectWrap's destructor aborts the process ("Assertion
 *   failed: (env) != nullptr" in RemoveEnvironmentCleanupHook) when a full garbage
 *   collection frees one, and Kysely prepares a new statement for every query.
 * - better-sqlite3 13 uses Node-API (no ObjectWrap) and ships prebuilt binaries, but needs
 *   Node 22 and crashes on Node 20.
 *
 * So Node 20 loads 12 (`better-sqlite3`) and Node ≥ 22 loads 13 (`better-sqlite3-13`, an
 * optional dependency that npm installs only on Node ≥ 22). Their API is the same.
 */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

const require = createRequire(import.meta.url);

/** The package the running Node loads. */
export const SQLITE_DRIVER = Number(process.versions.node.split('.')[0]) >= 22 ? 'better-sqlite3-13' : 'better-sqlite3';

let driver: typeof BetterSqlite3 | undefined;

/** The better-sqlite3 Database constructor for the running Node (loaded on first use, so PostgreSQL-only processes never load it). */
export function sqliteDriver(): typeof BetterSqlite3 {
  if (driver) return driver;
  try {
    driver = (SQLITE_DRIVER === 'better-sqlite3-13' ? require('better-sqlite3-13') : require('better-sqlite3')) as typeof BetterSqlite3;
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && (err as Error).message.includes(`'${SQLITE_DRIVER}'`);
    if (!missing) throw err;
    throw new Error(`${SQLITE_DRIVER} is not installed; SQLite on Node ${process.versions.node} needs it: run \`npm install\` with this Node (without --omit=optional)`, { cause: err });
  }
  return driver;
}
