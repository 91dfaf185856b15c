/*
 * swim_gossip: dissemination, the infection-style half of SWIM.
 *
 * Every change this node makes or accepts queues its member id here. Each outgoing
 * datagram (ping, ack, nack, ping-req, gossip) carries as many queued updates as fit in
 * the datagram budget, least-sent first and newest first among equals, and each update is
 * sent retransmit_mult x ceil(log10(N + 1)) times before it leaves the queue (memberlist's
 * TransmitLimitedQueue; SWIM §4.1 shows O(log N) rounds reach everyone w.h.p.).
 *
 * The queue holds ids, not records: the record is read from the table when packed, so an
 * update superseded before it went out is never sent, and re-queuing an id restarts its
 * count. Sizes come from codec_header_size() + codec_update_size(), exact by contract, so
 * the budget is met without trial encoding.
 *
 * Gossip fanout: every gossip_interval, while updates are pending, an ack with seq 0 (it
 * answers no probe) carries them to gossip_nodes random members, including recently faulty
 * ones, which learn they were declared dead and can refute (memberlist's "gossip to the
 * dead"). It speeds spreading from one update per probe period to several; ringsim
 * measures the difference, and gossip_nodes = UINT32_MAX turns it off.
 */
#include <stdlib.h>
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

static int find_bcast(const struct swim *s, const char *id, size_t id_len)
{
    for (size_t i = 0; i < s->bcast_count; i++) {
        const struct swim_bcast *b = &s->bcasts[i];
        if (b->id_len == id_len && memcmp(b->id, id, id_len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int swim__bcast(struct swim *s, const char *id, size_t id_len, const char *source,
                size_t source_len)
{
    int i = find_bcast(s, id, id_len);
    if (i < 0) {
        struct swim_bcast *b = swim__grow(s, s->bcasts, &s->bcast_cap, s->bcast_count + 1,
                                          sizeof(*b), (size_t)s->cfg.members_max + 1);
        if (b == NULL) {
            return -1; /* the member still spreads by sync */
        }
        s->bcasts = b;
        i = (int)s->bcast_count++;
        memcpy(b[i].id, id, id_len);
        b[i].id[id_len] = '\0';
        b[i].id_len = (uint8_t)id_len;
    }
    struct swim_bcast *b = &s->bcasts[i];
    b->transmits = 0;
    b->order = ++s->bcast_order;
    b->source_len = (uint8_t)(source != NULL ? source_len : 0);
    if (b->source_len > 0) {
        memcpy(b->source, source, source_len);
    }
    b->source[b->source_len] = '\0';
    return 0;
}

static void bcast_remove(struct swim *s, size_t i)
{
    const struct swim_bcast *b = &s->bcasts[i];
    if (s->leaving && swim__is_self(s, b->id, b->id_len)) {
        s->leave_spread = 1;
    }
    s->bcasts[i] = s->bcasts[--s->bcast_count];
}

void swim__bcast_drop_all(struct swim *s)
{
    s->bcast_count = 0;
}

static int bcast_cmp(const void *a, const void *b)
{
    const struct swim_bcast *x = a;
    const struct swim_bcast *y = b;
    if (x->transmits != y->transmits) {
        return x->transmits < y->transmits ? -1 : 1;
    }
    return x->order > y->order ? -1 : (x->order < y->order);
}

/* The update for bcast |b|, or 0 when its member is gone. */
static int bcast_update(const struct swim *s, const struct swim_bcast *b, struct codec_update *u)
{
    int idx = members_index(s->table, b->id, b->id_len);
    if (idx < 0) {
        return 0;
    }
    members_get(s->table, (size_t)idx, &u->m);
    u->source_len = 0;
    u->source[0] = '\0';
    if (u->m.status == MEMBER_SUSPECT && b->source_len > 0) {
        memcpy(u->source, b->source, (size_t)b->source_len + 1);
        u->source_len = b->source_len;
    }
    return 1;
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

void swim__piggyback(struct swim *s, struct codec_msg *msg, size_t budget,
                     const struct codec_update *first)
{
    msg->update_count = 0;
    size_t used = 0; /* bytes of the updates taken so far */
    if (first != NULL && size_with(msg, 1, codec_update_size(first)) <= budget) {
        msg->updates[msg->update_count++] = *first;
        used += codec_update_size(first);
    }
    if (s->bcast_count == 0) {
        return;
    }
    qsort(s->bcasts, s->bcast_count, sizeof(*s->bcasts), bcast_cmp);
    uint32_t limit = swim__retransmit_limit(s);
    size_t i = 0;
    while (i < s->bcast_count && msg->update_count < CODEC_UPDATES_MAX) {
        struct swim_bcast *b = &s->bcasts[i];
        struct codec_update *u = &msg->updates[msg->update_count];
        if (!bcast_update(s, b, u)) {
            bcast_remove(s, i);
            continue;
        }
        size_t usize = codec_update_size(u);
        int dup = first != NULL && same_member(u, first);
        if (!dup && size_with(msg, msg->update_count + 1, used + usize) <= budget) {
            msg->update_count++;
            used += usize;
            b->transmits++;
        } else if (size_with(msg, 1, usize) > budget) {
            b->transmits++; /* can never fit: let it age out (sync carries it) */
        }
        if (b->transmits >= limit) {
            bcast_remove(s, i);
            continue;
        }
        i++;
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
    size_t want = s->cfg.gossip_nodes;
    size_t got = 0, seen = 0;
    size_t n = members_count(s->table);
    for (size_t i = 0; i < n; i++) {
        if (!gossip_candidate(s, i)) {
            continue;
        }
        seen++;
        if (got < want) {
            picked[got++] = (uint32_t)i;
        } else {
            uint32_t j = swim__rand_below(s, (uint32_t)seen);
            if (j < want) {
                picked[j] = (uint32_t)i;
            }
        }
    }
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
