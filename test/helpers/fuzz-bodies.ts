// Generated broker bodies for the fuzz test (issue 9): random and adversarial, built with fast-check.
//
// Every body is built as bytes (never re-encoded on the way), so invalid UTF-8,
// raw control characters, BOMs and exact sizes survive to the broker. Every body
// that is a JSON object carries a top-level marker `"fz":"<n>"` (n = its index,
// unique), so the test can find it again in the store and on the stream. The
// generator decides nothing about validity: the test asks the project's own
// classifier (src/model/message.ts) which bodies are valid.
import fc from 'fast-check';

/** What a body was generated to exercise (for counting and for failure messages). */
export type FuzzCategory =
  | 'valid'
  | 'control_chars'
  | 'proto_keys'
  | 'deep_nesting'
  | 'huge_number'
  | 'huge_string'
  | 'bad_utf8'
  | 'bom'
  | 'empty'
  | 'not_object'
  | 'bad_json'
  | 'wrong_type'
  | 'heartbeat'
  | 'duplicate_keys'
  | 'random';

/** One generated body. */
export interface FuzzCase {
  /** Index in publish order; also the value of the `fz` marker when the body is an object. */
  readonly n: number;
  readonly category: FuzzCategory;
  /** Part of the fixed corpus (always present) rather than drawn by fast-check. */
  readonly fixed: boolean;
  /** Short description of how it was built, for failure messages. */
  readonly label: string;
  readonly body: Uint8Array;
}

/** A recipe: how to build a body once its marker is known. */
interface Recipe {
  readonly category: FuzzCategory;
  readonly label: string;
  make(fz: string): Uint8Array;
}

/** A key and a value, both already JSON text. */
type Entry = readonly [key: string, value: string];

/** A value the relay must never see as inherited: the pollution payload. */
export const POLLUTION_MARK = 'POLLUTED';

const te = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const cat = (...parts: (string | Uint8Array | readonly number[])[]): Uint8Array =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p as Uint8Array))));

/** How a string is written as JSON text. */
type StrMode = 'std' | 'uescape' | 'raw';

/**
 * `std`: JSON.stringify (control characters escaped, U+2028 raw, lone surrogates escaped);
 * `uescape`: everything outside printable ASCII as \uXXXX (so `__proto__` can hide as `\u005f\u005fproto…` too);
 * `raw`: only `"` and `\` escaped — control characters go in raw, which is not JSON.
 */
export function strText(s: string, mode: StrMode = 'std'): string {
  if (mode === 'std') return JSON.stringify(s);
  if (mode === 'raw') return `"${s.replace(/["\\]/g, (m) => `\\${m}`)}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c >= 0x20 && c < 0x7f && c !== 0x5f) out += s[i];
    else out += `\\u${c.toString(16).padStart(4, '0')}`; // '_' too: hides __proto__ from naive text filters
  }
  return `${out}"`;
}

/** `{…}` from entries (JSON text each), with `ws` (JSON whitespace, newlines included) around every token. */
function objText(entries: readonly Entry[], ws = ''): string {
  return `{${ws}${entries.map(([k, v]) => `${k}${ws}:${ws}${v}`).join(`${ws},${ws}`)}${ws}}`;
}

/** The marker entry `"fz":"<n>"`. */
const marker = (fz: string): Entry => ['"fz"', JSON.stringify(fz)];

/** Entries with the marker inserted at `at` (modulo length) and the whole rotated by `rot`: msg_type is not always first. */
function withMarker(entries: readonly Entry[], fz: string, at: number, rot = 0): Entry[] {
  const out = [...entries];
  out.splice(at % (out.length + 1), 0, marker(fz));
  const r = rot % out.length;
  return [...out.slice(r), ...out.slice(0, r)];
}

// ---------------------------------------------------------------- pools

/** Keys that look up or replace prototypes when code assigns them carelessly. */
export const PROTO_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  '__defineGetter__',
  '__lookupGetter__',
  'toJSON',
] as const;

/** Keys the relay adds when absent (a sender that sets them must keep its values). */
const ENRICH_KEYS = ['sender_agent', 'recipient_agent', 'namespace', 'queue_name', 'sent_at'] as const;
/** Keys read into columns (and msg_type, the one SPEC §2 validates), plus the marker: never generated as free keys, so each appears once. */
const RESERVED_KEYS: ReadonlySet<string> = new Set(['fz', 'msg_type', 'run_id', 'execution_id', 'namespace', 'sender', 'recipient', 'processed_by']);
/** The fields one can put a dangerous value into. */
const FIELDS = ['msg_type', 'run_id', 'execution_id', 'namespace', 'sender', 'recipient', 'processed_by', 'filename'] as const;
type Field = (typeof FIELDS)[number];

