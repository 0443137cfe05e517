// The ingestion commit alone: the relay's store (SQLite through its writer thread, or PostgreSQL)
// committing batches of ~1 KB workflow messages back to back, as the ingestor does, with nothing
// else in the process. Per batch size and run_id spread: ms per commit, msg/s, and the process's
// CPU (every thread) per message. Each case runs once unmeasured first (V8 warm-up).
// Loopback only, bounded: 20,000 messages per case unless told fewer.
// Usage: node --import tsx bench/store-commit.ts <sqlite:<file>|postgres://…> [messages per case]   (prints JSON lines)
import { openStore } from '../src/store/index.js';
import type { NewWorkflowMessage } from '../src/store/store.js';

const TARGET = process.argv[2];
if (!TARGET) {
  console.error('usage: bench/store-commit.ts <sqlite:<file>|postgres://…>');
  process.exit(2);
}
const MESSAGES_PER_CASE = Number(process.argv[3] ?? 20_000);
const BATCHES = [10, 100, 500];
/** 100 run_ids as the live bench steps publish; 1 as a testbed run does. */
const RUN_ID_SPREADS = [100, 1];
const pad = 'x'.repeat(900);
let seq = 0;

/** One message as the ingestor hands it to the store (ActiveMQ-style message id). */
function message(runIds: number): NewWorkflowMessage {
  const n = seq++;
  const runId = `r${n % runIds}`;
  return {
    brokerMessageId: `ID:bench-host-40000-1700000000000-1:1:1:1:${n}`,
    fields: { msgType: 'bench_commit', runId, executionId: null, filename: null, senderAgent: 'bench-publisher', recipientAgent: null, namespace: 'bench', processedBy: null },
    queueName: '/topic/bench',
    sentAt: new Date().toISOString(),
    content: JSON.stringify({ t: Date.now(), msg_type: 'bench_commit', run_id: runId, namespace: 'bench', sender: 'bench-publisher', seq: n, pad }),
    metadata: '{"destination":"/topic/bench","message-id":"x","persistent":"true"}',
  };
}

const store = await openStore(TARGET.startsWith('sqlite:') ? { kind: 'sqlite', path: TARGET.slice('sqlite:'.length) } : { kind: 'postgres', url: TARGET });
try {
  await store.migrate();
  for (const runIds of RUN_ID_SPREADS) {
    for (const batch of BATCHES) {
      const commits = Math.round(MESSAGES_PER_CASE / batch);
      const run = async () => {
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        for (let i = 0; i < commits; i++) {
          await store.commitBatch({ messages: Array.from({ length: batch }, () => message(runIds)), heartbeats: [], rejected: [] });
        }
        const cpu = process.cpuUsage(cpu0);
        return { ms: performance.now() - t0, cpuUs: cpu.user + cpu.system };
      };
      await run(); // warm-up
      const { ms, cpuUs } = await run();
      const messages = commits * batch;
      console.log(
        JSON.stringify({
          store: TARGET.startsWith('sqlite:') ? 'sqlite' : 'postgres',
          run_ids: runIds,
          batch,
          commits,
          ms_per_commit: +(ms / commits).toFixed(2),
          msg_per_s: Math.round((messages / ms) * 1000),
          cpu_us_per_msg: +(cpuUs / messages).toFixed(1),
        }),
      );
    }
  }
} finally {
  await store.close();
}
