/**
 * One SSE stream of the soak, read with plain node:http: for every relayed
 * event it hands on the event id and the body's `soak_seq` (found by a regex,
 * no JSON parse), and it counts the control events (gap, shutdown) that mean
 * a client lost something or was sent away. Unlike bench/lib/sse-counter.ts
 * (which counts frames for throughput) it keeps which message each event was.
 */
import http from 'node:http';

const HEADERS_TIMEOUT_MS = 30_000;
const SEQ = /"soak_seq":(\d+)/;

/** What a stream saw besides relayed events. */
export interface StreamStats {
  gaps: number;
  shutdowns: number;
}

/** An open stream. */
export interface SoakStream {
  /** Id of the last relayed event received ('' before the first). */
  readonly lastId: string;
  readonly stats: StreamStats;
  /** True until the response ends or close() is called. */
  readonly open: boolean;
  close(): void;
}

/**
 * Opens `url` (with Token auth and an optional Last-Event-ID) and resolves once the relay's `connected`
 * event has arrived; rejects with the status or socket error otherwise. `onEvent` gets each relayed event.
 */
export function openSoakStream(url: string, token: string, lastEventId: string, onEvent: (seq: number, id: string) => void): Promise<SoakStream> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'text/event-stream', authorization: `Token ${token}` };
    if (lastEventId) headers['last-event-id'] = lastEventId;
    const req = http.get(url, { agent: false, headers });
    const timer = setTimeout(() => req.destroy(new Error('no connected event in time')), HEADERS_TIMEOUT_MS);
    let settled = false;
    let open = true;
    let lastId = lastEventId;
    let carry = '';
    const stats: StreamStats = { gaps: 0, shutdowns: 0 };
    const stream: SoakStream = {
      get lastId() {
        return lastId;
      },
      stats,
      get open() {
        return open;
      },
      close() {
        open = false;
        req.destroy();
      },
    };
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(stream);
    };
    const frame = (text: string) => {
      let event = 'message';
      let id = '';
      let data = '';
      for (const line of text.split('\n')) {
        if (line.startsWith('data: ')) data = line.slice(6);
        else if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('id: ')) id = line.slice(4);
      }
      if (event === 'connected') settle(null);
      else if (event === 'gap') stats.gaps++;
      else if (event === 'shutdown') stats.shutdowns++;
      else if (event !== 'heartbeat' && data) {
        const m = SEQ.exec(data);
        if (id) lastId = id;
        if (m) onEvent(Number(m[1]), id);
      }
    };
    req.on('error', (err) => {
      open = false;
      settle(err);
    });
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        req.destroy();
        settle(new Error(`HTTP ${res.statusCode}`));
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const frames = (carry + chunk).split('\n\n');
        carry = frames.pop()!;
        for (const f of frames) frame(f);
      });
      res.on('close', () => {
        open = false;
        settle(new Error('stream ended before the connected event'));
      });
    });
  });
}