const NICE_TYPES = [
  'stf_gen',
  'run_imminent',
  'start_run',
  'end_run',
  'pause_run',
  'resume_run',
  'data_ready',
  'stf_ready',
  'tf_file_registered',
  'processing_complete',
  'ünïcode-type',
  'データ',
  'type with spaces',
  ' leading-space',
  'trailing-space ',
  'colon:inside',
  'emoji-😀',
  'x'.repeat(100),
];
/** Names an SSE client could confuse with the relay's own events or the SSE grammar. */
const EVENTISH_TYPES = ['connected', 'heartbeat', 'gap', 'shutdown', 'message', 'retry', 'id', 'data', 'event', 'Heartbeat', 'heartbeat ', ':'];

/** Pieces that break lines, frames, terminals, STOMP frames or naive parsers. */
const DANGER = [
  '\n',
  '\r',
  '\r\n',
  '\u2028',
  '\u2029',
  '\u0000',
  '\u0085',
  '\u009b',
  '\t',
  '\u000b',
  '\u000c',
  '\u001b[31m',
  '\u007f',
  '\ufeff',
  '\ud800',
  '\udfff',
  '\n\nevent: injected\ndata: {"injected":true}\n\n',
  '\r\rid: 999999\r\r',
  '\r\n\r\nretry: 1\r\n\r\n',
  '\n: comment\n',
  '\ndata: injected',
  '\u0000SEND\ndestination:/topic/injected\n\n\u0000',
  '</script><script>alert(1)</script>',
  "'; DROP TABLE messages; --",
  '\\n',
  '"',
  '\\',
] as const;

/** Numbers JSON can write but a double cannot hold (or holds with surprises). */
const BIG_NUMBERS = [
  '1e400',
  '-1e400',
  '123456789012345678901234567890',
  '-123456789012345678901234567890',
  '1E+400',
  '1e-400',
  '-0',
  '5e-324',
  '1.7976931348623157e308',
  '9007199254740993',
  '0.1',
  '1E+2',
  '100042',
] as const;

const POLLUTER = `{"sender":"${POLLUTION_MARK}","recipient":"${POLLUTION_MARK}","namespace":"${POLLUTION_MARK}","msg_type":"${POLLUTION_MARK}","polluted":"${POLLUTION_MARK}","isAdmin":true,"toString":"${POLLUTION_MARK}","fz":"${POLLUTION_MARK}"}`;
/** Values that pollute Object.prototype when merged or assigned carelessly. */
const POLLUTER_VALUES = [POLLUTER, `{"prototype":${POLLUTER}}`, `{"constructor":{"prototype":${POLLUTER}}}`, `[${POLLUTER}]`, 'null', '[]', '"POLLUTED"', '1'] as const;
/** `__proto__` and friends as JSON key text, including escaped spellings that JSON.parse turns back into `__proto__`. */
const POLLUTER_KEYS = ['"__proto__"', '"constructor"', '"prototype"', strText('__proto__', 'uescape'), '"\\u005f_proto__"', '"__proto__ "', '"__PROTO__"'] as const;

// ---------------------------------------------------------------- arbitraries

const wsArb = fc.constantFrom('', '', '', '', ' ', '\n', '\r\n', '\t', '\r', ' \n\t\r ');
const modeArb = fc.constantFrom<StrMode>('std', 'std', 'std', 'uescape');
const posArb = fc.nat(1000);

const dangerousString = fc
  .tuple(fc.string({ unit: 'grapheme', maxLength: 6 }), fc.constantFrom(...DANGER), fc.string({ unit: 'grapheme-ascii', maxLength: 6 }))
  .map(([a, d, b]) => a + d + b);

/** A printable (mostly) string: ASCII, any grapheme, or any code point. */
const textString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 24 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
);

/** msg_type values meant to be usable (the classifier decides). */
const msgTypeArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NICE_TYPES) },
  { weight: 2, arbitrary: fc.constantFrom(...EVENTISH_TYPES) },
  { weight: 2, arbitrary: fc.constantFrom(...PROTO_KEYS) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }) },
);

/** JSON text of a plain field value: a string (≤ 200 characters, so it fits a filtered column) or a finite number. */
const scalarValidText = fc.oneof(
  { weight: 3, arbitrary: fc.integer().map(String) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)) },
  { weight: 4, arbitrary: fc.tuple(textString, modeArb).map(([s, m]) => strText(s.slice(0, 200), m)) },
  { weight: 1, arbitrary: fc.constantFrom('"100042"', '"test-run-001"', '"torre-dev"', '"daqsim-agent-torre-7"', JSON.stringify('r'.repeat(200))) },
);

/** JSON text of a field value of any kind, often not allowed. */
const scalarAnyText = fc.oneof(
  { weight: 3, arbitrary: scalarValidText },
  { weight: 1, arbitrary: fc.constantFrom(...BIG_NUMBERS) },
  { weight: 1, arbitrary: fc.tuple(dangerousString, modeArb).map(([s, m]) => strText(s, m)) },
  { weight: 1, arbitrary: fc.constantFrom('null', 'true', 'false', '[]', '{}', '[1]', '{"a":1}', '""', JSON.stringify('r'.repeat(201))) },
);

