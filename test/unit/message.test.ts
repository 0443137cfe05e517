import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AGENT_STATUS,
  RESERVED_EVENT_NAMES,
  MAX_DEPTH,
  classifyBody,
  classifyText,
  enrichHeartbeat,
  enrichWorkflow,
  eventNameFor,
  type Classified,
  type RejectReason,
  type WorkflowFields,
} from '../../src/model/message.js';
import { bigBody, readBadBodies, readHeartbeatFixtures, readWorkflowFixtures } from '../helpers/fixtures.js';

/** SPEC default size limit (MESSAGE_MAX_BYTES). */
const MAX = 1_048_576;

const utf8 = (s: string) => Buffer.from(s, 'utf8');

function asWorkflow(c: Classified): Extract<Classified, { kind: 'workflow' }> {
  assert.equal(c.kind, 'workflow', `expected a workflow message, got ${JSON.stringify(c)}`);
  return c as Extract<Classified, { kind: 'workflow' }>;
}

function rejectedReason(c: Classified): RejectReason | undefined {
  return c.kind === 'rejected' ? c.reason : undefined;
}

/** Fields with every column null, overridden by `f`. */
function fields(f: Partial<WorkflowFields> & { msgType: string }): WorkflowFields {
  return { runId: null, executionId: null, filename: null, senderAgent: null, recipientAgent: null, namespace: null, processedBy: null, ...f };
}

const EXEC = 'stf-exec-20261127-01';
const DAQ = 'daqsim-agent-torre-7';

/** The expected columns of each line of workflow-messages.jsonl, in file order. */
const WORKFLOW_EXPECTED: WorkflowFields[] = [
  fields({ msgType: 'run_imminent', runId: '100042', executionId: EXEC, namespace: 'torre-dev', senderAgent: DAQ }),
  fields({ msgType: 'start_run', runId: '100042', executionId: EXEC, namespace: 'torre-dev', senderAgent: DAQ }),
  fields({ msgType: 'stf_gen', runId: '100042', executionId: EXEC, namespace: 'torre-dev', senderAgent: DAQ, filename: 'swf.100042.000001.stf' }),
  fields({ msgType: 'stf_gen', runId: '100042', executionId: EXEC, namespace: 'torre-dev', senderAgent: DAQ, filename: 'swf.100042.000002.stf' }),
  fields({
    msgType: 'data_ready',
    runId: '100042',
    executionId: EXEC,
    namespace: 'torre-dev',
    senderAgent: 'data-agent-torre-3',
    recipientAgent: 'processing-agent-torre-2',
    filename: 'swf.100042.000001.stf',
    processedBy: 'data-agent-torre-3',
  }),
  fields({
    msgType: 'processing_complete',
    runId: '100042',
    namespace: 'torre-dev',
    senderAgent: 'processing-agent-torre-2',
    processedBy: 'processing-agent-torre-2',
    filename: 'swf.100042.000001.stf',
  }),
  fields({ msgType: 'pause_run', runId: '100042', namespace: 'torre-dev', senderAgent: DAQ }),
  fields({ msgType: 'resume_run', runId: '100042', namespace: 'torre-dev', senderAgent: DAQ }),
  fields({ msgType: 'end_run', runId: '100042', executionId: EXEC, namespace: 'torre-dev', senderAgent: DAQ }),
  fields({ msgType: 'sse_test', runId: 'test-run-001', processedBy: 'sse_sender-agent-wenaus-1' }),
  fields({ msgType: 'payload_log_ready', namespace: 'epicprod', senderAgent: 'epicprod-ops-agent' }),
  fields({ msgType: 'prodtask_submitted', namespace: 'epicprod', senderAgent: 'epicprod-ops-agent' }),
  fields({ msgType: 'stf_gen', runId: '100043', namespace: 'other-user', senderAgent: 'daqsim-agent-kim-1', filename: 'swf.100043.000001.stf' }),
  fields({ msgType: 'stf_gen', runId: '100044', namespace: 'ünïcode-ns', senderAgent: 'agent-日本-1', filename: 'データ.stf' }),
];

