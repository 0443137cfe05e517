/**
 * `swf-relay send --simulate`: publishes simulated testbed runs one after the
 * other, plus agent heartbeats, until the signal or `runs` runs. A lost broker
 * connection abandons the current run and reconnects with backoff.
 */
import { backoffDelay, DEFAULT_BACKOFF } from '../backoff.js';
import { ExitError, EXIT_CODES } from '../exit.js';
import type { StompProducer } from './stomp-producer.js';
import { SendPipeline, sleepUntil, type PipelineCounts, type PipelineOptions } from './pipeline.js';
import { agentHeartbeats, executionIdAt, firstRunIdAt, runTimeline, type SimulationOptions } from './workflow-simulator.js';

/** What runSimulation needs. */
export interface SimulationRun {
  /** The connected publisher to start with. */
  readonly publisher: StompProducer;
  /** Opens a new connection after one was lost. */
  readonly reconnect: () => Promise<StompProducer>;
  readonly pipeline: Omit<PipelineOptions, 'notice'>;
  readonly simulation: SimulationOptions;
  /** Stop after this many runs; undefined: until the signal. */
  readonly runs: number | undefined;
  /** Agent heartbeats every this many ms; 0: none. */
  readonly heartbeatIntervalMs: number;
  /** The first run number; undefined: derived from the clock. */
  readonly firstRunId: number | undefined;
  readonly signal: AbortSignal;
  /** One line for stderr (run summaries, trouble). */
  readonly notice: (line: string) => void;
}

/** Pause between two runs, in stf intervals. */
const GAP_BETWEEN_RUNS = 3;

/** Publishes runs and heartbeats; resolves with the counts once stopped and every receipt is in. */
export async function runSimulation(o: SimulationRun): Promise<PipelineCounts> {
  let publisher = o.publisher;
  const pipeline = new SendPipeline(() => publisher, { ...o.pipeline, notice: o.notice });
  const { namespace } = o.simulation;
  let inRun = false;
  const finished = new AbortController();
  const stopAll = () => finished.abort();
  o.signal.addEventListener('abort', stopAll);

  const heartbeats = (async () => {
    if (o.heartbeatIntervalMs <= 0) return;
    for (let next = Date.now(); !finished.signal.aborted; next += o.heartbeatIntervalMs) {
      if (publisher.connected) for (const beat of agentHeartbeats(namespace, inRun)) await pipeline.submit(JSON.stringify(beat), `heartbeat of ${String(beat.agent_name)}`);
      await sleepUntil(Math.max(next + o.heartbeatIntervalMs, Date.now()), finished.signal);
    }
  })();

  try {
    let runId = o.firstRunId ?? firstRunIdAt(new Date());
    for (let done = 0; !o.signal.aborted && (o.runs === undefined || done < o.runs); done++, runId++) {
      if (!publisher.connected) {
        const again = await reconnect(o);
        if (again === null) break;
        publisher = again;
      }
      const timeline = runTimeline(runId, executionIdAt(new Date()), o.simulation);
      const start = Date.now();
      let sent = 0;
      inRun = true;
      for (const { atMs, body } of timeline) {
        await sleepUntil(start + atMs, o.signal);
        if (o.signal.aborted || !publisher.connected) break;
        await pipeline.submit(JSON.stringify({ ...body, timestamp: new Date().toISOString() }), `run ${runId} ${String(body.msg_type)}`);
        sent++;
      }
      inRun = false;
      const outcome = sent === timeline.length ? 'complete' : o.signal.aborted ? 'stopped' : 'abandoned (broker connection lost)';
      o.notice(`run ${runId}: ${outcome}, ${sent} messages (${o.simulation.filesPerRun} files planned)`);
      if (o.runs === undefined || done + 1 < o.runs) await sleepUntil(Date.now() + GAP_BETWEEN_RUNS * o.simulation.stfIntervalMs, o.signal);
    }
  } finally {
    stopAll();
    o.signal.removeEventListener('abort', stopAll);
    await heartbeats;
  }
  return pipeline.drain();
}

/** Connects again with backoff until it works, or null once the signal stops us; a refused login is final. */
async function reconnect(o: SimulationRun): Promise<StompProducer | null> {
  for (let attempt = 1; ; attempt++) {
    if (o.signal.aborted) return null;
    try {
      const publisher = await o.reconnect();
      o.notice('connected to the broker again');
      return publisher;
    } catch (err) {
      if (err instanceof ExitError && err.exitCode === EXIT_CODES.auth) throw err;
      const delay = backoffDelay(attempt, DEFAULT_BACKOFF);
      o.notice(`${(err as Error).message}; retrying in ${(delay / 1000).toFixed(1)} s`);
      await sleepUntil(Date.now() + delay, o.signal);
    }
  }
}