/** A free (unvalidated) top-level key, as JSON text. */
const freeKeyText = fc
  .oneof(
    { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 }) },
    { weight: 2, arbitrary: fc.constantFrom(...PROTO_KEYS, ...ENRICH_KEYS, 'filename', 'agent_name', 'status') },
    { weight: 1, arbitrary: dangerousString },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', 'data: x', 'event', 'id', '0', '1', '-1', '4294967295') },
  )
  .filter((k) => !RESERVED_KEYS.has(k))
  .chain((k) => modeArb.map((m) => strText(k, m)));

/** Nested keys: anything, prototype keys often. */
const nestedKeyText = fc
  .oneof({ weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 8 }) }, { weight: 2, arbitrary: fc.constantFrom(...PROTO_KEYS) }, { weight: 1, arbitrary: dangerousString })
  .chain((k) => modeArb.map((m) => strText(k, m)));

/** JSON text of a leaf value. */
const leafText = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(textString, modeArb).map(([s, m]) => strText(s, m)) },
  { weight: 1, arbitrary: fc.tuple(dangerousString, modeArb).map(([s, m]) => strText(s, m)) },
  { weight: 2, arbitrary: fc.integer().map(String) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)) },
  { weight: 1, arbitrary: fc.constantFrom('null', 'true', 'false', '0', '-1', '1.5e10', '123456789012345678901234567890', '1e-400', '-0', '5e-324') },
);

/** JSON text of any (small) value: nested arrays and objects with prototype keys. */
const { value: jsonText } = fc.letrec<{ value: string; array: string; object: string }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 4 }, leafText, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }).map((xs) => `[${xs.join(',')}]`),
  object: fc.array(fc.tuple(nestedKeyText, tie('value')), { maxLength: 4 }).map((es) => objText(es)),
}));

/** Free top-level entries of a message. */
const freeEntries = fc.array(fc.tuple(freeKeyText, jsonText), { maxLength: 5 });

/**
 * JSON text of a read field's value as the agents send them (Python's dict.get): plain values
 * mostly, often null, sometimes booleans, arrays, objects, and numbers a double cannot hold.
 * SPEC §2 accepts every one of them.
 */
const fieldValueText = fc.oneof(
  { weight: 6, arbitrary: scalarValidText },
  { weight: 3, arbitrary: fc.constant('null') },
  { weight: 2, arbitrary: fc.constantFrom('true', 'false', '[]', '{}', '[1,"a"]', '{"run_id":100042,"execution_id":null}', '""') },
  { weight: 2, arbitrary: fc.constantFrom(...BIG_NUMBERS) },
  { weight: 1, arbitrary: fc.tuple(dangerousString, modeArb).map(([s, m]) => strText(s, m)) },
  { weight: 1, arbitrary: jsonText },
);

/** A subset of the read fields, with values of every kind. */
const validFieldEntries = fc
  .record(
    {
      run_id: fieldValueText,
      execution_id: fieldValueText,
      namespace: fieldValueText,
      sender: fieldValueText,
      recipient: fieldValueText,
      processed_by: fieldValueText,
      filename: fc.tuple(fc.oneof(textString, dangerousString), modeArb).map(([s, m]) => strText(s, m)),
    },
    { requiredKeys: [] },
  )
  .map((r) => Object.entries(r).map(([k, v]): Entry => [JSON.stringify(k), v]));

/** A message: msg_type, some fields, free entries, extra entries; marker placed at random. */
function messageArb(opts: { msgType?: fc.Arbitrary<string>; extra?: fc.Arbitrary<Entry[]>; fields?: fc.Arbitrary<Entry[]> } = {}) {
  return fc
    .record({
      msgType: opts.msgType ?? fc.tuple(msgTypeArb, modeArb).map(([t, m]) => strText(t, m)),
      fields: opts.fields ?? validFieldEntries,
      free: freeEntries,
      extra: opts.extra ?? fc.constant([] as Entry[]),
      ws: wsArb,
      at: posArb,
      rot: posArb,
    })
    .map(({ msgType, fields, free, extra, ws, at, rot }) => ({
      text: (fz: string) => objText(withMarker([['"msg_type"', msgType], ...fields, ...free, ...extra], fz, at, rot), ws),
    }));
}

const recipe = (category: FuzzCategory, label: string, make: (fz: string) => Uint8Array): Recipe => ({ category, label, make });

// -- one arbitrary per category

const validArb = messageArb().map((m) => recipe('valid', 'message', (fz) => te(m.text(fz))));

