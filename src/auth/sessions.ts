/**
 * Browser sessions (SPEC §5): a random session id in an HttpOnly cookie;
 * only its SHA-256 hash is stored, so the sessions table cannot be replayed.
 * A new id on every login (no fixation); logout and expiry end it.
 */
import { randomBytes } from 'node:crypto';
import { allowedNamespaces, hashKey, type Principal } from './tokens.js';
import type { IdentityStore } from '../store/store.js';

/** Name of the session cookie. */
export const SESSION_COOKIE = 'swf_relay_session';

/**
 * Starts a session for `userId`; returns the cookie value and when it expires.
 * With `tokenId` (a sign-in with a token) the session ends when that token is revoked or expires.
 */
export async function createSession(store: IdentityStore, userId: string, ttlMs: number, tokenId: string | null = null): Promise<{ id: string; expiresAt: Date }> {
  const id = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + ttlMs);
  await store.insertSession({ idHash: hashKey(id), userId, expiresAt: expiresAt.toISOString(), tokenId });
  return { id, expiresAt };
}

/** The principal of a live session cookie, or null (unknown, expired, revoked, or inactive user). */
export async function sessionPrincipal(store: IdentityStore, cookie: string | undefined): Promise<Principal | null> {
  if (!cookie || cookie.length > 100) return null;
  const idHash = hashKey(cookie);
  const session = await store.findSession(idHash);
  if (!session || session.revokedAt !== null || !session.userActive || Date.parse(session.expiresAt) <= Date.now()) return null;
  return {
    userId: session.userId,
    username: session.username,
    tokenId: null,
    canPublish: false,
    via: 'session',
    sessionIdHash: idHash,
    // A session made with a restricted token keeps the token's restriction.
    namespaces: allowedNamespaces(session.userNamespaces, session.tokenNamespaces),
    isAdmin: session.userAdmin,
  };
}

/** Ends the session of a cookie (no-op for an unknown one). */
export async function endSession(store: IdentityStore, cookie: string | undefined): Promise<void> {
  if (cookie) await store.revokeSession(hashKey(cookie));
}
