/*
 * net: the virtual network between simulated nodes.
 *
 * Datagrams: each is lost with probability |loss|, dropped when the path is cut (a
 * partition, possibly one-way, or a flapping node), else delivered after latency + jitter.
 * Streams (the TCP side: syncs, stream pings) never lose a message, only time: each lost
 * segment costs a retransmit (an RTO of STREAM_RTO_US for a short message, which has no
 * duplicate acks to trigger fast retransmit, else one round trip), the payload takes
 * len / bandwidth, a connect to a dead process is refused after one round trip, and a
 * connect across a cut times out after STREAM_CONNECT_TIMEOUT_US.
 *
 * A node that is paused (SIGSTOP) receives nothing until it resumes: its deliveries wait
 * for it, as they would in its socket buffers.
 */
#ifndef RINGSIM_NET_H
#define RINGSIM_NET_H

#include <stddef.h>
#include <stdint.h>

struct sim;

enum sim_msg_kind {
    SIM_MSG_DGRAM = 1,
    SIM_MSG_STREAM_REQ = 2,
    SIM_MSG_STREAM_RESP = 3,
    SIM_MSG_STREAM_FAIL = 4,
};

struct sim_msg {
    uint8_t kind;
    uint32_t from, to;
    uint32_t token; /* streams */
    uint32_t gen;   /* streams: the generation of the requesting process */
    size_t len;
    uint8_t data[];
};

struct sim_net {
    uint64_t rng;
    double loss;
    uint64_t latency_us, jitter_us;
    /* [from side][to side]: datagrams and streams cut. */
    uint8_t dgram_cut[2][2];
    uint8_t stream_cut[2][2];
    /* Totals. */
    uint64_t dgrams, dgram_bytes, dgrams_lost, dgrams_cut;
    uint64_t streams, stream_bytes, stream_segments_lost, stream_fails;
    uint64_t syncs; /* sync requests answered */
};

/* Sends what node |from| drained: a datagram of |len| bytes to node |to| (-1: nobody). */
void net_send_dgram(struct sim *w, uint32_t from, int to, const uint8_t *buf, size_t len);
/* A stream request from |from| to |to| (-1: nobody) with |token|. */
void net_send_stream(struct sim *w, uint32_t from, int to, uint32_t token, const uint8_t *buf,
                     size_t len);
/* Delivers |msg| (a heap event); frees it or re-queues it. */
void net_deliver(struct sim *w, struct sim_msg *msg);

#endif
