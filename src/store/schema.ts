/**
 * Table and column types for Kysely. Times are ISO-8601 UTC strings in both
 * dialects (lexically ordered); JSON columns hold text exactly as relayed.
 */
import type { Generated } from 'kysely';

/** Integer ids come back as numbers (SQLite) or strings (PostgreSQL bigint). */
export type DbId = Generated<number | string>;

export interface WorkflowMessagesTable {
  id: DbId;
  broker_message_id: string;
  message_type: string;
  sender_agent: string | null;
  recipient_agent: string | null;
  namespace: string | null;
  execution_id: string | null;
  run_id: string | null;
  processed_by: string | null;
  filename: string | null;
  queue_name: string;
  sent_at: string;
  message_content: string;
  message_metadata: string;
}

export interface AgentsTable {
  name: string;
  agent_type: string | null;
  status: string;
  namespace: string | null;
  last_heartbeat: string;
  payload: string;
  first_seen: string;
}

export interface RejectedMessagesTable {
  id: DbId;
  broker_message_id: string | null;
  received_at: string;
  queue_name: string;
  reason: string;
  detail: string;
  body: Uint8Array;
  body_size: number;
  truncated: number;
  headers: string;
}

export interface UsersTable {
  id: DbId;
  username: string;
  password_hash: string | null;
  is_active: number;
  created_at: string;
  is_admin: Generated<number>;
  /** JSON list of the namespaces the user may see, or null (all). */
  namespaces: string | null;
}

export interface TokensTable {
  id: DbId;
  user_id: number | string;
  key_prefix: string;
  key_hash: string;
  name: string | null;
  can_publish: number;
  created_at: string;
  revoked_at: string | null;
  expires_at: string | null;
  /** JSON list of the namespaces the token may see, or null (all its user may see). */
  namespaces: string | null;
}

export interface SessionsTable {
  id_hash: string;
  user_id: number | string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  /** The token the session was made with, or null (password sign-in). */
  token_id: number | string | null;
}

export interface SubscribersTable {
  client_id: string;
  name: string;
  username: string | null;
  ip: string | null;
  location: string | null;
  process: string;
  connected_at: string;
  disconnected_at: string | null;
  last_activity: string;
  is_active: number;
  message_filters: string;
  messages_sent: number;
  messages_dropped: number;
}

export interface RelayStateTable {
  key: string;
  value: string;
}

/** The whole database. */
export interface Database {
  workflow_messages: WorkflowMessagesTable;
  agents: AgentsTable;
  rejected_messages: RejectedMessagesTable;
  users: UsersTable;
  tokens: TokensTable;
  sessions: SessionsTable;
  subscribers: SubscribersTable;
  relay_state: RelayStateTable;
}
