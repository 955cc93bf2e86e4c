#!/usr/bin/env bash
# Build zvh-federation with AddressSanitizer + UBSan and run the whole test
# suite (unit tests and real daemons over CURVE on loopback) with CTest.
# Usage: scripts/test.sh [ctest arguments, e.g. -R handover]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

BUILD=${ZVH_TEST_BUILD_DIR:-build-test}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DZVH_SANITIZE=ON -DZVH_FAULT_POINTS=ON >/dev/null
cmake --build "$BUILD" -j "$(nproc)"

# Leak checks stay on for our code; CZMQ's global context is torn down atexit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$BUILD"
ctest --output-on-failure --timeout 900 "$@"