/** A dangerous string in one place of an otherwise ordinary message. */
const controlArb = fc
  .record({
    where: fc.constantFrom<Field | 'free value' | 'free key' | 'nested value' | 'sender_agent'>(...FIELDS, 'msg_type', 'msg_type', 'free value', 'free key', 'nested value', 'sender_agent'),
    danger: dangerousString,
    mode: fc.constantFrom<StrMode>('std', 'std', 'std', 'uescape', 'raw'),
    ws: wsArb,
    at: posArb,
  })
  .map(({ where, danger, mode, ws, at }) => {
    const s = strText(danger, mode);
    const label = `${where} ${mode} ${JSON.stringify(danger)}`;
    return recipe('control_chars', label, (fz) => {
      const entries: Entry[] = [['"msg_type"', '"stf_gen"']];
      if (where === 'msg_type') entries[0] = ['"msg_type"', s];
      else if (where === 'free key') entries.push([s, '"v"']);
      else if (where === 'free value') entries.push(['"note"', s]);
      else if (where === 'nested value') entries.push(['"nested"', `{"a":[1,{"b":${s}}]}`]);
      else entries.push([JSON.stringify(where), s]);
      return te(objText(withMarker(entries, fz, at), ws));
    });
  });

/** `__proto__`, `constructor`, `prototype` at the top level, nested, and as msg_type. */
const protoArb = fc
  .record({
    msgType: fc.oneof(fc.constantFrom(...PROTO_KEYS), msgTypeArb).chain((t) => modeArb.map((m) => strText(t, m))),
    top: fc.array(fc.tuple(fc.constantFrom(...POLLUTER_KEYS), fc.constantFrom(...POLLUTER_VALUES)), { maxLength: 3 }),
    nested: fc.array(
      fc.tuple(fc.constantFrom(...POLLUTER_KEYS), fc.constantFrom(...POLLUTER_VALUES), fc.constantFrom('obj', 'arr', 'deep')).map(([k, v, shape]): Entry => {
        if (shape === 'obj') return ['"payload"', `{${k}:${v}}`];
        if (shape === 'arr') return ['"items"', `[{${k}:${v}},{"ok":1}]`];
        return ['"meta"', `{"a":{"b":[{${k}:{${k}:${v}}}]}}`];
      }),
      { maxLength: 2 },
    ),
    kind: fc.constantFrom('workflow', 'workflow', 'workflow', 'heartbeat', 'neither'),
    fields: validFieldEntries,
    at: posArb,
    rot: posArb,
  })
  .map(({ msgType, top, nested, kind, fields, at, rot }) =>
    recipe('proto_keys', `${kind} msg_type=${msgType} top=${top.map((e) => e[0]).join('|')} nested=${nested.length}`, (fz) => {
      const head: Entry[] =
        kind === 'workflow' ? [['"msg_type"', msgType], ...fields] : kind === 'heartbeat' ? [['"agent_name"', msgType], ['"status"', '"OK"']] : [['"note"', '"no kind"']];
      return te(objText(withMarker([...head, ...top, ...nested], fz, at, rot)));
    }),
  );

/** Nesting from 10 to 20,000 levels, inside a workflow message, in a validated field, or as the whole body. */
const deepArb = fc
  .record({
    // 511 and 512 inside a message straddle the 512-level limit.
    depth: fc.constantFrom(10, 100, 511, 512, 1000, 2000, 3000, 4000, 5000, 8000, 10_000, 10_000, 20_000),
    shape: fc.constantFrom('array', 'object', 'mixed', 'proto'),
    where: fc.constantFrom('free', 'free', 'free', 'run_id', 'top'),
    at: posArb,
  })
  .map(({ depth, shape, where, at }) => {
    const nested = deepText(depth, shape);
    return recipe('deep_nesting', `${shape}×${depth} in ${where}`, (fz) => {
      if (where === 'top') return te(nested);
      const key = where === 'free' ? '"deep"' : '"run_id"';
      return te(objText(withMarker([['"msg_type"', '"deep_msg"'], [key, nested]], fz, at)));
    });
  });

function deepText(depth: number, shape: string): string {
  if (shape === 'array') return '['.repeat(depth) + '1' + ']'.repeat(depth);
  if (shape === 'object') return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  if (shape === 'proto') return '{"__proto__":'.repeat(depth) + `{"polluted":"${POLLUTION_MARK}"}` + '}'.repeat(depth);
  return '[{"a":'.repeat(depth / 2) + '1' + '}]'.repeat(depth / 2);
}

