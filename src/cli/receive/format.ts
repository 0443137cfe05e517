/**
 * How `receive` prints events: one JSON object per line (`--json`), or one
 * readable line per event, colourised on a terminal. Pure.
 */
import type { SseMessage } from './sse-reader.js';

/** A relayed event as `receive` handles it. */
export interface ReceivedEvent {
  /** The store id (`id:`), null for events without one (agent_status). */
  readonly id: string | null;
  /** The SSE event name (the msg_type, `agent_status`, or `message`). */
  readonly event: string;
  /** The parsed `data:` when it is a JSON object, else null. */
  readonly payload: Record<string, unknown> | null;
  /** The `data:` text as received. */
  readonly data: string;
}

/** Options of formatHuman. */
export interface HumanFormatOptions {
  /** ANSI colours (a terminal that wants them). */
  readonly color: boolean;
  /** Times in UTC instead of the local zone. */
  readonly utc?: boolean;
  /** The time shown when the payload has no usable `sent_at`; default now. */
  readonly now?: () => Date;
}

/** Turns a dispatched SSE event into a ReceivedEvent (data parsed as JSON when it is an object). */
export function toReceivedEvent(message: SseMessage): ReceivedEvent {
  let payload: Record<string, unknown> | null = null;
  try {
    const value: unknown = JSON.parse(message.data);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) payload = value as Record<string, unknown>;
  } catch {
    // not JSON: printed as `_data`
  }
  return { id: message.id ?? null, event: message.event, payload, data: message.data };
}

/**
 * `--json` output: `{"_id": "<id>"|null, "_event": "<name>", ...payload}` on one
 * line. `_id`/`_event` come first and win over payload keys of the same name;
 * data that is not a JSON object is given as `_data` (a string).
 */
export function formatJson(event: ReceivedEvent): string {
  const head = `{"_id":${JSON.stringify(event.id)},"_event":${JSON.stringify(event.event)}`;
  if (event.payload === null) return `${head},"_data":${JSON.stringify(event.data)}}`;
  if (!Object.hasOwn(event.payload, '_id') && !Object.hasOwn(event.payload, '_event')) {
    // The payload's own text after its `{`: re-encoding the parsed object would round integers beyond 2^53.
    const rest = event.data.trim().slice(1).trimStart();
    return rest.startsWith('}') ? `${head}}` : `${head},${rest}`;
  }
  const out: Record<string, unknown> = { _id: event.id, _event: event.event };
  for (const [key, value] of Object.entries(event.payload)) if (key !== '_id' && key !== '_event') define(out, key, value);
  return JSON.stringify(out);
}

const ANSI = { reset: '\x1b[0m', bold: '\x1b[1m', dim: '\x1b[2m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', blue: '\x1b[34m', magenta: '\x1b[35m', cyan: '\x1b[36m' } as const;
type Colour = keyof typeof ANSI;

const TYPE_WIDTH = 20;

/**
 * One readable line: time (the message's `sent_at`, else now), id, type, run,
 * sender (→ recipient), then filename or message (else state/substate). Agent heartbeats show agent,
 * status and type instead. Control characters from the payload are escaped, so
 * a message can never drive the terminal.
 */
export function formatHuman(event: ReceivedEvent, options: HumanFormatOptions): string {
  const paint = (colour: Colour | null, text: string) => (options.color && colour !== null && text !== '' ? `${ANSI[colour]}${text}${ANSI.reset}` : text);
  const p = event.payload ?? {};
  const time = timeOf(p.sent_at, options);
  const id = event.id === null ? '' : `#${event.id}`;
  const type = clean(event.event);
  const head = `${paint('dim', time)} ${paint('dim', id.padEnd(7))} ${paint(typeColour(type), type.padEnd(TYPE_WIDTH))}`;
  if (event.payload === null) return `${head} ${clean(event.data)}`;
  if (type === 'agent_status') {
    const status = text(p.status);
    const detail = [text(p.agent_type), text(p.namespace)].filter((s) => s !== '').join(', ');
    return [head, text(p.agent_name) || text(p.sender_agent), paint(statusColour(status), status), detail === '' ? '' : paint('dim', `(${detail})`)]
      .filter((s) => s !== '')
      .join('  ');
  }
  const run = text(p.run_id);
  const sender = text(p.sender_agent) || text(p.sender) || text(p.processed_by);
  const recipient = text(p.recipient_agent) || text(p.recipient);
  const who = recipient === '' ? sender : `${sender || '?'} → ${recipient}`;
  const what = text(p.filename) || text(p.message);
  const state = [text(p.state), text(p.substate)].filter((s) => s !== '').join('/');
  const tail = what !== '' ? paint('cyan', what) : state !== '' ? paint('dim', state) : '';
  return [head, run === '' ? '' : `run ${paint('bold', run)}`, who, tail].filter((s) => s !== '').join('  ');
}

/** One line for stderr describing a `gap` event's data (`{"reason","from_id","to_id","dropped"}`). */
export function describeGap(data: string): string {
  let gap: Record<string, unknown> = {};
  try {
    gap = JSON.parse(data) as Record<string, unknown>;
  } catch {
    return `gap: ${clean(data)}`;
  }
  const range = gap.from_id === gap.to_id ? `event ${text(gap.from_id)}` : `events ${text(gap.from_id)}–${text(gap.to_id)}`;
  const dropped = typeof gap.dropped === 'number' ? ` (${gap.dropped} not delivered)` : '';
  return `gap (${text(gap.reason) || 'unknown reason'}): ${range}${dropped}; to fill it, reconnect with --last-event-id ${previousId(gap.from_id)} or page the history`;
}

function previousId(fromId: unknown): string {
  const s = text(fromId);
  return /^\d+$/.test(s) && s !== '0' ? String(BigInt(s) - 1n) : s;
}

function typeColour(type: string): Colour | null {
  if (/error|fail/i.test(type)) return 'red';
  if (type === 'agent_status') return 'dim';
  if (type === 'pause_run' || type === 'resume_run') return 'yellow';
  if (/^(run_imminent|start_run|end_run)$/.test(type)) return 'cyan';
  if (type === 'stf_gen') return 'green';
  if (type === 'data_ready') return 'blue';
  if (type === 'processing_complete') return 'magenta';
  return 'bold';
}

function statusColour(status: string): Colour | null {
  if (/^(ok|running|active)$/i.test(status)) return 'green';
  if (/^warn/i.test(status)) return 'yellow';
  if (/^(error|exited|failed|dead)$/i.test(status)) return 'red';
  return null;
}

function timeOf(sentAt: unknown, options: HumanFormatOptions): string {
  let date = typeof sentAt === 'string' ? new Date(sentAt) : null;
  if (date === null || Number.isNaN(date.getTime())) date = (options.now ?? (() => new Date()))();
  const [h, m, s, ms] = options.utc
    ? [date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds(), date.getUTCMilliseconds()]
    : [date.getHours(), date.getMinutes(), date.getSeconds(), date.getMilliseconds()];
  return `${pad(h)}:${pad(m)}:${pad(s)}.${String(ms).padStart(3, '0')}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** A scalar as display text ('' for absent, null, objects); control characters escaped. */
function text(value: unknown): string {
  if (typeof value === 'string') return clean(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '';
}

// C0, DEL and C1 controls: ESC sequences must not reach the terminal.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

function clean(s: string): string {
  return s.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function define(obj: Record<string, unknown>, key: string, value: unknown): void {
  // defineProperty, not assignment: a payload key named __proto__ must stay plain data.
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}
