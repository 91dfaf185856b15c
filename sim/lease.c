/* lease (ringsim): exclusive shard leases in the simulator and their checker; see lease.h. */
#include <stdlib.h>
#include <string.h>

#include "ring/codec.h"
#include "ring/error.h"
#include "ring/hashring.h"
#include "ring/lease.h"
#include "ring/members.h"
#include "ring/shards.h"

#include "lease.h"
#include "sim.h"

/* Owners of each shard in the ring of all nodes, in order: a view's owners are the first of
 * them it holds alive or suspect. */
#define PREF_MAX 64
/* Intervals of one shard tracked at once (two is already an overlap). */
#define HOLDS_MAX 4

enum end_cause {
    END_EXPIRY = 0, /* the lease ran out (or will): unplanned */
    END_RELEASE = 1,
    END_KILL = 2,
};

struct hold {
    uint32_t node;
    uint8_t cause;
    uint64_t from_us;
    uint64_t until_us; /* true time at which the node may no longer act */
};

struct track {
    struct hold h[HOLDS_MAX];
    uint8_t n;
    uint8_t last_cause;
    uint64_t last_end_us; /* when the last interval that ended did (0: none yet) */
};

/* Per node: the view its leases last got, and when. */
struct node_view {
    uint64_t members_sum, ring_sum;
    uint64_t at_us;
    uint8_t pending;
};

struct samples {
    double *v;
    size_t n, cap;
};

struct simlease {
    struct lease **obj;
    uint32_t shards;
    struct track *t;
    uint32_t pref_len;
    uint32_t *pref;    /* shards x pref_len node indexes */
    uint32_t *in_view; /* per node index: == view_gen when in the view being placed */
    uint32_t view_gen;
    struct node_view *views;
    struct samples planned, unplanned;
    uint64_t overlaps;
    uint64_t first_overlap_us;
    uint32_t first_overlap_shard, first_overlap_a, first_overlap_b;
    uint64_t msgs, bytes;
    struct lease_stats dead; /* summed over lease objects of killed processes */
    int snap;
    uint32_t side0, side1, both, none;
};

static int preferences(struct sim *w);

int simlease_on(const struct sim *w)
{
    return w->ls != NULL;
}

int simlease_init(struct sim *w)
{
    if (!w->opts.exclusive) {
        return 0;
    }
    struct simlease *ls = calloc(1, sizeof(*ls));
    if (ls == NULL) {
        return -1;
    }
    w->ls = ls;
    ls->shards = w->opts.shards != 0 ? w->opts.shards : SIM_LEASE_SHARDS_DEFAULT;
    ls->obj = calloc(w->n, sizeof(*ls->obj));
    ls->t = calloc(ls->shards, sizeof(*ls->t));
    ls->in_view = calloc(w->n, sizeof(*ls->in_view));
    ls->views = calloc(w->n, sizeof(*ls->views));
    if (ls->obj == NULL || ls->t == NULL || ls->in_view == NULL || ls->views == NULL) {
        return -1;
    }
    return preferences(w);
}

void simlease_free(struct sim *w)
{
    struct simlease *ls = w->ls;
    if (ls == NULL) {
        return;
    }
    for (uint32_t i = 0; ls->obj != NULL && i < w->n; i++) {
        lease_del(ls->obj[i]);
    }
    free(ls->pref);
    free(ls->in_view);
    free(ls->views);
    free(ls->obj);
    free(ls->t);
    free(ls->planned.v);
    free(ls->unplanned.v);
    free(ls);
    w->ls = NULL;
}

/* ---- placement ---- */

/* Every node's view places shards on the ring of its alive and suspect members. Building
 * that ring for every view would dominate the run (a 1,000-node ring has 1M points, and in
 * a partition every node passes through hundreds of views of its own). A member leaving a
 * consistent-hash ring only hands its points to the next ones clockwise, so the owners of a
 * shard in any view are the first members of the shard's order in the ring of all nodes
 * that the view holds: one ring, built once, with ringd's 1,024 points per member. */
