/**
 * Store: everything the relay persists (SPEC §8), as interfaces by role
 * (messages, retention, identity, subscribers) that one Store implements over
 * SQLite or PostgreSQL with one Kysely query layer (sql-store.ts). Parts take
 * the narrowest role they need; openStore() is in index.ts.
 */
import type { Filters } from '../model/filter.js';
import type { HeartbeatFields, WorkflowFields } from '../model/message.js';

/** SQL dialects the store speaks. */
export type Dialect = 'sqlite' | 'postgres';

/** A workflow message ready to be stored. */
export interface NewWorkflowMessage {
  /** The broker's message-id (unique); duplicates are skipped. */
  readonly brokerMessageId: string;
  readonly fields: WorkflowFields;
  readonly queueName: string;
  /** ISO-8601 receipt time. */
  readonly sentAt: string;
  /** The enriched payload as relayed (JSON text). */
  readonly content: string;
  /** Broker headers (JSON text). */
  readonly metadata: string;
}

/** An agent heartbeat to upsert. */
export interface AgentHeartbeat {
  readonly fields: HeartbeatFields;
  /** The heartbeat body (JSON text). */
  readonly payload: string;
  /** ISO-8601 receipt time. */
  readonly at: string;
}

/** A body that could not be used, kept with its reason. */
export interface NewRejected {
  readonly brokerMessageId: string | null;
  readonly receivedAt: string;
  readonly queueName: string;
  readonly reason: string;
  readonly detail: string;
  /** Raw bytes, already truncated to the size limit. */
  readonly body: Uint8Array;
  /** Size of the original body in bytes. */
  readonly bodySize: number;
  readonly truncated: boolean;
  /** Broker headers (JSON text). */
  readonly headers: string;
}

/** What one ingestion transaction writes. */
export interface IngestBatch {
  readonly messages: readonly NewWorkflowMessage[];
  readonly heartbeats: readonly AgentHeartbeat[];
  readonly rejected: readonly NewRejected[];
  /**
   * The writer's epoch from claimWriter(), when writers take turns (the listener lease): the commit
   * is refused with StaleWriterError unless it is still the newest claim. Absent: no check.
   */
  readonly writerEpoch?: number;
}

/**
 * A commit refused because another writer claimed the store since (fencing): a listener that
 * lost its lease while frozen or cut off must not write, or ids would interleave with the new holder's.
 */
export class StaleWriterError extends Error {
  override readonly name = 'StaleWriterError';
  constructor(readonly epoch: number) {
    super(`writer epoch ${epoch} is stale: another listener claimed the store since`);
  }
}

/**
 * A commit whose outcome is unknown: the connection failed or timed out (PostgreSQL), or the
 * writer thread died (SQLite), before the store answered. It may have been applied, so it is
 * not a refusal of its messages: the ingestor retries it rather than keeping its messages as
 * rejected, and looks up the ids of those its retry finds already stored (they are not yet relayed).
 */
