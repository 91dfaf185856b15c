#!/usr/bin/env bash
# Installs, with apt-get, whatever ring needs to build and test that is not there yet.
# Usage: scripts/deps.sh [build|test]   (test adds clang, clang-format and the fuzz runtime)
set -euo pipefail
want=(build-essential cmake pkg-config libuv1-dev libxxhash-dev libmsgpack-dev libsodium-dev
      libcriterion-dev libhttp-parser-dev)
if [ "${1:-build}" = test ]; then
    want+=(clang clang-format libclang-rt-dev binutils python3 iproute2 iptables valgrind)
fi
missing=()
for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: need root to install packages (or install them yourself: apt-get install -y ${missing[*]})" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq "${missing[@]}" >/dev/null
