/* net: the virtual network; see net.h for the model. */
#include <stdlib.h>
#include <string.h>

#include "ring/codec.h"
#include "ring/swim.h"

#include "groups.h"
#include "lease.h"
#include "net.h"
#include "sim.h"

/* Linux's minimum TCP retransmission timeout. */
#define STREAM_RTO_US 200000
/* How long ringd waits for a stream connect (a SYN into a partition is never answered). */
#define STREAM_CONNECT_TIMEOUT_US 1000000
/* A TCP segment's payload on a 1500-byte MTU path. */
#define STREAM_MSS_BYTES 1448
/* Fewer segments than this cannot produce three duplicate acks: a loss waits for the RTO. */
#define STREAM_FAST_RETRANSMIT_SEGMENTS 4
/* 1 Gbit/s: 8 ns per byte. */
#define STREAM_NS_PER_BYTE 8
/* The largest stream response a node can write (a sync of MEMBERS_MAX members fits). */
#define STREAM_RESP_BYTES CODEC_FRAME_BYTES_MAX

static uint8_t resp_buf[STREAM_RESP_BYTES];

static uint64_t latency(struct sim *w)
{
    struct sim_net *net = &w->net;
    int64_t us = (int64_t)net->latency_us;
    if (net->jitter_us > 0) {
        us += (int64_t)(sim_rand(&net->rng) % (2 * net->jitter_us + 1)) - (int64_t)net->jitter_us;
    }
    return us < 10 ? 10 : (uint64_t)us;
}

static int lost(struct sim *w)
{
    return w->net.loss > 0 && sim_rand01(&w->net.rng) < w->net.loss;
}

static int path_cut(const struct sim *w, const uint8_t cut[2][2], uint32_t a, uint32_t b)
{
    const struct sim_node *x = &w->nodes[a];
    const struct sim_node *y = &w->nodes[b];
    return x->cut || y->cut || cut[x->side][y->side];
}

/* One-way time of a stream message of |len| bytes: latency, transfer, retransmits. */
static uint64_t stream_delay(struct sim *w, size_t len)
{
    uint64_t us = latency(w) + (uint64_t)len * STREAM_NS_PER_BYTE / 1000;
    size_t segments = len / STREAM_MSS_BYTES + 1;
    uint64_t rtt = 2 * w->net.latency_us;
    for (size_t i = 0; i < segments && w->net.loss > 0; i++) {
        uint64_t rto = STREAM_RTO_US;
        while (lost(w)) {
            w->net.stream_segments_lost++;
            us += segments < STREAM_FAST_RETRANSMIT_SEGMENTS ? rto : rtt;
            rto *= 2;
        }
    }
    return us;
}

/* |gen|: for stream messages, the generation of the process that made the request. */
static void schedule(struct sim *w, uint64_t delay_us, uint8_t kind, uint32_t from, uint32_t to,
                     uint32_t token, uint32_t gen, const uint8_t *buf, size_t len)
{
    struct sim_msg *m = malloc(sizeof(*m) + len);
    if (m == NULL) {
        abort();
    }
    m->kind = kind;
    m->from = from;
    m->to = to;
    m->token = token;
    m->gen = gen;
    m->len = len;
    if (len > 0) {
        memcpy(m->data, buf, len);
    }
    if (heap_push(&w->heap, w->now_us + delay_us, SIM_EV_DELIVER, to, m) != 0) {
        abort();
    }
}

void net_send_dgram(struct sim *w, uint32_t from, int to, const uint8_t *buf, size_t len)
{
    struct sim_net *net = &w->net;
    net->dgrams++;
    net->dgram_bytes += len;
    uint64_t words[4] = { w->now_us, from, (uint64_t)(int64_t)to, len };
    sim_trace(w, words, sizeof(words));
    metrics_on_dgram(w, from, to, buf, len);
    if (to < 0 || (uint32_t)to == from) {
        return;
    }
    if (path_cut(w, net->dgram_cut, from, (uint32_t)to)) {
        net->dgrams_cut++;
        return;
    }
    if (lost(w)) {
        net->dgrams_lost++;
        return;
    }
    schedule(w, latency(w), SIM_MSG_DGRAM, from, (uint32_t)to, 0, 0, buf, len);
}

