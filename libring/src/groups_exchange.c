/*
 * groups_exchange: the slow push-pull of group summaries (groups.h gives the design,
 * proto/PROTOCOL.md section 12 the messages).
 *
 *   A -> B  syn   digest, group count                         (~40 bytes)
 *   B -> A  ack   digest, group count, + buckets if the digests differ
 *   A -> B  push  A's summaries in the differing buckets, + A's buckets on the last datagram
 *   B -> A  push  B's summaries in the buckets that still differ (no buckets: the end)
 *
 * Every receiver merges what it gets (newer wins), so both sides leave with the newer of
 * every summary either held, as far as the push budget reached; the next exchange carries
 * on from there. A push that does not fit in push_datagrams_max datagrams starts its walk at
 * a random entry, so repeated exchanges cover every bucket.
 *
 * Messages are encoded when queued (the table may change before the caller drains, but a
 * summary that is a little old is still correct: newer wins at the receiver).
 */
#include <string.h>

#include "ring/error.h"
#include "ring/groups.h"
#include "groups_int.h"
#include "mem_int.h"

/* ---- the send queue ---- */

void groups__out_clear(struct groups *g)
{
    while (g->out_count > 0) {
        ring__free(&g->mem, g->out[g->out_head].data);
        g->out_head = (g->out_head + 1) % GROUPS_OUT_MAX;
        g->out_count--;
    }
}

static void out_push(struct groups *g, const struct ring_addr *to, const struct codec_groups *m)
{
    size_t budget = g->cfg.datagram_bytes_max;
    uint8_t *data = g->out_count < GROUPS_OUT_MAX ? ring__mallocarray(&g->mem, budget, 1) : NULL;
    ssize_t n = data != NULL ? codec_encode_groups(data, budget, m) : RING_ENOMEM;
    if (n < 0) {
        RING_ASSERT(n != RING_EINVAL);
        ring__free(&g->mem, data);
        g->stats.msgs_dropped++;
        return;
    }
    struct groups_out *o = &g->out[(g->out_head + g->out_count) % GROUPS_OUT_MAX];
    g->out_count++;
    o->to = *to;
    o->data = data;
    o->len = (size_t)n;
}

ssize_t groups_send_next(struct groups *g, struct ring_addr *to, uint8_t *buf, size_t cap,
                         uint64_t now_ms)
{
    g->now_ms = now_ms;
    if (cap < g->cfg.datagram_bytes_max) {
        return RING_ENOBUFS;
    }
    if (g->out_count == 0) {
        return 0;
    }
    struct groups_out *o = &g->out[g->out_head];
    g->out_head = (g->out_head + 1) % GROUPS_OUT_MAX;
    g->out_count--;
    size_t n = o->len;
    memcpy(buf, o->data, n);
    *to = o->to;
    ring__free(&g->mem, o->data);
    o->data = NULL;
    g->stats.msgs_out++;
    g->stats.bytes_out += n;
    return (ssize_t)n;
}

/* ---- messages ---- */

static struct codec_groups *scratch_new(struct groups *g)
{
    return ring__mallocarray(&g->mem, 1, sizeof(struct codec_groups));
}

static void header(struct groups *g, struct codec_groups *m, uint8_t type, uint32_t seq,
                   int with_buckets)
{
    memset(m, 0, offsetof(struct codec_groups, summaries));
    m->type = type;
    m->seq = seq;
    memcpy(m->from, g->id, g->id_len);
    m->from_len = g->id_len;
    memcpy(m->group, g->group, g->group_len);
    m->group_len = g->group_len;
    m->digest = groups_digest(g);
    m->group_count = (uint32_t)g->count;
    if (with_buckets) {
        m->has_buckets = 1;
        groups__buckets(g, m->buckets);
    }
}

/* The buckets in which |g| and a peer with |peer| bucket digests differ. */
static uint64_t differing(const struct groups *g, const uint16_t *peer)
{
    uint16_t mine[CODEC_GROUP_BUCKETS];
    groups__buckets(g, mine);
    uint64_t mask = 0;
    for (int b = 0; b < CODEC_GROUP_BUCKETS; b++) {
        mask |= (uint64_t)(mine[b] != peer[b]) << b;
    }
    return mask;
}

