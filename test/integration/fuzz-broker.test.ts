// Generated-input test of issue 9 (broker side): thousands of random and adversarial bodies
// published through a real (private) ActiveMQ to the relay as a real process, with one
// unfiltered SSE client reading the raw bytes. Afterwards: the relay still runs, every valid
// message is stored once and relayed intact in order, every invalid body is in the rejected
// store, no SSE frame was split or injected, and nothing was polluted.
//
// Bounded: FUZZ_RUNS bodies drawn by fast-check (default 3000) plus a fixed corpus; the seed is
// printed and can be set with FUZZ_SEED to replay a run exactly.
//
// Two oracles. SPEC §2 makes a body a valid workflow message when it is a JSON object (UTF-8,
// within the size limit) whose msg_type is a non-empty string of at most 100 characters without
// control characters, whatever its other keys hold: this file reads that rule on its own (specKind)
// and requires the classifier to agree both ways. Beyond the SPEC's rule the project rejects a
// msg_type with a lone surrogate and nesting deeper than 512 levels (README, Decisions); those
// two are read here too. For what is not a workflow message (heartbeat or which rejection
// reason) the oracle is the project's own classifyBody (src/model/message.ts), and the relay
// process must then do what it says. Contents are compared with a lossless parser
// (test/helpers/lossless-json.ts), so a number that lost digits is a difference.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { classifyBody, type Classified } from '../../src/model/message.js';
import type { StoredMessage, StoredRejected } from '../../src/store/store.js';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { generateFuzzBodies, POLLUTION_MARK, type FuzzCase } from '../helpers/fuzz-bodies.js';
import { makeToken, openStoreOf, startRelay, type RelayProcess } from '../helpers/relay.js';
import { JsonNumber, parseLossless, parseLosslessObject } from '../helpers/lossless-json.js';
import { parseSse } from '../helpers/sse-client.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';

/** Small limit, so huge bodies are cheap (MESSAGE_MAX_BYTES minimum is 1024). */
const MAX_BYTES = 65_536;
const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
const SEED = process.env.FUZZ_SEED !== undefined && process.env.FUZZ_SEED !== '' ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const REPLAY = `FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS}`;
/** Every this many bodies, a SEND with a receipt, so the publisher never runs far ahead of the broker. */
const RECEIPT_EVERY = 200;
const HEADERS = { persistent: 'true' };
/** The relay's own event names (SPEC §3): a message with such a msg_type is relayed as `message`. */
const RELAY_EVENTS: ReadonlySet<string> = new Set(['connected', 'heartbeat', 'gap', 'shutdown']);
/** Keys the relay adds where absent (SPEC §2). */
const ENRICH_KEYS = ['sender_agent', 'recipient_agent', 'namespace', 'queue_name', 'sent_at'];
/** Keys of one item of GET /api/messages/ (README / SPEC §4). */
const HISTORY_KEYS = ['id', 'msg_type', 'run_id', 'execution_id', 'sender_agent', 'recipient_agent', 'namespace', 'processed_by', 'filename', 'queue_name', 'sent_at', 'message'];
const FINAL_BODY = Buffer.from('{"msg_type":"fuzz_final","fz":"final"}', 'utf8');
const FINAL_NEEDLE = '"fz":"final"';

// SPEC §2, independently of src/model/message.ts: "control characters" are Unicode's (general category Cc).
const SPEC_CONTROL = /\p{Cc}/u;
/** The nesting limit the README documents (deeper bodies are rejected as too_deep). */
const MAX_NESTING = 512;

/** Own properties of the built-in prototypes, before anything ran: compared at the end. */
const PROTOTYPES = { Object: Object.prototype, Array: Array.prototype, Function: Function.prototype, String: String.prototype, Number: Number.prototype };
const protoKeys = () => Object.fromEntries(Object.entries(PROTOTYPES).map(([name, proto]) => [name, Reflect.ownKeys(proto).map(String).sort()]));
const PROTO_KEYS_BEFORE = protoKeys();
const OBJECT_TO_STRING = Object.prototype.toString;

/** One generated body with the oracle's verdict and, when it decodes to JSON, the value JSON.parse gives. */
interface Judged {
  readonly c: FuzzCase;
  readonly verdict: Classified;
  /** This file's own reading of SPEC §2 (and the two documented extra rules): a workflow message or not. */
  readonly spec: 'workflow' | 'not workflow';
  /** For workflow messages and heartbeats: the body as JSON.parse sees it (decoded here, independently of the classifier). */
  readonly original?: Record<string, unknown>;
  /** For workflow messages: the body parsed losslessly (numbers as written). */
  readonly exact?: Record<string, unknown>;
  /** For workflow messages: the decoded text. */
  readonly text?: string;
}

