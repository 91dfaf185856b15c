/* groups (ringsim): sub-sharded worlds and their figures; see groups.h. */
#include <stdlib.h>
#include <string.h>

#include "ring/codec.h"
#include "ring/error.h"
#include "ring/groupmap.h"
#include "ring/groups.h"
#include "ring/hashring.h"
#include "groups_int.h"

#include "groups.h"
#include "sim.h"

/* Seeds of each group's swim, as the world's: its first three nodes. */
#define GROUP_SEEDS 3
/* Distinct ring checksums per group, and group sets, a sample builds rings or maps for;
 * nodes holding yet another one count as disagreeing on every key (reported). */
#define RINGS_PER_GROUP_MAX 8
#define MAPS_MAX            4

enum reach_kind {
    REACH_DEATH = 1,
    REACH_REJOIN = 2,
};

/* One churn change whose spread through its group is timed. */
struct reach {
    uint32_t node;
    uint8_t kind;
    uint8_t done;
    uint64_t at_us;
    uint64_t incarnation; /* REJOIN: the new process's */
    uint64_t done_us;
};

struct agree_stats {
    uint32_t samples;
    double sum, min, last;
    double strict_sum, strict_min, strict_last;
};

struct simgroups {
    uint32_t count; /* G; 1 when flat */
    char (*names)[16];
    struct ring_addr (*seeds)[GROUP_SEEDS];
    uint8_t *seed_count;
    uint32_t *members; /* nodes per group */
    struct groups **obj;
    struct sim_mem *gmem;
    /* Change reach. */
    struct reach *reach;
    size_t reach_count, reach_cap, reach_first_open;
    uint64_t reach_untimed;
    /* Key agreement. */
    uint64_t next_agree_us;
    uint64_t key_rng;
    struct agree_stats agree;
    double routable_last, current_last; /* fractions of (node, other group) pairs */
    uint32_t unready_last, capped_last;
    struct groupmap *maps[MAPS_MAX];
    uint64_t map_sums[MAPS_MAX];
    /* Cross-group traffic. */
    uint64_t x_dgrams, x_bytes;
    uint64_t *warm_cs; /* per group: its ring checksum in a warm start */
};

/* ---- setup ---- */

int simgroups_on(const struct sim *w)
{
    return w->gs != NULL && w->gs->count > 1;
}

uint32_t simgroups_of(const struct sim *w, uint32_t i)
{
    return simgroups_on(w) ? i % w->gs->count : 0;
}

int simgroups_same(const struct sim *w, uint32_t i, uint32_t j)
{
    return simgroups_of(w, i) == simgroups_of(w, j);
}

const char *simgroups_name(const struct sim *w, uint32_t i)
{
    return simgroups_on(w) ? w->gs->names[simgroups_of(w, i)] : NULL;
}

const struct ring_addr *simgroups_seeds(const struct sim *w, uint32_t i, size_t *n)
{
    if (!simgroups_on(w)) {
        *n = w->seed_count;
        return w->seeds;
    }
    uint32_t gi = simgroups_of(w, i);
    *n = w->gs->seed_count[gi];
    return w->gs->seeds[gi];
}

int simgroups_init(struct sim *w)
{
    struct simgroups *gs = calloc(1, sizeof(*gs));
    if (gs == NULL) {
        return -1;
    }
    w->gs = gs;
    uint32_t g = w->opts.groups > 1 ? w->opts.groups : 1;
    gs->count = g;
    gs->names = calloc(g, sizeof(*gs->names));
    gs->seeds = calloc(g, sizeof(*gs->seeds));
    gs->seed_count = calloc(g, 1);
    gs->members = calloc(g, sizeof(*gs->members));
    gs->obj = calloc(w->n, sizeof(*gs->obj));
    gs->gmem = calloc(w->n, sizeof(*gs->gmem));
    if (gs->names == NULL || gs->seeds == NULL || gs->seed_count == NULL || gs->members == NULL ||
        gs->obj == NULL || gs->gmem == NULL) {
        return -1;
    }
    for (uint32_t k = 0; k < g; k++) {
        snprintf(gs->names[k], sizeof(gs->names[k]), "g%u", k);
    }
    for (uint32_t i = 0; i < w->n; i++) {
        uint32_t k = i % g;
        if (gs->seed_count[k] < GROUP_SEEDS) {
            gs->seeds[k][gs->seed_count[k]++] = w->nodes[i].addr;
        }
        gs->members[k]++;
        sim_mem_init(&gs->gmem[i]);
    }
    gs->next_agree_us = SIM_AGREE_SAMPLE_US;
    gs->key_rng = w->opts.seed ^ UINT64_C(0x6b657973); /* "keys" */
    gs->agree.min = gs->agree.strict_min = 1.0;
    return 0;
}

