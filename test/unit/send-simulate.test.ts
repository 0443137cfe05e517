// The pure parts of `swf-relay send` (named receive-* with the other client-command tests):
// generated and simulated messages, and the send pipeline against a fake publisher.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StompProducer } from '../../src/cli/send/stomp-producer.js';
import { testMessage } from '../../src/cli/send/send.js';
import { SendPipeline } from '../../src/cli/send/pipeline.js';
import { agentHeartbeats, agentsOf, executionIdAt, runTimeline, stfFilename } from '../../src/cli/send/workflow-simulator.js';
import { classifyText } from '../../src/model/message.js';

const OPTIONS = { namespace: 'swf-demo', filesPerRun: 6, stfIntervalMs: 100 };

describe('runTimeline', () => {
  const timeline = runTimeline(100123, 'stf-exec-20261127-140000', OPTIONS);
  const types = timeline.map((m) => m.body.msg_type);

  it('goes run_imminent → start_run → files → end_run, in time order', () => {
    assert.equal(types[0], 'run_imminent');
    assert.equal(types[1], 'start_run');
    assert.equal(types.at(-1), 'end_run');
    for (let i = 1; i < timeline.length; i++) assert.ok(timeline[i]!.atMs >= timeline[i - 1]!.atMs);
    assert.equal(timeline.length, 2 + 3 * OPTIONS.filesPerRun + 2 + 1);
  });

  it('has one stf_gen per file, with sequence and filename, one interval apart outside the pause', () => {
    const stf = timeline.filter((m) => m.body.msg_type === 'stf_gen');
    assert.deepEqual(stf.map((m) => m.body.sequence), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(stf.map((m) => m.body.filename), [1, 2, 3, 4, 5, 6].map((n) => stfFilename(100123, n)));
    assert.equal(stfFilename(100123, 7), 'swf.100123.000007.stf');
    assert.equal(stf[1]!.atMs - stf[0]!.atMs, 100);
    assert.equal(stf[3]!.atMs - stf[2]!.atMs, 400, 'the pause after half the files adds three intervals');
    assert.ok(stf.every((m) => m.body.run_id === 100123), 'stf_gen carries run_id as a number, as the testbed does');
  });

  it('follows each file with data_ready and processing_complete from the other agents', () => {
    const agents = agentsOf('swf-demo');
    for (let seq = 1; seq <= OPTIONS.filesPerRun; seq++) {
      const filename = stfFilename(100123, seq);
      const of = (type: string) => timeline.find((m) => m.body.msg_type === type && m.body.filename === filename)!;
      assert.ok(of('stf_gen').atMs < of('data_ready').atMs && of('data_ready').atMs < of('processing_complete').atMs);
      assert.equal(of('data_ready').body.sender, agents.data);
      assert.equal(of('data_ready').body.recipient, agents.processing);
      assert.equal(of('processing_complete').body.processed_by, agents.processing);
      assert.ok(of('processing_complete').atMs < timeline.at(-1)!.atMs, 'processed before end_run');
    }
  });

  it('pauses and resumes once, mid-run', () => {
    const pause = types.indexOf('pause_run');
    const resume = types.indexOf('resume_run');
    assert.ok(pause > 0 && resume > pause);
    assert.equal(types.filter((t) => t === 'pause_run').length, 1);
    assert.equal(timeline.slice(0, pause).filter((m) => m.body.msg_type === 'stf_gen').length, 3);
    assert.equal(timeline.slice(pause, resume).filter((m) => m.body.msg_type === 'stf_gen').length, 0, 'no file while paused');
  });

  it('publishes only bodies the relay accepts: workflow messages and heartbeats', () => {
    for (const { body } of timeline) assert.equal(classifyText(JSON.stringify(body)).kind, 'workflow', JSON.stringify(body));
    for (const beat of agentHeartbeats('swf-demo', true)) {
      assert.equal(classifyText(JSON.stringify(beat)).kind, 'heartbeat');
      assert.deepEqual(Object.keys(beat).slice(0, 4), ['agent_name', 'status', 'agent_type', 'namespace']);
    }
    assert.equal(agentHeartbeats('x', false)[0]!.operational_state, 'READY');
    assert.equal(timeline.at(-1)!.body.total_files, 6);
  });

  it('scales with the interval', () => {
    const slow = runTimeline(1, 'e', { ...OPTIONS, stfIntervalMs: 200 });
    assert.deepEqual(slow.map((m) => m.atMs), timeline.map((m) => m.atMs * 2));
  });

  it('names executions like the testbed', () => {
    assert.equal(executionIdAt(new Date('2026-11-27T14:05:09Z')), 'stf-exec-20261127-140509');
  });
});

describe('testMessage', () => {
  it('is a valid workflow message with the chosen type, run and sequence', () => {
    const body = testMessage(3, { msgType: 'sse_test', runId: 'run-7', sender: 'me', namespace: 'ns', count: 5 });
    assert.equal(classifyText(JSON.stringify(body)).kind, 'workflow');
    assert.deepEqual({ ...body, timestamp: undefined }, { msg_type: 'sse_test', run_id: 'run-7', sequence: 3, sender: 'me', namespace: 'ns', message: 'test message 3 of 5', timestamp: undefined });
  });
});

/** A publisher whose sends resolve or fail when the test says so. */
function fakePublisher() {
  const waiting: { body: string; resolve: () => void; reject: (err: Error) => void }[] = [];
  const publisher: StompProducer = {
    send: (body) => new Promise<void>((resolve, reject) => waiting.push({ body, resolve, reject })),
    connected: true,
    close: async () => {},
  };
  return { publisher, waiting };
}

describe('SendPipeline', () => {
  it('refuses invalid bodies with a line naming them, sends the rest', async () => {
    const { publisher, waiting } = fakePublisher();
    const notices: string[] = [];
    const pipeline = new SendPipeline(() => publisher, { raw: false, maxBytes: 100, notice: (l) => notices.push(l) });
    assert.equal(await pipeline.submit('{"msg_type":"ok"}', 'line 1'), true);
    assert.equal(await pipeline.submit('{"no_type":1}', 'line 2'), false);
    assert.equal(await pipeline.submit('not json', 'line 3'), false);
    assert.equal(await pipeline.submit(`{"msg_type":"big","pad":"${'x'.repeat(100)}"}`, 'line 4'), false);
    assert.equal(await pipeline.submit('{"msg_type":"a\\nb"}', 'line 5'), false, 'a newline in msg_type would inject SSE frames');
    assert.equal(waiting.length, 1);
    assert.match(notices[0]!, /^line 2: not sent, unknown_kind: /);
    assert.match(notices[1]!, /^line 3: not sent, bad_json: /);
    assert.match(notices[2]!, /^line 4: not sent, too_large: /);
    waiting[0]!.resolve();
    assert.deepEqual(await pipeline.drain(), { sent: 1, confirmed: 1, failed: 0, refused: 4 });
  });

  it('sends anything with raw', async () => {
    const { publisher, waiting } = fakePublisher();
    const pipeline = new SendPipeline(() => publisher, { raw: true, maxBytes: 10, notice: () => {} });
    assert.equal(await pipeline.submit('not json', 'x'), true);
    assert.equal(waiting[0]!.body, 'not json');
  });

  it('keeps at most `window` sends waiting for receipts, and counts failures', async () => {
    const { publisher, waiting } = fakePublisher();
    const notices: string[] = [];
    const pipeline = new SendPipeline(() => publisher, { raw: false, maxBytes: 1000, notice: (l) => notices.push(l), window: 2 });
    await pipeline.submit('{"msg_type":"a"}', 'm1');
    await pipeline.submit('{"msg_type":"b"}', 'm2');
    let third = false;
    const submitting = pipeline.submit('{"msg_type":"c"}', 'm3').then(() => (third = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(third, false, 'waits while two are in flight');
    waiting[0]!.reject(new Error('no receipt'));
    await submitting;
    assert.equal(waiting.length, 3);
    waiting[1]!.resolve();
    waiting[2]!.resolve();
    assert.deepEqual(await pipeline.drain(), { sent: 3, confirmed: 2, failed: 1, refused: 0 });
    assert.deepEqual(notices, ['m1: send failed: no receipt']);
  });
});
