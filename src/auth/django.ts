/**
 * swf-monitor's own credentials (issue 13): a Django REST framework token
 * (`Authorization: Token <key>`, the testbed's SWF_API_TOKEN) or a Django
 * session cookie (`sessionid`, what the monitor's pages send), checked
 * read-only against the monitor's database. The Django username becomes the
 * principal's username. Lookups are cached briefly (see CACHE_TTL_MS).
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import { redactDatabaseUrl, type DjangoConfig } from '../config.js';
import { openDjangoDb, type DjangoDb } from './django-db.js';
import { decodeDjangoSession, sessionUserId } from './django-session.js';
import { LookupCache } from './lookup-cache.js';
import type { Principal } from './tokens.js';

/**
 * How long a lookup result is reused. Each stream open and status poll would
 * otherwise cost the monitor's database a query; a deleted token, a flushed
 * or expired session or a deactivated user must still be refused within 15 s,
 * so results (positive and negative alike) live at most 5 s.
 */
export const CACHE_TTL_MS = 5000;
/** Most cached results: a client spraying random keys gets its negatives cached without growing memory past this. */
export const CACHE_MAX_ENTRIES = 10_000;

/** DRF's keys: 20 random bytes, hex (`binascii.hexlify(os.urandom(20))`). Nothing else is looked up. */
const DRF_KEY = /^[0-9a-f]{40}$/;
/** Django's session keys: 8–40 characters (it makes 32 of [a-z0-9]). */
const SESSION_KEY = /^[A-Za-z0-9]{8,40}$/;

// The key is authtoken_token's primary key: one indexed equality lookup, exactly what
// DRF's TokenAuthentication does (Token.objects.get(key=...)). No comparison of the secret
// happens here, so timing reveals no more than the index lookup does to DRF itself.
const TOKEN_SQL = `SELECT u.id AS id, u.username AS username, u.is_active AS is_active
  FROM authtoken_token t JOIN auth_user u ON u.id = t.user_id WHERE t.key = $1`;
const SESSION_SQL = 'SELECT session_data, expire_date FROM django_session WHERE session_key = $1';
const USER_SQL = 'SELECT id, username, is_active FROM auth_user WHERE id = $1';
/** Readiness: the three tables exist and may be read (no rows fetched). */
const PROBE_SQL = `SELECT 1 AS one FROM auth_user WHERE 1 = 0 UNION ALL SELECT 1 FROM authtoken_token WHERE 1 = 0
  UNION ALL SELECT 1 FROM django_session WHERE 1 = 0`;

type UserRow = { id: number | string; username: string; is_active: boolean | number };
type SessionRow = { session_data: string; expire_date: Date | string };

/** DjangoAuth over the database `config` names (nothing connects until the first lookup or start()). */
export function createDjangoAuth(config: DjangoConfig, log: Logger): DjangoAuth {
  const where = config.database.kind === 'sqlite' ? `sqlite:${config.database.path}` : redactDatabaseUrl(config.database.url);
  return new DjangoAuth(openDjangoDb(config.database), log, where);
}

/** Django credentials checked against the monitor's database, read-only. */
export class DjangoAuth {
  private readonly cache: LookupCache<Principal | null>;
  private readonly pending = new Map<string, Promise<Principal | null>>();
  private unreachable: string | null = null;

  constructor(
    private readonly db: DjangoDb,
    private readonly log: Logger,
    /** The database, as logs may show it (no password). */
    readonly where: string,
    private readonly now: () => number = Date.now,
  ) {
    this.cache = new LookupCache(CACHE_MAX_ENTRIES, now);
  }

  /** The user of a DRF token, or null (not DRF-shaped, unknown, inactive user); 503 when the database cannot answer. */
  tokenPrincipal(key: string): Promise<Principal | null> {
    if (!DRF_KEY.test(key)) return Promise.resolve(null);
    return this.cached(`token:${key}`, async () => {
      const [row] = await this.db.select<UserRow>(TOKEN_SQL, [key]);
      return { principal: row ? principalOf(row, 'django-token') : null, until: this.now() + CACHE_TTL_MS };
    });
  }

