#!/usr/bin/env bash
# The full-size ringsim runs behind BENCHMARKS.md's simulator tables (minutes, not seconds; the
# default test suite runs small versions of every scenario instead). Builds a Release tree
# with assertions off (build-rel) and prints one markdown table per target.
# Usage: scripts/sim.sh [quick|groups|leases|coldstart]   (quick: N up to 3,000 and a 2-minute loss
#        run; groups: only the sub-sharding table, flat against groups under 1%/min churn;
#        leases: only the exclusive-lease table, every scenario at N = 1,000 with 1,024
#        shards, about 10 minutes of CPU; RING_SIM_LEASE_N=200 for a quick one,
#        RING_SIM_LEASE_ONLY='kill|pause' for some rows; coldstart: only the cold-start table,
#        N = 1,000 and 3,000 starting at once through 3 seeds)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
command -v jq >/dev/null || { echo "sim.sh: needs jq (apt-get install -y jq)" >&2; exit 2; }
cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release -DRING_ASSERTS=OFF >/dev/null
cmake --build build-rel -j"$(nproc 2>/dev/null || echo 2)" --target ringsim >/dev/null
sim=./build-rel/sim/ringsim
sizes=(100 300 1000 3000 10000)
loss_duration=10m
det_seeds=500
if [ "${1:-}" = quick ]; then
    sizes=(100 300 1000 3000)
    loss_duration=2m
    det_seeds=100
fi

run() { echo "\$ ringsim $*" >&2; "$sim" --json "$@" || true; }

# Sub-sharding: flat against groups of 100 under 1% of nodes restarting per
# minute, same seed; then G = 1,000 at N = 100,000 (~185 KB per node: ~19 GB of RAM and about
# 20 minutes; RING_SIM_BIG_N=30000 for a smaller machine).
groups_table() {
    echo "### Sub-sharding: churn of 1% of nodes per minute, 60 s virtual, seed 1"
    echo
    echo "| N | G | bytes/node/s | msgs/node/s | exchange bytes/node/s | member-table bytes/node | death reaches group s (mean / p99) | rejoin reaches group s (mean / p99) | keys agreed (final / mean / min) | strict final / mean | wall s |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    local big_n="${RING_SIM_BIG_N:-100000}" big_g="${RING_SIM_BIG_G:-1000}"
    for spec in "10000 1" "10000 100" "$big_n $big_g"; do
        set -- $spec
        run --nodes "$1" --groups "$2" --scenario churn --churn 0.01 --duration 60s --seed 1 |
            jq -r --arg n "$1" --arg g "$2" '"| \($n) | \($g) | \(.bytes_per_node_per_s|round) | \(.msgs_per_node_per_s*100|round/100) | \(.exchange_bytes_per_node_per_s|round) | \(.member_table_total_bytes_per_node|round) | \(.death_reach_mean_s*100|round/100) / \(.death_reach_p99_s*100|round/100) | \(.rejoin_reach_mean_s*100|round/100) / \(.rejoin_reach_p99_s*100|round/100) | \(.key_agreement_final) / \(.key_agreement_mean*10000|round/10000) / \(.key_agreement_min) | \(.key_agreement_strict_final) / \(.key_agreement_strict_mean*10000|round/10000) | \(.wall_s|round) |"'
    done
}
if [ "${1:-}" = groups ]; then
    groups_table
    exit 0
fi

# Exclusive shard leases (proto/LEASES.md): every scenario at N nodes, 1,024 shards, clocks
# within +-1% (the leases' drift bound), seed 1. Gaps: how long a shard had no holder, after a
# release (planned) or after a kill or an expired lease (unplanned), in ms.
leases_table() {
    local n="${RING_SIM_LEASE_N:-1000}"
    echo "### Exclusive leases: N = $n, 1,024 shards, clock drift within 1%, seed 1"
    echo
    echo "| scenario | overlaps | planned gaps: n / p50 / p99 / max ms | unplanned gaps: n / p50 / p99 / max ms | held at the partition's end: side 0 / side 1 / both | no holder at the end | leases lost | lease msgs/node/s | CPU s |"
    echo "|---|---|---|---|---|---|---|---|---|"
    local specs=(
        "join|--scenario join --joiners 20 --duration 15s"
        "leave (10)|--scenario leave --kill 10 --duration 15s"
        "kill (20)|--scenario kill --kill 20 --duration 20s"
        "churn 10%/min|--scenario churn --churn 0.1 --duration 50s"
        "flap|--scenario flap --duration 45s"
        "pause 10 s|--scenario pause --duration 25s"
        "partition|--scenario partition --duration 35s"
        "one-way partition|--scenario partition --oneway --duration 35s"
        "loss 10%|--scenario loss --loss 0.1 --duration 20s"
    )
    for spec in "${specs[@]}"; do
        local name="${spec%%|*}" args="${spec#*|}"
        [[ "$name" =~ ${RING_SIM_LEASE_ONLY:-.} ]] || continue
        # shellcheck disable=SC2086
        run --nodes "$n" --exclusive --shards 1024 --seed 1 $args |
            jq -r --arg name "$name" 'def r: if . == null then "-" else (.*10|round/10|tostring) end;
                "| \($name) | \(.lease_overlaps) | \(.lease_planned_gaps) / \(.lease_planned_gap_p50_ms|r) / \(.lease_planned_gap_p99_ms|r) / \(.lease_planned_gap_max_ms|r) | \(.lease_unplanned_gaps) / \(.lease_unplanned_gap_p50_ms|r) / \(.lease_unplanned_gap_p99_ms|r) / \(.lease_unplanned_gap_max_ms|r) | \(if .lease_side0_held == null then "-" else "\(.lease_side0_held) / \(.lease_side1_held) / \(.lease_both_sides_held)" end) | \(.lease_unheld_end) | \(.lease_lost) | \(.lease_msgs_per_node_per_s|round) | \((.cpu_user_s+.cpu_sys_s)|round) |"'
    done
}
if [ "${1:-}" = leases ]; then
    leases_table
    exit 0
