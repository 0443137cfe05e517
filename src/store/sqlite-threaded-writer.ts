/**
 * SqliteThreadedWriter: the main thread's side of the writer thread
 * (sqlite-writer-thread.ts). Batches go over postMessage in order and their
 * answers come back in the same order; the caller (the one ingestor) awaits
 * each. If the thread dies, what it had not answered fails as of unknown
 * outcome (StoreUnreachableError: it may have committed before dying; the
 * ingestor retries, nothing was acknowledged) and the next batch starts a new thread.
 */
import { Worker } from 'node:worker_threads';
import { StaleWriterError, StoreUnreachableError, type IngestBatch } from './store.js';

/** A batch sent to the writer thread. */
export interface WriterRequest {
  readonly seq: number;
  readonly batch: IngestBatch;
}

/** The writer thread's answer to one request. */
export type WriterReply =
  | { readonly seq: number; readonly ids: (string | null)[] }
  | { readonly seq: number; readonly error: string; /** Set when the error was a StaleWriterError of this epoch. */ readonly staleEpoch?: number };

interface Pending {
  resolve(ids: (string | null)[]): void;
  reject(err: Error): void;
}

/** Built, the thread runs the .js beside this file. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
/**
 * Run from source under tsx (tests, bench), a worker does not get tsx's loader from `--import`:
 * a small bootstrap registers it in the thread, then loads the .ts.
 */
function threadEntry(): { entry: URL | string; eval: boolean } {
  if (!FROM_SOURCE) return { entry: new URL('./sqlite-writer-thread.js', import.meta.url), eval: false };
  const tsx = import.meta.resolve('tsx/esm/api');
  const thread = new URL('./sqlite-writer-thread.ts', import.meta.url).href;
  return { entry: `import(${JSON.stringify(tsx)}).then((m) => m.register()).then(() => import(${JSON.stringify(thread)}))`, eval: true };
}
const THREAD = threadEntry();

/** Commits ingestion batches on the SQLite file at `path` in a thread of its own. */
export class SqliteThreadedWriter {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private closed = false;
  /** The newest batch's answer (replies come in order: when it settles, all have). */
  private last: Promise<unknown> = Promise.resolve();

  constructor(private readonly path: string) {}

  /** Writes one batch in one transaction; the ids of the messages (null for duplicates), in order. */
  commit(batch: IngestBatch): Promise<(string | null)[]> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    const worker = this.ensureWorker();
    const seq = ++this.seq;
    const answer = new Promise<(string | null)[]>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      worker.ref(); // an answer is awaited: keep the process alive for it
      worker.postMessage({ seq, batch } satisfies WriterRequest);
    });
    this.last = answer.catch(() => {});
    return answer;
  }

  /** Ends the thread once it has answered what it was sent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.last;
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(THREAD.entry, { eval: THREAD.eval, workerData: { path: this.path } });
    worker.on('message', (reply: WriterReply) => {
      const waiting = this.pending.get(reply.seq);
      if (!waiting) return;
      this.pending.delete(reply.seq);
      if (this.pending.size === 0) worker.unref(); // idle: never what keeps the process running
      if ('error' in reply) waiting.reject(reply.staleEpoch !== undefined ? new StaleWriterError(reply.staleEpoch) : new Error(reply.error));
      else waiting.resolve(reply.ids);
    });
    const fail = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const unanswered = new StoreUnreachableError(err);
      for (const waiting of this.pending.values()) waiting.reject(unanswered);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(err));
    worker.on('exit', (code) => fail(new Error(`the SQLite writer thread exited (code ${code})`)));
    worker.unref();
    this.worker = worker;
    return worker;
  }
}