/** 1e400 and friends in every field. */
const numberArb = fc
  .record({
    where: fc.constantFrom<Field | 'free' | 'nested' | 'array'>('run_id', 'execution_id', 'namespace', 'sender', 'recipient', 'processed_by', 'msg_type', 'free', 'free', 'nested', 'array'),
    num: fc.constantFrom(...BIG_NUMBERS),
    at: posArb,
  })
  .map(({ where, num, at }) =>
    recipe('huge_number', `${num} in ${where}`, (fz) => {
      const entries: Entry[] = [['"msg_type"', '"numbers"']];
      if (where === 'msg_type') entries[0] = ['"msg_type"', num];
      else if (where === 'free') entries.push(['"value"', num]);
      else if (where === 'nested') entries.push(['"stats"', `{"mean":${num},"n":[${num}]}`]);
      else if (where === 'array') entries.push(['"values"', `[1,${num},-1]`]);
      else entries.push([JSON.stringify(where), num]);
      return te(objText(withMarker(entries, fz, at)));
    }),
  );

/** Bodies of an exact size around MESSAGE_MAX_BYTES, padded with 1- to 6-byte units in one field. */
function hugeStringArb(maxBytes: number) {
  return fc
    .record({
      size: fc.oneof(
        fc.constantFrom(maxBytes - 1, maxBytes, maxBytes, maxBytes + 1, maxBytes + 1, maxBytes + 3, maxBytes + 100, Math.floor(maxBytes * 1.25)),
        fc.integer({ min: 1024, max: maxBytes }),
      ),
      unit: fc.constantFrom('x', 'é', '€', '😀', '\\n', '\\u2028', '\u2028', '\\u0000', '\\ud83d\\ude00'),
      where: fc.constantFrom('pad', 'pad', 'pad', 'filename', 'msg_type', 'run_id', 'sender', 'namespace', 'key'),
      at: posArb,
    })
    .map(({ size, unit, where, at }) =>
      recipe('huge_string', `${size} bytes, ${JSON.stringify(unit)} in ${where}`, (fz) =>
        sized(size, unit, (pad) => {
          const s = `"${pad}"`;
          const entries: Entry[] = [['"msg_type"', '"big"']];
          if (where === 'msg_type') entries[0] = ['"msg_type"', s];
          else if (where === 'pad') entries.push(['"pad"', s]);
          else if (where === 'key') entries.push([s, '1']);
          else entries.push([JSON.stringify(where), s]);
          return objText(withMarker(entries, fz, at));
        }),
      ),
    );
}

/** `build(pad)` with `pad` (JSON string content) chosen so the body has exactly `target` bytes (or as close above as the base allows); the multi-byte units come last, so a cut at the limit can split one. */
function sized(target: number, unit: string, build: (pad: string) => string): Uint8Array {
  const remaining = Math.max(0, target - Buffer.byteLength(build('')));
  const unitBytes = Buffer.byteLength(unit);
  const units = Math.floor(remaining / unitBytes);
  return te(build('x'.repeat(remaining - units * unitBytes) + unit.repeat(units)));
}

/** Byte sequences no UTF-8 decoder may accept. */
const BAD_UTF8: readonly (readonly number[])[] = [
  [0x80], // lone continuation byte
  [0xbf],
  [0xc0, 0xaf], // overlong '/'
  [0xc1, 0xbf],
  [0xe0, 0x80, 0xaf], // overlong
  [0xed, 0xa0, 0x80], // UTF-16 surrogate D800
  [0xed, 0xbf, 0xbf],
  [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80], // CESU-8 emoji
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0xf5, 0x80, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80], // 5-byte form
  [0xff],
  [0xfe],
  [0xc3, 0x28], // bad continuation
  [0xe2, 0x82], // truncated €
  [0xf0, 0x9f, 0x98], // truncated 😀
  [0xe9], // Latin-1 é
];

const badUtf8Arb = fc
  .record({
    seq: fc.constantFrom(...BAD_UTF8),
    where: fc.constantFrom('msg_type', 'free', 'key', 'start', 'end', 'between tokens', 'random bytes', 'utf16'),
    random: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  })
  .map(({ seq, where, random }) =>
    recipe('bad_utf8', `${Buffer.from(seq).toString('hex')} at ${where}`, (fz) => {
      const good = `{"msg_type":"stf_gen","fz":"${fz}","note":"ok"}`;
      switch (where) {
        case 'msg_type':
          return cat(`{"fz":"${fz}","msg_type":"stf`, seq, '_gen"}');
        case 'free':
          return cat(`{"msg_type":"stf_gen","fz":"${fz}","note":"a`, seq, 'b"}');
        case 'key':
          return cat(`{"msg_type":"stf_gen","fz":"${fz}","k`, seq, '":1}');
        case 'start':
          return cat(seq, good);
        case 'end':
          return cat(good, seq);
        case 'between tokens':
          return cat(`{"msg_type":"stf_gen",`, seq, `"fz":"${fz}"}`);
        case 'utf16':
          return cat([0xff, 0xfe], Buffer.from(good, 'utf16le'));
        default:
          return cat(`{"msg_type":"stf_gen","fz":"${fz}","raw":"`, random, '"}');
      }
    }),
  );

