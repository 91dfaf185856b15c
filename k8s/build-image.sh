#!/usr/bin/env bash
# Builds ring's container image with buildah: the static ringd and ringctl (a RING_STATIC
# build in build-static/), a build context laid out as k8s/Containerfile expects, then
# `buildah bud`. No daemon and no registry: the base is scratch.
#
# Usage: k8s/build-image.sh [--check] [NAME[:TAG]]      (default localhost/ring:VERSION)
#   --check   then inspect the image (entrypoint, user, exposed ports) and run the binaries
#             from a container of it, as its user, with nothing but the image's files
# Environment:
#   RING_BUILDAH_ROOT  keep buildah's images under this directory (vfs driver) instead of
#                      the default storage; the test suite uses build-static/buildah
#   RING_STATIC_BUILD  the static build directory [build-static]
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
if [ "${1:-}" = --check ]; then
    check=1
    shift
fi
version=$(sed -n 's/^project(ring VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
image=${1:-localhost/ring:$version}
build=${RING_STATIC_BUILD:-build-static}
jobs=$(nproc 2>/dev/null || echo 2)

say() { printf 'image: %s\n' "$*"; }
fail() {
    printf 'image: FAIL: %s\n' "$*" >&2
    exit 1
}
command -v buildah >/dev/null || fail "buildah not found: apt-get install -y buildah"

say "static build in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRING_STATIC=ON >/dev/null
# The linker warns that static getaddrinfo/getpwuid_r want glibc's shared NSS modules at run
# time; the files and dns services are built into libc.a, which is all ringd uses (see
# cmake/static.cmake), so the warning is filtered rather than repeated on every build.
cmake --build "$build" -j"$jobs" --target ringd ringctl 2>&1 |
    grep -v -e 'in statically linked applications requires at runtime' -e 'in function `uv__' \
        -e '^\[' || true
for bin in ringd ringctl; do
    [ -x "$build/ringd/$bin" ] || fail "$build/ringd/$bin was not built"
    if readelf -l "$build/ringd/$bin" | grep -q 'INTERP'; then
        fail "$bin is dynamically linked (it asks for a program interpreter)"
    fi
done

ctx="$build/image"
rm -rf "$ctx"
mkdir -p "$ctx/run/ringd"
cp -r k8s/rootfs/etc "$ctx/etc"
for bin in ringd ringctl; do
    strip -o "$ctx/$bin" "$build/ringd/$bin"
    chmod 0555 "$ctx/$bin"
done
chmod 0755 "$ctx/run/ringd"
chmod 0644 "$ctx"/etc/*

storage=()
if [ -n "${RING_BUILDAH_ROOT:-}" ]; then
    storage=(--root "$RING_BUILDAH_ROOT/root" --runroot "$RING_BUILDAH_ROOT/runroot"
             --storage-driver vfs)
fi
say "buildah bud -> $image"
# A rebuild replaces the image of the same name instead of leaving the old one dangling.
buildah "${storage[@]}" rmi --force "$image" >/dev/null 2>&1 || true
buildah "${storage[@]}" bud --quiet --layers=false --build-arg "VERSION=$version" \
    -f k8s/Containerfile -t "$image" "$ctx" >/dev/null
size=$(buildah "${storage[@]}" images --format '{{.Size}}' "$image" | head -1)
say "built $image ($size; ringd $(stat -c %s "$ctx/ringd") bytes, ringctl $(stat -c %s "$ctx/ringctl") bytes)"
[ "$check" = 1 ] || exit 0

# --check: what the image says about itself ...
config=$(buildah "${storage[@]}" inspect --type image "$image")
python3 - "$config" <<'PY' || fail "image config"
import json, sys
c = json.loads(sys.argv[1])["OCIv1"]["config"]
def want(what, got, expected):
    if got != expected:
        sys.exit(f"image: {what} is {got!r}, expected {expected!r}")
want("entrypoint", c.get("Entrypoint"), ["/usr/local/bin/ringd"])
want("user", c.get("User"), "65532:65532")
want("exposed ports", sorted(c.get("ExposedPorts", {})), ["7946/tcp", "7946/udp", "7947/tcp"])
print("image: entrypoint", c["Entrypoint"], "user", c["User"], "ports", sorted(c["ExposedPorts"]))
PY
# ... and what is in it: the files of a container of the image, and the binaries run there
# (chroot into the container's root, as the image's user) with nothing else to lean on.
ctr=$(buildah "${storage[@]}" from --quiet "$image")
cleanup() { buildah "${storage[@]}" rm "$ctr" >/dev/null 2>&1 || true; }
trap cleanup EXIT
root=$(buildah "${storage[@]}" mount "$ctr")
files=$(cd "$root" && find . -mindepth 1 \( -type f -o -type d \) | sort | tr '\n' ' ')
say "files: $files"
[ ! -e "$root/bin/sh" ] || fail "the image has a shell"
owner=$(stat -c %u:%g "$root/run/ringd")
[ "$owner" = 65532:65532 ] || fail "/run/ringd belongs to $owner, not the image's user"
run() { chroot --userspec=65532:65532 "$root" "$@"; }
out=$(run /usr/local/bin/ringd --version) || fail "ringd --version in the image"
say "in the image, as 65532: ringd --version: $out"
run /usr/local/bin/ringctl --help >/dev/null 2>&1 || [ $? -eq 2 ] || fail "ringctl in the image"
# ringctl with no ringd: exit 1 and a line naming the socket, not a crash.
if run /usr/local/bin/ringctl members >/dev/null 2>&1; then
    fail "ringctl members succeeded with no ringd running"
elif [ $? -ne 1 ]; then
    fail "ringctl members without ringd did not exit 1"
fi
say "in the image: ringctl runs (members without a ringd: exit 1)"
# The host's kernel runs the static binaries too (the same files, outside the image).
"$build/ringd/ringd" --version >/dev/null || fail "the static ringd does not run on the host"
"$build/ringd/ringctl" --help >/dev/null 2>&1 || [ $? -eq 2 ] || fail "static ringctl on the host"
say "check passed"
