import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig, readDotEnv, redactDatabaseUrl, type Config } from '../../src/config.js';

/** loadConfig expected to fail; returns its problems. */
function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    assert.equal(err.message, `invalid configuration:\n${err.problems.join('\n')}`);
    return err.problems;
  }
  assert.fail(`loadConfig accepted ${JSON.stringify(env)}`);
}

let dir: string;
/** A real self-signed certificate and its key (openssl), and a file that exists but holds neither. */
let certFile: string;
let keyFile: string;
let notPem: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'swf-relay-config-'));
  certFile = join(dir, 'cert.pem');
  keyFile = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  notPem = join(dir, 'not-pem.txt');
  writeFileSync(notPem, 'not really a certificate\n');
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('loadConfig: defaults (SPEC §6)', () => {
  let config: Config;
  before(() => {
    config = loadConfig({});
  });

  it('DATABASE_URL defaults to sqlite:./data/swf-relay.db', () => {
    assert.deepEqual(config.database, { kind: 'sqlite', path: './data/swf-relay.db' });
  });

  it('REDIS_URL unset → in-memory bus; SSE_CHANNEL_GROUP workflow_events', () => {
    assert.equal(config.redisUrl, undefined);
    assert.equal(config.channelGroup, 'workflow_events');
  });

  it('broker: 127.0.0.1:61613, no login, no TLS, /topic/epictopic, durable subscription swf-relay', () => {
    const b = config.broker;
    assert.equal(b.host, '127.0.0.1');
    assert.equal(b.port, 61613);
    assert.equal(b.user, undefined);
    assert.equal(b.password, undefined);
    assert.equal(b.useSsl, false);
    assert.equal(b.caCertsFile, undefined);
    assert.equal(b.certFile, undefined);
    assert.equal(b.keyFile, undefined);
    assert.equal(b.destination, '/topic/epictopic');
    assert.equal(b.subscriptionName, 'swf-relay');
  });

  it('HTTP listens on 127.0.0.1:8000', () => {
    assert.deepEqual(config.http, { host: '127.0.0.1', port: 8000 });
  });

  it('BASE_PATH unset: served at the root only', () => {
    assert.equal(config.basePath, '');
  });

  it('stream behaviour: heartbeat 30 s, queue 100 events and 8 MiB, replay 10000, 10000 clients, 50 streams per user, no query token', () => {
    assert.deepEqual(config.sse, {
      heartbeatSeconds: 30,
      clientQueueSize: 100,
      clientQueueBytes: 8 * 1024 * 1024,
      replayMax: 10_000,
      maxClients: 10_000,
      maxStreamsPerUser: 50,
      allowQueryToken: false,
      connectsPerMinute: 600,
    });
  });

  it('browser access unset: no CORS origins, no trusted proxies, secure cookie decided per request', () => {
    assert.deepEqual(config.corsAllowedOrigins, []);
    assert.deepEqual(config.trustedProxies, []);
    assert.equal(config.sessionSecureCookie, undefined);
  });

  it('LOG_LEVEL info; message size limit 1 MiB', () => {
    assert.equal(config.logLevel, 'info');
    assert.equal(config.messageMaxBytes, 1_048_576);
  });

  it('an empty string counts as unset', () => {
    const c = loadConfig({ PORT: '', LOG_LEVEL: '', DATABASE_URL: '', SSE_HEARTBEAT_SECONDS: '' });
    assert.equal(c.http.port, 8000);
    assert.equal(c.logLevel, 'info');
    assert.deepEqual(c.database, { kind: 'sqlite', path: './data/swf-relay.db' });
    assert.equal(c.sse.heartbeatSeconds, 30);
  });

  it('ignores variables it does not know', () => {
    assert.deepEqual(loadConfig({ PATH: '/bin', SOMETHING_ELSE: 'x' }), config);
  });
});

