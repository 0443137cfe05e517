/** Which URL `receive` opens: the relay's stream path, default base, filters. Pure. */
import { ExitError, EXIT_CODES } from '../exit.js';

/** The stream endpoint's path (SPEC §3). */
export const STREAM_PATH = 'api/messages/stream/';

/** Base URL when neither an argument nor SWF_MONITOR_URL gives one: the local relay. */
export const DEFAULT_RELAY_URL = 'http://127.0.0.1:8000';

/** The filters `receive` passes as query parameters, each a list (comma-joined on the wire). */
export interface StreamFilters {
  readonly msgTypes: readonly string[];
  readonly agents: readonly string[];
  readonly runIds: readonly string[];
  readonly namespaces: readonly string[];
}

/**
 * The stream URL for what the user gave: a URL whose path already ends in
 * `/api/messages/stream` is used as is (with a trailing slash); otherwise the
 * stream path is appended to its path, so `http://host:8000` and the old
 * relay's `SWF_MONITOR_URL=https://host/swf-monitor` both work. Throws
 * ExitError(usage) for anything but an http(s) URL.
 */
export function streamUrl(given: string): URL {
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new ExitError(EXIT_CODES.usage, `not a URL: ${JSON.stringify(given)} (expected e.g. ${DEFAULT_RELAY_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ExitError(EXIT_CODES.usage, `not an http(s) URL: ${JSON.stringify(given)}`);
  }
  url.hash = '';
  const path = url.pathname.replace(/\/+$/, '');
  if (path.endsWith('/api/messages/stream')) url.pathname = `${path}/`;
  else url.pathname = `${path}/${STREAM_PATH}`;
  return url;
}

/** A copy of `url` with the non-empty filters added as comma-separated query parameters. */
export function withFilters(url: URL, filters: StreamFilters): URL {
  const out = new URL(url);
  const params: [string, readonly string[]][] = [
    ['msg_types', filters.msgTypes],
    ['agents', filters.agents],
    ['run_ids', filters.runIds],
    ['namespaces', filters.namespaces],
  ];
  for (const [name, values] of params) if (values.length > 0) out.searchParams.append(name, values.join(','));
  return out;
}

/** The URL with user info and any `token` query parameter masked, for messages (a token must never be printed). */
export function displayUrl(url: URL): string {
  const out = new URL(url);
  out.username = '';
  out.password = '';
  if (out.searchParams.has('token')) out.searchParams.set('token', '…');
  return out.toString();
}