const BOM = [0xef, 0xbb, 0xbf];
const bomArb = fc
  .record({ where: fc.constantFrom('prefix', 'prefix', 'prefix+ws', 'double', 'middle', 'in msg_type', 'in value', 'only', 'utf16be', 'utf32le'), base: messageArb() })
  .map(({ where, base }) =>
    recipe('bom', `BOM ${where}`, (fz) => {
      const text = base.text(fz);
      switch (where) {
        case 'prefix':
          return cat(BOM, text);
        case 'prefix+ws':
          return cat(BOM, ' \r\n', text);
        case 'double':
          return cat(BOM, BOM, text);
        case 'middle':
          return cat(`{"fz":"${fz}",`, BOM, '"msg_type":"stf_gen"}');
        case 'in msg_type':
          return cat(`{"fz":"${fz}","msg_type":"`, BOM, 'stf_gen"}');
        case 'in value':
          return cat(`{"fz":"${fz}","msg_type":"stf_gen","note":"`, BOM, '"}');
        case 'only':
          return cat(BOM);
        case 'utf16be':
          return cat([0xfe, 0xff], Buffer.from(Buffer.from(`{"msg_type":"stf_gen","fz":"${fz}"}`, 'utf16le')).swap16());
        default:
          return cat([0xff, 0xfe, 0x00, 0x00], text);
      }
    }),
  );

const emptyArb = fc.constantFrom('', '', ' ', '\n', '\r\n', '\t', '\u0000', '\u0000\u0000', '\ufeff').map((s) => recipe('empty', JSON.stringify(s), () => te(s)));

const notObjectArb = fc
  .oneof(
    fc.constantFrom('[]', 'null', 'true', 'false', '0', '1e400', '"stf_gen"', '"{\\"msg_type\\":\\"stf_gen\\"}"', '[{"msg_type":"stf_gen"}]', '[[[[]]]]', '-0', '""'),
    fc.jsonValue({ maxDepth: 3 }).filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)).map((v) => JSON.stringify(v)),
  )
  .map((s) => recipe('not_object', s.slice(0, 60), () => te(s)));

const badJsonArb = fc
  .record({
    kind: fc.constantFrom(
      'truncated',
      'trailing comma',
      'single quotes',
      'NaN',
      'Infinity',
      'comment',
      'trailing garbage',
      'two objects',
      'unquoted key',
      'hex number',
      'leading zero',
      'plus sign',
      'bad escape',
      'short unicode escape',
      'raw newline in string',
      'raw NUL in string',
      'raw NUL after',
      'unclosed string',
    ),
    base: messageArb(),
    cut: fc.nat(),
  })
  .map(({ kind, base, cut }) =>
    recipe('bad_json', kind, (fz) => {
      const m = (rest: string) => `{"msg_type":"stf_gen","fz":"${fz}"${rest}}`;
      switch (kind) {
        case 'truncated': {
          const text = base.text(fz);
          return te(text.slice(0, cut % text.length));
        }
        case 'trailing comma':
          return te(m(','));
        case 'single quotes':
          return te(`{'msg_type':'stf_gen','fz':'${fz}'}`);
        case 'NaN':
          return te(m(',"v":NaN'));
        case 'Infinity':
          return te(m(',"v":-Infinity'));
        case 'comment':
          return te(m('/* comment */'));
        case 'trailing garbage':
          return te(`${m('')}}`);
        case 'two objects':
          return te(`${m('')}\n${m('')}`);
        case 'unquoted key':
          return te(m(',v:1'));
        case 'hex number':
          return te(m(',"v":0x10'));
        case 'leading zero':
          return te(m(',"run_id":0100042'));
        case 'plus sign':
          return te(m(',"v":+1'));
        case 'bad escape':
          return te(m(',"v":"\\x41"'));
        case 'short unicode escape':
          return te(m(',"v":"\\u12"'));
        case 'raw newline in string':
          return te(`{"msg_type":"stf\ngen","fz":"${fz}"}`);
        case 'raw NUL in string':
          return te(`{"msg_type":"stf_gen","fz":"${fz}","v":"a\u0000b"}`);
        case 'raw NUL after':
          return te(`${m('')}\u0000`);
        default:
          return te(`{"msg_type":"stf_gen","fz":"${fz}","v":"open}`);
      }
    }),
  );

/** msg_type of every kind (not a string, empty, too long, control characters, or fine) beside a field of any kind. */
const wrongTypeArb = fc
  .record({
    msgType: fc.oneof(
      fc.constantFrom('1', 'null', 'true', '[]', '{}', '["stf_gen"]', '{"msg_type":"stf_gen"}', '""', JSON.stringify('t'.repeat(101)), JSON.stringify('😀'.repeat(51)), JSON.stringify('😀'.repeat(50))),
      fc.tuple(msgTypeArb, modeArb).map(([t, m]) => strText(t, m)),
    ),
    field: fc.constantFrom(...FIELDS),
    value: scalarAnyText,
    at: posArb,
  })
  .map(({ msgType, field, value, at }) =>
    recipe('wrong_type', `msg_type=${msgType.slice(0, 40)} ${field}=${value.slice(0, 40)}`, (fz) =>
      te(objText(withMarker([['"msg_type"', msgType], [JSON.stringify(field), value]], fz, at))),
    ),
  );

