#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "ring/codec.h"
#include "ring/error.h"
#include "swimnet.h"

enum { MSG_DGRAM = 1, MSG_STREAM_REQ, MSG_STREAM_RESP, MSG_STREAM_FAIL };

struct net_msg {
    uint64_t at_ms;
    uint64_t order;
    int kind;
    int from, to;
    uint32_t token;
    uint8_t *data;
    size_t len;
};

/* Large enough for a sync of a test cluster. */
#define STREAM_RESP_BYTES (1u << 20)
static uint8_t resp_buf[STREAM_RESP_BYTES];

void net_init(struct net *net, struct testmem *tm, uint32_t latency_ms)
{
    memset(net, 0, sizeof(*net));
    net->tm = tm;
    net->latency_ms = latency_ms;
}

void net_config(struct swim_config *cfg, struct net *net, int i, uint64_t seed)
{
    struct net_node *nd = &net->nodes[i];
    snprintf(nd->id, sizeof(nd->id), "node-%02d", i);
    memset(&nd->addr, 0, sizeof(nd->addr));
    nd->addr.family = RING_ADDR_V4;
    nd->addr.port = 7946;
    nd->addr.ip[0] = 10;
    nd->addr.ip[3] = (uint8_t)(i + 1);
    memset(cfg, 0, sizeof(*cfg));
    cfg->id = nd->id;
    cfg->id_len = strlen(nd->id);
    cfg->addr = nd->addr;
    cfg->seed = seed * 1000003u + (uint64_t)i;
    cfg->ring_vnodes = 16;
}

static int addr_node(const struct net *net, const struct ring_addr *a)
{
    int i = a->ip[3] - 1;
    return (i >= 0 && i < net->n) ? i : -1;
}

void net_start(struct net *net, int i, const struct swim_config *cfg, uint64_t seed)
{
    struct swim_config def;
    if (cfg == NULL) {
        net_config(&def, net, i, seed);
        cfg = &def;
    }
    struct net_node *nd = &net->nodes[i];
    swim_del(nd->s);
    nd->s = NULL;
    int rv = swim_new(&nd->s, cfg, &net->tm->mem, net->now_ms);
    cr_assert(eq(int, rv, 0), "swim_new: %s", ring_strerror(rv));
    nd->up = 1;
    if (i >= net->n) {
        net->n = i + 1;
    }
}

void net_join(struct net *net, int i, int seed_node)
{
    int rv = swim_join(net->nodes[i].s, &net->nodes[seed_node].addr, 1, net->now_ms);
    cr_assert(eq(int, rv, 0));
}

void net_kill(struct net *net, int i)
{
    net->nodes[i].up = 0;
}

void net_cut(struct net *net, int a, int b, int cut, int streams)
{
    net->udp_cut[a][b] = net->udp_cut[b][a] = (uint8_t)cut;
    if (streams) {
        net->stream_cut[a][b] = net->stream_cut[b][a] = (uint8_t)cut;
    }
}

static void push(struct net *net, int kind, int from, int to, uint64_t delay, uint32_t token,
                 const uint8_t *data, size_t len)
{
    if (net->q_len == net->q_cap) {
        net->q_cap = net->q_cap ? net->q_cap * 2 : 256;
        net->q = realloc(net->q, net->q_cap * sizeof(*net->q));
    }
    struct net_msg *m = &net->q[net->q_len++];
    m->at_ms = net->now_ms + delay;
    m->order = net->q_order++;
    m->kind = kind;
    m->from = from;
    m->to = to;
    m->token = token;
    m->len = len;
    m->data = NULL;
    if (len > 0) {
        m->data = malloc(len);
        memcpy(m->data, data, len);
    }
}

static uint64_t path_delay(const struct net *net, int a, int b)
{
    return net->latency_ms + net->nodes[a].delay_ms + net->nodes[b].delay_ms;
}

static void trace_mix(struct net *net, const void *p, size_t len)
{
    net->trace = XXH3_64bits_withSeed(p, len, net->trace);
}

/* Counts a debug event (swim_config.debug_events); returns 0 for any other. */
static int record_debug_event(struct net *net, int i, const struct swim_event *ev)
{
    if (ev->type == SWIM_EVENT_PROBE_FAILED) {
        int subj = addr_node(net, &ev->member.addr);
        if (subj >= 0) {
            net->probe_failed[i][subj]++;
        }
    } else if (ev->type == SWIM_EVENT_REFUTED) {
        net->refuted[i]++;
    } else if (ev->type == SWIM_EVENT_SYNCED) {
        net->synced[i]++;
        net->synced_new[i] += ev->count;
    } else {
        return 0;
    }
    return 1;
}