/** The reason each line of bad-bodies.txt must be rejected with. */
const BAD_EXPECTED: Record<string, RejectReason> = {
  '[2026-11-27 14:00:00] Hello from producer!': 'bad_json',
  '<EMPTY>': 'empty',
  null: 'not_object',
  '42': 'not_object',
  '"just a string"': 'not_object',
  '[1,2,3]': 'not_object',
  '{"msg_type":': 'bad_json',
  '{"msg_type": 17}': 'invalid_workflow',
  '{"msg_type": ""}': 'invalid_workflow',
  '{"no_type_here": true}': 'unknown_kind',
  '{"msg_type":"stf_gen","run_id":{"nested":"object"}}': 'invalid_workflow',
  '<BIG:2000000>': 'too_large',
  '<BADUTF8>': 'bad_utf8',
  '{"msg_type":"a\\u0000b"}': 'invalid_workflow',
  '{"msg_type":"x\\nevent: injected\\ndata: {}"}': 'invalid_workflow',
};

/** Placeholders that only make sense as bytes (classifyText never sees them). */
const BYTE_LEVEL = new Set(['<EMPTY>', '<BIG:2000000>', '<BADUTF8>']);

describe('classifyBody / classifyText: fixtures', () => {
  const workflow = readWorkflowFixtures();

  it('has one expectation per workflow fixture line', () => {
    assert.equal(workflow.length, WORKFLOW_EXPECTED.length);
  });

  workflow.forEach((line, n) => {
    it(`workflow line ${n + 1} (${WORKFLOW_EXPECTED[n]?.msgType}) is a workflow message with the right fields`, () => {
      const c = asWorkflow(classifyBody(utf8(line), MAX));
      assert.deepEqual(c.fields, WORKFLOW_EXPECTED[n]);
      assert.deepEqual(c.payload, JSON.parse(line));
      assert.deepEqual(classifyText(line), c);
    });
  });

  it('keeps a numeric run_id numeric in the payload but gives it as a string in the fields', () => {
    const c = asWorkflow(classifyBody(utf8(workflow[2]!), MAX));
    assert.equal(c.payload.run_id, 100042);
    assert.equal(c.fields.runId, '100042');
  });

  const HB_EXPECTED = [
    { agentName: 'daqsim-agent-torre-7', status: 'OK', agentType: 'daqsim', namespace: 'torre-dev' },
    { agentName: 'data-agent-torre-3', status: 'WARNING', agentType: 'data', namespace: null },
    { agentName: 'processing-agent-torre-2', status: 'EXITED', agentType: null, namespace: null },
  ];
  const heartbeats = readHeartbeatFixtures();

  it('has one expectation per heartbeat fixture line', () => {
    assert.equal(heartbeats.length, HB_EXPECTED.length);
  });

  heartbeats.forEach((line, n) => {
    it(`heartbeat line ${n + 1} is a heartbeat with the right fields`, () => {
      const c = classifyBody(utf8(line), MAX);
      assert.equal(c.kind, 'heartbeat');
      assert.ok(c.kind === 'heartbeat');
      assert.deepEqual(c.fields, HB_EXPECTED[n]);
      assert.deepEqual(c.payload, JSON.parse(line));
      assert.deepEqual(classifyText(line), c);
    });
  });

  const bad = readBadBodies();

  it('maps every bad-bodies line, and only those, to a reason', () => {
    assert.deepEqual(bad.map((b) => b.label).sort(), Object.keys(BAD_EXPECTED).sort());
  });

  for (const { label, body } of bad) {
    it(`rejects ${JSON.stringify(label)} as ${BAD_EXPECTED[label]}`, () => {
      const c = classifyBody(body, MAX);
      assert.equal(c.kind, 'rejected');
      assert.equal(rejectedReason(c), BAD_EXPECTED[label]);
      assert.ok(c.kind === 'rejected' && c.detail.length > 0, 'a rejection carries a detail');
      if (!BYTE_LEVEL.has(label)) assert.equal(rejectedReason(classifyText(label)), BAD_EXPECTED[label]);
    });
  }

  it('expands the placeholders to the bodies the fixtures README describes', () => {
    const byLabel = new Map(bad.map((b) => [b.label, b.body]));
    assert.equal(byLabel.get('<EMPTY>')!.byteLength, 0);
    const big = byLabel.get('<BIG:2000000>')!;
    assert.equal(big.byteLength, 2_000_000);
    assert.equal(asWorkflow(classifyBody(big, 2_000_000)).fields.msgType, 'big', 'the big body is a valid message apart from its size');
    const badUtf8 = Buffer.from(byLabel.get('<BADUTF8>')!);
    assert.notEqual(badUtf8.indexOf(Buffer.from([0xc3, 0x28])), -1);
    assert.equal(asWorkflow(classifyText(badUtf8.toString('latin1'))).fields.msgType, 'stf_gen', 'only the UTF-8 is wrong');
  });
});

