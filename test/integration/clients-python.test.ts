// The standard-library Python client (clients/python): its own unittest suite, and the client
// contract run on its command line against a private ActiveMQ and the relay as a real process.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { jsonLines, spawnCommand, useClientBench } from '../helpers/client-bench.js';
import { clientContract, receiveOptionArgs, type ClientDriver } from './client.contract.js';

const PYTHON_DIR = fileURLToPath(new URL('../../clients/python/', import.meta.url));
const PYTHON_CLIENT = join(PYTHON_DIR, 'swf_relay_client.py');

/** `python3 swf_relay_client.py URL --json …`: its options are named as receive's. */
const pythonDriver: ClientDriver = {
  command: (options) => ({ command: 'python3', args: [PYTHON_CLIENT, options.url, ...receiveOptionArgs(options)] }),
  parse: jsonLines,
  stderrPrefix: 'swf_relay_client',
  // The library's hint (RelayClient(token=…)), which the command line prints too.
  noTokenHint: /no token given: set SWF_API_TOKEN or pass token=/,
};

describe('Python client', () => {
  const bench = useClientBench('clients-python');

  test('its unittest suite passes', async () => {
    const run = spawnCommand('python3', ['-m', 'unittest', '-q', 'test_swf_relay_client'], {}, PYTHON_DIR);
    assert.equal(await run.exited, 0, run.stderr());
    assert.match(run.stderr(), /OK/);
  });

  clientContract('Python client', pythonDriver, bench);
});
