/**
 * PostgresBatchWriter: the ingestion commit on PostgreSQL as named prepared
 * statements (parsed and planned once per connection). All of a batch's
 * messages go in one INSERT over unnest()ed arrays — one round trip for any
 * batch size, no query building per message; a batch of messages alone needs no
 * explicit transaction (one statement is atomic) unless it carries a writer epoch to check.
 */
import pg from 'pg';
import { StaleWriterError, StoreUnreachableError, WRITER_EPOCH_KEY, type IngestBatch } from './store.js';

/** Message columns, in the order of the arrays bound to $1…$13. */
const INSERT_MESSAGES = {
  name: 'swf_relay_insert_messages',
  text: `insert into workflow_messages
    (broker_message_id, message_type, sender_agent, recipient_agent, namespace, execution_id, run_id, processed_by, filename, queue_name, sent_at, message_content, message_metadata)
    select b, t, s, r, n, e, ru, p, f, q, at, c::json, m::json
    from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
      with ordinality as u (b, t, s, r, n, e, ru, p, f, q, at, c, m, ord)
    order by ord
    on conflict (broker_message_id) do nothing
    returning id, broker_message_id`,
};
// Rows are inserted in `ord` order, so identity ids grow in the batch's order (SPEC §3: ids in commit order).
const UPSERT_AGENT = {
  name: 'swf_relay_upsert_agent',
  text: `insert into agents (name, agent_type, status, namespace, last_heartbeat, payload, first_seen)
    values ($1, $2, $3, $4, $5, $6::json, $5)
    on conflict (name) do update set agent_type = excluded.agent_type, status = excluded.status, namespace = excluded.namespace,
      last_heartbeat = excluded.last_heartbeat, payload = excluded.payload`,
};
// FOR SHARE: a claim (an UPDATE of this row) waits for the commit in progress, and a commit waits
// for a claim in progress and then reads its epoch — no batch of a stale writer lands after a claim.
const WRITER_EPOCH = {
  name: 'swf_relay_writer_epoch',
  text: `select value from relay_state where key = '${WRITER_EPOCH_KEY}' for share`,
};
const INSERT_REJECTED = {
  name: 'swf_relay_insert_rejected',
  text: `insert into rejected_messages (broker_message_id, received_at, queue_name, reason, detail, body, body_size, truncated, headers)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9::json)
    on conflict (broker_message_id) do nothing`,
};

/** Commits ingestion batches through `pool`. */
export class PostgresBatchWriter {
  constructor(private readonly pool: pg.Pool) {}

  /** Writes one batch in one transaction; the ids of the messages (null for duplicates), in order. */
  async commit(batch: IngestBatch): Promise<(string | null)[]> {
    // Repeats inside one batch (a redelivery racing its original): only the first is inserted.
    const first = new Map<string, number>();
    batch.messages.forEach((m, i) => {
      if (!first.has(m.brokerMessageId)) first.set(m.brokerMessageId, i);
    });
    const unique = first.size === batch.messages.length ? batch.messages : batch.messages.filter((m, i) => first.get(m.brokerMessageId) === i);
    const messages = unique.length > 0 ? { ...INSERT_MESSAGES, values: columns(unique) } : null;
    let inserted: { id: string; broker_message_id: string }[] = [];
    try {
      inserted = await this.write(batch, messages);
    } catch (err) {
      // A refusal (fencing) or an error PostgreSQL answered with was certainly not written. Anything
      // else (connection lost or timed out) may have been applied: the ingestor looks its messages up on retry.
      if (err instanceof pg.DatabaseError || err instanceof StaleWriterError) throw err;
      throw new StoreUnreachableError(err);
    }
    const idOf = new Map(inserted.map((row) => [row.broker_message_id, String(row.id)]));
    return batch.messages.map((m, i) => (first.get(m.brokerMessageId) === i ? idOf.get(m.brokerMessageId) ?? null : null));
  }

  /** The statements of one batch: one INSERT, or a transaction when agents or rejected bodies come with it. */
  private async write(batch: IngestBatch, messages: (typeof INSERT_MESSAGES & { values: (string | null)[][] }) | null): Promise<{ id: string; broker_message_id: string }[]> {
    let inserted: { id: string; broker_message_id: string }[] = [];
    if (batch.heartbeats.length === 0 && batch.rejected.length === 0 && batch.writerEpoch === undefined) {
      if (messages) inserted = (await this.pool.query(messages)).rows;
    } else {
      const client = await this.pool.connect();
      try {
        await client.query('begin');
        if (batch.writerEpoch !== undefined) {
          const current = (await client.query<{ value: string }>(WRITER_EPOCH)).rows[0]?.value;
          if (Number(current ?? 0) !== batch.writerEpoch) throw new StaleWriterError(batch.writerEpoch);
        }
        if (messages) inserted = (await client.query(messages)).rows;
        for (const hb of batch.heartbeats) {
          const f = hb.fields;
          await client.query({ ...UPSERT_AGENT, values: [f.agentName, f.agentType, f.status, f.namespace, hb.at, hb.payload] });
        }
        for (const r of batch.rejected) {
          const body = Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength);
          await client.query({ ...INSERT_REJECTED, values: [r.brokerMessageId, r.receivedAt, r.queueName, r.reason, r.detail, body, r.bodySize, r.truncated ? 1 : 0, r.headers] });
        }
        await client.query('commit');
      } catch (err) {
        await client.query('rollback').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    }
    return inserted;
  }

  async close(): Promise<void> {
    // The pool is the store's: Kysely's destroy() ends it.
  }
}

/** The 13 column arrays of INSERT_MESSAGES. */
function columns(messages: IngestBatch['messages']): (string | null)[][] {
  const cols: (string | null)[][] = Array.from({ length: 13 }, () => new Array<string | null>(messages.length));
  messages.forEach((m, i) => {
    const f = m.fields;
    const row = [m.brokerMessageId, f.msgType, f.senderAgent, f.recipientAgent, f.namespace, f.executionId, f.runId, f.processedBy, f.filename, m.queueName, m.sentAt, m.content, m.metadata];
    for (let c = 0; c < 13; c++) cols[c]![i] = row[c]!;
  });
  return cols;
}
