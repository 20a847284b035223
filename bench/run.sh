#!/usr/bin/env bash
# The benchmark: dogestry against the engine's own floors and skopeo, side by side, in one run.
# As root on Debian: installs what it needs, then writes bench/RESULTS.md.
#   bash bench/run.sh            # BENCH_RUNS=3 by default; BENCH_DRIVER=overlay2|vfs
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --all
command -v /usr/bin/time >/dev/null 2>&1 || { apt-get install -y -qq --no-install-recommends time >/dev/null; }
# clang builds bench/lz4-kernel.c (the lz4 kernels natively: bench/codecs.ts).
command -v clang >/dev/null 2>&1 || { apt-get install -y -qq --no-install-recommends clang >/dev/null; }
export DOCKER_API_VERSION=1.41
# The Node dogestry runs on (setup.sh put it first on its own PATH, not on ours).
PATH="$(bash scripts/node.sh 24):$PATH"
export PATH
exec node --import tsx bench/bench.ts "$@"
