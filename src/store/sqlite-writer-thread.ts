/**
 * The SQLite writer thread: owns the ingestion connection, so a commit (and its
 * fsync under synchronous=FULL) never holds up the relay's event loop — fanout,
 * heartbeats, HTTP answers and replay go on while the disk works. Receives
 * batches from SqliteThreadedWriter and answers each with its ids or an error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteConnection } from './sqlite-connection.js';
import { SqliteBatchWriter } from './sqlite-batch-writer.js';
import type { WriterReply, WriterRequest } from './sqlite-threaded-writer.js';
import { StaleWriterError } from './store.js';

const { path } = workerData as { path: string };
const port = parentPort!;
let writer: SqliteBatchWriter | undefined;

port.on('message', (request: WriterRequest) => {
  let reply: WriterReply;
  try {
    // Opened on the first batch: the main connection has migrated by then.
    writer ??= new SqliteBatchWriter(openSqliteConnection(path));
    reply = { seq: request.seq, ids: writer.commit(request.batch) };
  } catch (err) {
    // Errors cross the thread as text; fencing's is marked, so the ingestor can tell it apart.
    const staleEpoch = err instanceof StaleWriterError ? { staleEpoch: err.epoch } : {};
    reply = { seq: request.seq, error: err instanceof Error ? err.message : String(err), ...staleEpoch };
  }
  port.postMessage(reply);
});
