/**
 * The `receive` loop: one SSE stream kept open against the relay, reconnecting
 * with capped exponential backoff (full jitter) and Last-Event-ID, so no
 * event is missed or repeated; a silent connection (no heartbeat within twice
 * the relay's interval) is treated as lost.
 */
import { backoffDelay, sleep, type BackoffOptions } from '../backoff.js';
import { ExitError, EXIT_CODES } from '../exit.js';
import { describeGap, toReceivedEvent, type ReceivedEvent } from './format.js';
import { displayUrl } from './relay-url.js';
import { readSse, SseParser, type SseMessage } from './sse-reader.js';
import { saveState } from './state-file.js';

/** What receiveEvents needs; nothing here reads the environment. */
export interface ReceiveOptions {
  /** The stream URL, filters included. */
  readonly url: URL;
  /** Sent as `Authorization: Token <key>`; none: no header. */
  readonly token: string | undefined;
  /** Resume after this id (from --last-event-id or the state file); null: live only. */
  readonly lastEventId: string | null;
  /** Where the last handled id is saved after each chunk of events; none: not saved. */
  readonly stateFile: string | undefined;
  /** Stop (successfully) after this many relayed events; none: no limit. */
  readonly maxEvents: number | undefined;
  /** Stop (successfully) after this long, ms; none: no limit. */
  readonly timeoutMs: number | undefined;
  /** Until the relay has answered once, give up (exit 5) after this long, ms; 0 = keep trying. */
  readonly connectTimeoutMs: number;
  /** Once connected, give up (exit 5) after this many consecutive failed reconnects; none: never. */
  readonly retryLimit: number | undefined;
  /** Reconnect when nothing arrives for this long, ms; undefined: twice the heartbeat interval seen (30 s until seen); 0: never. */
  readonly heartbeatTimeoutMs: number | undefined;
  readonly backoff: BackoffOptions;
  /** Longest wait for response headers per attempt, ms. */
  readonly requestTimeoutMs: number;
  /** Called for each relayed event, in order. */
  readonly onEvent: (event: ReceivedEvent) => void;
  /** One line for the user (stderr): connection trouble, gaps. */
  readonly notice: (line: string) => void;
  /** Aborting it stops the loop (Ctrl-C). */
  readonly signal: AbortSignal;
}

/** How a receive run ended without error. */
export interface ReceiveResult {
  readonly received: number;
  readonly reason: 'max_events' | 'timeout' | 'stopped';
  readonly lastEventId: string | null;
}

/** Heartbeat interval assumed until two heartbeats have shown the real one (the relay's default). */
const DEFAULT_HEARTBEAT_MS = 30_000;

type Attempt = { kind: 'done' } | { kind: 'stopped' } | { kind: 'retry'; problem: string; minDelayMs: number };
type AbortReason = 'stop' | 'timeout' | 'headers' | 'silent';

/**
 * Receives until --max-events, --timeout or the signal; throws ExitError with
 * code 3 (401/403), 4 (400 or another refusal), 5 (unreachable, see
 * connectTimeoutMs/retryLimit) or 1 (state file cannot be written).
 */
export function receiveEvents(options: ReceiveOptions): Promise<ReceiveResult> {
  return new Receiver(options).run();
}

/** The state of one receive run across its connections. */
class Receiver {
  private readonly started = Date.now();
  private readonly deadline: number;
  private readonly where: string;
  private lastId: string | null;
  private savedId: string | null;
  private received = 0;
  private everConnected = false;
  /** Failed attempts in a row; reset by each `connected` event. */
  private failures = 0;
  private troubleShown = false;
  private heartbeatMs = DEFAULT_HEARTBEAT_MS;

  constructor(private readonly o: ReceiveOptions) {
    this.deadline = o.timeoutMs === undefined ? Infinity : this.started + o.timeoutMs;
    this.where = displayUrl(o.url);
    this.lastId = this.savedId = o.lastEventId;
  }

  async run(): Promise<ReceiveResult> {
    for (;;) {
      if (this.o.signal.aborted) return this.result('stopped');
      if (Date.now() >= this.deadline) return this.timedOut();
      const outcome = await this.attempt();
      if (outcome.kind === 'done') return this.result('max_events');
      if (outcome.kind === 'stopped') return this.o.signal.aborted ? this.result('stopped') : this.timedOut();
      await this.backOff(outcome.problem, outcome.minDelayMs);
    }
  }

