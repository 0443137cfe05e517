// Retention on both stores: RetentionJob removes exactly the expired messages and
// rejected bodies, and records how far it pruned (what replay's retention gap reads).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { RetentionJob } from '../../src/store/retention.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { NewRejected, NewWorkflowMessage, Store } from '../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-11-27T12:00:00.000Z');
const silent = pino({ level: 'silent' });

function message(n: number, ageDays: number): NewWorkflowMessage {
  return {
    brokerMessageId: `ID:retention-${n}`,
    fields: { msgType: 'stf_gen', runId: '1', executionId: null, filename: null, senderAgent: 'a', recipientAgent: null, namespace: 'ns', processedBy: null },
    queueName: '/topic/epictopic',
    sentAt: new Date(NOW - ageDays * DAY).toISOString(),
    content: JSON.stringify({ msg_type: 'stf_gen', n }),
    metadata: '{}',
  };
}

function rejected(n: number, ageDays: number): NewRejected {
  return {
    brokerMessageId: `ID:retention-bad-${n}`,
    receivedAt: new Date(NOW - ageDays * DAY).toISOString(),
    queueName: '/topic/epictopic',
    reason: 'bad_json',
    detail: 'not JSON',
    body: Buffer.from(`bad ${n}`),
    bodySize: 5,
    truncated: false,
    headers: '{}',
  };
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`retention (${kind})`, () => {
    let store: Store;
    let dir: string | undefined;
    let pg: TestDatabase | undefined;

    before(async () => {
      if (kind === 'sqlite') {
        dir = mkdtempSync(join(tmpdir(), 'swf-relay-retention-'));
        store = openSqliteStore(join(dir, 'r.db'));
      } else {
        pg = await createTestDatabase();
        store = openPostgresStore(pg.url);
      }
      await store.migrate();
    });

    after(async () => {
      await store?.close();
      await pg?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('removes exactly the rows older than the limit, in batches, and records how far it pruned', async () => {
      // 16,000 messages: ages 40..10 days in receipt order (ids grow with time), limit 30 days.
      const ages = Array.from({ length: 16_000 }, (_, i) => 40 - (i * 30) / 16_000);
      const ids = await store.commitBatch({ messages: ages.map((age, i) => message(i, age)), heartbeats: [], rejected: [] });
      await store.commitBatch({ messages: [], heartbeats: [], rejected: [rejected(1, 45), rejected(2, 31), rejected(3, 29), rejected(4, 1)] });
      const expired = ages.filter((age) => age > 30).length;
      assert.ok(expired > 5000, 'more than one batch expires');

      const removed = await new RetentionJob(store, 30, silent).runOnce(NOW);
      assert.deepEqual(removed, { messages: expired, rejected: 2 });

      const left = await store.messagesAfter('0', 100_000);
      assert.equal(left.length, ages.length - expired);
      assert.equal(left[0]!.id, ids[expired], 'the oldest kept row is the first one younger than the limit');
      assert.ok(left.every((m) => Date.parse(m.sentAt) >= NOW - 30 * DAY));
      assert.equal(await store.prunedThrough(), ids[expired - 1], 'pruned through the newest removed id');
      assert.deepEqual((await store.listRejected(10)).map((r) => r.brokerMessageId).sort(), ['ID:retention-bad-3', 'ID:retention-bad-4']);

      // Nothing more to do on a second run.
      assert.deepEqual(await new RetentionJob(store, 30, silent).runOnce(NOW), { messages: 0, rejected: 0 });
    });
  });
}
