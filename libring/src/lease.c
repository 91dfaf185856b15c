/*
 * lease: exclusive shard leases (ring/lease.h; the rules and the safety argument are in
 * proto/LEASES.md). This file is the holder's side and the API: the view (who votes, who
 * owns what), each shard's state machine, the event and output queues. lease_accept.c is
 * the acceptor (the promises this node makes to others), lease_round.c the request rounds
 * that claim and renew.
 *
 * One rule drives every shard (lease__evaluate): a shard is wanted when the ring makes this
 * node its owner, or its previous holder handed it here; a wanted shard is claimed until a
 * majority grants it; a held one is released only when the node it should move to has
 * asked for it (its claim reached us) and our ring agrees, or when we leave. Handing off only
 * on request (pull, not push) is what keeps planned gaps short: the new owner is already
 * claiming when the old one lets go, and a holder never lets go towards a node that its
 * ring names but that is not there to take it.
 *
 * Departures from the textbook leases (Gray and Cheriton; Chubby; Raft's leader leases):
 * the grantor is not one master but a majority of the members, as in PaxosLease (Trencseni
 * et al., 2010), so no node is special and a minority cut off from the rest can never
 * acquire; and a restarted acceptor votes for nobody for one lease period instead of
 * keeping promises on disk.
 */
#include <string.h>

#include <xxhash.h>

#include "ring/error.h"
#include "ring/shards.h"
#include "lease_int.h"

static const char *const state_names[] = { "none", "acquiring", "held", "releasing", "lost" };

const char *lease_state_name(int state)
{
    return state >= 0 && state <= LEASE_LOST ? state_names[state] : "unknown";
}

static uint32_t or_default(uint32_t v, uint32_t def)
{
    return v != 0 ? v : def;
}

void lease_config_defaults(struct lease_config *c)
{
    c->lease_ms = or_default(c->lease_ms, LEASE_DEFAULT_LEASE_MS);
    c->renew_ms = or_default(c->renew_ms, c->lease_ms / 2);
    c->claim_retry_ms = or_default(c->claim_retry_ms, LEASE_DEFAULT_CLAIM_RETRY_MS);
    c->resend_ms = or_default(c->resend_ms, LEASE_DEFAULT_RESEND_MS);
    c->drift_ppm = or_default(c->drift_ppm, LEASE_DEFAULT_DRIFT_PPM);
    c->release_timeout_ms = or_default(c->release_timeout_ms, LEASE_DEFAULT_RELEASE_TIMEOUT_MS);
    c->datagram_bytes_max = or_default(c->datagram_bytes_max, LEASE_DEFAULT_DATAGRAM_BYTES);
}

static int config_ok(const struct lease_config *c)
{
    return c->id != NULL && member_text_check(MEMBER_TEXT_ID, c->id, c->id_len, NULL) == 0 &&
           c->shards > 0 && c->shards <= SHARDS_MAX && c->lease_ms >= LEASE_LEASE_MS_MIN &&
           c->lease_ms <= CODEC_LEASE_MS_MAX && c->renew_ms <= c->lease_ms / 2 &&
           c->drift_ppm < LEASE_DRIFT_PPM_MAX && c->datagram_bytes_max >= 512 &&
           c->datagram_bytes_max <= CODEC_DATAGRAM_BYTES_MAX;
}

uint64_t lease__hash(const char *id, size_t len)
{
    uint64_t h = XXH3_64bits(id, len);
    return h != 0 ? h : 1; /* 0 means "nobody" */
}

/* The drift bound's share of |ms|, rounded up. */
static uint64_t drift_of(const struct lease *l, uint32_t ms)
{
    return ((uint64_t)ms * l->cfg.drift_ppm + 999999) / 1000000;
}

uint64_t lease__hold_ms(const struct lease *l, uint32_t lease_ms)
{
    return lease_ms - drift_of(l, lease_ms);
}

/* + 1: clocks are read in whole ms, so a request that arrived at x.9 ms reads as x; the
 * promise must not end that much early. (The holder's reading errs the safe way.) */