describe('loadConfig: values', () => {
  it('reads every variable', () => {
    const c = loadConfig({
      DATABASE_URL: 'postgres://relay:pw@db.example:5432/swf',
      REDIS_URL: 'rediss://cache.example:6380/0',
      SSE_CHANNEL_GROUP: 'grp',
      ACTIVEMQ_HOST: 'mq.example',
      ACTIVEMQ_PORT: '61614',
      ACTIVEMQ_USER: 'u',
      ACTIVEMQ_PASSWORD: 'p',
      ACTIVEMQ_USE_SSL: 'true',
      ACTIVEMQ_SSL_CA_CERTS: certFile,
      ACTIVEMQ_SSL_CERT_FILE: certFile,
      ACTIVEMQ_SSL_KEY_FILE: keyFile,
      ACTIVEMQ_HEARTBEAT_TOPIC: 'othertopic',
      ACTIVEMQ_SUBSCRIPTION_NAME: 'sub',
      HOST: '0.0.0.0',
      PORT: '0',
      SSE_HEARTBEAT_SECONDS: '2.5',
      SSE_CLIENT_QUEUE_SIZE: '7',
      SSE_CLIENT_QUEUE_BYTES: '65536',
      SSE_REPLAY_MAX: '0',
      SSE_MAX_CLIENTS: '3',
      SSE_MAX_STREAMS_PER_USER: '2',
      SSE_ALLOW_QUERY_TOKEN: 'yes',
      CORS_ALLOWED_ORIGINS: 'https://a.example, https://b.example,',
      TRUSTED_PROXIES: '10.0.0.1',
      SESSION_SECURE_COOKIE: 'false',
      LOG_LEVEL: 'debug',
    });
    assert.deepEqual(c.database, { kind: 'postgres', url: 'postgres://relay:pw@db.example:5432/swf' });
    assert.equal(c.redisUrl, 'rediss://cache.example:6380/0');
    assert.equal(c.channelGroup, 'grp');
    assert.equal(c.broker.host, 'mq.example');
    assert.equal(c.broker.port, 61614);
    assert.equal(c.broker.user, 'u');
    assert.equal(c.broker.password, 'p');
    assert.equal(c.broker.useSsl, true);
    assert.equal(c.broker.caCertsFile, certFile);
    assert.equal(c.broker.certFile, certFile);
    assert.equal(c.broker.keyFile, keyFile);
    assert.equal(c.broker.destination, '/topic/othertopic');
    assert.equal(c.broker.subscriptionName, 'sub');
    assert.deepEqual(c.http, { host: '0.0.0.0', port: 0 });
    assert.deepEqual(c.sse, { heartbeatSeconds: 2.5, clientQueueSize: 7, clientQueueBytes: 65536, replayMax: 0, maxClients: 3, maxStreamsPerUser: 2, allowQueryToken: true, connectsPerMinute: 600 });
    assert.deepEqual(c.corsAllowedOrigins, ['https://a.example', 'https://b.example']);
    assert.deepEqual(c.trustedProxies, ['10.0.0.1']);
    assert.equal(c.sessionSecureCookie, false);
    assert.equal(c.logLevel, 'debug');
  });

  it('SSE_HEARTBEAT_SECONDS=0 disables heartbeats', () => {
    assert.equal(loadConfig({ SSE_HEARTBEAT_SECONDS: '0' }).sse.heartbeatSeconds, 0);
  });

  it('booleans: true/1/yes/on and false/0/no/off, any case, trimmed', () => {
    for (const v of ['true', 'TRUE', 'True', '1', 'yes', 'YES', 'on', ' true ']) {
      assert.equal(loadConfig({ SSE_ALLOW_QUERY_TOKEN: v }).sse.allowQueryToken, true, v);
      assert.equal(loadConfig({ SESSION_SECURE_COOKIE: v }).sessionSecureCookie, true, v);
      assert.equal(loadConfig({ ACTIVEMQ_USE_SSL: v }).broker.useSsl, true, v);
    }
    for (const v of ['false', 'FALSE', '0', 'no', 'off', ' Off ']) {
      assert.equal(loadConfig({ SSE_ALLOW_QUERY_TOKEN: v }).sse.allowQueryToken, false, v);
      assert.equal(loadConfig({ SESSION_SECURE_COOKIE: v }).sessionSecureCookie, false, v);
      assert.equal(loadConfig({ ACTIVEMQ_USE_SSL: v }).broker.useSsl, false, v);
    }
    for (const v of ['maybe', '2', 'tru', 'enabled']) {
      const problems = problemsOf({ SSE_ALLOW_QUERY_TOKEN: v });
      assert.equal(problems.length, 1, v);
      assert.match(problems[0]!, /^SSE_ALLOW_QUERY_TOKEN: /);
    }
  });

  it('DATABASE_URL: sqlite:<path> forms', () => {
    assert.deepEqual(loadConfig({ DATABASE_URL: 'sqlite:relay.db' }).database, { kind: 'sqlite', path: 'relay.db' });
    assert.deepEqual(loadConfig({ DATABASE_URL: 'sqlite:/var/lib/swf/relay.db' }).database, { kind: 'sqlite', path: '/var/lib/swf/relay.db' });
    assert.deepEqual(loadConfig({ DATABASE_URL: 'sqlite:///var/lib/swf/relay.db' }).database, { kind: 'sqlite', path: '/var/lib/swf/relay.db' });
    assert.deepEqual(loadConfig({ DATABASE_URL: 'sqlite::memory:' }).database, { kind: 'sqlite', path: ':memory:' });
    assert.deepEqual(loadConfig({ DATABASE_URL: '  sqlite:./x.db  ' }).database, { kind: 'sqlite', path: './x.db' });
  });

  it('DATABASE_URL: postgres:// and postgresql:// are kept as URLs', () => {
    for (const url of ['postgres://u:p@h:5432/db', 'postgresql://h/db?sslmode=require']) {
      assert.deepEqual(loadConfig({ DATABASE_URL: url }).database, { kind: 'postgres', url });
    }
  });

  it('DATABASE_URL: anything else is one problem naming it', () => {
    for (const bad of ['sqlite:', 'mysql://h/db', 'relay.db', 'postgres:/h/db', 'http://h']) {
      const problems = problemsOf({ DATABASE_URL: bad });
      assert.equal(problems.length, 1, bad);
      assert.match(problems[0]!, /^DATABASE_URL: /, bad);
    }
  });

  it('topic: /topic/ is prefixed when absent, kept when given', () => {
    assert.equal(loadConfig({ ACTIVEMQ_HEARTBEAT_TOPIC: 'epictopic' }).broker.destination, '/topic/epictopic');
    assert.equal(loadConfig({ ACTIVEMQ_HEARTBEAT_TOPIC: '/topic/epictopic' }).broker.destination, '/topic/epictopic');
    assert.equal(loadConfig({ ACTIVEMQ_HEARTBEAT_TOPIC: ' mytopic ' }).broker.destination, '/topic/mytopic');
  });

  it('ACTIVEMQ_SUBSCRIPTION_NAME set to the empty string means a non-durable subscription (SPEC §6)', () => {
    assert.equal(loadConfig({ ACTIVEMQ_SUBSCRIPTION_NAME: '' }).broker.subscriptionName, '');
    // Unset still means the default durable name, and other variables set to '' still count as unset.
    assert.equal(loadConfig({ ACTIVEMQ_SUBSCRIPTION_NAME: undefined }).broker.subscriptionName, 'swf-relay');
    const c = loadConfig({ ACTIVEMQ_SUBSCRIPTION_NAME: '', ACTIVEMQ_CLIENT_ID: '', PORT: '' });
    assert.equal(c.broker.subscriptionName, '');
    assert.equal(c.broker.clientId, 'swf-relay');
    assert.equal(c.http.port, 8000);
  });

  it('the result is deeply frozen', () => {
    const c = loadConfig({ CORS_ALLOWED_ORIGINS: 'https://a.example' });
    for (const part of [c, c.database, c.broker, c.http, c.sse, c.corsAllowedOrigins, c.trustedProxies]) assert.ok(Object.isFrozen(part));
    assert.throws(() => {
      (c.http as { port: number }).port = 1;
    }, TypeError);
    assert.throws(() => {
      (c.corsAllowedOrigins as string[]).push('https://evil.example');
    }, TypeError);
    assert.equal(c.http.port, 8000);
  });
});

