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

      const removed = await new RetentionJob(store, { messageDays: 30, subscriberDays: 30 }, silent).runOnce(NOW);
      assert.deepEqual(removed, { messages: expired, rejected: 2, sessions: 0, subscribers: 0 });

      const left = await store.messagesAfter('0', 100_000);
      assert.equal(left.length, ages.length - expired);
      assert.equal(left[0]!.id, ids[expired], 'the oldest kept row is the first one younger than the limit');
      assert.ok(left.every((m) => Date.parse(m.sentAt) >= NOW - 30 * DAY));
      assert.equal(await store.prunedThrough(), ids[expired - 1], 'pruned through the newest removed id');
      assert.deepEqual((await store.listRejected(10)).map((r) => r.brokerMessageId).sort(), ['ID:retention-bad-3', 'ID:retention-bad-4']);

      // Nothing more to do on a second run.
      assert.deepEqual(await new RetentionJob(store, { messageDays: 30, subscriberDays: 30 }, silent).runOnce(NOW), { messages: 0, rejected: 0, sessions: 0, subscribers: 0 });
    });

    it('prunes sessions a day after they ended and subscriber rows of connections closed longer ago than their limit; keeps messages without RETENTION_DAYS', async () => {
      // Relative to the real clock: revokeSession stamps the current time.
      const now = Date.now();
      const at = (days: number) => new Date(now - days * DAY).toISOString();
      const user = await store.createUser(`retention-${kind}`);
      // Sessions: expired 2 days ago (pruned), revoked just now and expired an hour ago (both kept for a day), live (kept).
      await store.insertSession({ idHash: 'expired-long-ago', userId: user.id, expiresAt: at(2) });
      await store.insertSession({ idHash: 'revoked-just-now', userId: user.id, expiresAt: at(-5) });
      await store.insertSession({ idHash: 'expired-recently', userId: user.id, expiresAt: at(1 / 24) });
      await store.insertSession({ idHash: 'live', userId: user.id, expiresAt: at(-2) });
      await store.revokeSession('revoked-just-now');
      const subscriber = (clientId: string, connectedDaysAgo: number) => ({ clientId, name: 'n', username: null, ip: null, process: 'p', connectedAt: at(connectedDaysAgo), filters: '{}' });
      for (const [id, days] of [['closed-40-days-ago', 41], ['closed-10-days-ago', 11], ['still-open', 50]] as const) await store.openSubscriber(subscriber(id, days));
      await store.updateSubscribers([
        { clientId: 'closed-40-days-ago', messagesSent: 1, messagesDropped: 0, lastActivity: at(40), disconnectedAt: at(40) },
        { clientId: 'closed-10-days-ago', messagesSent: 1, messagesDropped: 0, lastActivity: at(10), disconnectedAt: at(10) },
      ]);
      const before = await store.messagesAfter('0', 100_000);

      const job = new RetentionJob(store, { messageDays: undefined, subscriberDays: 30 }, silent);
      const removed = await job.runOnce(now);
      assert.equal(removed.messages + removed.rejected, 0, 'no RETENTION_DAYS: messages are kept');
      assert.equal(removed.subscribers, 1);
      assert.equal(removed.sessions, 1, 'only the one that ended more than a day ago');
      assert.equal((await store.messagesAfter('0', 100_000)).length, before.length);
      assert.deepEqual((await store.listSubscribers(false)).map((s) => s.clientId).sort(), ['closed-10-days-ago', 'still-open']);
      assert.equal(await store.findSession('expired-long-ago'), undefined);
      assert.ok(await store.findSession('revoked-just-now'), 'revoked now: kept for a day');
      assert.ok(await store.findSession('expired-recently'));
      assert.ok(await store.findSession('live'));
      // A day later the revoked and the expired one go too; the live one stays.
      assert.equal((await job.runOnce(now + DAY + 60_000)).sessions, 2);
      assert.equal(await store.findSession('revoked-just-now'), undefined);
      assert.equal(await store.findSession('expired-recently'), undefined);
      assert.ok(await store.findSession('live'), 'a live session is never pruned');
    });
  });
}