static void record_event(struct net *net, int i, const struct swim_event *ev)
{
    if (record_debug_event(net, i, ev)) {
        return;
    }
    uint64_t words[4] = { net->now_ms, (uint64_t)i, ev->type, ev->ring_checksum };
    trace_mix(net, words, sizeof(words));
    if (ev->type == SWIM_EVENT_RING_CHANGED) {
        net->ring_events[i]++;
        return;
    }
    uint64_t m[2] = { ev->member.status, ev->member.incarnation };
    trace_mix(net, m, sizeof(m));
    trace_mix(net, ev->member.id, ev->member.id_len);
    int subj = addr_node(net, &ev->member.addr);
    if (subj < 0) {
        return;
    }
    if (ev->type == SWIM_EVENT_MEMBER_LEFT) {
        net->ever_left_event[i][subj] = 1;
        net->reaped_at_ms[i][subj] = net->now_ms;
    } else if (ev->member.status == MEMBER_SUSPECT) {
        net->ever_suspect[i][subj] = 1;
    } else if (ev->member.status == MEMBER_FAULTY) {
        net->ever_faulty[i][subj] = 1;
        net->faulty_at_ms[i][subj] = net->now_ms;
    }
}

static void drain(struct net *net, int i)
{
    struct net_node *nd = &net->nodes[i];
    static uint8_t buf[CODEC_DATAGRAM_BYTES_MAX];
    struct ring_addr to;
    ssize_t n;
    while ((n = swim_send_next(nd->s, &to, buf, sizeof(buf), net->now_ms)) > 0) {
        net->dgrams++;
        if ((size_t)n > net->dgram_bytes_max) {
            net->dgram_bytes_max = (size_t)n;
        }
        int j = addr_node(net, &to);
        if (j < 0 || j == i || !net->nodes[j].up || net->udp_cut[i][j]) {
            continue;
        }
        push(net, MSG_DGRAM, i, j, path_delay(net, i, j), 0, buf, (size_t)n);
    }
    cr_assert(ge(i64, (int64_t)n, 0), "swim_send_next: %zd", n);
    struct swim_stream_req req;
    while (swim_stream_next(nd->s, &req) == 1) {
        int j = addr_node(net, &req.to);
        if (j < 0 || j == i || !net->nodes[j].up || net->stream_cut[i][j]) {
            push(net, MSG_STREAM_FAIL, j, i, net->latency_ms, req.token, NULL, 0);
            continue;
        }
        push(net, MSG_STREAM_REQ, i, j, path_delay(net, i, j), req.token, req.data, req.len);
    }
    struct swim_event ev;
    while (swim_next_event(nd->s, &ev) == 1) {
        record_event(net, i, &ev);
    }
    uint32_t h = swim_health(nd->s);
    nd->health_max = h > nd->health_max ? h : nd->health_max;
}

static void deliver(struct net *net, struct net_msg *m)
{
    int to = m->to;
    if (to < 0 || !net->nodes[to].up) {
        if (m->kind == MSG_STREAM_REQ && net->nodes[m->from].up) {
            push(net, MSG_STREAM_FAIL, to, m->from, net->latency_ms, m->token, NULL, 0);
        }
        return;
    }
    struct swim *s = net->nodes[to].s;
    switch (m->kind) {
    case MSG_DGRAM:
        (void)swim_recv(s, &net->nodes[m->from].addr, m->data, m->len, net->now_ms);
        break;
    case MSG_STREAM_REQ: {
        ssize_t n = swim_stream_serve(s, &net->nodes[m->from].addr, m->data, m->len, resp_buf,
                                      sizeof(resp_buf), net->now_ms);
        if (n < 0 || net->stream_cut[to][m->from]) {
            push(net, MSG_STREAM_FAIL, to, m->from, net->latency_ms, m->token, NULL, 0);
        } else {
            push(net, MSG_STREAM_RESP, to, m->from, path_delay(net, to, m->from), m->token,
                 resp_buf, (size_t)n);
        }
        break;
    }
    case MSG_STREAM_RESP:
        (void)swim_stream_response(s, m->token, m->data, m->len, net->now_ms);
        break;
    default:
        (void)swim_stream_failed(s, m->token, net->now_ms);
        break;
    }
    drain(net, to);
}

