// The store contracts on SQLite: temporary database files (not :memory:), so WAL mode and a second connection are exercised.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { sqliteDriver } from '../../src/store/sqlite-driver.js';
import { StoreUnreachableError } from '../../src/store/store.js';
import { allStoreContracts } from './store-contracts.js';
import type { OpenStore } from './store-fixtures.js';

/** The better-sqlite3 build the store uses on this Node, for a second connection. */
const Database = sqliteDriver();

/** A fresh store in its own temporary directory, removed by cleanup(). */
const open: OpenStore = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swf-relay-store-'));
  const store = openSqliteStore(join(dir, 'nested', 'relay.db'));
  let raw: BetterSqlite3.Database | undefined;
  return {
    store,
    async query(sqlText) {
      raw ??= new Database(join(dir, 'nested', 'relay.db'));
      return raw.prepare(sqlText).all() as Record<string, unknown>[];
    },
    async cleanup() {
      raw?.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

// Every role's suite (retention.test.ts also runs the RetentionJob itself on both stores).
allStoreContracts('sqlite (temp file)', open);

/** A small workflow message with this broker message-id. */
const walMessage = (brokerMessageId: string) => ({
  brokerMessageId,
  fields: { msgType: 't', runId: null, executionId: null, filename: null, senderAgent: null, recipientAgent: null, namespace: null, processedBy: null },
  queueName: '/topic/epictopic',
  sentAt: '2026-11-27T14:00:00.000Z',
  content: '{"msg_type":"t"}',
  metadata: '{}',
});

describe('SqliteStore file', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-store-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('creates missing directories, runs in WAL mode, and a second connection sees committed rows', async () => {
    const path = join(dir, 'a', 'b', 'relay.db');
    const store = openSqliteStore(path);
    try {
      await store.migrate();
      const [id] = await store.commitBatch({
        messages: [walMessage('ID:wal-1')],
        heartbeats: [],
        rejected: [],
      });
      assert.equal(id, '1');
      assert.ok(existsSync(`${path}-wal`), 'a -wal file exists while the store is open');
      const reader = new Database(path, { readonly: true });
      try {
        assert.equal(reader.pragma('journal_mode', { simple: true }), 'wal');
        assert.deepEqual(reader.prepare('select id, message_content from workflow_messages').all(), [{ id: 1, message_content: '{"msg_type":"t"}' }]);
      } finally {
        reader.close();
      }
    } finally {
      await store.close();
    }
  });

  it('commits off the event loop: while another connection holds the write lock, timers still run, and the commit lands once it is freed', async () => {
    const path = join(dir, 'locked.db');
    const store = openSqliteStore(path);
    const other = new Database(path);
    try {
      await store.migrate();
      other.pragma('busy_timeout = 0');
      other.exec('begin immediate'); // the write lock, as a long commit elsewhere would hold it
      const events: string[] = [];
      const committed = store.commitBatch({ messages: [walMessage('ID:locked-1')], heartbeats: [], rejected: [] }).then(
        (ids) => (events.push('committed'), ids),
        (err: Error) => (events.push(`failed: ${err.message}`), null),
      );
      // Only this thread can free the lock: a commit that blocked it would wait out busy_timeout and fail.
      await new Promise((resolve) => setTimeout(resolve, 200));
      events.push('timer');
      other.exec('commit');
      assert.deepEqual(await committed, ['1']);
      assert.deepEqual(events, ['timer', 'committed']);
    } finally {
      other.close();
      await store.close();
    }
  });

  it('built (dist/, as `npm start` runs it), the store commits through its writer thread too', async () => {
    // npm test builds first; run alone, build with `npm run build`.
    const built = new URL('../../dist/store/sqlite.js', import.meta.url);
    assert.ok(existsSync(built), 'dist/ is missing: run `npm run build` (npm test does)');
    const { openSqliteStore: openBuilt } = (await import(built.href)) as typeof import('../../src/store/sqlite.js');
    const store = openBuilt(join(dir, 'built.db'));
    try {
      await store.migrate();
      assert.deepEqual(await store.commitBatch({ messages: [walMessage('ID:built-1'), walMessage('ID:built-1')], heartbeats: [], rejected: [] }), ['1', null]);
      assert.equal((await store.messagesAfter('0', 10))[0]?.brokerMessageId, 'ID:built-1');
    } finally {
      await store.close();
    }
  });

  it('a writer thread that dies before answering: the commit fails as of unknown outcome, and the next one runs in a new thread', async () => {
    const store = openSqliteStore(join(dir, 'dies.db'));
    // The thread, reached through the store's private parts: nothing else can make it die on cue.
    const writer = (store as unknown as { batchWriter: { worker?: Worker } }).batchWriter;
    try {
      await store.migrate();
      let unanswered = 0;
      for (let attempt = 0; attempt < 20 && unanswered < 3; attempt++) {
        const brokerId = `ID:dies-${attempt}`;
        const batch = { messages: [walMessage(brokerId)], heartbeats: [], rejected: [] };
        const answer = store.commitBatch(batch);
        const thread = writer.worker!;
        void thread.terminate(); // at once: usually before the thread has answered, sometimes after
        const outcome = await answer.then(
          (ids) => ({ ids }),
          (err: unknown) => ({ err }),
        );
        if ('err' in outcome) {
          unanswered++;
          assert.ok(outcome.err instanceof StoreUnreachableError, `not a refusal but no answer: ${String(outcome.err)}`);
        }
        // Whatever the dead thread did, a new one takes the retry, and the message is stored once.
        const [retried] = await store.commitBatch(batch);
        const stored = await store.idOfBrokerMessage(brokerId);
        assert.notEqual(stored, null, `${brokerId} stored`);
        assert.ok(retried === stored || retried === null, `${brokerId}: the retry answers its new id, or null when the dead thread had stored it`);
        assert.notEqual(writer.worker, thread, 'a new thread');
      }
      assert.ok(unanswered > 0, 'a thread terminated at once left its commit unanswered at least once in 20 tries');
    } finally {
      await store.close();
    }
  });

  it('keeps its data across close and reopen', async () => {
    const path = join(dir, 'reopen.db');
    const first = openSqliteStore(path);
    await first.migrate();
    await first.createUser('persisted');
    await first.close();
    const second = openSqliteStore(path);
    try {
      assert.deepEqual(await second.migrate(), []);
      assert.equal((await second.findUser('persisted'))?.username, 'persisted');
    } finally {
      await second.close();
    }
  });
});
