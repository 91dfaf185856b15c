/*
 * swim_gossip: dissemination, the infection-style half of SWIM.
 *
 * Every change this node makes or accepts queues its member id here. Each outgoing
 * datagram (ping, ack, nack, ping-req, gossip) carries as many queued updates as fit in
 * the datagram budget, least-sent first and newest first among equals, and each update is
 * sent retransmit_mult x ceil(log10(N + 1)) times before it leaves the queue (memberlist's
 * TransmitLimitedQueue; SWIM §4.1 shows O(log N) rounds reach everyone w.h.p.).
 *
 * The queue holds member indexes, not records: the record is read from the table when
 * packed, so an update superseded before it went out is never sent, and re-queuing a member
 * restarts its count. It is a binary heap with each member's position kept in its
 * swim_node, so queuing, re-queuing and packing cost O(log queue), not a sort per datagram:
 * a node that merges a 10,000-member sync queues 10,000 updates. Sizes come from
 * codec_header_size() + codec_update_size(), exact by contract, so the budget is met without trial
 * encoding.
 *
 * Gossip fanout: every gossip_interval, while updates are pending, an ack with seq 0 (it
 * answers no probe) carries them to gossip_nodes random members, including recently faulty
 * ones, which learn they were declared dead and can refute (memberlist's "gossip to the
 * dead"). It speeds spreading from one update per probe period to several; ringsim
 * measures the difference, and gossip_nodes = UINT32_MAX turns it off.
 */
#include <string.h>

#include "ring/codec.h"
#include "swim_int.h"

uint32_t swim__retransmit_limit(const struct swim *s)
{
    /* ceil(log10(N + 1)) is the number of decimal digits of N, for N >= 1. */
    size_t n = members_ring_count(s->table);
    uint32_t digits = 1;
    for (size_t v = n; v >= 10; v /= 10) {
        digits++;
    }
    return s->cfg.retransmit_mult * digits;
}

/* ---- the queue: a min-heap of (transmits, newest first) ---- */

static int bcast_before(const struct swim_bcast *a, const struct swim_bcast *b)
{
    return a->transmits != b->transmits ? a->transmits < b->transmits : a->order > b->order;
}

static void bcast_place(struct swim *s, size_t pos, const struct swim_bcast *b)
{
    s->bcasts[pos] = *b;
    s->nodes[b->node].bcast = (uint32_t)pos + 1;
}

static void bcast_sift_up(struct swim *s, size_t pos)
{
    struct swim_bcast b = s->bcasts[pos];
    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (!bcast_before(&b, &s->bcasts[parent])) {
            break;
        }
        bcast_place(s, pos, &s->bcasts[parent]);
        pos = parent;
    }
    bcast_place(s, pos, &b);
}

static void bcast_sift_down(struct swim *s, size_t pos)
{
    struct swim_bcast b = s->bcasts[pos];
    for (;;) {
        size_t c = 2 * pos + 1;
        if (c >= s->bcast_count) {
            break;
        }
        if (c + 1 < s->bcast_count && bcast_before(&s->bcasts[c + 1], &s->bcasts[c])) {
            c++;
        }
        if (!bcast_before(&s->bcasts[c], &b)) {
            break;
        }
        bcast_place(s, pos, &s->bcasts[c]);
        pos = c;
    }
    bcast_place(s, pos, &b);
}

/* Takes the entry at |pos| out of the heap (its node no longer points at it). */
static void bcast_take(struct swim *s, size_t pos)
{
    s->nodes[s->bcasts[pos].node].bcast = 0;
    s->bcast_count--;
    if (pos == s->bcast_count) {
        return;
    }
    bcast_place(s, pos, &s->bcasts[s->bcast_count]);
    bcast_sift_down(s, pos);
    bcast_sift_up(s, pos);
}

static void bcast_put(struct swim *s, const struct swim_bcast *b)
{
    bcast_place(s, s->bcast_count++, b);
    bcast_sift_up(s, s->bcast_count - 1);
}

static void set_source(struct swim *s, size_t idx, const char *source, size_t source_len)
{
    uint32_t slot = s->nodes[idx].susp;
    if (slot == 0 || members_status(s->table, idx) != MEMBER_SUSPECT) {
        return;
    }
    struct swim_suspicion *e = &s->susp[slot - 1];
    e->bcast_source_len = (uint8_t)(source != NULL ? source_len : 0);
    if (e->bcast_source_len > 0) {
        memcpy(e->bcast_source, source, source_len);
    }
    e->bcast_source[e->bcast_source_len] = '\0';
}

int swim__bcast(struct swim *s, size_t idx, const char *source, size_t source_len)
{
    set_source(s, idx, source, source_len);
    uint32_t pos = s->nodes[idx].bcast;
    if (pos != 0) {
        struct swim_bcast *b = &s->bcasts[pos - 1];
        b->transmits = 0;
        b->order = ++s->bcast_order;
        bcast_sift_up(s, pos - 1);
        return 0;
    }
    struct swim_bcast *v = swim__grow(s, s->bcasts, &s->bcast_cap, s->bcast_count + 1, sizeof(*v),
                                      (size_t)s->cfg.members_max + 1);
    if (v == NULL) {
        return -1; /* the member still spreads by sync */
    }
    s->bcasts = v;
    struct swim_bcast b = { .order = ++s->bcast_order, .node = (uint32_t)idx, .transmits = 0 };
    bcast_put(s, &b);
    return 0;
}

