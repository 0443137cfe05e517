/**
 * The IdentityStore over Kysely (users, tokens, sessions), shared by SQLite and
 * PostgreSQL; SqlStore extends it. Secrets are only ever stored as hashes.
 */
import { sql, type Kysely, type Selectable } from 'kysely';
import { isEventId } from '../model/event.js';
import type { Database, TokensTable, UsersTable } from './schema.js';
import type { CredentialRefs, IdentityStore, NewToken, StoredSession, StoredToken, StoredUser, UserChanges } from './store.js';

/** Values per `in (…)` list: far below both dialects' bound-parameter limits. */
const IN_CHUNK = 500;

/** Users, tokens and sessions over a Kysely instance (owned by the subclass). */
export class SqlIdentity implements IdentityStore {
  constructor(protected readonly db: Kysely<Database>) {}

  async createUser(username: string, changes: UserChanges = {}): Promise<StoredUser> {
    const row = await this.db
      .insertInto('users')
      .values({ username, password_hash: null, is_active: 1, created_at: new Date().toISOString(), ...userColumns(changes) })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toUser(row);
  }

  async updateUser(username: string, changes: UserChanges): Promise<boolean> {
    const columns = userColumns(changes);
    if (Object.keys(columns).length === 0) return (await this.findUser(username)) !== undefined;
    const result = await this.db.updateTable('users').set(columns).where('username', '=', username).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async findUser(username: string): Promise<StoredUser | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    return row ? toUser(row) : undefined;
  }

