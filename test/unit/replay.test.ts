// Replay on reconnect (src/hub/replay.ts) against a real SQLite store, the Hub, and an SseClient over a controllable socket.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SseClient } from '../../src/hub/sse-client.js';
import { agentStatusEvent, workflowEvent, type RelayEvent } from '../../src/model/event.js';
import { NO_FILTERS, parseFilters, type Filters } from '../../src/model/filter.js';
import { Hub } from '../../src/hub/hub.js';
import type { WorkflowFields } from '../../src/model/message.js';
import { PAGE_BYTES, replay, type Gap } from '../../src/hub/replay.js';
import { encodeControl, encodeEvent, encodeHeartbeat } from '../../src/hub/sse-frame.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import type { Store } from '../../src/store/store.js';
import { FakeSocket, nextTurn } from '../helpers/fake-socket.js';

/** Stored messages read per query by replay() (its PAGE_SIZE). */
const PAGE_SIZE = 500;
/** Live events SseClient holds back during a replay before it falls back to the store (its LIVE_BUFFER_MAX). */
const LIVE_BUFFER_MAX = 10_000;

function fields(f: Partial<WorkflowFields> = {}): WorkflowFields {
  return {
    msgType: 'stf_gen',
    runId: 'run-1',
    executionId: null,
    filename: null,
    senderAgent: 'daq',
    recipientAgent: null,
    namespace: 'torre-dev',
    processedBy: null,
    ...f,
  };
}

/** A stored message as both the store and the hub see it. */
interface Msg {
  readonly fields: WorkflowFields;
  readonly content: string;
}

let store: SqlStore;
let hub: Hub;
let seq = 0;

/** Commits messages (each with `pad` bytes of padding in its content); returns their live events (ids from the store), in order. */
async function commit(specs: readonly Partial<WorkflowFields>[], pad = 0): Promise<RelayEvent[]> {
  const msgs: Msg[] = specs.map((f) => {
    const msgFields = fields(f);
    seq++;
    return { fields: msgFields, content: JSON.stringify({ msg_type: msgFields.msgType, run_id: msgFields.runId, seq, ...(pad > 0 && { pad: 'x'.repeat(pad) }) }) };
  });
  const ids = await store.commitBatch({
    messages: msgs.map((m, i) => ({
      brokerMessageId: `ID:replay-${seq}-${i}`,
      fields: m.fields,
      queueName: '/topic/epictopic',
      sentAt: new Date().toISOString(),
      content: m.content,
      metadata: '{}',
    })),
    heartbeats: [],
    rejected: [],
  });
  return msgs.map((m, i) => {
    const id = ids[i];
    assert.ok(id, 'stored');
    return workflowEvent(id, m.fields, m.content, 0);
  });
}

const commitN = (n: number, f: Partial<WorkflowFields> = {}, pad = 0) => commit(Array.from({ length: n }, () => f), pad);

/** An SSE client connected as src/http/stream.ts does for a Last-Event-ID: replay begun, then joined to the hub. */
function connect(filters: Filters = NO_FILTERS, lastEventId = '0', queueSize = 100, queueBytes?: number) {
  const socket = new FakeSocket();
  const client = new SseClient(socket, { username: 'alice', remoteAddress: null, filters, lastEventId }, queueSize, undefined, queueBytes);
  socket.on('close', () => {
    client.detach();
    hub.remove(client);
  });
  client.beginReplay();
  hub.add(client);
  return { socket, client };
}

/**
 * The store with a hook that runs after each call of `method` resolves and before
 * replay() gets the result: "while the replay is awaiting". The hook gets the call's
 * number and its result. Counts calls per method.
 */
function hooked(
  inner: Store,
  hooks: Partial<Record<keyof Store, (call: number, result: unknown) => void | Promise<void>>>,
  overrides: Partial<Pick<Store, 'prunedThrough'>> = {},
): { store: Store; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const proxy = new Proxy(inner, {
    get(target, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof typeof overrides];
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const name = String(prop);
        const call = (calls.get(name) ?? 0) + 1;
        calls.set(name, call);
        const result: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        await hooks[prop as keyof Store]?.(call, result);
        return result;
      };
    },
  });
  return { store: proxy, calls };
}

