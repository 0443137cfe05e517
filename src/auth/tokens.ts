/**
 * Authentication: API tokens (SPEC §5). Keys are random, shown once, stored
 * only as a SHA-256 hash (a 256-bit random key needs no slow hash), and
 * compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors.js';
import type { IdentityStore, StoredToken } from '../store/store.js';

/** Characters of the key stored in clear to find its row; the rest is only hashed. */
export const KEY_PREFIX_LENGTH = 8;

/** Who made a request, and how they proved it. */
export interface Principal {
  readonly userId: string;
  readonly username: string;
  /** The token used, or null for a session or a trusted proxy. */
  readonly tokenId: string | null;
  /** The session used (SHA-256 of its id), for a relay session: open streams re-check it. */
  readonly sessionIdHash?: string;
  /** Publishing over HTTP needs a token created with --publish. */
  readonly canPublish: boolean;
  /** The only namespaces it may see (user's and token's restrictions together); null or absent: all. */
  readonly namespaces?: ReadonlySet<string> | null;
  /** Sees other users' stream details (user create --admin). */
  readonly isAdmin?: boolean;
  /** How it was proved; the django-* ways are swf-monitor's own credentials (auth/django.ts). */
  readonly via?: 'token' | 'session' | 'proxy' | 'django-token' | 'django-session';
}

/** A fresh key: 32 random bytes, base64url (43 characters). */
export function generateKey(): string {
  return randomBytes(32).toString('base64url');
}

/** Hex SHA-256 of a key. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Creates a token for `username` and returns its key (shown once). */
export async function createToken(
  store: IdentityStore,
  username: string,
  options: { createUser?: boolean; name?: string | null; canPublish?: boolean; expiresAt?: Date | null; namespaces?: readonly string[] | null } = {},
): Promise<{ key: string; token: StoredToken }> {
  let user = await store.findUser(username);
  if (!user) {
    if (!options.createUser) throw new AppError('NOT_FOUND', `no user named "${username}" (use --create-user)`);
    user = await store.createUser(username);
  }
  const key = generateKey();
  const token = await store.insertToken({
    userId: user.id,
    keyPrefix: key.slice(0, KEY_PREFIX_LENGTH),
    keyHash: hashKey(key),
    name: options.name ?? null,
    canPublish: options.canPublish ?? false,
    expiresAt: options.expiresAt?.toISOString() ?? null,
    namespaces: options.namespaces ?? null,
  });
  return { key, token };
}

/** The key in an `Authorization: Token <key>` or `Bearer <key>` header, or null. */
export function keyFromHeader(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^\s*(token|bearer)\s+(\S+)\s*$/i.exec(header);
  return match ? match[2]! : null;
}

/** Resolves a key to its principal, or throws 401. */
export async function authenticateKey(store: IdentityStore, key: string | null): Promise<Principal> {
  if (key === null) throw new AppError('NOT_AUTHENTICATED', 'Authentication credentials were not provided.');
  const token = key.length > KEY_PREFIX_LENGTH ? await store.findTokenByPrefix(key.slice(0, KEY_PREFIX_LENGTH)) : undefined;
  const expected = Buffer.from(token?.keyHash ?? hashKey('no such token'), 'hex');
  const given = Buffer.from(hashKey(key), 'hex');
  const same = timingSafeEqual(expected, given);
  const expired = token?.expiresAt != null && Date.parse(token.expiresAt) <= Date.now();
  if (!token || !same || token.revokedAt !== null || expired || !token.userActive) {
    throw new AppError('NOT_AUTHENTICATED', 'Invalid token.');
  }
  return {
    userId: token.userId,
    username: token.username,
    tokenId: token.id,
    canPublish: token.canPublish,
    via: 'token',
    namespaces: allowedNamespaces(token.userNamespaces, token.namespaces),
    isAdmin: token.userAdmin,
  };
}

/** The namespaces allowed by both restrictions (a null one allows all); null when neither restricts. */
export function allowedNamespaces(...lists: (readonly string[] | null)[]): ReadonlySet<string> | null {
  let allowed: Set<string> | null = null;
  for (const list of lists) {
    if (list === null) continue;
    allowed = allowed === null ? new Set(list) : new Set(list.filter((ns) => allowed!.has(ns)));
  }
  return allowed;
}
