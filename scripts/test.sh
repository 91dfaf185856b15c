#!/usr/bin/env bash
# Builds ring and runs the whole default test suite: the Criterion suite in a normal build
# and again under AddressSanitizer + UndefinedBehaviorSanitizer, then a short run of every
# fuzz target. Long fuzzing and full benchmarks have their own scripts (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
scripts/deps.sh test

step() { printf '\n== %s\n' "$*"; }

step "build (RelWithDebInfo, assertions on)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRING_WERROR=ON >/dev/null
cmake --build build -j"$jobs" >/dev/null
step "unit tests"
./build/tests/ring_tests --jobs "$jobs"
step "install: cmake --install into a temp prefix, a pkg-config client built against it"
tests/install/check.sh build
step "cluster tests (real ringd processes on 127.0.0.1)"
# The JavaScript msgpack client the local API test drives (pinned by its package-lock.json).
tests/tools/node_client/install.sh
./build/tests/ring_cluster_tests --jobs "$jobs"

# The short fault scenarios (1, 3, 4, 7, 8 of tests/fault; tests/fault/run has all, at full
# length) need root for their network namespaces; the valgrind leak check of ringd does not.
# Together under two minutes.
fault_short='@(fault_partition|fault_kill|fault_pause|fault_wrongkey|fault_leases|leaks)/*'
if [ "$(id -u)" -eq 0 ]; then
    step "fault scenarios, short (ringd in network namespaces) + valgrind leak check"
    trap tests/fault/sweep.sh EXIT
    ./build/tests/ring_fault_tests --jobs 1 --filter "$fault_short"
else
    step "valgrind leak check (fault scenarios SKIPPED: they need root for network namespaces)"
    ./build/tests/ring_fault_tests --jobs 1 --filter 'leaks/*'
fi

step "container image: static ringd/ringctl, buildah, inspect (k8s/build-image.sh --check)"
RING_BUILDAH_ROOT=build-static/buildah k8s/build-image.sh --check
step "Kubernetes manifests: render, schemas, Pod Security, ring checks (k8s/validate.sh)"
k8s/validate.sh
step "pod-like end-to-end test (network namespaces as pods, dnsmasq as the cluster DNS)"
cmake --build build-static -j"$jobs" --target ring_k8s_tests >/dev/null
./build-static/tests/ring_k8s_tests --jobs 1

asan_env() {
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$@"
}
# The cluster suite's runner process leaks 48 bytes inside Criterion (tests/lsan.supp); the
# suppression matches any stack through Criterion, so it is used there only: the unit suite,
# where libring runs in-process, gets none, and every ringd checks its own leaks.
asan_cluster_env() {
    LSAN_OPTIONS=suppressions=tests/lsan.supp asan_env "$@"
}

step "build with ASan + UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRING_SANITIZE=ON -DRING_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
step "unit tests under ASan + UBSan"
# One test at a time: with two at once Criterion's runner itself sometimes keeps a 48-byte
# allocation to exit (seen with the long ringsim suites side by side), which LeakSanitizer
# reports; the unit suite gets no suppression (tests/lsan.supp says why).
asan_env \
    ./build-asan/tests/ring_tests --jobs 1
step "cluster tests under ASan + UBSan"
asan_cluster_env \
    ./build-asan/tests/ring_cluster_tests --jobs "$jobs"

step "fuzz targets, short runs"
scripts/fuzz.sh "${RING_FUZZ_RUNS:-20000}"
