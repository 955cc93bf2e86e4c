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
# Build directory: $ZVH_BENCH_BUILD (default build-bench). Exit 0 when every
# benchmark ran, whatever the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${ZVH_BENCH_BUILD:-build-bench}

scripts/install-deps.sh
# nats-server, libnats-dev and openssl, until scripts/install-deps.sh lists them
if ! command -v nats-server >/dev/null 2>&1 || ! pkg-config --exists libnats \
   || ! command -v openssl >/dev/null 2>&1; then
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq \
        --no-install-recommends nats-server libnats-dev openssl </dev/null
fi

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target zvhd zvhctl zvh_static
if grep -Eq '^[[:space:]]*add_subdirectory[[:space:]]*\([[:space:]]*bench[[:space:]]*\)' CMakeLists.txt; then
    cmake --build "$BUILD" -j "$(nproc)" --target bench_programs
    BENCH_DIR=$BUILD/bench
else
    # Not part of the main build (yet): build bench/ on its own against it
    cmake -S bench -B "$BUILD/bench-standalone" -DCMAKE_BUILD_TYPE=Release \
        -DZVH_BUILD_DIR="$PWD/$BUILD" >/dev/null
    cmake --build "$BUILD/bench-standalone" -j "$(nproc)"
    BENCH_DIR=$BUILD/bench-standalone
fi

exec python3 bench/bench.py --build-dir "$BUILD" --bench-dir "$BENCH_DIR" "$@"