/* Queues |m| (a push being filled) and starts the next one. */
static void push_flush(struct groups *g, const struct ring_addr *to, struct codec_groups *m,
                       int last, int want_reply)
{
    if (last && want_reply) {
        m->has_buckets = 1;
        groups__buckets(g, m->buckets);
        m->digest = groups_digest(g);
    }
    out_push(g, to, m);
    header(g, m, CODEC_GROUP_PUSH, m->seq, 0);
}

/* The header size any push datagram is budgeted for: with the buckets and a full summary
 * array header, so any datagram may become the last. */
static size_t push_header_budget(const struct groups *g)
{
    struct codec_groups sizing;
    memset(&sizing, 0, offsetof(struct codec_groups, buckets));
    sizing.type = CODEC_GROUP_PUSH;
    sizing.seq = UINT32_MAX;
    sizing.from_len = g->id_len;
    sizing.group_len = g->group_len;
    sizing.digest = UINT64_MAX;
    sizing.group_count = UINT32_MAX;
    sizing.has_buckets = 1;
    sizing.summary_count = CODEC_SUMMARIES_MAX;
    return codec_groups_header_size(&sizing);
}

/*
 * Pushes our summaries of the |mask| buckets to |to| in at most push_datagrams_max
 * datagrams, walking the table from a random entry. |want_reply|: the last datagram carries
 * our buckets so the peer pushes back what still differs (and then one goes even if empty).
 */
static void push_diff(struct groups *g, const struct ring_addr *to, uint32_t seq, uint64_t mask,
                      int want_reply, struct codec_groups *m)
{
    if (mask == 0 && !want_reply) {
        return;
    }
    header(g, m, CODEC_GROUP_PUSH, seq, 0);
    size_t base = push_header_budget(g);
    size_t used = base;
    uint32_t queued = 0;
    size_t start = g->count > 0 ? groups__rand_below(g, (uint32_t)g->count) : 0;
    for (size_t j = 0; j < g->count && mask != 0; j++) {
        const struct groups_entry *e = &g->entries[(start + j) % g->count];
        if (!(mask & ((uint64_t)1 << groups__bucket_of(e->name_hash)))) {
            continue;
        }
        struct codec_summary *s = &m->summaries[m->summary_count];
        groups__unpack(e, s);
        size_t n = codec_summary_size(s);
        if (base + n > g->cfg.datagram_bytes_max) {
            continue; /* larger than any datagram (very long ids): it spreads no further */
        }
        if (used + n > g->cfg.datagram_bytes_max || m->summary_count == CODEC_SUMMARIES_MAX) {
            if (queued + 1 >= g->cfg.push_datagrams_max) {
                break; /* |m| is the last one */
            }
            push_flush(g, to, m, 0, want_reply);
            queued++;
            used = base;
            s = &m->summaries[0];
            groups__unpack(e, s);
        }
        m->summary_count++;
        used += n;
    }
    if (m->summary_count > 0 || want_reply) {
        push_flush(g, to, m, 1, want_reply);
    }
}

/*
 * News travels at once: a node whose table just changed (it authored, or merged a newer
 * summary) starts its next exchange within one bootstrap interval instead of waiting for
 * its period, so a new summary doubles its reach every few hundred milliseconds, like a
 * rumor, and the periodic exchanges mop up the nodes it missed. At most one exchange per
 * bootstrap interval, so a burst of news costs a bounded number of exchanges.
 */
void groups__news(struct groups *g)
{
    uint64_t soon = g->exchange_last_ms + g->cfg.bootstrap_interval_ms;
    if (soon < g->now_ms) {
        soon = g->now_ms;
    }
    soon += groups__rand_below(g, g->cfg.bootstrap_interval_ms / 4 + 1);
    if (soon < g->exchange_next_ms) {
        g->exchange_next_ms = soon;
    }
}

