import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SseClient, type ClientInfo } from '../../src/hub/sse-client.js';
import fc from 'fast-check';
import { agentStatusEvent, compareIds, idAtOrBelow, workflowEvent, type RelayEvent } from '../../src/model/event.js';
import { NO_FILTERS, parseFilters, type Filters } from '../../src/model/filter.js';
import { Hub } from '../../src/hub/hub.js';
import { MemoryBus } from '../../src/bus/memory.js';
import { encodeControl, encodeEvent } from '../../src/hub/sse-frame.js';
import { FakeSocket, nextTurn } from '../helpers/fake-socket.js';

function makeClient(filters: Filters = NO_FILTERS, options: { username?: string; queueSize?: number; queueBytes?: number } = {}) {
  const socket = new FakeSocket();
  const info: ClientInfo = { username: options.username ?? 'alice', remoteAddress: '127.0.0.1', filters, lastEventId: null };
  const client = new SseClient(socket, info, options.queueSize ?? 100, undefined, options.queueBytes);
  return { socket, client };
}

type EventSpec = { msgType?: string; runId?: string | null; namespace?: string | null; sender?: string | null; processedBy?: string | null };

function wf(id: number | string, spec: EventSpec = {}): RelayEvent {
  const msgType = spec.msgType ?? 'stf_gen';
  const runId = spec.runId === undefined ? '100042' : spec.runId;
  const namespace = spec.namespace === undefined ? 'torre-dev' : spec.namespace;
  const senderAgent = spec.sender === undefined ? 'daq' : spec.sender;
  const processedBy = spec.processedBy ?? null;
  const data = JSON.stringify({ msg_type: msgType, run_id: runId, namespace, sender_agent: senderAgent, processed_by: processedBy, n: String(id) });
  return workflowEvent(String(id), { msgType, runId, executionId: null, filename: null, senderAgent, recipientAgent: null, namespace, processedBy }, data, 0);
}

const agentStatus = (agentName: string, namespace: string | null = 'torre-dev') =>
  agentStatusEvent({ agentName, status: 'OK', agentType: null, namespace }, JSON.stringify({ agent_name: agentName, status: 'OK', msg_type: 'agent_status' }), 0);

