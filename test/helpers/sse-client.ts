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
      // Everything received, as decoded pieces (joined on demand by raw()).
      const pieces: string[] = [];
      const rawText = () => {
        if (pieces.length > 1) pieces.splice(0, pieces.length, pieces.join(''));
        return pieces[0] ?? '';
      };
      // Parsed incrementally, complete frames only, from the unparsed tail alone:
      // long streams stay linear in time, and parsed strings never pin the whole text.
      const parsed: SseEvent[] = [];
      let unparsed = '';
      const parseNew = () => {
        // End of the last complete frame: after its blank line (LF, CRLF or CR endings); 0 when none is complete.
        const ends = [
          [unparsed.lastIndexOf('\n\n'), 2],
          [unparsed.lastIndexOf('\r\n\r\n'), 4],
          [unparsed.lastIndexOf('\r\r'), 2],
        ].map(([at, length]) => (at! < 0 ? 0 : at! + length!));
        const cut = Math.max(...ends);
        if (cut === 0) return;
        const lastId = parsed.at(-1)?.lastEventId ?? '';
        for (const event of parseSse(unparsed.slice(0, cut))) {
          parsed.push(event.id === undefined && lastId !== '' && event.lastEventId === '' ? { ...event, lastEventId: lastId } : event);
        }
        unparsed = unparsed.slice(cut);
      };
      let ended = false;
      const listeners = new Set<() => void>();
      const notify = () => [...listeners].forEach((listener) => listener());
      const end = () => {
        if (ended) return;
        ended = true;
        const tail = decoder.end();
        pieces.push(tail);
        unparsed += tail;
        notify();
      };
      res.on('data', (chunk: Buffer) => {
        const piece = decoder.write(chunk);
        pieces.push(piece);
        unparsed += piece;
        notify();
      });
      res.on('end', end);
      res.on('close', end);
      res.on('error', end); // e.g. "aborted" after close()

      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        raw: rawText,
        events: () => (parseNew(), [...parsed]),
        waitFor(pred, timeoutMs = 10_000) {
          return new Promise((done, fail) => {
            const finish = (err?: Error) => {
              clearTimeout(timeout);
              listeners.delete(check);
              if (err) fail(err);
            };
            const check = () => {
              try {
                parseNew();
                const events = parsed;
                if (pred(events)) {
                  finish();
                  done(events);
                  return;
                }
              } catch (err) {
                finish(err as Error);
                return;
              }
              if (ended) finish(new Error(`SSE stream ${url} ended before the condition held; received (last 3000 characters):\n${rawText().slice(-3000)}`));
            };
            const timeout = setTimeout(
              () => finish(new Error(`timed out after ${timeoutMs} ms waiting for SSE events from ${url}; received (last 3000 characters):\n${rawText().slice(-3000)}`)),
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
              done(rawText());
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
