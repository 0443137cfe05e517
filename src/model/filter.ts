/**
 * Stream filters (SPEC §3): parse query parameters, match events. Pure.
 */
import { AppError } from '../errors.js';
import { AGENT_STATUS, CONTROL_CHARS, MAX_FIELD_LENGTH } from './message.js';

/** The four filter query parameters, in the order the old relay listed them. */
export const FILTER_PARAMS = ['msg_types', 'agents', 'run_ids', 'namespaces'] as const;
export type FilterParam = (typeof FILTER_PARAMS)[number];

/** Most values one filter parameter may list. */
export const MAX_FILTER_VALUES = 100;
/** Longest value in a filter, in characters: the longest text a filtered column keeps. */
export const MAX_FILTER_VALUE_LENGTH = MAX_FIELD_LENGTH;

/** Parsed filters; `null` means "no filter on this field". */
export interface Filters {
  readonly msgTypes: ReadonlySet<string> | null;
  readonly agents: ReadonlySet<string> | null;
  readonly runIds: ReadonlySet<string> | null;
  readonly namespaces: ReadonlySet<string> | null;
}

/** The fields of an event that filters look at. */
export interface Filterable {
  readonly msgType: string;
  readonly runId: string | null;
  readonly namespace: string | null;
  readonly senderAgent: string | null;
  readonly processedBy: string | null;
}

/** Filters that match every workflow message. */
export const NO_FILTERS: Filters = Object.freeze({ msgTypes: null, agents: null, runIds: null, namespaces: null });


/**
 * Reads the four filters from a parsed query string (values may be strings or
 * arrays of strings when repeated). Throws AppError BAD_FILTER naming the parameter.
 */
export function parseFilters(query: Record<string, unknown>): Filters {
  return {
    msgTypes: parseOne(query, 'msg_types'),
    agents: parseOne(query, 'agents'),
    runIds: parseOne(query, 'run_ids'),
    namespaces: parseOne(query, 'namespaces'),
  };
}

function parseOne(query: Record<string, unknown>, param: FilterParam): ReadonlySet<string> | null {
  const raw = query[param];
  if (raw === undefined) return null;
  const parts = Array.isArray(raw) ? raw : [raw];
  const values = new Set<string>();
  for (const part of parts) {
    if (typeof part !== 'string') throw badFilter(param, 'must be a comma-separated list of strings');
    for (const piece of part.split(',')) {
      const value = piece.trim();
      if (value === '') continue;
      if (value.length > MAX_FILTER_VALUE_LENGTH) {
        throw badFilter(param, `a value is longer than ${MAX_FILTER_VALUE_LENGTH} characters`);
      }
      if (CONTROL_CHARS.test(value)) throw badFilter(param, 'a value contains control characters');
      values.add(value);
      if (values.size > MAX_FILTER_VALUES) throw badFilter(param, `more than ${MAX_FILTER_VALUES} values`);
    }
  }
  return values.size === 0 ? null : values;
}

/**
 * Narrows `filters` to the namespaces a credential may see (null: no restriction):
 * its own `namespaces` filter intersected with them, or all of them when it gave
 * none. A message without a namespace then never matches (as with any namespace
 * filter). Throws FORBIDDEN when the client asked only for namespaces it may not see.
 */
export function restrictNamespaces(filters: Filters, allowed: ReadonlySet<string> | null | undefined): Filters {
  if (allowed === null || allowed === undefined) return filters;
  const namespaces = filters.namespaces === null ? new Set(allowed) : new Set([...filters.namespaces].filter((ns) => allowed.has(ns)));
  if (namespaces.size === 0) throw new AppError('FORBIDDEN', 'This credential may not see any of the namespaces asked for.', { param: 'namespaces' });
  return { ...filters, namespaces };
}

function badFilter(param: FilterParam, why: string): AppError {
  return new AppError('BAD_FILTER', `invalid filter ${param}: ${why}`, { param });
}

/**
 * True when the event passes every given filter (AND across filters, OR within
 * one). `agent_status` events pass only when `msg_types` asks for them.
 */
export function matches(filters: Filters, event: Filterable): boolean {
  const { msgTypes, agents, runIds, namespaces } = filters;
  if (msgTypes === null) {
    if (event.msgType === AGENT_STATUS) return false;
  } else if (!msgTypes.has(event.msgType)) return false;
  if (runIds !== null && (event.runId === null || !runIds.has(event.runId))) return false;
  if (namespaces !== null && (event.namespace === null || !namespaces.has(event.namespace))) return false;
  if (agents !== null) {
    const bySender = event.senderAgent !== null && agents.has(event.senderAgent);
    const byProcessor = event.processedBy !== null && agents.has(event.processedBy);
    if (!bySender && !byProcessor) return false;
  }
  return true;
}

/** Filters as plain lists keyed by query parameter (the status endpoint's `client_filters` shape). */
export function filtersToJson(filters: Filters): Record<FilterParam, string[]> {
  const list = (s: ReadonlySet<string> | null) => (s === null ? [] : [...s]);
  return {
    msg_types: list(filters.msgTypes),
    agents: list(filters.agents),
    run_ids: list(filters.runIds),
    namespaces: list(filters.namespaces),
  };
}