/** Agent heartbeats, good and bad: never relayed to an unfiltered client, never rejected when valid. */
const heartbeatArb = fc
  .record({
    name: fc.oneof(fc.constantFrom('daq-agent-1', 'ünï-agent', ...PROTO_KEYS), fc.string({ unit: 'grapheme', minLength: 0, maxLength: 30 }), dangerousString),
    status: fc.oneof(fc.constantFrom('OK', 'WARNING', 'ERROR', ''), dangerousString),
    agentType: fc.option(scalarAnyText),
    namespace: fc.option(scalarAnyText),
    extra: fc.array(fc.tuple(fc.constantFrom(...POLLUTER_KEYS), fc.constantFrom(...POLLUTER_VALUES)), { maxLength: 2 }),
    at: posArb,
  })
  .map(({ name, status, agentType, namespace, extra, at }) =>
    recipe('heartbeat', `agent_name=${JSON.stringify(name)} status=${JSON.stringify(status)}`, (fz) => {
      const entries: Entry[] = [
        ['"agent_name"', JSON.stringify(name)],
        ['"status"', JSON.stringify(status)],
      ];
      if (agentType !== null) entries.push(['"agent_type"', agentType]);
      if (namespace !== null) entries.push(['"namespace"', namespace]);
      return te(objText(withMarker([...entries, ...extra], fz, at)));
    }),
  );

/** The same key twice: JSON.parse keeps the last one; so must the relay. */
const duplicateArb = fc
  .record({
    first: fc.constantFrom('"stf_gen"', '"bad\\ntype"', '1', '"__proto__"'),
    second: fc.constantFrom('"stf_gen"', '"bad\\ntype"', '1', '"constructor"', '"ok_second"'),
    which: fc.constantFrom('msg_type', 'run_id', '__proto__'),
  })
  .map(({ first, second, which }) =>
    recipe('duplicate_keys', `${which}: ${first} then ${second}`, (fz) => {
      if (which === '__proto__') return te(`{"msg_type":"dup","fz":"${fz}","__proto__":{"a":${first}},"__proto__":{"b":${second}}}`);
      if (which === 'run_id') return te(`{"msg_type":"dup","fz":"${fz}","run_id":${first},"run_id":${second}}`);
      return te(`{"msg_type":${first},"fz":"${fz}","msg_type":${second}}`);
    }),
  );

/** Anything at all: random JSON, random text, random bytes, random objects with a msg_type. */
const randomArb = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => recipe('random', 'jsonValue', () => te(JSON.stringify(v) ?? 'null'))),
  fc.string({ unit: 'binary', maxLength: 200 }).map((s) => recipe('random', 'binary string', () => te(s))),
  fc.uint8Array({ maxLength: 300 }).map((b) => recipe('random', 'random bytes', () => b)),
  fc
    .record({ t: fc.string({ unit: 'binary', maxLength: 30 }), free: freeEntries, at: posArb })
    .map(({ t, free, at }) => recipe('random', 'object with random msg_type', (fz) => te(objText(withMarker([['"msg_type"', JSON.stringify(t)], ...free], fz, at))))),
);

/** Weighted mix of every category; valid messages are the largest share, so they interleave with everything else. */
function mixArb(maxBytes: number): fc.Arbitrary<Recipe> {
  return fc.oneof(
    { weight: 30, arbitrary: validArb },
    { weight: 12, arbitrary: controlArb },
    { weight: 8, arbitrary: protoArb },
    { weight: 3, arbitrary: deepArb },
    { weight: 6, arbitrary: numberArb },
    { weight: 4, arbitrary: hugeStringArb(maxBytes) },
    { weight: 6, arbitrary: badUtf8Arb },
    { weight: 3, arbitrary: bomArb },
    { weight: 1, arbitrary: emptyArb },
    { weight: 3, arbitrary: notObjectArb },
    { weight: 5, arbitrary: badJsonArb },
    { weight: 6, arbitrary: wrongTypeArb },
    { weight: 3, arbitrary: heartbeatArb },
    { weight: 2, arbitrary: duplicateArb },
    { weight: 5, arbitrary: randomArb },
  );
}

// ---------------------------------------------------------------- fixed corpus

