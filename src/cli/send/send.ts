/**
 * `swf-relay send`: publishes JSON messages to the relay's topic over STOMP
 * (SPEC §7) — bodies given as arguments, JSON lines from --file or stdin,
 * generated test messages (--count), or a simulated testbed (--simulate).
 * Every SEND is persistent and confirmed by a receipt. Exit codes: see exit.ts.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { Config } from '../../config.js';
import { brokerAddress } from '../../broker/socket.js';
import { ExitError, EXIT_CODES, signalExitCode } from '../exit.js';
import { intAtLeast, positiveRate, secondsAsMs } from '../options.js';
import { connectStompProducer, type StompProducer } from './stomp-producer.js';
import { startProgress } from './progress.js';
import { SendPipeline, sleepUntil, type PipelineCounts } from './pipeline.js';
import { runSimulation } from './simulate-command.js';

interface SendFlags {
  file?: string;
  count?: number;
  msgType: string;
  runId: string;
  sender: string;
  namespace?: string;
  rate?: number;
  simulate?: boolean;
  runs?: number;
  files: number;
  heartbeatSeconds?: number;
  topic?: string;
  raw?: boolean;
  quiet?: boolean;
  connectTimeout?: number;
}

/** One body to send and how messages name it. */
interface Item {
  readonly body: string;
  readonly label: string;
}

/** STF files per second of --simulate when --rate is not given ("every few hundred ms"). */
const DEFAULT_SIMULATE_RATE = 3;
/** Namespace of --simulate when --namespace is not given. */
const DEFAULT_SIMULATE_NAMESPACE = 'swf-demo';
/** Agent heartbeats of --simulate, ms apart. */
const DEFAULT_HEARTBEAT_MS = 5000;
/** How long `send` waits for the broker to answer CONNECT. */
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** A send without receipt after this long counts as failed. */
const RECEIPT_TIMEOUT_MS = 10_000;

/** Registers `send`; `config` loads the relay configuration (its broker section is used). */
export function registerSend(cli: Command, config: () => Config): void {
  cli
    .command('send')
    .description('publish JSON messages to the topic over STOMP (persistent, each confirmed by the broker)')
    .argument('[body...]', 'JSON message bodies (default: JSON lines on stdin, if it is not a terminal)')
    .option('--file <path>', 'send each line of this JSON-lines file ("-": stdin)')
    .option('--count <n>', 'send n generated test messages', intAtLeast(1))
    .option('--msg-type <type>', 'msg_type of generated messages', 'sse_test')
    .option('--run-id <id>', 'run_id of generated messages (--simulate: the first run number)', 'test-run-001')
    .option('--sender <name>', 'sender of generated messages', 'swf-relay-send')
    .option('--namespace <ns>', `namespace of generated messages (--simulate: default ${DEFAULT_SIMULATE_NAMESPACE})`)
    .option('--rate <per-second>', `messages per second (default: as fast as the broker confirms); --simulate: STF files per second (default ${DEFAULT_SIMULATE_RATE})`, positiveRate)
    .option('--simulate', 'publish realistic testbed runs and agent heartbeats until Ctrl-C (or --runs)')
    .option('--runs <n>', '--simulate: stop after n runs', intAtLeast(1))
    .option('--files <n>', '--simulate: STF files per run', intAtLeast(1), 10)
    .option('--heartbeat-seconds <s>', `--simulate: agent heartbeats every s seconds (default ${DEFAULT_HEARTBEAT_MS / 1000}; 0: none)`, secondsAsMs)
    .option('--topic <destination>', 'send here instead of $ACTIVEMQ_HEARTBEAT_TOPIC (/topic/ added if absent)')
    .option('--raw', 'send bodies as they are, even ones the relay will reject')
    .option('--connect-timeout <seconds>', `exit 5 if the broker does not answer within this long (default ${DEFAULT_CONNECT_TIMEOUT_MS / 1000})`, secondsAsMs)
    .option('-q, --quiet', 'no progress and no summary on stderr')
    .action(async (bodies: string[], flags: SendFlags, command: Command) => {
      await sendCommand(bodies, flags, config, command);
    });
}