describe('Hub: filter index', () => {
  it('delivers each event only to the clients whose filters match', async () => {
    const hub = new Hub();
    const all = makeClient();
    const byType = makeClient(parseFilters({ msg_types: 'data_ready' }));
    const byRun = makeClient(parseFilters({ run_ids: '100043' }));
    const byNs = makeClient(parseFilters({ namespaces: 'epicprod' }));
    const byAgent = makeClient(parseFilters({ agents: 'proc' }));
    const combined = makeClient(parseFilters({ msg_types: 'stf_gen', run_ids: '100043,100044', namespaces: 'torre-dev' }));
    const clients = [all, byType, byRun, byNs, byAgent, combined];
    for (const c of clients) hub.add(c.client);

    const events = [
      wf(1), // stf_gen 100042 torre-dev daq
      wf(2, { msgType: 'data_ready', processedBy: 'proc' }),
      wf(3, { runId: '100043' }),
      wf(4, { namespace: 'epicprod', runId: null }),
      wf(5, { msgType: 'end_run', runId: '100044' }),
      wf(6, { runId: '100044', namespace: 'epicprod' }),
    ];
    hub.dispatch(events);
    for (const c of clients) assert.equal(c.socket.chunks.length, 0, 'nothing is written during the dispatch itself');
    await nextTurn();

    assert.deepEqual(all.socket.ids(), ['1', '2', '3', '4', '5', '6']);
    assert.deepEqual(byType.socket.ids(), ['2']);
    assert.deepEqual(byRun.socket.ids(), ['3']);
    assert.deepEqual(byNs.socket.ids(), ['4', '6']);
    assert.deepEqual(byAgent.socket.ids(), ['2']);
    assert.deepEqual(combined.socket.ids(), ['3']);
    assert.deepEqual({ relayed: hub.counters.relayed, delivered: hub.counters.delivered }, { relayed: 6, delivered: 6 + 1 + 1 + 2 + 1 + 1 });
    // One write per client for the whole batch, and what was written is exactly the encoded events, in order.
    for (const c of clients) assert.equal(c.socket.chunks.length, 1, 'a batch meets the socket as one write');
    assert.deepEqual(all.socket.chunks[0], Buffer.concat(events.map((e) => encodeEvent(e))));
    assert.deepEqual(byNs.socket.chunks[0], Buffer.concat([encodeEvent(events[3]!), encodeEvent(events[5]!)]));
    assert.equal(byType.socket.text(), encodeEvent(wf(2, { msgType: 'data_ready', processedBy: 'proc' })).toString());
  });

  it('looks only at candidate clients, not at every client, per event', async () => {
    const hub = new Hub();
    const looked = new Map<string, number>();
    const clients = Array.from({ length: 200 }, (_, i) => {
      const runId = `run-${i}`;
      const filters = parseFilters({ run_ids: runId });
      const socket = new FakeSocket();
      const info = {
        username: 'u',
        remoteAddress: null,
        lastEventId: null,
        get filters() {
          looked.set(runId, (looked.get(runId) ?? 0) + 1);
          return filters;
        },
      };
      const client = new SseClient(socket, info, 10);
      hub.add(client);
      return { runId, socket };
    });
    looked.clear();
    hub.dispatch([wf(1, { runId: 'run-42' }), wf(2, { runId: 'run-nobody' })]);
    await nextTurn();
    assert.deepEqual([...looked.keys()], ['run-42'], 'only the client of run-42 was examined');
    for (const c of clients) assert.deepEqual(c.socket.ids(), c.runId === 'run-42' ? ['1'] : []);
  });

  it('a client listing both the sender and the processor gets the event exactly once', async () => {
    const hub = new Hub();
    const both = makeClient(parseFilters({ agents: 'daq,proc' }));
    const senderOnly = makeClient(parseFilters({ agents: 'daq' }));
    const procOnly = makeClient(parseFilters({ agents: 'proc' }));
    const neither = makeClient(parseFilters({ agents: 'other' }));
    for (const c of [both, senderOnly, procOnly, neither]) hub.add(c.client);

    hub.dispatch([
      wf(1, { sender: 'daq', processedBy: 'proc' }),
      wf(2, { sender: 'daq', processedBy: 'daq' }),
      wf(3, { sender: null, processedBy: 'proc' }),
      wf(4, { sender: 'x', processedBy: 'proc' }),
    ]);
    await nextTurn();
    assert.deepEqual(both.socket.ids(), ['1', '2', '3', '4']);
    assert.deepEqual(senderOnly.socket.ids(), ['1', '2']);
    assert.deepEqual(procOnly.socket.ids(), ['1', '3', '4']);
    assert.deepEqual(neither.socket.ids(), []);
    assert.equal(hub.counters.delivered, 4 + 2 + 3);
  });

  it('agent_status goes only to clients whose msg_types ask for it', async () => {
    const hub = new Hub();
    const unfiltered = makeClient();
    const byAgent = makeClient(parseFilters({ agents: 'daqsim-agent-torre-7' }));
    const byNs = makeClient(parseFilters({ namespaces: 'torre-dev' }));
    const asks = makeClient(parseFilters({ msg_types: 'agent_status' }));
    const asksForOther = makeClient(parseFilters({ msg_types: 'agent_status', agents: 'someone-else' }));
    for (const c of [unfiltered, byAgent, byNs, asks, asksForOther]) hub.add(c.client);

    hub.dispatch([agentStatus('daqsim-agent-torre-7')]);
    await nextTurn();
    assert.equal(unfiltered.socket.chunks.length, 0);
    assert.equal(byAgent.socket.chunks.length, 0);
    assert.equal(byNs.socket.chunks.length, 0);
    assert.equal(asksForOther.socket.chunks.length, 0);
    assert.deepEqual(asks.socket.events(), ['agent_status']);
    assert.deepEqual(asks.socket.ids(), [], 'agent_status carries no id');
  });

  it('a removed client gets nothing more, and adding a client twice does not double its events', async () => {
    const hub = new Hub();
    const a = makeClient(parseFilters({ msg_types: 'stf_gen' }));
    const b = makeClient();
    hub.add(a.client);
    hub.add(a.client);
    hub.add(b.client);
    assert.equal(hub.size, 2);
    hub.dispatch([wf(1)]);
    await nextTurn();
    hub.remove(a.client);
    hub.remove(a.client);
    assert.equal(hub.size, 1);
    assert.deepEqual([...hub.clients()], [b.client]);
    hub.dispatch([wf(2)]);
    await nextTurn();
    assert.deepEqual(a.socket.ids(), ['1']);
    assert.deepEqual(b.socket.ids(), ['1', '2']);
    hub.remove(b.client);
    hub.dispatch([wf(3)]);
    await nextTurn();
    assert.deepEqual(b.socket.ids(), ['1', '2']);
    assert.equal(hub.size, 0);
  });

  it('an event dispatched just before its client is removed still goes out (it was sent while connected)', async () => {
    const hub = new Hub();
    const a = makeClient();
    hub.add(a.client);
    hub.dispatch([wf(1)]);
    hub.remove(a.client);
    hub.dispatch([wf(2)]);
    await nextTurn();
    assert.deepEqual(a.socket.ids(), ['1']);
  });

  it('removing one client of a bucket keeps the others of that bucket', async () => {
    const hub = new Hub();
    const a = makeClient(parseFilters({ run_ids: '1,2' }));
    const b = makeClient(parseFilters({ run_ids: '2' }));
    hub.add(a.client);
    hub.add(b.client);
    hub.remove(a.client);
    hub.dispatch([wf(10, { runId: '2' }), wf(11, { runId: '1' })]);
    await nextTurn();
    assert.deepEqual(a.socket.ids(), []);
    assert.deepEqual(b.socket.ids(), ['10']);
  });

  it('a bucket going from one client to three and back to none delivers to exactly its clients at each step', async () => {
    const hub = new Hub();
    const [a, b, c] = [makeClient(parseFilters({ run_ids: '7' })), makeClient(parseFilters({ run_ids: '7' })), makeClient(parseFilters({ run_ids: '7,8' }))];
    let id = 0;
    const step = async (expected: ReturnType<typeof makeClient>[]) => {
      hub.dispatch([wf(++id, { runId: '7' })]);
      await nextTurn();
      for (const x of [a, b, c]) assert.equal(x.socket.ids().includes(String(id)), expected.includes(x), `event ${id}`);
    };
    hub.add(a.client);
    await step([a]);
    hub.add(b.client);
    hub.add(b.client);
    await step([a, b]);
    hub.add(c.client);
    await step([a, b, c]);
    hub.remove(a.client);
    await step([b, c]);
    hub.remove(c.client);
    await step([b]);
    hub.add(a.client);
    await step([a, b]);
    hub.remove(a.client);
    hub.remove(b.client);
    await step([]);
    hub.add(c.client);
    await step([c]);
    assert.equal(hub.size, 1);
  });

  it('counts open streams per user', () => {
    const hub = new Hub();
    const a1 = makeClient(NO_FILTERS, { username: 'alice' });
    const a2 = makeClient(parseFilters({ run_ids: '1' }), { username: 'alice' });
    const b1 = makeClient(NO_FILTERS, { username: 'bob' });
    for (const c of [a1, a2, b1]) hub.add(c.client);
    assert.equal(hub.streamsOf('alice'), 2);
    assert.equal(hub.streamsOf('bob'), 1);
    assert.equal(hub.streamsOf('carol'), 0);
    hub.remove(a1.client);
    hub.remove(a1.client);
    assert.equal(hub.streamsOf('alice'), 1);
    hub.remove(a2.client);
    hub.remove(b1.client);
    assert.equal(hub.streamsOf('alice'), 0);
    assert.equal(hub.streamsOf('bob'), 0);
  });

  it('encodes each event once and writes the same Buffer to every matching client', async () => {
    const hub = new Hub();
    const a = makeClient();
    const b = makeClient(parseFilters({ msg_types: 'stf_gen' }));
    const c = makeClient(parseFilters({ agents: 'daq' }));
    for (const x of [a, b, c]) hub.add(x.client);
    // One event in a turn is written as-is (no concat), so the shared instance shows.
    hub.dispatch([wf(1)]);
    await nextTurn();
    assert.equal(a.socket.chunks.length, 1);
    assert.equal(a.socket.chunks[0], b.socket.chunks[0], 'same instance');
    assert.equal(a.socket.chunks[0], c.socket.chunks[0], 'same instance');
    assert.deepEqual(a.socket.chunks[0], encodeEvent(wf(1)));
    // And again for the next turn's single event: a fresh frame, shared as well.
    hub.dispatch([wf(2)]);
    await nextTurn();
    assert.equal(a.socket.chunks.length, 2);
    assert.notEqual(a.socket.chunks[1], a.socket.chunks[0]);
    assert.equal(a.socket.chunks[1], b.socket.chunks[1], 'same instance');
    assert.equal(a.socket.chunks[1], c.socket.chunks[1], 'same instance');
  });

  it('several events of one turn reach each client as one write with the same bytes', async () => {
    const hub = new Hub();
    const a = makeClient();
    const b = makeClient(parseFilters({ run_ids: '100042' }));
    hub.add(a.client);
    hub.add(b.client);
    hub.dispatch([wf(1)]);
    hub.dispatch([wf(2), wf(3)]); // a second dispatch in the same turn joins the same write
    assert.equal(a.socket.chunks.length, 0);
    await nextTurn();
    const expected = Buffer.concat([1, 2, 3].map((n) => encodeEvent(wf(n))));
    for (const c of [a, b]) {
      assert.equal(c.socket.chunks.length, 1);
      assert.deepEqual(c.socket.chunks[0], expected);
      assert.equal(c.client.sent, 3, 'sent counts events, not writes');
    }
  });
});

