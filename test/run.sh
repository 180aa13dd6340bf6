#!/usr/bin/env bash
# Runs every test file (Node 20 does not expand globs itself). Files run one
# at a time: several of them attach to the same kernel tracepoints. A test
# that hangs fails after 5 minutes instead of holding CI to its limit.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx --test --test-concurrency=1 --test-timeout=300000 --test-reporter=spec test/*.test.ts "$@"
