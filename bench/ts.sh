#!/usr/bin/env bash
# Run one of the benchmarks written in TypeScript (bench/NAME.ts) as root on Debian, after
# installing what they need: bash bench/ts.sh NAME [args]. registry.sh and fleet.sh call it.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1
shift
bash scripts/setup.sh --all
export DOCKER_API_VERSION=1.41
PATH="$(bash scripts/node.sh 24):$PATH"
export PATH
exec node --import tsx "bench/$name.ts" "$@"
