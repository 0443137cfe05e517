/**
 * Configuration: environment variables (and a `.env` file) → one frozen, typed
 * Config. Only this module and cli.ts read process.env.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseEnv } from 'node:util';
import { z } from 'zod';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Where messages are stored. */
export type DatabaseConfig = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/** swf-monitor's own database, read for its users' credentials (DJANGO_DATABASE_URL). */
export interface DjangoConfig {
  readonly database: DatabaseConfig;
  /** Name of Django's session cookie (SESSION_COOKIE_NAME there); default `sessionid`. */
  readonly sessionCookie: string;
}

/** How the listener reaches ActiveMQ. */
export interface BrokerConfig {
  readonly host: string;
  readonly port: number;
  readonly user: string | undefined;
  readonly password: string | undefined;
  readonly useSsl: boolean;
  readonly caCertsFile: string | undefined;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  /** Full STOMP destination, e.g. `/topic/epictopic`. */
  readonly destination: string;
  /** Durable subscription name; empty string = non-durable. */
  readonly subscriptionName: string;
  readonly clientId: string;
  /** STOMP heart-beat interval in ms, both directions; 0 disables. */
  readonly heartbeatMs: number;
  /** Cap of the exponential reconnect backoff, ms. */
  readonly reconnectMaxMs: number;
  /** Messages the broker may send before we acknowledge (ActiveMQ prefetch). */
  readonly prefetch: number;
  /** STOMP ack mode: one ACK per message, or one cumulative ACK per committed batch (ACTIVEMQ_ACK_MODE). */
  readonly ackMode: 'client-individual' | 'client';
}

/** Stream behaviour (SPEC §3, §5). */
export interface SseConfig {
  /** Seconds between `heartbeat` events; 0 disables heartbeats. */
  readonly heartbeatSeconds: number;
  readonly clientQueueSize: number;
  /** Most bytes of events queued per slow client (SSE_CLIENT_QUEUE_BYTES); also bounds live events held during a replay. */
  readonly clientQueueBytes: number;
  readonly replayMax: number;
  readonly maxClients: number;
  readonly maxStreamsPerUser: number;
  readonly allowQueryToken: boolean;
  /** Stream connections one address may open per minute (bursts up to that many); 0 disables. */
  readonly connectsPerMinute: number;
}

/** The whole validated configuration. */
export interface Config {
  readonly database: DatabaseConfig;
  readonly redisUrl: string | undefined;
  readonly channelGroup: string;
  readonly broker: BrokerConfig;
  readonly http: { readonly host: string; readonly port: number };
  /** URL path prefix every route is also served under (`/swf-monitor`); '' = the root only. */
  readonly basePath: string;
  readonly sse: SseConfig;
  readonly corsAllowedOrigins: readonly string[];
  readonly trustedProxies: readonly string[];
  /** Header naming the user, believed only from TRUSTED_PROXIES (TRUSTED_PROXY_USER_HEADER); undefined = never read. */
  readonly trustedProxyUserHeader: string | undefined;
  /** Secure session cookies: forced on/off, or undefined = when the request came over HTTPS. */
  readonly sessionSecureCookie: boolean | undefined;
  readonly sessionTtlMs: number;
  /** HTTPS (with HTTP/2) served by the relay itself, when both files are set. */
  readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined;
  /** Largest accepted message body in bytes; larger ones are rejected. */
  readonly messageMaxBytes: number;
  /** Least time between the starts of two ingestion commits, ms (INGEST_COMMIT_INTERVAL_MS, default 10; 0 = back to back). */
  readonly ingestCommitIntervalMs: number;
  /** Days messages and rejected bodies are kept; undefined keeps them forever. */
  readonly retentionDays: number | undefined;
  /** Days a closed connection's subscriber row is kept (SUBSCRIBERS_RETENTION_DAYS, default 30). */
  readonly subscribersRetentionDays: number;
  readonly logLevel: LogLevel;
  /** Also accept swf-monitor's DRF tokens and Django sessions; undefined = only the relay's own. */
  readonly django: DjangoConfig | undefined;
}

/** Thrown when configuration is invalid; `problems` holds one line per bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Default of SSE_CLIENT_QUEUE_BYTES (8 MiB), also SseClient's when none is given. */
export const DEFAULT_CLIENT_QUEUE_BYTES = 8 * 1024 * 1024;

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off', ''].includes(v), 'must be true or false')
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `must be an integer between ${min} and ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be an integer between ${min} and ${max}`);

