// The IdentityStore contract: users, tokens, passwords and sessions.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { IdentityStore } from '../../src/store/store.js';
import { increasing, suiteStore, type OpenStore } from './store-fixtures.js';

/** Runs the IdentityStore contract on one fresh, migrated store from `open()`; the tests build on each other in order. */
export function identityStoreContract(name: string, open: OpenStore<IdentityStore>): void {
  describe(`IdentityStore contract: ${name}`, () => {
    const suite = suiteStore(open);
    let store: IdentityStore;

    before(async () => {
      store = suite.store;
    });

    describe('users and tokens', () => {
      it('createUser / findUser; a taken username throws', async () => {
        const alice = await store.createUser('alice');
        assert.match(alice.id, /^\d+$/);
        assert.deepEqual(alice, { id: alice.id, username: 'alice', isActive: true, passwordHash: null, isAdmin: false, namespaces: null });
        assert.deepEqual(await store.findUser('alice'), alice);
        assert.equal(await store.findUser('nobody'), undefined);
        assert.equal(await store.findUser('ALICE'), undefined, 'usernames are case-sensitive');
        await assert.rejects(store.createUser('alice'));
        const bob = await store.createUser('bob');
        assert.notEqual(bob.id, alice.id);
      });

      it('insertToken / findTokenByPrefix / listTokens', async () => {
        const alice = (await store.findUser('alice'))!;
        const bob = (await store.findUser('bob'))!;
        const t1 = await store.insertToken({ userId: alice.id, keyPrefix: 'aaaa1111', keyHash: 'h'.repeat(64), name: 'laptop', canPublish: false });
        const t2 = await store.insertToken({ userId: bob.id, keyPrefix: 'bbbb2222', keyHash: 'g'.repeat(64), name: null, canPublish: true });
        assert.deepEqual(
          { ...t1, createdAt: 'x' },
          {
            id: t1.id,
            userId: alice.id,
            username: 'alice',
            userActive: true,
            keyPrefix: 'aaaa1111',
            keyHash: 'h'.repeat(64),
            name: 'laptop',
            canPublish: false,
            createdAt: 'x',
            revokedAt: null,
            expiresAt: null,
            namespaces: null,
            userAdmin: false,
            userNamespaces: null,
          },
        );
        assert.ok(!Number.isNaN(Date.parse(t1.createdAt)), 'createdAt is a timestamp');
        assert.equal(t2.canPublish, true);
        assert.equal(t2.username, 'bob');
        increasing([t1.id, t2.id]);
        assert.deepEqual(await store.findTokenByPrefix('aaaa1111'), t1);
        assert.deepEqual(await store.findTokenByPrefix('bbbb2222'), t2);
        assert.equal(await store.findTokenByPrefix('zzzz9999'), undefined);
        assert.deepEqual(await store.listTokens(), [t1, t2]);
        await assert.rejects(
          store.insertToken({ userId: alice.id, keyPrefix: 'aaaa1111', keyHash: 'x'.repeat(64), name: null, canPublish: false }),
          'a key prefix is unique',
        );
      });

      it('revokeToken by id and by prefix; twice → false; unknown → false', async () => {
        const [t1, t2] = await store.listTokens();
        assert.ok(t1 && t2);
        assert.equal(await store.revokeToken(t1.id), true);
        assert.equal(await store.revokeToken(t1.id), false);
        assert.equal(await store.revokeToken(t1.keyPrefix), false, 'already revoked, by prefix too');
        const revoked = await store.findTokenByPrefix(t1.keyPrefix);
        assert.ok(revoked?.revokedAt && !Number.isNaN(Date.parse(revoked.revokedAt)));
        assert.equal((await store.findTokenByPrefix(t2.keyPrefix))?.revokedAt, null, 'the other token is untouched');

        assert.equal(await store.revokeToken(t2.keyPrefix), true);
        assert.equal(await store.revokeToken(t2.keyPrefix), false);
        assert.equal(await store.revokeToken(t2.id), false);
        assert.notEqual((await store.findTokenByPrefix(t2.keyPrefix))?.revokedAt, null);

        assert.equal(await store.revokeToken('nope'), false);
        assert.equal(await store.revokeToken('424242'), false);
        assert.equal((await store.listTokens()).length, 2, 'revoked tokens stay listed');
      });

      it('revokeToken of a number too large to be an id is false, not an error', async () => {
        assert.equal(await store.revokeToken('99999999999999999999'), false);
      });
    });

    describe('passwords and sessions', () => {
      it('setPassword stores the hash on the user; false for an unknown user', async () => {
        await store.createUser('sess-user');
        assert.equal(await store.setPassword('sess-user', 'scrypt$1$2$3$salt$hash'), true);
        assert.equal((await store.findUser('sess-user'))?.passwordHash, 'scrypt$1$2$3$salt$hash');
        assert.equal(await store.setPassword('nobody-here', 'x'), false);
      });

      it('a session is found by its hash with its user; revoking works once', async () => {
        const user = (await store.findUser('sess-user'))!;
        const expiresAt = '2030-01-01T00:00:00.000Z';
        await store.insertSession({ idHash: 'hash-1', userId: user.id, expiresAt });
        assert.deepEqual(await store.findSession('hash-1'), {
          userId: user.id,
          username: 'sess-user',
          userActive: true,
          expiresAt,
          revokedAt: null,
          tokenId: null,
          userAdmin: false,
          userNamespaces: null,
          tokenNamespaces: null,
        });
        assert.equal(await store.findSession('hash-unknown'), undefined);
        assert.equal(await store.revokeSession('hash-1'), true);
        assert.equal(await store.revokeSession('hash-1'), false);
        assert.match((await store.findSession('hash-1'))!.revokedAt ?? '', /^\d{4}-/);
      });
    });

    describe('revocation: sessions made with tokens, disabled users, password changes, live credentials', () => {
      const future = '2030-01-01T00:00:00.000Z';
      const token = async (username: string, prefix: string, expiresAt: string | null = null) => {
        const user = (await store.findUser(username)) ?? (await store.createUser(username));
        return store.insertToken({ userId: user.id, keyPrefix: prefix, keyHash: 'r'.repeat(64), name: null, canPublish: false, expiresAt });
      };

      it('a session made with a token carries its id and is revoked with it', async () => {
        const t = await token('rev-user', 'rev00001');
        await store.insertSession({ idHash: 'rev-s1', userId: t.userId, expiresAt: future, tokenId: t.id });
        await store.insertSession({ idHash: 'rev-s2', userId: t.userId, expiresAt: future });
        assert.equal((await store.findSession('rev-s1'))?.tokenId, t.id);
        assert.equal((await store.findSession('rev-s1'))?.revokedAt, null);
        assert.equal(await store.revokeToken(t.keyPrefix), true);
        assert.match((await store.findSession('rev-s1'))?.revokedAt ?? '', /^\d{4}-/, 'revoking the token ends its session');
        assert.equal((await store.findSession('rev-s2'))?.revokedAt, null, 'a password session of the same user is untouched');
      });

      it("a session made with a token expires no later than the token", async () => {
        const soon = '2029-06-01T00:00:00.000Z';
        const t = await token('rev-user', 'rev00002', soon);
        await store.insertSession({ idHash: 'rev-s3', userId: t.userId, expiresAt: future, tokenId: t.id });
        assert.equal((await store.findSession('rev-s3'))?.expiresAt, soon);
        const late = await token('rev-user', 'rev00003', '2031-01-01T00:00:00.000Z');
        await store.insertSession({ idHash: 'rev-s4', userId: t.userId, expiresAt: future, tokenId: late.id });
        assert.equal((await store.findSession('rev-s4'))?.expiresAt, future, "the session's own expiry when it is earlier");
      });

      it('setUserActive disables and enables a user (tokens and sessions see it); false for an unknown user', async () => {
        assert.equal(await store.setUserActive('rev-user', false), true);
        assert.equal((await store.findUser('rev-user'))?.isActive, false);
        assert.equal((await store.findTokenByPrefix('rev00003'))?.userActive, false);
        assert.equal((await store.findSession('rev-s2'))?.userActive, false);
        assert.equal(await store.setUserActive('rev-user', true), true);
        assert.equal((await store.findTokenByPrefix('rev00003'))?.userActive, true);
        assert.equal(await store.setUserActive('nobody-here', false), false);
      });

      it("setPassword ends every session of that user, and only that user's", async () => {
        const other = await store.createUser('rev-other');
        await store.insertSession({ idHash: 'rev-o1', userId: other.id, expiresAt: future });
        assert.equal(await store.setPassword('rev-user', 'scrypt$new'), true);
        assert.match((await store.findSession('rev-s2'))?.revokedAt ?? '', /^\d{4}-/);
        assert.match((await store.findSession('rev-s4'))?.revokedAt ?? '', /^\d{4}-/);
        assert.equal((await store.findSession('rev-o1'))?.revokedAt, null);
      });

      it('liveCredentials returns, in one call, the tokens and sessions that still authenticate', async () => {
        const now = '2028-01-01T00:00:00.000Z';
        const live = await token('live-user', 'live0001');
        const expired = await token('live-user', 'live0002', '2027-12-31T23:59:59.000Z');
        const revoked = await token('live-user', 'live0003');
        await store.revokeToken(revoked.id);
        const disabled = await token('live-off', 'live0004');
        const user = (await store.findUser('live-user'))!;
        await store.insertSession({ idHash: 'live-s-ok', userId: user.id, expiresAt: future });
        await store.insertSession({ idHash: 'live-s-tok', userId: user.id, expiresAt: future, tokenId: live.id });
        await store.insertSession({ idHash: 'live-s-exptok', userId: user.id, expiresAt: future, tokenId: expired.id });
        await store.insertSession({ idHash: 'live-s-revtok', userId: user.id, expiresAt: future, tokenId: revoked.id });
        await store.insertSession({ idHash: 'live-s-old', userId: user.id, expiresAt: '2027-01-01T00:00:00.000Z' });
        await store.insertSession({ idHash: 'live-s-revoked', userId: user.id, expiresAt: future });
        await store.revokeSession('live-s-revoked');
        await store.insertSession({ idHash: 'live-s-off', userId: disabled.userId, expiresAt: future });
        await store.setUserActive('live-off', false);

        const refs = {
          tokenIds: [live.id, expired.id, revoked.id, disabled.id, '987654', live.id],
          sessionIdHashes: ['live-s-ok', 'live-s-tok', 'live-s-exptok', 'live-s-revtok', 'live-s-old', 'live-s-revoked', 'live-s-off', 'no-such-session'],
        };
        const got = await store.liveCredentials(refs, now);
        assert.deepEqual([...got.tokenIds].sort(), [live.id]);
        assert.deepEqual([...got.sessionIdHashes].sort(), ['live-s-ok', 'live-s-tok']);
        assert.deepEqual(await store.liveCredentials({ tokenIds: [], sessionIdHashes: [] }, now), { tokenIds: [], sessionIdHashes: [] });
        assert.deepEqual(await store.liveCredentials({ tokenIds: [live.id], sessionIdHashes: [] }, now), { tokenIds: [live.id], sessionIdHashes: [] });
        assert.deepEqual(await store.liveCredentials({ tokenIds: [], sessionIdHashes: ['live-s-ok'] }, now), { tokenIds: [], sessionIdHashes: ['live-s-ok'] });
        // Re-enabling the user brings its credentials back.
        await store.setUserActive('live-off', true);
        assert.deepEqual((await store.liveCredentials({ tokenIds: [disabled.id], sessionIdHashes: ['live-s-off'] }, now)).sessionIdHashes, ['live-s-off']);
      });

      it('liveCredentials handles more credentials than one statement lists', async () => {
        const user = (await store.findUser('live-user'))!;
        const hashes = Array.from({ length: 1203 }, (_, i) => `bulk-${i}`);
        for (const idHash of hashes.filter((_, i) => i % 2 === 0)) await store.insertSession({ idHash, userId: user.id, expiresAt: future });
        const got = await store.liveCredentials({ tokenIds: [], sessionIdHashes: hashes }, '2028-01-01T00:00:00.000Z');
        assert.deepEqual([...got.sessionIdHashes].sort(), hashes.filter((_, i) => i % 2 === 0).sort());
      });
    });

    describe('authorisation: admin flag and namespace restrictions', () => {
      it('createUser with an admin flag and namespaces; updateUser changes them (null lifts the restriction); false for an unknown user', async () => {
        const boss = await store.createUser('auth-boss', { isAdmin: true });
        assert.deepEqual({ isAdmin: boss.isAdmin, namespaces: boss.namespaces }, { isAdmin: true, namespaces: null });
        const limited = await store.createUser('auth-limited', { namespaces: ['alpha', 'beta'] });
        assert.deepEqual({ isAdmin: limited.isAdmin, namespaces: limited.namespaces }, { isAdmin: false, namespaces: ['alpha', 'beta'] });
        assert.equal(await store.updateUser('auth-limited', { isAdmin: true }), true);
        assert.deepEqual(await store.findUser('auth-limited'), { ...limited, isAdmin: true }, 'namespaces untouched when not given');
        assert.equal(await store.updateUser('auth-limited', { namespaces: ['gamma'], isAdmin: false }), true);
        assert.deepEqual((await store.findUser('auth-limited'))?.namespaces, ['gamma']);
        assert.equal(await store.updateUser('auth-boss', { namespaces: null }), true);
        assert.equal((await store.findUser('auth-boss'))?.namespaces, null);
        assert.equal(await store.updateUser('nobody-here', { isAdmin: true }), false);
        assert.equal(await store.updateUser('auth-boss', {}), true, 'no change, but the user exists');
      });

      it("a token carries its own namespaces and its user's flag and namespaces; so does a session made with it", async () => {
        const user = (await store.findUser('auth-limited'))!;
        const t = await store.insertToken({ userId: user.id, keyPrefix: 'auth0001', keyHash: 'a'.repeat(64), name: null, canPublish: false, namespaces: ['gamma', 'delta'] });
        assert.deepEqual({ namespaces: t.namespaces, userNamespaces: t.userNamespaces, userAdmin: t.userAdmin }, { namespaces: ['gamma', 'delta'], userNamespaces: ['gamma'], userAdmin: false });
        assert.deepEqual((await store.findTokenByPrefix('auth0001'))?.namespaces, ['gamma', 'delta']);
        await store.insertSession({ idHash: 'auth-s1', userId: user.id, expiresAt: '2030-01-01T00:00:00.000Z', tokenId: t.id });
        await store.insertSession({ idHash: 'auth-s2', userId: user.id, expiresAt: '2030-01-01T00:00:00.000Z' });
        const s1 = (await store.findSession('auth-s1'))!;
        assert.deepEqual({ userNamespaces: s1.userNamespaces, tokenNamespaces: s1.tokenNamespaces, userAdmin: s1.userAdmin }, { userNamespaces: ['gamma'], tokenNamespaces: ['gamma', 'delta'], userAdmin: false });
        assert.equal((await store.findSession('auth-s2'))?.tokenNamespaces, null);
        await store.updateUser('auth-limited', { isAdmin: true });
        assert.equal((await store.findTokenByPrefix('auth0001'))?.userAdmin, true, 'read from the user at each lookup');
        assert.equal((await store.findSession('auth-s1'))?.userAdmin, true);
      });
    });
  });
}