uint64_t lease__promise_ms(const struct lease *l, uint32_t lease_ms)
{
    return lease_ms + drift_of(l, lease_ms) + 1;
}

/* ---- construction ---- */

static void *alloc0(struct lease *l, size_t n, size_t size)
{
    return l->mem.calloc(n, size, l->mem.user_data);
}

static void release_mem(struct lease *l, void *p)
{
    l->mem.free(p, l->mem.user_data);
}

int lease_new(struct lease **out, const struct lease_config *cfg, const struct ring_mem *mem,
              uint64_t now_ms)
{
    struct lease_config c = *cfg;
    lease_config_defaults(&c);
    if (out == NULL || !config_ok(&c)) {
        return RING_EINVAL;
    }
    const struct ring_mem *m = mem != NULL ? mem : ring_mem_default();
    struct lease *l = m->calloc(1, sizeof(*l), m->user_data);
    if (l == NULL) {
        return RING_ENOMEM;
    }
    l->mem = *m;
    l->cfg = c;
    memcpy(l->id, c.id, c.id_len);
    l->cfg.id = l->id;
    l->self = lease__hash(c.id, c.id_len);
    l->rng = c.seed;
    l->ready_ms = now_ms + lease__promise_ms(l, c.lease_ms);
    l->next_round_ms = UINT64_MAX;
    l->slots = alloc0(l, c.shards, sizeof(*l->slots));
    l->promises = alloc0(l, c.shards, sizeof(*l->promises));
    l->active = alloc0(l, c.shards, sizeof(*l->active));
    l->pos = alloc0(l, c.shards, sizeof(*l->pos));
    l->succ = alloc0(l, c.shards, sizeof(*l->succ));
    l->ev_cap = 2 * c.shards + LEASE_EVENTS_MIN;
    l->ev = alloc0(l, l->ev_cap, sizeof(*l->ev));
    if (l->slots == NULL || l->promises == NULL || l->active == NULL || l->pos == NULL ||
        l->succ == NULL || l->ev == NULL) {
        lease_del(l);
        return RING_ENOMEM;
    }
    for (uint32_t s = 0; s < c.shards; s++) {
        l->pos[s] = UINT32_MAX;
        l->slots[s].rank = LEASE_RANKS;
        l->promises[s].heard_ms = now_ms; /* nothing is an orphan before we could hear */
    }
    *out = l;
    return 0;
}

void lease_del(struct lease *l)
{
    if (l == NULL) {
        return;
    }
    lease__round_free(l, l->round);
    lease__voters_unref(l, l->vs);
    while (l->out_len > 0) {
        release_mem(l, l->out[l->out_head].buf);
        l->out_head = (l->out_head + 1) % l->out_cap;
        l->out_len--;
    }
    release_mem(l, l->out);
    release_mem(l, l->ev);
    release_mem(l, l->slots);
    release_mem(l, l->promises);
    release_mem(l, l->active);
    release_mem(l, l->pos);
    release_mem(l, l->succ);
    release_mem(l, l);
}

/* ---- events and states ---- */

void lease__event(struct lease *l, uint32_t shard, int prev)
{
    if (l->ev_len == l->ev_cap) {
        l->stats.events_dropped++;
        return;
    }
    const struct lease_slot *sl = &l->slots[shard];
    struct lease_event *ev = &l->ev[(l->ev_head + l->ev_len++) % l->ev_cap];
    ev->shard = shard;
    ev->state = sl->state;
    ev->prev = (uint8_t)prev;
    ev->epoch = sl->epoch;
    ev->expires_ms = sl->state == LEASE_HELD || sl->state == LEASE_RELEASING ? sl->expires_ms : 0;
}

static int holding(int state)
{
    return state == LEASE_HELD || state == LEASE_RELEASING;
}

static void active_add(struct lease *l, uint32_t shard)
{
    l->pos[shard] = l->active_count;
    l->active[l->active_count++] = shard;
}

static void active_remove(struct lease *l, uint32_t shard)
{
    uint32_t i = l->pos[shard];
    uint32_t last = l->active[--l->active_count];
    l->active[i] = last;
    l->pos[last] = i;
    l->pos[shard] = UINT32_MAX;
}

