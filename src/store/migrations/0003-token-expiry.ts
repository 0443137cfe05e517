/** Tokens may expire: `token create --expires-days N`. */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table tokens add column expires_at text`.execute(db);
}
