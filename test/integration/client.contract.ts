// The client contract: one suite of SSE-client scenarios against a real relay (filters, --json
// output, the state file across client and relay restarts, a silent stall, a refused token),
// run against every client by a driver saying how to start it (clients-swf-relay.test.ts,
// clients-python.test.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { range, relayed, spawnCli, spawnCommand, type ClientBench, type JsonLine, type Running } from '../helpers/client-bench.js';
import { waitUntil } from '../helpers/relay.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

const FIXTURES_FILE = fileURLToPath(new URL('../fixtures/workflow-messages.jsonl', import.meta.url));

/** What a scenario asks of the client; the token is always SWF_API_TOKEN in the environment. */
export type ClientOptions = {
  /** The relay's base URL. */
  url: string;
  /** Each entry is one occurrence of the option (it may hold a comma-separated list). */
  msgTypes?: string[];
  agents?: string[];
  runIds?: string[];
  namespaces?: string[];
  stateFile?: string;
  maxEvents?: number;
  /** Seconds. */
  maxBackoff?: number;
  /** Seconds; exit 0 after this long. */
  timeout?: number;
};

/** How to run one client. */
export type ClientDriver = {
  /** The program and arguments (and environment additions) that make the client print one JSON object per line (`{"_id", "_event", ...message}`) with `options`. */
  command(options: ClientOptions): { command: string; args: string[]; env?: Record<string, string> };
  /** The events in what the client printed on stdout. */
  parse(stdout: string): JsonLine[];
  /** What the client's stderr lines start with, before ": ". */
  stderrPrefix: string;
  /** Its hint, after a 401, that no token was given. */
  noTokenHint: RegExp;
};

/** `options` as `swf-relay receive` spells them; the Python client uses the same option names. */
export function receiveOptionArgs(options: ClientOptions): string[] {
  const args = ['--json'];
  const repeat = (flag: string, values: string[] | undefined) => {
    for (const value of values ?? []) args.push(flag, value);
  };
  repeat('--msg-types', options.msgTypes);
  repeat('--agents', options.agents);
  repeat('--run-ids', options.runIds);
  repeat('--namespaces', options.namespaces);
  if (options.stateFile !== undefined) args.push('--state-file', options.stateFile);
  if (options.maxEvents !== undefined) args.push('--max-events', String(options.maxEvents));
  if (options.maxBackoff !== undefined) args.push('--max-backoff', String(options.maxBackoff));
  if (options.timeout !== undefined) args.push('--timeout', String(options.timeout));
  return args;
}