void lease__set_state(struct lease *l, uint32_t shard, int state, uint64_t now_ms)
{
    struct lease_slot *sl = &l->slots[shard];
    int prev = sl->state;
    if (prev == state) {
        return;
    }
    if (prev == LEASE_NONE) {
        active_add(l, shard);
    } else if (state == LEASE_NONE) {
        active_remove(l, shard);
    }
    l->held_count += (uint32_t)holding(state) - (uint32_t)holding(prev);
    sl->state = (uint8_t)state;
    sl->since_ms = now_ms;
    lease__event(l, shard, prev);
}

void lease__round_soon(struct lease *l, uint64_t now_ms)
{
    /* A node that cannot hear a majority keeps probing at its backoff: new wants change
     * nothing about that (in a partition the minority's views change many times a second). */
    if (l->next_round_ms != UINT64_MAX && !lease__majority_heard(l, now_ms)) {
        return;
    }
    l->claim_backoff = 0;
    lease__round_again(l, now_ms);
}

void lease__round_again(struct lease *l, uint64_t now_ms)
{
    uint64_t at = l->last_round_ms + LEASE_ROUND_GAP_MS;
    at = at > now_ms ? at : now_ms;
    l->next_round_ms = at < l->next_round_ms ? at : l->next_round_ms;
}

/* A held lease ran out: LOST (counted, and as lapsed when the app never released it). */
static void expire(struct lease *l, uint32_t shard, uint64_t now_ms)
{
    struct lease_slot *sl = &l->slots[shard];
    l->stats.lost++;
    if (sl->state == LEASE_RELEASING && now_ms - sl->since_ms >= l->cfg.release_timeout_ms) {
        l->stats.lapsed++;
    }
    sl->bump = 0;
    lease__set_state(l, shard, LEASE_LOST, now_ms);
    lease__round_soon(l, now_ms);
}

static int wanted_by_owner(const struct lease *l, const struct lease_slot *sl, uint64_t now_ms)
{
    uint64_t window = (uint64_t)l->cfg.claim_retry_ms * LEASE_WANT_RETRIES;
    return sl->owner != l->self && sl->want != 0 && sl->want == sl->owner &&
           now_ms - sl->want_ms <= window;
}

/* Orphans. The ring's owner of a shard may be unreachable without being declared faulty
 * yet (the failure detector is slow in a big partition: Lifeguard stretches the probes of
 * nodes whose own probes fail), and then nobody claims the shard. Its successors in ring
 * order do, the k-th once it has heard no request for the shard from any other node for
 * lease_ms + (k - 1) x renew_ms and holds no live promise for it: the owner would have
 * claimed three times in a lease, and each successor's claims silence the later ones. A
 * claim from an earlier one makes it withdraw; a holder hands the shard to the ring's owner
 * when the owner asks, as after any move. */
static uint64_t orphan_at(const struct lease *l, uint32_t shard)
{
    const struct lease_slot *sl = &l->slots[shard];
    const struct lease_promise *p = &l->promises[shard];
    if (sl->rank == 0 || sl->rank >= LEASE_RANKS) {
        return UINT64_MAX;
    }
    uint64_t from = p->heard_ms > l->ready_ms ? p->heard_ms : l->ready_ms;
    uint64_t at = from + l->cfg.lease_ms + (uint64_t)(sl->rank - 1) * l->cfg.renew_ms;
    uint64_t live = p->holder != l->self ? p->until_ms : 0; /* our own claims do not count */
    return at > live ? at : live;
}

/* Claims the orphans due, and notes when the next one may be (requests heard later only
 * push that further, so the note stays a lower bound until the next scan). */
static void orphans_scan(struct lease *l, uint64_t now_ms)
{
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < l->succ_count && !l->leaving; i++) {
        uint32_t s = l->succ[i];
        if (l->slots[s].state == LEASE_NONE) {
            lease__evaluate(l, s, now_ms);
        }
        if (l->slots[s].state == LEASE_NONE) {
            uint64_t at = orphan_at(l, s);
            next = at < next ? at : next;
        }
    }
    l->orphan_min_ms = next;
}

