// The Store contract on PostgreSQL: a fresh database for this file (createTestDatabase), dropped at the end.
// PostgreSQL must be reachable (TEST_DATABASE_URL or 127.0.0.1:5432): if it is not, this file fails with the helper's message.
import pg from 'pg';
import { openPostgresStore } from '../../src/store/postgres.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { storeContract } from './store.contract.js';

storeContract('postgres (fresh database)', async () => {
  const database = await createTestDatabase();
  const store = openPostgresStore(database.url);
  let raw: pg.Client | undefined;
  return {
    store,
    async query(sqlText) {
      if (!raw) {
        raw = new pg.Client({ connectionString: database.url });
        await raw.connect();
      }
      return (await raw.query(sqlText)).rows as Record<string, unknown>[];
    },
    async cleanup() {
      await raw?.end();
      await store.close();
      await database.drop();
    },
  };
});
