/** Progress of a long `send` on a terminal: one line on stderr, rewritten in place, shown once a run lasts over a second. */
import type { SendPipeline } from './pipeline.js';

/** A running progress line; stop() erases it. */
export interface Progress {
  stop(): void;
}

const REFRESH_MS = 250;
const SHOW_AFTER_MS = 1000;

/** Starts refreshing a progress line for `pipeline` on stderr (meant for a terminal); `total` when known. */
export function startProgress(pipeline: SendPipeline, total: number | undefined): Progress {
  const started = Date.now();
  let shown = false;
  const timer = setInterval(() => {
    const elapsed = Date.now() - started;
    if (elapsed < SHOW_AFTER_MS) return;
    const c = pipeline.totals;
    const rate = Math.round((c.confirmed * 1000) / elapsed);
    const of = total === undefined ? '' : `/${total}`;
    process.stderr.write(`\r\x1b[Ksending: ${c.sent}${of} sent, ${c.confirmed} confirmed${c.failed ? `, ${c.failed} failed` : ''}${c.refused ? `, ${c.refused} refused` : ''} (${rate}/s)`);
    shown = true;
  }, REFRESH_MS);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}