describe('loadConfig: bad values', () => {
  it('lists every bad variable at once, one line each, naming it', () => {
    const env = {
      DATABASE_URL: 'mysql://h/db',
      REDIS_URL: 'http://cache',
      ACTIVEMQ_PORT: '70000',
      ACTIVEMQ_USE_SSL: 'perhaps',
      ACTIVEMQ_SSL_CA_CERTS: join(dir, 'missing-ca.pem'),
      ACTIVEMQ_HEARTBEAT_TOPIC: '   ',
      PORT: 'eighty',
      SSE_HEARTBEAT_SECONDS: '-1',
      SSE_CLIENT_QUEUE_SIZE: '0',
      SSE_CLIENT_QUEUE_BYTES: '0',
      SSE_REPLAY_MAX: '1.5',
      SSE_MAX_CLIENTS: 'lots',
      SSE_MAX_STREAMS_PER_USER: '-3',
      SSE_ALLOW_QUERY_TOKEN: 'sometimes',
      SESSION_SECURE_COOKIE: 'x',
      MESSAGE_MAX_BYTES: '10',
      LOG_LEVEL: 'loud',
    };
    const problems = problemsOf(env);
    const named = problems.map((p) => /^([A-Z_]+): /.exec(p)?.[1]);
    assert.deepEqual([...named].sort(), Object.keys(env).sort(), problems.join('\n'));
    for (const line of problems) assert.doesNotMatch(line, /\n/);
  });

  it('shows the bad value in its line', () => {
    const [line] = problemsOf({ PORT: 'eighty' });
    assert.match(line!, /^PORT: .*"eighty"/);
  });

  it('SSE_CLIENT_QUEUE_BYTES: from 1 KiB to 1 GiB; 0 (no bound) is refused', () => {
    for (const v of ['0', '1023', '8MiB', '1073741825', '-1']) assert.equal(problemsOf({ SSE_CLIENT_QUEUE_BYTES: v }).length, 1, v);
    for (const v of ['1024', '1073741824']) assert.equal(loadConfig({ SSE_CLIENT_QUEUE_BYTES: v }).sse.clientQueueBytes, Number(v));
  });

  it('ports out of range', () => {
    for (const v of ['65536', '-1', '8000.5', '0x50']) assert.equal(problemsOf({ PORT: v }).length, 1, v);
    assert.equal(problemsOf({ ACTIVEMQ_PORT: '0' }).length, 1);
  });

  it('a client certificate without its key (or the reverse) is refused', () => {
    for (const env of [{ ACTIVEMQ_SSL_CERT_FILE: certFile }, { ACTIVEMQ_SSL_KEY_FILE: keyFile }]) {
      const problems = problemsOf(env);
      assert.equal(problems.length, 1);
      assert.match(problems[0]!, /ACTIVEMQ_SSL_CERT_FILE/);
      assert.match(problems[0]!, /ACTIVEMQ_SSL_KEY_FILE/);
    }
  });

  it('the certificate/key problem is listed together with the other bad variables', () => {
    const problems = problemsOf({ PORT: 'eighty', ACTIVEMQ_SSL_CERT_FILE: certFile });
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('PORT: ')));
    assert.ok(problems.some((p) => p.includes('ACTIVEMQ_SSL_KEY_FILE')));
  });

  it('SSE_HEARTBEAT_SECONDS that setInterval cannot honour is refused, not turned into a 1 ms heartbeat', () => {
    // Node clamps a setInterval delay above 2^31-1 ms to 1 ms (TimeoutOverflowWarning).
    const TIMER_MAX_MS = 2 ** 31 - 1;
    for (const v of ['3000000', '2147484', '1e9']) {
      const problems = problemsOf({ SSE_HEARTBEAT_SECONDS: v });
      assert.equal(problems.length, 1, v);
      assert.match(problems[0]!, /^SSE_HEARTBEAT_SECONDS: .*0 \(off\) or a number of seconds from 0.5 to 86400/, v);
    }
    assert.ok(loadConfig({ SSE_HEARTBEAT_SECONDS: '86400' }).sse.heartbeatSeconds * 1000 <= TIMER_MAX_MS);
  });

  it('SSE_HEARTBEAT_SECONDS is 0 (off) or 0.5..86400 (a day), fractions allowed: a sub-second heartbeat would flood every client', () => {
    assert.equal(loadConfig({ SSE_HEARTBEAT_SECONDS: '86400' }).sse.heartbeatSeconds, 86_400);
    assert.equal(loadConfig({ SSE_HEARTBEAT_SECONDS: '86399.5' }).sse.heartbeatSeconds, 86_399.5);
    assert.equal(loadConfig({ SSE_HEARTBEAT_SECONDS: '1.5' }).sse.heartbeatSeconds, 1.5);
    assert.equal(loadConfig({ SSE_HEARTBEAT_SECONDS: '0.5' }).sse.heartbeatSeconds, 0.5);
    for (const v of ['86400.5', '86401', '-1', '1,5', 'abc', '0.0001', '0.25', '0.499']) {
      const problems = problemsOf({ SSE_HEARTBEAT_SECONDS: v });
      assert.equal(problems.length, 1, v);
      assert.match(problems[0]!, /^SSE_HEARTBEAT_SECONDS: /, v);
      assert.ok(problems[0]!.includes(JSON.stringify(v)), `the line shows ${JSON.stringify(v)}: ${problems[0]}`);
    }
  });

  it('TRUSTED_PROXIES: addresses and CIDR ranges only; each bad entry named', () => {
    assert.deepEqual(loadConfig({ TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8,::1, fd00::/8' }).trustedProxies, ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8']);
    for (const v of ['proxy.example', '10.0.0.0/33', '::1/129', '10.0.0.1/8/1', '300.1.1.1', '10.0.0.0/', '10.0.0.0/x']) {
      const problems = problemsOf({ TRUSTED_PROXIES: `127.0.0.1,${v}` });
      assert.equal(problems.length, 1, v);
      assert.match(problems[0]!, /^TRUSTED_PROXIES: /, v);
      assert.ok(problems[0]!.includes(v), problems[0]);
    }
  });

  it('TRUSTED_PROXY_USER_HEADER: a header name, lower-cased, and only together with TRUSTED_PROXIES', () => {
    assert.equal(loadConfig({ TRUSTED_PROXIES: '127.0.0.1', TRUSTED_PROXY_USER_HEADER: 'X-Remote-User' }).trustedProxyUserHeader, 'x-remote-user');
    assert.equal(loadConfig({ TRUSTED_PROXIES: '127.0.0.1' }).trustedProxyUserHeader, undefined, 'unset: never read');
    assert.match(problemsOf({ TRUSTED_PROXY_USER_HEADER: 'X-Remote-User' })[0]!, /^TRUSTED_PROXY_USER_HEADER: has no effect without TRUSTED_PROXIES/);
    assert.match(problemsOf({ TRUSTED_PROXIES: '127.0.0.1', TRUSTED_PROXY_USER_HEADER: 'X Remote' })[0]!, /^TRUSTED_PROXY_USER_HEADER: /);
  });

  it('HOST: an IP address or a host name', () => {
    for (const v of ['0.0.0.0', '::', '::1', 'localhost', 'relay.example.org']) assert.equal(loadConfig({ HOST: v }).http.host, v);
    for (const v of ['not a host', 'http://x', 'a..b', '-bad.example', '1.2.3.4:80']) assert.match(problemsOf({ HOST: v })[0]!, /^HOST: must be an IP address or a host name/, v);
  });

  it('TLS and broker PEM files that are not a certificate or key are refused, naming the variable and never the content', () => {
    const problems = problemsOf({ TLS_CERT_FILE: notPem, TLS_KEY_FILE: certFile, ACTIVEMQ_SSL_CA_CERTS: keyFile });
    assert.deepEqual(
      problems.map((p) => p.split(':')[0]),
      ['TLS_CERT_FILE', 'TLS_KEY_FILE', 'ACTIVEMQ_SSL_CA_CERTS'],
      problems.join('\n'),
    );
    assert.match(problems[0]!, /is not a PEM certificate file/);
    assert.match(problems[1]!, /is not a PEM key file/);
    for (const p of problems) assert.ok(!p.includes('BEGIN') && !p.includes('not really'), p);
    assert.equal(loadConfig({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile }).tls?.certFile, certFile);
  });
});

