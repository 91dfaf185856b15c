/*
 * lease_round: request rounds, the claimant's and holder's half of the protocol.
 *
 * A round asks every voter, in one request per datagram part, for every shard this node
 * holds (renewals: its epoch) or wants (claims: the highest epoch it knows of or held + 1,
 * with the previous holder's release when it has one). It starts at t0 on this node's clock; each
 * entry that gathers grants from a majority of the round's voters (more than half, or
 * exactly half including the lowest id) is held until t0 + lease_ms less the drift bound.
 * Counting from t0, before any acceptor's promise started, is what makes the holder's end
 * come first (proto/LEASES.md, "Timing").
 *
 * A round runs until the next one starts: every renew_ms, or every claim_retry_ms (doubling
 * after each round that claimed nothing, up to renew_ms) while claims are pending, or soon
 * after something new is wanted. Voters that have not answered a part are asked again
 * after resend_ms, twice at most, while some entry still lacks its majority. A round's
 * request parts are encoded once and sent to every voter; acks are matched by (round,
 * part) and counted once per voter and part.
 */
#include <stdlib.h>
#include <string.h>

#include "ring/error.h"
#include "lease_int.h"

#define ROUND_NO_MASK (UINT32_MAX >> LEASE_PART_BITS)

static void *zalloc(struct lease *l, size_t n, size_t size)
{
    return l->mem.calloc(n, size, l->mem.user_data);
}

static void release_mem(struct lease *l, void *p)
{
    l->mem.free(p, l->mem.user_data);
}

void lease__round_free(struct lease *l, struct lease_round *r)
{
    if (r == NULL) {
        return;
    }
    for (uint32_t i = 0; r->p != NULL && i < r->parts; i++) {
        release_mem(l, r->p[i].buf);
    }
    release_mem(l, r->p);
    release_mem(l, r->e);
    release_mem(l, r->acked);
    lease__voters_unref(l, r->vs);
    release_mem(l, r);
}

/* ---- what a round asks for ---- */

static int renewable(const struct lease *l, const struct lease_slot *sl, uint64_t now_ms)
{
    if (sl->state != LEASE_HELD && sl->state != LEASE_RELEASING) {
        return 0;
    }
    if (now_ms >= sl->expires_ms) {
        return 0;
    }
    /* A RELEASING shard the app has not let go of lapses after the bound. */
    return sl->state == LEASE_HELD || now_ms - sl->since_ms < l->cfg.release_timeout_ms;
}

static int held_state(const struct lease_slot *sl)
{
    return sl->state == LEASE_HELD || sl->state == LEASE_RELEASING;
}

static int claimable(const struct lease_slot *sl)
{
    return sl->state == LEASE_ACQUIRING || sl->state == LEASE_LOST;
}

/* The epoch a claim asks for: above every epoch this node knows of, its own included. An
 * epoch it held and released must never be asked for again: an acceptor that has not heard
 * of the release still promises it to this node and would grant it as a renewal, while the
 * node the release went to claims the next one with the release as its certificate. */
static uint64_t claim_epoch(const struct lease_slot *sl)
{
    uint64_t top = sl->known_max > sl->epoch ? sl->known_max : sl->epoch;
    return top + 1;
}

static int by_shard(const void *a, const void *b)
{
    uint32_t x = ((const struct lease_rentry *)a)->shard;
    uint32_t y = ((const struct lease_rentry *)b)->shard;
    return (x > y) - (x < y);
}

/* Fills |e| (room for every active shard) with what is due now; returns the count and sets
 * |*claims| when some claim is due, |*waiting| when claims wait for the acceptor's start. */
/* 1 when a majority answered a round that started less than a lease ago: this node is on
 * the majority side, and its claims can succeed. A node that cannot hear from a majority
 * must not claim: its claims would leave promises with the acceptors that do hear it (one
 * way) and block the claims that can succeed. It probes instead (a request with nothing in
 * it, which every acceptor acks) and claims once a majority answers. */