/*
 * The buckets to push to a peer with |peer| bucket digests, table |digest| and |peer_count|
 * groups. When the digests differ but no 16-bit bucket digest does (folds can collide), or
 * we are still bootstrapping and the peer knows more groups, every bucket: the exchange
 * must never end with two tables that differ and look alike (ringsim once left a restarted
 * node 12 groups short for good at N = 30,000, G = 1,000).
 */
static uint64_t diff_mask(const struct groups *g, const uint16_t *peer, uint64_t digest,
                          uint32_t peer_count)
{
    uint64_t mask = differing(g, peer);
    if ((mask == 0 && digest != groups_digest(g)) || (!g->ready && peer_count > g->count)) {
        mask = UINT64_MAX;
    }
    return mask;
}

static void check_ready(struct groups *g, uint32_t peer_count)
{
    if (g->count >= peer_count) {
        g->ready = 1;
    }
}

static void on_syn(struct groups *g, const struct ring_addr *from, uint32_t seq,
                   uint64_t peer_digest, struct codec_groups *m)
{
    int differ = groups_digest(g) != peer_digest;
    header(g, m, CODEC_GROUP_ACK, seq, differ);
    out_push(g, from, m);
}

int groups__on_msg(struct groups *g, const struct ring_addr *from, struct codec_groups *m)
{
    /* What the reply needs, before |m| is reused to build it. */
    uint8_t type = m->type;
    uint32_t seq = m->seq;
    uint64_t digest = m->digest;
    uint32_t peer_count = m->group_count;
    int has_buckets = m->has_buckets;
    uint16_t buckets[CODEC_GROUP_BUCKETS];
    memcpy(buckets, m->buckets, sizeof(buckets));
    groups__heard_from(g, m->group, m->group_len, m->from, m->from_len, from);
    int news = 0;
    for (int i = 0; i < m->summary_count; i++) {
        int rv = groups__merge_peer(g, &m->summaries[i]);
        if (rv < 0) {
            return RING_ENOMEM;
        }
        news |= rv;
    }
    if (news && g->ready) {
        groups__news(g);
    }
    switch (type) {
    case CODEC_GROUP_SYN:
        on_syn(g, from, seq, digest, m);
        break;
    case CODEC_GROUP_ACK:
        if (g->pending.active && g->pending.seq == seq) {
            g->pending.active = 0;
        }
        check_ready(g, peer_count);
        if (has_buckets) {
            push_diff(g, from, seq, diff_mask(g, buckets, digest, peer_count), 1, m);
        }
        break;
    default:
        check_ready(g, peer_count);
        if (has_buckets) {
            push_diff(g, from, seq, diff_mask(g, buckets, digest, peer_count), 0, m);
        }
        break;
    }
    return 0;
}

int groups_recv(struct groups *g, const struct ring_addr *from, const uint8_t *buf, size_t len,
                uint64_t now_ms)
{
    g->now_ms = now_ms;
    g->stats.msgs_in++;
    g->stats.bytes_in += len;
    struct codec_groups *m = scratch_new(g);
    if (m == NULL) {
        return RING_ENOMEM;
    }
    int rv = len > CODEC_DATAGRAM_BYTES_MAX ? RING_EMSGSIZE : codec_decode_groups(buf, len, m);
    if (rv != 0) {
        g->stats.decode_errors++;
    } else if (!(m->from_len == g->id_len && memcmp(m->from, g->id, g->id_len) == 0)) {
        rv = groups__on_msg(g, from, m);
    }
    ring__free(&g->mem, m);
    return rv;
}

/* ---- starting exchanges ---- */

/* A random other group with a contact not failed here (and not us), and that contact. */
static int pick_other(struct groups *g, struct ring_addr *to, uint64_t *hash, int *contact)
{
    for (int tries = 0; tries < GROUPS_PICK_TRIES && g->count > 0; tries++) {
        const struct groups_entry *e = &g->entries[groups__rand_below(g, (uint32_t)g->count)];
        if (groups__is_own(g, e) || e->contact_count == 0) {
            continue;
        }
        int k = (int)groups__rand_below(g, e->contact_count);
        if (e->failed & (1u << k)) {
            continue;
        }
        struct codec_summary s;
        groups__unpack(e, &s);
        if (s.contacts[k].id_len == g->id_len && memcmp(s.contacts[k].id, g->id, g->id_len) == 0) {
            continue;
        }
        *to = s.contacts[k].addr;
        *hash = e->name_hash;
        *contact = k;
        return 1;
    }
    return 0;
}

