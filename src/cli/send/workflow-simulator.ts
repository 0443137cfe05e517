/**
 * What `swf-relay send --simulate` publishes: testbed-like runs (run_imminent →
 * start_run → stf_gen files → data_ready / processing_complete from other
 * agents → pause_run / resume_run → end_run) and agent heartbeats, in the
 * shapes of test/fixtures. Pure: timelines are computed, not sent, here.
 */

/** Shape of a simulated run. */
export interface SimulationOptions {
  /** Namespace of every message and agent. */
  readonly namespace: string;
  /** STF files per run. */
  readonly filesPerRun: number;
  /** Time between two stf_gen messages, ms; every other delay scales with it. */
  readonly stfIntervalMs: number;
}

/** One message of a timeline, `atMs` after the run starts. */
export interface TimedMessage {
  readonly atMs: number;
  readonly body: Record<string, unknown>;
}

/** The agents of a simulation: DAQ simulator, data agent, processing agent. */
export interface SimulatedAgents {
  readonly daq: string;
  readonly data: string;
  readonly processing: string;
}

/** The three agents' names for a namespace, e.g. `daqsim-agent-swf-demo-1`. */
export function agentsOf(namespace: string): SimulatedAgents {
  return { daq: `daqsim-agent-${namespace}-1`, data: `data-agent-${namespace}-1`, processing: `processing-agent-${namespace}-1` };
}

/** The STF filename of file `sequence` of `runId`: `swf.<run>.<6-digit sequence>.stf`. */
export function stfFilename(runId: number, sequence: number): string {
  return `swf.${runId}.${String(sequence).padStart(6, '0')}.stf`;
}

/**
 * The messages of one run, sorted by time: run_imminent at 0, start_run, one
 * stf_gen per interval (each followed by data_ready and processing_complete),
 * a pause after half the files, end_run once the last file is processed.
 * `runId` is a number; like the real testbed, stf_gen carries it as a number
 * and the other messages as a string.
 */
export function runTimeline(runId: number, executionId: string, options: SimulationOptions): TimedMessage[] {
  const i = options.stfIntervalMs;
  const agents = agentsOf(options.namespace);
  const common = { run_id: String(runId), execution_id: executionId, namespace: options.namespace };
  const out: TimedMessage[] = [];
  const at = (atMs: number, body: Record<string, unknown>) => out.push({ atMs: Math.round(atMs), body });

  at(0, {
    msg_type: 'run_imminent',
    ...common,
    sender: agents.daq,
    run_conditions: { beam_energy: '5 GeV', magnetic_field: '1.5T', detector_config: 'physics', bunch_structure: '216x216' },
    state: 'run',
    substate: 'not_ready',
  });
  at(2 * i, { msg_type: 'start_run', ...common, sender: agents.daq, state: 'run', substate: 'physics' });

  const pauseAfter = Math.floor(options.filesPerRun / 2);
  const pauseMs = 3 * i;
  let t = 3 * i;
  for (let seq = 1; seq <= options.filesPerRun; seq++) {
    const filename = stfFilename(runId, seq);
    at(t, {
      msg_type: 'stf_gen',
      ...common,
      run_id: runId,
      sender: agents.daq,
      filename,
      sequence: seq,
      simulation_tick: Number((t / 1000).toFixed(3)),
      state: 'run',
      substate: 'physics',
    });
    at(t + 0.4 * i, { msg_type: 'data_ready', ...common, sender: agents.data, recipient: agents.processing, filename, processed_by: agents.data });
    at(t + 1.2 * i, {
      msg_type: 'processing_complete',
      run_id: common.run_id,
      namespace: options.namespace,
      sender: agents.processing,
      processed_by: agents.processing,
      filename,
      message: `processed ${filename}`,
    });
    if (seq === pauseAfter && seq < options.filesPerRun) {
      at(t + 0.5 * i, { msg_type: 'pause_run', run_id: common.run_id, namespace: options.namespace, sender: agents.daq });
      at(t + 0.5 * i + pauseMs, { msg_type: 'resume_run', run_id: common.run_id, namespace: options.namespace, sender: agents.daq });
      t += pauseMs;
    }
    t += i;
  }
  // The last file was generated at t - i and is processed 1.2 intervals later.
  at(t + 0.5 * i, { ...common, msg_type: 'end_run', sender: agents.daq, total_files: options.filesPerRun, state: 'run', substate: 'not_ready' });
  // Stable sort: messages scheduled for the same instant keep their causal order.
  return out.sort((a, b) => a.atMs - b.atMs);
}

/** One heartbeat per agent: `{agent_name, status, agent_type, namespace, operational_state}`. */
export function agentHeartbeats(namespace: string, inRun: boolean): Record<string, unknown>[] {
  const agents = agentsOf(namespace);
  const state = inRun ? 'PROCESSING' : 'READY';
  return [
    { agent_name: agents.daq, status: 'OK', agent_type: 'daqsim', namespace, operational_state: state },
    { agent_name: agents.data, status: 'OK', agent_type: 'data', namespace, operational_state: state },
    { agent_name: agents.processing, status: 'OK', agent_type: 'processing', namespace, operational_state: state },
  ];
}

/** An execution id like the testbed's: `stf-exec-YYYYMMDD-HHMMSS` (UTC). */
export function executionIdAt(date: Date): string {
  const iso = date.toISOString();
  return `stf-exec-${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 19).replace(/:/g, '')}`;
}

/** A first run number that differs between simulations started at different seconds: 100000–999999. */
export function firstRunIdAt(date: Date): number {
  return 100_000 + (Math.floor(date.getTime() / 1000) % 900_000);
}