describe('classifyBody: size limit', () => {
  it('accepts a body of exactly the limit and rejects one byte more as too_large', () => {
    assert.equal(classifyBody(bigBody(MAX), MAX).kind, 'workflow');
    assert.equal(rejectedReason(classifyBody(bigBody(MAX + 1), MAX)), 'too_large');
  });

  it('counts bytes, not characters', () => {
    const body = utf8(`{"msg_type":"é${'x'.repeat(10)}"}`); // 'é' is two bytes
    assert.equal(classifyBody(body, body.byteLength).kind, 'workflow');
    assert.equal(rejectedReason(classifyBody(body, body.byteLength - 1)), 'too_large');
  });

  it('accepts a body that starts with a UTF-8 byte-order mark (the decoder strips it)', () => {
    const c = classifyBody(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8('{"msg_type":"a"}')]), MAX);
    assert.equal(asWorkflow(c).fields.msgType, 'a');
  });
});

describe('classify: kinds', () => {
  it('a body with msg_type is a workflow message even when it also looks like a heartbeat', () => {
    assert.equal(classifyText('{"msg_type":"x","agent_name":"a","status":"OK"}').kind, 'workflow');
  });

  it('agent_name without status (or status without agent_name) is unknown_kind', () => {
    assert.equal(rejectedReason(classifyText('{"agent_name":"a"}')), 'unknown_kind');
    assert.equal(rejectedReason(classifyText('{"status":"OK"}')), 'unknown_kind');
  });

  it('a heartbeat with a non-string status or a newline in agent_name is invalid_heartbeat', () => {
    assert.equal(rejectedReason(classifyText('{"agent_name":"a","status":3}')), 'invalid_heartbeat');
    assert.equal(rejectedReason(classifyText('{"agent_name":"a\\nb","status":"OK"}')), 'invalid_heartbeat');
    assert.equal(rejectedReason(classifyText('{"agent_name":"","status":"OK"}')), 'invalid_heartbeat');
  });

  it('a msg_type inherited through a "__proto__" key does not count', () => {
    assert.equal(rejectedReason(classifyText('{"__proto__":{"msg_type":"evil"}}')), 'unknown_kind');
    assert.equal(rejectedReason(classifyText('{"agent_name":"a","__proto__":{"status":"OK"}}')), 'unknown_kind');
  });
});

