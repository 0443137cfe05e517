/** A small key/value table for the relay's own bookkeeping (e.g. how far retention has pruned). */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create table relay_state (key text primary key, value text not null)`.execute(db);
}