describe('loadConfig: swf-monitor credentials (DJANGO_DATABASE_URL, DJANGO_SESSION_COOKIE)', () => {
  it('unset: only the relay\'s own credentials', () => {
    assert.equal(loadConfig({}).django, undefined);
  });

  it('sqlite:<path> and postgres:// URLs, cookie sessionid unless named', () => {
    assert.deepEqual(loadConfig({ DJANGO_DATABASE_URL: 'sqlite:../swf-monitor/db.sqlite3' }).django, {
      database: { kind: 'sqlite', path: '../swf-monitor/db.sqlite3' },
      sessionCookie: 'sessionid',
    });
    const url = 'postgres://monitor_ro:s3cret@db.example:5432/swfdb';
    assert.deepEqual(loadConfig({ DJANGO_DATABASE_URL: url, DJANGO_SESSION_COOKIE: 'monitor_session' }).django, {
      database: { kind: 'postgres', url },
      sessionCookie: 'monitor_session',
    });
  });

  it('a bad URL is one line naming the variable, without its password', () => {
    for (const bad of ['mysql://monitor:s3cret@db/swf', 'monitor:s3cret@db/swf', 'postgres:/monitor:s3cret@db/swf', 'sqlite:']) {
      const problems = problemsOf({ DJANGO_DATABASE_URL: bad });
      assert.equal(problems.length, 1, bad);
      assert.match(problems[0]!, /^DJANGO_DATABASE_URL: must be postgres:\/\/… or sqlite:<path>/, bad);
      assert.doesNotMatch(problems[0]!, /s3cret/, bad);
    }
  });

  it('a bad cookie name, or a cookie name without the database, is refused', () => {
    for (const bad of ['session id', 'a;b', 'x'.repeat(101)]) {
      const problems = problemsOf({ DJANGO_DATABASE_URL: 'sqlite:/tmp/db', DJANGO_SESSION_COOKIE: bad });
      assert.equal(problems.length, 1, bad);
      assert.match(problems[0]!, /^DJANGO_SESSION_COOKIE: must be a cookie name/, bad);
    }
    assert.deepEqual(problemsOf({ DJANGO_SESSION_COOKIE: 'sessionid' }), ['DJANGO_SESSION_COOKIE: has no effect without DJANGO_DATABASE_URL']);
  });

  it('redactDatabaseUrl hides passwords and keeps the rest', () => {
    const cases: Array<[string, string]> = [
      ['postgres://u:pw@h:5432/db', 'postgres://u:***@h:5432/db'],
      ['postgresql://u:p@ss/w@h/db?sslmode=require', 'postgresql://u:***@h/db?sslmode=require'],
      ['redis://:pw@h:6379', 'redis://:***@h:6379'],
      ['u:pw@h/db', 'u:***@h/db'],
      ['postgres://h/db?user=u&password=pw', 'postgres://h/db?user=u&password=***'],
      ['postgres://u@h/db', 'postgres://u@h/db'],
      ['sqlite:./data/x.db', 'sqlite:./data/x.db'],
    ];
    for (const [url, shown] of cases) assert.equal(redactDatabaseUrl(url), shown, url);
  });
});

