// The client commands and the Python client against a private ActiveMQ and the relay as a
// real process: `swf-relay send` (fixtures, stdin, --count, --rate, --simulate), `swf-relay
// receive` (--json, filters, --state-file across a relay kill, stalls, exit codes), and
// clients/python (filters, state file, relay restart, stall, its unittest suite).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { readWorkflowFixtures } from '../helpers/fixtures.js';
import { freePort, makeToken, runCli, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { openStream, type SseEvent, type SseStream } from '../helpers/sse-client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const FIXTURES_FILE = fileURLToPath(new URL('../fixtures/workflow-messages.jsonl', import.meta.url));
const PYTHON_DIR = fileURLToPath(new URL('../../clients/python/', import.meta.url));
const PYTHON_CLIENT = join(PYTHON_DIR, 'swf_relay_client.py');
const WORKFLOW = readWorkflowFixtures();

const CONTROL = new Set(['connected', 'heartbeat', 'gap', 'shutdown']);
const relayed = (events: SseEvent[]) => events.filter((e) => !CONTROL.has(e.event));
type JsonLine = { _id: string | null; _event: string; sequence?: number; msg_type?: string; [key: string]: unknown };
const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as JsonLine);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A command running in the background: its output so far, and its exit. */
type Running = { child: ChildProcess; stdout(): string; stderr(): string; exited: Promise<number | null>; stop(signal?: NodeJS.Signals): Promise<number | null> };

/** Spawns `command args` with `env` added; output is collected; killed if the test process exits. */
function spawnCommand(command: string, args: string[], env: Record<string, string>, cwd = ROOT): Running {
  const child = spawn(command, args, { cwd, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      process.removeListener('exit', kill);
      resolve(code ?? (signal ? -1 : null));
    }),
  );
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** `swf-relay <args>` from the sources, in the background. */
const spawnCli = (args: string[], env: Record<string, string>) => spawnCommand(process.execPath, ['--import', 'tsx', MAIN, ...args], env);
/** The Python client's command line, in the background. */
const spawnPython = (args: string[], env: Record<string, string>) => spawnCommand('python3', [PYTHON_CLIENT, ...args], env);

