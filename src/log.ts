/** Structured JSON logs on stdout (pino). Secrets are redacted by path. */
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

/** Paths whose values never reach a log line. */
const REDACT = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.passcode', 'headers.cookie', 'password', 'passcode', 'key', 'token'];

/** A JSON logger at `level` writing to stdout (or `destination`). */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[redacted]' },
      // Request lines: method, URL as received (BASE_PATH included) without token values, and who asked. Never headers.
      serializers: {
        req: (req: { method?: string; url?: string; originalUrl?: string; ip?: string; socket?: { remoteAddress?: string } }) => ({
          method: req.method,
          url: redactUrl(req.originalUrl ?? req.url ?? ''),
          remoteAddress: req.ip ?? req.socket?.remoteAddress,
        }),
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** Query parameters whose values are secrets, by their decoded name (`tok%65n` is `token`). */
const SECRET_PARAMS = /^(?:token|key|access_token|api_key|apikey|password|passwd|secret|sessionid|swf_relay_session)$/i;

/**
 * The request URL with the values of secret query parameters replaced by `[redacted]` (tokens may
 * ride there when allowed). Names are compared decoded, as the query parser reads them; a pair
 * whose name cannot be decoded is redacted whole, since it could spell a secret's name.
 */
export function redactUrl(url: string): string {
  const start = url.indexOf('?');
  if (start < 0) return url;
  const pairs = url.slice(start + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    let name: string;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      return '[redacted]';
    }
    return eq >= 0 && SECRET_PARAMS.test(name.trim()) ? `${rawName}=[redacted]` : pair;
  });
  return `${url.slice(0, start + 1)}${pairs.join('&')}`;
}