static int preferences(struct sim *w)
{
    struct simlease *ls = w->ls;
    struct hashring_member *m = calloc(w->n, sizeof(*m));
    uint32_t *node_of = calloc(w->n, sizeof(*node_of)); /* ring member index -> node */
    struct hashring *r = NULL;
    ls->pref_len = w->n < PREF_MAX ? w->n : PREF_MAX;
    ls->pref = calloc((size_t)ls->shards * ls->pref_len, sizeof(*ls->pref));
    int rv = m != NULL && node_of != NULL && ls->pref != NULL ? 0 : -1;
    for (uint32_t i = 0; rv == 0 && i < w->n; i++) {
        m[i] = (struct hashring_member){ w->nodes[i].id, strlen(w->nodes[i].id), 1 };
    }
    if (rv == 0 && hashring_new(&r, m, w->n, NULL, NULL) != 0) {
        rv = -1;
    }
    for (uint32_t i = 0; rv == 0 && i < w->n; i++) {
        uint32_t idx;
        rv = hashring_find(r, m[i].id, m[i].id_len, &idx) == 0 ? 0 : -1;
        node_of[idx] = i;
    }
    for (uint32_t s = 0; rv == 0 && s < ls->shards; s++) {
        char key[SHARDS_KEY_BYTES_MAX + 1];
        uint32_t idx[PREF_MAX];
        int n = hashring_lookup_n(r, key, shards_key(s, key), ls->pref_len, idx);
        for (int k = 0; k < n; k++) {
            ls->pref[(size_t)s * ls->pref_len + k] = node_of[idx[k]];
        }
        for (int k = n > 0 ? n : 0; k < (int)ls->pref_len; k++) {
            ls->pref[(size_t)s * ls->pref_len + k] = ls->pref[(size_t)s * ls->pref_len];
        }
    }
    hashring_del(r);
    free(node_of);
    free(m);
    return rv;
}

struct placing {
    struct sim *w;
};

static size_t view_owners(uint32_t shard, struct lease_owner *out, size_t max, void *arg)
{
    struct sim *w = ((struct placing *)arg)->w;
    struct simlease *ls = w->ls;
    const uint32_t *pref = &ls->pref[(size_t)shard * ls->pref_len];
    size_t n = 0;
    for (uint32_t k = 0; k < ls->pref_len && n < max; k++) {
        if (ls->in_view[pref[k]] == ls->view_gen) {
            const char *id = w->nodes[pref[k]].id;
            out[n++] = (struct lease_owner){ id, strlen(id) };
        }
    }
    return n;
}

/* Gives node |i|'s leases its current view. */
static void apply_view(struct sim *w, uint32_t i, uint64_t now_ms)
{
    struct simlease *ls = w->ls;
    const struct swim *s = w->nodes[i].s;
    const struct members *t = swim_members(s);
    struct node_view *v = &ls->views[i];
    ls->view_gen++;
    for (size_t k = 0; k < members_count(t); k++) {
        int j = members_status(t, k) <= MEMBER_SUSPECT ? sim_addr_node(w, members_addr(t, k)) : -1;
        if (j >= 0) {
            ls->in_view[j] = ls->view_gen;
        }
    }
    struct placing p = { w };
    (void)lease_update_owners(ls->obj[i], t, swim_ring_checksum(s), view_owners, &p, now_ms);
    v->members_sum = members_checksum(t);
    v->ring_sum = swim_ring_checksum(s);
    v->at_us = w->now_us;
    v->pending = 0;
}

/* ---- the checker ---- */

static void sample_add(struct samples *s, double v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        double *p = realloc(s->v, cap * sizeof(*p));
        if (p == NULL) {
            return;
        }
        s->v = p;
        s->cap = cap;
    }
    s->v[s->n++] = v;
}

/* Drops the intervals that ended by |now|, remembering the latest end and its cause. */
static void prune(struct track *tr, uint64_t now_us)
{
    uint8_t keep = 0;
    for (uint8_t k = 0; k < tr->n; k++) {
        const struct hold *h = &tr->h[k];
        if (h->until_us > now_us) {
            tr->h[keep++] = *h;
        } else if (h->until_us >= tr->last_end_us) {
            tr->last_end_us = h->until_us;
            tr->last_cause = h->cause;
        }
    }
    tr->n = keep;
}

static struct hold *find_hold(struct track *tr, uint32_t node)
{
    for (uint8_t k = 0; k < tr->n; k++) {
        if (tr->h[k].node == node) {
            return &tr->h[k];
        }
    }
    return NULL;
}

