/** openStore(): the store DATABASE_URL names. The implementations load only when used. */
import type { DatabaseConfig } from '../config.js';
import type { Store } from './store.js';

/** Opens the store the configuration names (it does not migrate: call migrate()). */
export async function openStore(database: DatabaseConfig): Promise<Store> {
  if (database.kind === 'sqlite') {
    const { openSqliteStore } = await import('./sqlite.js');
    return openSqliteStore(database.path);
  }
  const { openPostgresStore } = await import('./postgres.js');
  return openPostgresStore(database.url);
}
