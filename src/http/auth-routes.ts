/**
 * Browser sign-in (SPEC §5): POST /api/auth/login, POST /api/auth/logout, GET /api/auth/session.
 * The session cookie's Path is the prefix the page was reached under (BASE_PATH), else `/`,
 * so a relay mounted beside another application keeps its cookie to itself.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticateKey } from '../auth/tokens.js';
import { AppError } from '../errors.js';
import { DUMMY_HASH, verifyPassword } from '../auth/passwords.js';
import { createSession, endSession, SESSION_COOKIE } from '../auth/sessions.js';
import { mountOf } from './base-path.js';
import { LoginLimiter, loginKeys } from './login-limiter.js';
import { PasswordGate } from './password-gate.js';
import type { Authenticate, HttpDeps } from './deps.js';
import { originAllowed } from './web.js';
import { authenticated, errorResponses, PUBLIC } from './openapi.js';

const SET_COOKIE = { 'Set-Cookie': { type: 'string', description: 'The session cookie (HttpOnly, SameSite=Lax; Path = the prefix the page came by).' } };

// OpenAPI descriptions (the body schema documents only: see openapi.ts).
const LOGIN_SCHEMA = {
  summary: 'Sign in (browser session)',
  description: 'With `username` and `password` (users from `swf-relay user create`) or with a `token`; sets the session cookie. Cross-site requests are refused unless their Origin is allowed (CORS_ALLOWED_ORIGINS).',
  tags: ['auth'],
  security: PUBLIC,
  body: {
    type: 'object',
    properties: { username: { type: 'string' }, password: { type: 'string', format: 'password' }, token: { type: 'string', description: 'Instead of username and password.' } },
  },
  response: {
    200: {
      description: 'Signed in.',
      headers: SET_COOKIE,
      type: 'object',
      properties: { username: { type: 'string' }, expires_at: { type: 'string', format: 'date-time' } },
      required: ['username', 'expires_at'],
    },
    ...errorResponses(400, 401, 403, 413, 415, 429, 503),
  },
};

const LOGOUT_SCHEMA = {
  summary: 'Sign out',
  description: 'Ends the session(s) of the cookies sent and clears them.',
  tags: ['auth'],
  security: PUBLIC,
  response: {
    200: { description: 'Signed out.', headers: SET_COOKIE, type: 'object', properties: { detail: { type: 'string' } }, required: ['detail'] },
    ...errorResponses(400, 403, 413, 415),
  },
};

/** Registers the sign-in routes. */
export function registerAuthRoutes(app: FastifyInstance, deps: HttpDeps, authenticate: Authenticate): void {
  const { store, config } = deps;
  const limiter = new LoginLimiter();
  const gate = new PasswordGate();

  const requireOrigin = (request: FastifyRequest) => {
    if (!originAllowed(request, config)) throw new AppError('FORBIDDEN', 'Cross-site request refused (Origin not allowed).');
  };
  const secure = (request: FastifyRequest) => config.sessionSecureCookie ?? (config.tls !== undefined || request.protocol === 'https');
  const cookiePath = (request: FastifyRequest) => mountOf(request, config.basePath) || '/';

  app.post('/api/auth/login', { schema: LOGIN_SCHEMA }, async (request, reply) => {
    requireOrigin(request);
    const body = (request.body ?? {}) as Record<string, unknown>;
    const username = typeof body.username === 'string' ? body.username.trim() : '';
    const keys = loginKeys(request.ip, typeof body.token === 'string' && body.token !== '' ? '' : username);
    // Counted before any check: concurrent attempts cannot all pass while the first ones are still hashing.
    const wait = limiter.attempt(keys);
    if (wait > 0) throw new AppError('RATE_LIMITED', 'Too many failed sign-ins; wait and try again.', {}, wait);

    let userId: string | null = null;
    let tokenId: string | null = null;
    let name = username;
    if (typeof body.token === 'string' && body.token !== '') {
      const principal = await authenticateKey(store, body.token).catch(() => null);
      if (principal) ({ userId, username: name, tokenId } = principal);
    } else if (username !== '' && typeof body.password === 'string') {
      const password = body.password;
      const user = await store.findUser(username);
      // Always run scrypt, so the answer time does not tell whether the user exists.
      const ok = await gate.run(request.ip, () => verifyPassword(password, user?.passwordHash ?? DUMMY_HASH));
      if (ok && user?.isActive) userId = user.id;
    } else {
      limiter.succeed(keys); // a malformed request is not a guess
      throw new AppError('BAD_REQUEST', 'Send {"username", "password"} or {"token"}.');
    }
    if (userId === null) throw new AppError('NOT_AUTHENTICATED', 'Invalid credentials.');
    limiter.succeed(keys);
    // Always a fresh session id: a cookie planted before sign-in is never promoted.
    await endSession(store, request.cookies[SESSION_COOKIE]);
    // A session made with a token ends with that token (revoked, expired).
    const session = await createSession(store, userId, config.sessionTtlMs, tokenId);
    setSessionCookie(reply, session.id, session.expiresAt, secure(request), cookiePath(request));
    return { username: name, expires_at: session.expiresAt.toISOString() };
  });

  app.post('/api/auth/logout', { schema: LOGOUT_SCHEMA }, async (request, reply) => {
    requireOrigin(request);
    // A browser may hold one cookie per path (signed in at the root and under the prefix): end and clear them all.
    for (const id of cookieValues(request.headers.cookie, SESSION_COOKIE)) await endSession(store, id);
    for (const path of new Set(['/', config.basePath || '/'])) {
      void reply.clearCookie(SESSION_COOKIE, { path, httpOnly: true, sameSite: 'lax', secure: secure(request) });
    }
    return { detail: 'Signed out.' };
  });

  const sessionSchema = {
    summary: 'Who am I',
    description: 'The caller as the relay sees it, and how it authenticated.',
    tags: ['auth'],
    security: authenticated(config),
    response: {
      200: {
        description: 'Authenticated.',
        type: 'object',
        properties: { username: { type: 'string' }, via: { type: 'string', enum: ['token', 'session', 'proxy', 'django-token', 'django-session'] } },
        required: ['username', 'via'],
      },
      ...errorResponses(401, 503),
    },
  };
  app.get('/api/auth/session', { schema: sessionSchema }, async (request) => {
    const principal = await authenticate(request);
    return { username: principal.username, via: principal.via ?? 'token' };
  });
}

function setSessionCookie(reply: FastifyReply, id: string, expiresAt: Date, secure: boolean, path: string): void {
  void reply.setCookie(SESSION_COOKIE, id, { path, httpOnly: true, sameSite: 'lax', secure, expires: expiresAt });
}

/** Every value of cookie `name` in a Cookie header (request.cookies keeps only the first). */
function cookieValues(header: string | undefined, name: string): string[] {
  if (!header) return [];
  return header
    .split(';')
    .map((pair) => pair.trim())
    .filter((pair) => pair.startsWith(`${name}=`))
    .map((pair) => pair.slice(name.length + 1))
    .slice(0, 10);
}