  /** The user of a live Django session, or null (unknown, expired, anonymous, undecodable, inactive user); 503 when the database cannot answer. */
  sessionPrincipal(sessionKey: string | undefined): Promise<Principal | null> {
    if (sessionKey === undefined || !SESSION_KEY.test(sessionKey)) return Promise.resolve(null);
    return this.cached(`session:${sessionKey}`, async () => {
      const none = { principal: null, until: this.now() + CACHE_TTL_MS };
      const [session] = await this.db.select<SessionRow>(SESSION_SQL, [sessionKey]);
      const expires = session ? expiryOf(session.expire_date) : NaN;
      if (!session || !(expires > this.now())) return none;
      const userId = sessionUserId(decodeDjangoSession(session.session_data));
      if (userId === null) return none;
      const [user] = await this.db.select<UserRow>(USER_SQL, [userId]);
      // A session is never reused past its own expiry, even within the cache lifetime.
      return { principal: user ? principalOf(user, 'django-session') : null, until: Math.min(this.now() + CACHE_TTL_MS, expires) };
    });
  }

  /** Says in the log that Django credentials are accepted, and whether the database answers now; never rejects. */
  async start(): Promise<void> {
    this.log.info({ database: this.where }, 'accepting swf-monitor tokens and sessions (DJANGO_DATABASE_URL, read-only)');
    try {
      await this.ping();
      this.log.info({ database: this.where }, 'django database reachable');
    } catch {
      // ping() has logged it.
    }
  }

  /** Resolves when the monitor's tables can be read; rejects with the reason otherwise (and the log says so once). */
  async ping(): Promise<void> {
    try {
      await this.db.select(PROBE_SQL, []);
    } catch (err) {
      this.reachability(err);
      throw err;
    }
    this.reachability(null);
  }

  /** Null while the database answers, else the last error (what /readyz reports). */
  get lastError(): string | null {
    return this.unreachable;
  }

  /** Closes the connection. */
  close(): Promise<void> {
    return this.db.close();
  }

  /** One lookup per secret at a time, its result cached; a failed lookup is not cached and becomes a 503. */
  private async cached(secret: string, lookup: () => Promise<{ principal: Principal | null; until: number }>): Promise<Principal | null> {
    // The secret itself is no map key: the hash keeps it out of heap snapshots and its bytes out of the lookup.
    const key = createHash('sha256').update(secret).digest('base64url');
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    let running = this.pending.get(key);
    if (!running) {
      running = lookup().then(
        ({ principal, until }) => {
          this.reachability(null);
          this.cache.set(key, principal, until);
          return principal;
        },
        (err: unknown) => {
          this.reachability(err);
          throw new AppError('UNAVAILABLE', 'Cannot check Django credentials right now (the monitor database does not answer); retry later.', {}, 5);
        },
      );
      running.finally(() => this.pending.delete(key)).catch(() => {});
      this.pending.set(key, running);
    }
    return running;
  }

  /** Logs the changes between reachable and unreachable, not every failed lookup. */
  private reachability(err: unknown): void {
    if (err === null) {
      if (this.unreachable !== null) this.log.info({ database: this.where }, 'django database reachable again: Django tokens and sessions accepted');
      this.unreachable = null;
      return;
    }
    // An AggregateError (every address refused) has an empty message but a code.
    const reason = err instanceof Error ? err.message || String((err as { code?: unknown }).code ?? err.name) : String(err);
    if (this.unreachable === null) this.log.warn({ database: this.where, reason }, 'django database unreachable: Django tokens and sessions get 503 until it answers (relay tokens unaffected)');
    this.unreachable = reason;
  }
}

function principalOf(row: UserRow, via: 'django-token' | 'django-session'): Principal | null {
  // is_active is a boolean in PostgreSQL and 0/1 in SQLite.
  if (!row.is_active) return null;
  return { userId: `django:${row.id}`, username: row.username, tokenId: null, canPublish: false, via };
}

/** expire_date as ms since the epoch: a Date from PostgreSQL, UTC text (`YYYY-MM-DD HH:MM:SS[.ffffff]`) from SQLite; NaN when unreadable. */
export function expiryOf(value: Date | string): number {
  if (value instanceof Date) return value.getTime();
  const match = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$/.exec(value.trim());
  if (!match) return NaN;
  const millis = (match[3] ?? '.000').slice(0, 4).padEnd(4, '0');
  const zone = match[4]?.replace(/^([+-]\d\d)(\d\d)$/, '$1:$2') ?? 'Z';
  return Date.parse(`${match[1]}T${match[2]}${millis}${zone}`);
}