void swim__bcast_moved(struct swim *s, uint32_t removed, uint32_t moved_from)
{
    /* The caller has already copied nodes[moved_from] into nodes[removed]; the removed
     * member's own entry went with swim__bcast_forget(). */
    uint32_t pos = s->nodes[removed].bcast;
    if (removed != moved_from && pos != 0) {
        s->bcasts[pos - 1].node = removed;
    }
}

void swim__bcast_forget(struct swim *s, size_t idx)
{
    if (s->nodes[idx].bcast != 0) {
        bcast_take(s, s->nodes[idx].bcast - 1);
    }
}

/* An update sent its last time: it leaves the queue. */
static void bcast_done(struct swim *s, const struct swim_bcast *b)
{
    size_t id_len;
    const char *id = members_id(s->table, b->node, &id_len);
    if (swim__is_self(s, id, id_len)) {
        s->leave_spread |= s->leaving;
        s->flags_spread = 1;
    }
}

void swim__bcast_drop_all(struct swim *s)
{
    while (s->bcast_count > 0) {
        bcast_take(s, s->bcast_count - 1);
    }
}

/* The update for bcast |b|. */
static void bcast_update(const struct swim *s, const struct swim_bcast *b, struct codec_update *u)
{
    members_get(s->table, b->node, &u->m);
    u->source_len = 0;
    u->source[0] = '\0';
    uint32_t slot = s->nodes[b->node].susp;
    if (u->m.status == MEMBER_SUSPECT && slot != 0) {
        const struct swim_suspicion *e = &s->susp[slot - 1];
        memcpy(u->source, e->bcast_source, (size_t)e->bcast_source_len + 1);
        u->source_len = e->bcast_source_len;
    }
}

static int same_member(const struct codec_update *a, const struct codec_update *b)
{
    return a->m.id_len == b->m.id_len && memcmp(a->m.id, b->m.id, a->m.id_len) == 0;
}

/* The encoded size of |msg| with |count| updates totalling |updates_size| bytes: the header
 * itself grows with the count (the updates key and the array header). */
static size_t size_with(struct codec_msg *msg, uint16_t count, size_t updates_size)
{
    uint16_t saved = msg->update_count;
    msg->update_count = count;
    size_t n = codec_header_size(msg) + updates_size;
    msg->update_count = saved;
    return n;
}

/* Takes queued updates least-sent first (newest first among equals) while they fit; an
 * update that does not fit now stays queued as it was, one that never can fit ages out.
 * At most SWIM_PACK_SCAN_MAX entries are looked at: O(log queue) each. */
void swim__piggyback(struct swim *s, struct codec_msg *msg, size_t budget,
                     const struct codec_update *first)
{
    msg->update_count = 0;
    size_t used = 0; /* bytes of the updates taken so far */
    if (first != NULL && size_with(msg, 1, codec_update_size(first)) <= budget) {
        msg->updates[msg->update_count++] = *first;
        used += codec_update_size(first);
    }
    uint32_t limit = swim__retransmit_limit(s);
    struct swim_bcast taken[SWIM_PACK_SCAN_MAX];
    size_t n_taken = 0;
    while (s->bcast_count > 0 && n_taken < SWIM_PACK_SCAN_MAX &&
           msg->update_count < CODEC_UPDATES_MAX) {
        struct swim_bcast b = s->bcasts[0];
        bcast_take(s, 0);
        struct codec_update *u = &msg->updates[msg->update_count];
        bcast_update(s, &b, u);
        size_t usize = codec_update_size(u);
        int dup = first != NULL && same_member(u, first);
        if (!dup && size_with(msg, msg->update_count + 1, used + usize) <= budget) {
            msg->update_count++;
            used += usize;
            b.transmits++;
        } else if (size_with(msg, 1, usize) > budget) {
            b.transmits++; /* can never fit: let it age out (sync carries it) */
        }
        if (b.transmits >= limit) {
            bcast_done(s, &b);
            continue;
        }
        taken[n_taken++] = b;
    }
    for (size_t i = 0; i < n_taken; i++) {
        bcast_put(s, &taken[i]);
    }
}

/* Gossip targets: live members and members declared faulty less than dead_ms ago. */
static int gossip_candidate(const struct swim *s, size_t idx)
{
    int st = members_status(s->table, idx);
    if (st == MEMBER_FAULTY) {
        return s->now_ms < s->nodes[idx].changed_ms + s->cfg.dead_ms;
    }
    return swim__is_live_peer(s, idx);
}

void swim__gossip_tick(struct swim *s)
{
    if (s->cfg.gossip_nodes == UINT32_MAX || s->now_ms < s->gossip_next_ms) {
        return;
    }
    s->gossip_next_ms = s->now_ms + s->cfg.gossip_interval_ms;
    if (s->bcast_count == 0) {
        return;
    }
    uint32_t picked[SWIM_GOSSIP_NODES_MAX];
    size_t got = swim__random_members(s, gossip_candidate, picked, s->cfg.gossip_nodes);
    for (size_t i = 0; i < got; i++) {
        /* seq 0 marks an ack that answers nothing: a pure gossip carrier. */
        (void)swim__out_push(s, CODEC_ACK, members_addr(s->table, picked[i]));
    }
}

uint64_t swim__gossip_deadline(const struct swim *s)
{
    if (s->cfg.gossip_nodes == UINT32_MAX || s->bcast_count == 0) {
        return UINT64_MAX;
    }
    return s->gossip_next_ms;
}