  /** Waits before the next attempt, or throws ExitError 5 when the limits say to give up. */
  private async backOff(problem: string, minDelayMs: number): Promise<void> {
    this.failures++;
    const delay = Math.max(backoffDelay(this.failures, this.o.backoff), minDelayMs);
    const elapsed = Date.now() - this.started;
    if (!this.everConnected && this.o.connectTimeoutMs > 0 && elapsed + delay >= this.o.connectTimeoutMs) {
      throw new ExitError(EXIT_CODES.unreachable, `cannot reach the relay at ${this.where}: ${problem} (gave up after ${(elapsed / 1000).toFixed(1)} s; see --connect-timeout)`);
    }
    if (this.everConnected && this.o.retryLimit !== undefined && this.failures > this.o.retryLimit) {
      throw new ExitError(EXIT_CODES.unreachable, `lost the relay at ${this.where}: ${problem} (gave up after ${this.o.retryLimit} retries; see --retry-limit)`);
    }
    this.o.notice(`${problem}; retrying in ${(delay / 1000).toFixed(1)} s`);
    this.troubleShown = true;
    await sleep(Math.min(delay, Math.max(0, this.deadline - Date.now())), this.o.signal);
  }

  /** One connection: request, check the answer, read events until it ends. */
  private async attempt(): Promise<Attempt> {
    const guard = new AttemptGuard(this.o.signal, this.deadline, this.o.requestTimeoutMs);
    try {
      const headers: Record<string, string> = { Accept: 'text/event-stream', 'Cache-Control': 'no-cache' };
      if (this.o.token !== undefined) headers.Authorization = `Token ${this.o.token}`;
      if (this.lastId !== null) headers['Last-Event-ID'] = this.lastId;
      let res: Response;
      try {
        res = await fetch(this.o.url, { headers, signal: guard.controller.signal });
      } catch (err) {
        return guard.ended(guard.why === 'headers' ? `no response within ${this.o.requestTimeoutMs / 1000} s` : describeFetchError(err));
      }
      guard.headersArrived();
      if (res.status !== 200) return await refused(res, this.o.token !== undefined, this.where);
      const type = res.headers.get('content-type') ?? '';
      if (!type.startsWith('text/event-stream') || res.body === null) {
        await res.body?.cancel().catch(() => {});
        throw new ExitError(EXIT_CODES.refused, `${this.where} is not an event stream (Content-Type: ${type || 'none'}); is it the relay's URL?`);
      }
      this.everConnected = true;
      return await this.read(res.body, guard);
    } finally {
      guard.dispose();
    }
  }

  /** Reads the stream; persists the last id after each chunk; a silent connection is aborted by the watchdog. */
  private async read(body: ReadableStream<Uint8Array>, guard: AttemptGuard): Promise<Attempt> {
    const silenceMs = () => (this.o.heartbeatTimeoutMs !== undefined ? this.o.heartbeatTimeoutMs : 2 * this.heartbeatMs);
    const beats = { previous: null as number | null, shutdown: false };
    guard.watch(silenceMs());
    try {
      for await (const events of readSse(body, new SseParser())) {
        guard.watch(silenceMs());
        for (const message of events) {
          if (this.handle(message, beats)) {
            this.persist();
            return { kind: 'done' };
          }
        }
        this.persist();
      }
    } catch (err) {
      if (err instanceof ExitError) throw err;
      if (guard.why === 'silent') return guard.ended(`nothing received for ${(silenceMs() / 1000).toFixed(1)} s (no heartbeat)`);
      return guard.ended(`connection lost (${describeFetchError(err)})`);
    }
    return guard.ended(beats.shutdown ? 'the relay is shutting down' : 'the relay closed the stream');
  }

  /** Handles one event; true once --max-events is reached. */
  private handle(message: SseMessage, beats: { previous: number | null; shutdown: boolean }): boolean {
    switch (message.event) {
      case 'connected':
        this.failures = 0;
        if (this.troubleShown) this.o.notice(`connected again to ${this.where}${this.lastId === null ? '' : ` (resuming after event ${this.lastId})`}`);
        this.troubleShown = false;
        return false;
      case 'heartbeat': {
        // The interval from the relay's own timestamps: our read delays do not distort it.
        const ts = heartbeatTimestamp(message.data);
        if (ts !== null && beats.previous !== null && ts > beats.previous) this.heartbeatMs = (ts - beats.previous) * 1000;
        beats.previous = ts;
        return false;
      }
      case 'gap':
        this.o.notice(describeGap(message.data));
        return false;
      case 'shutdown':
        beats.shutdown = true;
        return false;
      default: {
        const event = toReceivedEvent(message);
        this.o.onEvent(event);
        this.received++;
        if (event.id !== null) this.lastId = event.id;
        return this.o.maxEvents !== undefined && this.received >= this.o.maxEvents;
      }
    }
  }