describe('classify: workflow validation limits', () => {
  const wf = (obj: Record<string, unknown>) => classifyText(JSON.stringify(obj));

  it('msg_type: 100 characters accepted, 101 rejected', () => {
    assert.equal(asWorkflow(wf({ msg_type: 'm'.repeat(100) })).fields.msgType, 'm'.repeat(100));
    assert.equal(rejectedReason(wf({ msg_type: 'm'.repeat(101) })), 'invalid_workflow');
  });

  for (const field of ['run_id', 'execution_id', 'namespace', 'sender', 'recipient', 'processed_by']) {
    it(`${field}: 200 characters accepted, 201 rejected; number accepted; object, array and boolean rejected`, () => {
      assert.equal(wf({ msg_type: 't', [field]: 'v'.repeat(200) }).kind, 'workflow');
      assert.equal(rejectedReason(wf({ msg_type: 't', [field]: 'v'.repeat(201) })), 'invalid_workflow');
      assert.equal(wf({ msg_type: 't', [field]: 7 }).kind, 'workflow');
      assert.equal(rejectedReason(wf({ msg_type: 't', [field]: { a: 1 } })), 'invalid_workflow');
      assert.equal(rejectedReason(wf({ msg_type: 't', [field]: ['a'] })), 'invalid_workflow');
      assert.equal(rejectedReason(wf({ msg_type: 't', [field]: true })), 'invalid_workflow');
    });
  }

  it('an object-valued run_id is rejected', () => {
    assert.equal(rejectedReason(classifyText('{"msg_type":"stf_gen","run_id":{"nested":"object"}}')), 'invalid_workflow');
  });

  it('a number JSON cannot carry back out (1e400 → Infinity) is rejected, in any field', () => {
    assert.equal(rejectedReason(classifyText('{"msg_type":"stf_gen","run_id":1e400}')), 'bad_number');
    assert.equal(rejectedReason(classifyText('{"msg_type":"stf_gen","namespace":-1e400}')), 'bad_number');
    assert.equal(rejectedReason(classifyText('{"msg_type":"stf_gen","value":{"deep":[1,2,1e400]}}')), 'bad_number');
    assert.equal(classifyText('{"msg_type":"stf_gen","value":1.7e308}').kind, 'workflow');
  });

  it('nesting deeper than MAX_DEPTH is rejected without overflowing the stack', () => {
    const nested = (levels: number) => `{"msg_type":"deep","v":${'['.repeat(levels)}${']'.repeat(levels)}}`;
    assert.equal(classifyText(nested(MAX_DEPTH - 1)).kind, 'workflow');
    assert.equal(rejectedReason(classifyText(nested(MAX_DEPTH))), 'too_deep');
    assert.equal(rejectedReason(classifyText(nested(50_000))), 'too_deep');
  });

  it('C1 control characters and lone surrogates in stored fields are rejected', () => {
    assert.equal(rejectedReason(classifyText('{"msg_type":"stf\\u0085gen"}')), 'invalid_workflow');
    assert.equal(rejectedReason(classifyText('{"msg_type":"\\u009b"}')), 'invalid_workflow');
    assert.equal(rejectedReason(classifyText('{"msg_type":"stf\\ud800gen"}')), 'invalid_workflow');
    assert.equal(rejectedReason(classifyText('{"msg_type":"ok","sender":"a\\udc00"}')), 'invalid_workflow');
    // A surrogate pair (an emoji) is fine; a lone surrogate in a free field survives JSON re-encoding.
    assert.equal(classifyText('{"msg_type":"ok","sender":"agent-\\ud83d\\ude00"}').kind, 'workflow');
    assert.equal(classifyText('{"msg_type":"ok","note":"\\ud800"}').kind, 'workflow');
  });

  it('numbers are given as strings in the fields', () => {
    const c = asWorkflow(classifyText('{"msg_type":"t","run_id":1.5,"execution_id":0,"sender":-3}'));
    assert.equal(c.fields.runId, '1.5');
    assert.equal(c.fields.executionId, '0');
    assert.equal(c.fields.senderAgent, '-3');
  });

  for (const [name, ch] of [
    ['NUL', '\u0000'],
    ['LF', '\n'],
    ['CR', '\r'],
    ['TAB', '\t'],
    ['US (0x1f)', '\u001f'],
    ['DEL (0x7f)', '\u007f'],
  ] as const) {
    it(`a ${name} in msg_type is rejected`, () => {
      assert.equal(rejectedReason(wf({ msg_type: `a${ch}b` })), 'invalid_workflow');
    });
  }

  it('msg_type must be a non-empty string', () => {
    assert.equal(rejectedReason(wf({ msg_type: '' })), 'invalid_workflow');
    assert.equal(rejectedReason(wf({ msg_type: null })), 'invalid_workflow');
    assert.equal(rejectedReason(wf({ msg_type: 17 })), 'invalid_workflow');
    assert.equal(rejectedReason(wf({ msg_type: ['a'] })), 'invalid_workflow');
  });

  it('multi-byte msg_type within 100 characters is accepted', () => {
    assert.equal(asWorkflow(wf({ msg_type: 'データ'.repeat(33) })).fields.msgType, 'データ'.repeat(33));
  });
});