void simgroups_free(struct sim *w)
{
    struct simgroups *gs = w->gs;
    if (gs == NULL) {
        return;
    }
    for (uint32_t i = 0; gs->obj != NULL && i < w->n; i++) {
        groups_del(gs->obj[i]);
    }
    for (int k = 0; k < MAPS_MAX; k++) {
        groupmap_del(gs->maps[k]);
    }
    free(gs->names);
    free(gs->seeds);
    free(gs->seed_count);
    free(gs->members);
    free(gs->obj);
    free(gs->gmem);
    free(gs->reach);
    free(gs->warm_cs);
    free(gs);
    w->gs = NULL;
}

/* ---- nodes ---- */

/* The summary node |i|'s group would author after a long quiet run: its size, its ring
 * checksum (from |i|'s own warm table) and its first nodes as contacts, version 1. */
static void warm_summary(struct sim *w, uint32_t gi, struct codec_summary *s)
{
    struct simgroups *gs = w->gs;
    struct groups_config d = { 0 };
    groups_config_defaults(&d);
    memset(s, 0, sizeof(*s));
    s->name_len = (uint8_t)strlen(gs->names[gi]);
    memcpy(s->name, gs->names[gi], s->name_len);
    s->version = 1;
    s->size = gs->members[gi];
    for (uint32_t j = gi; j < w->n && s->contact_count < d.contacts; j += gs->count) {
        struct codec_contact *c = &s->contacts[s->contact_count++];
        c->id_len = (uint8_t)strlen(w->nodes[j].id);
        memcpy(c->id, w->nodes[j].id, c->id_len);
        c->addr = w->nodes[j].addr;
    }
}

/* The ring checksum of group |gi| with all its warm nodes alive at weight 1, as every one
 * of them computes it (the sum form of hashring_checksum(), RING.md). */
static uint64_t warm_checksum(struct sim *w, uint32_t gi)
{
    uint64_t sum = 0;
    for (uint32_t j = gi; j < w->warm_count; j += w->gs->count) {
        sum += hashring_member_digest(w->nodes[j].id, strlen(w->nodes[j].id), 1);
    }
    return hashring_checksum_from_sum(HASHRING_VNODES_DEFAULT, sum);
}

static int fill_groups(struct sim *w, struct groups *g)
{
    struct simgroups *gs = w->gs;
    struct codec_summary s;
    if (gs->warm_cs == NULL) {
        gs->warm_cs = malloc(gs->count * sizeof(*gs->warm_cs));
        for (uint32_t k = 0; gs->warm_cs != NULL && k < gs->count; k++) {
            gs->warm_cs[k] = warm_checksum(w, k);
        }
    }
    if (gs->warm_cs == NULL) {
        return -1;
    }
    for (uint32_t k = 0; k < gs->count; k++) {
        warm_summary(w, k, &s);
        s.ring_checksum = gs->warm_cs[k];
        if (groups__test_put(g, &s) != 0) {
            return -1;
        }
    }
    return 0;
}