describe('loadConfig: BASE_PATH', () => {
  it('takes a path prefix of one or more segments, trimmed', () => {
    assert.equal(loadConfig({ BASE_PATH: '/swf-monitor' }).basePath, '/swf-monitor');
    assert.equal(loadConfig({ BASE_PATH: ' /a/b.c_d~e-9 ' }).basePath, '/a/b.c_d~e-9');
    assert.equal(loadConfig({ BASE_PATH: '' }).basePath, '', 'empty = unset');
  });

  it('refuses a bad prefix with one line naming the variable, the value and the rule broken', () => {
    const cases: [string, RegExp][] = [
      ['swf-monitor', /must start with \//],
      ['/', /must not end with \//],
      ['/swf-monitor/', /must not end with \//],
      ['//swf-monitor', /must not contain \/\//],
      ['/a//b', /must not contain \/\//],
      ['/swf-monitor/..', /must not contain \.\. or a \. segment/],
      ['/../etc', /must not contain \.\. or a \. segment/],
      ['/a/./b', /must not contain \.\. or a \. segment/],
      ['/swf monitor', /may only contain/],
      ['/swf-monitor?x=1', /may only contain/],
      ['/swf-monitor#top', /may only contain/],
      ['/swf%2Dmonitor', /may only contain/],
      ['/mönitor', /may only contain/],
      ['/a\nb', /may only contain/],
    ];
    for (const [value, rule] of cases) {
      const problems = problemsOf({ BASE_PATH: value });
      assert.equal(problems.length, 1, `${JSON.stringify(value)}: ${problems.join(' | ')}`);
      assert.ok(problems[0]!.startsWith('BASE_PATH: '), problems[0]);
      assert.doesNotMatch(problems[0]!, /\n/);
      assert.match(problems[0]!, rule, JSON.stringify(value));
      assert.ok(problems[0]!.includes(JSON.stringify(value)), `the line shows the value: ${problems[0]}`);
    }
  });

  it('a dot inside a segment is fine; .. anywhere is not', () => {
    assert.equal(loadConfig({ BASE_PATH: '/v1.2/.well' }).basePath, '/v1.2/.well');
    assert.match(problemsOf({ BASE_PATH: '/v1..2' })[0]!, /^BASE_PATH: must not contain \.\./);
  });
});

describe('readDotEnv', () => {
  it('reads KEY=value lines of .env in the given directory', () => {
    const envDir = mkdtempSync(join(dir, 'dotenv-'));
    writeFileSync(join(envDir, '.env'), '# comment\nPORT=9000\nLOG_LEVEL="debug"\n');
    assert.deepEqual({ ...readDotEnv(envDir) }, { PORT: '9000', LOG_LEVEL: 'debug' });
  });

  it('is empty when there is no .env', () => {
    assert.deepEqual(readDotEnv(mkdtempSync(join(dir, 'none-'))), {});
  });
});