describe('SseClient: backpressure', () => {
  it('frames of one turn go out in one write even when it fills the socket; later turns queue', async () => {
    const { socket, client } = makeClient(NO_FILTERS, { queueSize: 3 });
    const frames = [1, 2, 3, 4].map((n) => encodeEvent(wf(n)));
    socket.block();
    client.send(frames[0]!, '1');
    client.send(frames[1]!, '2');
    client.send(frames[2]!, '3');
    await nextTurn();
    // blocked is decided by the combined write, so the whole turn went out.
    assert.equal(socket.chunks.length, 1);
    assert.deepEqual(socket.chunks[0], Buffer.concat(frames.slice(0, 3)));
    assert.equal(client.queueDepth, 0);
    assert.equal(client.sent, 3);

    client.send(frames[3]!, '4');
    await nextTurn();
    assert.equal(socket.chunks.length, 1, 'the socket reported full: the next turn waits');
    assert.equal(client.queueDepth, 1);
    assert.equal(client.sent, 3);
    socket.unblock();
    assert.deepEqual(socket.ids(), ['1', '2', '3', '4']);
    assert.equal(client.sent, 4);
    assert.equal(client.dropped, 0);
  });

  it('queues while the socket is full, drops the oldest beyond the bound, then sends a gap and the queue on drain', async () => {
    const { socket, client } = makeClient(NO_FILTERS, { queueSize: 3 });
    const frames = [1, 2, 3, 4, 5, 6, 7].map((n) => encodeEvent(wf(n)));
    socket.block();
    client.send(frames[0]!, '1'); // written at the end of this turn; the socket then reports full
    await nextTurn();
    assert.equal(socket.chunks.length, 1);
    for (let n = 2; n <= 6; n++) client.send(frames[n - 1]!, String(n));
    await nextTurn();
    assert.equal(socket.chunks.length, 1, 'nothing written while full');
    assert.equal(client.queueDepth, 3, 'queue bounded');
    assert.equal(client.dropped, 2);
    assert.equal(client.sent, 1);

    socket.unblock();
    const gap = encodeControl('gap', { reason: 'slow_client', from_id: '2', to_id: '3', dropped: 2 });
    // On drain (synchronously): the gap, then everything that waited as one write.
    assert.equal(socket.chunks.length, 3);
    assert.deepEqual(socket.chunks[1], gap);
    assert.deepEqual(socket.chunks[2], Buffer.concat([frames[3]!, frames[4]!, frames[5]!]));
    assert.equal(socket.text(), Buffer.concat([frames[0]!, gap, frames[3]!, frames[4]!, frames[5]!]).toString());
    assert.deepEqual(socket.ids(), ['1', '4', '5', '6']);
    assert.deepEqual(socket.gaps(), [{ reason: 'slow_client', from_id: '2', to_id: '3', dropped: 2 }]);
    assert.equal(client.queueDepth, 0);
    assert.equal(client.sent, 4);
    assert.equal(client.dropped, 2);

    client.send(frames[6]!, '7');
    assert.deepEqual(socket.ids(), ['1', '4', '5', '6'], 'written at the end of the turn, not during send()');
    await nextTurn();
    assert.deepEqual(socket.ids(), ['1', '4', '5', '6', '7'], 'writes directly again');
    assert.equal(socket.chunks[3], frames[6], 'not queued: the frame itself');
    assert.equal(client.sent, 5);
  });

  it('reports a gap only once, and not at all when nothing was dropped', async () => {
    const { socket, client } = makeClient(NO_FILTERS, { queueSize: 2 });
    socket.block();
    client.send(encodeEvent(wf(1)), '1');
    await nextTurn();
    client.send(encodeEvent(wf(2)), '2');
    await nextTurn();
    assert.equal(client.queueDepth, 1);
    socket.unblock();
    assert.deepEqual(socket.events(), ['stf_gen', 'stf_gen']);
    socket.unblock();
    await nextTurn();
    assert.deepEqual(socket.events(), ['stf_gen', 'stf_gen'], 'a second drain writes nothing');

    socket.block();
    client.send(encodeEvent(wf(3)), '3');
    await nextTurn();
    for (let n = 4; n <= 6; n++) client.send(encodeEvent(wf(n)), String(n)); // queue 2: 6 drops 4
    await nextTurn();
    socket.unblock();
    assert.deepEqual(socket.events(), ['stf_gen', 'stf_gen', 'stf_gen', 'gap', 'stf_gen', 'stf_gen']);
    assert.deepEqual(socket.ids(), ['1', '2', '3', '5', '6']);
    socket.unblock();
    await nextTurn();
    assert.equal(socket.events().filter((e) => e === 'gap').length, 1);
  });

  it('a gap of events without ids reports null ids and the count', async () => {
    const { socket, client } = makeClient(parseFilters({ msg_types: 'agent_status' }), { queueSize: 1 });
    socket.block();
    const frame = encodeEvent(agentStatus('a'));
    client.send(frame, null);
    await nextTurn();
    for (let i = 0; i < 3; i++) client.send(frame, null);
    await nextTurn();
    socket.unblock();
    assert.match(socket.text(), /event: gap\ndata: \{"reason":"slow_client","from_id":null,"to_id":null,"dropped":2\}\n\n/);
    assert.equal(client.dropped, 2);
    assert.equal(socket.events().filter((e) => e === 'agent_status').length, 2);
  });

  it('a single queued event is written as the shared Buffer itself', async () => {
    const hub = new Hub();
    const slow = makeClient(NO_FILTERS, { queueSize: 5 });
    const fast = makeClient();
    hub.add(slow.client);
    hub.add(fast.client);
    slow.socket.block();
    hub.dispatch([wf(1)]);
    await nextTurn(); // slow's write reports a full socket
    hub.dispatch([wf(2)]);
    await nextTurn();
    assert.equal(slow.client.queueDepth, 1);
    slow.socket.unblock();
    assert.equal(slow.socket.chunks.length, 2);
    assert.equal(slow.socket.chunks[1], fast.socket.chunks[1], 'the queued frame is the shared instance');
  });

  it('close() ends the stream with its last frame; a closed client ignores sends', async () => {
    const { socket, client } = makeClient();
    const shutdown = encodeControl('shutdown', {});
    client.close(shutdown);
    assert.equal(client.isClosed, true);
    assert.equal(socket.writableEnded, true);
    client.send(encodeEvent(wf(1)), '1');
    client.sendControl(encodeControl('heartbeat', {}));
    client.close();
    await nextTurn();
    assert.equal(socket.text(), shutdown.toString());
    assert.equal(client.sent, 0);
  });

  it('close() first writes what this turn already sent, then the last frame, and nothing twice', async () => {
    const { socket, client } = makeClient();
    const frames = [encodeEvent(wf(1)), encodeEvent(wf(2))];
    const shutdown = encodeControl('shutdown', {});
    client.send(frames[0]!, '1');
    client.send(frames[1]!, '2');
    client.close(shutdown);
    assert.equal(socket.text(), Buffer.concat([...frames, shutdown]).toString(), 'pending frames flushed before the last frame');
    await nextTurn();
    assert.equal(socket.text(), Buffer.concat([...frames, shutdown]).toString(), 'the scheduled flush writes nothing more');
    assert.deepEqual(socket.ids(), ['1', '2']);
  });

  it('a detached client (its socket went away) writes nothing of this turn', async () => {
    const { socket, client } = makeClient();
    client.send(encodeEvent(wf(1)), '1');
    client.detach();
    assert.equal(client.isClosed, true);
    await nextTurn();
    assert.equal(socket.chunks.length, 0);
  });
});