describe('classify: NUL characters (PostgreSQL text cannot store U+0000)', () => {
  const wf = (obj: Record<string, unknown>) => classifyText(JSON.stringify(obj));

  /** Asserts `c` is rejected with `reason` and a detail naming `field` and saying NUL. */
  function assertNulRejected(c: Classified, reason: RejectReason, bodyKey: string): void {
    const field = bodyKey.replace(/[/]/g, '\\/');
    assert.equal(c.kind, 'rejected', `expected a rejection, got ${JSON.stringify(c)}`);
    assert.ok(c.kind === 'rejected');
    assert.equal(c.reason, reason);
    assert.match(c.detail, new RegExp(`^${field}: `), `the detail names ${bodyKey}: ${c.detail}`);
    assert.match(c.detail, /\bNUL\b/, `the detail says NUL: ${c.detail}`);
  }

  it('a NUL in sender is rejected as invalid_workflow naming the sender keys', () => {
    assertNulRejected(wf({ msg_type: 'stf_gen', sender: 'a\u0000b' }), 'invalid_workflow', 'sender/sender_agent');
  });

  it('a NUL in filename is rejected as invalid_workflow naming filename', () => {
    assertNulRejected(wf({ msg_type: 'stf_gen', filename: 'f\u0000.stf' }), 'invalid_workflow', 'filename');
  });

  it('a NUL in run_id is rejected as invalid_workflow naming run_id', () => {
    assertNulRejected(wf({ msg_type: 'stf_gen', run_id: '\u0000' }), 'invalid_workflow', 'run_id');
  });

  it('a NUL in a sender-set sender_agent is rejected, even when sender is clean', () => {
    assertNulRejected(wf({ msg_type: 'stf_gen', sender: 'clean', sender_agent: 'x\u0000' }), 'invalid_workflow', 'sender/sender_agent');
  });

  it('a NUL in a heartbeat agent_type is rejected as invalid_heartbeat naming agent_type', () => {
    assertNulRejected(classifyText(JSON.stringify({ agent_name: 'a', status: 'OK', agent_type: 'daq\u0000sim' })), 'invalid_heartbeat', 'agent_type');
  });

  it('a NUL in a heartbeat namespace is rejected as invalid_heartbeat naming namespace', () => {
    assertNulRejected(classifyText(JSON.stringify({ agent_name: 'a', status: 'OK', namespace: '\u0000' })), 'invalid_heartbeat', 'namespace');
  });

  // Every column read from a workflow message, by the body key it comes from.
  for (const [key, field, named] of [
    ['run_id', 'runId', 'run_id'],
    ['execution_id', 'executionId', 'execution_id'],
    ['filename', 'filename', 'filename'],
    ['sender', 'senderAgent', 'sender/sender_agent'],
    ['sender_agent', 'senderAgent', 'sender/sender_agent'],
    ['recipient', 'recipientAgent', 'recipient/recipient_agent'],
    ['recipient_agent', 'recipientAgent', 'recipient/recipient_agent'],
    ['namespace', 'namespace', 'namespace'],
    ['processed_by', 'processedBy', 'processed_by'],
  ] as const) {
    it(`a NUL in ${key} is rejected (naming ${named}); the same value without it is accepted`, () => {
      assertNulRejected(wf({ msg_type: 't', [key]: 'ab\u0000' }), 'invalid_workflow', named);
      assert.equal(asWorkflow(wf({ msg_type: 't', [key]: 'ab' })).fields[field], 'ab');
    });
  }

  it('the same checks apply to raw bytes (classifyBody), where the NUL arrives as the JSON escape \\u0000', () => {
    const body = utf8('{"msg_type":"stf_gen","filename":"f\\u0000.stf"}');
    assert.ok(body.includes('\\u0000'), 'the body holds the six-character escape, not a raw NUL byte');
    assertNulRejected(classifyBody(body, MAX), 'invalid_workflow', 'filename');
  });

  it('a NUL in a field that is not a stored column stays accepted (it is kept in the JSON content, escaped)', () => {
    const c = asWorkflow(wf({ msg_type: 'stf_gen', note: 'a\u0000b', nested: { x: '\u0000' } }));
    assert.equal(c.payload.note, 'a\u0000b');
    // sender_agent given by the sender wins, so a NUL in sender is not read into a column.
    const d = asWorkflow(wf({ msg_type: 'stf_gen', sender: 'a\u0000', sender_agent: 'b' }));
    assert.equal(d.fields.senderAgent, 'b');
  });

  it('other control characters in these fields are still accepted (only NUL cannot be stored)', () => {
    assert.equal(asWorkflow(wf({ msg_type: 'stf_gen', filename: 'a\u0001\tb', sender: 'x\ny' })).fields.filename, 'a\u0001\tb');
  });
});

