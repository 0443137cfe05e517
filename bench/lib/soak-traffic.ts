/**
 * The soak's message stream: the SWF testbed's run cycle (run_imminent,
 * start_run, then stf_gen and data_ready per file, end_run; the next run
 * follows), with agent heartbeats (agent_name + status) in between, in the
 * shapes of test/fixtures/testbed-messages.jsonl. Every body carries a
 * `soak_seq` so a client can tell loss from duplicates, and the log of what
 * was sent answers "which of these should a filter have matched".
 */

/** The fields a relay filter looks at (as the relay derives them from a body). */
export interface SentMessage {
  seq: number;
  msgType: string;
  runId: string | null;
  agent: string;
}

/** A stream filter as query parameters: msg_types, agents, run_ids (comma-separated); empty = everything. */
export type SoakFilter = Partial<Record<'msg_types' | 'agents' | 'run_ids', string>>;

/** STF files per run: with data_ready, a run is 2 × this + 3 messages (~4 s at 100 msg/s). */
const STF_PER_RUN = 200;
/** A heartbeat from each agent every this many messages. */
const HEARTBEAT_EVERY = 500;
const NAMESPACE = 'soak';
/** The agents, by role; `sender` feeds the relay's `agents` filter, `agent_name` its agent table. */
export const AGENTS = { daq: 'daqsim-agent-soak-1', data: 'data-agent-soak-3', processing: 'processing-agent-soak-5' } as const;
/** The workflow message types the soak sends (heartbeats arrive as agent_status). */
export const MSG_TYPES = ['run_imminent', 'start_run', 'stf_gen', 'data_ready', 'end_run', 'agent_status'] as const;
const FIRST_RUN = 200_001;

/** Makes the bodies, in order, and remembers what each one was. */
export class SoakTraffic {
  /** Everything sent so far, indexed by seq. */
  readonly sent: SentMessage[] = [];
  private step = 0;
  private run = FIRST_RUN;

  /** The run being taken now (churners filter on it and its neighbours). */
  get currentRun(): number {
    return this.run;
  }

  /** The next body to publish. */
  next(): string {
    const seq = this.sent.length;
    const now = new Date().toISOString().replace('Z', '');
    if (seq > 0 && seq % HEARTBEAT_EVERY < 3) {
      const agent = Object.values(AGENTS)[seq % HEARTBEAT_EVERY]!;
      this.sent.push({ seq, msgType: 'agent_status', runId: null, agent });
      return JSON.stringify({ agent_name: agent, status: 'OK', agent_type: agent.split('-')[0], namespace: NAMESPACE, operational_state: 'PROCESSING', soak_seq: seq });
    }
    const run = this.run;
    const base = { namespace: NAMESPACE, execution_id: `stf_datataking-soak-${run}`, run_id: run, timestamp: now };
    const last = 2 * STF_PER_RUN + 2;
    let body: Record<string, unknown>;
    let agent: string = AGENTS.daq;
    if (this.step === 0) body = { msg_type: 'run_imminent', ...base, simulation_tick: 0, state: 'beam', substate: 'not_ready' };
    else if (this.step === 1) body = { msg_type: 'start_run', ...base, simulation_tick: 1, state: 'run', substate: 'physics' };
    else if (this.step < last) {
      const file = Math.floor((this.step - 2) / 2) + 1;
      const filename = `swf.${run}.${String(file).padStart(6, '0')}.stf`;
      if (this.step % 2 === 0) body = { msg_type: 'stf_gen', ...base, filename, sequence: file, simulation_tick: this.step, state: 'run', substate: 'physics' };
      else {
        agent = AGENTS.data;
        body = { msg_type: 'data_ready', run_id: run, filename, processed_by: null, namespace: NAMESPACE };
      }
    } else body = { msg_type: 'end_run', ...base, total_stf_files: STF_PER_RUN, state: 'beam', substate: 'not_ready' };
    this.sent.push({ seq, msgType: body.msg_type as string, runId: String(run), agent });
    if (++this.step > last) {
      this.step = 0;
      this.run++;
    }
    return JSON.stringify({ ...body, sender: agent, soak_seq: seq });
  }
}

/** Whether `filter` matches `m`, as the relay decides it (every given parameter must match; agents match the sender; agent_status only when msg_types names it). */
export function matches(filter: SoakFilter, m: SentMessage): boolean {
  if (filter.msg_types === undefined && m.msgType === 'agent_status') return false;
  const has = (list: string | undefined, value: string | null) => list === undefined || (value !== null && list.split(',').includes(value));
  return has(filter.msg_types, m.msgType) && has(filter.agents, m.agent) && has(filter.run_ids, m.runId);
}

/** The query string of a filter (with its leading `?`, or empty). */
export function filterQuery(filter: SoakFilter): string {
  const q = new URLSearchParams(filter as Record<string, string>).toString();
  return q ? `?${q}` : '';
}