/** Seconds for a periodic timer: 0 (off), or from half a second to a day (shorter would flood clients; longer, timers cannot hold). */
const periodSeconds = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?$/, 'must be 0 (off) or a number of seconds from 0.5 to 86400')
  .transform(Number)
  .refine((n) => n === 0 || (n >= 0.5 && n <= 86_400), 'must be 0 (off) or a number of seconds from 0.5 to 86400');

/** A host name or an IP address to listen on. */
const listenHost = z
  .string()
  .trim()
  .refine((v) => isIP(v) !== 0 || HOSTNAME.test(v), 'must be an IP address or a host name');
const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/** A comma list of IP addresses and CIDR ranges (`10.0.0.0/8`, `::1`). */
const addressList = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s !== ''))
  .superRefine((entries, ctx) => {
    for (const entry of entries) if (!isAddressOrCidr(entry)) ctx.addIssue({ code: 'custom', message: `"${entry}" is not an IP address or CIDR range` });
  });

/** True for `a.b.c.d`, an IPv6 address, or either with a `/prefix` in range. */
export function isAddressOrCidr(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
);

const databaseUrl = z
  .string()
  .trim()
  .transform((v, ctx): DatabaseConfig => {
    if (/^postgres(ql)?:\/\//.test(v)) return { kind: 'postgres', url: v };
    if (v.startsWith('sqlite:')) {
      const path = v.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
      if (path !== '') return { kind: 'sqlite', path };
    }
    ctx.addIssue({ code: 'custom', message: 'must be postgres://… or sqlite:<path>' });
    return z.NEVER;
  });

/** A cookie name as RFC 6265 allows it (an HTTP token). */
const cookieName = z
  .string()
  .trim()
  .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$/, 'must be a cookie name (letters, digits and !#$%&\'*+-.^_`|~)');

const optionalFile = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .refine((v) => v === undefined || existsSync(v), 'file does not exist');

const nonEmpty = z.string().trim().min(1, 'must not be empty');

/** What is wrong with a BASE_PATH value (the first rule it breaks), or null. */
function basePathProblem(v: string): string | null {
  if (!v.startsWith('/')) return 'must start with / (e.g. /swf-monitor)';
  if (v.endsWith('/')) return 'must not end with / (write /swf-monitor; leave it unset to serve at the root only)';
  if (v.includes('//')) return 'must not contain //';
  if (v.includes('..') || v.split('/').includes('.')) return 'must not contain .. or a . segment';
  // Unreserved URL characters only: the prefix is compared with the raw request path, never decoded.
  if (!/^[A-Za-z0-9/._~-]+$/.test(v)) return 'may only contain letters, digits, / and . _ ~ -';
  return null;
}

/** What a REDIS_URL names: one server, or the master a set of Sentinels names (followed across failovers). */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'sentinel'; sentinels: { host: string; port: number }[]; name: string; password?: string; tls: boolean; db: number };

/**
 * Parses REDIS_URL: `redis[s]://[:password@]host[:port][/db]` or
 * `redis[s]+sentinel://[:password@]s1[:26379],s2…/<master-name>[/db]`.
 * Throws an Error saying what is wrong (Redis Cluster included: it is not supported).
 */
