/*
 * fault: the fixture and the measuring tools of the fault suite. Each scenario runs real
 * ringd processes, one per network namespace (tests/netns), with ringd's default timings,
 * breaks the network with iptables or the processes with signals, and watches every node
 * through its local API (cluster.c's client: a unix socket, which works across namespaces).
 *
 * Durations come in two sizes: the short one runs in scripts/test.sh, the full one (the
 * issue's figures) with RING_FAULT_FULL=1, which tests/fault/run sets. Each scenario prints
 * one line of JSON with its figures on stderr, starting {"scenario": (Criterion 2.4 exits 1
 * on a logged warning, so figures never go through cr_log).
 */
#ifndef RING_TESTS_FAULT_H
#define RING_TESTS_FAULT_H

#include <stdint.h>

#include "cluster.h"
#include "netns.h"

#define FAULT_NODES 8
/* Namespace prefix and subnet of this suite (the k8s pod test uses ringpod- / 10.251.0). */
#define FAULT_PREFIX "ringf-"
#define FAULT_SUBNET "10.250.0"
/* How often the watchers poll every node. */
#define FAULT_POLL_MS 100

extern struct netns fault_net;

/* 1 when RING_FAULT_FULL is set: the full durations. */
int fault_full(void);
/* |full_ms| in a full run, else |short_ms|. */
int fault_ms(int short_ms, int full_ms);

/* The suites' init: a network of FAULT_NODES hosts and a cluster bound to it (nodes not
 * started yet), default timings. */
void fault_setup(void);
/* The suites' fini: kills every node, deletes the namespaces. */
void fault_teardown(void);

/* Starts nodes 0..FAULT_NODES-1 (all joining node 0; cl.keyfile and cl.extra_args apply)
 * and waits until all agree on all of them (asserts within 15 s). Returns the ms that took. */
int fault_start_all(void);

/* What node |i| says about itself and everyone (one stats and one members call). */
struct fault_view {
    int ok; /* 0: the node could not be asked */
    uint64_t incarnation;
    uint64_t checksum, ring_checksum;
    uint64_t alive;
    uint64_t suspicions, faulty, refutations; /* its counters since it started */
    /* Node j's status in this view: 'a'live, 's'uspect, 'f'aulty, 'l'eft, 0 unknown. */
    char status[CLUSTER_NODES_MAX];
};
int fault_view(int i, struct fault_view *v);
/* Views of all running nodes (v[i].ok = 0 for the others). */
void fault_view_all(struct fault_view v[CLUSTER_NODES_MAX]);

/* Bit i of a node set is node i. */
typedef uint32_t fault_set;
#define FAULT_ALL        ((fault_set)((1u << FAULT_NODES) - 1))
#define FAULT_IN(set, i) (((set) >> (i)) & 1u)

/* Every node of |observers| sees exactly the nodes of |members| alive (nothing else alive),
 * and all of them report the same membership and ring checksums. */
int fault_agree(const struct fault_view v[], fault_set observers, fault_set members);

/* Every node of |observers| reports |status| ('f', 'a', ...) for every node of |targets|. */
int fault_all_see(const struct fault_view v[], fault_set observers, fault_set targets, char status);

/* Polls every FAULT_POLL_MS until fault_agree(observers, members); returns the ms it took
 * from |t0| (fault_now_ms()), or -1 once |timeout_ms| from t0 has passed. */
int fault_wait_agree(fault_set observers, fault_set members, int64_t t0, int timeout_ms);
/* The same for fault_all_see. */
int fault_wait_see(fault_set observers, fault_set targets, char status, int64_t t0, int timeout_ms);

int64_t fault_now_ms(void);

/* Prints one line of figures: {"scenario": "<name>", <fields>} on stderr. */
void fault_report(const char *scenario, const char *fields_fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
