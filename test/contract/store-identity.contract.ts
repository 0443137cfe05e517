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
        assert.deepEqual(alice, { id: alice.id, username: 'alice', isActive: true, passwordHash: null });
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
        assert.deepEqual(await store.findSession('hash-1'), { userId: user.id, username: 'sess-user', userActive: true, expiresAt, revokedAt: null });
        assert.equal(await store.findSession('hash-unknown'), undefined);
        assert.equal(await store.revokeSession('hash-1'), true);
        assert.equal(await store.revokeSession('hash-1'), false);
        assert.match((await store.findSession('hash-1'))!.revokedAt ?? '', /^\d{4}-/);
      });
    });
  });
}
