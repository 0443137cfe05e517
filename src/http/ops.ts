/** Operations endpoints: /metrics, /healthz (alive), /readyz (store, bus and broker usable). */
import type { FastifyInstance } from 'fastify';
import type { HttpDeps } from './deps.js';

/** How long a readiness check may take before it counts as failed. */
const CHECK_TIMEOUT_MS = 2000;

type CheckResult = 'ok' | string;

/** Registers the operations routes (unauthenticated: they reveal no message content). */
export function registerOpsRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await deps.metrics.render();
    return reply.type(contentType).send(body);
  });

  app.get('/readyz', async (_request, reply) => {
    const checks: Record<string, CheckResult> = {
      store: await withTimeout(deps.store.ping().then(() => 'ok')),
      bus: deps.status.bus().state === 'ok' ? 'ok' : deps.status.bus().state,
    };
    const broker = deps.status.broker();
    // A standby listener (another one holds the lease) is a normal, ready state.
    if (broker !== null) checks.broker = ['connected', 'standby'].includes(broker.state) ? 'ok' : `${broker.state}${broker.lastError ? `: ${broker.lastError}` : ''}`;
    const failing = Object.entries(checks)
      .filter(([, result]) => result !== 'ok')
      .map(([name]) => name);
    if (failing.length === 0) return { status: 'ready', checks };
    return reply.status(503).send({ detail: `not ready: ${failing.join(', ')}`, failing, checks });
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
