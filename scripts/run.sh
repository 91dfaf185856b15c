#!/usr/bin/env bash
# Builds ring and runs the main job. Until ringd (the daemon) lands, that is ringdemo: a ring
# of N members, each member's share, the owners of some keys, and what a join and a leave
# move. Arguments go to ringdemo (ringdemo --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
exec ./build/sim/ringdemo "$@"