describe('enrichWorkflow', () => {
  const receipt = { queueName: '/topic/epictopic', receivedAt: Date.UTC(2026, 10, 27, 14, 0, 5, 123) };
  const SENT_AT = '2026-11-27T14:00:05.123Z';
  const lines = readWorkflowFixtures();
  const payloadOf = (line: string) => asWorkflow(classifyText(line)).payload;

  it('adds sender_agent, recipient_agent, queue_name, sent_at after the original keys, keeping a sender-set namespace', () => {
    const payload = payloadOf(lines[4]!); // data_ready: sender, recipient, namespace
    const out = enrichWorkflow(payload, receipt);
    assert.deepEqual(Object.keys(out), [...Object.keys(payload), 'sender_agent', 'recipient_agent', 'queue_name', 'sent_at']);
    assert.equal(out.sender_agent, 'data-agent-torre-3');
    assert.equal(out.recipient_agent, 'processing-agent-torre-2');
    assert.equal(out.namespace, 'torre-dev');
    assert.equal(out.queue_name, '/topic/epictopic');
    assert.equal(out.sent_at, SENT_AT);
    for (const [k, v] of Object.entries(payload)) assert.deepEqual(out[k], v, `original key ${k} kept`);
  });

  it('gives null where there is no source (no sender, recipient or namespace)', () => {
    const payload = payloadOf(lines[9]!); // sse_test
    const out = enrichWorkflow(payload, receipt);
    assert.deepEqual(Object.keys(out), [...Object.keys(payload), 'sender_agent', 'recipient_agent', 'namespace', 'queue_name', 'sent_at']);
    assert.equal(out.sender_agent, null);
    assert.equal(out.recipient_agent, null);
    assert.equal(out.namespace, null);
  });

  it('never overwrites sent_at and queue_name the sender set', () => {
    const payload = payloadOf(lines[12]!);
    const out = enrichWorkflow(payload, receipt);
    assert.equal(out.sent_at, '2026-11-27T15:00:00Z');
    assert.equal(out.queue_name, '/topic/custom');
    assert.equal(out.sender_agent, 'daqsim-agent-kim-1');
    assert.deepEqual(Object.keys(out), [...Object.keys(payload), 'sender_agent', 'recipient_agent']);
  });

  it('never overwrites sender_agent / recipient_agent the sender set, even with null; the fields follow them', () => {
    const body = '{"msg_type":"x","sender":"a","sender_agent":"b","recipient":"c","recipient_agent":null}';
    const c = asWorkflow(classifyText(body));
    assert.equal(c.fields.senderAgent, 'b');
    assert.equal(c.fields.recipientAgent, null);
    const out = enrichWorkflow(c.payload, receipt);
    assert.equal(out.sender_agent, 'b');
    assert.equal(out.recipient_agent, null);
    assert.deepEqual(Object.keys(out), ['msg_type', 'sender', 'sender_agent', 'recipient', 'recipient_agent', 'namespace', 'queue_name', 'sent_at']);
  });

  it('does not modify its input', () => {
    const payload = payloadOf(lines[0]!);
    const before = JSON.stringify(payload);
    enrichWorkflow(payload, receipt);
    assert.equal(JSON.stringify(payload), before);
  });

  it('keeps multi-byte text byte-exact through JSON', () => {
    const out = enrichWorkflow(payloadOf(lines[13]!), receipt);
    const again = JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
    assert.equal(again.namespace, 'ünïcode-ns');
    assert.equal(again.sender_agent, 'agent-日本-1');
    assert.equal(again.filename, 'データ.stf');
  });

  it('a "__proto__" key stays an own data property and Object.prototype is not polluted', () => {
    const body = '{"msg_type":"x","__proto__":{"polluted":true,"sender":"evil"},"sender":"s"}';
    const c = asWorkflow(classifyText(body));
    assert.equal(c.fields.senderAgent, 's');
    const out = enrichWorkflow(c.payload, receipt);
    const desc = Object.getOwnPropertyDescriptor(out, '__proto__');
    assert.ok(desc, '__proto__ is an own property');
    assert.ok('value' in desc, 'a data property, not an accessor');
    assert.deepEqual(desc.value, { polluted: true, sender: 'evil' });
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.equal(out.sender_agent, 's');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
    const relayed = JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
    assert.ok(Object.hasOwn(relayed, '__proto__'), 'relayed JSON keeps the key');
  });

  it('a "__proto__" key naming an enrichment field does not hide the added field', () => {
    const c = asWorkflow(classifyText('{"msg_type":"x","__proto__":{"sent_at":"fake","queue_name":"fake"}}'));
    const out = enrichWorkflow(c.payload, receipt);
    assert.ok(Object.hasOwn(out, 'sent_at'));
    assert.equal(out.sent_at, SENT_AT);
    assert.equal(out.queue_name, '/topic/epictopic');
  });
});

