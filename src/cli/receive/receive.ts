/**
 * `swf-relay receive [URL]`: a terminal SSE client of the relay (SPEC §7).
 * Readable lines on a terminal or `--json` lines; reconnects with backoff and
 * Last-Event-ID; `--state-file` resumes across restarts. Exit codes: see exit.ts.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_BACKOFF } from '../backoff.js';
import { ExitError, EXIT_CODES, signalExitCode } from '../exit.js';
import { formatHuman, formatJson } from './format.js';
import { commaList, intAtLeast, secondsAsMs } from '../options.js';
import { receiveEvents } from './stream.js';
import { DEFAULT_RELAY_URL, streamUrl, withFilters } from './relay-url.js';
import { checkStateWritable, loadState } from './state-file.js';
import { isEventId } from '../../model/event.js';

/** What the command reads from the environment (cli.ts passes process.env). */
export type Env = Readonly<Record<string, string | undefined>>;

interface ReceiveFlags {
  msgTypes?: string[];
  agents?: string[];
  runIds?: string[];
  namespaces?: string[];
  json?: boolean;
  tokenFile?: string;
  stateFile?: string;
  lastEventId?: string;
  maxEvents?: number;
  timeout?: number;
  connectTimeout?: number;
  retryLimit?: number;
  heartbeatTimeout?: number;
  maxBackoff?: number;
  color: 'auto' | 'always' | 'never';
  quiet?: boolean;
}

/** Until the relay has answered once, `receive` gives up after this long by default (exit 5). */
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
/** Longest wait for the response headers of one attempt. */
const REQUEST_TIMEOUT_MS = 10_000;

/** Registers `receive` on the program; `env` supplies SWF_MONITOR_URL, SWF_API_TOKEN, NO_COLOR, FORCE_COLOR. */
export function registerReceive(cli: Command, env: Env): void {
  cli
    .command('receive')
    .description('print the relay\'s events as they arrive (reconnects without losing any)')
    .argument('[url]', `relay URL (default: $SWF_MONITOR_URL, else ${DEFAULT_RELAY_URL}); ${'/api/messages/stream/'} is added unless present`)
    .option('--msg-types <list>', 'only these msg_types (comma-separated, repeatable; agent_status asks for agent heartbeats)', commaList)
    .option('--agents <list>', 'only messages sent or processed by these agents', commaList)
    .option('--run-ids <list>', 'only these run ids', commaList)
    .option('--namespaces <list>', 'only these namespaces', commaList)
    .option('--json', 'one JSON object per line: {"_id", "_event", ...message}')
    .option('--token-file <path>', 'read the API token from this file (default: $SWF_API_TOKEN)')
    .option('--state-file <path>', 'resume after the event id saved here, and save each new one (atomically)')
    .option('--last-event-id <id>', 'resume after this event id (overrides the state file)', eventId)
    .option('--max-events <n>', 'exit 0 after this many events', intAtLeast(1))
    .option('--timeout <seconds>', 'exit 0 after this long', secondsAsMs)
    .option('--connect-timeout <seconds>', `exit 5 if the relay has not answered within this long (default ${DEFAULT_CONNECT_TIMEOUT_MS / 1000}; 0: keep trying)`, secondsAsMs)
    .option('--retry-limit <n>', 'once connected, exit 5 after this many failed reconnects in a row (default: never)', intAtLeast(0))
    .option('--heartbeat-timeout <seconds>', 'reconnect when nothing arrives for this long (default: twice the relay\'s heartbeat interval; 0: never)', secondsAsMs)
    .option('--max-backoff <seconds>', `longest wait between reconnects (default ${DEFAULT_BACKOFF.maxMs / 1000})`, secondsAsMs)
    .addOption(new Option('--color <when>', 'colour the readable output').choices(['auto', 'always', 'never']).default('auto'))
    .option('-q, --quiet', 'no connection notices on stderr (gaps and errors are still shown)')
    .action(async (url: string | undefined, flags: ReceiveFlags) => {
      await receiveCommand(url, flags, env);
    });
}

async function receiveCommand(urlArg: string | undefined, flags: ReceiveFlags, env: Env): Promise<void> {
  const base = urlArg ?? (nonEmpty(env.SWF_MONITOR_URL) || DEFAULT_RELAY_URL);
  const url = withFilters(streamUrl(base), { msgTypes: flags.msgTypes ?? [], agents: flags.agents ?? [], runIds: flags.runIds ?? [], namespaces: flags.namespaces ?? [] });
  const maxBackoff = flags.maxBackoff ?? DEFAULT_BACKOFF.maxMs;
  const token = flags.tokenFile !== undefined ? readToken(flags.tokenFile) : nonEmpty(env.SWF_API_TOKEN?.trim()) || undefined;
  if (flags.stateFile !== undefined) checkStateWritable(flags.stateFile);
  const lastEventId = flags.lastEventId ?? (flags.stateFile === undefined ? null : loadState(flags.stateFile));
  const color = useColor(flags.color, env);
  const print = flags.json ? formatJson : (e: Parameters<typeof formatJson>[0]) => formatHuman(e, { color });

  const stop = new AbortController();
  let stoppedBy: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    stoppedBy = signal;
    stop.abort();
  };
  // A reader that went away (`receive | head`) ends the run quietly.
  let pipeClosed = false;
  const onStdoutError = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    pipeClosed = true;
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.stdout.on('error', onStdoutError);
  try {
    await receiveEvents({
      url,
      token,
      lastEventId,
      stateFile: flags.stateFile,
      maxEvents: flags.maxEvents,
      timeoutMs: flags.timeout,
      connectTimeoutMs: flags.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS,
      retryLimit: flags.retryLimit,
      heartbeatTimeoutMs: flags.heartbeatTimeout,
      backoff: { initialMs: Math.min(DEFAULT_BACKOFF.initialMs, maxBackoff), maxMs: maxBackoff },
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      onEvent: (event) => {
        if (!pipeClosed) process.stdout.write(`${print(event)}\n`);
      },
      notice: (line) => {
        if (!flags.quiet || line.startsWith('gap')) process.stderr.write(`swf-relay: ${line}\n`);
      },
      signal: stop.signal,
    });
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.stdout.removeListener('error', onStdoutError);
  }
  if (stoppedBy !== null) throw new ExitError(signalExitCode(stoppedBy), '');
}

function readToken(path: string): string {
  let token: string;
  try {
    token = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new ExitError(EXIT_CODES.usage, `cannot read token file ${path}: ${(err as Error).message}`);
  }
  if (token === '' || /\s/.test(token)) throw new ExitError(EXIT_CODES.usage, `token file ${path} must hold the key alone on one line`);
  return token;
}

/** Colours: `always`/`never` as said; `auto`: not with NO_COLOR, yes with FORCE_COLOR, else when stdout is a terminal. */
function useColor(when: ReceiveFlags['color'], env: Env): boolean {
  if (when !== 'auto') return when === 'always';
  if (nonEmpty(env.NO_COLOR) !== '') return false;
  if (nonEmpty(env.FORCE_COLOR) !== '' && env.FORCE_COLOR !== '0') return true;
  return process.stdout.isTTY === true && env.TERM !== 'dumb';
}

function eventId(value: string): string {
  if (!isEventId(value.trim())) throw new InvalidArgumentError('must be a decimal event id');
  return value.trim();
}

function nonEmpty(value: string | undefined): string {
  return value === undefined ? '' : value.trim();
}
