/**
 * `swf-relay serve --workers N`: a node:cluster primary that keeps N web
 * worker processes (sharing the HTTP port) alive, restarting any that dies,
 * and stops them all on SIGTERM/SIGINT.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/** Wait before replacing a worker that died, so a crash loop does not spin. */
const RESTART_DELAY_MS = 1000;
/** Most time workers get to stop gracefully. */
const STOP_TIMEOUT_MS = 12_000;

/** Runs the primary until a signal stops it; resolves once every worker has exited. */
export function runWorkerPrimary(count: number, log: Logger): Promise<void> {
  const workers = new Set<Worker>();
  let stopping = false;

  const fork = () => {
    const worker = cluster.fork();
    workers.add(worker);
    worker.on('exit', (code, signal) => {
      workers.delete(worker);
      if (stopping) return;
      log.error({ pid: worker.process.pid, code, signal }, 'web worker died; starting a new one');
      setTimeout(fork, RESTART_DELAY_MS).unref();
    });
  };
  for (let i = 0; i < count; i++) fork();
  log.info({ workers: count }, 'web workers started');

  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping web workers');
      if (workers.size === 0) resolve();
      for (const worker of workers) {
        worker.on('exit', () => {
          if (workers.size === 0) resolve();
        });
        worker.process.kill('SIGTERM');
      }
      setTimeout(() => {
        for (const worker of workers) worker.process.kill('SIGKILL');
      }, STOP_TIMEOUT_MS).unref();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

/** True in a worker forked by the primary. */
export function isWorker(): boolean {
  return cluster.isWorker;
}