void lease__evaluate(struct lease *l, uint32_t shard, uint64_t now_ms)
{
    struct lease_slot *sl = &l->slots[shard];
    if (holding(sl->state) && now_ms >= sl->expires_ms) {
        expire(l, shard, now_ms);
    }
    if (sl->designated && now_ms >= sl->designated_until) {
        sl->designated = 0;
    }
    int mine =
        !l->leaving && (sl->owner == l->self || sl->designated || now_ms >= orphan_at(l, shard));
    switch (sl->state) {
    case LEASE_NONE:
        if (mine) {
            lease__set_state(l, shard, LEASE_ACQUIRING, now_ms);
            lease__round_soon(l, now_ms);
        }
        break;
    case LEASE_ACQUIRING:
    case LEASE_LOST:
        if (!mine) {
            lease__set_state(l, shard, LEASE_NONE, now_ms);
            if (sl->claimed != 0) {
                lease__withdraw(l, shard, sl->claimed);
                sl->claimed = 0;
            }
        }
        break;
    case LEASE_HELD:
        if (l->leaving || wanted_by_owner(l, sl, now_ms)) {
            lease__set_state(l, shard, LEASE_RELEASING, now_ms);
        }
        break;
    default: /* RELEASING: taken back if the ring says it is ours again */
        if (!l->leaving && sl->owner == l->self) {
            lease__set_state(l, shard, LEASE_HELD, now_ms);
        }
        break;
    }
}

/* ---- the view ---- */

struct lease_voters *lease__voters_ref(struct lease_voters *vs)
{
    vs->refs++;
    return vs;
}

void lease__voters_unref(struct lease *l, struct lease_voters *vs)
{
    if (vs != NULL && --vs->refs == 0) {
        release_mem(l, vs);
    }
}

uint32_t lease__voter_find(const struct lease_voters *vs, uint64_t hash)
{
    if (vs == NULL) {
        return UINT32_MAX;
    }
    for (uint32_t i = (uint32_t)hash & vs->mask;; i = (i + 1) & vs->mask) {
        uint32_t slot = vs->table[i];
        if (slot == 0) {
            return UINT32_MAX;
        }
        if (vs->v[slot - 1].hash == hash) {
            return slot - 1;
        }
    }
}

/* 1 when id |a| sorts before id |b|: bytewise, then the shorter first. */
static int id_less(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = memcmp(a, b, n);
    return c < 0 || (c == 0 && alen < blen);
}

static struct lease_voters *voters_alloc(struct lease *l, size_t n)
{
    uint32_t slots = 2;
    while (slots < 2 * n) {
        slots *= 2;
    }
    size_t bytes = sizeof(struct lease_voters) + n * sizeof(struct lease_voter) +
                   (size_t)slots * sizeof(uint32_t);
    struct lease_voters *vs = l->mem.calloc(1, bytes, l->mem.user_data);
    if (vs == NULL) {
        return NULL;
    }
    vs->refs = 1;
    vs->mask = slots - 1;
    vs->v = (struct lease_voter *)(vs + 1);
    vs->table = (uint32_t *)(vs->v + n);
    vs->self = UINT32_MAX;
    return vs;
}

/* Adds a voter unless its hash is there already (two ids with one 64-bit hash: counted
 * once). */
static uint32_t voters_add(struct lease_voters *vs, uint64_t hash, const struct ring_addr *addr,
                           int live)
{
    uint32_t i = (uint32_t)hash & vs->mask;
    while (vs->table[i] != 0) {
        if (vs->v[vs->table[i] - 1].hash == hash) {
            return UINT32_MAX;
        }
        i = (i + 1) & vs->mask;
    }
    uint32_t idx = vs->count++;
    vs->table[i] = idx + 1;
    vs->v[idx].hash = hash;
    vs->v[idx].addr = *addr;
    vs->v[idx].live = (uint8_t)live;
    return idx;
}

