/// <reference lib="dom" />
// (DOM types: the page.evaluate and waitForFunction callbacks below run in the browser.)
// The live page in real Chromium: sign-in, live rows and detail, filters in the URL,
// lossless reconnect across a relay restart, CORS with credentials, and logout.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { hashPassword } from '../../src/auth/passwords.js';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { ARTIFACTS, launchChromium } from '../helpers/browser.js';
import { freePort, openStoreOf, runCli, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';

const PASSWORD = 'correct horse battery';

describe('the live page in Chromium', () => {
  let broker: PrivateBroker;
  let relay: RelayProcess;
  let publisher: Publisher;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let dir: string;
  let env: Record<string, string>;
  let otherOrigins: { allowed: string; refused: string; servers: Server[] };
  const topic = `/topic/browser-${process.pid}`;

  const send = (body: object) => publisher.sendAndWait(topic, JSON.stringify(body), { persistent: 'true' });
  const rowIds = () => page.$$eval('#messages tbody tr', (rows) => rows.map((r) => (r as HTMLElement).dataset.id ?? ''));
  const rowTypes = () => page.$$eval('#messages tbody tr td:nth-child(3)', (cells) => cells.map((c) => c.textContent ?? ''));
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  /** A page on another loopback origin that opens the relay's stream with EventSource + credentials. */
  const originServer = async () => {
    const port = await freePort();
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>other origin</title><p>other origin</p>');
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return { server, origin: `http://127.0.0.1:${port}` };
  };

  before(async () => {
    broker = await startActiveMQ();
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-browser-'));
    const [allowed, refused] = [await originServer(), await originServer()];
    otherOrigins = { allowed: allowed.origin, refused: refused.origin, servers: [allowed.server, refused.server] };
    env = {
      DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
      ACTIVEMQ_PORT: String(broker.port),
      ACTIVEMQ_HEARTBEAT_TOPIC: topic,
      ACTIVEMQ_CLIENT_ID: `browser-${process.pid}`,
      ACTIVEMQ_HEARTBEAT_MS: '2000',
      CORS_ALLOWED_ORIGINS: otherOrigins.allowed,
      PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
    };
    // The CLI creates the user, reading the password from stdin.
    const created = await runCli(['user', 'create', 'alice', '--password-stdin'], env, `${PASSWORD}\n`);
    assert.equal(created.code, 0, created.stderr);
    const store = await openStoreOf(env);
    const hash = (await store.findUser('alice'))?.passwordHash ?? '';
    assert.match(hash, /^scrypt\$/, 'stored as a scrypt hash, never plain');
    assert.ok(!hash.includes(PASSWORD));
    await store.close();
    relay = await startRelay(env);
    publisher = await connectPublisher(broker.host, broker.port);
    browser = await launchChromium();
    context = await browser.newContext();
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    await publisher?.close().catch(() => {});
    await relay?.stop();
    await broker?.stop();
    for (const server of otherOrigins?.servers ?? []) server.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('sign in through the form; a published message appears within a second; its JSON opens', async () => {
    await page.goto(relay.url);
    await page.waitForSelector('#login-form');
    await page.fill('input[name=username]', 'alice');
    await page.fill('input[name=password]', 'wrong password');
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('login-error')?.textContent?.includes('Invalid'));
    await page.fill('input[name=password]', PASSWORD);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#main:not([hidden])');
    await page.waitForFunction(() => document.getElementById('badge')?.textContent === 'live');
    const cookie = (await context.cookies()).find((c) => c.name === 'swf_relay_session')!;
    assert.ok(cookie.httpOnly, 'HttpOnly');
    assert.equal(cookie.sameSite, 'Lax');

    const sentAt = Date.now();
    await send({ msg_type: 'browser_hello', run_id: 100042, sender: 'daq-agent', namespace: 'torre-dev', note: 'ünïcode' });
    await page.waitForFunction(() => [...document.querySelectorAll('#messages tbody td:nth-child(3)')].some((td) => td.textContent === 'browser_hello'), null, { timeout: 5000 });
    const delay = Date.now() - sentAt;
    assert.ok(delay < 1000, `row appeared after ${delay} ms`);
    await page.click('#messages tbody tr:first-child');
    const json = await page.textContent('#detail-json');
    assert.equal(JSON.parse(json ?? '{}').note, 'ünïcode');
    await shot('page-signed-in');
    await page.click('#detail button');
  });

  test('a filter reconnects the stream, only matching rows arrive, and the URL carries it', async () => {
    await page.fill('#filters input[name=msg_types]', 'wanted');
    await page.click('#filters button[type=submit]');
    await page.waitForFunction(() => location.search.includes('msg_types=wanted'));
    await page.waitForFunction(() => document.getElementById('badge')?.textContent === 'live');
    await send({ msg_type: 'unwanted' });
    await send({ msg_type: 'wanted', seq: 1 });
    await page.waitForFunction(() => document.querySelectorAll('#messages tbody tr').length === 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await rowTypes(), ['wanted']);
    // A shared link opens the same view.
    const other = await context.newPage();
    await other.goto(`${relay.url}/?msg_types=wanted`);
    await other.waitForFunction(() => document.querySelectorAll('#messages tbody tr').length === 1);
    assert.equal(await other.inputValue('#filters input[name=msg_types]'), 'wanted');
    await other.close();
  });

  test('a message stored after the history was read and before the stream connected is shown', async () => {
    // Hold the filtered stream's request until a matching message is stored: the page must ask
    // for it with Last-Event-ID on its first connect (a stream opened without one starts from now).
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let asked = () => {};
    const streamAsked = new Promise<void>((resolve) => (asked = resolve));
    await page.route(/\/api\/messages\/stream\/\?msg_types=between$/, async (route) => {
      asked();
      await held;
      await route.continue();
    });
    try {
      await page.fill('#filters input[name=msg_types]', 'between');
      await page.click('#filters button[type=submit]');
      await streamAsked;
      await send({ msg_type: 'between', seq: 1 });
      release();
      await page.waitForFunction(() => document.getElementById('badge')?.textContent === 'live');
      await page.waitForFunction(() => document.querySelectorAll('#messages tbody tr').length === 1, null, { timeout: 10_000 });
      assert.deepEqual(await rowTypes(), ['between']);
    } finally {
      release();
      await page.unroute(/\/api\/messages\/stream\/\?msg_types=between$/);
    }
  });

  test('relay restarted while messages are published: reconnecting, then live, every message once', async () => {
    await page.fill('#filters input[name=msg_types]', 'restart');
    await page.click('#filters button[type=submit]');
    await page.waitForFunction(() => location.search.includes('msg_types=restart'));
    await page.waitForFunction(() => document.getElementById('badge')?.textContent === 'live');
    for (let seq = 0; seq < 10; seq++) await send({ msg_type: 'restart', seq });
    await page.waitForFunction(() => document.querySelectorAll('#messages tbody tr').length === 10);

    await relay.stop('SIGTERM');
    await page.waitForFunction(() => document.getElementById('badge')?.textContent === 'reconnecting');
    await shot('page-reconnecting');
    for (let seq = 10; seq < 30; seq++) await send({ msg_type: 'restart', seq });
    relay = await startRelay(env);
    for (let seq = 30; seq < 40; seq++) await send({ msg_type: 'restart', seq });
    await page.waitForFunction(() => document.getElementById('badge')?.textContent === 'live', null, { timeout: 20_000 });
    await page.waitForFunction(() => document.querySelectorAll('#messages tbody tr').length >= 40, null, { timeout: 20_000 });
    await new Promise((r) => setTimeout(r, 500));
    const ids = (await rowIds()).map(Number);
    assert.equal(ids.length, 40, 'every message, none twice');
    assert.equal(new Set(ids).size, 40);
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! < ids[i - 1]!, 'newest first, in order');
  });

  test('CORS: an allowed origin gets the stream with credentials; another origin is refused', async () => {
    const openFrom = async (origin: string) => {
      const other = await context.newPage();
      await other.goto(origin);
      const result = await other.evaluate(
        (url) =>
          new Promise<string>((resolve) => {
            const source = new EventSource(url, { withCredentials: true });
            source.addEventListener('connected', () => {
              source.close();
              resolve('connected');
            });
            source.onerror = () => {
              source.close();
              resolve('refused');
            };
          }),
        `${relay.url}/api/messages/stream/?msg_types=cors`,
      );
      await other.close();
      return result;
    };
    assert.equal(await openFrom(otherOrigins.allowed), 'connected');
    assert.equal(await openFrom(otherOrigins.refused), 'refused');

    const preflight = await fetch(`${relay.url}/api/messages/`, {
      method: 'OPTIONS',
      headers: { Origin: otherOrigins.allowed, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' },
    });
    assert.ok(preflight.status === 204 || preflight.status === 200);
    assert.equal(preflight.headers.get('access-control-allow-origin'), otherOrigins.allowed);
    assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true');
    assert.match(preflight.headers.get('vary') ?? '', /Origin/i);
    const refused = await fetch(`${relay.url}/healthz`, { headers: { Origin: otherOrigins.refused } });
    assert.equal(refused.headers.get('access-control-allow-origin'), null, 'no CORS headers for other origins');
    // A cross-site sign-in is refused outright.
    const crossLogin = await fetch(`${relay.url}/api/auth/login`, {
      method: 'POST',
      headers: { Origin: 'http://evil.example', 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: PASSWORD }),
    });
    assert.equal(crossLogin.status, 403);
  });

  test('logout ends the session: the stream then answers 401', async () => {
    const cookie = (await context.cookies()).find((c) => c.name === 'swf_relay_session')!;
    await page.click('#logout');
    await page.waitForSelector('#login:not([hidden])');
    assert.equal((await context.cookies()).find((c) => c.name === 'swf_relay_session'), undefined, 'cookie cleared');
    const res = await fetch(`${relay.url}/api/messages/stream/`, { headers: { Cookie: `swf_relay_session=${cookie.value}` } });
    assert.equal(res.status, 401, 'the old session no longer opens a stream');
    await shot('page-signed-out');
  });
});
