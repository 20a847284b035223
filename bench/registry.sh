#!/usr/bin/env bash
# The registry face beside the distribution registry: writes bench/REGISTRY.md. As root on Debian.
#   bash bench/registry.sh            # BENCH_RUNS=3 by default
exec bash "$(dirname "$0")/ts.sh" registry "$@"
