#!/usr/bin/env bash
# ringd's one error family (docs/style.md, "Errors, memory, limits"; ringd/lib/err.h): a
# function that fails returns a negative errno, never -1 (an index or a count may still say
# "none" with -1 in an expression), and libring's RING_E* codes appear
# only where ringd reads a libring call's result (a comparison, a case label, an argument
# handed back to libring) or names an error on the wire (the RPC and admin error packers, and
# lines marked "wire" in a comment). Prints every other use; exit 1 if there is one.
# Usage: errors.sh RINGD_DIR.
set -u
ringd="${1:?usage: errors.sh RINGD_DIR}"
status=0
minus_one=$(grep -rnE --include='*.c' --include='*.h' \
    'return -1;|return \(-1\);|return .*\? *0 *: *-1;|return .*\? *-1 *: *0;' "$ringd")
if [ -n "$minus_one" ]; then
    echo "errors: -1 as a result (return a negative errno: UV_E*, or -E* from <errno.h>):"
    echo "$minus_one"
    status=1
fi
stray=$(grep -rnE --include='*.c' --include='*.h' 'RING_E[A-Z0-9]+' "$ringd" |
    grep -vE '/lib/err\.[ch]:' |
    grep -vE '^[^:]+:[0-9]+: *(/\*|\*|//)' |
    grep -vE '(==|!=) *RING_E[A-Z0-9]+|RING_E[A-Z0-9]+ *(==|!=)|case RING_E[A-Z0-9]+:' |
    grep -vE 'rpc_pack_error|json_error|ring_err_name|ring_strerror|ringd_err_to_ring' |
    grep -vE '/\*.*\b(wire|libring)\b.*\*/')
if [ -n "$stray" ]; then
    echo "errors: RING_E* outside a libring call's result or the wire (ringd speaks errno;"
    echo "convert with ringd_err_from_ring(), or mark a wire code's line /* wire */):"
    echo "$stray"
    status=1
fi
exit $status
