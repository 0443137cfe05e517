// Rejected bodies (commitBatch's `rejected`, listRejected), alone and in one batch with messages and heartbeats.
// Part of the MessageStore contract (store-messages.contract.ts).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { MessageStore, NewRejected } from '../../src/store/store.js';
import { T0, heartbeat, increasing, messageHelpers, suiteStore, type OpenStore } from './store-fixtures.js';

/** The rejected-bodies suite, on its own fresh, migrated store. */
export function rejectedSuite(open: OpenStore<MessageStore>): void {
  describe('rejected bodies', () => {
    const suite = suiteStore(open);
    let store: MessageStore;
    const { message, highWater } = messageHelpers(() => store);

    before(async () => {
      store = suite.store;
    });

    it('rejected bodies keep their raw bytes exactly, with size, truncation and headers', async () => {
      const raw = new Uint8Array([0x00, 0xc3, 0x28, 0xff, 0xfe, 0x00, 0x7b, 0x22, 0xe2, 0x82, 0x00, 0x0a, 0x0d]);
      const rejected: NewRejected[] = [
        {
          brokerMessageId: 'ID:rejected-1',
          receivedAt: '2026-11-27T14:01:00.000Z',
          queueName: '/topic/epictopic',
          reason: 'bad_utf8',
          detail: 'body is not valid UTF-8',
          body: raw,
          bodySize: raw.byteLength,
          truncated: false,
          headers: JSON.stringify({ 'message-id': 'ID:rejected-1', 'content-type': 'text/plain' }),
        },
        {
          brokerMessageId: 'ID:rejected-2',
          receivedAt: '2026-11-27T14:01:01.000Z',
          queueName: '/topic/epictopic',
          reason: 'too_large',
          detail: 'body of 2000000 bytes exceeds 1024',
          body: new Uint8Array(1024).fill(0x78),
          bodySize: 2_000_000,
          truncated: true,
          headers: '{}',
        },
        {
          brokerMessageId: 'ID:rejected-3',
          receivedAt: '2026-11-27T14:01:02.000Z',
          queueName: '/topic/epictopic',
          reason: 'empty',
          detail: 'empty body',
          body: new Uint8Array(0),
          bodySize: 0,
          truncated: false,
          headers: '{}',
        },
      ];
      await store.commitBatch({ messages: [], heartbeats: [], rejected });
      const listed = await store.listRejected(3);
      assert.deepEqual(
        listed.map((r) => r.brokerMessageId),
        ['ID:rejected-3', 'ID:rejected-2', 'ID:rejected-1'],
        'newest first',
      );
      increasing(listed.map((r) => r.id).reverse());
      for (const [i, r] of [...listed].reverse().entries()) {
        const { id: _id, body, ...rest } = r;
        const { body: expectedBody, ...expectedRest } = rejected[i]!;
        assert.deepEqual(rest, expectedRest);
        assert.ok(body instanceof Uint8Array);
        assert.deepEqual(Buffer.from(body), Buffer.from(expectedBody), `body ${i} byte-exact`);
      }
    });

    it('a rejected body with a broker message-id already stored is not stored twice; null ids are all kept', async () => {
      const r = (brokerMessageId: string | null, detail: string): NewRejected => ({
        brokerMessageId,
        receivedAt: '2026-11-27T14:02:00.000Z',
        queueName: '/topic/epictopic',
        reason: 'bad_json',
        detail,
        body: Buffer.from('not json'),
        bodySize: 8,
        truncated: false,
        headers: '{}',
      });
      const countBefore = (await store.listRejected(1000)).length;
      await store.commitBatch({ messages: [], heartbeats: [], rejected: [r('ID:rejected-dup', 'first'), r('ID:rejected-dup', 'same batch')] });
      await store.commitBatch({ messages: [], heartbeats: [], rejected: [r('ID:rejected-dup', 'redelivered')] });
      await store.commitBatch({ messages: [], heartbeats: [], rejected: [r(null, 'no id 1'), r(null, 'no id 2')] });
      const all = await store.listRejected(1000);
      assert.equal(all.length, countBefore + 3);
      assert.deepEqual(
        all.filter((x) => x.brokerMessageId === 'ID:rejected-dup').map((x) => x.detail),
        ['first'],
      );
      assert.deepEqual(
        all.filter((x) => x.brokerMessageId === null).map((x) => x.detail),
        ['no id 2', 'no id 1'],
      );
      assert.equal((await store.listRejected(2)).length, 2, 'limit');
    });

    it('messages, heartbeats and rejected bodies of one batch commit together', async () => {
      const from = await highWater();
      const m = message();
      const result = await store.commitBatch({
        messages: [m],
        heartbeats: [heartbeat('agent-mixed', 'OK', T0)],
        rejected: [
          {
            brokerMessageId: 'ID:rejected-mixed',
            receivedAt: T0,
            queueName: '/topic/epictopic',
            reason: 'not_object',
            detail: 'JSON number, not an object',
            body: Buffer.from('42'),
            bodySize: 2,
            truncated: false,
            headers: '{}',
          },
        ],
      });
      increasing(result);
      assert.deepEqual(
        (await store.messagesAfter(from, 10)).map((x) => x.brokerMessageId),
        [m.brokerMessageId],
      );
      assert.ok((await store.listAgents()).some((a) => a.name === 'agent-mixed'));
      assert.equal((await store.listRejected(1))[0]?.brokerMessageId, 'ID:rejected-mixed');
    });
  });
}
