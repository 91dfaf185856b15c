#!/usr/bin/env bash
# libring stays sans-I/O (docs/design.md): no clock, rand, socket, getenv or libuv, checked
# twice: in the sources, and in the undefined symbols of the built archive.
set -u
src="${1:?usage: sans_io.sh SOURCE_DIR [LIBRING_ARCHIVE]}"
archive="${2:-}"
status=0
pattern='\b(clock_gettime|gettimeofday|time|clock|rand|srand|random|srandom|drand48|getrandom|socket|bind|connect|sendto|recvfrom|send|recv|getenv|secure_getenv|sleep|usleep|nanosleep|uv_[a-z_]+)[[:space:]]*\(|#[[:space:]]*include[[:space:]]*[<"](uv\.h|sys/socket\.h|time\.h|sys/time\.h)'
hits=$(grep -rnE "$pattern" "$src/libring" --include='*.c' --include='*.h' | grep -vE ':[0-9]+:[[:space:]]*(/?\*|//)')
if [ -n "$hits" ]; then
    echo "libring must not do I/O, read clocks or call rand; found:"
    echo "$hits"
    status=1
fi
if [ -n "$archive" ]; then
    syms=$(nm -u "$archive" 2>/dev/null | awk '{print $NF}' | grep -E '^(clock_gettime|gettimeofday|time|clock|rand|srand|random|getrandom|socket|bind|connect|sendto|recvfrom|send|recv|getenv|secure_getenv|sleep|usleep|nanosleep|uv_.*)$' | sort -u)
    if [ -n "$syms" ]; then
        echo "libring's archive calls I/O, clock or rand functions:"
        echo "$syms"
        status=1
    fi
fi
exit $status
