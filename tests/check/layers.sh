#!/usr/bin/env bash
# ringd's subsystems depend one way (docs/design.md, "ringd"): lib <- node <- {api, admin,
# proxy, health} <- main.c, and ctl (ringctl, the C client) <- lib. A file may include headers of its
# own folder and of the folders below it, never a sibling's (api, admin and proxy do not know
# each other) and never an upper one's. Headers are named bare ("route.h"); each name lives
# in exactly one folder, which this script also checks.
# Usage: layers.sh RINGD_DIR. Prints every violation; exit 1 if there is one.
set -u
ringd="${1:?usage: layers.sh RINGD_DIR}"
declare -A allowed=(
    [lib]=""
    [node]="lib"
    [api]="node lib"
    [admin]="node lib"
    [proxy]="node lib"
    [health]="node lib"
    [ctl]="lib"
    [main]="api admin proxy health node lib"
)
status=0
declare -A home=()
for h in "$ringd"/*/*.h; do
    name=$(basename "$h")
    dir=$(basename "$(dirname "$h")")
    if [ -n "${home[$name]:-}" ]; then
        echo "layers: $name is in both ${home[$name]}/ and $dir/"
        status=1
    fi
    home[$name]=$dir
done
for f in "$ringd"/main.c "$ringd"/*/*.c "$ringd"/*/*.h; do
    [ -e "$f" ] || continue
    dir=$(basename "$(dirname "$f")")
    [ "$f" = "$ringd/main.c" ] && dir=main
    if [ -z "${allowed[$dir]+set}" ]; then
        echo "layers: $f is in a folder with no place in the layering: add it to layers.sh"
        status=1
        continue
    fi
    while IFS= read -r inc; do
        to="${home[$inc]:-}"
        [ -z "$to" ] || [ "$to" = "$dir" ] && continue
        case " ${allowed[$dir]} " in
        *" $to "*) ;;
        *)
            echo "layers: ${f#"$ringd"/} includes $inc from $to/: $dir/ may use only: ${allowed[$dir]:-nothing}"
            status=1
            ;;
        esac
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done
# The node does not hold the subsystems' state either (main.c keeps their handles): no file
# of node/ or lib/ names a subsystem's struct, not even as an opaque pointer.
for f in "$ringd"/node/*.[ch] "$ringd"/lib/*.[ch]; do
    [ -e "$f" ] || continue
    grep -nE 'struct ringd_(api|admin|proxy|mux|health)\b' "$f" | while IFS= read -r hit; do
        echo "layers: ${f#"$ringd"/}:$hit: the node must not know a subsystem's state"
    done | grep . && status=1
done
exit $status