  async setPassword(username: string, passwordHash: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const user = await trx.updateTable('users').set({ password_hash: passwordHash }).where('username', '=', username).returning('id').executeTakeFirst();
      if (!user) return false;
      // A new password ends every session: one opened with the old password (or a stolen cookie) must not outlive it.
      await trx.updateTable('sessions').set({ revoked_at: new Date().toISOString() }).where('user_id', '=', user.id).where('revoked_at', 'is', null).execute();
      return true;
    });
  }

  async setUserActive(username: string, active: boolean): Promise<boolean> {
    const result = await this.db.updateTable('users').set({ is_active: active ? 1 : 0 }).where('username', '=', username).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async insertSession(session: { idHash: string; userId: string; expiresAt: string; tokenId?: string | null }): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({
        id_hash: session.idHash,
        user_id: session.userId,
        created_at: new Date().toISOString(),
        expires_at: session.expiresAt,
        revoked_at: null,
        token_id: session.tokenId ?? null,
      })
      .execute();
  }

  async findSession(idHash: string): Promise<StoredSession | undefined> {
    const row = await this.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .leftJoin('tokens', 'tokens.id', 'sessions.token_id')
      .select(['sessions.user_id', 'sessions.expires_at', 'sessions.revoked_at', 'sessions.token_id', 'users.username', 'users.is_active', 'users.is_admin'])
      .select(['users.namespaces as user_namespaces', 'tokens.revoked_at as token_revoked_at', 'tokens.expires_at as token_expires_at', 'tokens.namespaces as token_namespaces'])
      .where('sessions.id_hash', '=', idHash)
      .executeTakeFirst();
    if (!row) return undefined;
    // A session made with a token ends when the token does (ISO times order as text).
    const tokenExpires = row.token_expires_at ?? null;
    const expiresAt = tokenExpires !== null && tokenExpires < row.expires_at ? tokenExpires : row.expires_at;
    return {
      userId: String(row.user_id),
      username: row.username,
      userActive: Boolean(row.is_active),
      expiresAt,
      revokedAt: row.revoked_at ?? row.token_revoked_at ?? null,
      tokenId: row.token_id === null ? null : String(row.token_id),
      userAdmin: Boolean(row.is_admin),
      userNamespaces: parseNamespaces(row.user_namespaces),
      tokenNamespaces: parseNamespaces(row.token_namespaces ?? null),
    };
  }

  async revokeSession(idHash: string): Promise<boolean> {
    const result = await this.db
      .updateTable('sessions')
      .set({ revoked_at: new Date().toISOString() })
      .where('id_hash', '=', idHash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async insertToken(token: NewToken): Promise<StoredToken> {
    const row = await this.db
      .insertInto('tokens')
      .values({
        user_id: token.userId,
        key_prefix: token.keyPrefix,
        key_hash: token.keyHash,
        name: token.name,
        can_publish: token.canPublish ? 1 : 0,
        created_at: new Date().toISOString(),
        revoked_at: null,
        expires_at: token.expiresAt ?? null,
        namespaces: token.namespaces == null ? null : JSON.stringify([...token.namespaces]),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const stored = await this.tokensQuery().where('tokens.id', '=', row.id).executeTakeFirstOrThrow();
    return toToken(stored);
  }

  async findTokenByPrefix(keyPrefix: string): Promise<StoredToken | undefined> {
    const row = await this.tokensQuery().where('tokens.key_prefix', '=', keyPrefix).executeTakeFirst();
    return row ? toToken(row) : undefined;
  }

  async listTokens(): Promise<StoredToken[]> {
    const rows = await this.tokensQuery().orderBy('tokens.id').execute();
    return rows.map(toToken);
  }

  async revokeToken(idOrPrefix: string): Promise<boolean> {
    const result = await this.db
      .updateTable('tokens')
      .set({ revoked_at: new Date().toISOString() })
      .where((eb) => {
        const byPrefix = eb('key_prefix', '=', idOrPrefix);
        // Only numbers that fit a bigint can be ids (PostgreSQL refuses larger ones outright).
        return isEventId(idOrPrefix) ? eb.or([byPrefix, eb('id', '=', idOrPrefix)]) : byPrefix;
      })
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async liveCredentials(refs: CredentialRefs, now: string): Promise<CredentialRefs> {
    const tokenIds = [...new Set(refs.tokenIds)].filter(isEventId);
    const hashes = [...new Set(refs.sessionIdHashes)];
    const live = { tokenIds: [] as string[], sessionIdHashes: [] as string[] };
    // One statement per period in practice: chunks only past IN_CHUNK distinct credentials of each kind.
    for (let start = 0; start < Math.max(tokenIds.length, hashes.length); start += IN_CHUNK) {
      const rows = await this.liveChunk(tokenIds.slice(start, start + IN_CHUNK), hashes.slice(start, start + IN_CHUNK), now);
      for (const row of rows) (row.kind === 't' ? live.tokenIds : live.sessionIdHashes).push(String(row.ref));
    }
    return live;
  }

  /** Live tokens (kind 't', ref = id) and sessions (kind 's', ref = id hash) among the given ones, in one statement. */
  private async liveChunk(tokenIds: string[], hashes: string[], now: string): Promise<{ kind: string; ref: string }[]> {
    const tokens =
      tokenIds.length === 0
        ? null
        : this.db
            .selectFrom('tokens')
            .innerJoin('users', 'users.id', 'tokens.user_id')
            .select([sql<string>`'t'`.as('kind'), sql<string>`cast(tokens.id as text)`.as('ref')])
            .where('tokens.id', 'in', tokenIds)
            .where('tokens.revoked_at', 'is', null)
            .where((eb) => eb.or([eb('tokens.expires_at', 'is', null), eb('tokens.expires_at', '>', now)]))
            .where('users.is_active', '=', 1);
    const sessions =
      hashes.length === 0
        ? null
        : this.db
            .selectFrom('sessions')
            .innerJoin('users', 'users.id', 'sessions.user_id')
            .leftJoin('tokens', 'tokens.id', 'sessions.token_id')
            .select([sql<string>`'s'`.as('kind'), sql<string>`sessions.id_hash`.as('ref')])
            .where('sessions.id_hash', 'in', hashes)
            .where('sessions.revoked_at', 'is', null)
            .where('sessions.expires_at', '>', now)
            .where('users.is_active', '=', 1)
            .where((eb) =>
              eb.or([
                eb('sessions.token_id', 'is', null),
                eb.and([eb('tokens.revoked_at', 'is', null), eb.or([eb('tokens.expires_at', 'is', null), eb('tokens.expires_at', '>', now)])]),
              ]),
            );
    if (tokens && sessions) return tokens.unionAll(sessions).execute();
    return (tokens ?? sessions)?.execute() ?? [];
  }

  private tokensQuery() {
    return this.db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .selectAll('tokens')
      .select(['users.username', 'users.is_active', 'users.is_admin', 'users.namespaces as user_namespaces']);
  }
}

/** The columns a UserChanges sets (only those given). */
function userColumns(changes: UserChanges): { is_admin?: number; namespaces?: string | null } {
  return {
    ...(changes.isAdmin !== undefined && { is_admin: changes.isAdmin ? 1 : 0 }),
    ...(changes.namespaces !== undefined && { namespaces: changes.namespaces === null ? null : JSON.stringify([...changes.namespaces]) }),
  };
}

function parseNamespaces(text: string | null): string[] | null {
  return text === null ? null : (JSON.parse(text) as string[]);
}

function toUser(r: Selectable<UsersTable>): StoredUser {
  return {
    id: String(r.id),
    username: r.username,
    isActive: Boolean(r.is_active),
    passwordHash: r.password_hash,
    isAdmin: Boolean(r.is_admin),
    namespaces: parseNamespaces(r.namespaces),
  };
}

function toToken(r: Selectable<TokensTable> & { username: string; is_active: number; is_admin: number; user_namespaces: string | null }): StoredToken {
  return {
    id: String(r.id),
    userId: String(r.user_id),
    username: r.username,
    userActive: Boolean(r.is_active),
    keyPrefix: r.key_prefix,
    keyHash: r.key_hash,
    name: r.name,
    canPublish: Boolean(r.can_publish),
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    expiresAt: r.expires_at,
    namespaces: parseNamespaces(r.namespaces),
    userAdmin: Boolean(r.is_admin),
    userNamespaces: parseNamespaces(r.user_namespaces),
  };
}
