#!/usr/bin/env bash
# Builds a release tree (assertions off) and runs the benchmarks, printing their JSON.
# Usage: scripts/bench.sh [bench_ring options]   e.g. --members 1000 --quick
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release -DRING_ASSERTS=OFF >/dev/null
cmake --build build-rel -j"$(nproc 2>/dev/null || echo 2)" --target bench_ring >/dev/null
exec ./build-rel/tests/bench_ring "$@"