describe('SseClient: queue bounded by bytes (SSE_CLIENT_QUEUE_BYTES)', () => {
  /** A frame of event `id` with `pad` bytes of padding in its data. */
  const sized = (id: number, pad: number) =>
    encodeEvent(
      workflowEvent(
        String(id),
        { msgType: 'stf_gen', runId: '1', executionId: null, filename: null, senderAgent: 'daq', recipientAgent: null, namespace: 'torre-dev', processedBy: null },
        `{"n":${id},"pad":"${'x'.repeat(pad)}"}`,
        0,
      ),
    );

  /** A client whose socket took event 1 and is now full. */
  async function blockedClient(queueBytes: number) {
    const { socket, client } = makeClient(NO_FILTERS, { queueBytes });
    socket.block();
    client.send(sized(1, 10), '1');
    await nextTurn();
    assert.equal(socket.chunks.length, 1);
    return { socket, client };
  }

  it('drops the oldest beyond the byte bound (far below the count bound) and reports them exactly like a count overflow', async () => {
    const frames = new Map([2, 3, 4, 5, 6, 7].map((n) => [n, sized(n, 200)]));
    const frameBytes = frames.get(2)!.length;
    const { socket, client } = await blockedClient(3 * frameBytes + 10); // room for three
    for (const [n, frame] of frames) client.send(frame, String(n));
    assert.equal(client.queueDepth, 3, 'bounded by bytes, not by the count of 100');
    assert.equal(client.dropped, 3);
    socket.unblock();
    const gap = { reason: 'slow_client', from_id: '2', to_id: '4', dropped: 3 };
    assert.deepEqual(socket.gaps(), [gap]);
    assert.deepEqual(socket.chunks[1], encodeControl('gap', gap));
    assert.deepEqual(socket.chunks[2], Buffer.concat([frames.get(5)!, frames.get(6)!, frames.get(7)!]), 'then the three that waited, in one write');
    assert.deepEqual(socket.ids(), ['1', '5', '6', '7']);

    // The running total starts again from zero after the drain: three fit again, without drops.
    socket.block();
    client.send(sized(8, 10), '8');
    await nextTurn();
    for (const n of [9, 10, 11]) client.send(sized(n, 200), String(n));
    assert.equal(client.queueDepth, 3);
    assert.equal(client.dropped, 3, 'no new drop');
    socket.unblock();
    assert.deepEqual(socket.ids(), ['1', '5', '6', '7', '8', '9', '10', '11']);
    assert.equal(socket.gaps().length, 1);
  });

  it('a big event drops as many small ones as it needs; the gap covers all of them, and only them', async () => {
    const { socket, client } = await blockedClient(1000);
    for (const n of [2, 3, 4, 5]) client.send(sized(n, 150), String(n)); // 4 × ~200 bytes
    assert.equal(client.dropped, 0);
    client.send(sized(6, 650), '6'); // ~700 bytes: 2, 3 and 4 must go
    assert.equal(client.dropped, 3);
    client.send(sized(7, 150), '7'); // and now 5
    assert.equal(client.dropped, 4);
    assert.equal(client.queueDepth, 2);
    socket.unblock();
    assert.deepEqual(socket.gaps(), [{ reason: 'slow_client', from_id: '2', to_id: '5', dropped: 4 }]);
    assert.deepEqual(socket.ids(), ['1', '6', '7']);
  });

  it('an event larger than the whole bound is still queued (the newest is always kept), replacing what waited', async () => {
    const { socket, client } = await blockedClient(500);
    client.send(sized(2, 100), '2');
    client.send(sized(3, 2000), '3');
    assert.equal(client.queueDepth, 1);
    assert.equal(client.dropped, 1);
    client.send(sized(4, 100), '4');
    assert.equal(client.queueDepth, 1);
    socket.unblock();
    assert.deepEqual(socket.gaps(), [{ reason: 'slow_client', from_id: '2', to_id: '3', dropped: 2 }]);
    assert.deepEqual(socket.ids(), ['1', '4']);
  });
});

