/**
 * Load client (a child process of bench/run.ts, driven over IPC): opens SSE
 * streams with plain node:http and counts what arrives with SseCounter (no
 * string decoding, no JSON): events, control events, and publish → receipt
 * latencies, reported to the parent on request.
 */
import http from 'node:http';
import { nowMs } from './lib/histogram.js';
import { serveRequests, type LoadReport, type LoadRequest, type OpenRequest, type OpenResult } from './lib/protocol.js';
import { SseCounter, type StreamCount } from './lib/sse-counter.js';

const HEADERS_TIMEOUT_MS = 30_000;

/** One open stream. */
interface Stream extends StreamCount {
  req: http.ClientRequest;
  open: boolean;
}

const streams: Stream[] = [];
const counter = new SseCounter();
let closed = 0;
let errors: Record<string, number> = {};

function countError(what: string): void {
  errors[what] = (errors[what] ?? 0) + 1;
}

/** Opens one stream; resolves with null once it is open (200), else with what went wrong. */
function openOne(base: URL, path: string, headers: Record<string, string>): Promise<string | null> {
  return new Promise((resolve) => {
    const req = http.request({ host: base.hostname, port: base.port, path, agent: false, headers: { accept: 'text/event-stream', ...headers } });
    const timer = setTimeout(() => req.destroy(new Error('no response headers in time')), HEADERS_TIMEOUT_MS);
    let settled = false;
    const settle = (outcome: string | null) => {
      clearTimeout(timer);
      if (!settled) resolve(outcome);
      settled = true;
    };
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) countError(err.code ?? err.message);
      settle(err.code ?? err.message);
    });
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        req.destroy();
        settle(`HTTP ${res.statusCode}`);
        return;
      }
      const stream: Stream = { req, carry: null, events: 0, open: true };
      streams.push(stream);
      // One receipt time per chunk: every frame in it arrived together.
      res.on('data', (chunk: Buffer) => counter.onData(stream, chunk, nowMs()));
      res.on('close', () => {
        if (!stream.open) return;
        stream.open = false;
        closed++;
      });
      settle(null);
    });
    req.end();
  });
}

async function open(request: OpenRequest): Promise<OpenResult> {
  const base = new URL(request.url);
  // No token (nchan): no Authorization header.
  const headers = { ...(request.token ? { authorization: `Token ${request.token}` } : {}), ...request.headers };
  const failures: Record<string, number> = {};
  let opened = 0;
  let next = 0;
  const startedAt = nowMs();
  const worker = async () => {
    while (next < request.paths.length) {
      const outcome = await openOne(base, request.paths[next++]!, headers);
      if (outcome === null) opened++;
      else failures[outcome] = (failures[outcome] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(request.concurrency, request.paths.length) }, worker));
  return { opened, failures, seconds: (nowMs() - startedAt) / 1000, startedAt };
}

function report(): LoadReport {
  let min = Infinity;
  let max = 0;
  let openCount = 0;
  for (const s of streams) {
    if (!s.open) continue;
    openCount++;
    if (s.events < min) min = s.events;
    if (s.events > max) max = s.events;
  }
  const { events, heartbeats, gaps, gapDropped, shutdowns, bytes, firstAt, lastAt } = counter;
  return {
    open: openCount,
    closed,
    events,
    minPerStream: openCount ? min : 0,
    maxPerStream: max,
    heartbeats,
    gaps,
    gapDropped,
    shutdowns,
    bytes,
    firstAt,
    lastAt,
    latency: counter.latency.toData(),
    slotMax: [...counter.slotMax],
    slowToRelay: counter.slowToRelay.toData(),
    slowFromRelay: counter.slowFromRelay.toData(),
    errors,
  };
}

async function handle(request: LoadRequest): Promise<Record<string, unknown>> {
  switch (request.type) {
    case 'open':
      return { ...(await open(request)) };
    case 'reset':
      counter.reset();
      closed = 0;
      errors = {};
      for (const s of streams) s.events = 0;
      return {};
    case 'report':
      return { ...report() };
    case 'close':
      for (const s of streams) {
        s.open = false;
        s.req.destroy();
      }
      setTimeout(() => process.exit(0), 50);
      return {};
  }
}

serveRequests(handle);
