/**
 * SqlStore: the Store over Kysely, shared by SQLite and PostgreSQL. Dialect
 * differences live in the migrations and in sqlite.ts / postgres.ts.
 */
import { Migrator, sql, type Expression, type ExpressionBuilder, type Kysely, type Selectable, type SelectQueryBuilder, type SqlBool } from 'kysely';
import type { Filters } from '../model/filter.js';
import { AGENT_STATUS } from '../model/message.js';
import { migrationsFor } from './migrations/index.js';
import type { Database, WorkflowMessagesTable } from './schema.js';
import { SqlIdentity } from './sql-identity.js';
import type {
  Dialect,
  HistoryQuery,
  IngestBatch,
  Store,
  StoredAgent,
  StoredMessage,
  StoredRejected,
  StoredSubscriber,
  SubscriberOpen,
  SubscriberUpdate,
} from './store.js';
import { WRITER_EPOCH_KEY } from './store.js';

/** relay_state key: highest message id removed by retention. */
const PRUNED_THROUGH = 'pruned_through_id';

/** Subscribers updated per statement (5 parameters each). */
const SUBSCRIBER_CHUNK = 500;

/** Writes ingestion batches (IngestBatch → ids in order, null for duplicates) for one dialect. */
export interface BatchWriter {
  commit(batch: IngestBatch): Promise<(string | null)[]>;
  /** Waits for what it was given, then releases what it holds. */
  close(): Promise<void>;
}

/** Store implementation over a Kysely instance; the instance is owned (closed by close()). Identity queries: sql-identity.ts. */
export class SqlStore extends SqlIdentity implements Store {
  constructor(
    readonly dialect: Dialect,
    db: Kysely<Database>,
    private readonly batchWriter: BatchWriter,
  ) {
    super(db);
  }

