/**
 * Helpers over the received JSON text of a body that JSON.parse already
 * accepted: the relayed content is built from this text, never re-encoded
 * from parsed values, so numbers keep every digit (JSON.parse rounds integers
 * beyond 2^53) and key order and escapes stay as the sender wrote them.
 * Every function assumes valid JSON text. Pure; no I/O.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** True for the four JSON whitespace characters (space, tab, LF, CR). */
function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Index just past the string literal that starts at `start` (a `"`). */
function endOfString(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q < 0) return text.length;
    let slashes = 0;
    for (let i = q - 1; text.charCodeAt(i) === BACKSLASH; i--) slashes++;
    if (slashes % 2 === 0) return q + 1;
    from = q + 1;
  }
}

/** Index just past the JSON value that starts at `start` (no leading whitespace). */
function endOfValue(text: string, start: number): number {
  const c = text.charCodeAt(start);
  if (c === QUOTE) return endOfString(text, start);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (let i = start; i < text.length; i++) {
      const d = text.charCodeAt(i);
      if (d === QUOTE) i = endOfString(text, i) - 1;
      else if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        if (--depth === 0) return i + 1;
      }
    }
    return text.length;
  }
  // A number or a literal: it ends at the next separator or whitespace.
  let i = start;
  while (i < text.length) {
    const d = text.charCodeAt(i);
    if (d === 0x2c || d === 0x7d || d === 0x5d || isWs(d)) break;
    i++;
  }
  return i;
}

function skipWs(text: string, i: number): number {
  while (i < text.length && isWs(text.charCodeAt(i))) i++;
  return i;
}

/**
 * The text of each top-level member's value of a JSON object text, by key
 * (decoded, so `"run\u005fid"` is `run_id`); a repeated key keeps its last
 * value, as JSON.parse does. Used only off the common path (numbers that a JS
 * number cannot hold, non-string values copied into enrichment keys).
 */
export function topLevelValues(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = skipWs(text, 0) + 1; // past '{'
  for (;;) {
    i = skipWs(text, i);
    if (text.charCodeAt(i) !== QUOTE) return out; // '}' (or the end)
    const keyEnd = endOfString(text, i);
    const raw = text.slice(i, keyEnd);
    const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
    i = skipWs(text, skipWs(text, keyEnd) + 1); // past ':'
    const valueEnd = endOfValue(text, i);
    out.set(key, text.slice(i, valueEnd));
    i = skipWs(text, valueEnd) + 1; // past ',' or '}'
  }
}

/** `text` without the whitespace between tokens (whitespace inside strings is kept). */
export function compact(text: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = endOfString(text, i) - 1;
    else if (isWs(c)) {
      out += text.slice(from, i);
      while (i + 1 < text.length && isWs(text.charCodeAt(i + 1))) i++;
      from = i + 1;
    }
  }
  return out + text.slice(from);
}

/**
 * The text on one line, for an SSE `data:` line: a body without line breaks is
 * kept as received (trimmed); one with line breaks (pretty-printed) is
 * compacted. Raw CR and LF cannot occur inside a valid JSON string, so any
 * line break is whitespace between tokens.
 */
export function oneLine(text: string): string {
  return text.includes('\n') || text.includes('\r') ? compact(text) : text.trim();
}

/**
 * True when a JSON text nests deeper than `limit` levels. Counting brackets
 * (inside strings too) bounds the depth from above, so a common small body
 * costs a few indexOf calls and no scan.
 */
export function exceedsDepth(text: string, limit: number): boolean {
  let brackets = 0;
  for (let i = text.indexOf('{'); i >= 0 && brackets <= limit; i = text.indexOf('{', i + 1)) brackets++;
  for (let i = text.indexOf('['); i >= 0 && brackets <= limit; i = text.indexOf('[', i + 1)) brackets++;
  if (brackets <= limit) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = endOfString(text, i) - 1;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