fi

# Cold start (proto/SWIM.md, "Cold start"): N nodes start within a second through 3 seeds,
# 60 s of virtual time, seed 1. RING_SIM_COLD_SIZES="1000 3000 10000" adds 10,000 nodes,
# which needs more than 13 GB of memory.
coldstart_table() {
    echo "### Cold start: N nodes through 3 seeds, 60 s virtual, seed 1"
    echo
    echo "| N | convergence s | bytes/node/s | stream bytes/node/s | full syncs | false suspicions | wall s |"
    echo "|---|---|---|---|---|---|---|"
    for n in ${RING_SIM_COLD_SIZES:-1000 3000}; do
        run --nodes "$n" --scenario join --duration 60s --seed 1 |
            jq -r --arg n "$n" '"| \($n) | \(.convergence_s) | \(.bytes_per_node_per_s|round) | \(.stream_bytes_per_node_per_s|round) | \(.full_syncs) | \(.false_suspicions) | \(.wall_s*10|round/10) |"'
    done
}
if [ "${1:-}" = coldstart ]; then
    coldstart_table
    exit 0
fi

echo "### Dissemination: one node joins a converged cluster (seconds after it starts)"
echo
echo "| N | 50% know | 99% know | 99.99% know | all know | msgs/node/s | wall s |"
echo "|---|---|---|---|---|---|---|"
for n in "${sizes[@]}"; do
    run --nodes "$n" --scenario join --joiners 1 --duration 20s --seed 1 |
        jq -r --arg n "$n" '"| \($n) | \(.join_50pct_s) | \(.join_99pct_s) | \(.join_99_99pct_s) | \(.join_all_s) | \(.msgs_per_node_per_s*100|round/100) | \(.wall_s*10|round/10) |"'
done

echo
echo "### Scale and load: kill one node at 5 s, 60 s of virtual time"
echo
echo "| N | first probe s | first suspicion s | first faulty s | all faulty s | convergence s | msgs/node/s | bytes/node/s | swim bytes/node | events | events/s | setup s | run s | CPU s | RSS GB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for n in "${sizes[@]}"; do
    run --nodes "$n" --scenario kill --seed 1 |
        jq -r --arg n "$n" '"| \($n) | \(.first_probe_s) | \(.first_suspect_s) | \(.first_faulty_s) | \(.all_faulty_s) | \(.convergence_s) | \(.msgs_per_node_per_s*100|round/100) | \(.bytes_per_node_per_s|round) | \(.member_table_bytes_per_node) | \(.events) | \(.events_per_s|round) | \(.setup_wall_s*10|round/10) | \(.wall_s*10|round/10) | \((.cpu_user_s+.cpu_sys_s)*10|round/10) | \(.max_rss_mb/1024*10|round/10) |"'
done

echo
echo "### Detection: one kill per seed (30 s runs), means over seeds 1..$det_seeds"
echo
echo "| N | first probe s | first probe, SWIM periods | first suspicion s | suspicion to first faulty s | all faulty s | all faulty p95 s | all faulty worst s | over 3 s | over 2.5 s |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for n in 100 8; do
    for seed in $(seq 1 "$det_seeds"); do
        "$sim" --json --nodes "$n" --scenario kill --seed "$seed" --duration 30s || true
    done | jq -rs --arg n "$n" 'def r3: .*1000|round/1000; def mean(f): map(f)|add/length;
        "| \($n) | \(mean(.first_probe_s)|r3) | \(mean(.first_probe_periods)|r3) | \(mean(.first_suspect_s)|r3) | \(mean(.first_faulty_s-.first_suspect_s)|r3) | \(mean(.all_faulty_s)|r3) | \(map(.all_faulty_s)|sort|.[(length*0.95|floor)]|r3) | \(map(.all_faulty_s)|max|r3) | \(map(select(.all_faulty_s>3))|length) | \(map(select(.all_faulty_s>2.5))|length) |"'
done

echo
echo "### Accuracy at N = 100: steady loss on datagrams and stream segments, $loss_duration"
echo
echo "| loss | seed | false positives | false suspicions | msgs/node/s |"
echo "|---|---|---|---|---|"
for loss in 0.1 0.2 0.3; do
    for seed in 1 2 3; do
        run --nodes 100 --scenario loss --loss "$loss" --duration "$loss_duration" --seed "$seed" |
            jq -r '"| \(.loss) | \(.seed) | \(.false_positives) | \(.false_suspicions) | \(.msgs_per_node_per_s*100|round/100) |"'
    done
done

echo
echo "### The other scenarios at N = 1,000"
echo
echo "| scenario | convergence s | false positives | full syncs | wall s |"
echo "|---|---|---|---|---|"
for sc in pause partition churn flap; do
    run --nodes 1000 --scenario "$sc" --seed 1 |
        jq -r '"| \(.scenario) | \(.convergence_s) | \(.false_positives) | \(.full_syncs) | \(.wall_s*10|round/10) |"'
done

echo
groups_table
