/**
 * Operations endpoints: /metrics, /healthz (alive), /readyz (store, bus and broker usable; the
 * checks' details only for an authenticated caller).
 * The monitor's database (DJANGO_DATABASE_URL) is reported but never makes the process
 * unready: the relay's own tokens do not need it, and every process shares that one
 * database, so a load balancer acting on it would take them all out at once.
 */
import type { FastifyInstance } from 'fastify';
import type { Authenticate, HttpDeps } from './deps.js';
import { PUBLIC } from './openapi.js';

// OpenAPI descriptions; the JSON ones serialise the answers, so they list every field.
const CHECKS = { type: 'object', description: 'check → `ok` or what is wrong (store, bus, broker; django with DJANGO_DATABASE_URL).', additionalProperties: { type: 'string' } };
const DEGRADED = { type: 'array', items: { type: 'string' }, description: 'Informational checks not ok (django); never make the process unready.' };
const HEALTHZ_SCHEMA = {
  summary: 'Liveness',
  tags: ['ops'],
  security: PUBLIC,
  response: { 200: { description: 'The process is alive.', type: 'object', properties: { status: { type: 'string', enum: ['ok'] } }, required: ['status'] } },
};
const METRICS_SCHEMA = {
  summary: 'Prometheus metrics',
  tags: ['ops'],
  security: PUBLIC,
  // Not serialised: the route sends prom-client's text as it is.
  response: { 200: { description: 'Prometheus text exposition format.', content: { 'text/plain': { schema: { type: 'string' } } } } },
};
const READYZ_SCHEMA = {
  summary: 'Readiness',
  description: 'Ready when store, bus and broker are usable (a standby listener is ready). `checks`, `failing` and `degraded` only for an authenticated caller.',
  tags: ['ops'],
  security: PUBLIC,
  response: {
    200: {
      description: 'Ready.',
      type: 'object',
      properties: { status: { type: 'string', enum: ['ready'] }, checks: CHECKS, degraded: DEGRADED },
      required: ['status'],
    },
    503: {
      description: 'Not ready.',
      type: 'object',
      properties: { status: { type: 'string', enum: ['not ready'] }, detail: { type: 'string' }, failing: { type: 'array', items: { type: 'string' } }, checks: CHECKS, degraded: DEGRADED },
      required: ['status', 'detail'],
      additionalProperties: true,
    },
  },
};

/** How long a readiness check may take before it counts as failed. */
const CHECK_TIMEOUT_MS = 2000;

type CheckResult = 'ok' | string;

/** Checks shown in /readyz that never make it fail; when not ok they are listed in `degraded`. */
const INFORMATIONAL: ReadonlySet<string> = new Set(['django']);

/** What readiness reads: the parts' live state (HttpDeps has it; so does the metrics adapter). */
export type ReadinessSources = Pick<HttpDeps, 'store' | 'django'> & { readonly status: Pick<HttpDeps['status'], 'bus' | 'broker'> };

/** One readiness evaluation: each check's result, and which of those that are not ok fail readiness. */
export interface Readiness {
  readonly checks: Record<string, CheckResult>;
  readonly failing: string[];
  readonly degraded: string[];
}

/** Runs the readiness checks: the one definition behind /readyz and the `swf_relay_ready` gauge. */
export async function checkReadiness(deps: ReadinessSources): Promise<Readiness> {
  const checks: Record<string, CheckResult> = {
    store: await withTimeout(deps.store.ping().then(() => 'ok')),
    bus: deps.status.bus().state === 'ok' ? 'ok' : deps.status.bus().state,
  };
  const broker = deps.status.broker();
  // A standby listener (another one holds the lease) is a normal, ready state.
  if (broker !== null) checks.broker = ['connected', 'standby'].includes(broker.state) ? 'ok' : `${broker.state}${broker.lastError ? `: ${broker.lastError}` : ''}`;
  if (deps.django) checks.django = await withTimeout(deps.django.ping().then(() => 'ok'));
  const notOk = Object.entries(checks).filter(([, result]) => result !== 'ok').map(([name]) => name);
  return { checks, failing: notOk.filter((name) => !INFORMATIONAL.has(name)), degraded: notOk.filter((name) => INFORMATIONAL.has(name)) };
}

/** Registers the operations routes (open to all: they reveal no message content; /readyz details need a credential). */
export function registerOpsRoutes(app: FastifyInstance, deps: HttpDeps, authenticate: Authenticate): void {
  app.get('/healthz', { schema: HEALTHZ_SCHEMA }, async () => ({ status: 'ok' }));

  app.get('/metrics', { schema: METRICS_SCHEMA }, async (_request, reply) => {
    const { contentType, body } = await deps.metrics.render();
    return reply.type(contentType).send(body);
  });

  app.get('/readyz', { schema: READYZ_SCHEMA }, async (request, reply) => {
    // Check results carry addresses and error text: only for a caller with a valid credential.
    // A failed or absent one (a load balancer, or a store that is down) gets ready or not, nothing else.
    // The credential is checked beside the checks and as briefly: it reads the store, which may hang.
    const [{ checks, failing, degraded }, credential] = await Promise.all([checkReadiness(deps), withTimeout(authenticate(request).then(() => 'ok'))]);
    const detailed = credential === 'ok';
    if (!detailed) return failing.length === 0 ? { status: 'ready' } : reply.status(503).send({ status: 'not ready', detail: 'not ready' });
    const extra = degraded.length > 0 ? { degraded } : {};
    if (failing.length === 0) return { status: 'ready', checks, ...extra };
    return reply.status(503).send({ status: 'not ready', detail: `not ready: ${failing.join(', ')}`, failing, checks, ...extra });
  });
}

async function withTimeout(check: Promise<CheckResult>): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${CHECK_TIMEOUT_MS} ms`), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check.catch((err: unknown) => (err instanceof Error ? err.message : String(err))), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
