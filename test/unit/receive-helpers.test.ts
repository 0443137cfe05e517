// Pure helpers of `swf-relay receive`: backoff, the stream URL, the state file.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { backoffDelay } from '../../src/cli/backoff.js';
import { ExitError, EXIT_CODES } from '../../src/cli/exit.js';
import { displayUrl, streamUrl, withFilters } from '../../src/cli/receive/relay-url.js';
import { checkStateWritable, loadState, saveState } from '../../src/cli/receive/state-file.js';

const isUsage = (err: unknown) => err instanceof ExitError && err.exitCode === EXIT_CODES.usage;

describe('backoffDelay', () => {
  const opts = { initialMs: 500, maxMs: 30_000 };
  it('grows exponentially from initialMs, with full jitter below the ceiling', () => {
    assert.equal(backoffDelay(1, opts, () => 0.999), 499);
    assert.equal(backoffDelay(2, opts, () => 0.5), 500);
    assert.equal(backoffDelay(4, opts, () => 0.5), 2000);
    assert.equal(backoffDelay(3, opts, () => 0), 0);
  });
  it('never exceeds maxMs, even for huge attempt numbers', () => {
    assert.equal(backoffDelay(20, opts, () => 0.5), 15_000);
    assert.equal(backoffDelay(10_000, opts, () => 0.999_999), 29_999);
    assert.equal(backoffDelay(0, opts, () => 0.5), 250, 'attempt 0 counts as the first');
  });
  it('spreads clients: random delays differ', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(5, opts)));
    assert.ok(delays.size > 10);
    for (const d of delays) assert.ok(d >= 0 && d < 8000);
  });
});

describe('streamUrl', () => {
  it('appends the stream path unless the URL already ends in it', () => {
    assert.equal(streamUrl('http://127.0.0.1:8000').href, 'http://127.0.0.1:8000/api/messages/stream/');
    assert.equal(streamUrl('https://host/swf-monitor/').href, 'https://host/swf-monitor/api/messages/stream/');
    assert.equal(streamUrl('https://host/x/api/messages/stream').href, 'https://host/x/api/messages/stream/');
    assert.equal(streamUrl('https://host/api/messages/stream/?run_ids=1#frag').href, 'https://host/api/messages/stream/?run_ids=1');
  });
  it('refuses what is not an http(s) URL, as a usage error', () => {
    assert.throws(() => streamUrl('localhost:8000'), isUsage);
    assert.throws(() => streamUrl('ftp://host/'), isUsage);
    assert.throws(() => streamUrl('not a url'), isUsage);
  });
  it('adds non-empty filters comma-separated', () => {
    const url = withFilters(streamUrl('http://h'), { msgTypes: ['stf_gen', 'data_ready'], agents: [], runIds: ['100042'], namespaces: [] });
    assert.equal(url.search, '?msg_types=stf_gen%2Cdata_ready&run_ids=100042');
  });
  it('never shows credentials or a token in messages', () => {
    assert.equal(displayUrl(new URL('http://u:p@h/api/messages/stream/?token=secret&run_ids=1')), 'http://h/api/messages/stream/?token=%E2%80%A6&run_ids=1');
  });
});

describe('state file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swf-relay-state-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is absent at first, then round-trips the id, atomically', () => {
    const file = join(dir, 'state.json');
    assert.equal(loadState(file), null);
    saveState(file, '1042', 'http://h/api/messages/stream/', new Date('2026-01-01T00:00:00Z'));
    assert.equal(loadState(file), '1042');
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { last_event_id: '1042', url: 'http://h/api/messages/stream/', saved_at: '2026-01-01T00:00:00.000Z' });
    saveState(file, '1043', '');
    assert.equal(loadState(file), '1043');
    assert.deepEqual(readdirSync(dir), ['state.json'], 'no temp file left behind');
  });

  it('reads a bare id, a numeric id, and what the Python client writes', () => {
    const file = join(dir, 'other');
    writeFileSync(file, '77\n');
    assert.equal(loadState(file), '77');
    writeFileSync(file, '{"last_event_id": 5}');
    assert.equal(loadState(file), '5');
    writeFileSync(file, '{"last_event_id": "9", "url": "x", "saved_at": "2026-01-01T00:00:00Z"}\n');
    assert.equal(loadState(file), '9');
  });

  it('refuses a file holding something else, and a directory that cannot take it', () => {
    const file = join(dir, 'bad');
    writeFileSync(file, 'garbage');
    assert.throws(() => loadState(file), isUsage);
    writeFileSync(file, '{"last_event_id":"12a"}');
    assert.throws(() => loadState(file), isUsage);
    assert.throws(() => checkStateWritable(join(dir, 'missing', 'state')), isUsage);
    assert.throws(() => checkStateWritable(dir), isUsage, 'a directory is not a state file');
    checkStateWritable(join(dir, 'fresh'));
    assert.ok(!existsSync(join(dir, 'fresh')), 'checking creates nothing');
  });
});
