// Bad configuration stops `swf-relay start` before anything runs: exit code 2 and one line per
// problem naming the variable — never a stack trace or exit 1 from deep inside start-up.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../helpers/relay.js';

describe('bad configuration at start', () => {
  let dir: string;
  let notPem: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-config-exit-'));
    notPem = join(dir, 'cert.pem');
    writeFileSync(notPem, 'not a certificate\n');
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases: [string, Record<string, string>, RegExp][] = [
    ['TRUSTED_PROXIES with a host name', { TRUSTED_PROXIES: 'proxy.example' }, /^swf-relay: TRUSTED_PROXIES: "proxy\.example" is not an IP address or CIDR range/],
    ['HOST that is no address', { HOST: 'not a host' }, /^swf-relay: HOST: must be an IP address or a host name/],
    ['TLS files that are not PEM', { TLS_CERT_FILE: '', TLS_KEY_FILE: '' }, /^swf-relay: TLS_CERT_FILE: ".*" is not a PEM certificate file\nswf-relay: TLS_KEY_FILE: ".*" is not a PEM key file\n$/],
    ['Redis Cluster (not supported)', { REDIS_URL: 'redis+cluster://127.0.0.1:7000,127.0.0.1:7001' }, /^swf-relay: REDIS_URL: Redis Cluster is not supported: .*redis\+sentinel:\/\/.*\n$/],
    ['a Sentinel URL without the master name', { REDIS_URL: 'redis+sentinel://127.0.0.1:26379' }, /^swf-relay: REDIS_URL: a Sentinel URL needs the master name/],
    ['a sub-second heartbeat', { SSE_HEARTBEAT_SECONDS: '0.0001' }, /^swf-relay: SSE_HEARTBEAT_SECONDS: must be 0 \(off\) or a number of seconds from 0.5 to 86400/],
  ];
  for (const [what, env, expected] of cases) {
    test(`${what}: exit 2, one line per problem`, async () => {
      const full = { DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`, ...env };
      if ('TLS_CERT_FILE' in env) Object.assign(full, { TLS_CERT_FILE: notPem, TLS_KEY_FILE: notPem });
      const result = await runCli(['start'], full);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, expected);
      assert.ok(!/\n\s+at /.test(result.stderr), `no stack trace: ${result.stderr}`);
    });
  }
});
