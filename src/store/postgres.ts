/** PostgresStore: the production store (node-postgres pool). */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { PostgresBatchWriter } from './postgres-batch-writer.js';
import type { Database } from './schema.js';
import { SqlStore } from './sql-store.js';

const JSON_OID = 114;
/** A new connection not ready within this long fails (the pool's wait for a free one too). */
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * A statement unanswered this long is abandoned and its connection dropped. Across a network
 * partition that drops packets, nothing else ends it: the socket neither errors nor closes,
 * and TCP keepalive does not probe while a request is unanswered.
 */
const QUERY_TIMEOUT_MS = 30_000;
/** TCP keepalive on idle connections: a peer gone for good is noticed in minutes, not hours. */
const KEEPALIVE_DELAY_MS = 10_000;
/**
 * The server ends a session that sits this long inside a transaction. The relay's transactions are a
 * few back-to-back statements; one left open is a frozen or cut-off process, and a fenced commit holds
 * the writer-epoch row (FOR SHARE) that the next lease holder's claim must update: without this the
 * standby would wait for the frozen listener to wake.
 */
const IDLE_IN_TRANSACTION_MS = 5_000;

/** Types for this pool only: `json` columns come back as the exact text stored (no parse, no re-serialisation). */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === JSON_OID) return (value: string) => value;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/**
 * A pg client that drops its connection when a query goes unanswered for QUERY_TIMEOUT_MS: the
 * query fails ("Connection terminated"), the client is no longer queryable, and the pool replaces
 * it. pg's own `query_timeout` fails the query but keeps the hung connection for the next one.
 */
class BoundedClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    // A connection lost while checked out (the pool listens only to idle ones): its queries fail, which is enough.
    this.on('error', () => {});
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one override for all of pg's query() overloads
  override query(...args: any[]): any {
    const connection = (this as unknown as { connection: { stream: { destroy(): void } } }).connection;
    const timer = setTimeout(() => connection.stream.destroy(), QUERY_TIMEOUT_MS);
    timer.unref();
    const callback = args.at(-1);
    if (typeof callback === 'function') {
      args[args.length - 1] = (...results: unknown[]) => {
        clearTimeout(timer);
        (callback as (...r: unknown[]) => void)(...results);
      };
      return (super.query as (...a: unknown[]) => unknown)(...args);
    }
    const result = (super.query as (...a: unknown[]) => unknown)(...args);
    if (result instanceof Promise) void result.finally(() => clearTimeout(timer)).catch(() => {});
    else clearTimeout(timer); // a submittable (cursor): not ours to bound
    return result;
  }
}

/** Connects a pool to `url` (postgres://…). */
export function openPostgresStore(url: string): SqlStore {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    types: types as pg.CustomTypesConfig,
    Client: BoundedClient,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
  });
  // A dropped idle connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return new SqlStore('postgres', db, new PostgresBatchWriter(pool));
}
