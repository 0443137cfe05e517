// A JSON parser for tests that keeps every number as the text it was written with, so two
// documents compare equal only if their numbers have the same digits (JSON.parse rounds
// integers beyond 2^53, and would hide a rounding relay). Written apart from the relay's own
// text handling (src/model/json-text.ts), so it can check it. Recursive: for bodies the relay accepts (≤ 512 levels).

/** A JSON number, as written. */
export class JsonNumber {
  constructor(readonly text: string) {}
}

const NUMBER_OR_LITERAL = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;

/**
 * Parses JSON text like JSON.parse, except that numbers become JsonNumber. Keys are own data
 * properties (`__proto__` included); a repeated key keeps its first position and last value, as JSON.parse does.
 */
export function parseLossless(text: string): unknown {
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at ${i} in ${text.slice(Math.max(0, i - 20), i + 20)}`);
  };
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const expect = (ch: string) => {
    ws();
    if (text[i] !== ch) fail(`expected ${ch}`);
    i++;
  };
  const string = (): string => {
    if (text[i] !== '"') fail('expected a string');
    const start = i++;
    while (text[i] !== '"') {
      if (i >= text.length) fail('unterminated string');
      i += text[i] === '\\' ? 2 : 1;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') return i++, obj;
      for (;;) {
        ws();
        const key = string();
        expect(':');
        Object.defineProperty(obj, key, { value: value(), enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ',') i++;
        else return expect('}'), obj;
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === ']') return i++, arr;
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') i++;
        else return expect(']'), arr;
      }
    }
    if (c === '"') return string();
    NUMBER_OR_LITERAL.lastIndex = i;
    const m = NUMBER_OR_LITERAL.exec(text);
    if (!m) return fail('unexpected character');
    i = NUMBER_OR_LITERAL.lastIndex;
    return m[0] === 'true' ? true : m[0] === 'false' ? false : m[0] === 'null' ? null : new JsonNumber(m[0]);
  };
  const out = value();
  ws();
  if (i !== text.length) fail('trailing text');
  return out;
}

/** `parseLossless` for a text known to hold an object. */
export function parseLosslessObject(text: string): Record<string, unknown> {
  const value = parseLossless(text);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TypeError(`not a JSON object: ${text.slice(0, 100)}`);
  return value as Record<string, unknown>;
}
