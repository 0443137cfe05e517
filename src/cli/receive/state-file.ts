/**
 * The `--state-file` of `receive` (and the Python client): the id of the last
 * event handled, so a restarted receiver resumes right after it. JSON,
 * replaced atomically (temp file + rename), so a crash never leaves half a file.
 */
import { accessSync, constants, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ExitError, EXIT_CODES } from '../exit.js';
import { isEventId } from '../../model/event.js';

/** What the file holds; `last_event_id` is the only key read back. */
export interface StateFileContent {
  readonly last_event_id: string;
  readonly url?: string;
  readonly saved_at?: string;
}

/**
 * The last event id stored in `path`, or null when the file does not exist.
 * Accepts the JSON written by saveState or a bare id. Throws ExitError(usage)
 * when the file is unreadable or holds something else.
 */
export function loadState(path: string): string | null {
  if (!existsSync(path)) return null;
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new ExitError(EXIT_CODES.usage, `cannot read state file ${path}: ${(err as Error).message}`);
  }
  if (text === '') return null;
  if (isEventId(text)) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const id = (parsed as { last_event_id?: unknown } | undefined)?.last_event_id;
  if (typeof id === 'string' && isEventId(id)) return id;
  if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return String(id);
  if (id === null) return null;
  throw new ExitError(EXIT_CODES.usage, `state file ${path} does not hold a last event id (expected {"last_event_id": "<id>"}); fix or delete it`);
}

/** Fails early (ExitError usage) when `path` could not be written later: its directory must exist and be writable. */
export function checkStateWritable(path: string): void {
  const dir = dirname(path);
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    accessSync(dir, constants.W_OK);
    if (existsSync(path) && statSync(path).isDirectory()) throw new Error(`${path} is a directory`);
  } catch (err) {
    throw new ExitError(EXIT_CODES.usage, `cannot write state file ${path}: ${(err as Error).message}`);
  }
}

/** Replaces `path` with `{last_event_id, url, saved_at}`: written to a temp file beside it, then renamed over it. */
export function saveState(path: string, lastEventId: string, url: string, now: Date = new Date()): void {
  const content: StateFileContent = { last_event_id: lastEventId, url, saved_at: now.toISOString() };
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(content)}\n`, { mode: 0o600 });
  renameSync(temp, path);
}
