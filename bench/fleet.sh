#!/usr/bin/env bash
# The fleet beside the deploy machine: writes bench/FLEET.md. As root on Debian.
#   bash bench/fleet.sh            # BENCH_RUNS=3 by default
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --all
export DOCKER_API_VERSION=1.41
PATH="$(bash scripts/node.sh 24):$PATH"
export PATH
exec node --import tsx bench/fleet.ts "$@"
