// Raw Server-Sent Events client over node:http, for asserting exactly what a server sent.
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { StringDecoder } from 'node:string_decoder';

const HEADERS_TIMEOUT_MS = 10_000;

/** One dispatched SSE event; `id`/`retry` are the fields sent in this event's own block, `lastEventId` is the spec's running value. */
export type SseEvent = { id?: string; lastEventId: string; event: string; data: string; retry?: number };

/** An open HTTP response read as an event stream. */
export type SseStream = {
  status: number;
  headers: IncomingHttpHeaders;
  /** All bytes received so far, decoded as UTF-8. */
  raw(): string;
  /** Events dispatched so far (complete blocks only). */
  events(): SseEvent[];
  /** Resolves with the events once `pred` holds; rejects (with the raw text) on timeout (default 10 s) or end of stream. */
  waitFor(pred: (events: SseEvent[]) => boolean, timeoutMs?: number): Promise<SseEvent[]>;
  /** Resolves with the whole body once the response ends (meant for non-200 responses). */
  body(): Promise<string>;
  /** Aborts the request. */
  close(): void;
  /** Stops reading from the socket (lets TCP back-pressure build up on the server). */
  pause(): void;
  /** Resumes reading. */
  resume(): void;
};

/** Parses an event stream per the HTML spec (BOM, CRLF/LF/CR, comments, single leading space, data joined by \n); an unterminated last block is not dispatched. */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  lines.pop(); // the part after the last line terminator is not a complete line yet
  let data: string[] = [];
  let event = '';
  let id: string | undefined;
  let retry: number | undefined;
  let lastEventId = '';
  for (const line of lines) {
    if (line === '') {
      // A block without data lines dispatches nothing (its id still updates lastEventId).
      if (data.length > 0) {
        events.push({
          ...(id !== undefined && { id }),
          lastEventId,
          event: event || 'message',
          data: data.join('\n'),
          ...(retry !== undefined && { retry }),
        });
      }
      data = [];
      event = '';
      id = undefined;
      retry = undefined;
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id' && !value.includes('\0')) id = lastEventId = value;
    else if (field === 'retry' && /^[0-9]+$/.test(value)) retry = Number(value);
  }
  return events;
}

/** GETs `url` (Accept: text/event-stream plus `headers`) and resolves as soon as the response headers arrive, whatever the status. */
export function openStream(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = (target.protocol === 'https:' ? https : http).request(target, {
      agent: false,
      headers: { accept: 'text/event-stream', ...headers },
    });
    const timer = setTimeout(() => req.destroy(new Error(`no response headers from ${url} within ${HEADERS_TIMEOUT_MS} ms`)), HEADERS_TIMEOUT_MS);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err); // no-op once resolved
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      const decoder = new StringDecoder('utf8');
      let text = '';
      let ended = false;
      const listeners = new Set<() => void>();
      const notify = () => [...listeners].forEach((listener) => listener());
      const end = () => {
        if (ended) return;
        ended = true;
        text += decoder.end();
        notify();
      };
      res.on('data', (chunk: Buffer) => {
        text += decoder.write(chunk);
        notify();
      });
      res.on('end', end);
      res.on('close', end);
      res.on('error', end); // e.g. "aborted" after close()

      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        raw: () => text,
        events: () => parseSse(text),
        waitFor(pred, timeoutMs = 10_000) {
          return new Promise((done, fail) => {
            const finish = (err?: Error) => {
              clearTimeout(timeout);
              listeners.delete(check);
              if (err) fail(err);
            };
            const check = () => {
              try {
                const events = parseSse(text);
                if (pred(events)) {
                  finish();
                  done(events);
                  return;
                }
              } catch (err) {
                finish(err as Error);
                return;
              }
              if (ended) finish(new Error(`SSE stream ${url} ended before the condition held; received:\n${text}`));
            };
            const timeout = setTimeout(
              () => finish(new Error(`timed out after ${timeoutMs} ms waiting for SSE events from ${url}; received:\n${text}`)),
              timeoutMs,
            );
            listeners.add(check);
            check();
          });
        },
        body() {
          return new Promise((done) => {
            const check = () => {
              if (!ended) return;
              listeners.delete(check);
              done(text);
            };
            listeners.add(check);
            check();
          });
        },
        close: () => req.destroy(),
        pause: () => void res.pause(),
        resume: () => void res.resume(),
      });
    });
    req.end();
  });
}
