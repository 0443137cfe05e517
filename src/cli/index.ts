/**
 * Command line (SPEC §7): argv → commands. The only module that calls
 * process.exit; errors become one clear line on stderr and a non-zero exit.
 */
import { Command, CommanderError } from 'commander';
import { createApp, type Role } from '../app/app.js';
import { createToken } from '../auth/tokens.js';
import { ExitError } from './exit.js';
import { registerReceive } from './receive/receive.js';
import { registerSend } from './send/send.js';
import { ConfigError, loadConfig, readDotEnv, type Config } from '../config.js';
import { AppError } from '../errors.js';
import { createLogger } from '../log.js';
import { hashPassword } from '../auth/passwords.js';
import { promptPassword, readFirstLine } from './prompt.js';
import { createStore, type Store } from '../store/store.js';
import { isWorker, runWorkerPrimary } from './workers.js';

/** Exit codes: 0 ok, 1 failure, 2 bad configuration or usage. */
const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Hard limit for a graceful stop, after which the process exits anyway. */
const STOP_TIMEOUT_MS = 10_000;

/** Configuration from the environment and `.env` (environment wins). */
function config(): Config {
  return loadConfig({ ...readDotEnv(), ...process.env });
}

async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await createStore(config().database);
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Runs one relay process in `role` until SIGTERM/SIGINT. */
async function runProcess(role: Role): Promise<void> {
  const cfg = config();
  const app = await createApp(cfg, { role });
  await app.start();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`swf-relay: ${signal} received, stopping\n`);
    setTimeout(() => process.exit(EXIT.failure), STOP_TIMEOUT_MS).unref();
    app.stop().then(
      () => process.exit(EXIT.ok),
      (err: unknown) => fail(err),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function program(): Command {
  const cli = new Command('swf-relay')
    .description('Relays workflow messages from ActiveMQ to HTTP clients as Server-Sent Events')
    .exitOverride()
    .showHelpAfterError();

  cli
    .command('start')
    .description('run the listener and the web server in one process')
    .action(() => runProcess('all'));

  cli
    .command('listen')
    .description('run only the listener (broker → store → bus); needs REDIS_URL')
    .action(() => {
      requireRedis('swf-relay listen');
      return runProcess('listener');
    });

  cli
    .command('serve')
    .description('run only web processes (bus → SSE clients); needs REDIS_URL')
    .option('--workers <n>', 'web worker processes sharing the port', '1')
    .action(async (opts: { workers: string }) => {
      const workers = Number(opts.workers);
      if (!/^\d+$/.test(opts.workers) || workers < 1 || workers > 64) throw new ConfigError(['--workers: must be an integer from 1 to 64']);
      requireRedis(`swf-relay serve${workers > 1 ? ` --workers ${workers}` : ''}`);
      if (workers === 1 || isWorker()) return runProcess('web');
      await runWorkerPrimary(workers, createLogger(config().logLevel));
      process.exit(EXIT.ok);
    });

  cli
    .command('migrate')
    .description('apply pending database migrations')
    .action(async () => {
      const store = await createStore(config().database);
      try {
        const applied = await store.migrate();
        process.stdout.write(applied.length === 0 ? 'database is up to date\n' : `applied: ${applied.join(', ')}\n`);
      } finally {
        await store.close();
      }
    });

  const token = cli.command('token').description('manage API tokens');
  token
    .command('create <username>')
    .description('create a token and print its key (alone, on one line)')
    .option('--create-user', 'create the user if it does not exist')
    .option('--name <name>', 'a label for the token')
    .option('--publish', 'allow this token to publish messages over HTTP')
    .option('--expires-days <days>', 'the token stops working after this many days (default: never)')
    .action(async (username: string, opts: { createUser?: boolean; name?: string; publish?: boolean; expiresDays?: string }) => {
      const days = opts.expiresDays === undefined ? undefined : Number(opts.expiresDays);
      if (days !== undefined && !(days > 0)) throw new ConfigError(['--expires-days: must be a number of days greater than 0']);
      const expiresAt = days === undefined ? null : new Date(Date.now() + days * 86_400_000);
      const { key } = await withStore((store) =>
        createToken(store, username, { createUser: opts.createUser ?? false, name: opts.name ?? null, canPublish: opts.publish ?? false, expiresAt }),
      );
      process.stdout.write(`${key}\n`);
    });
  token
    .command('list')
    .description('list tokens (key prefixes only; keys are never stored)')
    .action(async () => {
      const tokens = await withStore((store) => store.listTokens());
      const rows = tokens.map((t) => [t.id, `${t.keyPrefix}…`, t.username, t.name ?? '', t.canPublish ? 'yes' : 'no', t.createdAt, t.expiresAt ?? '', t.revokedAt ?? '']);
      printTable(['id', 'key', 'user', 'name', 'publish', 'created', 'expires', 'revoked'], rows);
    });
  token
    .command('revoke <id-or-prefix>')
    .description('revoke a token by its id or key prefix')
    .action(async (idOrPrefix: string) => {
      const revoked = await withStore((store) => store.revokeToken(idOrPrefix));
      if (!revoked) throw new AppError('NOT_FOUND', `no active token with id or prefix "${idOrPrefix}"`);
      process.stdout.write(`revoked ${idOrPrefix}\n`);
    });

  const user = cli.command('user').description('manage users who sign in to the web page');
  user
    .command('create <username>')
    .description('create a user (or set the password of an existing one); the password is read from a prompt or stdin')
    .option('--password-stdin', 'read the password from the first line of standard input')
    .action(async (username: string, opts: { passwordStdin?: boolean }) => {
      const password = opts.passwordStdin ? await readFirstLine(process.stdin) : await promptPassword(`password for ${username}: `);
      if (password.length < 8) throw new ConfigError(['password: at least 8 characters']);
      const hash = await hashPassword(password);
      const created = await withStore(async (store) => {
        const existing = await store.findUser(username);
        if (!existing) await store.createUser(username);
        await store.setPassword(username, hash);
        return !existing;
      });
      process.stdout.write(`${created ? 'created' : 'updated'} user ${username}\n`);
    });

  registerSend(cli, config);
  registerReceive(cli, process.env);
  return cli;
}

/** Refuses, at start, a command that needs cross-process fanout when the bus is in-memory. */
function requireRedis(what: string): void {
  if (config().redisUrl === undefined) {
    throw new ConfigError([`${what} needs REDIS_URL: with the in-memory bus no other process can see its events (use \`swf-relay start\` for one process)`]);
  }
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
}

function fail(err: unknown): never {
  if (err instanceof ConfigError) {
    for (const line of err.problems) process.stderr.write(`swf-relay: ${line}\n`);
    process.exit(EXIT.usage);
  }
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  // send/receive: their own exit codes (commands/exit.ts); an empty message prints nothing.
  if (err instanceof ExitError) {
    if (err.message !== '') process.stderr.write(`swf-relay: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`swf-relay: ${message}\n`);
  process.exit(EXIT.failure);
}

/** Runs the command line; exits the process on error. */
export async function run(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv, { from: 'user' });
  } catch (err) {
    fail(err);
  }
}