export class StoreUnreachableError extends Error {
  override readonly name = 'StoreUnreachableError';
  constructor(cause: unknown) {
    super(`the store did not answer: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** relay_state key of the newest writer epoch (claimWriter). */
export const WRITER_EPOCH_KEY = 'writer_epoch';

/** A stored workflow message. */
export interface StoredMessage {
  readonly id: string;
  readonly brokerMessageId: string;
  readonly fields: WorkflowFields;
  readonly queueName: string;
  readonly sentAt: string;
  readonly content: string;
}

/** A history query (GET /api/messages/). */
export interface HistoryQuery {
  readonly filters: Filters;
  /** Only ids greater than this (then oldest first). */
  readonly afterId?: string;
  /** Only ids smaller than this. */
  readonly beforeId?: string;
  /** ISO-8601 receipt-time bounds, inclusive since / exclusive until. */
  readonly since?: string;
  readonly until?: string;
  readonly limit: number;
  /** When set, the rows end with the one whose content (UTF-8 bytes) brings their total to this or more (see messagesAfter). */
  readonly maxBytes?: number;
  /** `asc` oldest first, `desc` newest first. */
  readonly order: 'asc' | 'desc';
}

/** A stored rejected body. */
export interface StoredRejected extends NewRejected {
  readonly id: string;
}

/** A known agent. */
export interface StoredAgent {
  readonly name: string;
  readonly agentType: string | null;
  readonly status: string;
  readonly namespace: string | null;
  readonly lastHeartbeat: string;
}

/** A user account. */
export interface StoredUser {
  readonly id: string;
  readonly username: string;
  readonly isActive: boolean;
  /** scrypt hash (see passwords.ts), or null for a token-only user. */
  readonly passwordHash?: string | null;
  /** Sees every user's streams in status and subscribers. */
  readonly isAdmin: boolean;
  /** The only namespaces the user may see, or null (all). */
  readonly namespaces: readonly string[] | null;
}

/** What may be set on a user besides its password and active flag. */
export interface UserChanges {
  readonly isAdmin?: boolean;
  /** null lifts the restriction. */
  readonly namespaces?: readonly string[] | null;
}

/**
 * A browser session (the cookie value itself is never stored, only its hash).
 * One made with a token ends with it: `expiresAt` and `revokedAt` are then the
 * earlier of the session's and the token's.
 */
export interface StoredSession {
  readonly userId: string;
  readonly username: string;
  readonly userActive: boolean;
  readonly expiresAt: string;
  readonly revokedAt: string | null;
  /** The token it was made with, or null (password sign-in). */
  readonly tokenId: string | null;
  readonly userAdmin: boolean;
  readonly userNamespaces: readonly string[] | null;
  /** The namespaces of the token it was made with (null: none, or unrestricted). */
  readonly tokenNamespaces: readonly string[] | null;
}

/** Credentials that open streams are using: token ids and session id hashes. */
export interface CredentialRefs {
  readonly tokenIds: readonly string[];
  readonly sessionIdHashes: readonly string[];
}

/** A token to store. */
export interface NewToken {
  readonly userId: string;
  readonly keyPrefix: string;
  readonly keyHash: string;
  readonly name: string | null;
  readonly canPublish: boolean;
  readonly expiresAt?: string | null;
  readonly namespaces?: readonly string[] | null;
}

/** A token as stored (no key, only its hash). */
export interface StoredToken {
  readonly id: string;
  readonly userId: string;
  readonly username: string;
  readonly userActive: boolean;
  readonly keyPrefix: string;
  readonly keyHash: string;
  readonly name: string | null;
  readonly canPublish: boolean;
  readonly createdAt: string;
  readonly revokedAt: string | null;
  /** ISO time after which the token no longer authenticates, or null (never). */
  readonly expiresAt: string | null;
  /** The only namespaces the token may see (within its user's), or null. */
  readonly namespaces: readonly string[] | null;
  readonly userAdmin: boolean;
  readonly userNamespaces: readonly string[] | null;
}

/** A new SSE connection, recorded when it opens. */
export interface SubscriberOpen {
  readonly clientId: string;
  readonly name: string;
  readonly username: string | null;
  readonly ip: string | null;
  readonly process: string;
  readonly connectedAt: string;
  /** Filters as JSON text. */
  readonly filters: string;
}

/** Counters of one connection, flushed in batches; `disconnectedAt` set once it closed. */
export interface SubscriberUpdate {
  readonly clientId: string;
  readonly messagesSent: number;
  readonly messagesDropped: number;
  readonly lastActivity: string;
  readonly disconnectedAt: string | null;
}

/** A recorded SSE connection. */
export interface StoredSubscriber extends SubscriberOpen {
  /** Where the client is (reserved: filled by a future geo lookup; null today). */
  readonly location: string | null;
  readonly disconnectedAt: string | null;
  readonly lastActivity: string;
  readonly isActive: boolean;
  readonly messagesSent: number;
  readonly messagesDropped: number;
}

/** Workflow messages, heartbeats and rejected bodies: ingestion writes them, replay and history read them. */
export interface MessageStore {
  /**
   * Writes one batch in one transaction. Returns, for each `batch.messages[i]`,
   * its new id, or null when its broker message-id was already stored (or repeats within the batch).
   */
  commitBatch(batch: IngestBatch): Promise<(string | null)[]>;
  /**
   * Makes this caller the store's one writer: returns a new epoch, greater than every earlier claim's;
   * commits carrying an older epoch are refused from then on (StaleWriterError).
   */
  claimWriter(): Promise<number>;
  /**
   * Stored messages with id greater than `afterId`, in id order, at most `limit`; only those matching
   * `filters` when given. With `maxBytes`, the rows end with the one that brings their content (UTF-8
   * bytes) to `maxBytes` or more, so fewer than `limit` rows means "caught up" only when their content
   * is below `maxBytes`; rows beyond the cut are not loaded.
   */
  messagesAfter(afterId: string, limit: number, filters?: Filters, maxBytes?: number): Promise<StoredMessage[]>;
  /** The id of the message stored with this broker message-id, or null (never stored, or pruned). */
  idOfBrokerMessage(brokerMessageId: string): Promise<string | null>;
  /** The highest stored message id, or null when none is stored. */
  maxMessageId(): Promise<string | null>;
  /**
   * When more than `max` messages after `afterId` match `filters`: the older ones
   * a bounded replay skips (first and last id, count). Null when all fit.
   */
  replaySkip(afterId: string, filters: Filters, max: number): Promise<{ fromId: string; toId: string; count: number } | null>;
  /** Highest message id removed by retention ('0' when nothing was pruned). */
  prunedThrough(): Promise<string>;
  /** History: matching messages in the query's order and bounds. */
  listMessages(query: HistoryQuery): Promise<StoredMessage[]>;
  /** Time of the newest stored message, or null. */
  lastMessageAt(): Promise<string | null>;
  /** Newest rejected bodies first. */
  listRejected(limit: number): Promise<StoredRejected[]>;
  listAgents(): Promise<StoredAgent[]>;
}

/** Retention: removes what is older than RETENTION_DAYS, in bounded batches. */
export interface RetentionStore {
  /**
   * Deletes up to `batch` of the oldest messages received before
   * `cutoff` (ISO-8601), records the highest id removed, and returns how many it removed.
   */
  pruneMessages(cutoff: string, batch: number): Promise<number>;
  /** Deletes up to `batch` rejected bodies received before `cutoff`; returns how many. */
  pruneRejected(cutoff: string, batch: number): Promise<number>;
  /** Deletes up to `batch` sessions that expired or were revoked before `cutoff`; returns how many. */
  pruneSessions(cutoff: string, batch: number): Promise<number>;
  /** Deletes up to `batch` subscriber rows of connections that closed before `cutoff`; returns how many. */
  pruneSubscribers(cutoff: string, batch: number): Promise<number>;
}

/** Identity: users, their tokens and browser sessions (secrets only as hashes). */
export interface IdentityStore {
  /** Creates a user (no password) and returns it; throws if the name is taken. */
  createUser(username: string, changes?: UserChanges): Promise<StoredUser>;
  /** Changes a user's admin flag or namespaces; false when there is no such user. */
  updateUser(username: string, changes: UserChanges): Promise<boolean>;
  findUser(username: string): Promise<StoredUser | undefined>;
  /** Sets a user's password hash and ends all of the user's sessions; false when there is no such user. */
  setPassword(username: string, passwordHash: string): Promise<boolean>;
  /** Enables or disables a user (a disabled user's tokens and sessions do not authenticate); false when there is no such user. */
  setUserActive(username: string, active: boolean): Promise<boolean>;
  insertSession(session: { idHash: string; userId: string; expiresAt: string; tokenId?: string | null }): Promise<void>;
  findSession(idHash: string): Promise<StoredSession | undefined>;
  /** Revokes a session; false when none matched or it was already revoked. */
  revokeSession(idHash: string): Promise<boolean>;
  insertToken(token: NewToken): Promise<StoredToken>;
  findTokenByPrefix(keyPrefix: string): Promise<StoredToken | undefined>;
  listTokens(): Promise<StoredToken[]>;
  /** Marks a token revoked by id or key prefix; false when none matched or it was already revoked. */
  revokeToken(idOrPrefix: string): Promise<boolean>;
  /**
   * Of `refs`, those that still authenticate at `now` (ISO): not revoked, not
   * expired, user active, and for a session its token (if any) likewise. One
   * query for the lot: open streams re-check their credentials with it.
   */
  liveCredentials(refs: CredentialRefs, now: string): Promise<CredentialRefs>;
}

/** SSE subscribers: one row per connection, counters flushed in batches. */
export interface SubscriberStore {
  openSubscriber(subscriber: SubscriberOpen): Promise<void>;
  /** Applies many counter updates in one transaction. */
  updateSubscribers(updates: readonly SubscriberUpdate[]): Promise<void>;
  /** Newest connections first; at most `limit` (default: all). */
  listSubscribers(activeOnly: boolean, limit?: number): Promise<StoredSubscriber[]>;
}

/** Persistence of the relay: every role over one database. All methods are safe to call concurrently. */
export interface Store extends MessageStore, RetentionStore, IdentityStore, SubscriberStore {
  readonly dialect: Dialect;
  /** Applies pending migrations; returns the names applied now (empty when up to date). */
  migrate(): Promise<string[]>;
  /** A trivial query, for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
