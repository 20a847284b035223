#!/usr/bin/env bash
# The fleet beside the deploy machine: writes bench/FLEET.md. As root on Debian.
#   bash bench/fleet.sh            # BENCH_RUNS=3 by default
exec bash "$(dirname "$0")/ts.sh" fleet "$@"
