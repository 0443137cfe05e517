// The standard-library Python client (clients/python, the swf_relay_client package): its own
// unittest suite, the client contract run on its command line (`python3 -m swf_relay_client`
// from the sources) against a private ActiveMQ and the relay as a real process, and its readable
// output compared with `swf-relay receive`'s.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { jsonLines, spawnCli, spawnCommand, useClientBench } from '../helpers/client-bench.js';
import { clientContract, receiveOptionArgs, type ClientDriver } from './client.contract.js';

const PYTHON_DIR = fileURLToPath(new URL('../../clients/python/', import.meta.url));
/** The package from the sources, as an uninstalled checkout runs it. */
const FROM_SOURCES = { PYTHONPATH: PYTHON_DIR };

/** `python3 -m swf_relay_client URL --json …`: its options are named as receive's. */
const pythonDriver: ClientDriver = {
  command: (options) => ({ command: 'python3', args: ['-m', 'swf_relay_client', options.url, ...receiveOptionArgs(options)], env: FROM_SOURCES }),
  parse: jsonLines,
  stderrPrefix: 'swf-relay-receive',
  // The library's hint (RelayClient(token=…)), which the command line prints too.
  noTokenHint: /no token given: set SWF_API_TOKEN or pass token=/,
};

describe('Python client', () => {
  const bench = useClientBench('clients-python');

  test('its unittest suite passes', async () => {
    const run = spawnCommand('python3', ['-m', 'unittest', 'discover', '-s', 'tests'], {}, PYTHON_DIR);
    assert.equal(await run.exited, 0, run.stderr());
    assert.match(run.stderr(), /^Ran \d+ tests/m);
    assert.match(run.stderr(), /^OK$/m);
  });

  clientContract('Python client', pythonDriver, bench);

  test('readable lines are the same as swf-relay receive\'s, plain and coloured, control characters escaped', async () => {
    const messages = [
      { msg_type: 'stf_gen', run_id: 'fmt-run', sender_agent: 'daq-1', filename: 'evil\x1b[2J\rname\x07\u009b.stf' },
      { msg_type: 'data_ready', run_id: 'fmt-run', sender_agent: 'data-1', recipient_agent: 'proc-2', message: 'ready \u0085 → データ' },
      { msg_type: 'start_run', run_id: 'fmt-run', sender_agent: 'daq-1', state: 'run', substate: 'physics' },
      { msg_type: 'processing_failed', run_id: 'fmt-run', sender: 'proc-2' },
    ];
    // Times are shown in the local zone: the same one for both.
    const env = { ...bench.cliEnv, TZ: 'UTC' };
    const args = (color: string) => [bench.relay.url, '--run-ids', 'fmt-run', '--max-events', String(messages.length), '--color', color];
    const clients = ['never', 'always'].flatMap((color) => [
      { color, name: 'receive', run: bench.background(spawnCli(['receive', ...args(color)], env)) },
      { color, name: 'python', run: bench.background(spawnCommand('python3', ['-m', 'swf_relay_client', ...args(color)], { ...env, ...FROM_SOURCES })) },
    ]);
    await bench.waitForClient('run_ids', 'fmt-run', clients.length);
    await bench.send(messages.map((m) => JSON.stringify(m)));
    for (const c of clients) assert.equal(await c.run.exited, 0, `${c.name} --color ${c.color}: ${c.run.stderr()}`);
    const [plainReceive, plainPython, colourReceive, colourPython] = clients.map((c) => c.run.stdout());
    assert.equal(plainPython, plainReceive);
    assert.equal(colourPython, colourReceive);
    assert.equal(plainPython!.split('\n').length, messages.length + 1);
    assert.ok(!/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(plainPython!), `no control character but the newlines: ${JSON.stringify(plainPython)}`);
    assert.ok(plainPython!.includes('evil\\u001b[2J\\u000dname\\u0007\\u009b.stf'), plainPython);
    assert.ok(plainPython!.includes('ready \\u0085 → データ'), plainPython);
    assert.match(colourPython!, /\x1b\[32mstf_gen/);
  });
});
