#!/usr/bin/env bash
# Removes the fault suite's network namespaces (ringf-<pid>-*) whose creating process is
# gone: what a crashed or killed test run left behind. A live run's namespaces are kept.
# tests/netns/netns.c does the same at every setup; the scripts call this on exit as well.
prefix="${1:-ringf-}"
ip netns list 2>/dev/null | awk '{print $1}' | grep "^${prefix}[0-9][0-9]*-" | while read -r ns; do
    pid=${ns#"$prefix"}
    pid=${pid%%-*}
    kill -0 "$pid" 2>/dev/null || ip netns del "$ns" 2>/dev/null || true
done
exit 0