static void hold_start(struct sim *w, uint32_t shard, uint32_t node, uint64_t until_us)
{
    struct simlease *ls = w->ls;
    struct track *tr = &ls->t[shard];
    uint64_t now = w->now_us;
    prune(tr, now);
    struct hold *mine = find_hold(tr, node);
    if (mine != NULL) {
        *mine = tr->h[--tr->n];
    }
    for (uint8_t k = 0; k < tr->n; k++) {
        if (ls->overlaps++ == 0) {
            ls->first_overlap_us = now;
            ls->first_overlap_shard = shard;
            ls->first_overlap_a = tr->h[k].node;
            ls->first_overlap_b = node;
        }
    }
    if (tr->n == 0 && tr->last_end_us >= SIM_LEASE_WARMUP_US) {
        double gap_ms = (double)(now - tr->last_end_us) / 1000.0;
        sample_add(tr->last_cause == END_RELEASE ? &ls->planned : &ls->unplanned, gap_ms);
    }
    if (tr->n == HOLDS_MAX) {
        tr->n--; /* counted as overlaps already */
    }
    tr->h[tr->n++] = (struct hold){ node, END_EXPIRY, now, until_us };
}

static void hold_extend(struct sim *w, uint32_t shard, uint32_t node, uint64_t until_us)
{
    struct hold *h = find_hold(&w->ls->t[shard], node);
    if (h != NULL && until_us > h->until_us) {
        h->until_us = until_us;
    }
}

static void hold_end(struct sim *w, uint32_t shard, uint32_t node, uint8_t cause)
{
    struct hold *h = find_hold(&w->ls->t[shard], node);
    if (h != NULL && h->until_us > w->now_us) {
        h->until_us = w->now_us;
        h->cause = cause;
    }
}

static int holding(int state)
{
    return state == LEASE_HELD || state == LEASE_RELEASING;
}

static void on_event(struct sim *w, uint32_t i, const struct lease_event *ev)
{
    uint64_t words[5] = { w->now_us, i, ev->shard, (uint64_t)ev->state << 8 | ev->prev, ev->epoch };
    sim_trace(w, words, sizeof(words));
    if (holding(ev->state)) {
        uint64_t until = sim_node_real_us(w, i, ev->expires_ms);
        if (holding(ev->prev)) {
            hold_extend(w, ev->shard, i, until);
        } else {
            hold_start(w, ev->shard, i, until);
        }
    } else if (holding(ev->prev)) {
        hold_end(w, ev->shard, i, ev->state == LEASE_NONE ? END_RELEASE : END_EXPIRY);
    }
}

/* ---- nodes ---- */

int simlease_node_start(struct sim *w, uint32_t i)
{
    struct simlease *ls = w->ls;
    if (ls == NULL) {
        return 0;
    }
    struct sim_node *nd = &w->nodes[i];
    struct lease_config c = { .id = nd->id,
                              .id_len = strlen(nd->id),
                              .shards = ls->shards,
                              .lease_ms = w->opts.lease_ms,
                              .seed = sim_node_seed(w, i, 48) };
    lease_del(ls->obj[i]);
    ls->obj[i] = NULL;
    memset(&ls->views[i], 0, sizeof(ls->views[i]));
    return lease_new(&ls->obj[i], &c, NULL, sim_node_ms(w, i)) == 0 ? 0 : -1;
}

static void add_stats(struct lease_stats *sum, const struct lease_stats *s)
{
    sum->acquired += s->acquired;
    sum->releases += s->releases;
    sum->lost += s->lost;
    sum->handoffs += s->handoffs;
    sum->rounds += s->rounds;
    sum->bumps += s->bumps;
    sum->msgs_dropped += s->msgs_dropped;
}

void simlease_node_kill(struct sim *w, uint32_t i)
{
    struct simlease *ls = w->ls;
    if (ls == NULL || ls->obj[i] == NULL) {
        return;
    }
    for (uint32_t s = 0; s < ls->shards; s++) {
        hold_end(w, s, i, END_KILL);
    }
    add_stats(&ls->dead, lease_stats(ls->obj[i]));
    lease_del(ls->obj[i]);
    ls->obj[i] = NULL;
}

void simlease_node_leave(struct sim *w, uint32_t i)
{
    if (w->ls != NULL && w->ls->obj[i] != NULL) {
        (void)lease_leave(w->ls->obj[i], sim_node_ms(w, i));
    }
}

