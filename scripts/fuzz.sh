#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, RING_ASSERT on) and runs each for RUNS
# executions over its seed corpus in tests/fuzz/corpus/<target>/. New inputs go to
# build-fuzz/corpus/, so the tree stays clean.
# Usage: scripts/fuzz.sh [RUNS] [TARGET...]   (default 20000, all)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20000}"
shift || true
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DRING_FUZZ=ON -DRING_TESTS=OFF \
      -DRING_ASSERTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRING_WERROR=ON >/dev/null
cmake --build build-fuzz -j"$jobs" >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for bin in build-fuzz/tests/fuzz_*; do targets+=("$(basename "$bin")"); done
fi
for t in "${targets[@]}"; do
    seeds="tests/fuzz/corpus/$t"
    work="build-fuzz/corpus/$t"
    mkdir -p "$work" "$seeds"
    out=$(ASAN_OPTIONS=detect_leaks=1 "build-fuzz/tests/$t" -runs="$runs" -max_len=65536 \
          -print_final_stats=1 "$work" "$seeds" 2>&1) || { echo "$out" | tail -40; echo "fuzz: $t FAILED"; exit 1; }
    execs=$(echo "$out" | sed -n 's/^stat::number_of_executed_units: *//p')
    echo "fuzz: $t ok, $execs executions"
done
