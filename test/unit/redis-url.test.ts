// REDIS_URL forms (config.ts parseRedisUrl) and the ioredis options each connection gets (cluster/redis.ts redisOptions).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redisOptions } from '../../src/cluster/redis.js';
import { loadConfig, parseRedisUrl, ConfigError } from '../../src/config.js';

describe('parseRedisUrl', () => {
  it('redis:// and rediss:// are one server, the URL kept as given', () => {
    for (const url of ['redis://127.0.0.1:6379', 'redis://:pw@cache.example:6380/2', 'rediss://cache.example:6380/0']) {
      assert.deepEqual(parseRedisUrl(url), { kind: 'single', url });
    }
  });

  it('redis+sentinel://: the Sentinels (port 26379 unless given), the master name, db 0 unless given', () => {
    assert.deepEqual(parseRedisUrl('redis+sentinel://s1:26380,s2,10.0.0.3:26381/mymaster'), {
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26380 },
        { host: 's2', port: 26379 },
        { host: '10.0.0.3', port: 26381 },
      ],
      name: 'mymaster',
      db: 0,
      tls: false,
    });
    assert.deepEqual(parseRedisUrl('rediss+sentinel://:p%40ss@s1/relay/3'), { kind: 'sentinel', sentinels: [{ host: 's1', port: 26379 }], name: 'relay', db: 3, tls: true, password: 'p@ss' });
  });

  it('Redis Cluster is refused, pointing at Sentinel', () => {
    for (const url of ['redis+cluster://n1:7000,n2:7001', 'rediss+cluster://n1:7000']) {
      assert.throws(() => parseRedisUrl(url), /^Error: Redis Cluster is not supported: .*redis\+sentinel:\/\//);
    }
  });

  it('anything else is refused with what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['http://cache', /must be redis:\/\/…, rediss:\/\/… or redis\+sentinel:\/\/…/],
      ['cache:6379', /must be redis:\/\//],
      ['redis+sentinel://s1:26379', /needs the master name/],
      ['redis+sentinel://s1:26379/', /needs the master name/],
      ['redis+sentinel://s1:99999/m', /bad Sentinel address "s1:99999"/],
      ['redis+sentinel://s1:26379,,s2/m', /bad Sentinel address ""/],
      ['redis+sentinel://s1/m/db', /database after the master name must be a number/],
      ['redis+sentinel://:%zz@s1/m', /password is not valid percent-encoding/],
    ];
    for (const [url, expected] of cases) assert.throws(() => parseRedisUrl(url), expected, url);
  });

  it('a problem never quotes the password', () => {
    assert.throws(() => parseRedisUrl('redis+sentinel://:secret@s1:0/m'), (err: Error) => !err.message.includes('secret'));
  });
});

describe('REDIS_URL in the configuration', () => {
  it('Sentinel URLs are accepted and kept as given', () => {
    assert.equal(loadConfig({ REDIS_URL: 'redis+sentinel://s1,s2/mymaster' }).redisUrl, 'redis+sentinel://s1,s2/mymaster');
  });

  it('redis+cluster:// is one problem naming REDIS_URL, without the password', () => {
    try {
      loadConfig({ REDIS_URL: 'redis+cluster://:secret@n1:7000,n2:7001' });
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 1);
      assert.match(err.problems[0]!, /^REDIS_URL: Redis Cluster is not supported/);
      assert.doesNotMatch(err.problems[0]!, /secret/);
    }
  });
});

describe('redisOptions', () => {
  const sentinel = parseRedisUrl('redis+sentinel://:pw@s1:26379,s2:26379/mymaster/1');

  it('every connection: named, reconnects within about a second, reconnects and resends on READONLY', () => {
    for (const target of [parseRedisUrl('redis://h:6379'), sentinel]) {
      const o = redisOptions(target, { name: 'swf-relay:p' });
      assert.equal(o.connectionName, 'swf-relay:p');
      assert.equal(o.maxRetriesPerRequest, 2);
      for (let attempt = 1; attempt < 40; attempt++) assert.ok((o.retryStrategy!(attempt) as number) <= 1100, `attempt ${attempt}`);
      assert.ok((o.retryStrategy!(1) as number) < 200);
      const readonly = Object.assign(new Error("READONLY You can't write against a read only replica."), { name: 'ReplyError' });
      assert.equal(o.reconnectOnError!(readonly as never), 2);
      assert.equal(o.reconnectOnError!(new Error('ERR wrong number of arguments') as never), false);
      assert.equal(o.blockingTimeout, undefined, 'no client-side timeout that would hide a dead blocking read');
    }
  });

  it('blocking readers wait for the connection rather than failing', () => {
    assert.equal(redisOptions(sentinel, { name: 'r', blocking: true }).maxRetriesPerRequest, null);
  });

  it('a command connection silent with commands waiting is replaced (half-open); a blocking reader may wait in silence', () => {
    for (const target of [parseRedisUrl('redis://h:6379'), sentinel]) {
      assert.equal(redisOptions(target, { name: 'c' }).socketTimeout, 5000);
      assert.equal(redisOptions(target, { name: 'r', blocking: true }).socketTimeout, undefined);
    }
  });

  it('Sentinel: the master of that name, its db and password, failovers announced by the Sentinels drop the old connection', () => {
    const o = redisOptions(sentinel, { name: 'r' });
    assert.deepEqual(o.sentinels, [
      { host: 's1', port: 26379 },
      { host: 's2', port: 26379 },
    ]);
    assert.equal(o.name, 'mymaster');
    assert.equal(o.role, 'master');
    assert.equal(o.db, 1);
    assert.equal(o.password, 'pw');
    assert.equal(o.failoverDetector, true);
    assert.ok(o.disconnectTimeout! <= 500, 'a dropped connection to an unreachable master is destroyed quickly, not after 2 s');
    assert.equal(o.enableReadyCheck, undefined, "ioredis's ready check (on by default) is what checks the role on every connect");
    assert.equal(o.tls, undefined);
  });

  it('rediss+sentinel: TLS to the Sentinels and to the master', () => {
    const o = redisOptions(parseRedisUrl('rediss+sentinel://s1/m'), { name: 'r' });
    assert.deepEqual([o.tls, o.sentinelTLS, o.enableTLSForSentinelMode], [{}, {}, true]);
  });
});
