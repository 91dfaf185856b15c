/*
 * swimnet: a deterministic in-test network for swim (no sockets, no real time).
 *
 * N swim instances share a virtual clock that jumps to the earliest swim_next_deadline()
 * or message delivery. Datagrams arrive after a fixed latency (plus a per-node delay that
 * models a slow node), unless a cut or a down node drops them. Stream requests are served
 * by swim_stream_serve() on the target and answered with swim_stream_response() on the
 * origin, or swim_stream_failed() when the stream link is cut or the target is down.
 */
#ifndef RING_SWIMNET_H
#define RING_SWIMNET_H

#include <stdint.h>

#include "ring/swim.h"
#include "testmem.h"

#define NET_NODES_MAX 32

struct net_node {
    struct swim *s;
    int up;
    /* Extra delay on every message to or from this node (a slow node). */
    uint32_t delay_ms;
    char id[32];
    struct ring_addr addr;
    uint32_t health_max;
};

struct net_msg;

struct net {
    struct testmem *tm;
    struct net_node nodes[NET_NODES_MAX];
    int n;
    uint64_t now_ms;
    uint32_t latency_ms;
    struct net_msg *q;
    size_t q_len, q_cap;
    uint64_t q_order;
    uint8_t udp_cut[NET_NODES_MAX][NET_NODES_MAX];
    uint8_t stream_cut[NET_NODES_MAX][NET_NODES_MAX];
    /* Observations. */
    size_t dgram_bytes_max;
    uint64_t dgrams;
    uint64_t trace;
    uint8_t ever_suspect[NET_NODES_MAX][NET_NODES_MAX]; /* [observer][subject] */
    uint8_t ever_faulty[NET_NODES_MAX][NET_NODES_MAX];
    uint8_t ever_left_event[NET_NODES_MAX][NET_NODES_MAX];
    uint64_t faulty_at_ms[NET_NODES_MAX][NET_NODES_MAX];
    uint64_t reaped_at_ms[NET_NODES_MAX][NET_NODES_MAX];
    uint64_t ring_events[NET_NODES_MAX];
    /* swim_config.debug_events, counted apart (they stay out of |trace|). */
    uint32_t probe_failed[NET_NODES_MAX][NET_NODES_MAX]; /* [observer][subject] */
    uint32_t refuted[NET_NODES_MAX];
    uint32_t synced[NET_NODES_MAX];
    uint32_t synced_new[NET_NODES_MAX]; /* members new to the node from its syncs */
};

/* The config every node starts from: id and address of node |i|, seed from |seed| and i. */
void net_config(struct swim_config *cfg, struct net *net, int i, uint64_t seed);

/* Zeroes |net| and sets the latency. */
void net_init(struct net *net, struct testmem *tm, uint32_t latency_ms);

/* Creates node |i| with |cfg| (NULL: net_config defaults with |seed|) at the current time. */
void net_start(struct net *net, int i, const struct swim_config *cfg, uint64_t seed);

/* Node |i| joins through node |seed_node|. */
void net_join(struct net *net, int i, int seed_node);

/* Stops node |i| (kill -9): nothing in or out, no ticks. The instance is kept until
 * net_free() or net_start() on the same slot. */
void net_kill(struct net *net, int i);

/* Cuts (|cut| = 1) or restores the link a<->b: datagrams, and streams when |streams|. */
void net_cut(struct net *net, int a, int b, int cut, int streams);

/* Runs the network until |until_ms|. */
void net_run(struct net *net, uint64_t until_ms);

/* Runs until every up node has exactly the up nodes alive, with one membership checksum
 * and one ring checksum, or |until_ms|. Returns 1 when converged. */
int net_run_until_converged(struct net *net, uint64_t until_ms);
int net_converged(const struct net *net);

/* Status of node |subject| in node |observer|'s table, or -1 when absent. */
int net_status(const struct net *net, int observer, int subject);
uint64_t net_incarnation(const struct net *net, int observer, int subject);

void net_free(struct net *net);

#endif