/** Cases that are always there, whatever the seed: the ones issue 9 names explicitly. */
function fixedCorpus(maxBytes: number): Recipe[] {
  const msg = (fz: string, ...entries: Entry[]) => objText(withMarker(entries, fz, 1));
  const out: Recipe[] = [];
  for (const shape of ['array', 'object', 'proto']) {
    out.push(recipe('deep_nesting', `${shape}×10000 in a workflow message`, (fz) => te(msg(fz, ['"msg_type"', '"deep_msg"'], ['"deep"', deepText(10_000, shape)]))));
  }
  out.push(recipe('deep_nesting', 'array×100 in a workflow message', (fz) => te(msg(fz, ['"msg_type"', '"deep_msg"'], ['"deep"', deepText(100, 'array')]))));
  out.push(recipe('deep_nesting', 'array×10000 as the body', () => te(deepText(10_000, 'array'))));
  for (const num of ['1e400', '-1e400', '123456789012345678901234567890']) {
    out.push(recipe('huge_number', `${num} in a free field`, (fz) => te(msg(fz, ['"msg_type"', '"numbers"'], ['"value"', num]))));
    out.push(recipe('huge_number', `${num} in run_id`, (fz) => te(msg(fz, ['"msg_type"', '"numbers"'], ['"run_id"', num]))));
  }
  for (const t of ['__proto__', 'constructor', 'prototype']) {
    out.push(recipe('proto_keys', `msg_type ${t}`, (fz) => te(msg(fz, ['"msg_type"', JSON.stringify(t)]))));
    out.push(recipe('proto_keys', `top-level ${t} polluter`, (fz) => te(msg(fz, ['"msg_type"', '"proto"'], [JSON.stringify(t), POLLUTER_VALUES[t === '__proto__' ? 0 : 2]]))));
    out.push(recipe('proto_keys', `nested ${t} polluter`, (fz) => te(msg(fz, ['"msg_type"', '"proto"'], ['"a"', `{"b":[{${JSON.stringify(t)}:${POLLUTER_VALUES[1]}}]}`]))));
  }
  for (const field of ['msg_type', 'run_id', 'sender', 'namespace', 'filename', 'note']) {
    for (const danger of ['\n', '\r', '\r\n', '\u2028', '\u0000', '\n\nevent: injected\ndata: {}\n\n']) {
      out.push(
        recipe('control_chars', `${JSON.stringify(danger)} in ${field}`, (fz) => {
          const entries: Entry[] = field === 'msg_type' ? [['"msg_type"', JSON.stringify(`stf${danger}gen`)]] : [['"msg_type"', '"stf_gen"'], [JSON.stringify(field), JSON.stringify(`a${danger}b`)]];
          return te(msg(fz, ...entries));
        }),
      );
    }
  }
  // Edges of SPEC §2's msg_type rule: a C1 control character (Unicode Cc), a lone surrogate (no UTF-8 form), the length limit.
  for (const t of ['stf\u0085gen', 'stf\u009bgen', 'stf\ud800gen', '\udfff', 't'.repeat(100), 't'.repeat(101)]) {
    out.push(recipe('control_chars', `msg_type ${JSON.stringify(t).slice(0, 40)}`, (fz) => te(msg(fz, ['"msg_type"', JSON.stringify(t)]))));
  }
  out.push(recipe('bom', 'BOM prefix', (fz) => cat(BOM, msg(fz, ['"msg_type"', '"bom"']))));
  out.push(recipe('empty', 'empty body', () => new Uint8Array(0)));
  out.push(recipe('not_object', '[]', () => te('[]')));
  out.push(recipe('not_object', 'null', () => te('null')));
  out.push(recipe('bad_utf8', 'c3 28 in a string', (fz) => cat(`{"msg_type":"stf_gen","fz":"${fz}","note":"`, [0xc3, 0x28], '"}')));
  for (const size of [maxBytes - 1, maxBytes, maxBytes + 1]) {
    out.push(recipe('huge_string', `${size} bytes of pad`, (fz) => sized(size, 'x', (pad) => msg(fz, ['"msg_type"', '"big"'], ['"pad"', `"${pad}"`]))));
  }
  return out;
}

/**
 * The bodies of one run, in publish order: the fixed corpus, then `runs` drawn
 * by fast-check from `seed` (same seed and runs, same bodies). Every object body
 * carries `"fz":"<n>"`.
 */
export function generateFuzzBodies(opts: { seed: number; runs: number; maxBytes: number }): FuzzCase[] {
  const fixed = fixedCorpus(opts.maxBytes).map((r) => ({ r, fixed: true }));
  const drawn = opts.runs > 0 ? fc.sample(mixArb(opts.maxBytes), { seed: opts.seed, numRuns: opts.runs }).map((r) => ({ r, fixed: false })) : [];
  // Spread the fixed cases among the drawn ones, so they too are interleaved with valid messages.
  const all = [...drawn];
  fixed.forEach((f, i) => all.splice(Math.floor(((i + 1) * all.length) / (fixed.length + 1)) + i, 0, f));
  return all.map(({ r, fixed: isFixed }, n) => ({ n, category: r.category, fixed: isFixed, label: r.label, body: r.make(String(n)) }));
}
