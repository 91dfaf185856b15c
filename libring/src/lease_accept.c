/*
 * lease_accept: the acceptor, the half of every node that grants leases to others (and to
 * itself), and the holder's reactions to what other nodes' requests and releases say.
 *
 * Per shard the acceptor keeps one promise: the holder and epoch it last granted and, on its
 * own clock, until when: arrival + lease_ms + the drift bound. The rule (proto/LEASES.md,
 * "Acceptor"), for a request (holder h, epoch e, cert c):
 *   - c names the epoch of the promise here: its holder released it (h got its release),
 *     so the promise stops being live;
 *   - h is not a member here (never heard of, left, reaped): refused (UNKNOWN), renewals
 *     too. (A faulty one may claim: a node cut off from the majority never claims, see
 *     lease_round.c, and refusing one that is wrongly held faulty here, after a heal or
 *     in an even split where every vote counts, would only keep the shard unheld.);
 *   - the promise is (h, e): a renewal, granted, extended;
 *   - else another holder's promise is live: refused (HELD);
 *   - else e is not above the promised epoch: refused (STALE), so an epoch is granted to
 *     one holder only;
 *   - else granted: the promise becomes (h, e).
 * Until lease_ms + drift after it started, and from the moment it leaves, the acceptor
 * answers NOT_READY to everything; a new node still records what requests teach it (a
 * restarted node learns the live leases from their renewals before it votes).
 */
#include <string.h>

#include "ring/error.h"
#include "lease_int.h"

int lease__accept(struct lease *l, uint64_t holder, uint32_t shard, uint64_t epoch, uint64_t cert,
                  uint32_t lease_ms, uint64_t now_ms)
{
    struct lease_promise *p = &l->promises[shard];
    if (cert != 0 && p->epoch == cert && p->holder != holder) {
        p->until_ms = 0;
    }
    int ready = now_ms >= l->ready_ms;
    uint64_t until = now_ms + lease__promise_ms(l, lease_ms);
    int rv;
    if (l->leaving) {
        rv = CODEC_LEASE_NOT_READY;
    } else if (ready && holder != l->self && !lease__member(l, holder)) {
        /* Not a member here: no promise, not even a renewal (a new acceptor records
         * everyone's: it must learn every live lease before it votes). */
        rv = CODEC_LEASE_UNKNOWN;
    } else if (p->holder == holder && p->epoch == epoch) {
        p->until_ms = until > p->until_ms ? until : p->until_ms;
        rv = ready ? CODEC_LEASE_GRANTED : CODEC_LEASE_NOT_READY;
    } else if (now_ms < p->until_ms && p->holder != holder) {
        rv = CODEC_LEASE_HELD;
    } else if (epoch <= p->epoch) {
        rv = CODEC_LEASE_STALE;
    } else {
        p->holder = holder;
        p->epoch = epoch;
        p->until_ms = until;
        rv = ready ? CODEC_LEASE_GRANTED : CODEC_LEASE_NOT_READY;
    }
    if (rv == CODEC_LEASE_GRANTED) {
        l->stats.granted++;
    } else {
        l->stats.refused++;
    }
    return rv;
}

int lease__member(const struct lease *l, uint64_t hash)
{
    return lease__voter_find(l->vs, hash) != UINT32_MAX;
}

/* What a request for |shard| from |holder| tells the holder's side here: the requester
 * wants a shard we hold (we may hand it over), or claims one we released without having our
 * release (it is sent again). */
static void holder_side(struct lease *l, uint64_t holder, const struct codec_lease_entry *e,
                        uint64_t now_ms)
{
    struct lease_slot *sl = &l->slots[e->shard];
    if (sl->state == LEASE_HELD || sl->state == LEASE_RELEASING) {
        sl->want = holder;
        sl->want_ms = now_ms;
        lease__evaluate(l, e->shard, now_ms);
    } else if (sl->released != 0 && e->extra != sl->released &&
               now_ms - sl->released_ms <= 2 * (uint64_t)l->cfg.lease_ms &&
               l->promises[e->shard].epoch <= sl->released) {
        lease__send_release(l, holder, e->shard, sl->released);
    }
}

