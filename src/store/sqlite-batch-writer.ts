/**
 * SqliteBatchWriter: the ingestion commit on SQLite with statements prepared
 * once. The hot path writes rows straight through better-sqlite3 — no query
 * building, no statement prepared per message (both were ~15 % of the relay's
 * time per message in the profiles of docs/benchmarks.md). It runs inside the
 * writer thread (sqlite-writer-thread.ts), or in-process for `:memory:`
 * databases, which a second connection cannot open.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { StaleWriterError, WRITER_EPOCH_KEY, type IngestBatch } from './store.js';

/** One statement each for messages, agents and rejected bodies; SQL of migrations/0001. */
const INSERT_MESSAGE = `insert into workflow_messages
  (broker_message_id, message_type, sender_agent, recipient_agent, namespace, execution_id, run_id, processed_by, filename, queue_name, sent_at, message_content, message_metadata)
  values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  on conflict (broker_message_id) do nothing
  returning id`;
const UPSERT_AGENT = `insert into agents (name, agent_type, status, namespace, last_heartbeat, payload, first_seen)
  values (?, ?, ?, ?, ?, ?, ?)
  on conflict (name) do update set agent_type = excluded.agent_type, status = excluded.status, namespace = excluded.namespace,
    last_heartbeat = excluded.last_heartbeat, payload = excluded.payload`;
const INSERT_REJECTED = `insert into rejected_messages
  (broker_message_id, received_at, queue_name, reason, detail, body, body_size, truncated, headers)
  values (?, ?, ?, ?, ?, ?, ?, ?, ?)
  on conflict (broker_message_id) do nothing`;

/** Commits ingestion batches on one connection (which must be migrated before the first commit). */
export class SqliteBatchWriter {
  private readonly commitTransaction: BetterSqlite3.Transaction<(batch: IngestBatch) => (string | null)[]>;

  constructor(db: BetterSqlite3.Database) {
    const insertMessage = db.prepare(INSERT_MESSAGE).pluck();
    const upsertAgent = db.prepare(UPSERT_AGENT);
    const insertRejected = db.prepare(INSERT_REJECTED);
    const writerEpoch = db.prepare(`select value from relay_state where key = '${WRITER_EPOCH_KEY}'`).pluck();
    this.commitTransaction = db.transaction((batch: IngestBatch) => {
      // Fencing, under the write lock: a claim by another writer since this one's refuses the whole batch.
      if (batch.writerEpoch !== undefined && Number(writerEpoch.get() ?? 0) !== batch.writerEpoch) throw new StaleWriterError(batch.writerEpoch);
      const ids: (string | null)[] = [];
      for (const m of batch.messages) {
        const f = m.fields;
        // A repeat inside the batch (a redelivery racing its original) conflicts like one from an
        // earlier batch: no row, so null — the same answer as SqlStore.commitBatch.
        const id = insertMessage.get(m.brokerMessageId, f.msgType, f.senderAgent, f.recipientAgent, f.namespace, f.executionId, f.runId, f.processedBy, f.filename, m.queueName, m.sentAt, m.content, m.metadata) as number | bigint | undefined;
        ids.push(id === undefined ? null : String(id));
      }
      for (const hb of batch.heartbeats) {
        const f = hb.fields;
        upsertAgent.run(f.agentName, f.agentType, f.status, f.namespace, hb.at, hb.payload, hb.at);
      }
      for (const r of batch.rejected) {
        // Rows that crossed a thread boundary arrive as plain Uint8Array; the driver binds Buffers.
        const body = Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength);
        insertRejected.run(r.brokerMessageId, r.receivedAt, r.queueName, r.reason, r.detail, body, r.bodySize, r.truncated ? 1 : 0, r.headers);
      }
      return ids;
    });
  }

  /** Writes one batch in one transaction; the ids of the messages (null for duplicates), in order. */
  commit(batch: IngestBatch): (string | null)[] {
    // IMMEDIATE: take the write lock at BEGIN, so a concurrent writer on another connection waits
    // (busy_timeout) instead of failing the upgrade from a read transaction.
    return this.commitTransaction.immediate(batch);
  }
}
