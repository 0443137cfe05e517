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

/** The request URL without its query string value of `token` (tokens may ride there when allowed). */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:token|key)=)[^&]*/gi, '$1[redacted]');
}
