// The Bus contract: what every Bus implementation promises. Run by bus-memory.test.ts and
// bus-redis.test.ts; an implementation passes it or is not a Bus.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Backfill, Bus } from '../../src/bus/bus.js';
import type { RelayEvent } from '../../src/model/event.js';
import { waitUntil } from '../helpers/relay.js';

/** A relayed event with id `id` (null: an agent heartbeat), fields overridable. */
export function event(id: number | null, over: Partial<RelayEvent> = {}): RelayEvent {
  return {
    id: id === null ? null : String(id),
    event: 'stf_gen',
    msgType: 'stf_gen',
    runId: '100042',
    namespace: 'ns',
    senderAgent: 'agent',
    processedBy: null,
    data: JSON.stringify({ msg_type: 'stf_gen', id, text: 'ünï\n"quoted"' }),
    receivedAt: 1_764_000_000_000 + (id ?? 0),
    ...over,
  };
}

/** Runs the contract on buses made by `open` (each test opens its own; all are closed after). */
export function busContract(name: string, open: (backfill?: Backfill) => Promise<Bus>): void {
  describe(`Bus contract: ${name}`, () => {
    const opened: Bus[] = [];
    const make = async (backfill?: Backfill) => {
      const bus = await open(backfill);
      opened.push(bus);
      return bus;
    };
    after(async () => {
      for (const bus of opened) await bus.close();
    });

    it('every subscriber gets every event published after it subscribed, in order, fields intact', async () => {
      const bus = await make();
      const a: RelayEvent[] = [];
      const b: RelayEvent[] = [];
      bus.subscribe((events) => a.push(...events));
      bus.subscribe((events) => b.push(...events));
      await new Promise((r) => setTimeout(r, 100)); // readers started
      const sent = [event(1), event(null, { event: 'agent_status', msgType: 'agent_status', runId: null, processedBy: null }), event(2, { namespace: null, senderAgent: null, processedBy: 'p' }), event(3, { runId: '' })];
      await bus.publish(sent.slice(0, 2));
      await bus.publish(sent.slice(2));
      await waitUntil(() => a.length === 4 && b.length === 4, 'both subscribers to get 4 events');
      assert.deepEqual(a, sent);
      assert.deepEqual(b, sent);
    });

    it('an unsubscribed handler gets nothing more', async () => {
      const bus = await make();
      const got: RelayEvent[] = [];
      const stop = bus.subscribe((events) => got.push(...events));
      const keep: RelayEvent[] = [];
      bus.subscribe((events) => keep.push(...events));
      await new Promise((r) => setTimeout(r, 100));
      await bus.publish([event(10)]);
      await waitUntil(() => got.length === 1 && keep.length === 1, 'first event');
      stop();
      await bus.publish([event(11)]);
      await waitUntil(() => keep.length === 2, 'second event to the remaining subscriber');
      assert.equal(got.length, 1);
    });

    it('reports itself healthy', async () => {
      const bus = await make();
      bus.subscribe(() => {});
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(bus.health?.().state ?? 'ok', 'ok');
    });
  });
}

