/** Administration commands: migrate, token create|list|revoke, user create|passwd|set-admin|disable|enable. */
import type { Command } from 'commander';
import { hashPassword } from '../auth/passwords.js';
import { createToken } from '../auth/tokens.js';
import { ConfigError, type Config } from '../config.js';
import { AppError } from '../errors.js';
import { MAX_FILTER_VALUE_LENGTH } from '../model/filter.js';
import { CONTROL_CHARS } from '../model/message.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/store.js';
import { promptPassword, readFirstLine } from './prompt.js';

/** Registers the administration commands; `config()` reads the configuration when a command runs. */
export function registerAdmin(cli: Command, config: () => Config): void {
  cli
    .command('migrate')
    .description('apply pending database migrations')
    .action(async () => {
      const store = await openStore(config().database);
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
    .option('--namespaces <list>', 'comma-separated: the token sees only these namespaces (within its user\'s)')
    .action(async (username: string, opts: { createUser?: boolean; name?: string; publish?: boolean; expiresDays?: string; namespaces?: string }) => {
      const namespaces = opts.namespaces === undefined ? null : namespaceList(opts.namespaces);
      const days = opts.expiresDays === undefined ? undefined : Number(opts.expiresDays);
      if (days !== undefined && !(days > 0)) throw new ConfigError(['--expires-days: must be a number of days greater than 0']);
      const expiresAt = days === undefined ? null : new Date(Date.now() + days * 86_400_000);
      const { key } = await withStore(config, (store) =>
        createToken(store, username, { createUser: opts.createUser ?? false, name: opts.name ?? null, canPublish: opts.publish ?? false, expiresAt, namespaces }),
      );
      process.stdout.write(`${key}\n`);
    });
  token
    .command('list')
    .description('list tokens (key prefixes only; keys are never stored)')
    .action(async () => {
      const tokens = await withStore(config, (store) => store.listTokens());
      const rows = tokens.map((t) => [t.id, `${t.keyPrefix}…`, t.username, t.name ?? '', t.canPublish ? 'yes' : 'no', t.namespaces?.join(',') ?? '', t.createdAt, t.expiresAt ?? '', t.revokedAt ?? '']);
      printTable(['id', 'key', 'user', 'name', 'publish', 'namespaces', 'created', 'expires', 'revoked'], rows);
    });
  token
    .command('revoke <id-or-prefix>')
    .description('revoke a token by its id or key prefix')
    // A base64url key prefix may begin with '-' (1 key in 64): take it as the argument it is, not as an option.
    .allowUnknownOption()
    .action(async (idOrPrefix: string) => {
      const revoked = await withStore(config, (store) => store.revokeToken(idOrPrefix));
      if (!revoked) throw new AppError('NOT_FOUND', `no active token with id or prefix "${idOrPrefix}"`);
      process.stdout.write(`revoked ${idOrPrefix}\n`);
    });

  const user = cli.command('user').description('manage users who sign in to the web page');
  user
    .command('create <username>')
    .description('create a user (or set the password of an existing one, ending its sessions); the password is read from a prompt or stdin')
    .option('--password-stdin', 'read the password from the first line of standard input')
    .option('--admin', "the user sees other users' streams (addresses, filters) in status and subscribers")
    .option('--namespaces <list>', 'comma-separated: the user sees only these namespaces (stream, history, agents)')
    .action(async (username: string, opts: { passwordStdin?: boolean; admin?: boolean; namespaces?: string }) => {
      // Given options apply to an existing user too; absent ones leave it as it is.
      const changes = { ...(opts.admin && { isAdmin: true }), ...(opts.namespaces !== undefined && { namespaces: namespaceList(opts.namespaces) }) };
      const hash = await readPasswordHash(username, opts);
      const created = await withStore(config, async (store) => {
        const existing = await store.findUser(username);
        if (!existing) await store.createUser(username, changes);
        else await store.updateUser(username, changes);
        await store.setPassword(username, hash);
        return !existing;
      });
      process.stdout.write(`${created ? 'created' : 'updated'} user ${username}\n`);
    });
  user
    .command('passwd <username>')
    .description("change a user's password and end all of the user's sessions")
    .option('--password-stdin', 'read the password from the first line of standard input')
    .action(async (username: string, opts: { passwordStdin?: boolean }) => {
      const hash = await readPasswordHash(username, opts);
      if (!(await withStore(config, (store) => store.setPassword(username, hash)))) throw new AppError('NOT_FOUND', `no user named "${username}"`);
      process.stdout.write(`changed the password of ${username}; its sessions are ended\n`);
    });
  user
    .command('set-admin <username>')
    .description("let a user see other users' streams in status and subscribers (--off: only its own)")
    .option('--off', 'take the admin role away')
    .action(async (username: string, opts: { off?: boolean }) => {
      if (!(await withStore(config, (store) => store.updateUser(username, { isAdmin: !opts.off })))) throw new AppError('NOT_FOUND', `no user named "${username}"`);
      process.stdout.write(`${username} is ${opts.off ? 'no longer' : 'now'} an admin\n`);
    });
  for (const [name, active] of [['disable', false], ['enable', true]] as const) {
    user
      .command(`${name} <username>`)
      .description(active ? 'let a disabled user authenticate again' : "stop a user's tokens and sessions from authenticating; open streams close within seconds")
      .action(async (username: string) => {
        if (!(await withStore(config, (store) => store.setUserActive(username, active)))) throw new AppError('NOT_FOUND', `no user named "${username}"`);
        process.stdout.write(`${name}d user ${username}\n`);
      });
  }
}

/** A --namespaces value: comma-separated names, at least one, as the stream's `namespaces` filter reads them. */
function namespaceList(text: string): string[] {
  const names = [...new Set(text.split(',').map((n) => n.trim()).filter((n) => n !== ''))];
  if (names.length === 0) throw new ConfigError(['--namespaces: at least one namespace']);
  if (names.some((n) => n.length > MAX_FILTER_VALUE_LENGTH || CONTROL_CHARS.test(n))) {
    throw new ConfigError([`--namespaces: names of at most ${MAX_FILTER_VALUE_LENGTH} characters, without control characters`]);
  }
  return names;
}

/** Reads a new password (prompt, or the first line of stdin) and hashes it. */
async function readPasswordHash(username: string, opts: { passwordStdin?: boolean }): Promise<string> {
  const password = opts.passwordStdin ? await readFirstLine(process.stdin) : await promptPassword(`password for ${username}: `);
  if (password.length < 8) throw new ConfigError(['password: at least 8 characters']);
  return hashPassword(password);
}

/** Runs `fn` on the migrated store, then closes it. */
async function withStore<T>(config: () => Config, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(config().database);
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Prints rows under a header, columns padded to their widest cell. */
function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
}