describe('client commands and the Python client', () => {
  let broker: PrivateBroker;
  let relay: RelayProcess;
  let token: string;
  let dir: string;
  let env: Record<string, string>;
  /** The environment of CLI commands: broker and topic for send, token for receive. */
  let cliEnv: Record<string, string>;
  const topic = `/topic/clients-${process.pid}`;
  const streams: SseStream[] = [];
  const background: Running[] = [];

  const open = async (query: string) => {
    const stream = await openStream(`${relay.url}/api/messages/stream/${query}`, { Authorization: `Token ${token}` });
    streams.push(stream);
    assert.equal(stream.status, 200);
    await stream.waitFor((events) => events.some((e) => e.event === 'connected'));
    return stream;
  };
  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { ...cliEnv, ...extra });
  const bg = (running: Running) => (background.push(running), running);
  /** Waits until the relay lists a stream whose `param` filter includes `value` (so a receiver is subscribed before we publish). */
  const waitForClient = async (param: 'run_ids' | 'namespaces', value: string, count = 1) => {
    await waitUntil(async () => {
      const res = await fetch(`${relay.url}/api/messages/stream/status/`, { headers: { Authorization: `Token ${token}` } });
      const status = (await res.json()) as { client_filters: Record<string, Record<string, string[]>> };
      return Object.values(status.client_filters).filter((f) => f[param]?.includes(value)).length >= count;
    }, `a stream filtered on ${param}=${value}`, relay.output);
  };
  const send = async (args: string[]) => {
    const result = await cli(['send', ...args]);
    assert.equal(result.code, 0, `send ${args.join(' ')}: ${result.stderr}`);
    return result;
  };

  before(async () => {
    broker = await startActiveMQ();
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-clients-'));
    env = {
      DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
      ACTIVEMQ_PORT: String(broker.port),
      ACTIVEMQ_HEARTBEAT_TOPIC: topic,
      ACTIVEMQ_CLIENT_ID: `clients-${process.pid}`,
      SSE_HEARTBEAT_SECONDS: '0.5',
    };
    token = await makeToken(env);
    relay = await startRelay(env, { waitForBroker: token });
    cliEnv = { ACTIVEMQ_PORT: String(broker.port), ACTIVEMQ_HEARTBEAT_TOPIC: topic, SWF_API_TOKEN: token, DATABASE_URL: env.DATABASE_URL!, NO_COLOR: '1' };
  });

  after(async () => {
    for (const s of streams) s.close();
    for (const b of background) await b.stop('SIGKILL');
    await relay?.stop();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('send --file: the fixtures reach an SSE stream, in order', async () => {
    const stream = await open('');
    const result = await send(['--file', FIXTURES_FILE]);
    assert.match(result.stderr, new RegExp(`sent ${WORKFLOW.length} messages to ${topic}, all confirmed by the broker`));
    const events = relayed(await stream.waitFor((e) => relayed(e).length >= WORKFLOW.length));
    assert.deepEqual(
      events.map((e) => JSON.parse(e.data).msg_type),
      WORKFLOW.map((line) => JSON.parse(line).msg_type),
    );
    assert.deepEqual(JSON.parse(events[13]!.data).filename, 'データ.stf');
  });

  test('send: bodies from arguments and stdin; invalid ones refused (exit 4) unless --raw', async () => {
    const stream = await open('?run_ids=stdin-run');
    const piped = spawnCli(['send'], cliEnv);
    piped.child.stdin!.end(['{"msg_type":"from_stdin","run_id":"stdin-run","n":1}', '', '{"msg_type":"from_stdin","run_id":"stdin-run","n":2}', ''].join('\n'));
    assert.equal(await piped.exited, 0, piped.stderr());
    const refused = await cli(['send', '{"msg_type":"from_arg","run_id":"stdin-run"}', '{"msg_type":"bad\\ntype","run_id":"stdin-run"}', '[1]']);
    assert.equal(refused.code, 4);
    assert.match(refused.stderr, /argument 2: not sent, invalid_workflow: msg_type: contains control characters/);
    assert.match(refused.stderr, /argument 3: not sent, not_object/);
    assert.match(refused.stderr, /sent 1 message to .*, confirmed by the broker, 2 refused as invalid/);
    const events = relayed(await stream.waitFor((e) => relayed(e).length >= 3));
    assert.deepEqual(events.map((e) => [JSON.parse(e.data).msg_type, JSON.parse(e.data).n]), [['from_stdin', 1], ['from_stdin', 2], ['from_arg', undefined]]);
    // --raw sends even what the relay rejects; the relay stores it as rejected, the stream never sees it.
    await send(['--raw', 'not json at all']);
    const nothing = await cli(['send']);
    assert.equal(nothing.code, 0, 'an empty stdin sends nothing and is no error');
  });

  test('send --count 200 → receive --json --max-events 200 prints exactly those, parsed', async () => {
    const receiver = bg(spawnCli(['receive', relay.url, '--json', '--run-ids', 'count-200', '--max-events', '200'], cliEnv));
    await waitForClient('run_ids', 'count-200');
    await send(['--count', '200', '--run-id', 'count-200', '--msg-type', 'count_test']);
    assert.equal(await receiver.exited, 0, receiver.stderr());
    const lines = jsonLines(receiver.stdout());
    assert.equal(lines.length, 200);
    assert.deepEqual(lines.map((l) => l.sequence), range(1, 200));
    assert.ok(lines.every((l) => l._event === 'count_test' && l.msg_type === 'count_test' && l.run_id === 'count-200'));
    const ids = lines.map((l) => Number(l._id));
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, 'ids increase');
  });

  test('send --count 50 --rate 500 sends 50, paced', async () => {
    const stream = await open('?run_ids=rate-50');
    const result = await send(['--count', '50', '--rate', '500', '--run-id', 'rate-50']);
    assert.match(result.stderr, /sent 50 messages to .*, all confirmed by the broker/);
    const events = relayed(await stream.waitFor((e) => relayed(e).length >= 50));
    const times = events.map((e) => Date.parse(JSON.parse(e.data).timestamp as string));
    assert.equal(events.length, 50);
    assert.ok(times.at(-1)! - times[0]! >= 90, `50 messages at 500/s take ≥ 98 ms, took ${times.at(-1)! - times[0]!} ms`);
  });

  test('filters given to receive select the same messages as the query string', async () => {
    const cases: { args: string[]; query: string; expected: number }[] = [
      { args: ['--msg-types', 'stf_gen', '--run-ids', '100043', '--run-ids', '100044'], query: '?msg_types=stf_gen&run_ids=100043,100044', expected: 2 },
      { args: ['--agents', 'data-agent-torre-3,daqsim-agent-kim-1'], query: '?agents=data-agent-torre-3,daqsim-agent-kim-1', expected: 2 },
      { args: ['--namespaces', 'epicprod'], query: '?namespaces=epicprod', expected: 2 },
    ];
    // One marker, published last, matches every case: each receiver stops at it, so anything extra would show before it.
    const marker = { msg_type: 'stf_gen', run_id: '100043', namespace: 'epicprod', sender: 'data-agent-torre-3', filename: 'marker' };
    const streamsByCase = await Promise.all(cases.map((c) => open(c.query)));
    const receivers = cases.map((c) => bg(spawnCli(['receive', relay.url, '--json', ...c.args, '--max-events', String(c.expected + 1)], cliEnv)));
    await waitForClient('run_ids', '100044');
    await waitForClient('namespaces', 'epicprod', 2);
    await waitUntil(async () => {
      const res = await fetch(`${relay.url}/api/messages/stream/status/`, { headers: { Authorization: `Token ${token}` } });
      const status = (await res.json()) as { client_filters: Record<string, Record<string, string[]>> };
      return Object.values(status.client_filters).filter((f) => f.agents?.includes('daqsim-agent-kim-1')).length >= 2;
    }, 'the agents receiver');
    await send(['--file', FIXTURES_FILE]);
    await send([JSON.stringify(marker)]);
    for (const [i, c] of cases.entries()) {
      assert.equal(await receivers[i]!.exited, 0, receivers[i]!.stderr());
      const printed = jsonLines(receivers[i]!.stdout());
      const fromQuery = relayed(await streamsByCase[i]!.waitFor((e) => relayed(e).length >= c.expected + 1));
      assert.equal(printed.length, c.expected + 1, c.query);
      assert.equal(printed.at(-1)!.filename, 'marker', `${c.query}: nothing extra before the marker`);
      assert.deepEqual(printed.map((l) => l._id), fromQuery.map((e) => e.id), `${c.query}: the same events`);
    }
  });

  test('receive --state-file: relay killed mid-stream, both restarted, every message exactly once', async () => {
    const stateFile = join(dir, 'receive.state');
    const args = ['receive', relay.url, '--json', '--run-ids', 'state-run', '--state-file', stateFile, '--max-backoff', '0.5'];
    const first = bg(spawnCli(args, cliEnv));
    await waitForClient('run_ids', 'state-run');
    const sending = spawnCli(['send', '--count', '100', '--rate', '100', '--run-id', 'state-run', '--msg-type', 'batch_a'], cliEnv);
    await waitUntil(() => jsonLines(first.stdout()).length >= 30, 'the receiver to print 30 events', first.stderr);
    await relay.stop('SIGKILL');
    assert.equal(await sending.exited, 0, `the broker confirmed every send: ${sending.stderr()}`);
    await waitUntil(() => /retrying in/.test(first.stderr()), 'the receiver to notice the lost relay', first.stderr);
    assert.equal(await first.stop('SIGTERM'), 143, 'SIGTERM exits 128 + 15');
    const firstLines = jsonLines(first.stdout());
    assert.equal(JSON.parse(readFileSync(stateFile, 'utf8')).last_event_id, firstLines.at(-1)!._id, 'the state file holds the last printed id');
    await send(['--count', '50', '--run-id', 'state-run', '--msg-type', 'batch_b']); // while the relay is down
    relay = await startRelay(relay.env, { waitForBroker: token });

    const remaining = 150 - firstLines.length;
    assert.ok(remaining > 50, `the relay was killed before the receiver had everything of batch_a (it had ${firstLines.length})`);
    const second = await cli([...args, '--max-events', String(remaining)]);
    assert.equal(second.code, 0, second.stderr);
    const all = [...firstLines, ...jsonLines(second.stdout)];
    assert.deepEqual(all.filter((l) => l._event === 'batch_a').map((l) => l.sequence), range(1, 100), 'batch_a exactly once, in order');
    assert.deepEqual(all.filter((l) => l._event === 'batch_b').map((l) => l.sequence), range(1, 50), 'batch_b exactly once, in order');
    const ids = all.map((l) => Number(l._id));
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `ids increase across both runs (at ${i})`);
  });

  test('receive reconnects after a silent stall (no heartbeat) and misses nothing', async () => {
    const proxy = await startTcpProxy(relay.port);
    try {
      const receiver = bg(spawnCli(['receive', `http://127.0.0.1:${proxy.port}`, '--json', '--run-ids', 'stall-run', '--max-events', '10', '--max-backoff', '0.5'], cliEnv));
      await waitForClient('run_ids', 'stall-run');
      await send(['--count', '5', '--run-id', 'stall-run', '--msg-type', 'before_stall']);
      await waitUntil(() => jsonLines(receiver.stdout()).length === 5, 'the first 5 events', receiver.stderr);
      // Let two heartbeats show the interval (0.5 s), so the receiver expects one at least every second.
      await new Promise((r) => setTimeout(r, 1200));
      proxy.freeze();
      await send(['--count', '5', '--run-id', 'stall-run', '--msg-type', 'during_stall']);
      assert.equal(await receiver.exited, 0, receiver.stderr());
      assert.match(receiver.stderr(), /nothing received for 1\.\d s \(no heartbeat\)/);
      const lines = jsonLines(receiver.stdout());
      assert.deepEqual(lines.map((l) => `${l._event}:${l.sequence}`), [...range(1, 5).map((n) => `before_stall:${n}`), ...range(1, 5).map((n) => `during_stall:${n}`)]);
    } finally {
      await proxy.close();
    }
  });

  test('receive exit codes: 3 bad token, 4 bad filter, 5 unreachable, 2 usage — each with one line on stderr', async () => {
    const oneLine = (stderr: string) => stderr.trimEnd().split('\n');
    const badToken = await cli(['receive', relay.url], { SWF_API_TOKEN: 'not-a-valid-key' });
    assert.equal(badToken.code, 3);
    assert.deepEqual(oneLine(badToken.stderr), ['swf-relay: the relay refused the credentials (401: Invalid token.)']);
    const noToken = await cli(['receive', relay.url], { SWF_API_TOKEN: '' });
    assert.equal(noToken.code, 3);
    assert.match(noToken.stderr, /no token given: set SWF_API_TOKEN or use --token-file/);

    const badFilter = await cli(['receive', relay.url, '--run-ids', 'x'.repeat(201)]);
    assert.equal(badFilter.code, 4);
    assert.deepEqual(oneLine(badFilter.stderr), ['swf-relay: the relay refused the request (400: invalid filter run_ids: a value is longer than 200 characters [run_ids])']);

    const nobody = `http://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const unreachable = await cli(['receive', nobody, '--connect-timeout', '1', '--quiet']);
    assert.equal(unreachable.code, 5);
    assert.ok(Date.now() - started < 10_000);
    assert.match(unreachable.stderr, /^swf-relay: cannot reach the relay at http:\/\/127\.0\.0\.1:\d+\/api\/messages\/stream\/: ECONNREFUSED \(gave up after/);
    assert.equal(oneLine(unreachable.stderr).length, 1);

    const usage = await cli(['receive', relay.url, '--max-events', '0']);
    assert.equal(usage.code, 2);
    const tokenFile = await cli(['receive', relay.url, '--token-file', join(dir, 'missing-token')]);
    assert.equal(tokenFile.code, 2);
    assert.match(tokenFile.stderr, /cannot read token file/);
  });

  test('send exit codes: 5 when the broker is unreachable, 2 for conflicting inputs', async () => {
    const unreachable = await cli(['send', '{"msg_type":"x"}', '--connect-timeout', '2'], { ACTIVEMQ_PORT: String(await freePort()) });
    assert.equal(unreachable.code, 5);
    assert.match(unreachable.stderr, /^swf-relay: cannot reach the broker at stomp:\/\/127\.0\.0\.1:\d+: /);
    const conflict = await cli(['send', '{"msg_type":"x"}', '--count', '3']);
    assert.equal(conflict.code, 2);
    assert.match(conflict.stderr, /give only one of a body argument, --count/);
    const missing = await cli(['send', '--file', join(dir, 'no-such.jsonl')]);
    assert.equal(missing.code, 2);
  });

  test('send --simulate --runs 1: a realistic run with heartbeats', async () => {
    const stream = await open('?namespaces=sim-ns&msg_types=run_imminent,start_run,stf_gen,data_ready,processing_complete,pause_run,resume_run,end_run,agent_status');
    const result = await send(['--simulate', '--runs', '1', '--rate', '20', '--files', '4', '--namespace', 'sim-ns', '--heartbeat-seconds', '0.2', '--run-id', '424242']);
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

  describe('Python client', () => {
    test('its unittest suite passes', async () => {
      const run = spawnCommand('python3', ['-m', 'unittest', '-q', 'test_swf_relay_client'], {}, PYTHON_DIR);
      assert.equal(await run.exited, 0, run.stderr());
      assert.match(run.stderr(), /OK/);
    });

    test('receives with filters and resumes from its state file', async () => {
      const stateFile = join(dir, 'python.state');
      const args = [relay.url, '--json', '--run-ids', 'py-run', '--msg-types', 'py_a', '--state-file', stateFile];
      const first = bg(spawnPython([...args, '--max-events', '20'], cliEnv));
      await waitForClient('run_ids', 'py-run');
      await send(['--count', '10', '--run-id', 'py-run', '--msg-type', 'py_other']); // filtered out by msg type
      await send(['--count', '10', '--run-id', 'other-run', '--msg-type', 'py_a']); // filtered out by run
      await send(['--count', '20', '--run-id', 'py-run', '--msg-type', 'py_a']);
      assert.equal(await first.exited, 0, first.stderr());
      const firstLines = jsonLines(first.stdout());
      assert.deepEqual(firstLines.map((l) => `${l._event}/${l.run_id}/${l.sequence}`), range(1, 20).map((n) => `py_a/py-run/${n}`));

      await send(['--count', '15', '--run-id', 'py-run', '--msg-type', 'py_a']); // while no client runs
      const second = spawnPython([...args, '--max-events', '15'], cliEnv);
      assert.equal(await second.exited, 0, second.stderr());
      const secondLines = jsonLines(second.stdout());
      assert.deepEqual(secondLines.map((l) => l.sequence), range(1, 15), 'only the new ones: resumed after the saved id');
      assert.ok(Number(secondLines[0]!._id) > Number(firstLines.at(-1)!._id));
      assert.equal(JSON.parse(readFileSync(stateFile, 'utf8')).last_event_id, secondLines.at(-1)!._id);
    });

    test('200 messages across a relay restart: none lost, none twice', async () => {
      const receiver = bg(spawnPython([relay.url, '--json', '--run-ids', 'py-restart', '--max-events', '200', '--max-backoff', '0.5'], cliEnv));
      await waitForClient('run_ids', 'py-restart');
      await send(['--count', '100', '--run-id', 'py-restart', '--msg-type', 'py_before']);
      await waitUntil(() => jsonLines(receiver.stdout()).length === 100, 'the first 100', receiver.stderr);
      assert.equal(await relay.stop('SIGTERM'), 0);
      await send(['--count', '100', '--run-id', 'py-restart', '--msg-type', 'py_after']);
      relay = await startRelay(relay.env, { waitForBroker: token });
      assert.equal(await receiver.exited, 0, receiver.stderr());
      const lines = jsonLines(receiver.stdout());
      assert.deepEqual(lines.map((l) => `${l._event}:${l.sequence}`), [...range(1, 100).map((n) => `py_before:${n}`), ...range(1, 100).map((n) => `py_after:${n}`)]);
    });

    test('reconnects after a silent stall (no heartbeat)', async () => {
      const proxy = await startTcpProxy(relay.port);
      try {
        const receiver = bg(spawnPython([`http://127.0.0.1:${proxy.port}`, '--json', '--run-ids', 'py-stall', '--max-events', '10', '--max-backoff', '0.5'], cliEnv));
        await waitForClient('run_ids', 'py-stall');
        await send(['--count', '5', '--run-id', 'py-stall', '--msg-type', 'before_stall']);
        await waitUntil(() => jsonLines(receiver.stdout()).length === 5, 'the first 5 events', receiver.stderr);
        await new Promise((r) => setTimeout(r, 1200));
        proxy.freeze();
        await send(['--count', '5', '--run-id', 'py-stall', '--msg-type', 'during_stall']);
        assert.equal(await receiver.exited, 0, receiver.stderr());
        assert.match(receiver.stderr(), /nothing received for 1\.\d s \(no heartbeat\)/);
        assert.deepEqual(jsonLines(receiver.stdout()).map((l) => `${l._event}:${l.sequence}`), [...range(1, 5).map((n) => `before_stall:${n}`), ...range(1, 5).map((n) => `during_stall:${n}`)]);
      } finally {
        await proxy.close();
      }
    });

    test('exit code 3 with one clear line on a bad token', async () => {
      const run = spawnPython([relay.url, '--timeout', '5'], { ...cliEnv, SWF_API_TOKEN: 'not-a-valid-key' });
      assert.equal(await run.exited, 3);
      assert.equal(run.stderr(), 'swf_relay_client: the relay refused the credentials (401: Invalid token.)\n');
    });
  });
});
