/**
 * The bench publisher's HTTP mode (for nchan): POSTs over keep-alive
 * connections kept for the whole run, so the measured steps pay no TCP
 * handshakes. node:http does not pipeline: one connection waits for each
 * response before the next request, and a publish that nchan answers only
 * after writing it to 1,000 streams would then hold up the next one; a few
 * connections keep the token bucket's pace at 1,000 msg/s.
 */
import http from 'node:http';

/** Connections per publish URL. */
const CONNECTIONS = 4;

/** A keep-alive POSTer to one URL. */
export class HttpProducer {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS, maxFreeSockets: CONNECTIONS, keepAliveMsecs: 10_000 });
  private readonly target: URL;

  constructor(url: string) {
    this.target = new URL(url);
  }

  /** POSTs `body`; resolves with null on a 2xx answer, else with what went wrong (never rejects). */
  post(body: string): Promise<string | null> {
    return new Promise((resolve) => {
      const req = http.request(
        {
          host: this.target.hostname,
          port: this.target.port,
          path: this.target.pathname,
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          // The answer (nchan's channel info) must be read for the connection to be reused.
          res.resume();
          res.on('end', () => resolve(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300 ? null : `HTTP ${res.statusCode}`));
          res.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
        },
      );
      // Small paced requests must leave at once (see stomp-producer.ts on Nagle's algorithm).
      req.on('socket', (socket) => socket.setNoDelay(true));
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