void simlease_node_drain(struct sim *w, uint32_t i)
{
    struct simlease *ls = w->ls;
    if (ls == NULL || ls->obj[i] == NULL) {
        return;
    }
    static uint8_t buf[CODEC_DATAGRAM_BYTES_MAX];
    struct lease *l = ls->obj[i];
    uint64_t now_ms = sim_node_ms(w, i);
    const struct members *t = swim_members(w->nodes[i].s);
    struct node_view *v = &ls->views[i];
    if (v->members_sum != members_checksum(t) || v->ring_sum != swim_ring_checksum(w->nodes[i].s)) {
        if (v->at_us == 0 || w->now_us >= v->at_us + SIM_LEASE_VIEW_US) {
            apply_view(w, i, now_ms);
        } else {
            v->pending = 1;
        }
    }
    for (;;) {
        struct ring_addr to;
        ssize_t n;
        int any = 0;
        while ((n = lease_send_next(l, &to, buf, sizeof(buf), now_ms)) > 0) {
            ls->msgs++;
            ls->bytes += (uint64_t)n;
            net_send_dgram(w, i, sim_addr_node(w, &to), buf, (size_t)n);
            any = 1;
        }
        RING_ASSERT(n == 0);
        struct lease_event ev;
        while (lease_next_event(l, &ev) == 1) {
            on_event(w, i, &ev);
            if (ev.state == LEASE_RELEASING && ev.prev == LEASE_HELD) {
                (void)lease_release(l, ev.shard, now_ms); /* the app lets go at once */
            }
            any = 1;
        }
        if (!any) {
            break;
        }
    }
}

void simlease_node_tick(struct sim *w, uint32_t i, uint64_t now_ms)
{
    if (w->ls != NULL && w->ls->obj[i] != NULL) {
        (void)lease_tick(w->ls->obj[i], now_ms);
    }
}

uint64_t simlease_node_deadline(const struct sim *w, uint32_t i)
{
    if (w->ls == NULL || w->ls->obj[i] == NULL) {
        return UINT64_MAX;
    }
    uint64_t d = lease_next_deadline(w->ls->obj[i]);
    const struct node_view *v = &w->ls->views[i];
    if (v->pending) {
        uint64_t at = sim_node_ms_at(w, i, v->at_us + SIM_LEASE_VIEW_US) + 1;
        d = at < d ? at : d;
    }
    return d;
}

int simlease_deliver(struct sim *w, uint32_t i, uint32_t from, const uint8_t *buf, size_t len)
{
    if (w->ls == NULL || !codec_is_lease_type(codec_peek_type(buf, len))) {
        return 0;
    }
    if (w->ls->obj[i] != NULL) {
        (void)lease_recv(w->ls->obj[i], &w->nodes[from].addr, buf, len, sim_node_ms(w, i));
    }
    return 1;
}

uint32_t simlease_owned(const struct sim *w, uint32_t i)
{
    const struct simlease *ls = w->ls;
    uint32_t n = 0;
    for (uint32_t s = 0; ls != NULL && s < ls->shards; s++) {
        n += ls->pref[(size_t)s * ls->pref_len] == i;
    }
    return n;
}

void simlease_partition_snapshot(struct sim *w)
{
    struct simlease *ls = w->ls;
    if (ls == NULL) {
        return;
    }
    ls->snap = 1;
    ls->side0 = ls->side1 = ls->both = ls->none = 0;
    for (uint32_t s = 0; s < ls->shards; s++) {
        struct track *tr = &ls->t[s];
        prune(tr, w->now_us);
        int side[2] = { 0, 0 };
        for (uint8_t k = 0; k < tr->n; k++) {
            side[w->nodes[tr->h[k].node].side] = 1;
        }
        ls->side0 += (uint32_t)side[0];
        ls->side1 += (uint32_t)side[1];
        ls->both += (uint32_t)(side[0] && side[1]);
        ls->none += (uint32_t)(!side[0] && !side[1]);
    }
}

