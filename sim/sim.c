/* sim: the world and its run loop; see sim.h. */
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ring/codec.h"
#include "ring/error.h"
#include "swim_int.h"

#include "groups.h"
#include "lease.h"
#include "scenario.h"
#include "sim.h"

/* ---- randomness and the trace ---- */

uint64_t sim_rand(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

double sim_rand01(uint64_t *state)
{
    return (double)(sim_rand(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* A seed for stream |stream| derived from the run's seed. */
static uint64_t derive(uint64_t seed, uint64_t stream)
{
    uint64_t s = seed ^ (stream * UINT64_C(0xd1b54a32d192ed03));
    return sim_rand(&s);
}

void sim_trace(struct sim *w, const void *p, size_t len)
{
    w->trace = XXH3_64bits_withSeed(p, len, w->trace);
}

/* ---- the counting allocator: each block counts as malloc_usable_size() bytes (what the
 * node really costs, and no per-block header: at N = 100,000 a 16-byte header on each of a
 * node's ~1,000 group summaries would cost 1.6 GB) ---- */

/* The usable size of |p| (0 for NULL). */
static size_t usable(void *p)
{
    return p != NULL ? malloc_usable_size(p) : 0;
}

static void count(struct sim_mem *m, size_t freed, size_t got)
{
    m->bytes = m->bytes - freed + got;
    m->peak = m->bytes > m->peak ? m->bytes : m->peak;
}

static void *mem_malloc(size_t size, void *ud)
{
    void *p = malloc(size);
    count(ud, 0, usable(p));
    return p;
}

static void mem_free(void *ptr, void *ud)
{
    count(ud, usable(ptr), 0);
    free(ptr);
}

/* calloc, not malloc + memset: a large block comes from fresh zero pages, and the parts a
 * node never writes are never faulted in. */
static void *mem_calloc(size_t nmemb, size_t size, void *ud)
{
    void *p = calloc(nmemb, size);
    count(ud, 0, usable(p));
    return p;
}

static void *mem_realloc(void *ptr, size_t size, void *ud)
{
    size_t old = usable(ptr);
    void *q = realloc(ptr, size);
    if (q != NULL) {
        count(ud, old, usable(q));
    }
    return q;
}

void sim_mem_init(struct sim_mem *m)
{
    m->mem.user_data = m;
    m->mem.malloc = mem_malloc;
    m->mem.calloc = mem_calloc;
    m->mem.realloc = mem_realloc;
    m->mem.free = mem_free;
}

/* ---- nodes ---- */

static void node_addr(uint32_t i, struct ring_addr *a)
{
    uint32_t v = i + 1;
    memset(a, 0, sizeof(*a));
    a->family = RING_ADDR_V4;
    a->port = 7946;
    a->ip[0] = 10;
    a->ip[1] = (uint8_t)(v >> 16);
    a->ip[2] = (uint8_t)(v >> 8);
    a->ip[3] = (uint8_t)v;
}

int sim_addr_node(const struct sim *w, const struct ring_addr *a)
{
    if (a->family != RING_ADDR_V4 || a->ip[0] != 10 || a->port != 7946) {
        return -1;
    }
    uint32_t v = (uint32_t)a->ip[1] << 16 | (uint32_t)a->ip[2] << 8 | a->ip[3];
    return v >= 1 && v <= w->n ? (int)(v - 1) : -1;
}

uint64_t sim_node_ms_at(const struct sim *w, uint32_t i, uint64_t us)
{
    const struct sim_node *nd = &w->nodes[i];
    if (nd->clock_rate == 1.0 && nd->clock_offset_us == 0) {
        return us / 1000;
    }
    return (nd->clock_offset_us + (uint64_t)(nd->clock_rate * (double)us)) / 1000;
}

uint64_t sim_node_ms(const struct sim *w, uint32_t i)
{
    return sim_node_ms_at(w, i, w->now_us);
}

uint64_t sim_node_real_us(const struct sim *w, uint32_t i, uint64_t local_ms)
{
    const struct sim_node *nd = &w->nodes[i];
    uint64_t want = local_ms * 1000;
    if (nd->clock_rate == 1.0 && nd->clock_offset_us == 0) {
        return want;
    }
    if (want <= nd->clock_offset_us) {
        return 0;
    }
    uint64_t t = (uint64_t)((double)(want - nd->clock_offset_us) / nd->clock_rate);
    t = t > 2 ? t - 2 : 0; /* then step up past the rounding of the double */
    while (nd->clock_offset_us + (uint64_t)(nd->clock_rate * (double)t) < want) {
        t++;
    }
    return t;
}

uint64_t sim_node_seed(const struct sim *w, uint32_t i, uint64_t stream)
{
    return derive(w->opts.seed, ((uint64_t)w->nodes[i].gen << 32 | i) + stream);
}

int sim_node_paused(const struct sim *w, uint32_t i)
{
    return w->now_us < w->nodes[i].paused_until_us;
}

void sim_node_arm(struct sim *w, uint32_t i, uint64_t at_us)
{
    struct sim_node *nd = &w->nodes[i];
    if (at_us >= nd->armed_us) {
        return;
    }
    nd->armed_us = at_us;
    if (heap_push(&w->heap, at_us, SIM_EV_TIMER, i, NULL) != 0) {
        abort();
    }
}

static void on_event(struct sim *w, uint32_t i, const struct swim_event *ev)
{
    uint64_t words[5] = { w->now_us, i, ev->type, ev->member.status, ev->member.incarnation };
    sim_trace(w, words, sizeof(words));
    if (ev->type == SWIM_EVENT_RING_CHANGED) {
        sim_trace(w, &ev->ring_checksum, sizeof(ev->ring_checksum));
        return;
    }
    sim_trace(w, ev->member.id, ev->member.id_len);
    metrics_on_event(w, i, ev);
}

void sim_node_drain(struct sim *w, uint32_t i)
{
    static uint8_t buf[CODEC_DATAGRAM_BYTES_MAX];
    struct sim_node *nd = &w->nodes[i];
    uint64_t now_ms = sim_node_ms(w, i);
    struct ring_addr to;
    ssize_t n;
    while ((n = swim_send_next(nd->s, &to, buf, sizeof(buf), now_ms)) > 0) {
        net_send_dgram(w, i, sim_addr_node(w, &to), buf, (size_t)n);
    }
    RING_ASSERT(n == 0);
    struct swim_stream_req req;
    while (swim_stream_next(nd->s, &req) == 1) {
        net_send_stream(w, i, sim_addr_node(w, &req.to), req.token, req.data, req.len);
    }
    struct swim_event ev;
    while (swim_next_event(nd->s, &ev) == 1) {
        on_event(w, i, &ev);
    }
    metrics_after_drain(w, i);
    simgroups_node_drain(w, i);
    simlease_node_drain(w, i);
    uint64_t d = simgroups_node_deadline(w, i, swim_next_deadline(nd->s));
    uint64_t ld = simlease_node_deadline(w, i);
    d = ld < d ? ld : d;
    if (d != UINT64_MAX) {
        uint64_t at = sim_node_real_us(w, i, d);
        sim_node_arm(w, i, at > w->now_us ? at : w->now_us);
    }
}

static void node_config(struct sim *w, uint32_t i, struct swim_config *cfg)
{
    struct sim_node *nd = &w->nodes[i];
    memset(cfg, 0, sizeof(*cfg));
    cfg->id = nd->id;
    cfg->id_len = strlen(nd->id);
    cfg->addr = nd->addr;
    cfg->seed = sim_node_seed(w, i, 16);
    /* ringd passes its start time in seconds: a restart comes back above its old self. */
    cfg->incarnation_min = w->now_us / 1000000 + 1;
    cfg->probe_interval_ms = w->opts.probe_interval_ms;
    cfg->probe_timeout_ms = w->opts.probe_timeout_ms;
    cfg->suspicion_mult = w->opts.suspicion_mult;
    cfg->suspicion_max_mult = w->opts.suspicion_max_mult;
    cfg->suspicion_confirmations = w->opts.suspicion_confirmations;
    cfg->gossip_nodes = w->opts.no_gossip ? UINT32_MAX : 0;
    cfg->group = simgroups_name(w, i);
    cfg->group_len = cfg->group != NULL ? strlen(cfg->group) : 0;
    cfg->scratch = w->scratch;
}

/* The table a warm node starts from: every warm node alive at incarnation 1, as after a
 * join long ago. Built once per run; each warm node gets a copy (swim__test_adopt: no
 * events, no gossip queued, no syncs), so a 10,000-node cluster starts converged without
 * simulating its bootstrap, and without 10^8 record-by-record inserts (~60 s of setup). */
static int warm_table(struct sim *w, struct members **out)
{
    if (w->warm_table != NULL && members_count(w->warm_table) == w->warm_count) {
        *out = w->warm_table;
        return 0;
    }
    members_del(w->warm_table);
    w->warm_table = NULL;
    /* Room for every node of the run, so joiners never make 10,000 copies double. */
    int rv = members_new(&w->warm_table, w->n, NULL);
    struct member m;
    memset(&m, 0, sizeof(m));
    m.status = MEMBER_ALIVE;
    m.weight = 1;
    m.incarnation = 1;
    for (uint32_t j = 0; j < w->warm_count && rv == 0; j++) {
        (void)member_set_id(&m, w->nodes[j].id, strlen(w->nodes[j].id));
        m.addr = w->nodes[j].addr;
        rv = members_put(w->warm_table, &m);
    }
    *out = w->warm_table;
    return rv;
}

/* With groups, node |i|'s group's warm table (its warm members, the group in each record):
 * a small one, built for each node and dropped after the copy. */
static int group_warm_table(struct sim *w, uint32_t i, struct members **out)
{
    const char *group = simgroups_name(w, i);
    int rv = members_new(out, 0, NULL);
    struct member m;
    memset(&m, 0, sizeof(m));
    m.status = MEMBER_ALIVE;
    m.weight = 1;
    m.incarnation = 1;
    m.group_len = (uint8_t)strlen(group);
    memcpy(m.group, group, m.group_len + 1);
    for (uint32_t j = 0; j < w->warm_count && rv == 0; j++) {
        if (simgroups_same(w, i, j)) {
            (void)member_set_id(&m, w->nodes[j].id, strlen(w->nodes[j].id));
            m.addr = w->nodes[j].addr;
            rv = members_put(*out, &m);
        }
    }
    return rv;
}

static int fill_warm(struct sim *w, uint32_t i)
{
    struct members *t = NULL;
    int grouped = simgroups_on(w);
    int rv = grouped ? group_warm_table(w, i, &t) : warm_table(w, &t);
    if (rv == 0) {
        rv = swim__test_adopt(w->nodes[i].s, t);
    }
    if (grouped) {
        members_del(t);
    }
    if (rv == 0) {
        swim__test_joined(w->nodes[i].s);
    }
    return rv;
}

int sim_node_start(struct sim *w, uint32_t i, int warm)
{
    struct sim_node *nd = &w->nodes[i];
    if (nd->s != NULL) {
        swim_del(nd->s);
        nd->s = NULL;
        nd->gen++;
    }
    struct swim_config cfg;
    node_config(w, i, &cfg);
    uint64_t now_ms = sim_node_ms(w, i);
    int rv = swim_new(&nd->s, &cfg, &nd->mem.mem, now_ms);
    size_t seed_count;
    const struct ring_addr *seeds = simgroups_seeds(w, i, &seed_count);
    if (rv == 0) {
        rv = warm ? fill_warm(w, i) : swim_join(nd->s, seeds, seed_count, now_ms);
    }
    if (rv == 0 && simgroups_node_start(w, i, warm) != 0) {
        rv = RING_ENOMEM;
    }
    if (rv == 0 && simlease_node_start(w, i) != 0) {
        rv = RING_ENOMEM;
    }
    if (rv != 0) {
        fprintf(stderr, "ringsim: node %u: %s\n", i, ring_strerror(rv));
        return -1;
    }
    if (!nd->up) {
        nd->up = 1;
        w->up++;
    }
    nd->armed_us = UINT64_MAX;
    sim_node_drain(w, i);
    return 0;
}

void sim_node_kill(struct sim *w, uint32_t i)
{
    struct sim_node *nd = &w->nodes[i];
    if (!nd->up) {
        return;
    }
    nd->up = 0;
    w->up--;
    swim_del(nd->s);
    nd->s = NULL;
    simgroups_node_kill(w, i);
    simlease_node_kill(w, i);
    nd->gen++;
    nd->armed_us = UINT64_MAX;
}

/* ---- the world ---- */

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int world_init(struct sim *w, const struct sim_opts *opts, char *err, size_t err_cap);

int sim_init(struct sim *w, const struct sim_opts *opts, char *err, size_t err_cap)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rv = world_init(w, opts, err, err_cap);
    w->setup_wall_s = seconds_since(&t0);
    return rv;
}

static int world_init(struct sim *w, const struct sim_opts *opts, char *err, size_t err_cap)
{
    memset(w, 0, sizeof(*w));
    w->opts = *opts;
    w->n = opts->nodes;
    w->end_us = opts->duration_ms * 1000;
    w->rng = derive(opts->seed, 1);
    w->net.rng = derive(opts->seed, 2);
    w->net.loss = opts->loss;
    w->net.latency_us = (uint64_t)(opts->latency_ms * 1000.0 + 0.5);
    w->net.jitter_us = (uint64_t)(opts->jitter_ms * 1000.0 + 0.5);
    w->nodes = calloc(w->n, sizeof(*w->nodes));
    if (w->nodes == NULL || swim_scratch_new(&w->scratch, NULL) != 0 || metrics_init(w) != 0) {
        snprintf(err, err_cap, "out of memory for %u nodes", w->n);
        return -1;
    }
    for (uint32_t i = 0; i < w->n; i++) {
        struct sim_node *nd = &w->nodes[i];
        snprintf(nd->id, sizeof(nd->id), "node-%05u", i);
        node_addr(i, &nd->addr);
        sim_mem_init(&nd->mem);
        nd->armed_us = UINT64_MAX;
        nd->clock_rate = 1.0;
    }
    if (opts->exclusive && opts->clock_drift > 0) {
        uint64_t rng = derive(opts->seed, 3);
        for (uint32_t i = 0; i < w->n; i++) {
            w->nodes[i].clock_rate = 1.0 + opts->clock_drift * (2.0 * sim_rand01(&rng) - 1.0);
            w->nodes[i].clock_offset_us = sim_rand(&rng) % UINT64_C(1000000000000);
        }
    }
    if (simlease_init(w) != 0) {
        snprintf(err, err_cap, "out of memory for the leases of %u nodes", w->n);
        return -1;
    }
    if (simgroups_init(w) != 0) {
        snprintf(err, err_cap, "out of memory for %u groups", w->opts.groups);
        return -1;
    }
    w->seed_count = w->n < 3 ? w->n : 3;
    for (size_t k = 0; k < w->seed_count; k++) {
        w->seeds[k] = w->nodes[k].addr;
    }
    if (heap_push(&w->heap, 0, SIM_EV_SAMPLE, 0, NULL) != 0) {
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    return scenario_setup(w, err, err_cap);
}

static void on_timer(struct sim *w, const struct sim_ev *ev)
{
    struct sim_node *nd = &w->nodes[ev->node];
    if (!nd->up || ev->at_us != nd->armed_us) {
        return; /* superseded by an earlier arm, or the process is gone */
    }
    nd->armed_us = UINT64_MAX;
    if (sim_node_paused(w, ev->node)) {
        sim_node_arm(w, ev->node, nd->paused_until_us);
        return;
    }
    uint64_t now_ms = sim_node_ms(w, ev->node);
    (void)swim_tick(nd->s, now_ms);
    simlease_node_tick(w, ev->node, now_ms);
    sim_node_drain(w, ev->node);
    if (simgroups_node_deadline(w, ev->node, swim_next_deadline(nd->s)) <= now_ms ||
        simlease_node_deadline(w, ev->node) <= now_ms) {
        /* more than a tick's work is due */
        sim_node_arm(w, ev->node, sim_node_real_us(w, ev->node, now_ms + 1));
    }
}

void sim_run(struct sim *w)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct sim_ev ev;
    while (heap_next_us(&w->heap) <= w->end_us && heap_pop(&w->heap, &ev)) {
        w->now_us = ev.at_us;
        w->events++;
        switch (ev.kind) {
        case SIM_EV_TIMER:
            on_timer(w, &ev);
            break;
        case SIM_EV_DELIVER:
            net_deliver(w, ev.ptr);
            break;
        case SIM_EV_ACTION:
            scenario_apply(w, ev.node);
            break;
        default:
            metrics_sample(w);
            (void)heap_push(&w->heap, w->now_us + SIM_SAMPLE_US, SIM_EV_SAMPLE, 0, NULL);
            break;
        }
    }
    w->now_us = w->end_us;
    simgroups_finish(w);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    w->wall_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

void sim_free(struct sim *w)
{
    struct sim_ev ev;
    while (heap_pop(&w->heap, &ev)) {
        if (ev.kind == SIM_EV_DELIVER) {
            free(ev.ptr);
        }
    }
    heap_free(&w->heap);
    for (uint32_t i = 0; w->nodes != NULL && i < w->n; i++) {
        swim_del(w->nodes[i].s);
    }
    simgroups_free(w);
    simlease_free(w);
    metrics_free(w);
    members_del(w->warm_table);
    swim_scratch_del(w->scratch);
    free(w->nodes);
    free(w->actions);
    memset(w, 0, sizeof(*w));
}
