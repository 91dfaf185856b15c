#!/usr/bin/env bash
# The install check: `cmake --install` of a built tree into a temp prefix, then what a user of
# the prefix would do: run the binaries, compile tests/install/client.c against libring with
# `pkg-config --cflags --libs libring` (libring.so) and again statically (`pkg-config
# --static`, libring.a), and run both. The prefix is removed at the end.
# Usage: tests/install/check.sh [BUILD_DIR]   (default build; ringd, ringctl, ringsim and
#        libring built in it)
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}"
prefix=$(mktemp -d /tmp/ring-install-XXXXXX)
trap 'rm -rf "$prefix"' EXIT
fail() { echo "install check: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >/dev/null
# lib/ here; lib64/ or lib/<multiarch>/ where GNUInstallDirs says so
pc=$(find "$prefix" -name libring.pc -path '*/pkgconfig/*' | head -1)
[ -n "$pc" ] || fail "no libring.pc in the prefix"
libdir=$(dirname "$(dirname "$pc")")
for f in bin/ringd bin/ringctl bin/ringsim include/ring/hashring.h include/ring/rpc.h \
         share/doc/ring/LICENSE "${libdir#"$prefix"/}/libring.a" "${libdir#"$prefix"/}/libring.so"; do
    [ -e "$prefix/$f" ] || fail "missing $f in the prefix"
done
"$prefix/bin/ringd" --version >/dev/null || fail "installed ringd --version failed"
"$prefix/bin/ringctl" --help >/dev/null || fail "installed ringctl --help failed"
"$prefix/bin/ringsim" --nodes 10 --scenario kill --duration 10s >/dev/null ||
    fail "installed ringsim failed"

export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pkg-config --exists libring || fail "pkg-config does not find libring"
if pkg-config --static --libs libring | grep -qw -- '-luv'; then
    fail "libring.pc pulls in libuv"
fi
cc=${CC:-cc}
src=tests/install/client.c

# shellcheck disable=SC2046 # pkg-config's output is a list of flags
"$cc" -std=c11 -Wall -Wextra -Werror -o "$prefix/client" "$src" \
    $(pkg-config --cflags --libs libring)
LD_LIBRARY_PATH="$libdir" "$prefix/client" >"$prefix/client.out" ||
    { cat "$prefix/client.out"; fail "the client linked against libring.so failed"; }

static_libs=()
for flag in $(pkg-config --static --libs libring); do
    [ "$flag" = -lring ] || static_libs+=("$flag")
done
# shellcheck disable=SC2046
"$cc" -std=c11 -Wall -Wextra -Werror -o "$prefix/client-static" "$src" \
    $(pkg-config --cflags libring) "$libdir/libring.a" "${static_libs[@]}"
"$prefix/client-static" >"$prefix/client-static.out" ||
    { cat "$prefix/client-static.out"; fail "the client linked against libring.a failed"; }
cmp -s "$prefix/client.out" "$prefix/client-static.out" ||
    fail "libring.so and libring.a answer differently"

head -1 "$prefix/client.out"
echo "install check: ok ($(pkg-config --modversion libring); bin, include/ring, libring.a," \
     "libring.so, libring.pc)"