/* Index of the earliest message (by time, then send order), or -1. */
static long earliest(const struct net *net)
{
    long best = -1;
    for (size_t k = 0; k < net->q_len; k++) {
        const struct net_msg *m = &net->q[k];
        if (best < 0 || m->at_ms < net->q[best].at_ms ||
            (m->at_ms == net->q[best].at_ms && m->order < net->q[best].order)) {
            best = (long)k;
        }
    }
    return best;
}

static uint64_t next_time(const struct net *net)
{
    uint64_t t = UINT64_MAX;
    long k = earliest(net);
    if (k >= 0) {
        t = net->q[k].at_ms;
    }
    for (int i = 0; i < net->n; i++) {
        if (net->nodes[i].up) {
            uint64_t d = swim_next_deadline(net->nodes[i].s);
            t = d < t ? d : t;
        }
    }
    return t;
}

void net_run(struct net *net, uint64_t until_ms)
{
    uint64_t spins = 0;
    uint64_t last_now = net->now_ms;
    for (;;) {
        uint64_t t = next_time(net);
        if (t > until_ms) {
            net->now_ms = until_ms;
            return;
        }
        net->now_ms = t > net->now_ms ? t : net->now_ms;
        spins = net->now_ms == last_now ? spins + 1 : 0;
        last_now = net->now_ms;
        cr_assert(lt(u64, spins, 100000), "no progress at %llu ms", (unsigned long long)t);
        long k;
        while ((k = earliest(net)) >= 0 && net->q[k].at_ms <= net->now_ms) {
            struct net_msg m = net->q[k];
            net->q[k] = net->q[--net->q_len];
            deliver(net, &m);
            free(m.data);
        }
        for (int i = 0; i < net->n; i++) {
            struct net_node *nd = &net->nodes[i];
            if (nd->up && swim_next_deadline(nd->s) <= net->now_ms) {
                cr_assert(eq(int, swim_tick(nd->s, net->now_ms), 0));
            }
            if (nd->up) {
                drain(net, i);
            }
        }
    }
}

int net_status(const struct net *net, int observer, int subject)
{
    const struct members *t = swim_members(net->nodes[observer].s);
    const char *id = net->nodes[subject].id;
    int idx = members_index(t, id, strlen(id));
    return idx < 0 ? -1 : members_status(t, (size_t)idx);
}

uint64_t net_incarnation(const struct net *net, int observer, int subject)
{
    const struct members *t = swim_members(net->nodes[observer].s);
    const char *id = net->nodes[subject].id;
    int idx = members_index(t, id, strlen(id));
    return idx < 0 ? 0 : members_incarnation(t, (size_t)idx);
}

int net_converged(const struct net *net)
{
    int first = -1;
    size_t up = 0;
    for (int i = 0; i < net->n; i++) {
        up += net->nodes[i].up;
    }
    for (int i = 0; i < net->n; i++) {
        if (!net->nodes[i].up) {
            continue;
        }
        const struct swim *s = net->nodes[i].s;
        if (members_count_status(swim_members(s), MEMBER_ALIVE) != up) {
            return 0;
        }
        for (int j = 0; j < net->n; j++) {
            if (net->nodes[j].up && net_status(net, i, j) != MEMBER_ALIVE) {
                return 0;
            }
        }
        if (first < 0) {
            first = i;
            continue;
        }
        const struct swim *f = net->nodes[first].s;
        if (swim_checksum(s) != swim_checksum(f) ||
            swim_ring_checksum(s) != swim_ring_checksum(f)) {
            return 0;
        }
    }
    return 1;
}

int net_run_until_converged(struct net *net, uint64_t until_ms)
{
    while (net->now_ms < until_ms) {
        net_run(net, net->now_ms + 100);
        if (net_converged(net)) {
            return 1;
        }
    }
    return net_converged(net);
}

void net_free(struct net *net)
{
    for (int i = 0; i < net->n; i++) {
        swim_del(net->nodes[i].s);
        net->nodes[i].s = NULL;
    }
    for (size_t k = 0; k < net->q_len; k++) {
        free(net->q[k].data);
    }
    free(net->q);
    net->q = NULL;
    net->q_len = net->q_cap = 0;
}