/* Who votes: every record but the left ones (faulty members count until they are reaped, so
 * a failure never shrinks the majority a node needs). */
static struct lease_voters *voters_build(struct lease *l, const struct members *t)
{
    size_t n = members_count(t);
    struct lease_voters *vs = voters_alloc(l, n);
    if (vs == NULL) {
        return NULL;
    }
    const char *low = NULL;
    size_t low_len = 0;
    for (size_t i = 0; i < n; i++) {
        int st = members_status(t, i);
        if (st == MEMBER_LEFT) {
            continue;
        }
        size_t len;
        const char *id = members_id(t, i, &len);
        uint64_t h = lease__hash(id, len);
        uint32_t idx = voters_add(vs, h, members_addr(t, i), st <= MEMBER_SUSPECT);
        if (idx == UINT32_MAX) {
            continue;
        }
        if (h == l->self) {
            vs->self = idx;
        }
        if (low == NULL || id_less(id, len, low, low_len)) {
            low = id;
            low_len = len;
            vs->lowest = idx;
        }
    }
    return vs;
}

/* Each shard's owners (|cb| NULL: none): the first, the two after it, and this node's rank
 * among the first LEASE_RANKS. */
static void place(struct lease *l, lease_owners_cb cb, void *arg)
{
    l->succ_count = 0;
    for (uint32_t s = 0; s < l->cfg.shards; s++) {
        struct lease_slot *sl = &l->slots[s];
        struct lease_owner o[LEASE_RANKS];
        size_t n = cb != NULL ? cb(s, o, LEASE_RANKS, arg) : 0;
        uint64_t h[3] = { 0, 0, 0 };
        sl->rank = LEASE_RANKS;
        for (size_t k = 0; k < n && k < LEASE_RANKS; k++) {
            if (k < 3) {
                h[k] = lease__hash(o[k].id, o[k].id_len);
            }
            if (sl->rank == LEASE_RANKS && o[k].id_len == l->cfg.id_len &&
                memcmp(o[k].id, l->id, o[k].id_len) == 0) {
                sl->rank = (uint8_t)k;
            }
        }
        sl->owner = h[0];
        sl->alt[0] = h[1];
        sl->alt[1] = h[2];
        if (sl->rank > 0 && sl->rank < LEASE_RANKS) {
            l->succ[l->succ_count++] = s;
        }
    }
}

int lease_update_owners(struct lease *l, const struct members *t, uint64_t placement,
                        lease_owners_cb cb, void *arg, uint64_t now_ms)
{
    int changed = 0;
    if (t != NULL) {
        size_t n = members_count(t);
        uint64_t sum = members_checksum(t);
        if (!l->have_members || n != l->members_n || sum != l->members_sum) {
            struct lease_voters *vs = voters_build(l, t);
            if (vs == NULL) {
                return RING_ENOMEM;
            }
            lease__voters_unref(l, l->vs);
            l->vs = vs;
            l->have_members = 1;
            l->members_n = n;
            l->members_sum = sum;
            changed = 1;
        }
    }
    int have = cb != NULL ? 1 : 2;
    if (l->have_ring != have || placement != l->ring_sum) {
        place(l, cb, arg);
        l->have_ring = have;
        l->ring_sum = placement;
        changed = 1;
    }
    for (uint32_t s = 0; changed && s < l->cfg.shards; s++) {
        lease__evaluate(l, s, now_ms);
    }
    if (changed) {
        orphans_scan(l, now_ms);
    }
    return 0;
}

/* The owners of |shard| in a ring: its placement key's owners in ring order. */
static size_t ring_owners(uint32_t shard, struct lease_owner *out, size_t max, void *arg)
{
    const struct hashring *ring = arg;
    char key[SHARDS_KEY_BYTES_MAX + 1];
    uint32_t idx[LEASE_OWNERS_MAX];
    max = max < LEASE_OWNERS_MAX ? max : LEASE_OWNERS_MAX;
    int n = hashring_lookup_n(ring, key, shards_key(shard, key), max, idx);
    for (int k = 0; k < n; k++) {
        const struct hashring_member *m = hashring_member(ring, idx[k]);
        out[k] = (struct lease_owner){ m->id, m->id_len };
    }
    return n > 0 ? (size_t)n : 0;
}

