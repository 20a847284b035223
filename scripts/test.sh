#!/usr/bin/env bash
# The whole test suite: lint, type-check, unit tests, conformance suites and end-to-end tests
# against real servers that the tests start themselves (dockerd, and where present Podman,
# nginx, radosgw). Needs root (dockerd). Run as `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --all
npx biome check .
npx tsc -p test --noEmit
export DOCKER_API_VERSION=1.41  # the docker CLI on some machines is newer than Debian's dockerd
files=$(ls packages/*/test/*.test.ts test/e2e/*.test.ts)
# Tests import the packages' sources (the "source" export condition), so an edit is tested without a rebuild;
# the CLI tests run the built bin, as users do.
exec node --conditions=source --import tsx --test $files
