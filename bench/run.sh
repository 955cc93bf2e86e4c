#!/usr/bin/env bash
# Benchmarks against NATS, in one command: build Release (zvhd, zvhctl and the
# bench programs) and run bench/bench.py, which starts local federations of
# zvhd and of nats-server side by side and prints one table.
#
#   bench/run.sh              the full run (under ~10 minutes on 2 cores)
#   bench/run.sh --smoke      tiny sizes, to check it all runs (CI)
#   bench/run.sh --long       also the 200,000-case run (8-16 minutes more)
#   bench/run.sh --help       every option (sizes, NATS variants, --json, --markdown)
#
# The same as `cmake --build B --target bench` (ZVH_BENCH_ARGS for options).
# Build directory: $ZVH_BENCH_BUILD (default build-bench). Exit 0 when every
# benchmark ran, whatever the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${ZVH_BENCH_BUILD:-build-bench}

scripts/install-deps.sh
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DZVH_BENCH=ON >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target zvhd zvhctl bench_programs
exec python3 bench/bench.py --build-dir "$BUILD" --bench-dir "$BUILD/bench" "$@"
