// The standard-library Python client (clients/python, the swf_relay_client package): its own
// unittest suite, and the client contract run on its command line (`python3 -m swf_relay_client`
// from the sources) against a private ActiveMQ and the relay as a real process.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { jsonLines, spawnCommand, useClientBench } from '../helpers/client-bench.js';
import { clientContract, receiveOptionArgs, type ClientDriver } from './client.contract.js';

const PYTHON_DIR = fileURLToPath(new URL('../../clients/python/', import.meta.url));
/** The package from the sources, as an uninstalled checkout runs it. */
const FROM_SOURCES = { PYTHONPATH: PYTHON_DIR };

/** `python3 -m swf_relay_client URL --json …`: its options are named as receive's. */
const pythonDriver: ClientDriver = {
  command: (options) => ({ command: 'python3', args: ['-m', 'swf_relay_client', options.url, ...receiveOptionArgs(options)], env: FROM_SOURCES }),
  parse: jsonLines,
  stderrPrefix: 'swf_relay_client',
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
});
