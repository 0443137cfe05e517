/**
 * Command line (SPEC §7): argv → commands. The only module that calls
 * process.exit; errors become one clear line on stderr and a non-zero exit.
 */
import { Command, CommanderError } from 'commander';
import { createApp, type Role } from '../app/app.js';
import { registerAdmin } from './admin.js';
import { ExitError } from './exit.js';
import { registerReceive } from './receive/receive.js';
import { registerSend } from './send/send.js';
import { ConfigError, loadConfig, readDotEnv, type Config } from '../config.js';
import { createLogger } from '../log.js';
import { isWorker, runWorkerPrimary } from './workers.js';

/** Exit codes: 0 ok, 1 failure, 2 bad configuration or usage. */
const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Hard limit for a graceful stop, after which the process exits anyway. */
const STOP_TIMEOUT_MS = 10_000;

/** Configuration from the environment and `.env` (environment wins). */
function config(): Config {
  return loadConfig({ ...readDotEnv(), ...process.env });
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

  registerAdmin(cli, config);
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
