/**
 * Incoming broker bodies: classify (workflow message, agent heartbeat, or
 * rejected), validate as SPEC §2 says, and enrich. Pure functions; no I/O.
 *
 * The relayed content is built from the received text (json-text.ts), never
 * re-encoded from parsed values: JSON.parse is used to validate and to read
 * the columns, and would round integers beyond 2^53.
 */
import { exceedsDepth, oneLine, topLevelValues } from './json-text.js';

/** Why a body went to the rejected store; also a metrics label. */
export type RejectReason =
  | 'empty'
  | 'too_large'
  | 'bad_utf8'
  | 'bad_json'
  | 'not_object'
  | 'invalid_workflow'
  | 'invalid_heartbeat'
  | 'unknown_kind'
  /** Nested deeper than MAX_DEPTH levels. */
  | 'too_deep'
  /** Valid, but the store refused it (kept in the rejected store instead of blocking the ones after it). */
  | 'store_error';

/**
 * Event names the relay itself uses; a workflow message never takes one of them. `agent_status`
 * is among them: only a heartbeat (agent_name + status, no msg_type) may speak for an agent, so a
 * workflow message calling itself agent_status cannot pose as one on the page's agents table.
 */
export const RESERVED_EVENT_NAMES: ReadonlySet<string> = new Set(['connected', 'heartbeat', 'gap', 'shutdown', 'agent_status']);

/** The SSE event name of agent heartbeats (SPEC §2). */
export const AGENT_STATUS = 'agent_status';

/** Longest msg_type, in characters (Unicode code points, as Python counts them; SPEC §2). */
export const MAX_MSG_TYPE_LENGTH = 100;

/**
 * Longest text kept in a column that filters read (run_id, namespace,
 * sender_agent, processed_by, agent_name): no filter value can be longer, and
 * PostgreSQL's indexes cannot hold a few KB.
 */
export const MAX_FIELD_LENGTH = 200;

/** Deepest nesting accepted: below Python's default recursion limit (1000), so every Python client can parse what is relayed. */
export const MAX_DEPTH = 512;

/** Status stored for a heartbeat whose `status` is not text (the old listener's default). */
export const UNKNOWN_STATUS = 'UNKNOWN';

/** The columns read from a workflow message, strings or null. */
export interface WorkflowFields {
  msgType: string;
  runId: string | null;
  executionId: string | null;
  filename: string | null;
  senderAgent: string | null;
  recipientAgent: string | null;
  namespace: string | null;
  processedBy: string | null;
}

/** The columns read from an agent heartbeat. */
export interface HeartbeatFields {
  agentName: string;
  status: string;
  agentType: string | null;
  namespace: string | null;
}

/** A usable body: its received JSON text and what JSON.parse made of it (numbers beyond 2^53 rounded: read them from `text`). */
export interface ReceivedBody {
  readonly text: string;
  readonly payload: Record<string, unknown>;
}

/** What a body turned out to be. */
export type Classified =
  | (ReceivedBody & {
      kind: 'workflow';
      fields: WorkflowFields;
      /** Set when the message also carries a usable `agent_name` + `status`: it updates that agent too. */
      agent: HeartbeatFields | null;
    })
  | (ReceivedBody & { kind: 'heartbeat'; fields: HeartbeatFields })
  | { kind: 'rejected'; reason: RejectReason; detail: string };

/** C0 and C1 control characters (U+0000–U+001F, U+007F–U+009F): never in a msg_type or a filter value. */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Classifies a raw body (SPEC §2). Never throws: anything unusable is `rejected` with a reason. */
export function classifyBody(body: Uint8Array, maxBytes: number): Classified {
  if (body.byteLength === 0) return reject('empty', 'empty body');
  if (body.byteLength > maxBytes) return reject('too_large', `body of ${body.byteLength} bytes exceeds ${maxBytes}`);
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return reject('bad_utf8', 'body is not valid UTF-8');
  }
  return classifyText(text);
}

