// Every package in package-lock.json admits, by its own `engines`, every Node that our
// package.json `engines` claims — except the few listed below, each with why it works anyway.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import semver from 'semver';

interface Lock { packages: Record<string, { version?: string; optional?: boolean; engines?: { node?: string } | string[] }> }

const read = <T>(file: string): T => JSON.parse(readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8')) as T;
const claimed = read<{ engines: { node: string } }>('package.json').engines.node;
const lock = read<Lock>('package-lock.json');

/** Package → the claimed Node majors its engines leave out, and why it still works there. */
const EXCEPTIONS: Readonly<Record<string, { majors: readonly number[]; why: string }>> = {
  // ESM-only string handling, no Node 22 API. @fastify/static and light-my-request (fastify's
  // inject) require() them, which Node can from 20.19 (require(esm)): hence our floor.
  cookie: { majors: [20], why: 'publisher policy; loaded by require(esm), which Node 20.19 has' },
  'content-disposition': { majors: [20], why: 'publisher policy; loaded by require(esm), which Node 20.19 has' },
  // Optional: npm skips it where its engines fail, and store/sqlite-driver.ts loads it only on Node >= 22.
  'better-sqlite3-13': { majors: [20], why: 'optional, loaded only on Node >= 22' },
};

/** The first and the last version of each alternative of an engines range ('^20.19.0 || ^22.12.0' → 20.19.0, 20.999.999, 22.12.0, 22.999.999). */
function versionsOf(range: string): string[] {
  return range.split('||').flatMap((part) => {
    const first = semver.minVersion(part)!;
    return [first.version, `${first.major}.999.999`].filter((v) => semver.satisfies(v, part));
  });
}

/** One line per (package, claimed version) its engines refuse, skipping what `exceptions` excuses. */
function refusals(packages: Lock['packages'], versions: readonly string[], exceptions: typeof EXCEPTIONS): string[] {
  return Object.entries(packages).flatMap(([path, info]) => {
    const range = Array.isArray(info.engines) ? undefined : info.engines?.node;
    if (path === '' || !range) return [];
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    return versions
      .filter((v) => !semver.satisfies(v, range) && !exceptions[name]?.majors.includes(semver.major(v)))
      .map((v) => `${name}@${info.version} engines ${JSON.stringify(range)} refuses Node ${v}`);
  });
}

test(`every locked package admits every Node that package.json claims (${claimed})`, () => {
  const versions = versionsOf(claimed);
  assert.ok(versions.length >= 2, `no versions read from ${claimed}`);
  assert.deepEqual(refusals(lock.packages, versions, EXCEPTIONS), []);
});

test('each exception is still needed, and better-sqlite3-13 stays optional', () => {
  const versions = versionsOf(claimed);
  for (const name of Object.keys(EXCEPTIONS)) {
    const info = lock.packages[`node_modules/${name}`];
    assert.ok(info, `${name} is no longer in package-lock.json: drop its exception`);
    const refused = refusals({ [`node_modules/${name}`]: info }, versions, {});
    assert.ok(refused.length > 0, `${name} now admits every claimed Node: drop its exception`);
  }
  assert.equal(lock.packages['node_modules/better-sqlite3-13']?.optional, true);
});

test('the check does fail: a planted package that needs Node 22 is reported', () => {
  const planted = { 'node_modules/a/node_modules/needs22': { version: '1.0.0', engines: { node: '>=22' } } };
  assert.deepEqual(refusals(planted, versionsOf('^20.19.0 || ^22.12.0'), {}), [
    'needs22@1.0.0 engines ">=22" refuses Node 20.19.0',
    'needs22@1.0.0 engines ">=22" refuses Node 20.999.999',
  ]);
});
