// Who may name the user (TRUSTED_PROXY_USER_HEADER from TRUSTED_PROXIES), and what request logs show of a URL.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { proxyMatcher, proxyUser } from '../../src/http/trusted-proxies.js';
import { redactUrl } from '../../src/log.js';

describe('proxyMatcher', () => {
  it('matches addresses and CIDR ranges, IPv4-mapped IPv6 peers as IPv4, and nothing when the list is empty', () => {
    const trusted = proxyMatcher(['127.0.0.1', '10.1.0.0/16', 'fd00::/8', '::1']);
    for (const peer of ['127.0.0.1', '::ffff:127.0.0.1', '10.1.255.3', '::ffff:10.1.0.9', 'fd12::5', '::1']) assert.equal(trusted(peer), true, peer);
    for (const peer of ['127.0.0.2', '10.2.0.1', 'fe80::1', '::2', undefined]) assert.equal(trusted(peer), false, String(peer));
    assert.equal(proxyMatcher([])('127.0.0.1'), false);
  });
});

describe('proxyUser', () => {
  const headers = { 'x-remote-user': ' alice ' };
  it('is read only when a header is configured and the peer is a trusted proxy', () => {
    assert.equal(proxyUser(headers, 'x-remote-user', true), 'alice');
    assert.equal(proxyUser(headers, undefined, true), null, 'not configured: never read');
    assert.equal(proxyUser(headers, 'x-remote-user', false), null, 'not from a trusted proxy');
    assert.equal(proxyUser(headers, 'x-forwarded-user', true), null, 'another header than the configured one');
  });
  it('refuses empty, over-long and control-character values', () => {
    for (const value of ['', '   ', 'a'.repeat(151), 'eve\r\nadmin', 'bob\u0085']) assert.equal(proxyUser({ 'x-remote-user': value }, 'x-remote-user', true), null, JSON.stringify(value));
  });
});

describe('redactUrl', () => {
  it('hides secret query values whatever their name encoding, and keeps the rest', () => {
    assert.equal(redactUrl('/api/messages/stream/?msg_types=a&token=SECRET&run_ids=1'), '/api/messages/stream/?msg_types=a&token=[redacted]&run_ids=1');
    for (const name of ['tok%65n', '%74oken', 'TOKEN', 'To%4Ben', '%20token', 'key', 'access_token', 'password']) {
      const out = redactUrl(`/x?${name}=SECRET`);
      assert.ok(!out.includes('SECRET'), `${name}: ${out}`);
    }
    assert.equal(redactUrl('/x?%zz=SECRET&a=1'), '/x?[redacted]&a=1', 'an undecodable name is redacted whole');
    assert.equal(redactUrl('/x?tokens=1&monkey=2'), '/x?tokens=1&monkey=2', 'only exact names');
    assert.equal(redactUrl('/x'), '/x');
  });
});