static int member_ok(const struct groups *g, const struct members *t, size_t i)
{
    size_t len;
    const char *id = members_id(t, i, &len);
    return members_status(t, i) == MEMBER_ALIVE &&
           !(len == g->id_len && memcmp(id, g->id, len) == 0);
}

/* A random alive member of our own group other than us. */
static int pick_member(struct groups *g, const struct members *t, struct ring_addr *to)
{
    size_t n = members_count(t);
    for (int tries = 0; tries < GROUPS_PICK_TRIES && n > 1; tries++) {
        size_t i = groups__rand_below(g, (uint32_t)n);
        if (member_ok(g, t, i)) {
            *to = *members_addr(t, i);
            return 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (member_ok(g, t, i)) {
            *to = *members_addr(t, i);
            return 1;
        }
    }
    return 0;
}

static int pick_seed(struct groups *g, struct ring_addr *to)
{
    if (g->seed_count == 0) {
        return 0;
    }
    *to = g->seeds[groups__rand_below(g, (uint32_t)g->seed_count)];
    return 1;
}

/*
 * Not ready yet: our own group's members first (they know every group we should), else
 * any group's contact, else a seed. Ready: another group's contact, so summaries cross
 * groups. Knowing no other group: a seed or a member of ours, in turns, since the seeds
 * are how the groups of a new cluster first meet (and a member of ours may have met one).
 */
static int pick_peer(struct groups *g, const struct members *t, struct ring_addr *to,
                     uint64_t *hash, int *contact)
{
    *contact = -1;
    *hash = 0;
    if (!g->ready) {
        return pick_member(g, t, to) || pick_other(g, to, hash, contact) || pick_seed(g, to);
    }
    if (pick_other(g, to, hash, contact)) {
        return 1;
    }
    if (groups__rand_below(g, 2) == 0) {
        return pick_seed(g, to) || pick_member(g, t, to);
    }
    return pick_member(g, t, to) || pick_seed(g, to);
}

static void start_exchange(struct groups *g, const struct members *t)
{
    struct ring_addr to;
    uint64_t hash;
    int contact;
    if (!pick_peer(g, t, &to, &hash, &contact)) {
        return;
    }
    struct codec_groups *m = scratch_new(g);
    if (m == NULL) {
        g->stats.msgs_dropped++;
        return;
    }
    uint32_t seq = g->seq_next++;
    header(g, m, CODEC_GROUP_SYN, seq, 0);
    out_push(g, &to, m);
    ring__free(&g->mem, m);
    g->stats.exchanges++;
    g->pending.active = 1;
    g->pending.seq = seq;
    g->pending.name_hash = hash;
    g->pending.contact = (int8_t)contact;
    g->pending.deadline_ms = g->now_ms + g->cfg.exchange_timeout_ms;
}

void groups__exchange_tick(struct groups *g, const struct members *local)
{
    if (g->pending.active && g->now_ms >= g->pending.deadline_ms) {
        g->pending.active = 0;
        g->stats.exchange_timeouts++;
        if (g->pending.contact >= 0) {
            groups__fail_contact(g, g->pending.name_hash, g->pending.contact);
        }
    }
    if (g->now_ms < g->exchange_next_ms) {
        return;
    }
    start_exchange(g, local);
    g->exchange_last_ms = g->now_ms;
    uint32_t interval = g->ready ? g->cfg.exchange_interval_ms : g->cfg.bootstrap_interval_ms;
    g->exchange_next_ms = g->now_ms + interval / 2 + groups__rand_below(g, interval + 1);
}

uint64_t groups__exchange_deadline(const struct groups *g)
{
    uint64_t t = g->exchange_next_ms;
    if (g->pending.active && g->pending.deadline_ms < t) {
        t = g->pending.deadline_ms;
    }
    return t;
}