int simgroups_node_start(struct sim *w, uint32_t i, int warm)
{
    struct simgroups *gs = w->gs;
    if (!simgroups_on(w)) {
        return 0;
    }
    groups_del(gs->obj[i]);
    gs->obj[i] = NULL;
    struct sim_node *nd = &w->nodes[i];
    struct groups_config cfg = { 0 };
    cfg.id = nd->id;
    cfg.id_len = strlen(nd->id);
    cfg.addr = nd->addr;
    cfg.group = gs->names[simgroups_of(w, i)];
    cfg.group_len = strlen(cfg.group);
    cfg.seed = sim_rand(&(uint64_t){ w->opts.seed ^ ((uint64_t)nd->gen << 32 | i) ^ 0x67 });
    cfg.exchange_interval_ms = w->opts.exchange_interval_ms;
    int rv = groups_new(&gs->obj[i], &cfg, &gs->gmem[i].mem, w->now_us / 1000);
    /* The world's seeds (nodes 0..2, one per group for G >= 3): how groups first meet. */
    if (rv == 0) {
        rv = groups_join(gs->obj[i], w->seeds, w->seed_count);
    }
    /* A warm start begins long after every group authored its summary. */
    if (rv == 0 && warm) {
        rv = fill_groups(w, gs->obj[i]);
    }
    return rv == 0 ? 0 : -1;
}

void simgroups_node_kill(struct sim *w, uint32_t i)
{
    if (simgroups_on(w)) {
        groups_del(w->gs->obj[i]);
        w->gs->obj[i] = NULL;
    }
}

void simgroups_node_drain(struct sim *w, uint32_t i)
{
    static uint8_t buf[CODEC_DATAGRAM_BYTES_MAX];
    struct simgroups *gs = w->gs;
    if (!simgroups_on(w) || gs->obj[i] == NULL) {
        return;
    }
    struct groups *g = gs->obj[i];
    struct swim *s = w->nodes[i].s;
    uint64_t now_ms = w->now_us / 1000;
    (void)groups_drive(g, s, now_ms);
    struct ring_addr to;
    ssize_t n;
    while ((n = groups_send_next(g, &to, buf, sizeof(buf), now_ms)) > 0) {
        gs->x_dgrams++;
        gs->x_bytes += (uint64_t)n;
        net_send_dgram(w, i, sim_addr_node(w, &to), buf, (size_t)n);
    }
}

uint64_t simgroups_node_deadline(const struct sim *w, uint32_t i, uint64_t swim_deadline)
{
    return groups_deadline_with(simgroups_on(w) ? w->gs->obj[i] : NULL, swim_deadline);
}

int simgroups_deliver(struct sim *w, uint32_t i, uint32_t from, const uint8_t *buf, size_t len)
{
    if (!codec_is_groups_type(codec_peek_type(buf, len))) {
        return 0;
    }
    if (simgroups_on(w) && w->gs->obj[i] != NULL) {
        (void)groups_recv(w->gs->obj[i], &w->nodes[from].addr, buf, len, w->now_us / 1000);
    }
    return 1;
}

/* ---- change reach ---- */

static void reach_add(struct sim *w, uint32_t i, uint8_t kind, uint64_t incarnation)
{
    struct simgroups *gs = w->gs;
    if (gs->reach_count == SIM_REACH_MAX) {
        gs->reach_untimed++;
        return;
    }
    if (gs->reach_count == gs->reach_cap) {
        size_t cap = gs->reach_cap ? gs->reach_cap * 2 : 256;
        struct reach *r = realloc(gs->reach, cap * sizeof(*r));
        if (r == NULL) {
            gs->reach_untimed++;
            return;
        }
        gs->reach = r;
        gs->reach_cap = cap;
    }
    struct reach *r = &gs->reach[gs->reach_count++];
    memset(r, 0, sizeof(*r));
    r->node = i;
    r->kind = kind;
    r->at_us = w->now_us;
    r->incarnation = incarnation;
}

void simgroups_on_kill(struct sim *w, uint32_t i)
{
    if (w->nodes[i].up) {
        reach_add(w, i, REACH_DEATH, 0);
    }
}

void simgroups_on_restart(struct sim *w, uint32_t i)
{
    if (w->nodes[i].up) {
        reach_add(w, i, REACH_REJOIN, swim_incarnation(w->nodes[i].s));
    }
}

