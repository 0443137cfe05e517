/**
 * Incoming broker bodies: classify (workflow message, agent heartbeat, or
 * rejected), validate as SPEC §2 says, and enrich workflow messages.
 * Pure functions; no I/O.
 */
import { z } from 'zod';

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
  /** Holds a number JSON cannot carry back out (beyond ±1.8e308). */
  | 'bad_number'
  /** Valid, but the store refused it (kept in the rejected store instead of blocking the ones after it). */
  | 'store_error';

/** Event names the relay itself uses; a workflow message never takes one of them. */
export const RESERVED_EVENT_NAMES: ReadonlySet<string> = new Set(['connected', 'heartbeat', 'gap', 'shutdown']);

/** The SSE event name of agent heartbeats (SPEC §2). */
export const AGENT_STATUS = 'agent_status';

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

/** What a body turned out to be. `payload` is the parsed JSON object. */
export type Classified =
  | { kind: 'workflow'; payload: Record<string, unknown>; fields: WorkflowFields }
  | { kind: 'heartbeat'; payload: Record<string, unknown>; fields: HeartbeatFields }
  | { kind: 'rejected'; reason: RejectReason; detail: string };

/** C0 and C1 control characters (U+0000–U+001F, U+007F–U+009F): never in a msg_type or a filter value. */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/** Deepest nesting accepted: far beyond any real message, far below what re-encoding can handle. */
export const MAX_DEPTH = 256;
const noControl = (s: string) => !CONTROL_CHARS.test(s);

const scalarField = z.union([
  z.string().max(200, 'longer than 200 characters'),
  z.number(), // z.number() refuses Infinity (e.g. 1e400), which JSON cannot carry back out
]);

const workflowSchema = z.looseObject({
  msg_type: z
    .string('must be a string')
    .min(1, 'must not be empty')
    .max(100, 'longer than 100 characters')
    .refine(noControl, 'contains control characters'),
  run_id: scalarField.optional(),
  execution_id: scalarField.optional(),
  namespace: scalarField.optional(),
  sender: scalarField.optional(),
  recipient: scalarField.optional(),
  processed_by: scalarField.optional(),
});

const heartbeatSchema = z.looseObject({
  agent_name: z.string().min(1).max(200).refine(noControl, 'contains control characters'),
  status: z.string().max(100).refine(noControl, 'contains control characters'),
  agent_type: scalarField.optional(),
  namespace: scalarField.optional(),
});

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

/** Classifies a body already decoded as text (HTTP publish path). */
export function classifyText(text: string): Classified {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return reject('bad_json', `not JSON: ${(err as Error).message}`);
  }
  const problem = inspect(value);
  if (problem) return reject(problem.reason, problem.detail);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return reject('not_object', `JSON ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}, not an object`);
  }
  const obj = value as Record<string, unknown>;
  if (Object.hasOwn(obj, 'msg_type')) return classifyWorkflow(obj);
  if (Object.hasOwn(obj, 'agent_name') && Object.hasOwn(obj, 'status')) return classifyHeartbeat(obj);
  return reject('unknown_kind', 'neither a workflow message (msg_type) nor a heartbeat (agent_name + status)');
}

function classifyWorkflow(obj: Record<string, unknown>): Classified {
  const parsed = workflowSchema.safeParse(obj);
  if (!parsed.success) return reject('invalid_workflow', describe(parsed.error));
  const fields: WorkflowFields = {
    msgType: obj.msg_type as string,
    runId: scalar(obj.run_id),
    executionId: scalar(obj.execution_id),
    filename: scalar(obj.filename),
    senderAgent: scalar(Object.hasOwn(obj, 'sender_agent') ? obj.sender_agent : obj.sender),
    recipientAgent: scalar(Object.hasOwn(obj, 'recipient_agent') ? obj.recipient_agent : obj.recipient),
    namespace: scalar(obj.namespace),
    processedBy: scalar(obj.processed_by),
  };
  const problem = fieldProblem(fields);
  if (problem) return reject('invalid_workflow', problem);
  return { kind: 'workflow', payload: obj, fields };
}

function classifyHeartbeat(obj: Record<string, unknown>): Classified {
  const parsed = heartbeatSchema.safeParse(obj);
  if (!parsed.success) return reject('invalid_heartbeat', describe(parsed.error));
  const fields: HeartbeatFields = {
    agentName: obj.agent_name as string,
    status: obj.status as string,
    agentType: scalar(obj.agent_type),
    namespace: scalar(obj.namespace),
  };
  const problem = fieldProblem(fields);
  if (problem) return reject('invalid_heartbeat', problem);
  return { kind: 'heartbeat', payload: obj, fields };
}