  private persist(): void {
    if (this.o.stateFile === undefined || this.lastId === null || this.lastId === this.savedId) return;
    try {
      saveState(this.o.stateFile, this.lastId, this.where);
    } catch (err) {
      throw new ExitError(EXIT_CODES.failure, `cannot write state file ${this.o.stateFile}: ${(err as Error).message}`);
    }
    this.savedId = this.lastId;
  }

  private result(reason: ReceiveResult['reason']): ReceiveResult {
    return { received: this.received, reason, lastEventId: this.lastId };
  }

  private timedOut(): ReceiveResult {
    if (!this.everConnected) throw new ExitError(EXIT_CODES.unreachable, `could not reach the relay at ${this.where} within --timeout`);
    return this.result('timeout');
  }
}

/** The abort controller of one attempt and everything that may trigger it: Ctrl-C, --timeout, no headers in time, silence. */
class AttemptGuard {
  readonly controller = new AbortController();
  /** Why the attempt was aborted (the first reason wins), or null. */
  why: AbortReason | null = null;
  private readonly onStop = () => this.abort('stop');
  private readonly deadlineTimer: NodeJS.Timeout | undefined;
  private headersTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly signal: AbortSignal,
    deadline: number,
    headersTimeoutMs: number,
  ) {
    signal.addEventListener('abort', this.onStop);
    if (deadline !== Infinity) this.deadlineTimer = setTimeout(() => this.abort('timeout'), Math.max(0, deadline - Date.now()));
    this.headersTimer = setTimeout(() => this.abort('headers'), headersTimeoutMs);
  }

  headersArrived(): void {
    clearTimeout(this.headersTimer);
  }

  /** (Re)starts the silence watchdog: abort when nothing arrives for `ms`; 0 disables it. */
  watch(ms: number): void {
    clearTimeout(this.watchdog);
    if (ms > 0) this.watchdog = setTimeout(() => this.abort('silent'), ms);
  }

  /** The outcome of an attempt that ended with `problem`: stopped when we aborted it to stop, else retry. */
  ended(problem: string): Attempt {
    return this.why === 'stop' || this.why === 'timeout' ? { kind: 'stopped' } : { kind: 'retry', problem, minDelayMs: 0 };
  }

  dispose(): void {
    clearTimeout(this.deadlineTimer);
    clearTimeout(this.headersTimer);
    clearTimeout(this.watchdog);
    this.signal.removeEventListener('abort', this.onStop);
  }

  private abort(reason: AbortReason): void {
    this.why ??= reason;
    this.controller.abort();
  }
}

/** The Attempt (or ExitError) for a non-200 answer: 401/403 → 3; 408/429/5xx → retry (Retry-After honoured); other 4xx → 4. */
async function refused(res: Response, haveToken: boolean, where: string): Promise<Attempt> {
  const detail = await errorDetail(res);
  const what = `${res.status}${detail === '' ? '' : `: ${detail}`}`;
  if (res.status === 401 || res.status === 403) {
    const hint = haveToken ? '' : ' — no token given: set SWF_API_TOKEN or use --token-file';
    throw new ExitError(EXIT_CODES.auth, `the relay refused the credentials (${what})${hint}`);
  }
  if (res.status === 408 || res.status === 429 || res.status >= 500) {
    const retryAfter = Number(res.headers.get('retry-after'));
    return { kind: 'retry', problem: `the relay answered ${what}`, minDelayMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 0 };
  }
  if (res.status === 400) throw new ExitError(EXIT_CODES.refused, `the relay refused the request (${what})`);
  throw new ExitError(EXIT_CODES.refused, `the relay refused the request (${what}); is ${where} the relay's stream URL?`);
}

/** The `detail` (and `param`) of a JSON error body, or the start of a text one. */
async function errorDetail(res: Response): Promise<string> {
  let text = '';
  try {
    text = (await res.text()).slice(0, 2000);
  } catch {
    return '';
  }
  try {
    const body = JSON.parse(text) as { detail?: unknown; param?: unknown };
    if (typeof body.detail === 'string') return typeof body.param === 'string' ? `${body.detail} [${body.param}]` : body.detail;
  } catch {
    // not JSON
  }
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

function heartbeatTimestamp(data: string): number | null {
  try {
    const ts = (JSON.parse(data) as { timestamp?: unknown }).timestamp;
    return typeof ts === 'number' && Number.isFinite(ts) ? ts : null;
  } catch {
    return null;
  }
}

/** A short reason for a failed fetch or read: the system error code when there is one (ECONNREFUSED, ENOTFOUND, …). */
export function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown; errors?: { code?: unknown }[] } } | null)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : typeof cause?.errors?.[0]?.code === 'string' ? cause.errors[0].code : undefined;
  if (code !== undefined) return code;
  if (typeof cause?.message === 'string' && cause.message !== '') return cause.message;
  return err instanceof Error ? err.message : String(err);
}

