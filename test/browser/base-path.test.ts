/// <reference lib="dom" />
// (DOM types: the page.waitForFunction callbacks below run in the browser.)
// The live page under BASE_PATH in real Chromium: it loads from /swf-monitor/, signs in there,
// shows a live row, and every request it makes stays under the prefix.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { hashPassword } from '../../src/auth/passwords.js';
import { createToken } from '../../src/auth/tokens.js';
import { ARTIFACTS, launchChromium } from '../helpers/browser.js';
import { freePort, openStoreOf, startRelay, type RelayProcess } from '../helpers/relay.js';

const PREFIX = '/swf-monitor';
const PASSWORD = 'correct horse battery';

describe(`the live page under BASE_PATH=${PREFIX} in Chromium`, () => {
  let relay: RelayProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let dir: string;
  let token = '';
  /** Paths of every request the page made. */
  const requested: string[] = [];

  const publish = async (body: object) => {
    const res = await fetch(`${relay.url}/api/messages/`, { method: 'POST', headers: { Authorization: `Token ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 201, await res.text());
  };
  const hasRow = (type: string) => page.waitForFunction((t) => [...document.querySelectorAll('#messages tbody td:nth-child(3)')].some((td) => td.textContent === t), type, { timeout: 5000 });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-browser-base-path-'));
    const env = {
      DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
      // No broker: the message comes in over HTTP publish, through the same writer.
      ACTIVEMQ_PORT: String(await freePort()),
      BASE_PATH: PREFIX,
      LOG_LEVEL: 'error',
    };
    const store = await openStoreOf(env);
    token = (await createToken(store, 'publisher', { createUser: true, canPublish: true })).key;
    await store.createUser('alice');
    await store.setPassword('alice', await hashPassword(PASSWORD));
    await store.close();
    relay = await startRelay(env);
    browser = await launchChromium();
    context = await browser.newContext();
    page = await context.newPage();
    page.on('request', (r) => requested.push(new URL(r.url()).pathname));
  });

  after(async () => {
    await browser?.close();
    await relay?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test(`signs in at ${PREFIX}/ and shows a published message live; the cookie is scoped to ${PREFIX}`, async () => {
    await page.goto(`${relay.url}${PREFIX}/`);
    await page.waitForSelector('#login-form');
    await page.fill('input[name=username]', 'alice');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#main:not([hidden])');
    await page.waitForFunction(() => document.getElementById('badge')?.textContent === 'live');
    const cookie = (await context.cookies()).find((c) => c.name === 'swf_relay_session');
    assert.equal(cookie?.path, PREFIX);

    await publish({ msg_type: 'prefixed_hello', run_id: 100042 });
    await hasRow('prefixed_hello');
    await page.screenshot({ path: join(ARTIFACTS, 'page-under-base-path.png'), fullPage: true });
  });

  test('a filter keeps the page under the prefix, and so does every request it made', async () => {
    await page.fill('#filters input[name=msg_types]', 'prefixed_wanted');
    await page.click('#filters button[type=submit]');
    await page.waitForFunction(() => location.search.includes('msg_types=prefixed_wanted'));
    assert.equal(new URL(page.url()).pathname, `${PREFIX}/`);
    await page.waitForFunction(() => document.getElementById('badge')?.textContent === 'live');
    await publish({ msg_type: 'prefixed_wanted' });
    await hasRow('prefixed_wanted');

    const outside = requested.filter((path) => !path.startsWith(`${PREFIX}/`));
    assert.deepEqual(outside, [], 'requests outside the prefix');
    for (const path of [`${PREFIX}/app.js`, `${PREFIX}/style.css`, `${PREFIX}/api/auth/login`, `${PREFIX}/api/messages/stream/`]) {
      assert.ok(requested.includes(path), `requested ${path}: ${[...new Set(requested)].join(', ')}`);
    }
  });

  test(`${PREFIX} without the slash lands on ${PREFIX}/, still signed in`, async () => {
    const other = await context.newPage();
    await other.goto(`${relay.url}${PREFIX}`);
    assert.equal(new URL(other.url()).pathname, `${PREFIX}/`);
    await other.waitForSelector('#main:not([hidden])');
    await other.close();
  });
});