/** Classifies a body already decoded as text. */
export function classifyText(text: string): Classified {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return reject('bad_json', `not JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return reject('not_object', `JSON ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}, not an object`);
  }
  if (exceedsDepth(text, MAX_DEPTH)) return reject('too_deep', `nested deeper than ${MAX_DEPTH} levels`);
  const obj = value as Record<string, unknown>;
  if (Object.hasOwn(obj, 'msg_type')) return classifyWorkflow(text, obj);
  if (Object.hasOwn(obj, 'agent_name') && Object.hasOwn(obj, 'status')) {
    const fields = heartbeatFields(text, obj);
    if (typeof fields === 'string') return reject('invalid_heartbeat', fields);
    return { kind: 'heartbeat', text, payload: obj, fields };
  }
  return reject('unknown_kind', 'neither a workflow message (msg_type) nor a heartbeat (agent_name + status)');
}

function classifyWorkflow(text: string, obj: Record<string, unknown>): Classified {
  const msgType = obj.msg_type;
  if (typeof msgType !== 'string') return reject('invalid_workflow', `msg_type: must be a string, not ${describeType(msgType)}`);
  if (msgType.length === 0) return reject('invalid_workflow', 'msg_type: must not be empty');
  // Code points are counted only when the UTF-16 length could exceed the limit.
  if (msgType.length > MAX_MSG_TYPE_LENGTH && codePoints(msgType) > MAX_MSG_TYPE_LENGTH) {
    return reject('invalid_workflow', `msg_type: longer than ${MAX_MSG_TYPE_LENGTH} characters`);
  }
  if (CONTROL_CHARS.test(msgType)) return reject('invalid_workflow', 'msg_type: contains control characters');
  // No UTF-8 form: the event name and the message_type column would both get U+FFFD instead.
  if (!msgType.isWellFormed()) return reject('invalid_workflow', 'msg_type: contains a lone UTF-16 surrogate');
  const read = new FieldReader(text, obj);
  const fields: WorkflowFields = {
    msgType,
    runId: read.column('run_id', true),
    executionId: read.column('execution_id', false),
    filename: read.column('filename', false),
    senderAgent: read.column(Object.hasOwn(obj, 'sender_agent') ? 'sender_agent' : 'sender', true),
    recipientAgent: read.column(Object.hasOwn(obj, 'recipient_agent') ? 'recipient_agent' : 'recipient', false),
    namespace: read.column('namespace', true),
    processedBy: read.column('processed_by', true),
  };
  let agent: HeartbeatFields | null = null;
  if (Object.hasOwn(obj, 'agent_name') && Object.hasOwn(obj, 'status')) {
    const hb = heartbeatFields(text, obj, read);
    // An unusable agent_name only skips the agent update: the workflow message is valid regardless.
    if (typeof hb !== 'string') agent = hb;
  }
  return { kind: 'workflow', text, payload: obj, fields, agent };
}

/** The agent columns of a body with agent_name + status, or the problem with them. */
function heartbeatFields(text: string, obj: Record<string, unknown>, read = new FieldReader(text, obj)): HeartbeatFields | string {
  const agentName = read.text('agent_name');
  if (agentName === null) return `agent_name: must be a string or a number, not ${describeType(obj.agent_name)}`;
  if (agentName.length === 0) return 'agent_name: must not be empty';
  if (agentName.length > MAX_FIELD_LENGTH) return `agent_name: longer than ${MAX_FIELD_LENGTH} characters`;
  if (CONTROL_CHARS.test(agentName)) return 'agent_name: contains control characters';
  if (!agentName.isWellFormed()) return 'agent_name: contains a lone UTF-16 surrogate';
  return {
    agentName,
    status: read.column('status', false) ?? UNKNOWN_STATUS,
    agentType: read.column('agent_type', false),
    namespace: read.column('namespace', false),
  };
}

/** Reads top-level values as column text; the received text is scanned only when a number needs its digits. */
class FieldReader {
  private literals: Map<string, string> | undefined;

  constructor(
    private readonly source: string,
    private readonly obj: Record<string, unknown>,
  ) {}

  /** A string as itself, a number as its text (beyond 2^53 with every digit received), anything else (or absent) null. */
  text(key: string): string | null {
    if (!Object.hasOwn(this.obj, key)) return null;
    const value = this.obj[key];
    if (typeof value === 'string') return value;
    if (typeof value !== 'number') return null;
    // An integer a double holds exactly is its digits (100042.0 → "100042"); any other number is its text as received.
    if (Number.isSafeInteger(value)) return String(value);
    this.literals ??= topLevelValues(this.source);
    return this.literals.get(key) ?? null;
  }

  /**
   * text(), or null when a column cannot hold it faithfully: U+0000 (PostgreSQL
   * text cannot store it), a lone surrogate (stored as U+FFFD), or, in an
   * indexed column, more than MAX_FIELD_LENGTH characters. No filter value can
   * equal such text, so a null column matches the same filters.
   */
  column(key: string, indexed: boolean): string | null {
    const s = this.text(key);
    if (s === null || s.includes('\u0000') || !s.isWellFormed() || (indexed && s.length > MAX_FIELD_LENGTH)) return null;
    return s;
  }
}

/** Where and when a message was received; used for enrichment. */
export interface Receipt {
  /** The STOMP destination, e.g. `/topic/epictopic`. */
  queueName: string;
  /** Receipt time, ms since the epoch. */
  receivedAt: number;
}

/**
 * The relayed content, one line of JSON: the received text plus
 * `sender_agent` (a copy of `sender`), `recipient_agent` (of `recipient`),
 * `namespace`, `queue_name`, `sent_at`, each only where the sender did not set
 * it (SPEC §2), spliced in before the final `}`. Absent sources give `null`,
 * so every relayed message has the same keys.
 */
export function enrichWorkflow(body: ReceivedBody, receipt: Receipt): string {
  const p = body.payload;
  const line = oneLine(body.text);
  const copy = new ValueCopier(line, p);
  let extra = '';
  if (!Object.hasOwn(p, 'sender_agent')) extra += `,"sender_agent":${copy.of('sender')}`;
  if (!Object.hasOwn(p, 'recipient_agent')) extra += `,"recipient_agent":${copy.of('recipient')}`;
  return splice(line, extra + receiptKeys(p, receipt));
}

/** The relayed content of a heartbeat: the received text plus `msg_type: agent_status`, `sender_agent` (a copy of `agent_name`) and the receipt keys, where absent. */
export function enrichHeartbeat(body: ReceivedBody, receipt: Receipt): string {
  const p = body.payload;
  const line = oneLine(body.text);
  let extra = '';
  if (!Object.hasOwn(p, 'msg_type')) extra += `,"msg_type":"${AGENT_STATUS}"`;
  if (!Object.hasOwn(p, 'sender_agent')) extra += `,"sender_agent":${new ValueCopier(line, p).of('agent_name')}`;
  return splice(line, extra + receiptKeys(p, receipt));
}

function receiptKeys(p: Record<string, unknown>, receipt: Receipt): string {
  let extra = '';
  if (!Object.hasOwn(p, 'namespace')) extra += ',"namespace":null';
  if (!Object.hasOwn(p, 'queue_name')) extra += `,"queue_name":${JSON.stringify(receipt.queueName)}`;
  if (!Object.hasOwn(p, 'sent_at')) extra += `,"sent_at":"${new Date(receipt.receivedAt).toISOString()}"`;
  return extra;
}

/** `members` (each `,"key":value`) inserted before the final `}` of a one-line object text. */
function splice(line: string, members: string): string {
  return members === '' ? line : `${line.slice(0, -1)}${members}}`;
}

/** Copies a top-level value as JSON text: strings and literals re-encoded (same value), numbers and containers as received. */
class ValueCopier {
  private literals: Map<string, string> | undefined;

  constructor(
    private readonly line: string,
    private readonly payload: Record<string, unknown>,
  ) {}

  of(key: string): string {
    if (!Object.hasOwn(this.payload, key)) return 'null';
    const value = this.payload[key];
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
    this.literals ??= topLevelValues(this.line);
    return this.literals.get(key) ?? 'null';
  }
}

/** The SSE event name for a msg_type: itself, or `message` when it would clash with the relay's own events. */
export function eventNameFor(msgType: string): string {
  return RESERVED_EVENT_NAMES.has(msgType) || CONTROL_CHARS.test(msgType) || msgType === '' || !msgType.isWellFormed() ? 'message' : msgType;
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function describeType(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function reject(reason: RejectReason, detail: string): Classified {
  return { kind: 'rejected', reason, detail };
}