describe('enrichHeartbeat', () => {
  const receipt = { queueName: '/topic/epictopic', receivedAt: Date.UTC(2026, 10, 27, 14, 0, 0, 0) };

  it('adds msg_type agent_status, sender_agent from agent_name, namespace, queue_name, sent_at', () => {
    const [first, second] = readHeartbeatFixtures();
    const a = enrichHeartbeat(JSON.parse(first!) as Record<string, unknown>, receipt);
    assert.equal(a.msg_type, AGENT_STATUS);
    assert.equal(a.sender_agent, 'daqsim-agent-torre-7');
    assert.equal(a.namespace, 'torre-dev');
    assert.equal(a.queue_name, '/topic/epictopic');
    assert.equal(a.sent_at, '2026-11-27T14:00:00.000Z');
    const b = enrichHeartbeat(JSON.parse(second!) as Record<string, unknown>, receipt);
    assert.equal(b.namespace, null);
    assert.equal(b.status, 'WARNING');
  });
});

describe('eventNameFor', () => {
  it('maps every reserved name to "message"', () => {
    assert.deepEqual([...RESERVED_EVENT_NAMES].sort(), ['connected', 'gap', 'heartbeat', 'shutdown']);
    for (const name of RESERVED_EVENT_NAMES) assert.equal(eventNameFor(name), 'message', name);
  });

  it('keeps any other msg_type', () => {
    for (const name of ['stf_gen', 'run_imminent', 'message', 'Heartbeat', 'データ']) assert.equal(eventNameFor(name), name);
  });

  it('maps empty or control-character names to "message"', () => {
    assert.equal(eventNameFor(''), 'message');
    assert.equal(eventNameFor('a\nevent: x'), 'message');
    assert.equal(eventNameFor('a\rb'), 'message');
  });
});
