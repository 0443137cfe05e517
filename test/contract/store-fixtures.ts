// Shared by the store contract suites (store*.contract.ts): how a runner hands over a store, and test data builders.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import type { HeartbeatFields, WorkflowFields } from '../../src/model/message.js';
import type { AgentHeartbeat, MessageStore, NewWorkflowMessage, Store } from '../../src/store/store.js';

/** A store opened for one suite; `store` is typed as the role the suite proves. */
export interface OpenedStore<S = Store> {
  readonly store: S;
  /** Closes the store and removes what open() created. */
  cleanup(): Promise<void>;
  /** Runs raw SQL on a separate connection, for what the Store interface does not expose (e.g. agents.first_seen). */
  query(sqlText: string): Promise<Record<string, unknown>[]>;
}

/** Opens a fresh store for one suite; every call gives a new, empty one. */
export type OpenStore<S = Store> = () => Promise<OpenedStore<S>>;

/**
 * The role suites cannot migrate (migrate() is not part of any role), so the
 * runner hands them stores already migrated; the Store suite migrates itself to check migrate().
 */
export function migrated(open: OpenStore): OpenStore {
  return async () => {
    const opened = await open();
    try {
      await opened.store.migrate();
    } catch (err) {
      await opened.cleanup();
      throw err;
    }
    return opened;
  };
}

export const big = (id: string) => BigInt(id);

/** Asserts ids are non-null and strictly increasing; returns them. */
export function increasing(ids: readonly (string | null)[]): string[] {
  const out = ids.map((id, i) => {
    assert.ok(id !== null, `message ${i} got no id`);
    assert.match(id, /^[1-9]\d*$/, 'ids are positive decimal strings');
    return id;
  });
  for (let i = 1; i < out.length; i++) assert.ok(big(out[i]!) > big(out[i - 1]!), `ids increase: ${out[i - 1]} then ${out[i]}`);
  return out;
}

export function fields(f: Partial<WorkflowFields> = {}): WorkflowFields {
  return {
    msgType: 'stf_gen',
    runId: '100042',
    executionId: 'stf-exec-1',
    filename: 'swf.100042.000001.stf',
    senderAgent: 'daqsim-agent-torre-7',
    recipientAgent: null,
    namespace: 'torre-dev',
    processedBy: null,
    ...f,
  };
}

export function heartbeat(agentName: string, status: string, at: string, extra: Partial<HeartbeatFields> = {}): AgentHeartbeat {
  return { fields: { agentName, status, agentType: 'daqsim', namespace: 'torre-dev', ...extra }, payload: JSON.stringify({ agent_name: agentName, status }), at };
}

export const T0 = '2026-11-27T14:00:00.000Z';

/** Message builders for one suite; `store` is read at call time (it is opened in the suite's before hook). */
export function messageHelpers(store: () => MessageStore) {
  let seq = 0;

  /** A new workflow message with a broker message-id never used before in this suite. */
  const message = (f: Partial<WorkflowFields> = {}, over: Partial<NewWorkflowMessage> = {}): NewWorkflowMessage => {
    seq++;
    const msgFields = fields(f);
    return {
      brokerMessageId: `ID:contract-${seq}`,
      fields: msgFields,
      queueName: '/topic/epictopic',
      sentAt: new Date(Date.parse(T0) + seq * 1000).toISOString(),
      content: JSON.stringify({ msg_type: msgFields.msgType, run_id: msgFields.runId, seq }),
      metadata: JSON.stringify({ 'message-id': `ID:contract-${seq}`, destination: '/topic/epictopic' }),
      ...over,
    };
  };

  const commitMessages = (messages: NewWorkflowMessage[]) => store().commitBatch({ messages, heartbeats: [], rejected: [] });

  /** The highest id stored so far ('0' when empty), to read back only what a test adds. */
  const highWater = async () => (await store().maxMessageId()) ?? '0';

  return { message, commitMessages, highWater };
}

/** Opens a fresh store from `open` before the enclosing suite's tests and cleans it up after them; read it through the getters. */
export function suiteStore<S>(open: OpenStore<S>): { readonly store: S; readonly opened: OpenedStore<S> } {
  let opened: OpenedStore<S> | undefined;
  before(async () => {
    opened = await open();
  });
  after(async () => {
    await opened?.cleanup();
  });
  return {
    get opened() {
      if (!opened) throw new Error('the suite store is opened in before(); read it inside a test');
      return opened;
    },
    get store() {
      return this.opened.store;
    },
  };
}