describe(`generated broker bodies through ActiveMQ to SSE (${REPLAY})`, () => {
  let broker: PrivateBroker | undefined;
  let relay: RelayProcess | undefined;
  let publisher: Publisher | undefined;
  let stream: RawStream | undefined;
  let dir: string | undefined;
  let env: Record<string, string>;
  let token: string;
  const topic = `/topic/fuzz-${process.pid}`;

  let judged: Judged[] = [];
  let valid: Judged[] = [];
  let heartbeats: Judged[] = [];
  let invalid: Judged[] = [];
  /** The raw SSE bytes, decoded (fatal) as UTF-8, or the decoding error. */
  let sseText = '';
  let sseUtf8Error: string | null = null;
  let stored: StoredMessage[] = [];
  let rejected: StoredRejected[] = [];
  let agentNames: string[] = [];
  const timings: Record<string, number> = {};

  before(
    async () => {
      const t0 = performance.now();
      console.log(`fuzz-broker: ${REPLAY} MESSAGE_MAX_BYTES=${MAX_BYTES} (set FUZZ_SEED/FUZZ_RUNS to replay or resize)`);
      const cases = generateFuzzBodies({ seed: SEED, runs: RUNS, maxBytes: MAX_BYTES });
      judged = cases.map((c) => judge(c));
      valid = judged.filter((j) => j.verdict.kind === 'workflow');
      heartbeats = judged.filter((j) => j.verdict.kind === 'heartbeat');
      invalid = judged.filter((j) => j.verdict.kind === 'rejected');
      // The marker is how a valid body is found again: the generator must have given every one its own.
      for (const j of valid) assert.equal(ownValue(j.original!, 'fz'), String(j.c.n), `generator bug: valid body without its marker: ${describeCase(j.c)}`);
      timings.generate = performance.now() - t0;
      printCounts(judged);

      broker = await startActiveMQ();
      dir = mkdtempSync(join(tmpdir(), 'swf-relay-fuzz-'));
      env = {
        DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
        ACTIVEMQ_PORT: String(broker.port),
        ACTIVEMQ_HEARTBEAT_TOPIC: topic,
        ACTIVEMQ_CLIENT_ID: `fuzz-${process.pid}`,
        MESSAGE_MAX_BYTES: String(MAX_BYTES),
        LOG_LEVEL: 'warn',
        // The one client reads continuously; a large queue means a busy test process never causes a gap.
        SSE_CLIENT_QUEUE_SIZE: '1000000',
        SSE_HEARTBEAT_SECONDS: '5',
      };
      token = await makeToken(env);
      relay = await startRelay(env, { waitForBroker: token });
      stream = await openRawStream(`${relay.url}/api/messages/stream/`, token);
      assert.equal(stream.status, 200);
      await stream.connected;
      publisher = await connectPublisher(broker.host, broker.port);
      timings.setup = performance.now() - t0 - timings.generate;

      const t1 = performance.now();
      for (const [i, j] of judged.entries()) {
        if (i % RECEIPT_EVERY === RECEIPT_EVERY - 1) await publisher.sendAndWait(topic, j.c.body, HEADERS);
        else publisher.send(topic, j.c.body, HEADERS);
      }
      await publisher.sendAndWait(topic, FINAL_BODY, HEADERS);
      timings.publish = performance.now() - t1;
      // The ingestor commits and relays in order: once the final message is on the stream, everything before it was handled.
      await withTimeout(stream.sawFinal, 120_000, () => `the final message was not relayed within 120 s (${REPLAY}); relay log tail:\n${relay!.output().slice(-3000)}`);
      timings.relay = performance.now() - t1;
      // Let a frame written right after the final one (a heartbeat) arrive whole, then stop reading.
      await new Promise((r) => setTimeout(r, 200));
      stream.close();
      const raw = Buffer.concat(stream.chunks);
      try {
        sseText = new TextDecoder('utf-8', { fatal: true }).decode(raw);
      } catch (err) {
        sseUtf8Error = (err as Error).message;
        sseText = raw.toString('utf8');
      }

      const store = await openStoreOf(env);
      try {
        stored = await store.messagesAfter('0', 1_000_000);
        rejected = await store.listRejected(1_000_000);
        agentNames = (await store.listAgents()).map((a) => a.name);
      } finally {
        await store.close();
      }
      timings.total = performance.now() - t0;
      console.log(
        `fuzz-broker: ${judged.length} bodies (${valid.length} valid workflow, ${heartbeats.length} heartbeats, ${invalid.length} invalid), ` +
          `${(judged.reduce((n, j) => n + j.c.body.byteLength, 0) / 1e6).toFixed(1)} MB; ` +
          Object.entries(timings)
            .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
            .join(', '),
      );
    },
    { timeout: 300_000 },
  );

  after(async () => {
    stream?.close();
    await publisher?.close().catch(() => {});
    await relay?.stop();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the classifier agrees with SPEC §2 both ways: a valid msg_type makes a workflow message whatever else the body holds', () => {
    const problems = new Problems();
    for (const j of judged) {
      const got = j.verdict.kind === 'workflow' ? 'workflow' : 'not workflow';
      if (got !== j.spec) problems.add(`SPEC says ${j.spec}, classifier says ${j.verdict.kind === 'rejected' ? `rejected (${j.verdict.reason}: ${j.verdict.detail.slice(0, 80)})` : j.verdict.kind}`, describeCase(j.c));
    }
    problems.assertNone('classifyBody and SPEC §2 disagree');
    // The run must have exercised what issue 13 is about: values of every kind in the read fields.
    const kinds = new Set(valid.flatMap((j) => COLUMN_KEYS.filter((k) => Object.hasOwn(j.exact!, k)).map((k) => valueKind(ownValue(j.exact!, k)))));
    assert.deepEqual([...kinds].sort(), ['array', 'boolean', 'null', 'number', 'object', 'string'], 'valid messages carried every kind of value in their fields');
  });

  test('the relay is still running, answers /healthz and /readyz, and delivered a message sent after everything', async () => {
    assert.ok(relay!.alive(), 'relay process still running');
    const health = await fetch(`${relay!.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`${relay!.url}/readyz`);
    assert.equal(ready.status, 200, `readyz: ${await ready.text()}`);
    const final = relayedEvents().at(-1);
    assert.ok(final, 'the final message was relayed');
    assert.equal(final.event, 'fuzz_final');
    // Error-level log lines would mean something went wrong beyond a rejected body.
    const errors = relay!
      .output()
      .split('\n')
      .filter((line) => /"level":(50|60)/.test(line));
    assert.deepEqual(errors.slice(0, 5), [], `relay logged ${errors.length} error/fatal lines`);
  });

  test('every valid message is stored exactly once, with the payload it was relayed with', () => {
    const byMarker = new Map<string, StoredMessage[]>();
    const unmarked: string[] = [];
    for (const row of stored) {
      const fz = ownValue(JSON.parse(row.content) as object, 'fz');
      if (typeof fz !== 'string') unmarked.push(`id ${row.id}: ${row.content.slice(0, 200)}`);
      else byMarker.set(fz, [...(byMarker.get(fz) ?? []), row]);
    }
    const problems = new Problems();
    for (const j of valid) {
      const rows = byMarker.get(String(j.c.n)) ?? [];
      if (rows.length !== 1) {
        const where = rejected.find((r) => sameBytes(r.body, j.c.body.subarray(0, MAX_BYTES)) && r.bodySize === j.c.body.byteLength);
        problems.add(`valid message stored ${rows.length}×${where ? `; in the rejected store instead (${where.reason}: ${where.detail.slice(0, 100)})` : ''}`, describeCase(j.c));
        continue;
      }
      const row = rows[0]!;
      const diff = payloadProblem(j, row.content, topic);
      if (diff) problems.add(`stored content: ${diff.kind}`, `${diff.detail} in ${describeCase(j.c)}`);
      const column = columnProblem(j, row);
      if (column) problems.add(`column ${column.kind}`, `${column.detail} in ${describeCase(j.c)}`);
      if (row.queueName !== topic) problems.add('queue_name column', `${row.queueName} for ${describeCase(j.c)}`);
      const msgType = ownValue(j.original!, 'msg_type') as string;
      if (row.fields.msgType !== msgType) problems.add('msg_type column differs from the payload’s msg_type', `${printable(row.fields.msgType)} ≠ ${printable(msgType)} for ${describeCase(j.c)}`);
    }
    const validMarkers = new Set(valid.map((j) => String(j.c.n)));
    const extra = [...byMarker.keys()].filter((fz) => fz !== 'final' && !validMarkers.has(fz));
    for (const fz of extra) problems.add('stored but not valid per the oracle', describeCase(judged[Number(fz)]!.c));
    for (const u of unmarked) problems.add('stored without a marker', u);
    problems.assertNone('stored messages');
    assert.equal(stored.length, valid.length + 1, 'stored messages = valid bodies + the final one');
  });

  test('the unfiltered client received exactly the valid messages, in publish order, intact, named by their msg_type', () => {
    const events = relayedEvents();
    const got = events.map((e) => ownValue(tryParse(e.data) ?? {}, 'fz'));
    const want = [...valid.map((j) => String(j.c.n)), 'final'];
    const problems = new Problems();
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      const gotSet = new Set(got);
      const wantSet = new Set(want);
      for (const j of valid) if (!gotSet.has(String(j.c.n))) problems.add('valid message not relayed', describeCase(j.c));
      for (const fz of got) if (!wantSet.has(fz as string)) problems.add('relayed but not valid', typeof fz === 'string' && /^\d+$/.test(fz) ? describeCase(judged[Number(fz)]!.c) : JSON.stringify(fz));
      if (problems.count === 0) problems.add('same messages, different order', `got ${JSON.stringify(got).slice(0, 300)}`);
    }
    const storedById = new Map(stored.map((row) => [row.id, row]));
    const byMarker = new Map(valid.map((j) => [String(j.c.n), j]));
    let lastId = 0n;
    for (const e of events) {
      const payload = tryParse(e.data);
      const j = byMarker.get(ownValue(payload ?? {}, 'fz') as string);
      if (!j || !payload) continue;
      const diff = payloadProblem(j, e.data, topic);
      if (diff) problems.add(`relayed payload: ${diff.kind}`, `${diff.detail} in ${describeCase(j.c)}`);
      // SPEC §3: the event is the msg_type, or `message` when that is unusable as an event name
      // (one of the relay's own names, or a string UTF-8 cannot carry: lone surrogates).
      const msgType = ownValue(j.original!, 'msg_type') as string;
      const names = RELAY_EVENTS.has(msgType) ? ['message'] : wellFormed(msgType) !== msgType ? [msgType, 'message'] : [msgType];
      if (!names.includes(e.event)) problems.add('event name is neither the msg_type nor `message`', `${printable(e.event)} for msg_type ${printable(msgType)} in ${describeCase(j.c)}`);
      if (e.id === undefined || !/^[1-9][0-9]*$/.test(e.id) || BigInt(e.id) <= lastId) problems.add('id missing or not increasing', `${e.id} for ${describeCase(j.c)}`);
      else lastId = BigInt(e.id);
      if (e.id !== undefined && storedById.get(e.id)?.content !== e.data) problems.add('data differs from the stored content', `id ${e.id}: ${describeCase(j.c)}`);
    }
    problems.assertNone('relayed events');
    assert.equal(events.length, valid.length + 1);
  });

  test('every invalid body is in the rejected store (truncated to the limit) with the oracle’s reason, and nothing else is', async () => {
    const pool = new Map<string, StoredRejected[]>();
    for (const row of rejected) {
      const key = bodyKey(row.body, row.bodySize);
      pool.set(key, [...(pool.get(key) ?? []), row]);
    }
    const problems = new Problems();
    const reasons: Record<string, number> = {};
    for (const j of invalid) {
      const verdict = j.verdict as Extract<Classified, { kind: 'rejected' }>;
      reasons[verdict.reason] = (reasons[verdict.reason] ?? 0) + 1;
      const truncated = j.c.body.subarray(0, MAX_BYTES);
      const row = pool.get(bodyKey(truncated, j.c.body.byteLength))?.shift();
      if (!row) {
        problems.add(`invalid body missing from the rejected store (oracle: ${verdict.reason})`, describeCase(j.c));
        continue;
      }
      if (row.reason !== verdict.reason) problems.add(`reason ${row.reason}, oracle says ${verdict.reason}`, describeCase(j.c));
      if (row.truncated !== j.c.body.byteLength > MAX_BYTES) problems.add('truncated flag wrong', `${row.truncated} for ${describeCase(j.c)}`);
      if (row.queueName !== topic) problems.add('queue_name', `${row.queueName} for ${describeCase(j.c)}`);
      if (typeof (JSON.parse(row.headers) as Record<string, unknown>)['message-id'] !== 'string') problems.add('no message-id header kept', describeCase(j.c));
      if (row.detail.length === 0) problems.add('empty detail', describeCase(j.c));
    }
    for (const rows of pool.values()) {
      for (const row of rows) {
        const j = judged.find((x) => row.bodySize === x.c.body.byteLength && sameBytes(row.body, x.c.body.subarray(0, MAX_BYTES)));
        problems.add(`rejected (${row.reason}: ${row.detail.slice(0, 100)}) although the oracle says ${j ? j.verdict.kind : 'nothing (unknown body)'}`, j ? describeCase(j.c) : `${row.bodySize} B`);
      }
    }
    // The rejected counter agrees, reason by reason.
    const metrics = await (await fetch(`${relay!.url}/metrics`)).text();
    const counted: Record<string, number> = {};
    for (const m of metrics.matchAll(/^swf_relay_messages_rejected_total\{([^}]*)\} (\d+)$/gm)) {
      const reason = /(?:^|,)reason="([^"]*)"/.exec(m[1]!)?.[1];
      if (reason !== undefined && Number(m[2]) > 0) counted[reason] = (counted[reason] ?? 0) + Number(m[2]);
    }
    if (Object.keys(counted).length === 0) problems.add('no swf_relay_messages_rejected_total in /metrics', metrics.slice(0, 300));
    for (const reason of new Set([...Object.keys(counted), ...Object.keys(reasons)])) {
      if (counted[reason] !== reasons[reason]) problems.add('swf_relay_messages_rejected_total differs from the oracle', `${reason}: counted ${counted[reason] ?? 0}, oracle ${reasons[reason] ?? 0}`);
    }
    problems.assertNone('rejected store');
    assert.equal(rejected.length, invalid.length, 'one rejected row per invalid body');
  });

  test('valid agent heartbeats are kept (agents upserted), never rejected, never sent to the unfiltered client', () => {
    // Names with lone surrogates are left out here: how text columns keep those is checked once, on msg_type.
    const names = new Set(agentNames);
    const problems = new Problems();
    for (const j of heartbeats) {
      const name = String(ownValue(j.original!, 'agent_name'));
      if (wellFormed(name) === name && !names.has(name)) problems.add('valid heartbeat whose agent is not in the store', describeCase(j.c));
    }
    problems.assertNone('heartbeats');
    assert.ok(!relayedEvents().some((e) => e.event === 'agent_status'), 'no agent_status event without asking for it');
  });

  test('no SSE frame was split or injected: the raw stream is exactly id/event/data blocks of one JSON line each, the first with retry', () => {
    assert.equal(sseUtf8Error, null, 'the stream is valid UTF-8');
    assert.ok(!sseText.includes('\r'), `no CR anywhere in the stream (at ${sseText.indexOf('\r')}: ${JSON.stringify(sseText.slice(Math.max(0, sseText.indexOf('\r') - 100), sseText.indexOf('\r') + 100))})`);
    const complete = sseText.slice(0, sseText.lastIndexOf('\n\n') + 2);
    const blocks = complete.slice(0, -2).split('\n\n');
    const problems = new Problems();
    // retry: shares the first block with the connected event; a block of its own would carry no data.
    const opening = 'retry: 3000\nevent: connected\n';
    if (!blocks[0]?.startsWith(opening)) problems.add('first block is not retry + connected', printable(blocks[0] ?? ''));
    else blocks[0] = blocks[0].slice('retry: 3000\n'.length);
    const fromBlocks: { id?: string; event: string; data: string }[] = [];
    for (const [i, block] of blocks.entries()) {
      const lines = block.split('\n');
      const hasId = lines[0]?.startsWith('id: ') === true;
      const [eventLine, dataLine] = lines.slice(hasId ? 1 : 0);
      const shapeOk = lines.length === (hasId ? 3 : 2) && eventLine?.startsWith('event: ') && dataLine?.startsWith('data: ');
      if (!shapeOk) {
        problems.add('block is not [id] event data', `block ${i}: ${printable(block.slice(0, 300))}`);
        continue;
      }
      const event = eventLine!.slice('event: '.length);
      const data = dataLine!.slice('data: '.length);
      if (tryParse(data, true) === undefined) problems.add('data is not one JSON value', `block ${i}: ${printable(data.slice(0, 200))}`);
      const control = event === 'connected' || event === 'heartbeat';
      if (control === hasId) problems.add(control ? 'control event with an id' : 'relayed event without an id', `block ${i}: ${printable(block.slice(0, 200))}`);
      if (!control && !hasId) continue;
      fromBlocks.push({ ...(hasId && { id: lines[0]!.slice(4) }), event, data });
    }
    problems.assertNone('SSE blocks');
    // A standard parser (HTML spec: CR, LF and CRLF all end lines) sees the very same events.
    const parsed = parseSse(complete);
    assert.deepEqual(
      parsed.map((e) => [e.id ?? null, e.event, e.data]),
      fromBlocks.map((e) => [e.id ?? null, e.event, e.data]),
      'a standard SSE parser sees exactly the blocks',
    );
    const names = fromBlocks.map((e) => e.event);
    assert.equal(names.filter((n) => n === 'connected').length, 1, 'one connected event');
    assert.ok(!names.some((n) => n === 'gap' || n === 'shutdown'), 'no gap or shutdown');
    assert.equal(
      fromBlocks.filter((e) => !RELAY_EVENTS.has(e.event)).length,
      valid.length + 1,
      'one relayed event per valid message (+ the final one); which ones are missing or extra: see the "exactly the valid messages" test',
    );
    assert.ok(!names.includes('injected') && !fromBlocks.some((e) => e.data === '{"injected":true}' || e.data === '{}'), 'no injected frame');
  });

  test('the history API serves every stored message as stored; its items have exactly the documented keys', async () => {
    const problems = new Problems();
    const seen: string[] = [];
    const storedById = new Map(stored.map((row) => [row.id, row]));
    let next: string | null = '/api/messages/?after_id=0&limit=1000';
    while (next) {
      const res = await fetch(`${relay!.url}${next}`, { headers: { Authorization: `Token ${token}` } });
      if (res.status !== 200) {
        problems.add(`GET answered ${res.status}`, `${next}: ${(await res.text()).slice(0, 300)}`);
        break;
      }
      // Parsed losslessly: a history API that re-encodes contents through JS numbers would show here.
      const page = parseLosslessObject(await res.text()) as { results: Record<string, unknown>[]; next: string | null };
      for (const item of page.results) {
        const id = String(item.id);
        seen.push(id);
        if (JSON.stringify(Object.keys(item)) !== JSON.stringify(HISTORY_KEYS)) problems.add('item keys differ', `id ${id}: ${JSON.stringify(Object.keys(item))}`);
        const row = storedById.get(id);
        const diff = row ? jsonDiff(parseLossless(row.content), item.message) : { path: '$', change: 'not in the store' };
        if (diff) problems.add(`message differs from the store (${diff.change})`, `id ${id} at ${diff.path}`);
      }
      next = page.next;
    }
    problems.assertNone('history API');
    assert.deepEqual(seen, stored.map((row) => row.id));
  });

  test('no prototype polluted in the test process; the relay process behaves as unpolluted (checked indirectly, over HTTP)', async () => {
    // This process: every body was decoded, parsed and compared here.
    assert.deepEqual(protoKeys(), PROTO_KEYS_BEFORE, 'no new keys on the built-in prototypes');
    assert.equal(Object.prototype.toString, OBJECT_TO_STRING);
    const probe: Record<string, unknown> = {};
    for (const key of ['sender', 'recipient', 'namespace', 'msg_type', 'polluted', 'isAdmin', 'fz', 'a', 'b']) assert.equal(probe[key], undefined, `({}).${key}`);

    // The relay process cannot be inspected from here; these checks catch pollution by its effects.
    // 1. enrichWorkflow reads `payload.sender ?? null`: a polluted Object.prototype.sender would show on the final message.
    const final = tryParse(relayedEvents().at(-1)!.data)!;
    assert.deepEqual(Object.keys(final), ['msg_type', 'fz', ...ENRICH_KEYS], 'final message: no inherited keys came along');
    assert.equal(final.sender_agent, null);
    assert.equal(final.recipient_agent, null);
    assert.equal(final.namespace, null);
    // 2. History items are built as object literals: exactly the documented keys, nothing inherited or polluted.
    const res = await fetch(`${relay!.url}/api/messages/?limit=5`, { headers: { Authorization: `Token ${token}` } });
    assert.equal(res.status, 200);
    const page = (await res.json()) as { results: Record<string, unknown>[] };
    assert.equal(page.results.length, Math.min(5, stored.length));
    const newest = page.results[0]!;
    assert.deepEqual(Object.keys(newest), HISTORY_KEYS);
    assert.equal(newest.msg_type, 'fuzz_final');
    assert.equal(newest.sender_agent, null);
    assert.deepEqual(Object.keys(newest.message as object), ['msg_type', 'fz', ...ENRICH_KEYS]);
    // 3. The status, agents and filter-parsing paths: no polluted value anywhere, filters still parsed from scratch.
    const status = await fetch(`${relay!.url}/api/messages/stream/status/`, { headers: { Authorization: `Token ${token}` } });
    assert.equal(status.status, 200);
    const statusText = await status.text();
    assert.ok(!statusText.includes(POLLUTION_MARK), 'status shows no polluted value');
    const agents = await fetch(`${relay!.url}/api/agents/`, { headers: { Authorization: `Token ${token}` } });
    assert.equal(agents.status, 200);
    assert.ok(!(await agents.text()).includes(POLLUTION_MARK), 'agents show no polluted value');
    const filtered = await fetch(`${relay!.url}/api/messages/?msg_types=fuzz_final&limit=5`, { headers: { Authorization: `Token ${token}` } });
    assert.equal(filtered.status, 200);
    assert.deepEqual(((await filtered.json()) as { results: { msg_type: string }[] }).results.map((r) => r.msg_type), ['fuzz_final']);
  });

  // ------------------------------------------------------------ helpers using the run's state

  /** Relayed (non-control) events of the unfiltered client, parsed by the standard parser. */
  function relayedEvents() {
    const complete = sseText.slice(0, sseText.lastIndexOf('\n\n') + 2);
    return parseSse(complete).filter((e) => !RELAY_EVENTS.has(e.event));
  }
});

// ------------------------------------------------------------------ pure helpers

/** The oracle's verdict on one body, this file's SPEC reading, and the body as JSON.parse (and the lossless parser) see it. */
function judge(c: FuzzCase): Judged {
  const verdict = classifyBody(c.body, MAX_BYTES);
  const spec = specKind(c.body);
  if (verdict.kind === 'rejected') return { c, verdict, spec };
  // Decoded and parsed here, not taken from the classifier (BOM stripped, as a UTF-8 decoder does).
  const text = new TextDecoder('utf-8', { fatal: true }).decode(c.body);
  const original = JSON.parse(text) as Record<string, unknown>;
  if (verdict.kind !== 'workflow') return { c, verdict, spec, original };
  return { c, verdict, spec, original, exact: parseLosslessObject(text), text };
}

/**
 * SPEC §2 read independently of src/model/message.ts: a JSON object within the size limit, in
 * UTF-8, with an own msg_type that is a non-empty string of at most 100 characters (code
 * points) without control characters (Unicode Cc); plus the two documented extra rules (no lone
 * surrogate in msg_type, at most MAX_NESTING levels). Nothing about any other key.
 */
function specKind(body: Uint8Array): Judged['spec'] {
  if (body.byteLength === 0 || body.byteLength > MAX_BYTES) return 'not workflow';
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    return 'not workflow';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, 'msg_type')) return 'not workflow';
  const t = ownValue(value, 'msg_type');
  if (typeof t !== 'string' || t === '' || [...t].length > 100 || SPEC_CONTROL.test(t) || wellFormed(t) !== t) return 'not workflow';
  return nesting(value) <= MAX_NESTING ? 'workflow' : 'not workflow';
}

/** Levels of arrays and objects in a parsed value (1 for a flat object); iterative. */
function nesting(root: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    max = Math.max(max, depth);
    for (const key of Object.keys(v)) stack.push([ownValue(v, key), depth + 1]);
  }
  return max;
}

/** The kind of a JSON value, numbers kept as JsonNumber. */
function valueKind(v: unknown): string {
  return v === null ? 'null' : v instanceof JsonNumber ? 'number' : Array.isArray(v) ? 'array' : typeof v;
}

/**
 * SPEC §2 for the columns: a string or number is taken as its text, anything else as null. Text
 * a column cannot hold (NUL, lone surrogates, over 200 characters in a filtered column) is null
 * (README, Decisions); an integer a double holds exactly is its digits (100042.0 → "100042").
 */
function expectedColumn(v: unknown, filtered: boolean): string | null {
  let text: string;
  if (typeof v === 'string') text = v;
  else if (v instanceof JsonNumber) text = Number.isSafeInteger(Number(v.text)) ? String(Number(v.text)) : v.text;
  else return null;
  return text.includes('\u0000') || wellFormed(text) !== text || (filtered && text.length > 200) ? null : text;
}

/** The body keys each stored column is read from (SPEC §2, §8) and whether a filter reads it. */
const COLUMN_KEYS = ['run_id', 'execution_id', 'filename', 'sender', 'recipient', 'namespace', 'processed_by'] as const;

/** What is wrong with the stored columns of valid body `j`, or null. */
function columnProblem(j: Judged, row: StoredMessage): { kind: string; detail: string } | null {
  const v = (key: string) => (Object.hasOwn(j.exact!, key) ? ownValue(j.exact!, key) : null);
  const want: [string, string | null, string | null][] = [
    ['run_id', row.fields.runId, expectedColumn(v('run_id'), true)],
    ['execution_id', row.fields.executionId, expectedColumn(v('execution_id'), false)],
    ['filename', row.fields.filename, expectedColumn(v('filename'), false)],
    ['sender_agent', row.fields.senderAgent, expectedColumn(Object.hasOwn(j.exact!, 'sender_agent') ? v('sender_agent') : v('sender'), true)],
    ['recipient_agent', row.fields.recipientAgent, expectedColumn(Object.hasOwn(j.exact!, 'recipient_agent') ? v('recipient_agent') : v('recipient'), false)],
    ['namespace', row.fields.namespace, expectedColumn(v('namespace'), true)],
    ['processed_by', row.fields.processedBy, expectedColumn(v('processed_by'), true)],
  ];
  for (const [name, got, expected] of want) if (got !== expected) return { kind: name, detail: `${describeValue(got)}, expected ${describeValue(expected)}` };
  return null;
}

/**
 * `text` without whitespace between tokens, read here independently of src/model/json-text.ts:
 * the tokens are strings and runs of anything that is neither whitespace nor a quote.
 */
function compactText(text: string): string {
  return (text.match(/"(?:[^"\\]|\\[\s\S])*"|[^\s"]+/g) ?? []).join('');
}

/**
 * What is wrong with a relayed/stored content of valid body `j`, or null: the received text
 * (on one line: as received, or without whitespace between tokens when it had line breaks) with
 * only the enrichment keys spliced in before its final brace; every original key kept with a
 * losslessly equal value (compared as own properties, so `__proto__` is a key like any other;
 * numbers by their digits), and the enrichment with SPEC §2 values.
 */
function payloadProblem(j: Judged, content: string, topic: string): { kind: string; detail: string } | null {
  const original = j.exact!;
  const text = j.text!;
  const line = /[\r\n]/.test(text) ? compactText(text) : text.trim();
  if (!content.startsWith(line.slice(0, -1)) || !content.endsWith('}')) return { kind: 'not the received text', detail: printable(content.slice(0, 120)) };
  let payload: Record<string, unknown>;
  try {
    payload = parseLosslessObject(content);
  } catch (err) {
    return { kind: 'not JSON', detail: (err as Error).message.slice(0, 120) };
  }
  for (const key of Object.keys(original)) {
    if (!Object.hasOwn(payload, key)) return { kind: 'a key of the original is lost', detail: printable(key) };
    const diff = jsonDiff(ownValue(original, key), ownValue(payload, key));
    if (diff) return { kind: `a value of the original changed (${diff.change})`, detail: `key ${printable(key)} at ${diff.path}` };
  }
  const added = Object.keys(payload).filter((k) => !Object.hasOwn(original, k));
  const unexpected = added.filter((k) => !ENRICH_KEYS.includes(k));
  if (unexpected.length > 0) return { kind: 'keys added beyond the enrichment', detail: printable(JSON.stringify(unexpected)) };
  const missing = ENRICH_KEYS.filter((k) => !Object.hasOwn(payload, k));
  if (missing.length > 0) return { kind: 'enrichment missing', detail: JSON.stringify(missing) };
  const expect: Record<string, unknown> = {
    sender_agent: Object.hasOwn(original, 'sender') ? ownValue(original, 'sender') : null,
    recipient_agent: Object.hasOwn(original, 'recipient') ? ownValue(original, 'recipient') : null,
    namespace: null,
    queue_name: topic,
  };
  for (const key of added) {
    const value = ownValue(payload, key);
    if (key === 'sent_at') {
      if (typeof value !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(value)) return { kind: 'sent_at not an ISO time', detail: printable(String(value)) };
    } else if (jsonDiff(expect[key], value)) return { kind: `enrichment ${key} wrong`, detail: `${describeValue(value)}, expected ${describeValue(expect[key])}` };
  }
  return null;
}

/**
 * Where two JSON values differ (a path), or null when equal. Iterative (10,000 levels deep is
 * fine), own properties only, numbers by value (so 1e400 → Infinity ≠ null is a difference).
 */
function jsonDiff(a: unknown, b: unknown): { path: string; change: string } | null {
  type Frame = { a: unknown; b: unknown; key: string; parent: Frame | null };
  const path = (f: Frame) => {
    const keys: string[] = [];
    for (let p: Frame | null = f; p; p = p.parent) keys.push(p.key);
    const full = keys.reverse().join('');
    return full.length > 200 ? `${full.slice(0, 80)}…(${keys.length} levels)…${full.slice(-80)}` : full || '$';
  };
  const stack: Frame[] = [{ a, b, key: '', parent: null }];
  while (stack.length > 0) {
    const f = stack.pop()!;
    const { a: x, b: y } = f;
    if (x === null || y === null || typeof x !== 'object' || typeof y !== 'object') {
      if (x !== y) return { path: path(f), change: `${describeValue(x)} → ${describeValue(y)}` };
      continue;
    }
    if (Array.isArray(x) !== Array.isArray(y)) return { path: path(f), change: Array.isArray(x) ? 'array → object' : 'object → array' };
    if (Array.isArray(x)) {
      const ys = y as unknown[];
      if (x.length !== ys.length) return { path: path(f), change: `array length ${x.length} → ${ys.length}` };
      for (let i = 0; i < x.length; i++) stack.push({ a: x[i], b: ys[i], key: `[${i}]`, parent: f });
      continue;
    }
    const xk = Object.keys(x);
    const yk = Object.keys(y);
    if (xk.length !== yk.length) return { path: path(f), change: `keys ${printable(JSON.stringify(xk).slice(0, 100))} → ${printable(JSON.stringify(yk).slice(0, 100))}` };
    for (const k of xk) {
      if (!Object.hasOwn(y, k)) return { path: path(f), change: `key ${printable(k)} lost` };
      stack.push({ a: ownValue(x, k), b: ownValue(y, k), key: `.${printable(k)}`, parent: f });
    }
  }
  return null;
}

function describeValue(v: unknown): string {
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  return JSON.stringify(v)?.slice(0, 60) ?? String(v);
}

/** An own property's value, whatever its name (`__proto__` included). */
function ownValue(obj: object, key: string): unknown {
  return Object.getOwnPropertyDescriptor(obj, key)?.value;
}

/** JSON.parse, or undefined; objects only unless `any`. */
function tryParse(text: string, any = false): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return any || (v !== null && typeof v === 'object' && !Array.isArray(v)) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** `s` with lone surrogates replaced by U+FFFD (String.prototype.toWellFormed, which lib es2023 does not declare). */
function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function bodyKey(body: Uint8Array, size: number): string {
  return `${createHash('sha256').update(body).digest('hex')}:${size}`;
}

/** `#n [category] label — size, start of the body` for failure messages. */
function describeCase(c: FuzzCase): string {
  const preview = printable(Buffer.from(c.body.subarray(0, 100)).toString('utf8'));
  return `#${c.n} [${c.category}${c.fixed ? ', fixed' : ''}] ${printable(c.label.slice(0, 80)).slice(1, -1)} — ${c.body.byteLength} B ${preview}${c.body.byteLength > 100 ? '…' : ''}`;
}

/** A string as a JSON literal with every invisible or line-breaking character escaped (C1 controls, DEL, U+2028/9, BOM too). */
function printable(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\u009f\u2028\u2029\ufeff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Problems grouped by kind: a failure names each kind with its count and a few examples. */
class Problems {
  private readonly byKind = new Map<string, string[]>();

  add(kind: string, example: string): void {
    const list = this.byKind.get(kind) ?? [];
    list.push(example);
    this.byKind.set(kind, list);
  }

  get count(): number {
    return [...this.byKind.values()].reduce((n, list) => n + list.length, 0);
  }

  assertNone(what: string): void {
    if (this.count === 0) return;
    const parts = [...this.byKind.entries()].map(
      ([kind, list]) => `• ${kind}: ${list.length}×\n${list.slice(0, 4).map((e) => `    ${e}`).join('\n')}${list.length > 4 ? `\n    … ${list.length - 4} more` : ''}`,
    );
    assert.fail(`${what}: ${this.count} problems of ${this.byKind.size} kinds (replay: ${REPLAY})\n${parts.join('\n')}`);
  }
}

/** Category × oracle outcome, printed so the run says how many inputs of each kind it tried. */
function printCounts(all: Judged[]): void {
  const table = new Map<string, Map<string, number>>();
  for (const j of all) {
    const outcome = j.verdict.kind === 'rejected' ? `rejected:${j.verdict.reason}` : j.verdict.kind;
    const row = table.get(j.c.category) ?? new Map<string, number>();
    row.set(outcome, (row.get(outcome) ?? 0) + 1);
    table.set(j.c.category, row);
  }
  const lines = [...table.entries()].map(([category, row]) => {
    const total = [...row.values()].reduce((a, b) => a + b, 0);
    return `  ${category.padEnd(15)} ${String(total).padStart(5)}  ${[...row.entries()].map(([k, v]) => `${k}=${v}`).join(' ')}`;
  });
  console.log(`fuzz-broker: inputs by category (fixed corpus: ${all.filter((j) => j.c.fixed).length}):\n${lines.join('\n')}`);
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what())), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** An SSE response kept as raw bytes (no decoding on the way), with two waits. */
interface RawStream {
  readonly status: number;
  readonly chunks: Buffer[];
  /** Resolves once `event: connected` arrived. */
  readonly connected: Promise<void>;
  /** Resolves once the final message's marker arrived. */
  readonly sawFinal: Promise<void>;
  close(): void;
}

function openRawStream(url: string, token: string): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { accept: 'text/event-stream', authorization: `Token ${token}` } });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let tail = '';
      let onConnected!: () => void;
      let onFinal!: () => void;
      let fail!: (err: Error) => void;
      const connected = new Promise<void>((r, j) => ((onConnected = r), (fail = j)));
      let failFinal!: (err: Error) => void;
      const sawFinal = new Promise<void>((r, j) => ((onFinal = r), (failFinal = j)));
      sawFinal.catch(() => {}); // observed later, or not at all when an earlier step failed
      connected.catch(() => {});
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        // Markers are ASCII: latin1 keeps bytes 1:1, and the tail catches a marker split across chunks.
        const text = tail + chunk.toString('latin1');
        if (text.includes('event: connected\n')) onConnected();
        if (text.includes(FINAL_NEEDLE)) onFinal();
        tail = text.slice(-64);
      });
      const ended = () => {
        fail(new Error('SSE stream ended before connected'));
        failFinal(new Error(`SSE stream ended before the final message; last bytes: ${JSON.stringify(Buffer.concat(chunks).subarray(-2000).toString('utf8'))}`));
      };
      res.on('end', ended);
      res.on('close', ended);
      res.on('error', ended);
      resolve({ status: res.statusCode ?? 0, chunks, connected, sawFinal, close: () => req.destroy() });
    });
  });
}