const frames = (events: readonly RelayEvent[]) => Buffer.concat(events.map((e) => encodeEvent(e)));
const gapFrame = (gap: Gap) => encodeControl('gap', gap);
const idsOf = (events: readonly RelayEvent[]) => events.map((e) => e.id!);

/** Waits (in event-loop turns) until `check` holds. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (check()) return;
    await nextTurn();
  }
  assert.fail(`timed out waiting for ${what}`);
}

beforeEach(async () => {
  store = openSqliteStore(':memory:');
  await store.migrate();
  hub = new Hub();
});

afterEach(async () => {
  await store.close();
});

describe('replay: stored then live', () => {
  it('replays matching stored messages after afterId in id order, then live ones: no duplicate, no gap', async () => {
    const filters = parseFilters({ run_ids: 'run-1' });
    // Stored before the client reconnects: run-1 and other runs interleaved.
    const stored = await commit([{}, { runId: 'run-2' }, {}, {}, { runId: 'run-2' }, {}]);
    const mine = stored.filter((e) => e.runId === 'run-1'); // 4 of them
    const afterId = mine[0]!.id!;
    const live: RelayEvent[] = [];
    const { socket, client } = connect(filters, afterId);
    const { store: s } = hooked(store, {
      // Committed and published after the client joined the hub, before the replay reads the store:
      // the replay reads it too, so the live copy (id <= last replayed) must be skipped.
      async maxMessageId() {
        const early = await commit([{}, { runId: 'run-2' }]);
        live.push(...early);
        hub.dispatch(early);
      },
      // Committed and published after the replay's (short) read: only the live copy can deliver it.
      async messagesAfter() {
        const late = await commit([{ runId: 'run-2' }, {}]);
        live.push(...late);
        hub.dispatch(late);
      },
    });

    const result = await replay(client, { store: s, filters, afterId, max: 1000 });
    await nextTurn();

    const replayed = [...mine.slice(1), live[0]!];
    const liveOnly = [live[3]!];
    assert.deepEqual(result, { replayed: replayed.length, gaps: [] });
    assert.deepEqual(socket.ids(), [...idsOf(replayed), ...idsOf(liveOnly)], 'each matching id once, in id order');
    assert.equal(socket.text(), Buffer.concat([frames(replayed), frames(liveOnly)]).toString(), 'byte-exact, as the live path encodes');
    assert.deepEqual(socket.gaps(), []);
    assert.deepEqual(socket.chunks[0], frames(replayed), 'one write for the replayed page');
    assert.equal(client.sent, replayed.length + liveOnly.length);
    assert.equal(client.dropped, 0);

    // Live from now on, written directly.
    const next = await commit([{}]);
    hub.dispatch(next);
    await nextTurn();
    assert.deepEqual(socket.ids().slice(-1), idsOf(next));
  });

  it('a live event held during the replay with an id at or below the last replayed id is skipped; one above is delivered after', async () => {
    const stored = await commitN(5);
    const { socket, client } = connect(NO_FILTERS, stored[1]!.id!);
    const beyond = workflowEvent(String(Number(stored[4]!.id) + 1), fields(), '{"msg_type":"stf_gen","live":true}', 0);
    const { store: s } = hooked(store, {
      messagesAfter() {
        hub.dispatch([stored[3]!, stored[4]!, beyond]);
      },
    });
    const pending = replay(client, { store: s, filters: NO_FILTERS, afterId: stored[1]!.id!, max: 1000 });
    hub.dispatch([stored[2]!]); // published right after the client joined, before the replay read anything
    await pending;
    await nextTurn();
    assert.deepEqual(socket.ids(), [...idsOf(stored.slice(2)), beyond.id]);
    assert.equal(socket.text(), Buffer.concat([frames(stored.slice(2)), encodeEvent(beyond)]).toString());
  });

  it('live events without an id (agent_status) held during the replay are delivered after it', async () => {
    const filters = parseFilters({ msg_types: 'stf_gen,agent_status' });
    const stored = await commitN(2);
    const status = agentStatusEvent({ agentName: 'daq', status: 'OK', agentType: null, namespace: null }, '{"agent_name":"daq","status":"OK"}', 0);
    const { socket, client } = connect(filters, '0');
    const { store: s } = hooked(store, { messagesAfter: () => hub.dispatch([status]) });
    await replay(client, { store: s, filters, afterId: '0', max: 1000 });
    await nextTurn();
    assert.deepEqual(socket.events(), ['stf_gen', 'stf_gen', 'agent_status']);
    assert.equal(socket.text(), Buffer.concat([frames(stored), encodeEvent(status)]).toString());
  });

  it('several pages: one write per page, live events published between pages are neither lost nor doubled', async () => {
    const stored = await commitN(2 * PAGE_SIZE + 200);
    const live: RelayEvent[] = [];
    const { socket, client } = connect();
    const { store: s, calls } = hooked(store, {
      async messagesAfter() {
        const one = await commit([{}]);
        live.push(...one);
        hub.dispatch(one);
      },
    });
    const result = await replay(client, { store: s, filters: NO_FILTERS, afterId: '0', max: 1_000_000 });
    await nextTurn();
    // Pages: 500, 500, then 200 + the two messages committed during the first two reads (short: caught up).
    assert.equal(calls.get('messagesAfter'), 3);
    const all = [...stored, ...live];
    assert.equal(result.replayed, stored.length + 2);
    assert.deepEqual(socket.ids(), idsOf(all));
    assert.equal(new Set(socket.ids()).size, all.length, 'no duplicate');
    assert.equal(socket.chunks.length, 4, 'three page writes and one live write');
    assert.deepEqual(socket.chunks[0], frames(stored.slice(0, PAGE_SIZE)));
    assert.deepEqual(socket.chunks[3], encodeEvent(live[2]!));
  });

  it('when the live buffer overflows during the replay, the replay reads the rest from the store: no gap, no duplicate', async () => {
    const stored = await commitN(5);
    const live: RelayEvent[] = [];
    const { socket, client } = connect();
    const { store: s } = hooked(store, {
      async messagesAfter(call) {
        if (call !== 1) return;
        // A burst larger than the live buffer arrives while the first (short) page is on its way.
        const burst = await commitN(LIVE_BUFFER_MAX + 1);
        live.push(...burst);
        hub.dispatch(burst);
        assert.equal(client.liveOverflowed, true);
      },
    });
    const result = await replay(client, { store: s, filters: NO_FILTERS, afterId: '0', max: 1_000_000 });
    await nextTurn();
    const all = [...stored, ...live];
    assert.equal(result.replayed, all.length, 'the burst came from the store');
    assert.deepEqual(result.gaps, []);
    assert.equal(socket.ids().length, all.length);
    assert.deepEqual(socket.ids(), idsOf(all));
    assert.equal(client.dropped, 0);
  });

  it('a slow socket makes the replay wait for drain instead of dropping', async () => {
    const stored = await commitN(PAGE_SIZE + 10);
    const { socket, client } = connect();
    socket.block();
    const pending = replay(client, { store, filters: NO_FILTERS, afterId: '0', max: 1_000_000 });
    await until(() => socket.chunks.length === 1, 'the first page');
    for (let i = 0; i < 5; i++) await nextTurn();
    assert.equal(socket.chunks.length, 1, 'no second page before drain');
    socket.unblock();
    const result = await pending;
    await nextTurn();
    assert.equal(result.replayed, stored.length);
    assert.deepEqual(socket.ids(), idsOf(stored));
    assert.equal(client.dropped, 0);
  });
});

describe('replay: gaps', () => {
  it('an id above every stored id: unknown_id gap to the newest id, then live', async () => {
    const stored = await commitN(3);
    const newest = stored[2]!.id!;
    const { socket, client } = connect(NO_FILTERS, '99');
    let fresh: RelayEvent[] = [];
    const { store: s } = hooked(store, {
      async maxMessageId() {
        // An old event (id <= newest) published late, and a new one.
        fresh = await commit([{}]);
        hub.dispatch([stored[2]!, ...fresh]);
      },
    });
    const result = await replay(client, { store: s, filters: NO_FILTERS, afterId: '99', max: 1000 });
    await nextTurn();
    const gap: Gap = { reason: 'unknown_id', from_id: null, to_id: newest, dropped: 0 };
    assert.deepEqual(result, { replayed: 0, gaps: [gap] });
    assert.deepEqual(socket.gaps(), [gap]);
    assert.deepEqual(socket.events(), ['gap', 'stf_gen']);
    assert.equal(socket.text(), Buffer.concat([gapFrame(gap), frames(fresh)]).toString());
  });

  it('an id on an empty store: unknown_id gap with to_id null, then live', async () => {
    const { socket, client } = connect(NO_FILTERS, '7');
    const live = workflowEvent('1', fields(), '{"msg_type":"stf_gen"}', 0);
    const { store: s } = hooked(store, { maxMessageId: () => hub.dispatch([live]) });
    const result = await replay(client, { store: s, filters: NO_FILTERS, afterId: '7', max: 1000 });
    await nextTurn();
    const gap: Gap = { reason: 'unknown_id', from_id: null, to_id: null, dropped: 0 };
    assert.deepEqual(result.gaps, [gap]);
    assert.equal(socket.text(), Buffer.concat([gapFrame(gap), encodeEvent(live)]).toString());
  });

  it('afterId equal to the newest id: nothing to replay, no gap, then live', async () => {
    const stored = await commitN(3);
    const { socket, client } = connect(NO_FILTERS, stored[2]!.id!);
    const result = await replay(client, { store, filters: NO_FILTERS, afterId: stored[2]!.id!, max: 1000 });
    assert.deepEqual(result, { replayed: 0, gaps: [] });
    const next = await commit([{}]);
    hub.dispatch(next);
    await nextTurn();
    assert.equal(socket.text(), frames(next).toString());
  });

  it('more than `max` matching: a replay_limit gap for the oldest, then the newest `max`, then live', async () => {
    const filters = parseFilters({ run_ids: 'run-1' });
    // 10 of run-1 with run-2 rows interleaved.
    const stored = await commit(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? {} : { runId: 'run-2' })));
    const mine = stored.filter((e) => e.runId === 'run-1');
    assert.equal(mine.length, 10);
    const { socket, client } = connect(filters, '0');
    let late: RelayEvent[] = [];
    const { store: s } = hooked(store, {
      async replaySkip() {
        late = await commit([{}]);
        hub.dispatch(late);
      },
    });
    const result = await replay(client, { store: s, filters, afterId: '0', max: 3 });
    await nextTurn();
    const gap: Gap = { reason: 'replay_limit', from_id: mine[0]!.id, to_id: mine[6]!.id, dropped: 7 };
    // The message committed after the skip was computed is read with the rest (the replay reads up to the newest).
    const replayed = [...mine.slice(7), ...late];
    assert.deepEqual(result, { replayed: replayed.length, gaps: [gap] });
    assert.deepEqual(socket.events()[0], 'gap');
    assert.equal(socket.text(), Buffer.concat([gapFrame(gap), frames(replayed)]).toString());
  });

  it('max 0: the gap covers every matching message, then live only', async () => {
    const stored = await commitN(4);
    const { socket, client } = connect();
    const result = await replay(client, { store, filters: NO_FILTERS, afterId: '0', max: 0 });
    const gap: Gap = { reason: 'replay_limit', from_id: stored[0]!.id, to_id: stored[3]!.id, dropped: 4 };
    assert.deepEqual(result, { replayed: 0, gaps: [gap] });
    const next = await commit([{}]);
    hub.dispatch(next);
    await nextTurn();
    assert.equal(socket.text(), Buffer.concat([gapFrame(gap), frames(next)]).toString());
  });

  it('afterId below what retention pruned: a retention gap, then what is left', async () => {
    const stored = await commitN(5);
    const { socket, client } = connect(NO_FILTERS, stored[0]!.id!);
    const pruned = stored[2]!.id!;
    const { store: s } = hooked(store, {}, { prunedThrough: async () => pruned });
    const result = await replay(client, { store: s, filters: NO_FILTERS, afterId: stored[0]!.id!, max: 1000 });
    const gap: Gap = { reason: 'retention', from_id: stored[1]!.id, to_id: pruned, dropped: 2 };
    assert.deepEqual(result, { replayed: 2, gaps: [gap] });
    assert.equal(socket.text(), Buffer.concat([gapFrame(gap), frames(stored.slice(3))]).toString());
  });
});

describe('replay: client gone', () => {
  it('a client closed mid-replay stops it without throwing, and nothing is written after the close', async () => {
    await commitN(5);
    const { socket, client } = connect();
    const { store: s } = hooked(store, {
      maxMessageId() {
        client.close();
        hub.remove(client);
      },
    });
    const result = await replay(client, { store: s, filters: NO_FILTERS, afterId: '0', max: 1000 });
    await nextTurn();
    assert.deepEqual(result, { replayed: 0, gaps: [] });
    assert.equal(client.isClosed, true);
    assert.equal(socket.writableEnded, true);
    assert.equal(socket.text(), '');
    hub.dispatch(await commit([{}]));
    await nextTurn();
    assert.equal(socket.text(), '', 'a closed client gets no live events either');
  });

  it('a socket that goes away while the replay waits for drain ends the replay after that page', async () => {
    await commitN(2 * PAGE_SIZE);
    const { socket, client } = connect();
    const { store: s, calls } = hooked(store, {});
    socket.block();
    const pending = replay(client, { store: s, filters: NO_FILTERS, afterId: '0', max: 1_000_000 });
    await until(() => socket.chunks.length === 1, 'the first page');
    socket.destroy();
    const result = await pending; // resolves, does not reject
    assert.equal(client.isClosed, true);
    assert.equal(hub.size, 0);
    assert.equal(calls.get('messagesAfter'), 1, 'no page read after the client went away');
    assert.equal(socket.chunks.length, 1);
    assert.ok(result.replayed < 2 * PAGE_SIZE);
  });

  it('a gap write to a client closed during the replay stops it before reading pages', async () => {
    await commitN(10);
    const { socket, client } = connect();
    const { store: s, calls } = hooked(store, {
      replaySkip() {
        client.close();
      },
    });
    const result = await replay(client, { store: s, filters: NO_FILTERS, afterId: '0', max: 3 });
    assert.equal(result.replayed, 0);
    assert.equal(calls.get('messagesAfter') ?? 0, 0);
    assert.equal(socket.text(), '');
  });
});

describe('replay: the hand-over, with rows still on the bus (the high-water mark)', () => {
  // r1–r3 are committed after the client joined and before the replay reads its last page (the page
  // has them), r4–r6 after that read (only their live copies can deliver them). The bus carries the
  // six live copies in id order: the first `early` reach the hub before the hand-over (held back),
  // the rest after it. Every split, 0 to 6, covers all four cells: in the page or not × live copy
  // before or after the hand-over.
  for (let early = 0; early <= 6; early++) {
    it(`${early} of 6 live copies before the hand-over, ${6 - early} after: every id once, in order`, async () => {
      const before = await commitN(3);
      const { socket, client } = connect();
      const inPage = await commitN(3);
      let afterPage: RelayEvent[] = [];
      const { store: s, calls } = hooked(store, {
        async messagesAfter() {
          afterPage = await commitN(3);
          hub.dispatch([...inPage, ...afterPage].slice(0, early));
        },
      });
      const result = await replay(client, { store: s, filters: NO_FILTERS, afterId: '0', max: 1000 });
      hub.dispatch([...inPage, ...afterPage].slice(early));
      await nextTurn();
      assert.equal(calls.get('messagesAfter'), 1, 'one short page');
      assert.deepEqual(result, { replayed: 6, gaps: [] });
      const all = [...before, ...inPage, ...afterPage];
      assert.deepEqual(socket.ids(), idsOf(all), 'every id once, in id order');
      assert.equal(socket.text(), frames(all).toString(), 'byte-exact');
      assert.equal(client.skippedRepeats, Math.max(0, 3 - early), 'copies of replayed rows arriving after the hand-over are stopped by the mark');
      assert.equal(client.sent, all.length);
    });
  }

  it('a resume with nothing to replay: a late live copy at or below the resume id (a former listener publishing late) is not sent', async () => {
    const stored = await commitN(3);
    // The client has everything up to the newest id; it resumes on another web process.
    const { socket, client } = connect(NO_FILTERS, stored[2]!.id!);
    const result = await replay(client, { store, filters: NO_FILTERS, afterId: stored[2]!.id!, max: 1000 });
    assert.deepEqual(result, { replayed: 0, gaps: [] });
    const next = await commit([{}]);
    hub.dispatch([stored[1]!, stored[2]!, ...next]);
    await nextTurn();
    assert.deepEqual(socket.ids(), idsOf(next), 'only the id above the resume point');
    assert.equal(client.skippedRepeats, 2);
  });

  it('rows of a full page whose live copies arrive after the hand-over (the last page is empty): each once', async () => {
    const before = await commitN(2 * PAGE_SIZE - 3);
    const { socket, client } = connect();
    const inPage = await commitN(3); // the last rows of the second full page
    const { store: s, calls } = hooked(store, {});
    await replay(client, { store: s, filters: NO_FILTERS, afterId: '0', max: 1_000_000 });
    assert.equal(calls.get('messagesAfter'), 3, 'two full pages, then an empty one');
    const next = await commitN(2);
    hub.dispatch([...inPage, ...next]);
    await nextTurn();
    assert.deepEqual(socket.ids(), idsOf([...before, ...inPage, ...next]));
    assert.equal(client.skippedRepeats, 3);
  });

  it('with filters: only matching rows, each once; rows of other runs neither sent nor counted', async () => {
    const filters = parseFilters({ run_ids: 'run-1' });
    const { socket, client } = connect(filters);
    const inPage = await commit([{}, { runId: 'run-2' }, {}]);
    let afterPage: RelayEvent[] = [];
    const { store: s } = hooked(store, {
      async messagesAfter() {
        afterPage = await commit([{ runId: 'run-2' }, {}, { runId: 'run-2' }]);
      },
    });
    await replay(client, { store: s, filters, afterId: '0', max: 1000 });
    hub.dispatch([...inPage, ...afterPage]);
    await nextTurn();
    assert.deepEqual(socket.ids(), idsOf([inPage[0]!, inPage[2]!, afterPage[1]!]));
    assert.equal(client.skippedRepeats, 2);
  });

  // The live buffer overflows during the first page: the burst is read from the store instead. Three
  // more rows are committed right after the burst and are in the replay's last page; at that read two
  // more are committed. `early` of those five live copies reach the hub before the hand-over.
  for (const early of [1, 4]) {
    it(`live buffer overflowed; ${early} of the last 5 live copies before the hand-over: every id once, in order`, async () => {
      const before = await commitN(5);
      const { socket, client } = connect();
      let burst: RelayEvent[] = [];
      let inLastPage: RelayEvent[] = [];
      let afterPage: RelayEvent[] = [];
      const { store: s } = hooked(store, {
        async messagesAfter(call, page) {
          if (call === 1) {
            burst = await commitN(LIVE_BUFFER_MAX + 1);
            hub.dispatch(burst);
            assert.equal(client.liveOverflowed, true);
            inLastPage = await commitN(3);
          } else if ((page as unknown[]).length < PAGE_SIZE) {
            afterPage = await commitN(2);
            hub.dispatch([...inLastPage, ...afterPage].slice(0, early));
          }
        },
      });
      const result = await replay(client, { store: s, filters: NO_FILTERS, afterId: '0', max: 1_000_000 });
      hub.dispatch([...inLastPage, ...afterPage].slice(early));
      await nextTurn();
      const all = [...before, ...burst, ...inLastPage, ...afterPage];
      assert.deepEqual(result.gaps, []);
      assert.equal(result.replayed, before.length + burst.length + inLastPage.length, 'the burst came from the store');
      assert.equal(socket.ids().length, all.length);
      assert.deepEqual(socket.ids(), idsOf(all));
      assert.equal(client.skippedRepeats, Math.max(0, 3 - early));
      assert.equal(client.dropped, 0);
    });
  }

  it('a slow_client gap right after the hand-over counts only ids the stream never sent, not the repeated copies', async () => {
    const before = await commitN(3);
    const { socket, client } = connect(NO_FILTERS, '0', 2);
    const inPage = await commitN(2); // in the replay's page; live copies still on the bus
    await replay(client, { store, filters: NO_FILTERS, afterId: '0', max: 1000 });
    // The socket is full (a heartbeat written now finds it so) when the bus delivers.
    socket.block();
    client.sendControl(encodeHeartbeat(Date.now()));
    await nextTurn();
    const late = await commitN(6);
    hub.dispatch([...inPage, ...late]); // 2 repeats, then 6 new ones for a queue of 2: 4 dropped
    await nextTurn();
    socket.unblock();
    const gap: Gap = { reason: 'slow_client', from_id: late[0]!.id, to_id: late[3]!.id, dropped: 4 };
    assert.deepEqual(socket.gaps(), [gap], 'the gap starts above the mark');
    assert.deepEqual(socket.ids(), idsOf([...before, ...inPage, ...late.slice(4)]));
    assert.equal(client.skippedRepeats, 2);
    assert.equal(client.dropped, 4);
  });
});

describe('replay: memory bounded by bytes, not rows (issue 14)', () => {
  const KiB = 1024;

  it('a page ends with the row that brings it to PAGE_BYTES: one write per page, and a page cut by bytes is not taken for the end', async () => {
    const stored = await commitN(5, {}, 400 * KiB);
    const { socket, client } = connect();
    const { store: s, calls } = hooked(store, {});
    const result = await replay(client, { store: s, filters: NO_FILTERS, afterId: '0', max: 1000 });
    assert.ok(PAGE_BYTES < 3 * 400 * KiB && PAGE_BYTES > 2 * 400 * KiB, 'three rows pass PAGE_BYTES, two do not');
    assert.equal(result.replayed, 5, 'the rows after the short first page came from the store too');
    assert.equal(calls.get('messagesAfter'), 2, 'three rows, then two (short of rows and of bytes: caught up)');
    assert.equal(socket.chunks.length, 2);
    assert.deepEqual(socket.chunks[0], frames(stored.slice(0, 3)));
    assert.deepEqual(socket.chunks[1], frames(stored.slice(3)));
  });

  it('a row larger than PAGE_BYTES is a page of its own', async () => {
    const stored = await commitN(3, {}, PAGE_BYTES + 1);
    const { socket, client } = connect();
    const result = await replay(client, { store, filters: NO_FILTERS, afterId: '0', max: 1000 });
    assert.equal(result.replayed, 3);
    assert.deepEqual(socket.chunks, stored.map((e) => encodeEvent(e)));
  });

  it('the next page is read from the store only after the socket drained the previous one', async () => {
    const stored = await commitN(6, {}, 600 * KiB); // two rows a page
    const { socket, client } = connect();
    const { store: s, calls } = hooked(store, {});
    socket.block();
    const pending = replay(client, { store: s, filters: NO_FILTERS, afterId: '0', max: 1000 });
    await until(() => socket.chunks.length === 1, 'the first page');
    for (let i = 0; i < 10; i++) await nextTurn();
    assert.equal(calls.get('messagesAfter'), 1, 'a client that does not read costs one page: the next is not even read');
    assert.equal(socket.chunks.length, 1);
    socket.unblock(); // takes this page; the next write finds it full again
    socket.block();
    await until(() => socket.chunks.length === 2, 'the second page');
    for (let i = 0; i < 10; i++) await nextTurn();
    assert.equal(calls.get('messagesAfter'), 2);
    socket.unblock();
    const result = await pending;
    assert.equal(result.replayed, 6);
    assert.deepEqual(socket.chunks, [frames(stored.slice(0, 2)), frames(stored.slice(2, 4)), frames(stored.slice(4))]);
  });

  it('a client that goes away while a page waits for drain: no further page is read', async () => {
    await commitN(4, {}, 600 * KiB);
    const { socket, client } = connect();
    const { store: s, calls } = hooked(store, {});
    socket.block();
    const pending = replay(client, { store: s, filters: NO_FILTERS, afterId: '0', max: 1000 });
    await until(() => socket.chunks.length === 1, 'the first page');
    socket.destroy();
    await pending;
    assert.equal(client.sent, 2, 'the one page');
    assert.equal(calls.get('messagesAfter'), 1);
  });

  it('live events held during the replay beyond the queue bytes: the replay reads them from the store, no gap, no duplicate', async () => {
    const stored = await commitN(3);
    const live: RelayEvent[] = [];
    const { socket, client } = connect(NO_FILTERS, '0', 100, 4 * KiB);
    const { store: s } = hooked(store, {
      async messagesAfter(call) {
        if (call !== 1) return;
        const burst = await commitN(5, {}, KiB); // ~5 KiB held: more than 4 KiB
        live.push(...burst);
        hub.dispatch(burst);
        assert.equal(client.liveOverflowed, true, 'overflowed by bytes, far below the count bound');
      },
    });
    const result = await replay(client, { store: s, filters: NO_FILTERS, afterId: '0', max: 1000 });
    await nextTurn();
    const all = [...stored, ...live];
    assert.equal(result.replayed, all.length, 'the burst came from the store');
    assert.deepEqual(result.gaps, []);
    assert.deepEqual(socket.ids(), idsOf(all));
    assert.equal(client.dropped, 0);
  });
});
