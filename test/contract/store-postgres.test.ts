// The store contracts on PostgreSQL: a fresh database per suite (createTestDatabase), dropped at its end.
// PostgreSQL must be reachable (TEST_DATABASE_URL or 127.0.0.1:5432): if it is not, this file fails with the helper's message.
import pg from 'pg';
import { openPostgresStore } from '../../src/store/postgres.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { allStoreContracts } from './store-contracts.js';
import type { OpenStore } from './store-fixtures.js';

/** A store on a new throwaway database, dropped by cleanup(). */
const open: OpenStore = async () => {
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
};

// Every role's suite (retention.test.ts also runs the RetentionJob itself on both stores).
allStoreContracts('postgres (fresh database)', open);