int lease__recv_request(struct lease *l, const struct ring_addr *from, uint64_t now_ms)
{
    struct codec_lease *m = &l->msg;
    uint64_t holder = lease__hash(m->from, m->from_len);
    if (holder == l->self) {
        return 0;
    }
    /* The ack reuses the request's entries: [shard, the epoch promised here, the result]. */
    for (int i = 0; i < m->entry_count; i++) {
        struct codec_lease_entry *e = &m->entries[i];
        if (e->shard >= l->cfg.shards) {
            e->epoch = 0;
            e->extra = CODEC_LEASE_NOT_READY; /* another shard count: never ours to grant */
            continue;
        }
        int rv = lease__accept(l, holder, e->shard, e->epoch, e->extra, m->lease_ms, now_ms);
        if (rv != CODEC_LEASE_UNKNOWN) {
            l->promises[e->shard].heard_ms = now_ms; /* a member wants it: no orphan */
        }
        holder_side(l, holder, e, now_ms);
        e->epoch = l->promises[e->shard].epoch;
        e->extra = (uint64_t)rv;
    }
    m->type = CODEC_LEASE_ACK;
    m->from_len = (uint8_t)l->cfg.id_len;
    memcpy(m->from, l->id, l->cfg.id_len + 1);
    (void)lease__queue(l, from, m); /* counted when dropped; the claimant asks again */
    return 0;
}

void lease__recv_release(struct lease *l, uint64_t now_ms)
{
    const struct codec_lease *m = &l->msg;
    uint64_t holder = lease__hash(m->from, m->from_len);
    for (int i = 0; i < m->entry_count; i++) {
        const struct codec_lease_entry *e = &m->entries[i];
        if (e->shard >= l->cfg.shards) {
            continue;
        }
        struct lease_promise *p = &l->promises[e->shard];
        if (p->holder == holder && p->epoch == e->epoch) {
            p->until_ms = 0;
        }
        struct lease_slot *sl = &l->slots[e->shard];
        if (e->extra == LEASE_RELEASE_WITHDRAW) {
            /* A claim given up: nothing is handed to us, but if we want the shard, the
             * promise that stood in our way is gone: ask again now. */
            if (sl->state == LEASE_ACQUIRING || sl->state == LEASE_LOST) {
                lease__round_again(l, now_ms);
            }
            continue;
        }
        sl->known_max = e->epoch > sl->known_max ? e->epoch : sl->known_max;
        if (sl->state == LEASE_HELD || sl->state == LEASE_RELEASING || e->epoch <= sl->cert) {
            continue;
        }
        if (l->leaving) {
            /* Handed to a node that is leaving too (the sender had not heard): pass it on,
             * once, to where we would hand our own. */
            uint64_t to = lease__release_target(l, sl, holder, now_ms);
            sl->cert = e->epoch;
            if (to != 0) {
                lease__send_release(l, to, e->shard, e->epoch);
            }
            continue;
        }
        sl->cert = e->epoch;
        sl->cert_ms = now_ms;
        sl->designated = 1;
        sl->designated_until = now_ms + 2 * (uint64_t)l->cfg.lease_ms;
        lease__wake(l, sl->designated_until);
        lease__evaluate(l, e->shard, now_ms);
        lease__round_soon(l, now_ms);
    }
}

void lease__withdraw(struct lease *l, uint32_t shard, uint64_t epoch)
{
    struct lease_promise *p = &l->promises[shard];
    if (p->holder == l->self && p->epoch == epoch) {
        p->until_ms = 0;
    }
    struct codec_lease *m = &l->rel;
    m->type = CODEC_LEASE_RELEASE;
    m->seq = 0;
    m->from_len = (uint8_t)l->cfg.id_len;
    memcpy(m->from, l->id, l->cfg.id_len + 1);
    m->entry_count = 1;
    m->entries[0] = (struct codec_lease_entry){ shard, epoch, LEASE_RELEASE_WITHDRAW };
    for (uint32_t v = 0; l->vs != NULL && v < l->vs->count; v++) {
        if (v != l->vs->self) {
            (void)lease__queue(l, &l->vs->v[v].addr, m);
        }
    }
}

void lease__send_release(struct lease *l, uint64_t to, uint32_t shard, uint64_t epoch)
{
    uint32_t idx = lease__voter_find(l->vs, to);
    if (idx == UINT32_MAX) {
        return;
    }
    struct codec_lease *m = &l->rel;
    m->type = CODEC_LEASE_RELEASE;
    m->seq = 0;
    m->from_len = (uint8_t)l->cfg.id_len;
    memcpy(m->from, l->id, l->cfg.id_len + 1);
    m->entry_count = 1;
    m->entries[0] = (struct codec_lease_entry){ .shard = shard, .epoch = epoch, .extra = 0 };
    (void)lease__queue(l, &l->vs->v[idx].addr, m);
}