int lease_update(struct lease *l, const struct members *t, const struct hashring *ring,
                 uint64_t now_ms)
{
    uint64_t placement = ring != NULL ? hashring_checksum(ring) : 0;
    return lease_update_owners(l, t, placement, ring != NULL ? ring_owners : NULL,
                               (void *)(uintptr_t)ring, now_ms);
}

/* ---- output ---- */

int lease__queue(struct lease *l, const struct ring_addr *to, const struct codec_lease *m)
{
    if (l->out_len == l->out_cap) {
        uint32_t cap = l->out_cap ? l->out_cap * 2 : 16;
        struct lease_out *o = cap <= LEASE_OUT_MAX ? alloc0(l, cap, sizeof(*o)) : NULL;
        if (o == NULL) {
            l->stats.msgs_dropped++;
            return RING_ENOMEM;
        }
        for (uint32_t i = 0; i < l->out_len; i++) {
            o[i] = l->out[(l->out_head + i) % l->out_cap];
        }
        release_mem(l, l->out);
        l->out = o;
        l->out_cap = cap;
        l->out_head = 0;
    }
    size_t len = codec_lease_header_size(m);
    for (int i = 0; i < m->entry_count; i++) {
        len += codec_lease_entry_size(&m->entries[i]);
    }
    uint8_t *buf = l->mem.malloc(len, l->mem.user_data);
    if (buf == NULL) {
        l->stats.msgs_dropped++;
        return RING_ENOMEM;
    }
    ssize_t n = codec_encode_lease(buf, len, m);
    RING_ASSERT(n == (ssize_t)len);
    struct lease_out *o = &l->out[(l->out_head + l->out_len++) % l->out_cap];
    o->to = *to;
    o->len = len;
    o->buf = buf;
    return 0;
}

ssize_t lease_send_next(struct lease *l, struct ring_addr *to, uint8_t *buf, size_t cap,
                        uint64_t now_ms)
{
    (void)now_ms;
    ssize_t n;
    if (l->out_len > 0) {
        struct lease_out *o = &l->out[l->out_head];
        if (o->len > cap) {
            return RING_ENOBUFS;
        }
        memcpy(buf, o->buf, o->len);
        *to = o->to;
        n = (ssize_t)o->len;
        release_mem(l, o->buf);
        l->out_head = (l->out_head + 1) % l->out_cap;
        l->out_len--;
    } else {
        n = lease__round_send(l, to, buf, cap);
    }
    if (n > 0) {
        l->stats.msgs_out++;
        l->stats.bytes_out += (uint64_t)n;
    }
    return n;
}

int lease_next_event(struct lease *l, struct lease_event *ev)
{
    if (l->ev_len == 0) {
        return 0;
    }
    *ev = l->ev[l->ev_head];
    l->ev_head = (l->ev_head + 1) % l->ev_cap;
    l->ev_len--;
    return 1;
}

/* ---- input and time ---- */

int lease_recv(struct lease *l, const struct ring_addr *from, const uint8_t *buf, size_t len,
               uint64_t now_ms)
{
    int rv = codec_decode_lease(buf, len, &l->msg);
    if (rv != 0) {
        l->stats.decode_errors++;
        return rv;
    }
    l->stats.msgs_in++;
    l->stats.bytes_in += len;
    switch (l->msg.type) {
    case CODEC_LEASE_REQ:
        return lease__recv_request(l, from, now_ms);
    case CODEC_LEASE_ACK:
        lease__recv_ack(l, from, now_ms);
        return 0;
    default:
        lease__recv_release(l, now_ms);
        return 0;
    }
}

void lease__wake(struct lease *l, uint64_t at_ms)
{
    l->wake_ms = at_ms < l->wake_ms ? at_ms : l->wake_ms;
}

