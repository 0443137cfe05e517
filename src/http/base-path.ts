/**
 * BASE_PATH: every route answers under the prefix as well as at the root, as
 * when a proxy forwards `/swf-monitor/api/messages/stream/` unchanged (the
 * monitor's Apache layout). The prefix is stripped before routing (fastify's
 * `rewriteUrl`), so there is one route table and every route, hook and the 404
 * handler work unchanged; what must name the path the client used (cookie
 * Path, `next` links) asks mountOf().
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** True when `url` (path and query, as received) lies under `basePath`: the prefix itself or followed by `/` or `?`. */
function underPrefix(url: string, basePath: string): boolean {
  if (!url.startsWith(basePath)) return false;
  const next = url.charAt(basePath.length);
  // `/swf-monitorX/…` merely starts with the same letters: not under the prefix.
  return next === '' || next === '/' || next === '?';
}

/** The `rewriteUrl` server option for `basePath` (undefined when '' = no prefix): strips the prefix once. */
export function basePathRewriter(basePath: string): ((req: { url?: string }) => string) | undefined {
  if (basePath === '') return undefined;
  return (req) => {
    const url = req.url ?? '/';
    if (!underPrefix(url, basePath)) return url;
    const rest = url.slice(basePath.length);
    return rest.startsWith('/') ? rest : `/${rest}`;
  };
}

/** The prefix the client used for this request: `basePath`, or '' when it came to the root. */
export function mountOf(request: FastifyRequest, basePath: string): string {
  return basePath !== '' && underPrefix(request.originalUrl, basePath) ? basePath : '';
}

/**
 * `/swf-monitor` without its slash is redirected to `/swf-monitor/`: the page
 * resolves its assets and API calls relative to its own URL, which must end
 * in `/` for them to stay under the prefix.
 */
export function registerBasePathRedirect(app: FastifyInstance, basePath: string): void {
  if (basePath === '') return;
  app.addHook('onRequest', async (request, reply) => {
    const url = request.originalUrl;
    if (url === basePath || url.startsWith(`${basePath}?`)) return reply.redirect(`${basePath}/${url.slice(basePath.length)}`, 308);
  });
}
