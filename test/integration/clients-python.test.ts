// The standard-library Python client (clients/python, the swf_relay_client package): its own
// unittest suite, the client contract run on its command line (`python3 -m swf_relay_client`
// from the sources) against a private ActiveMQ and the relay as a real process, its readable
// output compared with `swf-relay receive`'s, and the package installed offline with pip into a
// fresh virtual environment, whose swf-relay-receive then receives from the relay.
import assert from 'node:assert/strict';
import { cpSync, existsSync, realpathSync } from 'node:fs';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { jsonLines, range, spawnCli, spawnCommand, useClientBench, type Running } from '../helpers/client-bench.js';
import { clientContract, receiveOptionArgs, type ClientDriver } from './client.contract.js';

const PYTHON_DIR = fileURLToPath(new URL('../../clients/python/', import.meta.url));
/** The package from the sources, as an uninstalled checkout runs it. */
const FROM_SOURCES = { PYTHONPATH: PYTHON_DIR };

/**
 * Debian's interpreter for the pip test: the packages that let it build offline are Debian's
 * (scripts/ensure-test-services.sh installs them); another python3 on the PATH may lack `wheel`.
 */
const DEBIAN_PYTHON = '/usr/bin/python3';
const VENV_PACKAGES = 'python3-venv python3-setuptools python3-wheel';
const INSTALL_HINT = `install Debian's ${VENV_PACKAGES} (apt-get install -y --no-install-recommends ${VENV_PACKAGES})`;

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

  test('readable and --json lines are the same as swf-relay receive\'s, control characters escaped', async () => {
    const messages = [
      JSON.stringify({ msg_type: 'stf_gen', run_id: 'fmt-run', sender_agent: 'daq-1', filename: 'evil\x1b[2J\rname\x07\u009b.stf' }),
      JSON.stringify({ msg_type: 'data_ready', run_id: 'fmt-run', sender_agent: 'data-1', recipient_agent: 'proc-2', message: 'ready \u0085 → データ' }),
      JSON.stringify({ msg_type: 'start_run', run_id: 'fmt-run', sender_agent: 'daq-1', state: 'run', substate: 'physics' }),
      JSON.stringify({ msg_type: 'processing_failed', run_id: 'fmt-run', sender: 'proc-2' }),
      // As written: an integer beyond 2^53 and a number beyond a double (Python reads it as inf).
      '{"msg_type": "big_numbers", "run_id": "fmt-run", "panda_id": 9007199254740993, "x": 1e400}',
    ];
    // Times are shown in the local zone: the same one for both.
    const env = { ...bench.cliEnv, TZ: 'UTC' };
    const args = (output: string[]) => [bench.relay.url, '--run-ids', 'fmt-run', '--max-events', String(messages.length), ...output];
    const outputs = [['--color', 'never'], ['--color', 'always'], ['--json']];
    const clients = outputs.flatMap((output) => [
      { output, name: 'receive', run: bench.background(spawnCli(['receive', ...args(output)], env)) },
      { output, name: 'python', run: bench.background(spawnCommand('python3', ['-m', 'swf_relay_client', ...args(output)], { ...env, ...FROM_SOURCES })) },
    ]);
    await bench.waitForClient('run_ids', 'fmt-run', clients.length);
    await bench.send(messages);
    for (const c of clients) assert.equal(await c.run.exited, 0, `${c.name} ${c.output.join(' ')}: ${c.run.stderr()}`);
    const [plainReceive, plainPython, colourReceive, colourPython, jsonReceive, jsonPython] = clients.map((c) => c.run.stdout());
    assert.equal(plainPython, plainReceive);
    assert.equal(colourPython, colourReceive);
    assert.equal(jsonPython, jsonReceive);
    assert.equal(plainPython!.split('\n').length, messages.length + 1);
    assert.ok(!/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(plainPython!), `no control character but the newlines: ${JSON.stringify(plainPython)}`);
    assert.ok(plainPython!.includes('evil\\u001b[2J\\u000dname\\u0007\\u009b.stf'), plainPython);
    assert.ok(plainPython!.includes('ready \\u0085 → データ'), plainPython);
    assert.match(colourPython!, /\x1b\[32mstf_gen/);
    const json = jsonLines(jsonPython!);
    assert.equal(json[0]!.filename, 'evil\x1b[2J\rname\x07\u009b.stf', '--json: the exact text');
    assert.match(jsonPython!, /"panda_id": 9007199254740993, "x": 1e400,"sender_agent"/, '--json: the numbers as written');
  });

  describe('pip install into a fresh virtual environment (offline)', () => {
    /** The venv's programs; set by the first test. */
    let venv = '';
    const bin = (name: string) => join(venv, 'bin', name);
    /** Nothing from the sources on the path: only what pip installed. */
    const installedOnly = { PYTHONPATH: '' };
    const finished = async (run: Running, what: string, hint = '') => {
      const code = await run.exited;
      assert.equal(code, 0, `${what} exited ${code}${hint === '' ? '' : ` (${hint})`}\n${run.stdout()}\n${run.stderr()}`);
      return run;
    };

    test('venv --system-site-packages, pip install --no-index --no-build-isolation: importable, swf-relay-receive offers receive\'s options', async (t) => {
      assert.ok(existsSync(DEBIAN_PYTHON), `${DEBIAN_PYTHON} is missing: install Debian's python3 and ${VENV_PACKAGES}`);
      // A copy: pip builds in the source tree, which would leave build/ and *.egg-info in the checkout.
      const source = join(bench.dir, 'swf-relay-client');
      cpSync(PYTHON_DIR, source, { recursive: true, filter: (path) => !['__pycache__', 'build'].includes(basename(path)) && !path.endsWith('.egg-info') });
      venv = join(bench.dir, 'venv');
      const timings: string[] = [];
      const timed = async <T>(what: string, step: () => Promise<T>) => {
        const started = performance.now();
        const result = await step();
        timings.push(`${what} ${((performance.now() - started) / 1000).toFixed(1)} s`);
        return result;
      };
      // System site packages: Debian's setuptools and wheel build the package without the network.
      await timed('venv', () => finished(spawnCommand(DEBIAN_PYTHON, ['-m', 'venv', '--system-site-packages', venv], installedOnly), 'python3 -m venv', INSTALL_HINT));
      const pip = await timed('pip install', () =>
        finished(
          spawnCommand(bin('python'), ['-m', 'pip', 'install', '--no-index', '--no-build-isolation', '--disable-pip-version-check', source], installedOnly, bench.dir),
          'pip install',
          `building needs setuptools ≥ 61 and wheel: ${INSTALL_HINT}`,
        ),
      );
      assert.match(pip.stdout(), /Successfully installed swf-relay-client-\d+\.\d+\.\d+/);

      // Imported from the venv's site-packages (cwd and PYTHONPATH hold no copy of it).
      const imported = await finished(
        spawnCommand(bin('python'), ['-c', 'import swf_relay_client as c; print(c.__file__); print(c.RelayClient.__name__, c.main.__name__)'], installedOnly, bench.dir),
        'import swf_relay_client',
      );
      const [file, names] = imported.stdout().trim().split('\n');
      assert.ok(realpathSync(file!).startsWith(realpathSync(venv)), `imported from the venv, not ${file}`);
      assert.equal(names, 'RelayClient main');

      const help = await timed('swf-relay-receive --help', () => finished(spawnCommand(bin('swf-relay-receive'), ['--help'], installedOnly, bench.dir), 'swf-relay-receive --help'));
      assert.match(help.stdout(), /^usage: swf-relay-receive /);
      const receiveHelp = await bench.cli(['receive', '--help']);
      assert.equal(receiveHelp.code, 0, receiveHelp.stderr);
      const options = (text: string) => [...new Set(text.match(/(?<=\s)--[a-z][a-z-]+/g))].sort();
      assert.deepEqual(options(help.stdout()), options(receiveHelp.stdout), 'the same long options as swf-relay receive');
      const moduleHelp = await finished(spawnCommand(bin('python'), ['-m', 'swf_relay_client', '--help'], installedOnly, bench.dir), 'python -m swf_relay_client --help');
      assert.match(moduleHelp.stdout(), /^usage: python -m swf_relay_client /);

      // The package's own unit tests, against the installed copy.
      const unit = await timed('unit tests', () => finished(spawnCommand(bin('python'), ['-m', 'unittest', 'discover', '-s', join(source, 'tests')], installedOnly, bench.dir), 'the unit tests'));
      assert.match(unit.stderr(), /^OK$/m);
      t.diagnostic(timings.join(', '));
    });

    test('the venv\'s swf-relay-receive receives from the relay: filters, --json, --max-events; exit 3 on a bad token', async (t) => {
      assert.ok(venv !== '', 'installed by the test before');
      const started = performance.now();
      const receiver = bench.background(
        spawnCommand(bin('swf-relay-receive'), [bench.relay.url, '--run-ids', 'venv-run', '--msg-types', 'venv_a', '--json', '--max-events', '5'], { ...bench.cliEnv, ...installedOnly }, bench.dir),
      );
      await bench.waitForClient('run_ids', 'venv-run');
      await bench.send(['--count', '3', '--run-id', 'venv-run', '--msg-type', 'venv_b']); // another type
      await bench.send(['--count', '3', '--run-id', 'other-run', '--msg-type', 'venv_a']); // another run
      await bench.send(['--count', '5', '--run-id', 'venv-run', '--msg-type', 'venv_a']);
      assert.equal(await receiver.exited, 0, receiver.stderr());
      const lines = jsonLines(receiver.stdout());
      assert.deepEqual(lines.map((l) => `${l._event}/${l.run_id}/${l.sequence}`), range(1, 5).map((n) => `venv_a/venv-run/${n}`));
      t.diagnostic(`5 filtered events received by the installed command in ${((performance.now() - started) / 1000).toFixed(1)} s (start to exit)`);

      const refused = bench.background(spawnCommand(bin('swf-relay-receive'), [bench.relay.url, '--timeout', '5'], { ...bench.cliEnv, ...installedOnly, SWF_API_TOKEN: 'not-a-valid-key' }, bench.dir));
      assert.equal(await refused.exited, 3);
      assert.equal(refused.stderr(), 'swf-relay-receive: the relay refused the credentials (401: Invalid token.)\n');
    });
  });
});
