// The documented Apache httpd fragment (docs/apache/swf-relay-beside-monitor.conf), run for real: a private
// Debian apache2 in front of the relay and a Django stand-in, checked by the same suite as the nginx config.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitUntil } from '../helpers/relay.js';
import { monitorMountContract, PREFIX, type MountProxy } from './monitor-mount.contract.js';

const APACHE = '/usr/sbin/apache2';
const MODULES = '/usr/lib/apache2/modules';
const INSTALL_HINT = 'apt-get install -y --no-install-recommends apache2';
const FRAGMENT = fileURLToPath(new URL('../../docs/apache/swf-relay-beside-monitor.conf', import.meta.url));

/** The fragment with the relay's documented address replaced by the test's; fails if it is not there. */
function fragment(relayPort: number): string {
  const original = readFileSync(FRAGMENT, 'utf8');
  assert.ok(original.includes(`ProxyPass        http://127.0.0.1:8000${PREFIX}/api/messages/stream/`), `${FRAGMENT} proxies to 127.0.0.1:8000`);
  const text = original.replaceAll('127.0.0.1:8000', `127.0.0.1:${relayPort}`);
  assert.ok(!text.includes('127.0.0.1:8000'));
  return text;
}

/**
 * The server config around the fragment: a private apache2 in a temp dir, listening on `port`.
 * Server-wide lines stand in for the monitor's own config: Django is a plain ProxyPass for all of
 * /swf-monitor/ (the monitor uses WSGIScriptAlias; both are mapped after a <Location> ProxyPass), and
 * mod_deflate compresses event streams (Debian enables it), which the fragment must switch off.
 */
function serverConfig(dir: string, port: number, djangoPort: number): string {
  const isRoot = process.getuid?.() === 0;
  const modules = ['mpm_event', 'authz_core', 'proxy', 'proxy_http', 'headers', 'env', 'filter', 'deflate'];
  return [
    `ServerRoot "${dir}"`,
    `DefaultRuntimeDir "${dir}"`,
    `PidFile "${dir}/httpd.pid"`,
    `ErrorLog "${dir}/error.log"`,
    'LogLevel warn',
    `Listen 127.0.0.1:${port}`,
    'ServerName 127.0.0.1',
    ...modules.map((m) => `LoadModule ${m}_module ${MODULES}/mod_${m}.so`),
    // As root, workers switch to an unprivileged user (logs are opened before that).
    ...(isRoot ? ['User nobody', 'Group nogroup'] : []),
    'StartServers 1',
    'ServerLimit 1',
    'ThreadsPerChild 32',
    'MaxRequestWorkers 32',
    'MinSpareThreads 1',
    'MaxSpareThreads 32',
    'AddOutputFilterByType DEFLATE text/event-stream application/json text/html',
    `<VirtualHost 127.0.0.1:${port}>`,
    `    ProxyPass        ${PREFIX}/ http://127.0.0.1:${djangoPort}${PREFIX}/`,
    `    ProxyPassReverse ${PREFIX}/ http://127.0.0.1:${djangoPort}${PREFIX}/`,
    `    Include "${dir}/beside-monitor.conf"`,
    '</VirtualHost>',
    '',
  ].join('\n');
}

/** Checks the config (`apache2 -t`), then runs apache2 in the foreground until stop(). */
async function startApache(relayPort: number, djangoPort: number): Promise<MountProxy> {
  assert.ok(existsSync(APACHE), `Apache httpd is missing (${APACHE} not found): install it with \`${INSTALL_HINT}\``);
  const dir = mkdtempSync(join(tmpdir(), 'swf-relay-apache-'));
  const port = await freePort();
  writeFileSync(join(dir, 'beside-monitor.conf'), fragment(relayPort));
  writeFileSync(join(dir, 'httpd.conf'), serverConfig(dir, port, djangoPort));
  const conf = join(dir, 'httpd.conf');

  const check = spawnSync(APACHE, ['-t', '-f', conf], { encoding: 'utf8' });
  assert.equal(check.status, 0, `apache2 -t: ${check.stdout}${check.stderr}`);
  assert.match(check.stderr + check.stdout, /Syntax OK/);

  const child: ChildProcess = spawn(APACHE, ['-f', conf, '-DFOREGROUND'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const log = () => {
    const errorLog = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '';
    return `${output}\n--- error.log:\n${errorLog}`;
  };
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (!exited) {
      // SIGTERM: the parent stops its children and exits; SIGKILL if it lingers.
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(kill);
    }
    if (!process.env.KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      async () => {
        if (exited) throw new Error(`apache2 exited during start:\n${log()}`);
        return (await fetch(`http://127.0.0.1:${port}/`).catch(() => null)) !== null;
      },
      `apache2 answering on 127.0.0.1:${port}`,
      log,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, output: log, stop };
}

monitorMountContract('swf-relay beside the monitor, behind Apache httpd with docs/apache/swf-relay-beside-monitor.conf', {
  // <Location /swf-monitor/api/messages/stream/> does not match the path without its slash: Django gets it (and redirects).
  streamWithoutSlash: 'django',
  start: ({ relayPort, djangoPort }) => startApache(relayPort, djangoPort),
});