async function sendCommand(bodies: string[], flags: SendFlags, loadConfig: () => Config, command: Command): Promise<void> {
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  const modes = [bodies.length > 0 && 'a body argument', flags.file !== undefined && '--file', flags.count !== undefined && '--count', flags.simulate && '--simulate'].filter(
    (m): m is string => typeof m === 'string',
  );
  if (modes.length > 1) throw new ExitError(EXIT_CODES.usage, `give only one of ${modes.join(', ')}`);
  for (const option of ['runs', 'files', 'heartbeatSeconds'] as const) {
    if (given(option) && !flags.simulate) throw new ExitError(EXIT_CODES.usage, `--${kebab(option)} only goes with --simulate`);
  }
  if (modes.length === 0 && process.stdin.isTTY) {
    throw new ExitError(EXIT_CODES.usage, 'nothing to send: give a JSON body, --file, --count or --simulate, or pipe JSON lines into stdin');
  }
  if (flags.file !== undefined && flags.file !== '-' && (!existsSync(flags.file) || statSync(flags.file).isDirectory())) {
    throw new ExitError(EXIT_CODES.usage, `--file ${flags.file}: no such file`);
  }

  const config = loadConfig();
  const destination = flags.topic === undefined ? config.broker.destination : flags.topic.startsWith('/') ? flags.topic : `/topic/${flags.topic}`;
  const connect = () => connectStompProducer(config.broker, { destination, connectTimeoutMs: flags.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS, receiptTimeoutMs: RECEIPT_TIMEOUT_MS });
  const notice = (line: string) => process.stderr.write(`swf-relay: ${line}\n`);
  const pipelineOptions = { raw: flags.raw ?? false, maxBytes: config.messageMaxBytes };

  const stop = new AbortController();
  let stoppedBy: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    stoppedBy = signal;
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let publisher: StompProducer | undefined;
  let counts: PipelineCounts;
  let connectionLost = false;
  try {
    publisher = await connect();
    if (flags.simulate) {
      const rate = flags.rate ?? DEFAULT_SIMULATE_RATE;
      if (!flags.quiet) notice(`simulating testbed runs on ${destination} at ${brokerAddress(config.broker)}${flags.runs === undefined ? ' until Ctrl-C' : ''}`);
      counts = await runSimulation({
        publisher,
        reconnect: async () => (publisher = await connect()),
        pipeline: pipelineOptions,
        simulation: { namespace: flags.namespace ?? DEFAULT_SIMULATE_NAMESPACE, filesPerRun: flags.files, stfIntervalMs: 1000 / rate },
        runs: flags.runs,
        heartbeatIntervalMs: flags.heartbeatSeconds ?? DEFAULT_HEARTBEAT_MS,
        firstRunId: given('runId') && /^\d{1,15}$/.test(flags.runId) ? Number(flags.runId) : undefined,
        signal: stop.signal,
        notice: flags.quiet ? () => {} : notice,
      });
    } else {
      const current = publisher;
      const pipeline = new SendPipeline(() => current, { ...pipelineOptions, notice });
      const progress = flags.quiet || !process.stderr.isTTY ? null : startProgress(pipeline, flags.count);
      try {
        const started = Date.now();
        const items = source(bodies, flags);
        const aborted = new Promise<null>((resolve) => stop.signal.addEventListener('abort', () => resolve(null), { once: true }));
        // Paced before the next body is taken, so a generated message is stamped when it goes out.
        for (let n = 0; !stop.signal.aborted; n++) {
          if (flags.rate !== undefined) await sleepUntil(started + (n * 1000) / flags.rate, stop.signal);
          if (stop.signal.aborted) break;
          const next = await Promise.race([items.next(), aborted]);
          if (next === null || next.done) break;
          if (!current.connected) {
            connectionLost = true;
            break;
          }
          await pipeline.submit(next.value.body, next.value.label);
        }
        void items.return(undefined); // not awaited: after Ctrl-C a read of stdin may still be pending
        counts = await pipeline.drain();
      } finally {
        progress?.stop();
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await publisher?.close();
  }
  const summary = summarise(counts, destination, flags.simulate ? null : flags.count ?? null);
  if (counts.failed > 0 || connectionLost) throw new ExitError(EXIT_CODES.failure, connectionLost ? `${summary}; the broker connection was lost before the rest could be sent` : summary);
  if (stoppedBy !== null && !flags.simulate) throw new ExitError(signalExitCode(stoppedBy), `stopped: ${summary}`);
  if (counts.refused > 0) throw new ExitError(EXIT_CODES.refused, summary);
  if (!flags.quiet) notice(summary);
}

/** "sent 50 messages to /topic/x, all confirmed" and the like. */
function summarise(c: PipelineCounts, destination: string, planned: number | null): string {
  const parts = [`sent ${c.sent}${planned !== null && planned !== c.sent ? ` of ${planned}` : ''} message${c.sent === 1 ? '' : 's'} to ${destination}`];
  parts.push(c.failed === 0 ? (c.sent === 0 ? '' : c.sent === 1 ? 'confirmed by the broker' : 'all confirmed by the broker') : `${c.confirmed} confirmed, ${c.failed} failed`);
  if (c.refused > 0) parts.push(`${c.refused} refused as invalid`);
  return parts.filter((p) => p !== '').join(', ');
}

/** The bodies to send, in order, from whichever input was chosen. */
async function* source(bodies: string[], flags: SendFlags): AsyncGenerator<Item> {
  if (bodies.length > 0) {
    for (const [i, body] of bodies.entries()) yield { body, label: `argument ${i + 1}` };
  } else if (flags.count !== undefined) {
    for (let seq = 1; seq <= flags.count; seq++) yield { body: JSON.stringify(testMessage(seq, flags)), label: `message ${seq}` };
  } else {
    const name = flags.file === undefined || flags.file === '-' ? 'stdin' : flags.file;
    const input = name === 'stdin' ? process.stdin : createReadStream(name, 'utf8');
    let line = 0;
    for await (const text of createInterface({ input, crlfDelay: Infinity })) {
      line++;
      if (text.trim() !== '') yield { body: text, label: `${name}:${line}` };
    }
  }
}

/** Generated message `seq` of --count: `{msg_type, run_id, sequence, sender, namespace?, message, timestamp}`. */
export function testMessage(seq: number, flags: Pick<SendFlags, 'msgType' | 'runId' | 'sender' | 'namespace' | 'count'>): Record<string, unknown> {
  return {
    msg_type: flags.msgType,
    run_id: flags.runId,
    sequence: seq,
    sender: flags.sender,
    ...(flags.namespace !== undefined && { namespace: flags.namespace }),
    message: `test message ${seq} of ${flags.count ?? '?'}`,
    timestamp: new Date().toISOString(),
  };
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
