/**
 * RelayEvent: one message on its way from the listener to SSE clients, as it
 * travels on the bus. Built once per message; every client shares it.
 */
import type { Filterable } from './filter.js';
import { AGENT_STATUS, eventNameFor, type HeartbeatFields, type WorkflowFields } from './message.js';

/** One relayed event. */
export interface RelayEvent extends Filterable {
  /** Store id as a decimal string; null for agent heartbeats, which are not stored as messages and not replayable. */
  readonly id: string | null;
  /** SSE event name. */
  readonly event: string;
  /** The enriched payload as one line of JSON. */
  readonly data: string;
  /** When the listener received it, ms since the epoch. */
  readonly receivedAt: number;
}

/** The event of a stored workflow message. */
export function workflowEvent(id: string, fields: WorkflowFields, data: string, receivedAt: number): RelayEvent {
  return {
    id,
    event: eventNameFor(fields.msgType),
    msgType: fields.msgType,
    runId: fields.runId,
    namespace: fields.namespace,
    senderAgent: fields.senderAgent,
    processedBy: fields.processedBy,
    data,
    receivedAt,
  };
}

/** The event of a message read back from the store (replay, backfill): same frame as live, no receipt time. */
export function storedEvent(row: { readonly id: string; readonly fields: WorkflowFields; readonly content: string }): RelayEvent {
  return workflowEvent(row.id, row.fields, row.content, 0);
}

/** The `agent_status` event of a heartbeat. */
export function agentStatusEvent(fields: HeartbeatFields, data: string, receivedAt: number): RelayEvent {
  return {
    id: null,
    event: AGENT_STATUS,
    msgType: AGENT_STATUS,
    runId: null,
    namespace: fields.namespace,
    senderAgent: fields.agentName,
    processedBy: null,
    data,
    receivedAt,
  };
}

/** Orders two decimal event ids numerically without BigInt: negative, 0 or positive. */
export function compareIds(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

/** True when decimal event id `a` is at or below `b`: what compareIds(a, b) <= 0 says, with one string comparison instead of two (hot path). */
export function idAtOrBelow(a: string, b: string): boolean {
  return a.length !== b.length ? a.length < b.length : a <= b;
}

/** True when `value` is a well-formed event id: 1–18 decimal digits (fits a signed 64-bit integer). */
export function isEventId(value: string): boolean {
  return /^\d{1,18}$/.test(value);
}

/** The decimal id after `id` ("41" → "42"). */
export function nextId(id: string): string {
  return (BigInt(id) + 1n).toString();
}
