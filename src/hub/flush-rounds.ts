/**
 * Flush rounds: every client with frames waiting is written once per round; a
 * round yields to the event loop every couple of milliseconds, and rounds that
 * write to many clients are spaced out.
 *
 * Each client collects the frames of its events (SseClient.coalesce) and asks
 * for a flush here. At low load a round starts at the end of the current turn
 * (process.nextTick), so a batch leaves in the turn it arrived in. A long round
 * (a thousand sockets, each a `writev`) goes on in slices of FLUSH_SLICE_MS with
 * setImmediate in between, so timers, the broker socket and HTTP requests run
 * between slices instead of waiting for the whole round (the event-loop delay
 * during a 1,000-client fanout fell from ~100 ms to ~20 ms). A client that gets
 * events while its round goes on is written in the next round, which starts
 * ROUND_GAP_PER_CLIENT_MS per client written after this one started: under
 * load each write carries everything that arrived meanwhile (like group
 * commit), so the cost per event falls as the load rises, while a quiet
 * process, or one with few clients, pays no delay.
 */

/** What a round flushes: a client with frames waiting. */
export interface Flushable {
  /** Writes the frames collected since its last flush (nothing when it has none or is closed). */
  flushPending(): void;
}

/** Wall time a slice may take before it yields to the event loop, ms. */
export const FLUSH_SLICE_MS = 2;
/**
 * Least time from the start of a round to the start of the next, per client the round wrote, ms:
 * back-to-back rounds make at most ~20,000 socket writes a second (1,000 busy streams are written
 * every 50 ms at most, 20 every 1 ms), up to ROUND_GAP_MAX_MS.
 */
export const ROUND_GAP_PER_CLIENT_MS = 0.05;
/** The longest wait between rounds, ms, however many clients: latency before write economy. */
export const ROUND_GAP_MAX_MS = 100;

/** Clients of the round being written, in the order they asked (a Set keeps insertion order). */
let current = new Set<Flushable>();
/** Clients that asked while a round was going on or waiting: the next round. */
let next = new Set<Flushable>();
/** True from the moment a round is scheduled until the last round has ended with nothing more to write. */
let active = false;
/** True once the current round has begun writing: from then on, clients that ask join the next one. */
let writing = false;
let roundStartedAt = 0;
let roundWritten = 0;

/** Asks for `client` to be flushed in the coming round. */
export function requestFlush(client: Flushable): void {
  if (writing) {
    if (!current.has(client)) next.add(client);
    return;
  }
  current.add(client);
  if (active) return;
  active = true;
  process.nextTick(runSlice);
}

function runSlice(): void {
  if (!writing) {
    writing = true;
    roundStartedAt = performance.now();
    roundWritten = 0;
  }
  const deadline = performance.now() + FLUSH_SLICE_MS;
  let flushed = 0;
  try {
    for (const client of current) {
      current.delete(client);
      client.flushPending();
      // The clock is read every 16 clients: a write costs microseconds, a clock read is not free.
      if ((++flushed & 15) === 0 && performance.now() >= deadline) break;
    }
  } finally {
    // Even if a flush threw, the clients after it still get theirs.
    roundWritten += flushed;
    scheduleNext();
  }
}

function scheduleNext(): void {
  if (current.size > 0) {
    setImmediate(runSlice);
    return;
  }
  writing = false;
  if (next.size === 0) {
    active = false;
    return;
  }
  [current, next] = [next, current];
  const wait = roundStartedAt + Math.min(roundWritten * ROUND_GAP_PER_CLIENT_MS, ROUND_GAP_MAX_MS) - performance.now();
  if (wait >= 1) setTimeout(runSlice, wait);
  else setImmediate(runSlice);
}
