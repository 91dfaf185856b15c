#!/usr/bin/env bash
# Builds a release tree (assertions off) and runs the benchmarks, printing their JSON:
# bench_ring, then bench_api (ringd's local API against redis-server, which it installs with
# apt-get when missing, as scripts/deps.sh installs the build's packages).
# Usage: scripts/bench.sh [bench_ring options]   e.g. --members 1000 --quick
#        env BENCH_API_ARGS (default --quick when bench_ring gets --quick), BENCH_API=0 skips it
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
if [ "${BENCH_API:-1}" != 0 ] && ! { command -v redis-server && command -v redis-benchmark; } >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bench: need root to install redis (or: apt-get install -y redis-server redis-tools)" >&2
        exit 1
    fi
    echo "bench: installing redis-server redis-tools" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq redis-server redis-tools >/dev/null
fi
cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release -DRING_ASSERTS=OFF >/dev/null
cmake --build build-rel -j"$(nproc 2>/dev/null || echo 2)" --target bench_ring bench_api >/dev/null
./build-rel/tests/bench_ring "$@"
api_args="${BENCH_API_ARGS:-}"
case " $* " in *" --quick "*) api_args="${BENCH_API_ARGS:---quick}" ;; esac
[ "${BENCH_API:-1}" = 0 ] || ./build-rel/tests/bench_api $api_args