/**
 * Walks a parsed body without recursion (a deep body must not overflow our
 * stack either): nesting deeper than MAX_DEPTH, or a number JSON.parse
 * turned into ±Infinity (1e400), would not survive re-encoding intact.
 */
function inspect(root: unknown): { reason: RejectReason; detail: string } | null {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return { reason: 'bad_number', detail: 'a number is out of range (JSON cannot carry it)' };
    } else if (value !== null && typeof value === 'object') {
      if (depth > MAX_DEPTH) return { reason: 'too_deep', detail: `nested deeper than ${MAX_DEPTH} levels` };
      for (const child of Object.values(value)) stack.push([child, depth + 1]);
    }
  }
  return null;
}

/** Body keys the extracted fields come from, for error messages. */
const BODY_KEYS: Readonly<Record<string, string>> = {
  msgType: 'msg_type',
  runId: 'run_id',
  executionId: 'execution_id',
  filename: 'filename',
  senderAgent: 'sender/sender_agent',
  recipientAgent: 'recipient/recipient_agent',
  namespace: 'namespace',
  processedBy: 'processed_by',
  agentName: 'agent_name',
  status: 'status',
  agentType: 'agent_type',
};

/**
 * The problem with a stored field, or null: U+0000 (PostgreSQL text cannot
 * store it) or a lone surrogate (the database would replace it, and the
 * column would no longer equal the payload).
 */
function fieldProblem(fields: object): string | null {
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value !== 'string') continue;
    if (value.includes('\u0000')) return `${BODY_KEYS[name] ?? name}: contains a NUL character, which cannot be stored`;
    if (!value.isWellFormed()) return `${BODY_KEYS[name] ?? name}: contains a lone UTF-16 surrogate, which cannot be stored`;
  }
  return null;
}

/** Where and when a message was received; used for enrichment. */
export interface Receipt {
  /** The STOMP destination, e.g. `/topic/epictopic`. */
  queueName: string;
  /** Receipt time, ms since the epoch. */
  receivedAt: number;
}

/**
 * The relayed payload: the original object plus `sender_agent`, `recipient_agent`,
 * `namespace`, `queue_name`, `sent_at` where the sender did not set them (SPEC §2).
 * Absent sources give `null`, so every relayed message has the same keys.
 */
export function enrichWorkflow(payload: Record<string, unknown>, receipt: Receipt): Record<string, unknown> {
  const out: Record<string, unknown> = { ...payload };
  addIfAbsent(out, 'sender_agent', payload.sender ?? null);
  addIfAbsent(out, 'recipient_agent', payload.recipient ?? null);
  addIfAbsent(out, 'namespace', null);
  addIfAbsent(out, 'queue_name', receipt.queueName);
  addIfAbsent(out, 'sent_at', new Date(receipt.receivedAt).toISOString());
  return out;
}

/** The relayed payload of a heartbeat: the original plus `msg_type: agent_status`, `sender_agent` and receipt fields. */
export function enrichHeartbeat(payload: Record<string, unknown>, receipt: Receipt): Record<string, unknown> {
  const out: Record<string, unknown> = { ...payload };
  addIfAbsent(out, 'msg_type', AGENT_STATUS);
  addIfAbsent(out, 'sender_agent', payload.agent_name);
  addIfAbsent(out, 'namespace', null);
  addIfAbsent(out, 'queue_name', receipt.queueName);
  addIfAbsent(out, 'sent_at', new Date(receipt.receivedAt).toISOString());
  return out;
}

/** The SSE event name for a msg_type: itself, or `message` when it would clash with the relay's own events. */
export function eventNameFor(msgType: string): string {
  return RESERVED_EVENT_NAMES.has(msgType) || CONTROL_CHARS.test(msgType) || msgType === '' || !msgType.isWellFormed() ? 'message' : msgType;
}

function addIfAbsent(obj: Record<string, unknown>, key: string, value: unknown): void {
  // defineProperty, not assignment: a key named __proto__ must stay plain data.
  if (!Object.hasOwn(obj, key)) Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function scalar(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

function reject(reason: RejectReason, detail: string): Classified {
  return { kind: 'rejected', reason, detail };
}

function describe(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
}