/* Does observer |o| see change |r|? */
static int sees(const struct sim *w, uint32_t o, const struct reach *r)
{
    const struct members *t = swim_members(w->nodes[o].s);
    const struct sim_node *subj = &w->nodes[r->node];
    int idx = members_index(t, subj->id, strlen(subj->id));
    if (r->kind == REACH_DEATH) {
        return idx < 0 || members_status(t, (size_t)idx) >= MEMBER_FAULTY;
    }
    return idx >= 0 && members_status(t, (size_t)idx) == MEMBER_ALIVE &&
           members_incarnation(t, (size_t)idx) >= r->incarnation;
}

/* 1 when every running member of |r|'s group (but the subject) sees it. A death is moot once
 * the node is back (its rejoin is timed instead), a rejoin once it died again. */
static int reached(const struct sim *w, const struct reach *r)
{
    uint32_t g = w->gs->count;
    for (uint32_t o = r->node % g; o < w->n; o += g) {
        if (o != r->node && w->nodes[o].up && !sees(w, o, r)) {
            return 0;
        }
    }
    return 1;
}

static void reach_sample(struct sim *w)
{
    struct simgroups *gs = w->gs;
    for (size_t k = gs->reach_first_open; k < gs->reach_count; k++) {
        struct reach *r = &gs->reach[k];
        if (r->done) {
            continue;
        }
        int moot = (r->kind == REACH_DEATH) == w->nodes[r->node].up;
        if (moot) {
            r->done = 2;
        } else if (reached(w, r)) {
            r->done = 1;
            r->done_us = w->now_us;
        }
    }
    while (gs->reach_first_open < gs->reach_count && gs->reach[gs->reach_first_open].done) {
        gs->reach_first_open++;
    }
}

/* ---- key agreement ---- */

static struct groups *obj_of(const struct sim *w, uint32_t i)
{
    return w->gs->obj != NULL ? w->gs->obj[i] : NULL;
}

/* Running nodes whose view counts: every running node when flat; with groups, those whose
 * group table is ready (a restarted node is not, for its first exchanges). */
static int counted(const struct sim *w, uint32_t i)
{
    if (!w->nodes[i].up) {
        return 0;
    }
    return !simgroups_on(w) || (obj_of(w, i) != NULL && groups_ready(obj_of(w, i)));
}

/* Builds the ring of node |i|'s table (its alive and suspect members). */
static struct hashring *ring_of(const struct sim *w, uint32_t i)
{
    const struct members *t = swim_members(w->nodes[i].s);
    size_t n = members_count(t);
    struct hashring_member *hm = malloc((n + 1) * sizeof(*hm));
    size_t k = 0;
    for (size_t j = 0; hm != NULL && j < n; j++) {
        if (members_in_ring(t, j)) {
            hm[k].id = members_id(t, j, &hm[k].id_len);
            hm[k++].weight = members_weight(t, j);
        }
    }
    struct hashring *r = NULL;
    if (hm != NULL && hashring_new(&r, hm, k, NULL, NULL) != 0) {
        r = NULL;
    }
    free(hm);
    return r;
}

/* One group's views at a sample: its distinct ring checksums, a ring for each, and how
 * many counted members hold each. */
struct group_view {
    uint32_t rings;
    uint64_t checksum[RINGS_PER_GROUP_MAX];
    uint32_t holders[RINGS_PER_GROUP_MAX];
    struct hashring *ring[RINGS_PER_GROUP_MAX];
    uint32_t counted;
    uint32_t capped;               /* members whose checksum found no slot */
    uint64_t major;                /* the checksum most members hold */
    uint32_t route_ok, current_ok; /* counted nodes elsewhere that can route / hold major */
};

static void view_add(struct sim *w, struct group_view *v, uint32_t i)
{
    uint64_t cs = swim_ring_checksum(w->nodes[i].s);
    v->counted++;
    for (uint32_t k = 0; k < v->rings; k++) {
        if (v->checksum[k] == cs) {
            v->holders[k]++;
            return;
        }
    }
    if (v->rings == RINGS_PER_GROUP_MAX) {
        v->capped++;
        return;
    }
    v->checksum[v->rings] = cs;
    v->holders[v->rings] = 1;
    v->ring[v->rings++] = ring_of(w, i);
}

