/**
 * The HTTP layer: builds the fastify app (routes, auth, one error→JSON
 * mapping). Listening is the caller's job (app.ts).
 */
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'pino';
import { SESSION_COOKIE, sessionPrincipal } from '../auth/sessions.js';
import { authenticateKey, keyFromHeader, type Principal } from '../auth/tokens.js';
import { AppError } from '../errors.js';
import { redactUrl } from '../log.js';
import { registerApiRoutes } from './api.js';
import { registerAuthRoutes } from './auth-routes.js';
import { basePathRewriter, registerBasePathRedirect } from './base-path.js';
import type { Authenticate, HttpDeps } from './deps.js';
import { registerOpenApi, registerOpenApiRoute } from './openapi.js';
import { registerOpsRoutes } from './ops.js';
import { registerStatusRoutes } from './status.js';
import { registerStreamRoutes } from './stream.js';
import { proxyMatcher, proxyUser } from './trusted-proxies.js';
import { registerBrowserSupport, registerWebPage } from './web.js';

/** Builds the app; nothing listens until the caller calls `listen`. */
export function buildHttpServer(deps: HttpDeps): FastifyInstance {
  const { config, store, django } = deps;
  // One factory call for both transports; fastify's types split HTTP/1 and HTTP/2 apart, the routes do not care.
  const createFastify = Fastify as unknown as (options: object) => FastifyInstance;
  const app = createFastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    routerOptions: { ignoreTrailingSlash: true },
    // BASE_PATH: the prefix is stripped before routing, so every route also answers under it.
    rewriteUrl: basePathRewriter(config.basePath),
    bodyLimit: config.messageMaxBytes,
    trustProxy: config.trustedProxies.length > 0 ? [...config.trustedProxies] : false,
    // SSE responses live for hours; only the request itself must arrive in time.
    requestTimeout: 30_000,
    return503OnClosing: true,
    // Node's parser rejects oversized URLs and headers (16 KiB) before fastify sees them: answer in JSON too.
    clientErrorHandler: answerClientError,
    // Request logs must not carry tokens, even from the query string; they show the URL as received
    // (originalUrl: before BASE_PATH is stripped). One child per request, not a child of fastify's child:
    // an SSE stream keeps its request's logger for as long as it is open.
    childLoggerFactory: (logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions, raw: { originalUrl?: string; url?: string }) =>
      logger.child({ ...bindings, url: redactUrl(raw.originalUrl || raw.url || '') }, options),
    // HTTPS served by the relay itself: HTTP/2 (no six-streams-per-origin limit in browsers), HTTP/1.1 fallback.
    ...(config.tls
      ? { http2: true, https: { allowHTTP1: true, cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) } }
      : {}),
  });
  registerBasePathRedirect(app, config.basePath);
  registerBrowserSupport(app, config);
  // Request schemas only document (OpenAPI): every handler validates its own input and answers
  // 400 {"detail", "param"}; fastify's validator would reject repeated filters (?msg_types=a&msg_types=b),
  // coerce values and answer in its own words. Permissive schemas alone would not stop its coercion.
  app.setValidatorCompiler(() => () => true);
  // Before any route: the generator collects routes as they are added.
  registerOpenApi(app, config);

  const fromTrustedProxy = proxyMatcher(config.trustedProxies);
  // A DRF-shaped key (40 hex) is asked of the monitor's database; the relay's own keys
  // (43 base64url characters) never are, so they work while that database is down.
  const resolveKey = async (key: string): Promise<Principal> => (await django?.tokenPrincipal(key)) ?? authenticateKey(store, key);
  const authenticate: Authenticate = async (request) => {
    const header = keyFromHeader(request.headers.authorization);
    if (header !== null) return resolveKey(header);
    const session = await sessionPrincipal(store, request.cookies?.[SESSION_COOKIE]);
    if (session) return session;
    // A user header only when configured, and only from a trusted proxy (the direct peer, not X-Forwarded-For).
    const remoteUser = proxyUser(request.headers, config.trustedProxyUserHeader, fromTrustedProxy(request.socket.remoteAddress));
    if (remoteUser !== null) return { userId: '', username: remoteUser, tokenId: null, canPublish: false, via: 'proxy' };
    let key: string | null = null;
    if (config.sse.allowQueryToken) {
      const token = (request.query as Record<string, unknown>).token;
      if (typeof token === 'string' && token !== '') key = token;
    }
    if (key !== null) return resolveKey(key);
    // Last: the relay's own credentials above never wait for the monitor's database.
    const djangoSession = config.django ? await django?.sessionPrincipal(request.cookies?.[config.django.sessionCookie]) : null;
    return djangoSession ?? authenticateKey(store, null);
  };

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof AppError) {
      if (error.retryAfter !== undefined) void reply.header('Retry-After', String(error.retryAfter));
      if (error.status === 401) void reply.header('WWW-Authenticate', 'Token');
      return reply.status(error.status).send({ detail: error.message, ...error.extra });
    }
    const status = typeof (error as { statusCode?: unknown }).statusCode === 'number' ? (error as { statusCode: number }).statusCode : 500;
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed');
      return reply.status(500).send({ detail: 'Internal server error.' });
    }
    return reply.status(status).send({ detail: (error as Error).message });
  });
  app.setNotFoundHandler((request, reply) => {
    // A known path asked with the wrong method is a 405 with the methods it does answer.
    const path = request.url.split('?')[0] ?? '/';
    const allowed = ['GET', 'POST'].filter((method) => [path, path.endsWith('/') ? path.slice(0, -1) : `${path}/`].some((url) => app.hasRoute({ url, method })));
    if (allowed.length > 0) return reply.status(405).header('Allow', allowed.join(', ')).send({ detail: `Method ${request.method} not allowed.` });
    return reply.status(404).send({ detail: 'Not found.' });
  });

  // Once the plugins above have loaded: the OpenAPI generator's onRoute hook must see every route added.
  void app.after((err) => {
    if (err) throw err;
    registerAuthRoutes(app, deps, authenticate);
    registerStreamRoutes(app, deps, authenticate);
    registerStatusRoutes(app, deps, authenticate);
    registerApiRoutes(app, deps, authenticate);
    registerOpsRoutes(app, deps, authenticate);
    registerOpenApiRoute(app, config);
    registerWebPage(app);
  });
  return app;
}

/** Raw answer to a request Node's HTTP parser refused (too large, malformed): JSON, then close. */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) return;
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const detail = status === 431 ? 'Request URL or headers too large.' : status === 408 ? 'Request timed out.' : 'Malformed HTTP request.';
  const body = JSON.stringify({ detail });
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
