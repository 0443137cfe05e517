import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AGENT_STATUS,
  RESERVED_EVENT_NAMES,
  MAX_DEPTH,
  MAX_FIELD_LENGTH,
  UNKNOWN_STATUS,
  classifyBody,
  classifyText,
  enrichHeartbeat,
  enrichWorkflow,
  eventNameFor,
  type Classified,
  type HeartbeatFields,
  type RejectReason,
  type WorkflowFields,
} from '../../src/model/message.js';
import { compact, oneLine, topLevelValues } from '../../src/model/json-text.js';
import { bigBody, readBadBodies, readHeartbeatFixtures, readTestbedFixtures, readWorkflowFixtures } from '../helpers/fixtures.js';
import { JsonNumber, parseLossless, parseLosslessObject } from '../helpers/lossless-json.js';

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

  it('keeps a numeric run_id numeric in the content but gives it as a string in the fields', () => {
    const c = asWorkflow(classifyBody(utf8(workflow[2]!), MAX));
    assert.ok(enrichWorkflow(c, { queueName: 'q', receivedAt: 0 }).includes('"run_id":100042,'));
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

describe('classifyBody: testbed shapes (nulls, nested objects, booleans, big integers)', () => {
  const testbed = readTestbedFixtures();
  const TORRE = 'torre-dev';
  const EXEC42 = 'stf_datataking-torre-0042';
  /** The columns of each line of testbed-messages.jsonl, in file order. */
  const TESTBED_EXPECTED: WorkflowFields[] = [
    fields({ msgType: 'run_imminent', runId: '100042', executionId: EXEC42, namespace: TORRE, senderAgent: DAQ }),
    fields({ msgType: 'start_run', runId: '100042', executionId: EXEC42, namespace: TORRE, senderAgent: DAQ }),
    fields({ msgType: 'stf_gen', runId: '100042', executionId: EXEC42, namespace: TORRE, senderAgent: DAQ, filename: 'swf.100042.000001.stf' }),
    fields({ msgType: 'stf_ready', runId: '100042', executionId: EXEC42, namespace: TORRE, senderAgent: 'data-agent-torre-3' }),
    fields({ msgType: 'tf_file_registered', runId: '100042', namespace: TORRE, senderAgent: 'fastmon-agent-torre-1', processedBy: 'fastmon-agent-torre-1' }),
    fields({ msgType: 'slice', runId: '100042', namespace: TORRE, senderAgent: 'fastproc-agent-torre-2' }),
    fields({ msgType: 'run_imminent_worker', runId: '100042', executionId: EXEC42, namespace: TORRE, senderAgent: 'fastproc-agent-torre-2' }),
    fields({ msgType: 'data_ready', runId: '100042', filename: 'swf.100042.000001.stf', senderAgent: 'data-agent-torre-3' }),
    fields({ msgType: 'processing_complete', runId: '100042', executionId: EXEC42, filename: 'swf.100042.000001.stf', namespace: TORRE, senderAgent: 'processing-agent-torre-5' }),
    fields({ msgType: 'end_run', runId: '100042', executionId: EXEC42, namespace: TORRE, senderAgent: DAQ }),
    fields({ msgType: 'run_workflow', namespace: TORRE, senderAgent: 'workflow-cli-torre' }),
    fields({ msgType: 'status_request', senderAgent: 'workflow-cli-torre' }),
    fields({ msgType: 'payload_log_ready', namespace: 'prod', senderAgent: 'epicprod-ops-agent' }),
    fields({ msgType: 'agent_state', namespace: TORRE, senderAgent: DAQ }),
  ];
  const receipt = { queueName: '/topic/epictopic', receivedAt: Date.UTC(2026, 10, 30, 10, 0, 0, 0) };

  it('has one expectation per testbed fixture line', () => {
    assert.equal(testbed.length, TESTBED_EXPECTED.length);
  });

  testbed.forEach((line, n) => {
    it(`testbed line ${n + 1} (${TESTBED_EXPECTED[n]?.msgType}) is a workflow message; its content is the line as received plus the enrichment`, () => {
      const c = asWorkflow(classifyBody(utf8(line), MAX));
      assert.deepEqual(c.fields, TESTBED_EXPECTED[n]);
      const content = enrichWorkflow(c, receipt);
      assert.ok(content.startsWith(`${line.slice(0, -1)},"`), `the received text is kept byte for byte: ${content}`);
      assert.ok(!content.includes('\n'));
      const original = parseLosslessObject(line);
      const relayed = parseLosslessObject(content);
      for (const key of Object.keys(original)) assert.deepEqual(relayed[key], original[key], `key ${key} as received`);
      const added = Object.keys(relayed).filter((k) => !Object.hasOwn(original, k));
      assert.deepEqual(added, ['sender_agent', 'recipient_agent', 'queue_name', 'sent_at'].concat(Object.hasOwn(original, 'namespace') ? [] : ['namespace']).sort((a, b) => added.indexOf(a) - added.indexOf(b)));
      assert.equal(relayed.sender_agent, original.sender);
    });
  });

  it('tf_file_registered with "execution_id": null is valid: the column is null, the content keeps the null', () => {
    const c = asWorkflow(classifyText(testbed[4]!));
    assert.equal(c.fields.executionId, null);
    assert.equal(parseLosslessObject(enrichWorkflow(c, receipt)).execution_id, null);
  });

  it('keeps the digits of panda_id 9007199254740993 (beyond 2^53) in the content', () => {
    const content = enrichWorkflow(asWorkflow(classifyText(testbed[12]!)), receipt);
    assert.ok(content.includes('"panda_id": 9007199254740993,'), content);
    assert.deepEqual(parseLosslessObject(content).panda_id, new JsonNumber('9007199254740993'));
  });

  it('a message with msg_type and agent_name + status is a workflow message that also updates the agent', () => {
    const c = asWorkflow(classifyText(testbed[13]!));
    assert.deepEqual(c.agent, { agentName: DAQ, status: 'WARNING', agentType: null, namespace: TORRE } satisfies HeartbeatFields);
    for (const line of testbed.slice(0, 13)) assert.equal(asWorkflow(classifyText(line)).agent, null);
  });
});

describe('classify: kinds', () => {
  it('a body with msg_type is a workflow message even when it also looks like a heartbeat; the agent part is read too', () => {
    const c = asWorkflow(classifyText('{"msg_type":"x","agent_name":"a","status":"OK","agent_type":"daqsim"}'));
    assert.deepEqual(c.agent, { agentName: 'a', status: 'OK', agentType: 'daqsim', namespace: null });
  });

  it('an unusable agent_name in a workflow message skips the agent update, never the message', () => {
    for (const name of ['null', '""', '{"a":1}', '"a\\nb"', JSON.stringify('n'.repeat(MAX_FIELD_LENGTH + 1))]) {
      const c = asWorkflow(classifyText(`{"msg_type":"x","agent_name":${name},"status":"OK"}`));
      assert.equal(c.agent, null, name);
    }
  });

  it('agent_name without status (or status without agent_name) is unknown_kind', () => {
    assert.equal(rejectedReason(classifyText('{"agent_name":"a"}')), 'unknown_kind');
    assert.equal(rejectedReason(classifyText('{"status":"OK"}')), 'unknown_kind');
  });

  it('a heartbeat needs an agent_name: non-empty text, at most 200 characters, no control characters', () => {
    assert.equal(rejectedReason(classifyText('{"agent_name":"a\\nb","status":"OK"}')), 'invalid_heartbeat');
    assert.equal(rejectedReason(classifyText('{"agent_name":"","status":"OK"}')), 'invalid_heartbeat');
    assert.equal(rejectedReason(classifyText('{"agent_name":null,"status":"OK"}')), 'invalid_heartbeat');
    assert.equal(rejectedReason(classifyText('{"agent_name":["a"],"status":"OK"}')), 'invalid_heartbeat');
    assert.equal(rejectedReason(classifyText('{"agent_name":"\\ud800","status":"OK"}')), 'invalid_heartbeat');
    assert.equal(rejectedReason(classifyText(JSON.stringify({ agent_name: 'n'.repeat(MAX_FIELD_LENGTH + 1), status: 'OK' }))), 'invalid_heartbeat');
    assert.equal(classifyText(JSON.stringify({ agent_name: 'n'.repeat(MAX_FIELD_LENGTH), status: 'OK' })).kind, 'heartbeat');
  });

  it('any other heartbeat value is accepted: status as text, or UNKNOWN when it is not text (as the old listener did)', () => {
    const hb = (body: string) => {
      const c = classifyText(body);
      assert.equal(c.kind, 'heartbeat', body);
      return (c as Extract<Classified, { kind: 'heartbeat' }>).fields;
    };
    assert.deepEqual(hb('{"agent_name":"a","status":3}'), { agentName: 'a', status: '3', agentType: null, namespace: null });
    assert.equal(hb('{"agent_name":"a","status":null}').status, UNKNOWN_STATUS);
    assert.equal(hb('{"agent_name":"a","status":{"s":"OK"}}').status, UNKNOWN_STATUS);
    assert.equal(hb('{"agent_name":"a","status":"line\\nbreak"}').status, 'line\nbreak');
    assert.deepEqual(hb('{"agent_name":7,"status":"OK","agent_type":null,"namespace":false}'), { agentName: '7', status: 'OK', agentType: null, namespace: null });
    assert.equal(hb('{"agent_name":"a","status":"OK","agent_type":"t\\u0000"}').agentType, null);
  });

  it('a msg_type inherited through a "__proto__" key does not count', () => {
    assert.equal(rejectedReason(classifyText('{"__proto__":{"msg_type":"evil"}}')), 'unknown_kind');
    assert.equal(rejectedReason(classifyText('{"agent_name":"a","__proto__":{"status":"OK"}}')), 'unknown_kind');
  });
});

describe('classify: msg_type (the one validated field)', () => {
  const wf = (obj: Record<string, unknown>) => classifyText(JSON.stringify(obj));

  it('100 characters accepted, 101 rejected', () => {
    assert.equal(asWorkflow(wf({ msg_type: 'm'.repeat(100) })).fields.msgType, 'm'.repeat(100));
    assert.equal(rejectedReason(wf({ msg_type: 'm'.repeat(101) })), 'invalid_workflow');
  });

  it('must be a non-empty string', () => {
    for (const t of ['', null, 17, true, ['a'], { a: 1 }]) assert.equal(rejectedReason(wf({ msg_type: t })), 'invalid_workflow', JSON.stringify(t));
  });

  for (const [name, ch] of [
    ['NUL', '\u0000'],
    ['LF', '\n'],
    ['CR', '\r'],
    ['TAB', '\t'],
    ['US (0x1f)', '\u001f'],
    ['DEL (0x7f)', '\u007f'],
    ['NEL (0x85, C1)', '\u0085'],
    ['CSI (0x9b, C1)', '\u009b'],
  ] as const) {
    it(`a ${name} in msg_type is rejected`, () => {
      assert.equal(rejectedReason(wf({ msg_type: `a${ch}b` })), 'invalid_workflow');
    });
  }

  it('a lone surrogate in msg_type is rejected (no UTF-8 form for the event name and column); a pair is fine', () => {
    assert.equal(rejectedReason(classifyText('{"msg_type":"stf\\ud800gen"}')), 'invalid_workflow');
    assert.equal(asWorkflow(classifyText('{"msg_type":"emoji-\\ud83d\\ude00"}')).fields.msgType, 'emoji-😀');
  });

  it('multi-byte msg_type within 100 characters is accepted', () => {
    assert.equal(asWorkflow(wf({ msg_type: 'データ'.repeat(33) })).fields.msgType, 'データ'.repeat(33));
  });

  it('characters are code points: 100 emoji (200 UTF-16 units) accepted, 101 rejected', () => {
    assert.equal(asWorkflow(wf({ msg_type: '😀'.repeat(100) })).fields.msgType, '😀'.repeat(100));
    assert.equal(rejectedReason(wf({ msg_type: '😀'.repeat(101) })), 'invalid_workflow');
  });
});

describe('classify: every other field may hold any JSON value (SPEC §2)', () => {
  const ANY_VALUES = ['null', 'true', 'false', '[]', '[1,"a"]', '{}', '{"nested":"object","n":9007199254740993}', '""'];
  const COLUMNS = [
    ['run_id', 'runId'],
    ['execution_id', 'executionId'],
    ['filename', 'filename'],
    ['sender', 'senderAgent'],
    ['sender_agent', 'senderAgent'],
    ['recipient', 'recipientAgent'],
    ['recipient_agent', 'recipientAgent'],
    ['namespace', 'namespace'],
    ['processed_by', 'processedBy'],
  ] as const;
  const receipt = { queueName: '/topic/epictopic', receivedAt: 0 };

  for (const [key, field] of COLUMNS) {
    it(`${key}: null, booleans, arrays and objects are accepted with a null column and kept as received in the content`, () => {
      for (const value of ANY_VALUES) {
        const body = `{"msg_type":"t","${key}":${value}}`;
        const c = asWorkflow(classifyText(body));
        assert.equal(c.fields[field], value === '""' ? '' : null, `${key}=${value}`);
        const content = enrichWorkflow(c, receipt);
        assert.ok(content.startsWith(`${body.slice(0, -1)},`), content);
        assert.deepEqual(parseLosslessObject(content)[key], parseLossless(value));
      }
    });

    it(`${key}: a string is its text, a number its digits (beyond 2^53 too)`, () => {
      assert.equal(asWorkflow(classifyText(`{"msg_type":"t","${key}":"abc"}`)).fields[field], 'abc');
      assert.equal(asWorkflow(classifyText(`{"msg_type":"t","${key}":100042}`)).fields[field], '100042');
      assert.equal(asWorkflow(classifyText(`{"msg_type":"t","${key}":9007199254740993}`)).fields[field], '9007199254740993');
      assert.equal(asWorkflow(classifyText(`{"msg_type":"t","${key}":-123456789012345678901234567890}`)).fields[field], '-123456789012345678901234567890');
    });
  }

  it('the bad-bodies line that used to be rejected ({"run_id":{"nested":"object"}}) is a valid message', () => {
    const c = asWorkflow(classifyText('{"msg_type":"stf_gen","run_id":{"nested":"object"}}'));
    assert.equal(c.fields.runId, null);
  });

  it('numbers: a double-exact integer is its digits (100042.0 → "100042"); any other number is its text as received', () => {
    const run = (n: string) => asWorkflow(classifyText(`{"msg_type":"t","run_id":${n}}`)).fields.runId;
    assert.equal(run('100042.0'), '100042');
    assert.equal(run('1E+2'), '100');
    assert.equal(run('-0'), '0');
    assert.equal(run('1.5'), '1.5');
    assert.equal(run('9007199254740992'), '9007199254740992');
    assert.equal(run('9007199254740991'), '9007199254740991');
    assert.equal(run('1e400'), '1e400');
    assert.equal(run('-1e400'), '-1e400');
    assert.equal(run('1e-400'), '0', 'a double reads it as 0 (the content keeps 1e-400)');
    assert.equal(run('1e21'), '1e21');
    assert.equal(run('0.1'), '0.1');
  });

  it('a big integer is read from the right key: escaped key spellings, repeats (last wins), nested look-alikes, whitespace', () => {
    const run = (body: string) => asWorkflow(classifyText(body)).fields.runId;
    assert.equal(run('{"msg_type":"t","content":{"run_id":1},"run\\u005fid":9007199254740993}'), '9007199254740993');
    assert.equal(run('{"msg_type":"t","run_id":9007199254740993,"run_id":9007199254740995}'), '9007199254740995');
    assert.equal(run('{"msg_type":"t","note":"\\"run_id\\":1","x":[{"run_id":2}],"run_id":12345678901234567890}'), '12345678901234567890');
    assert.equal(run('{ "msg_type" : "t" ,\n\t"run_id"\r\n:\n 9007199254740993\n}'), '9007199254740993');
  });

  it('numbers out of a double’s range (1e400) are accepted anywhere: the content keeps their text', () => {
    const body = '{"msg_type":"stf_gen","value":{"deep":[1,2,1e400]},"namespace":-1e400}';
    const c = asWorkflow(classifyText(body));
    assert.equal(c.fields.namespace, '-1e400');
    assert.ok(enrichWorkflow(c, receipt).startsWith(body.slice(0, -1)));
  });

  it('text a column cannot hold leaves the column null, the message relayed: NUL, lone surrogates, long text in filtered columns', () => {
    const col = (body: string) => asWorkflow(classifyText(body)).fields;
    assert.equal(col('{"msg_type":"t","sender":"a\\u0000b"}').senderAgent, null);
    assert.equal(col('{"msg_type":"t","filename":"f\\u0000.stf"}').filename, null);
    assert.equal(col('{"msg_type":"t","run_id":"\\ud800"}').runId, null);
    assert.equal(col('{"msg_type":"t","recipient":"a\\udc00"}').recipientAgent, null);
    for (const key of ['run_id', 'namespace', 'sender', 'processed_by']) {
      const c = col(JSON.stringify({ msg_type: 't', [key]: 'v'.repeat(MAX_FIELD_LENGTH + 1) }));
      assert.equal(c.runId ?? c.namespace ?? c.senderAgent ?? c.processedBy, null, key);
      const d = col(JSON.stringify({ msg_type: 't', [key]: 'v'.repeat(MAX_FIELD_LENGTH) }));
      assert.equal(d.runId ?? d.namespace ?? d.senderAgent ?? d.processedBy, 'v'.repeat(MAX_FIELD_LENGTH), key);
    }
    // Columns no filter reads keep long text.
    assert.equal(col(JSON.stringify({ msg_type: 't', filename: 'f'.repeat(5000) })).filename, 'f'.repeat(5000));
    // Other control characters are stored as they are.
    assert.equal(col(JSON.stringify({ msg_type: 't', filename: 'a\u0001\tb' })).filename, 'a\u0001\tb');
    // The content keeps the escapes, which PostgreSQL's json type holds.
    const content = enrichWorkflow(asWorkflow(classifyText('{"msg_type":"t","sender":"a\\u0000b","note":"\\ud800"}')), receipt);
    assert.ok(content.includes('"sender":"a\\u0000b"') && content.includes('"sender_agent":"a\\u0000b"') && content.includes('"note":"\\ud800"'), content);
  });

  it('nesting up to MAX_DEPTH levels is accepted, deeper is too_deep; brackets inside strings do not count', () => {
    const nested = (levels: number) => `{"msg_type":"deep","v":${'['.repeat(levels)}${']'.repeat(levels)}}`;
    assert.equal(classifyText(nested(MAX_DEPTH - 1)).kind, 'workflow');
    assert.equal(rejectedReason(classifyText(nested(MAX_DEPTH))), 'too_deep');
    assert.equal(rejectedReason(classifyText(nested(50_000))), 'too_deep');
    assert.equal(classifyText(JSON.stringify({ msg_type: 'brackets', note: '[{'.repeat(5000) })).kind, 'workflow');
  });
});

describe('content: pretty-printed and spaced bodies', () => {
  const receipt = { queueName: '/topic/epictopic', receivedAt: Date.UTC(2026, 10, 30) };

  it('a pretty-printed body (LF, CRLF, tabs) is relayed on one line, compacted, every value as received', () => {
    const original = { msg_type: 'stf_gen', run_id: 100042, note: 'two  spaces,\ttab: "quoted" \\ back', nested: { a: [1, 2.50, { b: null }] } };
    for (const eol of ['\n', '\r\n', '\r']) {
      const pretty = JSON.stringify(original, null, '\t').replaceAll('\n', eol).replace('"run_id": 100042', '"run_id": 9007199254740993') + eol;
      const content = enrichWorkflow(asWorkflow(classifyText(pretty)), receipt);
      assert.ok(!/[\r\n]/.test(content), JSON.stringify(content));
      assert.ok(content.startsWith('{"msg_type":"stf_gen","run_id":9007199254740993,"note":"two  spaces,\\ttab: \\"quoted\\" \\\\ back","nested":{"a":[1,2.5,{"b":null}]},'), content);
      const relayed = parseLosslessObject(content);
      const sent = parseLosslessObject(pretty);
      for (const key of Object.keys(sent)) assert.deepEqual(relayed[key], sent[key], key);
    }
  });

  it('a one-line body keeps its spacing (Python json.dumps writes ", " and ": ") and loses only surrounding whitespace', () => {
    const body = '  {"msg_type": "stf_gen", "run_id": 100042, "params": {"a": [1, 2]}}  ';
    const content = enrichWorkflow(asWorkflow(classifyText(body)), receipt);
    assert.ok(content.startsWith('{"msg_type": "stf_gen", "run_id": 100042, "params": {"a": [1, 2]},"sender_agent":null,'), content);
  });

  it('json-text helpers: compact keeps string contents (escaped quotes and backslashes too); topLevelValues skips nested values', () => {
    const text = '{ "a" : "x \\" y \\\\" , "b":\n[ 1 , { "a" : 2 } ] , "c\\"d" : 1e400 }';
    assert.equal(compact(text), '{"a":"x \\" y \\\\","b":[1,{"a":2}],"c\\"d":1e400}');
    assert.equal(oneLine(text), compact(text));
    assert.deepEqual([...topLevelValues(text)], [
      ['a', '"x \\" y \\\\"'],
      ['b', '[ 1 , { "a" : 2 } ]'],
      ['c"d', '1e400'],
    ]);
  });
});

describe('enrichWorkflow', () => {
  const receipt = { queueName: '/topic/epictopic', receivedAt: Date.UTC(2026, 10, 27, 14, 0, 5, 123) };
  const SENT_AT = '2026-11-27T14:00:05.123Z';
  const lines = readWorkflowFixtures();
  const enrich = (body: string) => JSON.parse(enrichWorkflow(asWorkflow(classifyText(body)), receipt)) as Record<string, unknown>;

  it('adds sender_agent, recipient_agent, queue_name, sent_at after the original keys, keeping a sender-set namespace', () => {
    const original = JSON.parse(lines[4]!) as Record<string, unknown>; // data_ready: sender, recipient, namespace
    const out = enrich(lines[4]!);
    assert.deepEqual(Object.keys(out), [...Object.keys(original), 'sender_agent', 'recipient_agent', 'queue_name', 'sent_at']);
    assert.equal(out.sender_agent, 'data-agent-torre-3');
    assert.equal(out.recipient_agent, 'processing-agent-torre-2');
    assert.equal(out.namespace, 'torre-dev');
    assert.equal(out.queue_name, '/topic/epictopic');
    assert.equal(out.sent_at, SENT_AT);
    for (const [k, v] of Object.entries(original)) assert.deepEqual(out[k], v, `original key ${k} kept`);
  });

  it('gives null where there is no source (no sender, recipient or namespace)', () => {
    const original = JSON.parse(lines[9]!) as Record<string, unknown>; // sse_test
    const out = enrich(lines[9]!);
    assert.deepEqual(Object.keys(out), [...Object.keys(original), 'sender_agent', 'recipient_agent', 'namespace', 'queue_name', 'sent_at']);
    assert.equal(out.sender_agent, null);
    assert.equal(out.recipient_agent, null);
    assert.equal(out.namespace, null);
  });

  it('never overwrites sent_at and queue_name the sender set', () => {
    const original = JSON.parse(lines[12]!) as Record<string, unknown>;
    const out = enrich(lines[12]!);
    assert.equal(out.sent_at, '2026-11-27T15:00:00Z');
    assert.equal(out.queue_name, '/topic/custom');
    assert.equal(out.sender_agent, 'daqsim-agent-kim-1');
    assert.deepEqual(Object.keys(out), [...Object.keys(original), 'sender_agent', 'recipient_agent']);
  });

  it('never overwrites a key the sender set, whatever its value (null, a number, an object); the columns follow them', () => {
    const body = '{"msg_type":"x","sender":"a","sender_agent":9007199254740993,"recipient":"c","recipient_agent":null,"namespace":{"n":1},"queue_name":false,"sent_at":[1]}';
    const c = asWorkflow(classifyText(body));
    assert.equal(c.fields.senderAgent, '9007199254740993');
    assert.equal(c.fields.recipientAgent, null);
    assert.equal(c.fields.namespace, null);
    assert.equal(enrichWorkflow(c, receipt), body, 'nothing to add: the content is the body itself');
  });

  it('copies sender / recipient of any kind into sender_agent / recipient_agent exactly, big integers with every digit', () => {
    const body = '{"msg_type":"x","sender":{"name":"a","id":9007199254740993},"recipient":123456789012345678901234567890}';
    const out = parseLosslessObject(enrichWorkflow(asWorkflow(classifyText(body)), receipt));
    assert.deepEqual(out.sender_agent, parseLossless('{"name":"a","id":9007199254740993}'));
    assert.deepEqual(out.recipient_agent, new JsonNumber('123456789012345678901234567890'));
    const flags = parseLosslessObject(enrichWorkflow(asWorkflow(classifyText('{"msg_type":"x","sender":true,"recipient":[null]}')), receipt));
    assert.equal(flags.sender_agent, true);
    assert.deepEqual(flags.recipient_agent, [null]);
  });

  it('does not modify the classified message', () => {
    const c = asWorkflow(classifyText(lines[0]!));
    const before = JSON.stringify(c);
    enrichWorkflow(c, receipt);
    assert.equal(JSON.stringify(c), before);
  });

  it('keeps multi-byte text byte-exact', () => {
    const out = enrich(lines[13]!);
    assert.equal(out.namespace, 'ünïcode-ns');
    assert.equal(out.sender_agent, 'agent-日本-1');
    assert.equal(out.filename, 'データ.stf');
  });

  it('a "__proto__" key is a key like any other: kept in the content, not read as a source, Object.prototype untouched', () => {
    const body = '{"msg_type":"x","__proto__":{"polluted":true,"sender":"evil"},"sender":"s"}';
    const c = asWorkflow(classifyText(body));
    assert.equal(c.fields.senderAgent, 's');
    const out = JSON.parse(enrichWorkflow(c, receipt)) as Record<string, unknown>;
    assert.ok(Object.hasOwn(out, '__proto__'), 'relayed JSON keeps the key');
    assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, { polluted: true, sender: 'evil' });
    assert.equal(out.sender_agent, 's');
    assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
  });

  it('a "__proto__" key naming an enrichment field does not hide the added field', () => {
    const out = JSON.parse(enrichWorkflow(asWorkflow(classifyText('{"msg_type":"x","__proto__":{"sent_at":"fake","queue_name":"fake"}}')), receipt)) as Record<string, unknown>;
    assert.ok(Object.hasOwn(out, 'sent_at'));
    assert.equal(out.sent_at, SENT_AT);
    assert.equal(out.queue_name, '/topic/epictopic');
  });
});

describe('enrichHeartbeat', () => {
  const receipt = { queueName: '/topic/epictopic', receivedAt: Date.UTC(2026, 10, 27, 14, 0, 0, 0) };
  const heartbeat = (body: string) => {
    const c = classifyText(body);
    assert.equal(c.kind, 'heartbeat', body);
    return JSON.parse(enrichHeartbeat(c as Extract<Classified, { kind: 'heartbeat' }>, receipt)) as Record<string, unknown>;
  };

  it('adds msg_type agent_status, sender_agent from agent_name, namespace, queue_name, sent_at', () => {
    const [first, second] = readHeartbeatFixtures();
    const a = heartbeat(first!);
    assert.equal(a.msg_type, AGENT_STATUS);
    assert.equal(a.sender_agent, 'daqsim-agent-torre-7');
    assert.equal(a.namespace, 'torre-dev');
    assert.equal(a.queue_name, '/topic/epictopic');
    assert.equal(a.sent_at, '2026-11-27T14:00:00.000Z');
    const b = heartbeat(second!);
    assert.equal(b.namespace, null);
    assert.equal(b.status, 'WARNING');
  });

  it('keeps big integers and is one line for a pretty-printed heartbeat', () => {
    const c = classifyText('{\n  "agent_name": "a",\n  "status": "OK",\n  "pid": 9007199254740993\n}');
    assert.equal(c.kind, 'heartbeat');
    const content = enrichHeartbeat(c as Extract<Classified, { kind: 'heartbeat' }>, receipt);
    assert.ok(content.startsWith('{"agent_name":"a","status":"OK","pid":9007199254740993,"msg_type":"agent_status","sender_agent":"a",'), content);
  });
});

describe('eventNameFor', () => {
  it('maps every reserved name to "message"', () => {
    assert.deepEqual([...RESERVED_EVENT_NAMES].sort(), ['agent_status', 'connected', 'gap', 'heartbeat', 'shutdown']);
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