static void view_finish(struct group_view *v)
{
    uint32_t best = 0;
    for (uint32_t k = 0; k < v->rings; k++) {
        if (v->holders[k] > v->holders[best]) {
            best = k;
        }
    }
    v->major = v->rings > 0 ? v->checksum[best] : 0;
}

static void views_free(struct group_view *v, uint32_t n)
{
    for (uint32_t gi = 0; gi < n; gi++) {
        for (uint32_t k = 0; k < v[gi].rings; k++) {
            hashring_del(v[gi].ring[k]);
        }
    }
}

/* The group index of a sim group name "g<k>". */
static uint32_t group_index(const char *name, size_t len)
{
    uint32_t k = 0;
    for (size_t j = 1; j < len; j++) {
        k = k * 10 + (uint32_t)(name[j] - '0');
    }
    return k;
}

/* Whether contact |c| is a running node of group |gi|. */
static int contact_live(const struct sim *w, const struct codec_contact *c, uint32_t gi)
{
    int n = sim_addr_node(w, &c->addr);
    return n >= 0 && w->nodes[n].up && simgroups_of(w, (uint32_t)n) == gi;
}

/* Node |i|'s table against the groups' views: routable and current counts. */
static void table_check(const struct sim *w, uint32_t i, struct group_view *views)
{
    const struct groups *g = obj_of(w, i);
    uint32_t own = simgroups_of(w, i);
    for (size_t k = 0; k < g->count; k++) {
        const struct groups_entry *e = &g->entries[k];
        uint32_t gi = group_index((const char *)e->blob, e->name_len);
        if (gi >= w->gs->count || gi == own) {
            continue;
        }
        struct group_view *v = &views[gi];
        v->current_ok += e->ring_checksum == v->major;
        for (int c = 0; c < e->contact_count; c++) {
            struct codec_contact ct;
            groups__contact(e, c, &ct);
            if (!(e->failed & (1u << c)) && contact_live(w, &ct, gi)) {
                v->route_ok++;
                break;
            }
        }
    }
}

/* The group maps of the counted nodes' sets (usually one), cached by set checksum. */
static int maps_for(struct sim *w, uint32_t *n_maps)
{
    struct simgroups *gs = w->gs;
    uint32_t n = 0;
    uint64_t sums[MAPS_MAX];
    uint32_t witness[MAPS_MAX];
    for (uint32_t i = 0; i < w->n; i++) {
        if (!counted(w, i)) {
            continue;
        }
        uint64_t cs = groups_set_checksum(obj_of(w, i));
        uint32_t k = 0;
        while (k < n && sums[k] != cs) {
            k++;
        }
        if (k == n) {
            if (n == MAPS_MAX) {
                return -1;
            }
            sums[n] = cs;
            witness[n++] = i;
        }
    }
    for (uint32_t k = 0; k < n; k++) {
        if (gs->maps[k] != NULL && gs->map_sums[k] == sums[k]) {
            continue;
        }
        groupmap_del(gs->maps[k]);
        gs->maps[k] = NULL;
        if (groups_map_new(obj_of(w, witness[k]), &gs->maps[k], NULL) != 0) {
            return -1;
        }
        gs->map_sums[k] = sums[k];
    }
    *n_maps = n;
    return 0;
}

/* The group of |key| if every map agrees on it, else -1. */
static int key_group(struct sim *w, uint32_t n_maps, const char *key, size_t len)
{
    if (!simgroups_on(w)) {
        return 0;
    }
    int gi = -1;
    for (uint32_t k = 0; k < n_maps; k++) {
        uint32_t idx;
        size_t name_len;
        if (groupmap_lookup(w->gs->maps[k], key, len, &idx) != 0) {
            return -1;
        }
        const char *name = groupmap_name(w->gs->maps[k], idx, &name_len);
        int g = (int)group_index(name, name_len);
        if (gi >= 0 && g != gi) {
            return -1;
        }
        gi = g;
    }
    return gi;
}