int lease_tick(struct lease *l, uint64_t now_ms)
{
    /* Backwards: evaluating a shard may drop it from the active list, which moves the last
     * entry (already visited) into its place. */
    for (uint32_t i = l->active_count; i-- > 0;) {
        lease__evaluate(l, l->active[i], now_ms);
    }
    l->wake_ms = UINT64_MAX;
    for (uint32_t i = 0; i < l->active_count; i++) {
        const struct lease_slot *sl = &l->slots[l->active[i]];
        if (holding(sl->state)) {
            lease__wake(l, sl->expires_ms);
        }
        if (sl->designated) {
            lease__wake(l, sl->designated_until);
        }
    }
    orphans_scan(l, now_ms);
    lease__round_tick(l, now_ms);
    return 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

uint64_t lease_next_deadline(const struct lease *l)
{
    return min_u64(min_u64(lease__round_deadline(l), l->wake_ms), l->orphan_min_ms);
}

/* ---- the app's calls ---- */

/* Where a released shard goes: the node that asked for it, else the ring's owner, else the
 * owner after this node. */
uint64_t lease__release_target(const struct lease *l, const struct lease_slot *sl, uint64_t skip,
                               uint64_t now_ms)
{
    uint64_t window = (uint64_t)l->cfg.claim_retry_ms * LEASE_WANT_RETRIES;
    if (sl->want != 0 && sl->want != l->self && sl->want != skip &&
        now_ms - sl->want_ms <= window) {
        return sl->want;
    }
    const uint64_t order[3] = { sl->owner, sl->alt[0], sl->alt[1] };
    for (int k = 0; k < 3; k++) {
        if (order[k] != 0 && order[k] != l->self && order[k] != skip) {
            return order[k];
        }
    }
    return 0;
}

int lease_release(struct lease *l, uint32_t shard, uint64_t now_ms)
{
    if (shard >= l->cfg.shards) {
        return RING_EINVAL;
    }
    struct lease_slot *sl = &l->slots[shard];
    if (!holding(sl->state)) {
        return RING_ENOENT;
    }
    struct lease_promise *p = &l->promises[shard];
    if (p->holder == l->self && p->epoch == sl->epoch) {
        p->until_ms = 0;
    }
    sl->released = sl->epoch;
    sl->released_ms = now_ms;
    sl->bump = 0;
    l->stats.releases++;
    lease__set_state(l, shard, LEASE_NONE, now_ms);
    uint64_t to = lease__release_target(l, sl, 0, now_ms);
    if (to != 0) {
        lease__send_release(l, to, shard, sl->epoch);
    }
    sl->want = 0;
    lease__evaluate(l, shard, now_ms);
    return 0;
}

int lease_leave(struct lease *l, uint64_t now_ms)
{
    l->leaving = 1;
    for (uint32_t i = l->active_count; i-- > 0;) {
        lease__evaluate(l, l->active[i], now_ms);
    }
    return 0;
}

int lease_drained(const struct lease *l)
{
    return l->leaving && l->held_count == 0;
}

int lease_check(const struct lease *l, uint32_t shard, uint64_t now_ms, uint64_t *epoch)
{
    if (shard >= l->cfg.shards) {
        return 0;
    }
    const struct lease_slot *sl = &l->slots[shard];
    if (!holding(sl->state) || now_ms >= sl->expires_ms) {
        return 0;
    }
    if (epoch != NULL) {
        *epoch = sl->epoch;
    }
    return 1;
}

int lease_get(const struct lease *l, uint32_t shard, uint64_t now_ms, struct lease_shard_info *out)
{
    if (shard >= l->cfg.shards) {
        return RING_EINVAL;
    }
    const struct lease_slot *sl = &l->slots[shard];
    out->state = sl->state;
    out->epoch = sl->epoch;
    out->expires_ms = holding(sl->state) ? sl->expires_ms : 0;
    if (holding(sl->state) && now_ms >= sl->expires_ms) {
        out->state = LEASE_LOST;
    }
    return 0;
}

uint32_t lease_held_count(const struct lease *l)
{
    return l->held_count;
}

const struct lease_stats *lease_stats(const struct lease *l)
{
    return &l->stats;
}
