/**
 * Authorisation: an admin flag on users, and namespace restrictions on users and
 * tokens (JSON text of a list; null = every namespace).
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table users add column is_admin integer not null default 0`.execute(db);
  await sql`alter table users add column namespaces text`.execute(db);
  await sql`alter table tokens add column namespaces text`.execute(db);
}