/* Whether every ring of |v| gives |key| the same owner id. */
static int owners_agree(const struct group_view *v, const char *key, size_t len)
{
    if (v->capped > 0 || v->rings == 0) {
        return v->rings == 0 && v->capped == 0;
    }
    const struct hashring_member *first = NULL;
    for (uint32_t k = 0; k < v->rings; k++) {
        uint32_t o;
        if (v->ring[k] == NULL || hashring_lookup(v->ring[k], key, len, &o) != 0) {
            return 0;
        }
        const struct hashring_member *m = hashring_member(v->ring[k], o);
        if (first != NULL &&
            (m->id_len != first->id_len || memcmp(m->id, first->id, m->id_len) != 0)) {
            return 0;
        }
        first = m;
    }
    return 1;
}

static void agree_sample(struct sim *w)
{
    struct simgroups *gs = w->gs;
    uint32_t G = gs->count;
    struct group_view *views = calloc(G, sizeof(*views));
    uint32_t n_maps = 0;
    if (views == NULL || (simgroups_on(w) && maps_for(w, &n_maps) != 0)) {
        free(views);
        return;
    }
    uint32_t total = 0, unready = 0;
    for (uint32_t i = 0; i < w->n; i++) {
        if (counted(w, i)) {
            view_add(w, &views[simgroups_of(w, i)], i);
            total++;
        } else {
            unready += w->nodes[i].up;
        }
    }
    uint32_t capped = 0;
    for (uint32_t gi = 0; gi < G; gi++) {
        view_finish(&views[gi]);
        capped += views[gi].capped;
    }
    double pairs = 0, routable = 0, current = 0;
    for (uint32_t i = 0; simgroups_on(w) && i < w->n; i++) {
        if (counted(w, i)) {
            table_check(w, i, views);
        }
    }
    for (uint32_t gi = 0; simgroups_on(w) && gi < G; gi++) {
        pairs += total - views[gi].counted;
        routable += views[gi].route_ok;
        current += views[gi].current_ok;
    }
    uint32_t agreed = 0, strict = 0;
    for (uint32_t k = 0; k < SIM_AGREE_KEYS; k++) {
        char key[32];
        int len =
            snprintf(key, sizeof(key), "key-%016llx", (unsigned long long)sim_rand(&gs->key_rng));
        int gi = key_group(w, n_maps, key, (size_t)len);
        if (gi < 0 || !owners_agree(&views[gi], key, (size_t)len)) {
            continue;
        }
        uint32_t elsewhere = total - views[gi].counted;
        int routes = !simgroups_on(w) || views[gi].route_ok == elsewhere;
        agreed += routes;
        strict += routes && (!simgroups_on(w) || views[gi].current_ok == elsewhere);
    }
    views_free(views, G);
    free(views);
    struct agree_stats *a = &gs->agree;
    a->last = (double)agreed / SIM_AGREE_KEYS;
    a->strict_last = (double)strict / SIM_AGREE_KEYS;
    a->sum += a->last;
    a->strict_sum += a->strict_last;
    a->min = a->last < a->min ? a->last : a->min;
    a->strict_min = a->strict_last < a->strict_min ? a->strict_last : a->strict_min;
    a->samples++;
    gs->routable_last = pairs > 0 ? routable / pairs : 1.0;
    gs->current_last = pairs > 0 ? current / pairs : 1.0;
    gs->unready_last = unready;
    gs->capped_last = capped;
}

void simgroups_sample(struct sim *w)
{
    if (w->gs == NULL) {
        return;
    }
    reach_sample(w);
    if (w->now_us >= w->gs->next_agree_us) {
        w->gs->next_agree_us = w->now_us + SIM_AGREE_SAMPLE_US;
        agree_sample(w);
    }
}

void simgroups_finish(struct sim *w)
{
    if (w->gs != NULL) {
        reach_sample(w);
        agree_sample(w);
    }
}

/* ---- convergence with groups ---- */

/* Per group: the most common (checksum, ring checksum) among running members, by a
 * Boyer-Moore vote per group. */
struct vote {
    uint64_t cs, ring;
    uint32_t votes;
};

