import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { MAX_SESSION_BYTES, decodeDjangoSession, sessionUserId } from '../../src/auth/django-session.js';

// session_data values written by Django 3.2 itself (test/helpers/django_fixture.py on SQLite),
// for user id 1 logged in with django.test.Client().login(), and one anonymous session.
const DJANGO_SIGNED_COMPRESSED =
  '.eJxVjMsOwiAQRf-FtSFAGR4u3fsNZHiMVA0kpV0Z_12bdKHbe865LxZwW2vYRlnCnNmZSXb63SKmR2k7yHdst85Tb-syR74r_KCDX3suz8vh_h1UHPVbx0hKo1EAZIG0EZMryYpsQWmPBC7KRJMyRlmPHgy5IiapEwoFGkGy9wfUOjcU:1xYP5c:EQkMp3npgkgKJ99J5oGQ4A1SeAEtDGDQUPDcorRDhNU';
const DJANGO_LEGACY =
  'MWM3ODM0OTJkMGVjMjMwNTkyM2Q4Nzg5Zjk2MDVlN2RjOGZkZWJkODp7Il9hdXRoX3VzZXJfaWQiOiIxIiwiX2F1dGhfdXNlcl9iYWNrZW5kIjoiZGphbmdvLmNvbnRyaWIuYXV0aC5iYWNrZW5kcy5Nb2RlbEJhY2tlbmQiLCJfYXV0aF91c2VyX2hhc2giOiIxM2Q2MjA3MmEyNzE0MThmNmYxODQwY2FjZGI2NTVlMTFhMjA2Njk1In0=';
const DJANGO_ANONYMOUS = 'eyJjYXJ0IjpbIm5vdGhpbmciLCJ0byIsInNlZSJdfQ:1xYP5d:5nfKcWoBK-nj6yLjsTPuIA8UadPHm4eTVsipAQtbSXQ';

const SIGNATURE = ':1xYP5c:EQkMp3npgkgKJ99J5oGQ4A1SeAEtDGDQUPDcorRDhNU';
/** A signing.dumps-shaped value around `payload` (the signature is not checked, so any well-formed one will do). */
const signed = (payload: Buffer, compressed = false) => `${compressed ? '.' : ''}${payload.toString('base64url')}${SIGNATURE}`;
/** A pre-3.1 value: base64 of `hash:payload`. */
const legacy = (payload: Buffer | string, hash = 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3') =>
  Buffer.concat([Buffer.from(`${hash}:`), Buffer.from(payload)]).toString('base64');

describe('decodeDjangoSession: what Django wrote', () => {
  it('reads a compressed signing.dumps session (Django ≥ 3.1, a login)', () => {
    const session = decodeDjangoSession(DJANGO_SIGNED_COMPRESSED);
    assert.equal(session?._auth_user_id, '1');
    assert.equal(session?._auth_user_backend, 'django.contrib.auth.backends.ModelBackend');
    assert.equal(sessionUserId(session), '1');
  });

  it('reads a legacy base64 "hash:json" session (Django < 3.1)', () => {
    const session = decodeDjangoSession(DJANGO_LEGACY);
    assert.equal(session?._auth_user_id, '1');
    assert.equal(sessionUserId(session), '1');
  });

  it('reads an uncompressed session without a user: decoded, but names nobody', () => {
    assert.deepEqual(decodeDjangoSession(DJANGO_ANONYMOUS), { cart: ['nothing', 'to', 'see'] });
    assert.equal(sessionUserId(decodeDjangoSession(DJANGO_ANONYMOUS)), null);
  });
});

describe('decodeDjangoSession: both formats, built here', () => {
  const dict = { _auth_user_id: '42', _auth_user_backend: 'x', other: 'é ✓' };
  const json = Buffer.from(JSON.stringify(dict));

  it('signed, plain and compressed; legacy; surrounding whitespace ignored', () => {
    assert.deepEqual(decodeDjangoSession(signed(json)), dict);
    assert.deepEqual(decodeDjangoSession(signed(deflateSync(json), true)), dict);
    assert.deepEqual(decodeDjangoSession(legacy(json)), dict);
    assert.deepEqual(decodeDjangoSession(` ${signed(json)}\n`), dict);
  });

  it('a numeric _auth_user_id counts; anything else names nobody', () => {
    assert.equal(sessionUserId({ _auth_user_id: 7 }), '7');
    for (const id of [undefined, null, '', 'abc', '1.5', '-1', ' 1', 1.5, -1, true, [1], { id: 1 }, '12345678901234567890']) {
      assert.equal(sessionUserId({ _auth_user_id: id }), null, JSON.stringify(id));
    }
    assert.equal(sessionUserId(null), null);
  });
});

describe('decodeDjangoSession: anything undecodable is no session', () => {
  const cases: Record<string, string> = {
    empty: '',
    'not base64': 'hello world',
    'signed with a bad payload alphabet': `abc+def${SIGNATURE}`,
    'signed, two parts': 'eyJhIjoxfQ:1xYP5c',
    'signed, four parts': `eyJhIjoxfQ${SIGNATURE}:extra`,
    'signed, payload not JSON': signed(Buffer.from('not json')),
    'signed, JSON but an array': signed(Buffer.from('[1,2]')),
    'signed, JSON null': signed(Buffer.from('null')),
    'signed, JSON string': signed(Buffer.from('"_auth_user_id"')),
    'signed, invalid UTF-8': signed(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])),
    'compressed flag on data that is not zlib': signed(Buffer.from('{"a":1}'), true),
    'compressed, truncated zlib': signed(deflateSync(Buffer.from('{"_auth_user_id":"1"}')).subarray(0, 8), true),
    'compressed, zlib of non-JSON': signed(deflateSync(Buffer.from('\x80\x04K\x01.')), true),
    'legacy, no colon': Buffer.from('a94a8fe5ccb19ba61c4c0873d391e987982fbbd3{"a":1}').toString('base64'),
    'legacy, hash not hex': legacy('{"a":1}', 'not-hex'),
    'legacy, pickled (Django < 1.6)': legacy(Buffer.from([0x80, 0x02, 0x7d, 0x71, 0x01, 0x2e])),
    'legacy, bad padding': legacy('{"a":1}').replace(/=+$/, '') + 'A',
    'over the size limit': signed(Buffer.from(JSON.stringify({ _auth_user_id: '1', pad: 'x'.repeat(MAX_SESSION_BYTES) }))),
  };
  for (const [name, data] of Object.entries(cases)) {
    it(name, () => assert.equal(decodeDjangoSession(data), null));
  }

  it('a small compressed row that inflates beyond the limit is refused, not inflated', () => {
    const bomb = deflateSync(Buffer.from(`{"_auth_user_id":"1","pad":"${'x'.repeat(4 * MAX_SESSION_BYTES)}"}`));
    const data = signed(bomb, true);
    assert.ok(data.length < MAX_SESSION_BYTES, 'the row itself is small');
    assert.equal(decodeDjangoSession(data), null);
  });
});
