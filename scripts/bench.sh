#!/usr/bin/env bash
# Builds a release tree (assertions off) and runs the benchmarks, printing their JSON:
# bench_ring, then bench_api (ringd's local API against redis-server), and with `proxy` the
# forwarding proxy against nginx (bench_proxy, driven by wrk). Tools a benchmark needs are
# installed with apt-get when missing, as scripts/deps.sh installs the build's packages.
# Usage: scripts/bench.sh [bench_ring options]          e.g. --members 1000 --quick
#        scripts/bench.sh proxy [bench_proxy options]    e.g. --quick, --json, --pin
#        env BENCH_API_ARGS (default --quick when bench_ring gets --quick), BENCH_API=0 skips it;
#        BENCH_PROXY=1 runs bench_proxy --json (BENCH_PROXY_ARGS) after bench_api
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build

# install_missing COMMAND PACKAGE... : installs the packages when COMMAND is not found.
install_missing() {
    local cmd=$1
    shift
    PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "bench: need root to install $* (or: apt-get install -y $*)" >&2
        exit 1
    fi
    echo "bench: installing $*" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "$@" >/dev/null
}

proxy_only=0
if [ "${1:-}" = proxy ]; then
    proxy_only=1
    shift
fi
run_proxy=$proxy_only
[ "${BENCH_PROXY:-0}" = 1 ] && run_proxy=1
run_api=1
{ [ "${BENCH_API:-1}" = 0 ] || [ $proxy_only = 1 ]; } && run_api=0

if [ $run_api = 1 ]; then
    install_missing redis-server redis-server redis-tools
    install_missing redis-benchmark redis-server redis-tools
fi
if [ $run_proxy = 1 ]; then
    install_missing wrk wrk
    install_missing nginx nginx
fi
targets=(bench_ring bench_api)
[ $run_proxy = 1 ] && targets+=(bench_proxy)
cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release -DRING_ASSERTS=OFF >/dev/null
cmake --build build-rel -j"$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}" >/dev/null

# nginx lives in /usr/sbin, which a non-root PATH may lack; a later --nginx overrides this.
nginx_bin=$(PATH="$PATH:/usr/sbin:/sbin" command -v nginx || echo nginx)
if [ $proxy_only = 1 ]; then
    exec ./build-rel/tests/bench_proxy --nginx "$nginx_bin" "$@"
fi
./build-rel/tests/bench_ring "$@"
api_args="${BENCH_API_ARGS:-}"
proxy_args="${BENCH_PROXY_ARGS:-}"
case " $* " in *" --quick "*)
    api_args="${BENCH_API_ARGS:---quick}"
    proxy_args="${BENCH_PROXY_ARGS:---quick}" ;;
esac
[ $run_api = 0 ] || ./build-rel/tests/bench_api $api_args
[ $run_proxy = 0 ] || ./build-rel/tests/bench_proxy --json --nginx "$nginx_bin" $proxy_args
