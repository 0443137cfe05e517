// The client commands against a private ActiveMQ and the relay as a real process: `swf-relay
// send` (fixtures, stdin, --count, --rate, --simulate, exit codes), the client contract run on
// `swf-relay receive`, and the exit codes only receive has (4 bad filter, 5 unreachable, 2 usage).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { jsonLines, relayed, spawnCli, useClientBench } from '../helpers/client-bench.js';
import { readWorkflowFixtures } from '../helpers/fixtures.js';
import { freePort, RELAY_ARGS } from '../helpers/relay.js';
import { clientContract, receiveOptionArgs, type ClientDriver } from './client.contract.js';

const FIXTURES_FILE = fileURLToPath(new URL('../fixtures/workflow-messages.jsonl', import.meta.url));
const WORKFLOW = readWorkflowFixtures();

/** `swf-relay receive URL --json …` from the sources. */
const receiveDriver: ClientDriver = {
  command: (options) => ({ command: process.execPath, args: [...RELAY_ARGS, 'receive', options.url, ...receiveOptionArgs(options)] }),
  parse: jsonLines,
  stderrPrefix: 'swf-relay',
  noTokenHint: /no token given: set SWF_API_TOKEN or use --token-file/,
};

describe('swf-relay send and receive', () => {
  const bench = useClientBench('clients-swf-relay');

  test('send --file: the fixtures reach an SSE stream, in order', async () => {
    const stream = await bench.open('');
    const result = await bench.send(['--file', FIXTURES_FILE]);
    assert.match(result.stderr, new RegExp(`sent ${WORKFLOW.length} messages to ${bench.topic}, all confirmed by the broker`));
    const events = relayed(await stream.waitFor((e) => relayed(e).length >= WORKFLOW.length));
    assert.deepEqual(
      events.map((e) => JSON.parse(e.data).msg_type),
      WORKFLOW.map((line) => JSON.parse(line).msg_type),
    );
    assert.deepEqual(JSON.parse(events[13]!.data).filename, 'データ.stf');
  });

  test('send: bodies from arguments and stdin; invalid ones refused (exit 4) unless --raw', async () => {
    const stream = await bench.open('?run_ids=stdin-run');
    const piped = spawnCli(['send'], bench.cliEnv);
    piped.child.stdin!.end(['{"msg_type":"from_stdin","run_id":"stdin-run","n":1}', '', '{"msg_type":"from_stdin","run_id":"stdin-run","n":2}', ''].join('\n'));
    assert.equal(await piped.exited, 0, piped.stderr());
    const refused = await bench.cli(['send', '{"msg_type":"from_arg","run_id":"stdin-run"}', '{"msg_type":"bad\\ntype","run_id":"stdin-run"}', '[1]']);
    assert.equal(refused.code, 4);
    assert.match(refused.stderr, /argument 2: not sent, invalid_workflow: msg_type: contains control characters/);
    assert.match(refused.stderr, /argument 3: not sent, not_object/);
    assert.match(refused.stderr, /sent 1 message to .*, confirmed by the broker, 2 refused as invalid/);
    const events = relayed(await stream.waitFor((e) => relayed(e).length >= 3));
    assert.deepEqual(events.map((e) => [JSON.parse(e.data).msg_type, JSON.parse(e.data).n]), [['from_stdin', 1], ['from_stdin', 2], ['from_arg', undefined]]);
    // --raw sends even what the relay rejects; the relay stores it as rejected, the stream never sees it.
    await bench.send(['--raw', 'not json at all']);
    const nothing = await bench.cli(['send']);
    assert.equal(nothing.code, 0, 'an empty stdin sends nothing and is no error');
  });

  test('send --count 50 --rate 500 sends 50, paced', async () => {
    const stream = await bench.open('?run_ids=rate-50');
    const result = await bench.send(['--count', '50', '--rate', '500', '--run-id', 'rate-50']);
    assert.match(result.stderr, /sent 50 messages to .*, all confirmed by the broker/);
    const events = relayed(await stream.waitFor((e) => relayed(e).length >= 50));
    const times = events.map((e) => Date.parse(JSON.parse(e.data).timestamp as string));
    assert.equal(events.length, 50);
    assert.ok(times.at(-1)! - times[0]! >= 90, `50 messages at 500/s take ≥ 98 ms, took ${times.at(-1)! - times[0]!} ms`);
  });

  test('send exit codes: 5 when the broker is unreachable, 2 for conflicting inputs', async () => {
    const unreachable = await bench.cli(['send', '{"msg_type":"x"}', '--connect-timeout', '2'], { ACTIVEMQ_PORT: String(await freePort()) });
    assert.equal(unreachable.code, 5);
    assert.match(unreachable.stderr, /^swf-relay: cannot reach the broker at stomp:\/\/127\.0\.0\.1:\d+: /);
    const conflict = await bench.cli(['send', '{"msg_type":"x"}', '--count', '3']);
    assert.equal(conflict.code, 2);
    assert.match(conflict.stderr, /give only one of a body argument, --count/);
    const missing = await bench.cli(['send', '--file', join(bench.dir, 'no-such.jsonl')]);
    assert.equal(missing.code, 2);
  });

  test('send --simulate --runs 1: a realistic run with heartbeats', async () => {
    const stream = await bench.open('?namespaces=sim-ns&msg_types=run_imminent,start_run,stf_gen,data_ready,processing_complete,pause_run,resume_run,end_run,agent_status');
    const result = await bench.send(['--simulate', '--runs', '1', '--rate', '20', '--files', '4', '--namespace', 'sim-ns', '--heartbeat-seconds', '0.2', '--run-id', '424242']);
    assert.match(result.stderr, /run 424242: complete, 17 messages \(4 files planned\)/);
    const events = relayed(await stream.waitFor((e) => relayed(e).some((x) => x.event === 'end_run')));
    const workflow = events.filter((e) => e.event !== 'agent_status').map((e) => JSON.parse(e.data) as Record<string, unknown>);
    assert.equal(workflow[0]!.msg_type, 'run_imminent');
    assert.equal(workflow.at(-1)!.msg_type, 'end_run');
    assert.deepEqual(workflow.filter((m) => m.msg_type === 'stf_gen').map((m) => m.filename), [1, 2, 3, 4].map((n) => `swf.424242.00000${n}.stf`));
    assert.equal(workflow.filter((m) => m.msg_type === 'pause_run').length, 1);
    assert.ok(workflow.every((m) => m.namespace === 'sim-ns' && String(m.run_id) === '424242'));
    const beats = events.filter((e) => e.event === 'agent_status').map((e) => JSON.parse(e.data) as Record<string, unknown>);
    assert.ok(beats.length >= 3, `agent heartbeats: ${beats.length}`);
    assert.deepEqual(Object.keys(beats[0]!).slice(0, 4), ['agent_name', 'status', 'agent_type', 'namespace']);
  });

  clientContract('swf-relay receive', receiveDriver, bench);

  test('receive exit codes: 4 bad filter, 5 unreachable, 2 usage (3 for a bad token: the client contract)', async () => {
    const oneLine = (stderr: string) => stderr.trimEnd().split('\n');
    const badFilter = await bench.cli(['receive', bench.relay.url, '--run-ids', 'x'.repeat(201)]);
    assert.equal(badFilter.code, 4);
    assert.deepEqual(oneLine(badFilter.stderr), ['swf-relay: the relay refused the request (400: invalid filter run_ids: a value is longer than 200 characters [run_ids])']);

    const nobody = `http://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const unreachable = await bench.cli(['receive', nobody, '--connect-timeout', '1', '--quiet']);
    assert.equal(unreachable.code, 5);
    assert.ok(Date.now() - started < 10_000);
    assert.match(unreachable.stderr, /^swf-relay: cannot reach the relay at http:\/\/127\.0\.0\.1:\d+\/api\/messages\/stream\/: ECONNREFUSED \(gave up after/);
    assert.equal(oneLine(unreachable.stderr).length, 1);

    const usage = await bench.cli(['receive', bench.relay.url, '--max-events', '0']);
    assert.equal(usage.code, 2);
    const tokenFile = await bench.cli(['receive', bench.relay.url, '--token-file', join(bench.dir, 'missing-token')]);
    assert.equal(tokenFile.code, 2);
    assert.match(tokenFile.stderr, /cannot read token file/);
  });
});
