#!/usr/bin/env bash
# The test command (`npm test`): makes sure ActiveMQ and PostgreSQL are there,
# builds, then runs unit, contract and integration tests with node's runner.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-test-services.sh
npm run --silent build
# Unit tests first: they need no server and fail fast.
exec node --import tsx --test --test-timeout=300000 \
  test/unit/*.test.ts test/contract/*.test.ts test/integration/*.test.ts test/browser/*.test.ts "$@"