int lease__majority_heard(const struct lease *l, uint64_t now_ms)
{
    return l->majority_ms != 0 && now_ms - l->majority_ms < l->cfg.lease_ms;
}

static uint32_t collect(struct lease *l, struct lease_rentry *e, uint64_t now_ms, int *claims,
                        int *waiting, int *held_back)
{
    uint32_t n = 0;
    int heard = lease__majority_heard(l, now_ms);
    *claims = *waiting = *held_back = 0;
    for (uint32_t i = 0; i < l->active_count; i++) {
        uint32_t s = l->active[i];
        const struct lease_slot *sl = &l->slots[s];
        if (renewable(l, sl, now_ms) && sl->bump && !l->leaving) {
            e[n++] = (struct lease_rentry){ .shard = s, .epoch = claim_epoch(sl), .claim = 1 };
        } else if (renewable(l, sl, now_ms)) {
            e[n++] = (struct lease_rentry){ .shard = s, .epoch = sl->epoch };
        } else if (claimable(sl) && !l->leaving) {
            if (now_ms < l->ready_ms) {
                *waiting = 1;
                continue;
            }
            if (!heard) {
                *held_back = 1;
                continue;
            }
            uint64_t epoch = claim_epoch(sl);
            e[n++] =
                (struct lease_rentry){ .shard = s, .epoch = epoch, .cert = sl->cert, .claim = 1 };
            l->slots[s].claimed = epoch;
            *claims = 1;
        }
    }
    qsort(e, n, sizeof(*e), by_shard);
    return n;
}

/* Entries per datagram: so many that even the largest ack of them fits the budget. */
static uint32_t per_part(const struct lease *l)
{
    struct codec_lease h = { .type = CODEC_LEASE_ACK,
                             .seq = UINT32_MAX,
                             .from_len = MEMBER_ID_BYTES_MAX,
                             .entry_count = UINT16_MAX };
    size_t head = codec_lease_header_size(&h) + 8; /* lease_ms of a request */
    uint32_t n = (uint32_t)((l->cfg.datagram_bytes_max - head) / LEASE_ENTRY_BYTES_MAX);
    return n < CODEC_LEASE_ENTRIES_MAX ? n : CODEC_LEASE_ENTRIES_MAX;
}

static int encode_part(struct lease *l, struct lease_round *r, uint32_t part)
{
    struct lease_part *p = &r->p[part];
    struct codec_lease *m = &l->msg;
    m->type = CODEC_LEASE_REQ;
    m->seq = (r->no & ROUND_NO_MASK) << LEASE_PART_BITS | part;
    m->from_len = (uint8_t)l->cfg.id_len;
    memcpy(m->from, l->id, l->cfg.id_len + 1);
    m->lease_ms = r->lease_ms;
    m->entry_count = (uint16_t)p->count;
    size_t len = codec_lease_header_size(m);
    for (uint32_t i = 0; i < p->count; i++) {
        const struct lease_rentry *re = &r->e[p->first + i];
        m->entries[i] = (struct codec_lease_entry){ re->shard, re->epoch, re->cert };
        len += codec_lease_entry_size(&m->entries[i]);
    }
    p->buf = l->mem.malloc(len, l->mem.user_data);
    if (p->buf == NULL) {
        return RING_ENOMEM;
    }
    ssize_t n = codec_encode_lease(p->buf, len, m);
    RING_ASSERT(n == (ssize_t)len);
    p->len = len;
    return 0;
}