static struct vote *votes(const struct sim *w)
{
    uint32_t G = w->gs->count;
    struct vote *v = calloc(G, sizeof(*v));
    for (uint32_t i = 0; v != NULL && i < w->n; i++) {
        if (!w->nodes[i].up) {
            continue;
        }
        struct vote *x = &v[simgroups_of(w, i)];
        uint64_t cs = swim_checksum(w->nodes[i].s), ring = swim_ring_checksum(w->nodes[i].s);
        if (x->votes == 0) {
            x->cs = cs;
            x->ring = ring;
        }
        x->votes += (cs == x->cs && ring == x->ring) ? 1 : (uint32_t)-1;
    }
    return v;
}

uint32_t simgroups_agreement(const struct sim *w)
{
    struct vote *v = votes(w);
    uint32_t agree = 0;
    for (uint32_t i = 0; v != NULL && i < w->n; i++) {
        const struct vote *x = &v[simgroups_of(w, i)];
        const struct swim *s = w->nodes[i].s;
        agree += w->nodes[i].up && swim_checksum(s) == x->cs && swim_ring_checksum(s) == x->ring;
    }
    free(v);
    return agree;
}

/* Every running node sees every running member of its group alive, and every running node
 * holds the same group table, whose summaries carry each group's ring checksum. */
int simgroups_converged(const struct sim *w)
{
    uint32_t G = w->gs->count;
    uint32_t *up = calloc(G, sizeof(*up));
    struct vote *v = votes(w);
    int ok = up != NULL && v != NULL;
    for (uint32_t i = 0; ok && i < w->n; i++) {
        up[simgroups_of(w, i)] += w->nodes[i].up;
    }
    uint64_t digest = 0;
    int first = -1;
    for (uint32_t i = 0; ok && i < w->n; i++) {
        if (!w->nodes[i].up) {
            continue;
        }
        const struct members *t = swim_members(w->nodes[i].s);
        uint32_t n = up[simgroups_of(w, i)];
        const struct groups *g = obj_of(w, i);
        ok = members_count_status(t, MEMBER_ALIVE) == n && members_ring_count(t) == n &&
             g != NULL && (first < 0 || groups_digest(g) == digest);
        if (first < 0) {
            first = (int)i;
            digest = g != NULL ? groups_digest(g) : 0;
        }
    }
    for (uint32_t gi = 0; ok && first >= 0 && gi < G; gi++) {
        const struct groups *g = obj_of(w, (uint32_t)first);
        int k = groups_find(g, w->gs->names[gi], strlen(w->gs->names[gi]));
        ok = up[gi] == 0 || (k >= 0 && g->entries[k].ring_checksum == v[gi].ring);
    }
    free(up);
    free(v);
    return ok;
}

/* ---- the report ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

struct reach_fig {
    uint32_t count, pending;
    double mean_s, p99_s, max_s;
};

static struct reach_fig reach_fig(const struct sim *w, uint8_t kind)
{
    const struct simgroups *gs = w->gs;
    struct reach_fig f = { 0, 0, -1, -1, -1 };
    uint64_t *v = malloc((gs->reach_count + 1) * sizeof(*v));
    double sum = 0;
    for (size_t k = 0; v != NULL && k < gs->reach_count; k++) {
        const struct reach *r = &gs->reach[k];
        if (r->kind != kind) {
            continue;
        }
        if (r->done == 1) {
            v[f.count++] = r->done_us - r->at_us;
            sum += (double)(r->done_us - r->at_us);
        } else if (r->done == 0) {
            f.pending++;
        }
    }
    if (v != NULL && f.count > 0) {
        qsort(v, f.count, sizeof(*v), cmp_u64);
        f.mean_s = sum / f.count / 1e6;
        f.p99_s = (double)v[(size_t)(0.99 * (f.count - 1))] / 1e6;
        f.max_s = (double)v[f.count - 1] / 1e6;
    }
    free(v);
    return f;
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

/* Mean member-table bytes over running nodes: swim's table plus the group table. */
static void table_bytes(const struct sim *w, double *swim_b, double *groups_b)
{
    double s = 0, g = 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < w->n; i++) {
        if (!w->nodes[i].up) {
            continue;
        }
        s += (double)members_memory_bytes(swim_members(w->nodes[i].s));
        g += simgroups_on(w) ? (double)w->gs->gmem[i].bytes : 0;
        n++;
    }
    *swim_b = n ? s / n : 0;
    *groups_b = n ? g / n : 0;
}

