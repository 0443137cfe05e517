/**
 * A session remembers the token it was made with (POST /api/auth/login with {"token"}), so
 * revoking or expiring that token ends the session too. Null for a password sign-in.
 */
import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../store.js';

export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const fk = dialect === 'sqlite' ? 'integer' : 'bigint';
  await sql`alter table sessions add column token_id ${sql.raw(fk)} references tokens (id) on delete cascade`.execute(db);
  // Ending every session of a user (password change) reads sessions by user.
  await sql`create index sessions_user_id on sessions (user_id)`.execute(db);
}