static struct lease_round *round_build(struct lease *l, uint64_t now_ms, int *claims, int *waiting,
                                       int *held_back)
{
    struct lease_round *r = zalloc(l, 1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    r->e = zalloc(l, l->active_count + 1, sizeof(*r->e));
    r->vs = lease__voters_ref(l->vs);
    r->count = r->e != NULL ? collect(l, r->e, now_ms, claims, waiting, held_back) : 0;
    uint32_t pp = per_part(l);
    r->parts = (r->count + pp - 1) / pp;
    if (r->parts == 0 && *held_back) {
        r->parts = 1; /* a probe: one empty request */
    }
    if (r->parts > LEASE_PARTS_MAX) {
        r->parts = LEASE_PARTS_MAX; /* the rest waits for the next round */
        r->count = LEASE_PARTS_MAX * pp;
    }
    r->p = zalloc(l, r->parts + 1, sizeof(*r->p));
    r->acked = zalloc(l, ((size_t)r->parts * r->vs->count + 7) / 8 + 1, 1);
    if (r->e == NULL || r->p == NULL || r->acked == NULL) {
        lease__round_free(l, r);
        return NULL;
    }
    r->no = ++l->round_no;
    r->lease_ms = l->cfg.lease_ms;
    r->t0_ms = now_ms;
    r->open = r->count;
    for (uint32_t k = 0; k < r->parts; k++) {
        r->p[k].first = k * pp;
        r->p[k].count = r->count - k * pp < pp ? r->count - k * pp : pp;
        if (encode_part(l, r, k) != 0) {
            lease__round_free(l, r);
            return NULL;
        }
    }
    return r;
}

/* ---- grants ---- */

/* More than half of the voters, or exactly half with the lowest id among them. */
static int majority(const struct lease_round *r, uint32_t n, int lowest)
{
    uint64_t twice = 2 * (uint64_t)n;
    return twice > r->vs->count || (twice == r->vs->count && lowest);
}

static int quorum(const struct lease_round *r, const struct lease_rentry *re)
{
    return majority(r, re->grants, re->lowest);
}

/* Voter |voter| answered part 0 of |r|: once a majority has, this node is known to be on
 * the majority side (and claims held back go out now). */
static void answered(struct lease *l, struct lease_round *r, uint32_t voter, uint64_t now_ms)
{
    int before = majority(r, r->answered, r->lowest_answered);
    r->answered++;
    r->lowest_answered |= voter == r->vs->lowest;
    if (!before && majority(r, r->answered, r->lowest_answered)) {
        l->majority_ms = r->t0_ms > l->majority_ms ? r->t0_ms : l->majority_ms;
        if (r->held_back) {
            lease__round_again(l, now_ms);
        }
    }
}

static void apply(struct lease *l, const struct lease_round *r, const struct lease_rentry *re,
                  uint64_t now_ms)
{
    uint64_t end = r->t0_ms + lease__hold_ms(l, r->lease_ms);
    struct lease_slot *sl = &l->slots[re->shard];
    if (end <= now_ms) {
        return; /* the grants came too late to be worth anything (a pause, a slow network) */
    }
    if (!re->claim) {
        if (held_state(sl) && sl->epoch == re->epoch && end > sl->expires_ms) {
            sl->expires_ms = end;
            lease__wake(l, end);
            l->stats.renewals++;
            lease__event(l, re->shard, sl->state);
        }
        return;
    }
    if (held_state(sl) && re->epoch > sl->epoch) {
        /* A bump: the same holder, a new epoch that every acceptor of the majority has. */
        sl->epoch = re->epoch;
        sl->known_max = re->epoch > sl->known_max ? re->epoch : sl->known_max;
        sl->expires_ms = end > sl->expires_ms ? end : sl->expires_ms;
        lease__wake(l, sl->expires_ms);
        sl->bump = 0;
        l->stats.bumps++;
        lease__event(l, re->shard, sl->state);
        return;
    }
    if (!claimable(sl) || l->leaving) {
        return;
    }
    uint64_t waited = now_ms - sl->since_ms;
    l->stats.acquired++;
    l->stats.acquire_ms_sum += waited;
    l->stats.acquire_ms_max = waited > l->stats.acquire_ms_max ? waited : l->stats.acquire_ms_max;
    if (re->cert != 0 && re->cert == sl->cert) {
        uint64_t h = now_ms - sl->cert_ms;
        l->stats.handoffs++;
        l->stats.handoff_ms_sum += h;
        l->stats.handoff_ms_max = h > l->stats.handoff_ms_max ? h : l->stats.handoff_ms_max;
    }
    sl->epoch = re->epoch;
    sl->known_max = re->epoch > sl->known_max ? re->epoch : sl->known_max;
    sl->expires_ms = end;
    lease__wake(l, end);
    sl->cert = 0;
    sl->designated = 0;
    sl->bump = 0;
    sl->want = 0;
    sl->claimed = 0;
    l->claim_backoff = 0;
    lease__set_state(l, re->shard, LEASE_HELD, now_ms);
    lease__evaluate(l, re->shard, now_ms);
}

static void grant(struct lease *l, struct lease_round *r, struct lease_rentry *re, uint32_t voter,
                  uint64_t now_ms)
{
    if (re->done) {
        return;
    }
    re->grants++;
    re->lowest |= voter == r->vs->lowest;
    if (quorum(r, re)) {
        re->done = 1;
        r->open--;
        apply(l, r, re, now_ms);
    }
}

static void set_acked(struct lease_round *r, uint32_t part, uint32_t voter)
{
    size_t bit = (size_t)part * r->vs->count + voter;
    r->acked[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

static int is_acked(const struct lease_round *r, uint32_t part, uint32_t voter)
{
    size_t bit = (size_t)part * r->vs->count + voter;
    return (r->acked[bit / 8] >> (bit % 8)) & 1;
}

/* This node's own acceptor answers its request first. */
static void self_vote(struct lease *l, struct lease_round *r, uint64_t now_ms)
{
    uint32_t self = r->vs->self;
    if (self == UINT32_MAX) {
        return;
    }
    for (uint32_t k = 0; k < r->parts; k++) {
        set_acked(r, k, self);
    }
    answered(l, r, self, now_ms);
    for (uint32_t i = 0; i < r->count; i++) {
        struct lease_rentry *re = &r->e[i];
        int rv = lease__accept(l, l->self, re->shard, re->epoch, re->cert, r->lease_ms, now_ms);
        if (rv == CODEC_LEASE_GRANTED) {
            grant(l, r, re, self, now_ms);
        }
    }
}

static uint64_t jittered(struct lease *l, uint64_t ms)
{
    uint64_t z = (l->rng += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    z ^= z >> 31;
    /* 0.9x .. 1.1x, so the members' rounds do not fall into step. */
    return ms - ms / 10 + (ms > 5 ? z % (ms / 5 + 1) : 0);
}

/* When the round after one started at |now_ms| is due. */
static uint64_t next_interval(struct lease *l, int claims)
{
    if (!claims) {
        return l->cfg.renew_ms;
    }
    uint64_t ms = (uint64_t)l->cfg.claim_retry_ms << (l->claim_backoff < 8 ? l->claim_backoff : 8);
    if (l->claim_backoff < 8) {
        l->claim_backoff++;
    }
    return ms < l->cfg.renew_ms ? ms : l->cfg.renew_ms;
}

int lease__round_start(struct lease *l, uint64_t now_ms)
{
    lease__round_free(l, l->round);
    l->round = NULL;
    l->next_round_ms = UINT64_MAX;
    if (l->vs == NULL || l->active_count == 0) {
        return 0;
    }
    int claims = 0, waiting = 0, held_back = 0;
    struct lease_round *r = round_build(l, now_ms, &claims, &waiting, &held_back);
    if (r == NULL) {
        l->next_round_ms = now_ms + LEASE_ROUND_GAP_MS;
        return RING_ENOMEM;
    }
    r->held_back = (uint8_t)held_back;
    if (r->count == 0 && !held_back) {
        lease__round_free(l, r);
        l->next_round_ms = waiting ? l->ready_ms : UINT64_MAX;
        return 0;
    }
    l->round = r;
    l->stats.rounds++;
    l->last_round_ms = now_ms;
    l->next_round_ms = now_ms + jittered(l, next_interval(l, claims || held_back));
    r->resend_ms = now_ms + l->cfg.resend_ms;
    r->sending = 1;
    self_vote(l, r, now_ms);
    return 0;
}

/* ---- acks ---- */

/* The entry of |shard| among the part's entries (sorted by shard), or NULL. */
static struct lease_rentry *find_entry(struct lease_round *r, const struct lease_part *p,
                                       uint32_t shard)
{
    uint32_t lo = p->first, hi = p->first + p->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r->e[mid].shard < shard) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < p->first + p->count && r->e[lo].shard == shard ? &r->e[lo] : NULL;
}

static void ack_entry(struct lease *l, struct lease_round *r, struct lease_rentry *re,
                      const struct codec_lease_entry *e, uint32_t voter, uint64_t now_ms)
{
    struct lease_slot *sl = &l->slots[re->shard];
    if (e->extra == CODEC_LEASE_GRANTED) {
        grant(l, r, re, voter, now_ms); /* its epoch is ours: the next claim reuses it */
        return;
    }
    sl->known_max = e->epoch > sl->known_max ? e->epoch : sl->known_max;
    if (e->extra == CODEC_LEASE_STALE && e->epoch > sl->epoch && held_state(sl)) {
        sl->bump = 1; /* a failed claim left a higher epoch there: move above it */
    }
}

void lease__recv_ack(struct lease *l, const struct ring_addr *from, uint64_t now_ms)
{
    (void)from;
    const struct codec_lease *m = &l->msg;
    struct lease_round *r = l->round;
    uint32_t part = m->seq & (LEASE_PARTS_MAX - 1);
    if (r == NULL || (m->seq >> LEASE_PART_BITS) != (r->no & ROUND_NO_MASK) || part >= r->parts) {
        l->stats.stale_acks++;
        return;
    }
    uint32_t voter = lease__voter_find(r->vs, lease__hash(m->from, m->from_len));
    if (voter == UINT32_MAX || voter == r->vs->self || is_acked(r, part, voter)) {
        return;
    }
    set_acked(r, part, voter);
    if (part == 0) {
        answered(l, r, voter, now_ms);
    }
    const struct lease_part *p = &r->p[part];
    for (int i = 0; i < m->entry_count; i++) {
        struct lease_rentry *re = find_entry(r, p, m->entries[i].shard);
        if (re != NULL) {
            ack_entry(l, r, re, &m->entries[i], voter, now_ms);
        }
    }
}

/* ---- sending and time ---- */

ssize_t lease__round_send(struct lease *l, struct ring_addr *to, uint8_t *buf, size_t cap)
{
    struct lease_round *r = l->round;
    if (r == NULL || !r->sending) {
        return 0;
    }
    for (; r->cur_part < r->parts; r->cur_part++, r->cur_voter = 0) {
        const struct lease_part *p = &r->p[r->cur_part];
        while (r->cur_voter < r->vs->count) {
            uint32_t v = r->cur_voter++;
            if (is_acked(r, r->cur_part, v)) {
                continue;
            }
            if (p->len > cap) {
                r->cur_voter--;
                return RING_ENOBUFS;
            }
            memcpy(buf, p->buf, p->len);
            *to = r->vs->v[v].addr;
            return (ssize_t)p->len;
        }
    }
    r->sending = 0;
    return 0;
}

static int resend_due(const struct lease_round *r)
{
    int unheard = r != NULL && r->held_back && !majority(r, r->answered, r->lowest_answered);
    return r != NULL && (r->open > 0 || unheard) && r->resends < LEASE_RESENDS_MAX;
}

uint64_t lease__round_deadline(const struct lease *l)
{
    uint64_t d = l->next_round_ms;
    if (resend_due(l->round) && l->round->resend_ms < d) {
        d = l->round->resend_ms;
    }
    return d;
}

void lease__round_tick(struct lease *l, uint64_t now_ms)
{
    struct lease_round *r = l->round;
    if (resend_due(r) && now_ms >= r->resend_ms) {
        r->resends++;
        r->resend_ms = now_ms + l->cfg.resend_ms;
        r->cur_part = 0;
        r->cur_voter = 0;
        r->sending = 1;
    }
    if (now_ms >= l->next_round_ms) {
        (void)lease__round_start(l, now_ms);
    }
}
