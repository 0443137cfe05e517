// Regenerates docs/live-page.png: a private broker, the relay, realistic traffic from the
// fixtures, and the page in headless Chromium. Usage: node --import tsx scripts/page-screenshot.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startActiveMQ } from '../test/helpers/activemq.js';
import { launchChromium } from '../test/helpers/browser.js';
import { readHeartbeatFixtures, readWorkflowFixtures } from '../test/helpers/fixtures.js';
import { runCli, startRelay } from '../test/helpers/relay.js';
import { connectPublisher } from '../test/helpers/stomp-publisher.js';

const OUT = fileURLToPath(new URL('../docs/live-page.png', import.meta.url));
const broker = await startActiveMQ();
const dir = mkdtempSync(join(tmpdir(), 'swf-relay-shot-'));
const topic = '/topic/epictopic';
const env = { DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`, ACTIVEMQ_PORT: String(broker.port), LOG_LEVEL: 'warn' };
await runCli(['user', 'create', 'alice', '--password-stdin'], env, 'demo-password\n');
const relay = await startRelay(env);
const publisher = await connectPublisher(broker.host, broker.port);
const browser = await launchChromium();
try {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  await page.goto(relay.url);
  await page.fill('input[name=username]', 'alice');
  await page.fill('input[name=password]', 'demo-password');
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#main:not([hidden])');
  for (const hb of readHeartbeatFixtures()) await publisher.sendAndWait(topic, hb);
  const workflow = readWorkflowFixtures();
  for (let second = 0; second < 12; second++) {
    for (let i = 0; i < 3 + (second % 4); i++) await publisher.sendAndWait(topic, workflow[(second * 5 + i) % workflow.length]!);
    await new Promise((r) => setTimeout(r, 1000));
  }
  await page.waitForTimeout(5500); // subscribers panel refresh
  await page.screenshot({ path: OUT });
  console.log(`wrote ${OUT}`);
} finally {
  await browser.close();
  await publisher.close();
  await relay.stop();
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
}