export function parseRedisUrl(url: string): RedisTarget {
  const scheme = /^([a-z+]+):\/\//.exec(url)?.[1];
  if (scheme === 'redis' || scheme === 'rediss') return { kind: 'single', url };
  if (scheme === 'redis+cluster' || scheme === 'rediss+cluster') {
    throw new Error('Redis Cluster is not supported: use one server (redis://…) or, for failover, Sentinel (redis+sentinel://s1:26379,s2:26379/<master-name>)');
  }
  if (scheme !== 'redis+sentinel' && scheme !== 'rediss+sentinel') throw new Error('must be redis://…, rediss://… or redis+sentinel://…');
  const rest = url.slice(scheme.length + 3);
  const at = rest.lastIndexOf('@');
  const credentials = at >= 0 ? rest.slice(0, at) : '';
  const [hostList = '', ...path] = (at >= 0 ? rest.slice(at + 1) : rest).split('?')[0]!.split('/');
  const sentinels = hostList.split(',').map((hostPort) => {
    const match = /^([^:\s]+)(?::(\d{1,5}))?$/.exec(hostPort.trim());
    const port = Number(match?.[2] ?? 26379);
    // Only the host is quoted: the part before '@' may hold a password.
    if (!match || port < 1 || port > 65535) throw new Error(`bad Sentinel address ${JSON.stringify(hostPort)} (host or host:port)`);
    return { host: match[1]!, port };
  });
  const [name = '', db = '0'] = path;
  if (name === '') throw new Error('a Sentinel URL needs the master name as its path (redis+sentinel://s1:26379,s2:26379/mymaster)');
  if (!/^\d{1,2}$/.test(db)) throw new Error('the database after the master name must be a number (…/mymaster/0)');
  const password = credentials.includes(':') ? decodePassword(credentials.slice(credentials.indexOf(':') + 1)) : undefined;
  return { kind: 'sentinel', sentinels, name, db: Number(db), tls: scheme === 'rediss+sentinel', ...(password ? { password } : {}) };
}

function decodePassword(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new Error('the password is not valid percent-encoding (write % as %25)');
  }
}

/** A URL path prefix such as /swf-monitor or /a/b; one line per bad value. */
const basePath = z
  .string()
  .trim()
  .superRefine((v, ctx) => {
    const problem = basePathProblem(v);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  });

