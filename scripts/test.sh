#!/usr/bin/env bash
# The whole test suite: lint, type-check, unit tests, conformance suites and end-to-end tests
# against real servers that the tests start themselves (dockerd, and where present Podman,
# nginx, radosgw). Needs root (dockerd). Run as `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --all
PATH="$(bash scripts/node.sh 24):$PATH"
export PATH
npx biome check .
bash scripts/build-native.sh --check  # the committed C builds (lz4: WebAssembly, linux-x64; sha256: linux-x64) are what their sources build to
npx tsc -p test --noEmit
export DOCKER_API_VERSION=1.41  # the docker CLI on some machines is newer than Debian's dockerd
files=$(ls packages/*/test/*.test.ts test/e2e/*.test.ts)
# Tests import the packages' sources (the "source" export condition), so an edit is tested without a rebuild;
# the CLI tests run the built bin, as users do. Everything runs on Node 24; the unit tests again on 22.
echo "test: node $(node --version)"
status=0
node --conditions=source --import tsx --test $files || status=$?
node22="$(bash scripts/node.sh 22)/node"
echo "test: unit tests on node $("$node22" --version)"
"$node22" --conditions=source --import tsx --test packages/*/test/*.test.ts || status=$?
exit $status
