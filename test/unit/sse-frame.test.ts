import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RelayEvent } from '../../src/model/event.js';
import { agentStatusEvent, workflowEvent } from '../../src/model/event.js';
import { RETRY_MS, encodeConnected, encodeControl, encodeEvent, encodeHeartbeat } from '../../src/hub/sse-frame.js';
import { parseSse } from '../helpers/sse-client.js';

const text = (b: Buffer) => b.toString('utf8');

describe('encodeEvent', () => {
  const data = '{"msg_type":"stf_gen","run_id":"101","sender_agent":"daq-simulator"}';

  it('writes id, event and data lines and a blank line for a stored event', () => {
    const event = workflowEvent(
      '1042',
      { msgType: 'stf_gen', runId: '101', executionId: null, filename: null, senderAgent: 'daq-simulator', recipientAgent: null, namespace: null, processedBy: null },
      data,
      0,
    );
    const frame = encodeEvent(event);
    assert.ok(Buffer.isBuffer(frame));
    assert.equal(text(frame), `id: 1042\nevent: stf_gen\ndata: ${data}\n\n`);
  });

  it('writes no id line when the event has no id (agent_status)', () => {
    const body = '{"agent_name":"a","status":"OK","msg_type":"agent_status"}';
    const event = agentStatusEvent({ agentName: 'a', status: 'OK', agentType: null, namespace: null }, body, 0);
    assert.equal(text(encodeEvent(event)), `event: agent_status\ndata: ${body}\n\n`);
  });

  it('uses "message" as the event name for a reserved msg_type', () => {
    const event = workflowEvent(
      '7',
      { msgType: 'heartbeat', runId: null, executionId: null, filename: null, senderAgent: null, recipientAgent: null, namespace: null, processedBy: null },
      '{"msg_type":"heartbeat"}',
      0,
    );
    assert.equal(text(encodeEvent(event)), 'id: 7\nevent: message\ndata: {"msg_type":"heartbeat"}\n\n');
  });

  it('encodes multi-byte text as UTF-8', () => {
    const event: RelayEvent = {
      id: '1',
      event: 'stf_gen',
      msgType: 'stf_gen',
      runId: null,
      namespace: null,
      senderAgent: null,
      processedBy: null,
      data: '{"filename":"データ.stf"}',
      receivedAt: 0,
    };
    const frame = encodeEvent(event);
    assert.deepEqual(frame, Buffer.concat([Buffer.from('id: 1\nevent: stf_gen\ndata: {"filename":"', 'latin1'), Buffer.from('データ', 'utf8'), Buffer.from('.stf"}\n\n', 'latin1')]));
  });
});

describe('encodeControl', () => {
  it('gap', () => {
    assert.equal(
      text(encodeControl('gap', { reason: 'slow_client', from_id: '5', to_id: '9', dropped: 5 })),
      'event: gap\ndata: {"reason":"slow_client","from_id":"5","to_id":"9","dropped":5}\n\n',
    );
  });

  it('shutdown, with no id line', () => {
    assert.equal(text(encodeControl('shutdown', {})), 'event: shutdown\ndata: {}\n\n');
  });
});

describe('encodeConnected', () => {
  const body = { client_id: '0b5f6c1e-0000-4000-8000-000000000000', status: 'connected', last_event_id: null } as const;

  it('opens with retry: 3000 in the same block as the connected event (no data-less block)', () => {
    assert.equal(RETRY_MS, 3000);
    assert.equal(
      text(encodeConnected(body)),
      'retry: 3000\nevent: connected\ndata: {"client_id":"0b5f6c1e-0000-4000-8000-000000000000","status":"connected","last_event_id":null}\n\n',
    );
    assert.equal(text(encodeConnected(body)).split('\n\n').length, 2, 'one block');
  });

  it('writes the given delay and the client\'s Last-Event-ID', () => {
    assert.equal(
      text(encodeConnected({ ...body, last_event_id: '41' }, 1500)),
      'retry: 1500\nevent: connected\ndata: {"client_id":"0b5f6c1e-0000-4000-8000-000000000000","status":"connected","last_event_id":"41"}\n\n',
    );
  });

  it('is one event for an SSE parser, which also takes the retry', () => {
    const [event, ...rest] = parseSse(text(encodeConnected(body)));
    assert.deepEqual(rest, []);
    assert.equal(event?.event, 'connected');
    assert.equal(event?.retry, 3000);
    assert.deepEqual(JSON.parse(event!.data), body);
  });
});

describe('encodeHeartbeat', () => {
  /** The exact format: `{"timestamp":<seconds>.<3 digits>}`, always with the fraction. */
  const FORMAT = /^event: heartbeat\ndata: \{"timestamp":\d+\.\d{3}\}\n\n$/;

  it('writes a float UNIX timestamp in seconds, always with three decimals', () => {
    assert.equal(text(encodeHeartbeat(1764268800123)), 'event: heartbeat\ndata: {"timestamp":1764268800.123}\n\n');
    assert.equal(text(encodeHeartbeat(1764268800500)), 'event: heartbeat\ndata: {"timestamp":1764268800.500}\n\n');
    assert.equal(text(encodeHeartbeat(1764268800050)), 'event: heartbeat\ndata: {"timestamp":1764268800.050}\n\n');
  });

  it('keeps the fraction on a whole second, so a Python client reads a float, not an int', () => {
    assert.equal(text(encodeHeartbeat(1764268800000)), 'event: heartbeat\ndata: {"timestamp":1764268800.000}\n\n');
    assert.equal(text(encodeHeartbeat(0)), 'event: heartbeat\ndata: {"timestamp":0.000}\n\n');
  });

  it('matches the exact format for any millisecond instant', () => {
    for (let ms = 1764268800000; ms < 1764268801000; ms += 7) assert.match(text(encodeHeartbeat(ms)), FORMAT, String(ms));
  });

  it('its data is valid JSON and the timestamp parses back to the instant, to the millisecond', () => {
    for (const now of [1764268812345, 1764268800000, 1764268800001, 1764268899999]) {
      const { timestamp } = JSON.parse(text(encodeHeartbeat(now)).split('data: ')[1]!) as { timestamp: number };
      assert.equal(typeof timestamp, 'number');
      assert.equal(Math.round(timestamp * 1000), now);
    }
  });

  it('has the shape of a control frame: event and data lines, no id line', () => {
    const frame = text(encodeHeartbeat(1764268800123));
    assert.doesNotMatch(frame, /^id:/m);
    assert.equal(frame.split('\n\n').length, 2, 'one frame');
  });
});
