/**
 * What browsers need: cookies, CORS exactly as SPEC §5, security headers with
 * a strict Content-Security-Policy, and the live page at `/` (every asset
 * local: the machines are offline, and a CDN would widen the CSP).
 */
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyCors from '@fastify/cors';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';

/** The page's assets; the same path from src/http and dist/http. */
export const WEB_ROOT = fileURLToPath(new URL('../../src/web/', import.meta.url));

/** Only our own scripts, styles and connections; no framing, no plugins. */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

/** Registers cookies, CORS and security headers (before any route). */
export function registerBrowserSupport(app: FastifyInstance, config: Config): void {
  void app.register(fastifyCookie);
  const allowed = new Set(config.corsAllowedOrigins);
  // Allowed origins get their own origin back with credentials (never `*`); others get no CORS headers.
  void app.register(fastifyCors, {
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
    credentials: true,
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID', 'Idempotency-Key'],
    maxAge: 600,
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    void reply.header('X-Content-Type-Options', 'nosniff');
    void reply.header('Referrer-Policy', 'no-referrer');
    void reply.header('X-Frame-Options', 'DENY');
    void reply.header('Content-Security-Policy', CSP);
    return payload;
  });
}

/** Serves the live page and its assets from src/web (path traversal is refused by @fastify/static). */
export function registerWebPage(app: FastifyInstance): void {
  void app.register(fastifyStatic, { root: WEB_ROOT, prefix: '/', wildcard: false, index: ['index.html'], cacheControl: true, maxAge: 60_000 });
}

/** The request's own origin (scheme://host[:port]) as the browser sees it. */
export function ownOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

/**
 * For state-changing browser requests (login, logout): true when the Origin
 * is this site or an allowed origin, or when there is no Origin at all (not a
 * browser, so no ambient cookie to abuse).
 */
export function originAllowed(request: FastifyRequest, config: Config): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) {
    const site = request.headers['sec-fetch-site'];
    return site === undefined || site === 'same-origin' || site === 'none';
  }
  return origin === ownOrigin(request) || config.corsAllowedOrigins.includes(origin);
}
