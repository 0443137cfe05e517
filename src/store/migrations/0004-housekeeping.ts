/** Indexes for pruning ended sessions and past subscriber rows (retention reads them by time). */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index sessions_expires_at on sessions (expires_at)`.execute(db);
  await sql`create index subscribers_disconnected_at on subscribers (disconnected_at)`.execute(db);
}