/** Each variable with its default; `undefined` default = unset is allowed. */
const schema = z.object({
  DATABASE_URL: databaseUrl.prefault('sqlite:./data/swf-relay.db'),
  REDIS_URL: z
    .string()
    .trim()
    .superRefine((v, ctx) => {
      if (v === '') return;
      try {
        parseRedisUrl(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .optional(),
  SSE_CHANNEL_GROUP: nonEmpty.default('workflow_events'),
  ACTIVEMQ_HOST: nonEmpty.default('127.0.0.1'),
  ACTIVEMQ_PORT: int(1, 65535).default(61613),
  ACTIVEMQ_USER: z.string().optional(),
  ACTIVEMQ_PASSWORD: z.string().optional(),
  ACTIVEMQ_USE_SSL: bool.default(false),
  ACTIVEMQ_SSL_CA_CERTS: optionalFile.optional(),
  ACTIVEMQ_SSL_CERT_FILE: optionalFile.optional(),
  ACTIVEMQ_SSL_KEY_FILE: optionalFile.optional(),
  ACTIVEMQ_HEARTBEAT_TOPIC: nonEmpty.default('epictopic'),
  ACTIVEMQ_SUBSCRIPTION_NAME: z.string().trim().default('swf-relay'),
  ACTIVEMQ_CLIENT_ID: nonEmpty.default('swf-relay'),
  // Short enough that ActiveMQ drops a frozen or cut-off relay's connection (and frees its client-id for the standby) within ~2.5 beats.
  ACTIVEMQ_HEARTBEAT_MS: int(0, 3_600_000).default(4_000),
  ACTIVEMQ_RECONNECT_MAX_SECONDS: int(1, 3600).default(30),
  ACTIVEMQ_PREFETCH: int(1, 100_000).default(1000),
  ACTIVEMQ_ACK_MODE: z.enum(['client-individual', 'client']).default('client-individual'),
  HOST: listenHost.default('127.0.0.1'),
  PORT: int(0, 65535).default(8000),
  BASE_PATH: basePath.default(''),
  SSE_HEARTBEAT_SECONDS: periodSeconds.default(30),
  SSE_CLIENT_QUEUE_SIZE: int(1, 1_000_000).default(100),
  // No 0: the byte bound cannot be turned off (an unbounded queue is what issue 14 was); from 1 KiB, so "8" meant as MiB fails loudly.
  SSE_CLIENT_QUEUE_BYTES: int(1024, 1024 * 1024 * 1024).default(DEFAULT_CLIENT_QUEUE_BYTES),
  SSE_REPLAY_MAX: int(0, 10_000_000).default(10_000),
  SSE_MAX_CLIENTS: int(1, 10_000_000).default(10_000),
  SSE_MAX_STREAMS_PER_USER: int(1, 10_000_000).default(50),
  SSE_ALLOW_QUERY_TOKEN: bool.default(false),
  SSE_CONNECTS_PER_MINUTE: int(0, 1_000_000).default(600),
  CORS_ALLOWED_ORIGINS: list.default([]),
  TRUSTED_PROXIES: addressList.default([]),
  TRUSTED_PROXY_USER_HEADER: cookieName.optional(),
  SESSION_SECURE_COOKIE: bool.optional(),
  SESSION_TTL_HOURS: z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, 'must be a number of hours greater than 0')
    .transform(Number)
    .refine((n) => n > 0 && n <= 24 * 366, 'must be a number of hours greater than 0')
    .default(12),
  TLS_CERT_FILE: optionalFile.optional(),
  TLS_KEY_FILE: optionalFile.optional(),
  MESSAGE_MAX_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  INGEST_COMMIT_INTERVAL_MS: int(0, 1000).default(10),
  RETENTION_DAYS: z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, 'must be a number of days greater than 0')
    .transform(Number)
    .refine((n) => n > 0 && n <= 36_500, 'must be a number of days greater than 0')
    .optional(),
  SUBSCRIBERS_RETENTION_DAYS: z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, 'must be a number of days greater than 0')
    .transform(Number)
    .refine((n) => n > 0 && n <= 36_500, 'must be a number of days greater than 0')
    .default(30),
  DJANGO_DATABASE_URL: databaseUrl.optional(),
  DJANGO_SESSION_COOKIE: cookieName.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** Variables for which an empty string is a meaningful value, not "unset". */
const EMPTY_IS_A_VALUE: ReadonlySet<string> = new Set(['ACTIVEMQ_SUBSCRIPTION_NAME']);

/** Reads `.env` in `dir` (if present) as a plain object; real environment variables win over it. */
export function readDotEnv(dir: string = process.cwd()): Record<string, string> {
  const file = `${dir}/.env`;
  if (!existsSync(file)) return {};
  return parseEnv(readFileSync(file, 'utf8')) as Record<string, string>;
}

/** PEM files that exist but hold no usable certificate or key: named by their variable, never with their content. */
function pemProblems(input: Record<string, string>): string[] {
  const checks: [string, 'certificate' | 'key'][] = [
    ['TLS_CERT_FILE', 'certificate'],
    ['TLS_KEY_FILE', 'key'],
    ['ACTIVEMQ_SSL_CA_CERTS', 'certificate'],
    ['ACTIVEMQ_SSL_CERT_FILE', 'certificate'],
    ['ACTIVEMQ_SSL_KEY_FILE', 'key'],
  ];
  const problems: string[] = [];
  for (const [name, kind] of checks) {
    const path = input[name]?.trim();
    if (!path || !existsSync(path)) continue; // unset, or already reported as missing
    try {
      const pem = readFileSync(path);
      if (kind === 'certificate') new X509Certificate(pem);
      else createPrivateKey(pem);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'EACCES' ? 'cannot be read (permission denied)' : `is not a PEM ${kind} file`;
      problems.push(`${name}: ${JSON.stringify(path)} ${reason}`);
    }
  }
  return problems;
}

/** Validates `env` and returns a frozen Config, or throws ConfigError listing every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // Only the variables we know; an empty string counts as unset, except where empty means something.
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && (value !== '' || EMPTY_IS_A_VALUE.has(key))) input[key] = value;
  }
  const parsed = schema.safeParse(input);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? 'config');
        return `${name}: ${issue.message} (got ${JSON.stringify(redactDatabaseUrl(input[name] ?? ''))})`;
      });
  if (Boolean(input.ACTIVEMQ_SSL_CERT_FILE?.trim()) !== Boolean(input.ACTIVEMQ_SSL_KEY_FILE?.trim())) {
    problems.push('ACTIVEMQ_SSL_CERT_FILE/ACTIVEMQ_SSL_KEY_FILE: give both or neither');
  }
  if (Boolean(input.TLS_CERT_FILE?.trim()) !== Boolean(input.TLS_KEY_FILE?.trim())) {
    problems.push('TLS_CERT_FILE/TLS_KEY_FILE: give both or neither');
  }
  problems.push(...pemProblems(input));
  if (input.TRUSTED_PROXY_USER_HEADER !== undefined && !input.TRUSTED_PROXIES?.trim()) {
    problems.push('TRUSTED_PROXY_USER_HEADER: has no effect without TRUSTED_PROXIES (the proxies it is believed from)');
  }
  if (input.DJANGO_SESSION_COOKIE !== undefined && input.DJANGO_DATABASE_URL === undefined) {
    problems.push('DJANGO_SESSION_COOKIE: has no effect without DJANGO_DATABASE_URL');
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  const topic = e.ACTIVEMQ_HEARTBEAT_TOPIC;
  const config: Config = {
    database: e.DATABASE_URL,
    redisUrl: e.REDIS_URL === '' ? undefined : e.REDIS_URL,
    channelGroup: e.SSE_CHANNEL_GROUP,
    broker: {
      host: e.ACTIVEMQ_HOST,
      port: e.ACTIVEMQ_PORT,
      user: e.ACTIVEMQ_USER,
      password: e.ACTIVEMQ_PASSWORD,
      useSsl: e.ACTIVEMQ_USE_SSL,
      caCertsFile: e.ACTIVEMQ_SSL_CA_CERTS,
      certFile: e.ACTIVEMQ_SSL_CERT_FILE,
      keyFile: e.ACTIVEMQ_SSL_KEY_FILE,
      destination: topic.startsWith('/') ? topic : `/topic/${topic}`,
      subscriptionName: e.ACTIVEMQ_SUBSCRIPTION_NAME,
      clientId: e.ACTIVEMQ_CLIENT_ID,
      heartbeatMs: e.ACTIVEMQ_HEARTBEAT_MS,
      reconnectMaxMs: e.ACTIVEMQ_RECONNECT_MAX_SECONDS * 1000,
      prefetch: e.ACTIVEMQ_PREFETCH,
      ackMode: e.ACTIVEMQ_ACK_MODE,
    },
    http: { host: e.HOST, port: e.PORT },
    basePath: e.BASE_PATH,
    sse: {
      heartbeatSeconds: e.SSE_HEARTBEAT_SECONDS,
      clientQueueSize: e.SSE_CLIENT_QUEUE_SIZE,
      clientQueueBytes: e.SSE_CLIENT_QUEUE_BYTES,
      replayMax: e.SSE_REPLAY_MAX,
      maxClients: e.SSE_MAX_CLIENTS,
      maxStreamsPerUser: e.SSE_MAX_STREAMS_PER_USER,
      allowQueryToken: e.SSE_ALLOW_QUERY_TOKEN,
      connectsPerMinute: e.SSE_CONNECTS_PER_MINUTE,
    },
    corsAllowedOrigins: e.CORS_ALLOWED_ORIGINS,
    trustedProxies: e.TRUSTED_PROXIES,
    trustedProxyUserHeader: e.TRUSTED_PROXY_USER_HEADER?.toLowerCase(),
    sessionSecureCookie: e.SESSION_SECURE_COOKIE,
    sessionTtlMs: e.SESSION_TTL_HOURS * 3_600_000,
    tls: e.TLS_CERT_FILE && e.TLS_KEY_FILE ? { certFile: e.TLS_CERT_FILE, keyFile: e.TLS_KEY_FILE } : undefined,
    messageMaxBytes: e.MESSAGE_MAX_BYTES,
    ingestCommitIntervalMs: e.INGEST_COMMIT_INTERVAL_MS,
    retentionDays: e.RETENTION_DAYS,
    subscribersRetentionDays: e.SUBSCRIBERS_RETENTION_DAYS,
    logLevel: e.LOG_LEVEL,
    django: e.DJANGO_DATABASE_URL ? { database: e.DJANGO_DATABASE_URL, sessionCookie: e.DJANGO_SESSION_COOKIE ?? 'sessionid' } : undefined,
  };
  return deepFreeze(config);
}

/** `url` with the password of a `[scheme://]user:password@host` URL replaced by `***` (for problem lines and logs). */
export function redactDatabaseUrl(url: string): string {
  // Up to the LAST '@': a password with a stray '@' or '/' is over-redacted rather than shown.
  const scheme = /^[^:/?#@]*:\/\//.exec(url)?.[0] ?? '';
  const rest = url.slice(scheme.length).replace(/^([^:/?#@]*):.*@/, '$1:***@');
  return `${scheme}${rest}`.replace(/([?&]password=)[^&#]*/gi, '$1***');
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
