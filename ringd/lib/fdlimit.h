/*
 * fdlimit: ringd's open-file limit. Every connection ringd holds is a file descriptor, and
 * with its defaults it may hold about 7,000 (4,096 proxy clients, 1,024 app connections,
 * 1,024 local API clients, the gossip port's sessions), while many systems start a process
 * with a soft limit of 1,024. Past the limit accept() and connect() fail: clients are dropped
 * unanswered and requests fail with 502, with nothing in the log. So ringd raises its soft
 * limit to the hard one at start, as Go programs and nginx's worker_rlimit_nofile do, and
 * says so in the log when even the hard limit is below what it may need.
 */
#ifndef RINGD_FDLIMIT_H
#define RINGD_FDLIMIT_H

#include <stdint.h>

/* Raises the soft RLIMIT_NOFILE to the hard one. Stores the soft limit after it in |*soft|
 * (UINT64_MAX when unlimited), also when it fails. Returns 0 or a negative errno. */
int ringd_fdlimit_raise(uint64_t *soft);

#endif
