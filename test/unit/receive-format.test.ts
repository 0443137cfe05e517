// How `swf-relay receive` prints events: --json lines and readable (colourised) lines.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeGap, formatHuman, formatJson, toReceivedEvent } from '../../src/cli/receive/format.js';

/** A received event; `id` null = an event without `id:` (agent_status). */
const event = (data: unknown, name = 'stf_gen', id: string | null = '1042') =>
  toReceivedEvent({ event: name, data: typeof data === 'string' ? data : JSON.stringify(data), id: id ?? undefined, lastEventId: id ?? '' });

const STF = {
  msg_type: 'stf_gen',
  run_id: 100042,
  sender: 'daqsim-agent-torre-7',
  filename: 'swf.100042.000001.stf',
  sender_agent: 'daqsim-agent-torre-7',
  recipient_agent: null,
  namespace: 'torre-dev',
  sent_at: '2026-11-27T14:00:03.120Z',
};

describe('formatJson', () => {
  it('is the payload with _id and _event first, one line', () => {
    const line = formatJson(event(STF));
    assert.ok(!line.includes('\n'));
    assert.deepEqual(Object.keys(JSON.parse(line)).slice(0, 2), ['_id', '_event']);
    assert.deepEqual(JSON.parse(line), { _id: '1042', _event: 'stf_gen', ...STF });
  });

  it('gives _id null for events without id, and _data for data that is not an object', () => {
    assert.equal(JSON.parse(formatJson(event({ agent_name: 'a', status: 'OK' }, 'agent_status', null)))._id, null);
    assert.deepEqual(JSON.parse(formatJson(event('plain text', 'message'))), { _id: '1042', _event: 'message', _data: 'plain text' });
    assert.deepEqual(JSON.parse(formatJson(event('[1,2]', 'message'))), { _id: '1042', _event: 'message', _data: '[1,2]' });
  });

  it('keeps every digit of integers beyond 2^53 and the payload as received (nulls, nesting, an empty object)', () => {
    const text = '{"msg_type": "stf_gen", "run_id": 9007199254740993, "x": {"n": [1, 12345678901234567890, null]}, "e": null}';
    const line = formatJson(event(text));
    assert.equal(line, `{"_id":"1042","_event":"stf_gen",${text.slice(1)}`);
    assert.ok(line.includes('9007199254740993') && line.includes('12345678901234567890'));
    assert.equal(formatJson(event('{}', 'message')), '{"_id":"1042","_event":"message"}');
    assert.equal(formatJson(event('{ }', 'message')), '{"_id":"1042","_event":"message"}');
  });

  it('keeps its own _id/_event over payload keys, and a __proto__ key as plain data', () => {
    const parsed = JSON.parse(formatJson(event('{"msg_type":"x","_id":"spoof","__proto__":{"polluted":true}}', 'x')));
    assert.equal(parsed._id, '1042');
    assert.deepEqual(Object.getOwnPropertyDescriptor(parsed, '__proto__')?.value, { polluted: true });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe('formatHuman', () => {
  const plain = { color: false, utc: true };

  it('shows time, id, type, run, sender and filename', () => {
    const line = formatHuman(event(STF), plain);
    assert.match(line, /^14:00:03\.120 #1042 +stf_gen +run 100042 {2}daqsim-agent-torre-7 {2}swf\.100042\.000001\.stf$/);
  });

  it('shows sender → recipient and the message when there is no filename', () => {
    const line = formatHuman(event({ msg_type: 'data_ready', sender_agent: 'data-1', recipient_agent: 'proc-2', run_id: '7', message: 'hello' }, 'data_ready'), plain);
    assert.match(line, /run 7 {2}data-1 → proc-2 {2}hello$/);
  });

  it('shows agent, status and type for agent heartbeats', () => {
    const line = formatHuman(event({ agent_name: 'daq-1', status: 'WARNING', agent_type: 'daqsim', namespace: 'ns', msg_type: 'agent_status' }, 'agent_status', null), plain);
    assert.match(line, /agent_status +daq-1 {2}WARNING {2}\(daqsim, ns\)$/);
  });

  it('uses the time now when sent_at is missing or bad', () => {
    const now = () => new Date('2026-01-02T03:04:05.006Z');
    assert.match(formatHuman(event({ msg_type: 'x', sent_at: 'garbage' }, 'x'), { ...plain, now }), /^03:04:05\.006 /);
  });

  it('escapes control characters, so a message cannot drive the terminal', () => {
    const line = formatHuman(event({ msg_type: 'x', filename: 'evil\x1b[2J\nname\u009b' }, 'x'), plain);
    assert.ok(!/[\u0000-\u001f\u007f-\u009f]/.test(line), JSON.stringify(line));
    assert.ok(line.includes('evil\\u001b[2J\\u000aname\\u009b'));
  });

  it('colours only when asked', () => {
    assert.ok(!formatHuman(event(STF), plain).includes('\x1b['));
    const coloured = formatHuman(event(STF), { color: true, utc: true });
    assert.ok(coloured.includes('\x1b[32mstf_gen'), 'stf_gen in green');
    assert.equal(coloured.replace(/\x1b\[\d+m/g, ''), formatHuman(event(STF), plain));
  });
});

describe('describeGap', () => {
  it('names the reason, the range and how to fill it', () => {
    const line = describeGap('{"reason":"slow_client","from_id":"10","to_id":"20","dropped":11}');
    assert.equal(line, 'gap (slow_client): events 10–20 (11 not delivered); to fill it, reconnect with --last-event-id 9 or page the history');
    assert.match(describeGap('{"reason":"unknown_id","from_id":"5","to_id":"5","dropped":0}'), /event 5 /);
    assert.match(describeGap('not json'), /^gap: not json$/);
  });
});

describe('formatHuman run lifecycle', () => {
  it('shows state/substate when there is no filename or message', () => {
    const line = formatHuman(event({ msg_type: 'start_run', run_id: '5', sender_agent: 'daq', state: 'run', substate: 'physics' }, 'start_run'), { color: false, utc: true });
    assert.match(line, /start_run +run 5 {2}daq {2}run\/physics$/);
  });
});
