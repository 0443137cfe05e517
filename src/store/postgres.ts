/** PostgresStore: the production store (node-postgres pool). */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { PostgresBatchWriter } from './postgres-batch-writer.js';
import type { Database } from './schema.js';
import { SqlStore } from './sql-store.js';

const JSON_OID = 114;

/** Types for this pool only: `json` columns come back as the exact text stored (no parse, no re-serialisation). */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === JSON_OID) return (value: string) => value;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** Connects a pool to `url` (postgres://…). */
export function openPostgresStore(url: string): SqlStore {
  const pool = new pg.Pool({ connectionString: url, max: 10, types: types as pg.CustomTypesConfig });
  // A dropped idle connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return new SqlStore('postgres', db, new PostgresBatchWriter(pool));
}