describe('SseClient: high-water mark (a stream never repeats an id)', () => {
  /** Puts `client` where a replay that wrote `ids` leaves it: in the hub, replay ended, mark at the last id. */
  async function replayed(hub: Hub, client: SseClient, ids: number[]): Promise<void> {
    client.beginReplay();
    hub.add(client);
    assert.equal(await client.writeReplayed(ids.map((n) => ({ frame: encodeEvent(wf(n)), id: String(n) }))), ids.length);
    client.endReplay(String(ids.at(-1)));
  }

  it('idAtOrBelow (the mark\'s one comparison) agrees with compareIds and with BigInt on every id of 1–18 digits', () => {
    const id = fc.bigInt({ min: 0n, max: 10n ** 18n - 1n }).map(String);
    fc.assert(
      fc.property(id, id, (a, b) => {
        assert.equal(idAtOrBelow(a, b), compareIds(a, b) <= 0);
        assert.equal(idAtOrBelow(a, b), BigInt(a) <= BigInt(b));
      }),
      { numRuns: 2000 },
    );
    assert.equal(idAtOrBelow('9', '10'), true);
    assert.equal(idAtOrBelow('10', '9'), false);
    assert.equal(idAtOrBelow('42', '42'), true);
  });

  it('an id at or below the highest one sent is not sent again; ids compare as numbers, not as text', async () => {
    const { socket, client } = makeClient(parseFilters({ msg_types: 'stf_gen,agent_status' }));
    for (const n of [9, 10, 10, 9, 2, 11]) client.send(encodeEvent(wf(n)), String(n));
    client.send(encodeEvent(agentStatus('daq')), null); // no id: not subject to the mark
    await nextTurn();
    assert.deepEqual(socket.ids(), ['9', '10', '11']);
    assert.deepEqual(socket.events(), ['stf_gen', 'stf_gen', 'stf_gen', 'agent_status']);
    assert.equal(client.sent, 4);
    assert.equal(client.skippedRepeats, 3);
  });

  it('a replayed page leaves out ids the stream already sent', async () => {
    const { socket, client } = makeClient();
    client.send(encodeEvent(wf(5)), '5');
    await nextTurn();
    client.beginReplay();
    const written = await client.writeReplayed([4, 5, 6, 7].map((n) => ({ frame: encodeEvent(wf(n)), id: String(n) })));
    client.endReplay('7');
    assert.equal(written, 2);
    assert.deepEqual(socket.ids(), ['5', '6', '7']);
    assert.deepEqual(socket.chunks[1], Buffer.concat([encodeEvent(wf(6)), encodeEvent(wf(7))]), 'still one write for the page');
    assert.equal(client.sent, 3);
  });

  it('in a turn shared by several clients, one whose mark is inside the batch gets only the part above it; the others still share one buffer', async () => {
    const hub = new Hub();
    const a = makeClient();
    const b = makeClient();
    const c = makeClient();
    hub.add(a.client);
    await replayed(hub, b.client, [1, 2, 3]); // b just replayed 1–3, whose live copies are still on the bus
    hub.add(c.client);
    hub.dispatch([wf(1), wf(2), wf(3), wf(4), wf(5)]);
    await nextTurn();
    const all = Buffer.concat([1, 2, 3, 4, 5].map((n) => encodeEvent(wf(n))));
    assert.deepEqual(a.socket.chunks, [all]);
    assert.equal(c.socket.chunks[0], a.socket.chunks[0], 'a and c share the joined buffer');
    assert.deepEqual(b.socket.ids(), ['1', '2', '3', '4', '5'], 'b: each id once');
    assert.deepEqual(b.socket.chunks[1], Buffer.concat([encodeEvent(wf(4)), encodeEvent(wf(5))]), 'b: its own slice, above its mark');
    assert.equal(b.client.skippedRepeats, 3);
    assert.equal(hub.counters.delivered, 15, 'delivered counts matches; the stream itself stops the repeats');

    // Next turn: b is past its mark, so all three share again.
    hub.dispatch([wf(6), wf(7)]);
    await nextTurn();
    assert.equal(b.socket.chunks[2], a.socket.chunks[1]);
    assert.equal(c.socket.chunks[1], a.socket.chunks[1]);
  });

  it('a bus batch of rows read back from the store (the Redis bus backfill) and new ones goes through the mark like any other', async () => {
    const hub = new Hub();
    const bus = new MemoryBus();
    hub.follow(bus);
    const fresh = makeClient();
    const resumed = makeClient();
    hub.add(fresh.client);
    await replayed(hub, resumed.client, [1, 2, 3, 4]);
    // After a trim, the bus reads 2–4 back from the store and delivers them with 5 and 6 in one batch.
    await bus.publish([2, 3, 4, 5, 6].map((n) => wf(n)));
    await nextTurn();
    assert.deepEqual(fresh.socket.ids(), ['2', '3', '4', '5', '6']);
    assert.deepEqual(resumed.socket.ids(), ['1', '2', '3', '4', '5', '6']);
  });
});

