#!/usr/bin/env bash
# Builds ring and runs the main job: a local cluster of ringd on loopback (5 nodes unless
# given another count, 1..8), each with its own gossip port, admin port and local API socket
# under a temp dir, one cluster key (ringctl keygen), and a forwarding proxy in front of its
# own small HTTP app (ring_testapp). It waits until every node agrees, prints the members and
# a few lookups, tells you how to poke at it with ringctl, and stays in the foreground. Ctrl-C
# makes every node leave gracefully (SIGTERM), waits for them, and removes the temp dir.
#
# Usage: scripts/run.sh [NODES]    env: RING_PORT_BASE (default 17946), RING_RUN_SECONDS (exit
#        after that many seconds instead of waiting for Ctrl-C; for scripts and CI)
set -euo pipefail
cd "$(dirname "$0")/.."
nodes="${1:-5}"
case "$nodes" in [1-8]) ;; *) echo "run.sh: NODES must be 1..8" >&2; exit 2 ;; esac
base="${RING_PORT_BASE:-17946}"

scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

ringd=build/ringd/ringd
ringctl=build/ringd/ringctl
app=build/tests/ring_testapp
dir=$(mktemp -d /tmp/ring-run-XXXXXX)
pids=()

stop() {
    trap - INT TERM EXIT
    echo
    echo "== stopping: every node leaves gracefully"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$dir"
    echo "== stopped; removed $dir"
}
trap stop INT TERM EXIT

# ringd gossips only with a cluster key: one fresh key for this local cluster.
"$ringctl" keygen -o "$dir/cluster.key"
# ringctl seals its peer queries (checksums) with it too.
export RINGD_KEYFILE="$dir/cluster.key"

echo "== starting $nodes ringd on 127.0.0.1 (gossip ports $base.., admin $((base + 100)).., proxy $((base + 200)).., apps $((base + 300)).., sockets and logs in $dir)"
for i in $(seq 0 $((nodes - 1))); do
    "$app" --listen "127.0.0.1:$((base + 300 + i))" --id "app$i" >"$dir/app$i.log" 2>&1 &
    pids+=($!)
    args=(--id "node$i" --bind "127.0.0.1:$((base + i))" --admin "127.0.0.1:$((base + 100 + i))"
          --socket "$dir/node$i.sock" --keyfile "$dir/cluster.key"
          --probe-interval 500ms --probe-timeout 250ms
          --label "zone=zone-$((i % 3))"
          --proxy "127.0.0.1:$((base + 200 + i))" --app "127.0.0.1:$((base + 300 + i))")
    [ "$i" -gt 0 ] && args+=(--join "127.0.0.1:$base")
    "$ringd" "${args[@]}" 2>"$dir/node$i.log" &
    pids+=($!)
done

# Wait until every node sees all of them and they agree on one ring (ringctl checksums asks
# each member over its gossip port; exit 0 means one group).
for _ in $(seq 100); do
    if [ -S "$dir/node0.sock" ] &&
       [ "$("$ringctl" --socket "$dir/node0.sock" stats --json 2>/dev/null |
            sed -n 's/.*"alive":\([0-9]*\).*/\1/p')" = "$nodes" ] &&
       "$ringctl" --socket "$dir/node0.sock" checksums >/dev/null 2>&1; then
        break
    fi
    sleep 0.1
done

echo
echo "== ringctl members"
"$ringctl" --socket "$dir/node0.sock" members
echo
echo "== ringctl checksums"
"$ringctl" --socket "$dir/node0.sock" checksums || true
echo
echo "== ringctl ring"
"$ringctl" --socket "$dir/node2.sock" ring 2>/dev/null || "$ringctl" --socket "$dir/node0.sock" ring
echo
echo "== lookups (every node gives the same owner)"
for key in user:1 user:2 cart:42 session:abc; do
    "$ringctl" --socket "$dir/node$((nodes - 1)).sock" lookup "$key" -n 2
done

echo
echo "== through node0's proxy: each request is answered by the app of its key's owner"
for key in user:1 user:2 cart:42 session:abc; do
    printf '%-12s ' "$key"
    curl -s -o /dev/null -D - -H "X-Ring-Key: $key" "127.0.0.1:$((base + 200))/" 2>/dev/null |
        tr -d '\r' | grep -iE '^x-(app-id|ring-owner):' | tr '\n' ' '
    echo
done

cat <<EOF2

== the cluster is running; poke at it from another terminal:
  $ringctl --socket $dir/node0.sock members
  $ringctl --socket $dir/node1.sock lookup user:42 --json
  $ringctl --socket $dir/node0.sock watch            # live ring changes
  $ringctl --socket $dir/node0.sock stats
  $ringctl --socket $dir/node0.sock --keyfile $dir/cluster.key checksums   # sealed peer queries
  $ringctl --socket $dir/node0.sock keys list                    # key fingerprints per node
  curl -s 127.0.0.1:$((base + 100))/metrics | grep ^ringd_members
  curl -s '127.0.0.1:$((base + 100))/v1/lookup?key=user:42'
  curl -si -H 'X-Ring-Key: user:42' 127.0.0.1:$((base + 200))/hello   # via node0's proxy
  kill -9 ${pids[$((2 * nodes - 1))]}     # node$((nodes - 1)): watch the others mark it faulty
  tail -f $dir/node0.log
Ctrl-C stops the cluster (each node leaves gracefully).
EOF2

if [ -n "${RING_RUN_SECONDS:-}" ]; then
    sleep "$RING_RUN_SECONDS"
else
    while true; do sleep 3600; done
fi