void simgroups_figures(const struct sim *w, struct simgroups_figures *out)
{
    const struct simgroups *gs = w->gs;
    memset(out, 0, sizeof(*out));
    double ns = w->m.node_seconds > 0 ? w->m.node_seconds : 1;
    struct reach_fig d = reach_fig(w, REACH_DEATH);
    struct reach_fig r = reach_fig(w, REACH_REJOIN);
    out->death_reach_mean_s = d.mean_s;
    out->death_reach_p99_s = d.p99_s;
    out->death_reach_max_s = d.max_s;
    out->death_reach_count = d.count;
    out->rejoin_reach_mean_s = r.mean_s;
    out->rejoin_reach_p99_s = r.p99_s;
    out->rejoin_reach_max_s = r.max_s;
    out->rejoin_reach_count = r.count;
    out->reach_pending = d.pending + r.pending + (uint32_t)gs->reach_untimed;
    const struct agree_stats *a = &gs->agree;
    out->agreement_samples = a->samples;
    out->key_agreement_final = a->samples ? a->last : -1;
    out->key_agreement_mean = a->samples ? a->sum / a->samples : -1;
    out->key_agreement_min = a->samples ? a->min : -1;
    out->key_agreement_strict_final = a->samples ? a->strict_last : -1;
    out->key_agreement_strict_mean = a->samples ? a->strict_sum / a->samples : -1;
    out->routable_final = gs->routable_last;
    out->current_final = gs->current_last;
    out->unready_final = gs->unready_last;
    out->capped_final = gs->capped_last;
    table_bytes(w, &out->swim_table_bytes, &out->group_table_bytes);
    out->exchange_msgs_per_node_per_s = (double)gs->x_dgrams / ns;
    out->exchange_bytes_per_node_per_s = (double)gs->x_bytes / ns;
}

void simgroups_report(const struct sim *w, int json, FILE *f)
{
    if (w->gs == NULL) {
        return;
    }
    struct simgroups_figures x;
    simgroups_figures(w, &x);
    field(f, json, "groups", w->gs->count);
    field(f, json, "death_reach_mean_s", x.death_reach_mean_s);
    field(f, json, "death_reach_p99_s", x.death_reach_p99_s);
    field(f, json, "death_reach_max_s", x.death_reach_max_s);
    field(f, json, "death_reach_count", x.death_reach_count);
    field(f, json, "rejoin_reach_mean_s", x.rejoin_reach_mean_s);
    field(f, json, "rejoin_reach_p99_s", x.rejoin_reach_p99_s);
    field(f, json, "rejoin_reach_max_s", x.rejoin_reach_max_s);
    field(f, json, "rejoin_reach_count", x.rejoin_reach_count);
    field(f, json, "reach_pending", x.reach_pending);
    field(f, json, "key_agreement_final", x.key_agreement_final);
    field(f, json, "key_agreement_mean", x.key_agreement_mean);
    field(f, json, "key_agreement_min", x.key_agreement_min);
    field(f, json, "key_agreement_strict_final", x.key_agreement_strict_final);
    field(f, json, "key_agreement_strict_mean", x.key_agreement_strict_mean);
    field(f, json, "agreement_samples", x.agreement_samples);
    field(f, json, "routable_pairs_final", x.routable_final);
    field(f, json, "current_summary_pairs_final", x.current_final);
    field(f, json, "unready_nodes_final", x.unready_final);
    field(f, json, "agreement_capped_nodes", x.capped_final);
    field(f, json, "swim_table_bytes_per_node", x.swim_table_bytes);
    field(f, json, "group_table_bytes_per_node", x.group_table_bytes);
    field(f, json, "member_table_total_bytes_per_node", x.swim_table_bytes + x.group_table_bytes);
    field(f, json, "exchange_msgs_per_node_per_s", x.exchange_msgs_per_node_per_s);
    field(f, json, "exchange_bytes_per_node_per_s", x.exchange_bytes_per_node_per_s);
}