static void stream_fail(struct sim *w, uint32_t origin, uint64_t delay_us, uint32_t token,
                        uint32_t gen)
{
    w->net.stream_fails++;
    schedule(w, delay_us, SIM_MSG_STREAM_FAIL, origin, origin, token, gen, NULL, 0);
}

void net_send_stream(struct sim *w, uint32_t from, int to, uint32_t token, const uint8_t *buf,
                     size_t len)
{
    struct sim_net *net = &w->net;
    net->streams++;
    uint64_t words[4] = { w->now_us, from, (uint64_t)(int64_t)to, len | (uint64_t)1 << 63 };
    sim_trace(w, words, sizeof(words));
    if (to < 0 || (uint32_t)to == from || !w->nodes[to].up) {
        /* Refused after the handshake's round trip: the request never goes on the wire. */
        stream_fail(w, from, 2 * latency(w), token, w->nodes[from].gen);
        return;
    }
    net->stream_bytes += len;
    if (path_cut(w, net->stream_cut, from, (uint32_t)to)) {
        stream_fail(w, from, STREAM_CONNECT_TIMEOUT_US, token, w->nodes[from].gen);
        return;
    }
    /* The handshake's round trip comes first; the request then travels one way. */
    uint64_t delay = 2 * latency(w) + stream_delay(w, len);
    schedule(w, delay, SIM_MSG_STREAM_REQ, from, (uint32_t)to, token, w->nodes[from].gen, buf, len);
}

static void serve(struct sim *w, struct sim_msg *m)
{
    struct sim_node *nd = &w->nodes[m->to];
    uint64_t now_ms = sim_node_ms(w, m->to);
    ssize_t n = swim_stream_serve(nd->s, &w->nodes[m->from].addr, m->data, m->len, resp_buf,
                                  sizeof(resp_buf), now_ms);
    if (n < 0 || path_cut(w, w->net.stream_cut, m->to, m->from)) {
        stream_fail(w, m->from, 2 * latency(w), m->token, m->gen);
        return;
    }
    if (codec_peek_type(m->data, m->len) == CODEC_SYNC) {
        w->net.syncs++;
    }
    w->net.stream_bytes += (uint64_t)n;
    uint64_t words[3] = { w->now_us, m->to, (uint64_t)n };
    sim_trace(w, words, sizeof(words));
    schedule(w, stream_delay(w, (size_t)n), SIM_MSG_STREAM_RESP, m->to, m->from, m->token, m->gen,
             resp_buf, (size_t)n);
}

/* Returns 1 when |m| was consumed, 0 when it was re-queued for a paused node. */
static int deliver_to(struct sim *w, struct sim_msg *m)
{
    struct sim_node *nd = &w->nodes[m->to];
    uint64_t now_ms = sim_node_ms(w, m->to);
    int reply = m->kind == SIM_MSG_STREAM_RESP || m->kind == SIM_MSG_STREAM_FAIL;
    if (!nd->up || (reply && m->gen != nd->gen)) {
        if (m->kind == SIM_MSG_STREAM_REQ) {
            stream_fail(w, m->from, 2 * latency(w), m->token, m->gen); /* connection refused */
        }
        return 1;
    }
    if (sim_node_paused(w, m->to)) {
        /* It waits in the socket buffer; the same order is kept by the heap's sequence. */
        (void)heap_push(&w->heap, nd->paused_until_us, SIM_EV_DELIVER, m->to, m);
        return 0;
    }
    switch (m->kind) {
    case SIM_MSG_DGRAM:
        if (!simgroups_deliver(w, m->to, m->from, m->data, m->len) &&
            !simlease_deliver(w, m->to, m->from, m->data, m->len)) {
            (void)swim_recv(nd->s, &w->nodes[m->from].addr, m->data, m->len, now_ms);
        }
        break;
    case SIM_MSG_STREAM_REQ:
        serve(w, m);
        break;
    case SIM_MSG_STREAM_RESP:
        (void)swim_stream_response(nd->s, m->token, m->data, m->len, now_ms);
        break;
    default:
        (void)swim_stream_failed(nd->s, m->token, now_ms);
        break;
    }
    sim_node_drain(w, m->to);
    return 1;
}

void net_deliver(struct sim *w, struct sim_msg *m)
{
    if (deliver_to(w, m)) {
        free(m);
    }
}
