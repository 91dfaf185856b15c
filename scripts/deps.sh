#!/usr/bin/env bash
# Installs, with apt-get, whatever ring needs to build and test that is not there yet.
# Usage: scripts/deps.sh [build|test]   (test adds clang, clang-format and the fuzz runtime,
# and for k8s/: buildah, dnsmasq, Node.js and kubectl)
set -euo pipefail
want=(build-essential cmake pkg-config libuv1-dev libxxhash-dev libmsgpack-dev libsodium-dev
      libcriterion-dev libhttp-parser-dev curl)
if [ "${1:-build}" = test ]; then
    want+=(clang clang-format libclang-rt-dev binutils python3 iproute2 iptables valgrind)
    # The local API's cluster test talks to ringd through a real msgpack client library too.
    want+=(python3-msgpack)
    # promtool, which Debian ships in the prometheus package, checks /metrics in the cluster
    # suite (the test skips without it); only where the package exists.
    if ! command -v promtool >/dev/null && apt-cache show prometheus >/dev/null 2>&1; then
        want+=(prometheus)
    fi
    # k8s/: the image build (buildah), the pod-like test's cluster DNS (dnsmasq-base: the
    # binary without the system service), the manifest checks (Node.js with its npm).
    want+=(buildah dnsmasq-base)
    command -v node >/dev/null && command -v npm >/dev/null || want+=(nodejs npm)
    # Any kubectl renders k8s/ (`kubectl kustomize`); Debian's kubernetes-client is the
    # fallback (its 1.20 kustomize renders these manifests the same).
    command -v kubectl >/dev/null || want+=(kubernetes-client)
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
