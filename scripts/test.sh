#!/usr/bin/env bash
# The test command (`npm test`): makes sure ActiveMQ and PostgreSQL are there,
# builds, then runs unit, contract and integration tests with node's runner.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-test-services.sh
npm run --silent build
# node_modules is installed per Node (better-sqlite3 12 is built for one Node ABI; the Node >= 22 build is
# an optional package that npm adds only there): one line that says so, not a failure in every SQLite test.
if ! err=$(node --input-type=module -e "
  try { const { sqliteDriver } = await import('./dist/store/sqlite-driver.js'); new (sqliteDriver())(':memory:').close(); }
  catch (err) { console.error(String(err.message).replace(/\s+/g, ' ')); process.exit(1); }" 2>&1); then
  echo "sqlite: the SQLite driver does not load on Node $(node --version): $err" >&2
  exit 1
fi
echo "sqlite: ok (Node $(node --version))"
# The relay and CLI processes the tests start run this fresh build (as bin/swf-relay.js does), not the
# sources through tsx: the same code, started in half the time. A single test file run by hand uses tsx.
export SWF_RELAY_TEST_BUILT=1
# Unit tests first: they need no server and fail fast. Two files at a time (node's default on two
# cores is one): most of the suite's time is outages and failovers that the fault tests wait through,
# with the machine about half busy. Each file runs its own private servers on free ports, or its own
# database and keys on the shared PostgreSQL and Redis. 585 s instead of 900 s on the 2-core machine.
exec node --import tsx --test --test-concurrency=2 --test-timeout=300000 \
  test/unit/*.test.ts test/contract/*.test.ts test/integration/*.test.ts test/browser/*.test.ts "$@"
