// Free TCP ports for test servers (relays, brokers, Redis, Sentinels, nginx), safe when test files run in parallel.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Ports are handed out below the kernel's ephemeral range, so an outgoing connection (to Redis,
 * PostgreSQL, a relay) never takes one between freePort() and the server's bind; and each is
 * reserved by a directory named after it, so two test processes never get the same one. A
 * reservation lasts until its process exits (a dead owner's is taken over).
 */
const RESERVATIONS = join(tmpdir(), 'swf-relay-test-ports');
const LOWEST = 20_000;
const mine: string[] = [];
process.on('exit', () => {
  for (const dir of mine) rmSync(dir, { recursive: true, force: true });
});

/** The first port of the kernel's ephemeral range (32768 when it cannot be read). */
function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32_768;
  } catch {
    return 32_768;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reserves `port` for this process; false when a live process holds it. */
function reserve(port: number): boolean {
  const dir = join(RESERVATIONS, String(port));
  try {
    mkdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    let owner = 0;
    try {
      owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    } catch {
      return false; // being written by its owner right now
    }
    if (owner === 0 || alive(owner)) return false;
    rmSync(dir, { recursive: true, force: true });
    return reserve(port);
  }
  writeFileSync(join(dir, 'pid'), String(process.pid));
  mine.push(dir);
  return true;
}

/** True when nothing listens on `port` of 127.0.0.1 now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A TCP port on 127.0.0.1 that is free and reserved for this process. */
export async function freePort(): Promise<number> {
  mkdirSync(RESERVATIONS, { recursive: true });
  const span = ephemeralLow() - LOWEST;
  if (span < 1000) throw new Error(`too few ports below the ephemeral range (net.ipv4.ip_local_port_range starts at ${ephemeralLow()})`);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * span);
    if (reserve(port) && (await bindable(port))) return port;
  }
  throw new Error(`no free port found between ${LOWEST} and ${LOWEST + span}`);
}