/* ---- figures ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(const struct samples *s, double q)
{
    if (s->n == 0) {
        return -1;
    }
    size_t idx = (size_t)(q * (double)(s->n - 1) + 0.5);
    return s->v[idx < s->n ? idx : s->n - 1];
}

void simlease_figures(const struct sim *w, struct simlease_figures *out)
{
    memset(out, 0, sizeof(*out));
    struct simlease *ls = w->ls;
    if (ls == NULL) {
        return;
    }
    if (ls->planned.n > 0) { /* no gaps: no array to sort */
        qsort(ls->planned.v, ls->planned.n, sizeof(double), cmp_double);
    }
    if (ls->unplanned.n > 0) {
        qsort(ls->unplanned.v, ls->unplanned.n, sizeof(double), cmp_double);
    }
    out->overlaps = ls->overlaps;
    out->planned_gaps = ls->planned.n;
    out->unplanned_gaps = ls->unplanned.n;
    out->planned_p50_ms = quantile(&ls->planned, 0.5);
    out->planned_p99_ms = quantile(&ls->planned, 0.99);
    out->planned_max_ms = quantile(&ls->planned, 1.0);
    out->unplanned_p50_ms = quantile(&ls->unplanned, 0.5);
    out->unplanned_p99_ms = quantile(&ls->unplanned, 0.99);
    out->unplanned_max_ms = quantile(&ls->unplanned, 1.0);
    for (uint32_t s = 0; s < ls->shards; s++) {
        prune(&ls->t[s], w->now_us);
        out->unheld_end += ls->t[s].n == 0;
    }
    out->partition_seen = ls->snap;
    out->side0_held = ls->side0;
    out->side1_held = ls->side1;
    out->both_held = ls->both;
    out->none_held = ls->none;
    struct lease_stats sum = ls->dead;
    for (uint32_t i = 0; i < w->n; i++) {
        if (ls->obj[i] != NULL) {
            add_stats(&sum, lease_stats(ls->obj[i]));
        }
    }
    out->acquired = sum.acquired;
    out->released = sum.releases;
    out->lost = sum.lost;
    out->handoffs = sum.handoffs;
    out->rounds = sum.rounds;
    out->bumps = sum.bumps;
    double ns = w->m.node_seconds > 0 ? w->m.node_seconds : 1;
    out->msgs_per_node_per_s = (double)ls->msgs / ns;
    out->bytes_per_node_per_s = (double)ls->bytes / ns;
}

static void field(FILE *f, int json, const char *key, double v)
{
    if (json) {
        fprintf(f, v < 0 ? "\"%s\":null," : "\"%s\":%.6g,", key, v);
    } else if (v < 0) {
        fprintf(f, "  %-28s -\n", key);
    } else {
        fprintf(f, "  %-28s %.6g\n", key, v);
    }
}

void simlease_report(const struct sim *w, int json, FILE *f)
{
    if (w->ls == NULL) {
        return;
    }
    struct simlease_figures g;
    simlease_figures(w, &g);
    field(f, json, "lease_shards", w->ls->shards);
    field(f, json, "lease_overlaps", (double)g.overlaps);
    field(f, json, "lease_planned_gaps", (double)g.planned_gaps);
    field(f, json, "lease_planned_gap_p50_ms", g.planned_p50_ms);
    field(f, json, "lease_planned_gap_p99_ms", g.planned_p99_ms);
    field(f, json, "lease_planned_gap_max_ms", g.planned_max_ms);
    field(f, json, "lease_unplanned_gaps", (double)g.unplanned_gaps);
    field(f, json, "lease_unplanned_gap_p50_ms", g.unplanned_p50_ms);
    field(f, json, "lease_unplanned_gap_p99_ms", g.unplanned_p99_ms);
    field(f, json, "lease_unplanned_gap_max_ms", g.unplanned_max_ms);
    field(f, json, "lease_unheld_end", g.unheld_end);
    field(f, json, "lease_side0_held", g.partition_seen ? (double)g.side0_held : -1);
    field(f, json, "lease_side1_held", g.partition_seen ? (double)g.side1_held : -1);
    field(f, json, "lease_both_sides_held", g.partition_seen ? (double)g.both_held : -1);
    field(f, json, "lease_unheld_in_partition", g.partition_seen ? (double)g.none_held : -1);
    field(f, json, "lease_acquired", (double)g.acquired);
    field(f, json, "lease_handoffs", (double)g.handoffs);
    field(f, json, "lease_released", (double)g.released);
    field(f, json, "lease_lost", (double)g.lost);
    field(f, json, "lease_msgs_per_node_per_s", g.msgs_per_node_per_s);
    field(f, json, "lease_bytes_per_node_per_s", g.bytes_per_node_per_s);
}

int simlease_check(const struct sim *w, char *why, size_t cap)
{
    const struct simlease *ls = w->ls;
    if (ls == NULL) {
        return 0;
    }
    if (ls->overlaps > 0) {
        snprintf(why, cap,
                 "%llu lease overlaps: the first at %.6f s, shard %u held by %s and %s at once",
                 (unsigned long long)ls->overlaps, (double)ls->first_overlap_us / 1e6,
                 ls->first_overlap_shard, w->nodes[ls->first_overlap_a].id,
                 w->nodes[ls->first_overlap_b].id);
        return -1;
    }
    struct simlease_figures g;
    simlease_figures(w, &g);
    if (g.unheld_end > 0) {
        snprintf(why, cap, "%u shards have no holder at the end of the run", g.unheld_end);
        return -1;
    }
    return 0;
}