/** Registers the contract's tests, in a suite named `name`, for the client `driver` runs; `bench` is the broker and relay. */
export function clientContract(name: string, driver: ClientDriver, bench: ClientBench): void {
  /** Starts the client in the background (killed at the end) with the bench's environment plus `env`. */
  const start = (options: ClientOptions, env: Record<string, string> = {}): Running => {
    const { command, args, env: driverEnv } = driver.command(options);
    return bench.background(spawnCommand(command, args, { ...bench.cliEnv, ...driverEnv, ...env }));
  };
  const printed = (client: Running) => driver.parse(client.stdout());
  const increasing = (lines: JsonLine[], what: string) => {
    const ids = lines.map((l) => Number(l._id));
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `${what} (at ${i})`);
  };

  describe(`client contract: ${name}`, () => {
    test('--json --max-events 200 prints exactly the 200 messages of send --count 200, parsed', async () => {
      const receiver = start({ url: bench.relay.url, runIds: ['count-200'], maxEvents: 200 });
      await bench.waitForClient('run_ids', 'count-200');
      await bench.send(['--count', '200', '--run-id', 'count-200', '--msg-type', 'count_test']);
      assert.equal(await receiver.exited, 0, receiver.stderr());
      const lines = printed(receiver);
      assert.equal(lines.length, 200);
      assert.deepEqual(lines.map((l) => l.sequence), range(1, 200));
      assert.ok(lines.every((l) => l._event === 'count_test' && l.msg_type === 'count_test' && l.run_id === 'count-200'));
      increasing(lines, 'ids increase');
    });

    test('filters select the same messages as the query string', async () => {
      const cases: { options: Omit<ClientOptions, 'url'>; query: string; expected: number }[] = [
        { options: { msgTypes: ['stf_gen'], runIds: ['100043', '100044'] }, query: '?msg_types=stf_gen&run_ids=100043,100044', expected: 2 },
        { options: { agents: ['data-agent-torre-3,daqsim-agent-kim-1'] }, query: '?agents=data-agent-torre-3,daqsim-agent-kim-1', expected: 2 },
        { options: { namespaces: ['epicprod'] }, query: '?namespaces=epicprod', expected: 2 },
      ];
      // One marker, published last, matches every case: each receiver stops at it, so anything extra would show before it.
      const marker = { msg_type: 'stf_gen', run_id: '100043', namespace: 'epicprod', sender: 'data-agent-torre-3', filename: 'marker' };
      const streamsByCase = await Promise.all(cases.map((c) => bench.open(c.query)));
      const receivers = cases.map((c) => start({ url: bench.relay.url, ...c.options, maxEvents: c.expected + 1 }));
      // Each filter value is asked for by the query stream and by the receiver: 2 streams once the receiver is subscribed.
      await bench.waitForClient('run_ids', '100044', 2);
      await bench.waitForClient('agents', 'daqsim-agent-kim-1', 2);
      await bench.waitForClient('namespaces', 'epicprod', 2);
      await bench.send(['--file', FIXTURES_FILE]);
      await bench.send([JSON.stringify(marker)]);
      for (const [i, c] of cases.entries()) {
        assert.equal(await receivers[i]!.exited, 0, receivers[i]!.stderr());
        const lines = printed(receivers[i]!);
        const fromQuery = relayed(await streamsByCase[i]!.waitFor((e) => relayed(e).length >= c.expected + 1));
        assert.equal(lines.length, c.expected + 1, c.query);
        assert.equal(lines.at(-1)!.filename, 'marker', `${c.query}: nothing extra before the marker`);
        assert.deepEqual(lines.map((l) => l._id), fromQuery.map((e) => e.id), `${c.query}: the same events`);
      }
    });

    test('--run-ids with --msg-types, then a second run resumes after the id in its state file', async () => {
      const stateFile = join(bench.dir, 'resume.state');
      const options = { url: bench.relay.url, runIds: ['resume-run'], msgTypes: ['resume_a'], stateFile };
      const first = start({ ...options, maxEvents: 20 });
      await bench.waitForClient('run_ids', 'resume-run');
      await bench.send(['--count', '10', '--run-id', 'resume-run', '--msg-type', 'resume_other']); // filtered out by msg type
      await bench.send(['--count', '10', '--run-id', 'other-run', '--msg-type', 'resume_a']); // filtered out by run
      await bench.send(['--count', '20', '--run-id', 'resume-run', '--msg-type', 'resume_a']);
      assert.equal(await first.exited, 0, first.stderr());
      const firstLines = printed(first);
      assert.deepEqual(firstLines.map((l) => `${l._event}/${l.run_id}/${l.sequence}`), range(1, 20).map((n) => `resume_a/resume-run/${n}`));

      await bench.send(['--count', '15', '--run-id', 'resume-run', '--msg-type', 'resume_a']); // while no client runs
      const second = start({ ...options, maxEvents: 15 });
      assert.equal(await second.exited, 0, second.stderr());
      const secondLines = printed(second);
      assert.deepEqual(secondLines.map((l) => l.sequence), range(1, 15), 'only the new ones: resumed after the saved id');
      assert.ok(Number(secondLines[0]!._id) > Number(firstLines.at(-1)!._id));
      assert.equal(JSON.parse(readFileSync(stateFile, 'utf8')).last_event_id, secondLines.at(-1)!._id);
    });

    test('--state-file: relay killed mid-stream, client stopped, both restarted: every message exactly once', async () => {
      const stateFile = join(bench.dir, 'kill.state');
      const options = { url: bench.relay.url, runIds: ['state-run'], stateFile, maxBackoff: 0.5 };
      const first = start(options);
      await bench.waitForClient('run_ids', 'state-run');
      const batchA = bench.background(spawnCli(['send', '--count', '100', '--rate', '100', '--run-id', 'state-run', '--msg-type', 'batch_a'], bench.cliEnv));
      await waitUntil(() => printed(first).length >= 30, 'the receiver to print 30 events', first.stderr);
      await bench.relay.stop('SIGKILL');
      assert.equal(await batchA.exited, 0, `the broker confirmed every send: ${batchA.stderr()}`);
      await waitUntil(() => /retrying in/.test(first.stderr()), 'the receiver to notice the lost relay', first.stderr);
      assert.equal(await first.stop('SIGTERM'), 143, 'SIGTERM exits 128 + 15');
      const firstLines = printed(first);
      assert.equal(JSON.parse(readFileSync(stateFile, 'utf8')).last_event_id, firstLines.at(-1)!._id, 'the state file holds the last printed id');
      await bench.send(['--count', '50', '--run-id', 'state-run', '--msg-type', 'batch_b']); // while the relay is down
      await bench.restartRelay();

      const remaining = 150 - firstLines.length;
      assert.ok(remaining > 50, `the relay was killed before the receiver had everything of batch_a (it had ${firstLines.length})`);
      const second = start({ ...options, maxEvents: remaining });
      assert.equal(await second.exited, 0, second.stderr());
      const all = [...firstLines, ...printed(second)];
      assert.deepEqual(all.filter((l) => l._event === 'batch_a').map((l) => l.sequence), range(1, 100), 'batch_a exactly once, in order');
      assert.deepEqual(all.filter((l) => l._event === 'batch_b').map((l) => l.sequence), range(1, 50), 'batch_b exactly once, in order');
      increasing(all, 'ids increase across both runs');
    });

    test('200 messages across a relay restart: none lost, none twice', async () => {
      const receiver = start({ url: bench.relay.url, runIds: ['restart-run'], maxEvents: 200, maxBackoff: 0.5 });
      await bench.waitForClient('run_ids', 'restart-run');
      await bench.send(['--count', '100', '--run-id', 'restart-run', '--msg-type', 'before_restart']);
      await waitUntil(() => printed(receiver).length === 100, 'the first 100', receiver.stderr);
      assert.equal(await bench.relay.stop('SIGTERM'), 0);
      await bench.send(['--count', '100', '--run-id', 'restart-run', '--msg-type', 'after_restart']);
      await bench.restartRelay();
      assert.equal(await receiver.exited, 0, receiver.stderr());
      assert.deepEqual(
        printed(receiver).map((l) => `${l._event}:${l.sequence}`),
        [...range(1, 100).map((n) => `before_restart:${n}`), ...range(1, 100).map((n) => `after_restart:${n}`)],
      );
    });

    test('reconnects after a silent stall (no heartbeat) and misses nothing', async () => {
      const proxy = await startTcpProxy(bench.relay.port);
      try {
        const receiver = start({ url: `http://127.0.0.1:${proxy.port}`, runIds: ['stall-run'], maxEvents: 10, maxBackoff: 0.5 });
        await bench.waitForClient('run_ids', 'stall-run');
        // Heartbeats go to every stream at once: 3 on a stream opened after the receiver's mean it has had 2, so it knows the interval (0.5 s) and expects one at least every second.
        const watcher = await bench.open('?run_ids=stall-watcher');
        await bench.send(['--count', '5', '--run-id', 'stall-run', '--msg-type', 'before_stall']);
        await waitUntil(() => printed(receiver).length === 5, 'the first 5 events', receiver.stderr);
        await watcher.waitFor((events) => events.filter((e) => e.event === 'heartbeat').length >= 3);
        proxy.freeze();
        await bench.send(['--count', '5', '--run-id', 'stall-run', '--msg-type', 'during_stall']);
        assert.equal(await receiver.exited, 0, receiver.stderr());
        assert.match(receiver.stderr(), /nothing received for 1\.\d s \(no heartbeat\)/);
        assert.deepEqual(
          printed(receiver).map((l) => `${l._event}:${l.sequence}`),
          [...range(1, 5).map((n) => `before_stall:${n}`), ...range(1, 5).map((n) => `during_stall:${n}`)],
        );
      } finally {
        await proxy.close();
      }
    });

    test('exit code 3 with one clear line on a bad or missing token', async () => {
      const badToken = start({ url: bench.relay.url, timeout: 5 }, { SWF_API_TOKEN: 'not-a-valid-key' });
      assert.equal(await badToken.exited, 3);
      assert.equal(badToken.stderr(), `${driver.stderrPrefix}: the relay refused the credentials (401: Invalid token.)\n`);
      const noToken = start({ url: bench.relay.url, timeout: 5 }, { SWF_API_TOKEN: '' });
      assert.equal(await noToken.exited, 3);
      assert.match(noToken.stderr(), driver.noTokenHint);
    });
  });
}
