/** The tables of SPEC §8. */
import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../store.js';

export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  // Ids must only grow (they are event ids): AUTOINCREMENT never reuses one on SQLite.
  const idColumn = (t: string) =>
    dialect === 'sqlite' ? sql.raw(`${t} integer primary key autoincrement`) : sql.raw(`${t} bigint generated always as identity primary key`);
  const json = dialect === 'sqlite' ? 'text' : 'json';
  const bytes = dialect === 'sqlite' ? 'blob' : 'bytea';
  const fk = dialect === 'sqlite' ? 'integer' : 'bigint';

  await sql`create table workflow_messages (
    ${idColumn('id')},
    broker_message_id text not null,
    message_type text not null,
    sender_agent text,
    recipient_agent text,
    namespace text,
    execution_id text,
    run_id text,
    processed_by text,
    filename text,
    queue_name text not null,
    sent_at text not null,
    message_content ${sql.raw(json)} not null,
    message_metadata ${sql.raw(json)} not null
  )`.execute(db);
  await sql`create unique index workflow_messages_broker_message_id on workflow_messages (broker_message_id)`.execute(db);
  // Filter columns with id so "filter + id range" (replay, history) is one index range scan.
  for (const column of ['message_type', 'run_id', 'namespace', 'sender_agent', 'processed_by', 'sent_at']) {
    await sql`create index ${sql.raw(`workflow_messages_${column}_id`)} on workflow_messages (${sql.raw(column)}, id)`.execute(db);
  }

  await sql`create table agents (
    name text primary key,
    agent_type text,
    status text not null,
    namespace text,
    last_heartbeat text not null,
    payload ${sql.raw(json)} not null,
    first_seen text not null
  )`.execute(db);

  await sql`create table rejected_messages (
    ${idColumn('id')},
    broker_message_id text,
    received_at text not null,
    queue_name text not null,
    reason text not null,
    detail text not null,
    body ${sql.raw(bytes)} not null,
    body_size integer not null,
    truncated integer not null,
    headers ${sql.raw(json)} not null
  )`.execute(db);
  await sql`create unique index rejected_messages_broker_message_id on rejected_messages (broker_message_id)`.execute(db);
  await sql`create index rejected_messages_received_at on rejected_messages (received_at)`.execute(db);

  await sql`create table users (
    ${idColumn('id')},
    username text not null unique,
    password_hash text,
    is_active integer not null default 1,
    created_at text not null
  )`.execute(db);

  await sql`create table tokens (
    ${idColumn('id')},
    user_id ${sql.raw(fk)} not null references users (id) on delete cascade,
    key_prefix text not null unique,
    key_hash text not null,
    name text,
    can_publish integer not null default 0,
    created_at text not null,
    revoked_at text
  )`.execute(db);

  await sql`create table sessions (
    id_hash text primary key,
    user_id ${sql.raw(fk)} not null references users (id) on delete cascade,
    created_at text not null,
    expires_at text not null,
    revoked_at text
  )`.execute(db);

  await sql`create table subscribers (
    client_id text primary key,
    name text not null,
    username text,
    ip text,
    location text,
    process text not null,
    connected_at text not null,
    disconnected_at text,
    last_activity text not null,
    is_active integer not null,
    message_filters ${sql.raw(json)} not null,
    messages_sent bigint not null default 0,
    messages_dropped bigint not null default 0
  )`.execute(db);
  await sql`create index subscribers_is_active on subscribers (is_active, connected_at)`.execute(db);
}