  async migrate(): Promise<string[]> {
    const migrator = new Migrator({
      db: this.db,
      provider: { getMigrations: async () => migrationsFor(this.dialect) },
      migrationTableName: 'swf_relay_migrations',
      migrationLockTableName: 'swf_relay_migrations_lock',
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error) throw error instanceof Error ? error : new Error(String(error));
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  }

  /** The ingestion commit: each dialect's own writer (statements prepared once), not query building per message. */
  commitBatch(batch: IngestBatch): Promise<(string | null)[]> {
    return this.batchWriter.commit(batch);
  }

  async claimWriter(): Promise<number> {
    // One statement: concurrent claims each get their own, increasing epoch.
    const row = await this.db
      .insertInto('relay_state')
      .values({ key: WRITER_EPOCH_KEY, value: '1' })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: sql<string>`cast(cast(relay_state.value as bigint) + 1 as text)` }))
      .returning('value')
      .executeTakeFirstOrThrow();
    return Number(row.value);
  }

  async messagesAfter(afterId: string, limit: number, filters?: Filters, maxBytes?: number): Promise<StoredMessage[]> {
    let query = this.db.selectFrom('workflow_messages').where('id', '>', afterId);
    if (filters) query = query.where((eb) => filterCondition(eb, filters));
    return this.readBounded(query, 'asc', limit, maxBytes);
  }

  /**
   * The rows of `query` in id `order`, at most `limit`, ending with the one whose content brings the
   * total to `maxBytes` or more. Sizes are read first (no content), so rows beyond the cut are never
   * loaded: a page of 1,000 × 1 MB rows costs 1,000 lengths, not 1 GB.
   */
  private async readBounded(query: SelectQueryBuilder<Database, 'workflow_messages', object>, order: 'asc' | 'desc', limit: number, maxBytes?: number): Promise<StoredMessage[]> {
    if (maxBytes !== undefined && limit > 0) {
      // PostgreSQL stores content as json, which has no octet_length of its own.
      const length = sql<number>`octet_length(message_content${sql.raw(this.dialect === 'postgres' ? '::text' : '')})`;
      const sizes = await query.select(['id', length.as('bytes')]).orderBy('id', order).limit(limit).execute();
      let [total, n] = [0, 0];
      while (n < sizes.length && total < maxBytes) total += Number(sizes[n++]!.bytes);
      if (n === 0) return [];
      [query, limit] = [query.where('id', order === 'asc' ? '<=' : '>=', sizes[n - 1]!.id), n];
    }
    const rows = await query.selectAll().orderBy('id', order).limit(limit).execute();
    return rows.map(toStoredMessage);
  }

  async idOfBrokerMessage(brokerMessageId: string): Promise<string | null> {
    const row = await this.db.selectFrom('workflow_messages').select('id').where('broker_message_id', '=', brokerMessageId).executeTakeFirst();
    return row === undefined ? null : String(row.id);
  }

  async maxMessageId(): Promise<string | null> {
    const row = await this.db.selectFrom('workflow_messages').select((eb) => eb.fn.max('id').as('max')).executeTakeFirst();
    return row?.max === null || row?.max === undefined ? null : String(row.max);
  }

  async replaySkip(afterId: string, filters: Filters, max: number): Promise<{ fromId: string; toId: string; count: number } | null> {
    const matching = this.db
      .selectFrom('workflow_messages')
      .where('id', '>', afterId)
      .where((eb) => filterCondition(eb, filters));
    // The newest skipped message is the (max+1)-th newest match; none means everything fits.
    const boundary = await matching.select('id').orderBy('id', 'desc').limit(1).offset(max).executeTakeFirst();
    if (!boundary) return null;
    const skipped = await matching
      .where('id', '<=', boundary.id)
      .select((eb) => [eb.fn.min('id').as('first'), eb.fn.countAll().as('count')])
      .executeTakeFirstOrThrow();
    return { fromId: String(skipped.first), toId: String(boundary.id), count: Number(skipped.count) };
  }

  async prunedThrough(): Promise<string> {
    const row = await this.db.selectFrom('relay_state').select('value').where('key', '=', PRUNED_THROUGH).executeTakeFirst();
    return row?.value ?? '0';
  }

  async listMessages(q: HistoryQuery): Promise<StoredMessage[]> {
    let query = this.db.selectFrom('workflow_messages').where((eb) => filterCondition(eb, q.filters));
    if (q.afterId !== undefined) query = query.where('id', '>', q.afterId);
    if (q.beforeId !== undefined) query = query.where('id', '<', q.beforeId);
    if (q.since !== undefined) query = query.where('sent_at', '>=', q.since);
    if (q.until !== undefined) query = query.where('sent_at', '<', q.until);
    return this.readBounded(query, q.order, q.limit, q.maxBytes);
  }

  async pruneMessages(cutoff: string, batch: number): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      // Ids grow with receipt time, so the oldest rows are the lowest ids: one range delete.
      const last = await trx
        .selectFrom('workflow_messages')
        .select('id')
        .where('sent_at', '<', cutoff)
        .orderBy('id')
        .offset(batch - 1)
        .limit(1)
        .executeTakeFirst();
      const upTo =
        last?.id ??
        (await trx.selectFrom('workflow_messages').select((eb) => eb.fn.max('id').as('max')).where('sent_at', '<', cutoff).executeTakeFirst())?.max;
      if (upTo === null || upTo === undefined) return 0;
      const result = await trx.deleteFrom('workflow_messages').where('id', '<=', upTo).where('sent_at', '<', cutoff).executeTakeFirst();
      await trx
        .insertInto('relay_state')
        .values({ key: PRUNED_THROUGH, value: String(upTo) })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value: String(upTo) }))
        .execute();
      return Number(result.numDeletedRows);
    });
  }

  async pruneRejected(cutoff: string, batch: number): Promise<number> {
    const ids = this.db.selectFrom('rejected_messages').select('id').where('received_at', '<', cutoff).orderBy('id').limit(batch);
    const result = await this.db.deleteFrom('rejected_messages').where('id', 'in', ids).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async pruneSessions(cutoff: string, batch: number): Promise<number> {
    const ended = this.db
      .selectFrom('sessions')
      .select('id_hash')
      .where((eb) => eb.or([eb('expires_at', '<', cutoff), eb('revoked_at', '<', cutoff)]))
      .limit(batch);
    const result = await this.db.deleteFrom('sessions').where('id_hash', 'in', ended).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async pruneSubscribers(cutoff: string, batch: number): Promise<number> {
    const past = this.db.selectFrom('subscribers').select('client_id').where('disconnected_at', '<', cutoff).limit(batch);
    const result = await this.db.deleteFrom('subscribers').where('client_id', 'in', past).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async lastMessageAt(): Promise<string | null> {
    const row = await this.db.selectFrom('workflow_messages').select('sent_at').orderBy('id', 'desc').limit(1).executeTakeFirst();
    return row?.sent_at ?? null;
  }

  async listRejected(limit: number): Promise<StoredRejected[]> {
    const rows = await this.db.selectFrom('rejected_messages').selectAll().orderBy('id', 'desc').limit(limit).execute();
    return rows.map((r) => ({
      id: String(r.id),
      brokerMessageId: r.broker_message_id,
      receivedAt: r.received_at,
      queueName: r.queue_name,
      reason: r.reason,
      detail: r.detail,
      body: new Uint8Array(r.body),
      bodySize: Number(r.body_size),
      truncated: Boolean(r.truncated),
      headers: r.headers,
    }));
  }

  async listAgents(): Promise<StoredAgent[]> {
    const rows = await this.db.selectFrom('agents').selectAll().orderBy('name').execute();
    return rows.map((r) => ({
      name: r.name,
      agentType: r.agent_type,
      status: r.status,
      namespace: r.namespace,
      lastHeartbeat: r.last_heartbeat,
    }));
  }

  async openSubscriber(s: SubscriberOpen): Promise<void> {
    await this.db
      .insertInto('subscribers')
      .values({
        client_id: s.clientId,
        name: s.name,
        username: s.username,
        ip: s.ip,
        location: null,
        process: s.process,
        connected_at: s.connectedAt,
        disconnected_at: null,
        last_activity: s.connectedAt,
        is_active: 1,
        message_filters: s.filters,
        messages_sent: 0,
        messages_dropped: 0,
      })
      .execute();
  }

  async updateSubscribers(updates: readonly SubscriberUpdate[]): Promise<void> {
    // One UPDATE … FROM (VALUES …) per chunk, not one statement per client: a flush of
    // thousands of clients must not hold the event loop (each statement costs a query build).
    for (let start = 0; start < updates.length; start += SUBSCRIBER_CHUNK) {
      const rows = updates
        .slice(start, start + SUBSCRIBER_CHUNK)
        .map((u) => sql`(${u.clientId}, cast(${u.messagesSent} as bigint), cast(${u.messagesDropped} as bigint), ${u.lastActivity}, cast(${u.disconnectedAt} as text))`);
      // A CTE names the VALUES columns the same way in SQLite and PostgreSQL.
      await sql`with v(id, sent, dropped, activity, disconnected) as (values ${sql.join(rows)})
        update subscribers set
          messages_sent = v.sent,
          messages_dropped = v.dropped,
          last_activity = v.activity,
          disconnected_at = coalesce(v.disconnected, subscribers.disconnected_at),
          is_active = case when v.disconnected is null then subscribers.is_active else 0 end
        from v
        where subscribers.client_id = v.id`.execute(this.db);
      if (start + SUBSCRIBER_CHUNK < updates.length) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async listSubscribers(activeOnly: boolean, limit?: number): Promise<StoredSubscriber[]> {
    let query = this.db.selectFrom('subscribers').selectAll().orderBy('connected_at', 'desc');
    if (activeOnly) query = query.where('is_active', '=', 1);
    if (limit !== undefined) query = query.limit(limit);
    const rows = await query.execute();
    return rows.map((r) => ({
      clientId: r.client_id,
      name: r.name,
      username: r.username,
      ip: r.ip,
      location: r.location,
      process: r.process,
      connectedAt: r.connected_at,
      filters: r.message_filters,
      disconnectedAt: r.disconnected_at,
      lastActivity: r.last_activity,
      isActive: Boolean(r.is_active),
      messagesSent: Number(r.messages_sent),
      messagesDropped: Number(r.messages_dropped),
    }));
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async close(): Promise<void> {
    await this.batchWriter.close();
    await this.db.destroy();
  }
}

/** The SQL form of filters.matches() over the stored columns (the same fields live matching reads). */
function filterCondition(eb: ExpressionBuilder<Database, 'workflow_messages'>, filters: Filters): Expression<SqlBool> {
  const parts: Expression<SqlBool>[] = [];
  if (filters.msgTypes === null) parts.push(eb('message_type', '!=', AGENT_STATUS));
  else parts.push(eb('message_type', 'in', [...filters.msgTypes]));
  if (filters.runIds !== null) parts.push(eb('run_id', 'in', [...filters.runIds]));
  if (filters.namespaces !== null) parts.push(eb('namespace', 'in', [...filters.namespaces]));
  if (filters.agents !== null) {
    const agents = [...filters.agents];
    parts.push(eb.or([eb('sender_agent', 'in', agents), eb('processed_by', 'in', agents)]));
  }
  return eb.and(parts);
}

function toStoredMessage(r: Selectable<WorkflowMessagesTable>): StoredMessage {
  return {
    id: String(r.id),
    brokerMessageId: r.broker_message_id,
    fields: {
      msgType: r.message_type,
      runId: r.run_id,
      executionId: r.execution_id,
      filename: r.filename,
      senderAgent: r.sender_agent,
      recipientAgent: r.recipient_agent,
      namespace: r.namespace,
      processedBy: r.processed_by,
    },
    queueName: r.queue_name,
    sentAt: r.sent_at,
    content: r.message_content,
  };
}