describe('Hub: heartbeats', () => {
  const NOW = 1_764_268_800_123;
  /** The exact heartbeat format: seconds with always three decimals. */
  const HEARTBEAT = /^event: heartbeat\ndata: \{"timestamp":\d+\.\d{3}\}\n\n$/;

  it('sends a heartbeat every interval to every client, skipping a blocked one', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: NOW });
    const hub = new Hub();
    const a = makeClient();
    const b = makeClient(parseFilters({ run_ids: '1' }));
    const blocked = makeClient();
    for (const c of [a, b, blocked]) hub.add(c.client);
    blocked.socket.block();
    blocked.client.send(encodeEvent(wf(1)), '1');
    await nextTurn(); // written; the socket is now backed up
    hub.startHeartbeats(30);

    t.mock.timers.tick(29_999);
    await nextTurn();
    assert.equal(a.socket.chunks.length, 0);
    t.mock.timers.tick(1);
    await nextTurn();
    const beat = 'event: heartbeat\ndata: {"timestamp":1764268830.123}\n\n';
    assert.match(beat, HEARTBEAT);
    assert.equal(a.socket.text(), beat);
    assert.equal(b.socket.text(), beat);
    assert.equal(a.socket.chunks[0], b.socket.chunks[0], 'one frame shared per tick');
    assert.deepEqual(blocked.socket.events(), ['stf_gen'], 'no heartbeat for a blocked client');

    blocked.socket.unblock();
    t.mock.timers.tick(30_000);
    await nextTurn();
    assert.equal(a.socket.text(), beat + beat.replace('30.123', '60.123'));
    assert.deepEqual(blocked.socket.events(), ['stf_gen', 'heartbeat']);
    assert.equal(a.client.sent, 0, 'heartbeats are not counted as events sent');

    hub.stopHeartbeats();
    t.mock.timers.tick(120_000);
    await nextTurn();
    assert.equal(a.socket.events().length, 2);
  });

  it('a heartbeat on a whole second still carries three decimals, so it reads as a float', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: 1_764_268_800_000 });
    const hub = new Hub();
    const a = makeClient();
    hub.add(a.client);
    hub.startHeartbeats(30);
    t.mock.timers.tick(30_000);
    await nextTurn();
    hub.stopHeartbeats();
    assert.equal(a.socket.text(), 'event: heartbeat\ndata: {"timestamp":1764268830.000}\n\n');
    assert.match(a.socket.text(), HEARTBEAT);
  });

  it('a heartbeat and events of the same turn go out together, in order', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: NOW });
    const hub = new Hub();
    const a = makeClient();
    hub.add(a.client);
    hub.startHeartbeats(10);
    hub.dispatch([wf(1)]);
    t.mock.timers.tick(10_000);
    hub.dispatch([wf(2)]);
    await nextTurn();
    hub.stopHeartbeats();
    assert.equal(a.socket.chunks.length, 1);
    assert.deepEqual(a.socket.events(), ['stf_gen', 'heartbeat', 'stf_gen']);
  });

  it('0 disables heartbeats; restarting replaces the previous timer', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: NOW });
    const hub = new Hub();
    const a = makeClient();
    hub.add(a.client);
    hub.startHeartbeats(0);
    t.mock.timers.tick(600_000);
    await nextTurn();
    assert.equal(a.socket.chunks.length, 0);

    hub.startHeartbeats(10);
    hub.startHeartbeats(10);
    t.mock.timers.tick(10_000);
    await nextTurn();
    assert.equal(a.socket.events().length, 1, 'one timer, not two');
    assert.match(a.socket.text(), HEARTBEAT);
    hub.startHeartbeats(0);
    t.mock.timers.tick(60_000);
    await nextTurn();
    assert.equal(a.socket.events().length, 1, 'startHeartbeats(0) stops the running timer');
  });

  it('closeAll ends every stream with the last frame within the spread', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const hub = new Hub();
    const clients = [makeClient(), makeClient(parseFilters({ run_ids: '1' })), makeClient()];
    for (const c of clients) hub.add(c.client);
    const shutdown = encodeControl('shutdown', {});
    const done = hub.closeAll(shutdown, 5000);
    assert.equal(hub.closing, true);
    t.mock.timers.tick(5000);
    await done;
    for (const c of clients) {
      assert.equal(c.client.isClosed, true);
      assert.equal(c.socket.writableEnded, true);
      assert.equal(c.socket.text(), shutdown.toString());
    }
  });

  it('a removed or closed client gets no heartbeat', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: NOW });
    const hub = new Hub();
    const removed = makeClient();
    const closed = makeClient();
    const kept = makeClient();
    hub.add(removed.client);
    hub.add(closed.client);
    hub.add(kept.client);
    hub.remove(removed.client);
    closed.client.close();
    hub.startHeartbeats(1);
    t.mock.timers.tick(1000);
    hub.stopHeartbeats();
    await nextTurn();
    assert.equal(removed.socket.chunks.length, 0);
    assert.equal(closed.socket.chunks.length, 0);
    assert.deepEqual(kept.socket.events(), ['heartbeat'], 'the heartbeat did fire');
  });
});
