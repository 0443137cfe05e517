/**
 * Store commit: runs bench/store-commit.ts (the ingestion commit alone, batches
 * of 10, 100 and 500 ~1 KB messages, 100 run_ids or 1; 20,000 messages per case,
 * --quick 5,000) on a fresh SQLite file
 * and a fresh PostgreSQL database, each as its own process, and tables its JSON
 * lines: what the durable commit costs before anything else the relay does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from '../../test/helpers/postgres.js';
import type { BenchContext } from '../lib/context.js';
import { runJsonLines } from '../lib/json-lines.js';
import { waitQuiet } from '../lib/quiet.js';

const SCRIPT = fileURLToPath(new URL('../store-commit.ts', import.meta.url));

interface CommitLine {
  store: string;
  run_ids: number;
  batch: number;
  commits: number;
  ms_per_commit: number;
  msg_per_s: number;
  cpu_us_per_msg: number;
}

async function runScript(target: string, messagesPerCase: number): Promise<CommitLine[]> {
  return (await runJsonLines<CommitLine>(SCRIPT, [target, String(messagesPerCase)])).lines;
}

export async function storeCommit(ctx: BenchContext): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'swf-relay-bench-commit-'));
  const database = await createTestDatabase();
  try {
    await waitQuiet(ctx);
    const perCase = ctx.quick ? 5_000 : 20_000;
    const lines = [...(await runScript(`sqlite:${path.join(dir, 'relay.db')}`, perCase)), ...(await runScript(database.url, perCase))];
    for (const r of lines) {
      ctx.add({
        scenario: 'store commit',
        store: r.store,
        perSecond: r.msg_per_s,
        notes: [
          `batches of ${r.batch}, ${r.run_ids} run_id${r.run_ids === 1 ? '' : 's'}: ${r.ms_per_commit} ms per commit, ${r.cpu_us_per_msg} µs CPU per message ` +
            `(${r.store === 'sqlite' ? 'the whole process, its writer thread included' : "the whole process; PostgreSQL's own CPU not included"}), ${r.commits} commits back to back (bench/store-commit.ts)`,
        ],
        extra: { ...r },
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await database.drop().catch(() => {});
  }
}
