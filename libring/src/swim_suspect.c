/*
 * swim_suspect: what this node believes about each member, and how that changes.
 *
 * Merging. An update heard from a peer (piggybacked, or a record of a sync) replaces our
 * record when members_update_overrides() says so: higher incarnation wins, and at equal
 * incarnation left > faulty > suspect > alive. Two exceptions, both memberlist's: a
 * faulty or left record about an id we do not know is dropped (we never saw it alive, and
 * inserting it would resurrect members other nodes have reaped), and a suspect record at
 * the incarnation we already suspect counts as a confirmation from its source instead.
 *
 * Refutation. An update about ourselves at our incarnation or above that differs from our
 * record (suspect, faulty, or an old record of a previous run of this id) makes us jump to
 * its incarnation + 1 and gossip that. This is also how a restarted node gets above its old
 * incarnation without trusting the clock: the join sync hands it its old record at once.
 *
 * Suspicion (Lifeguard). A suspect becomes faulty after a timeout that starts at
 * max = suspicion_max_mult x min, min = suspicion_mult x max(1, log10 N) x probe_interval,
 * and falls toward min as distinct sources confirm it:
 *     timeout(c) = max - (max - min) x log(c + 1) / log(k + 1),   k = suspicion_confirmations
 * (k = 0, i.e. the timeout is min, when N - 2 < k: too few members to expect confirmations).
 * A suspect whose record is restarting (MEMBER_FLAG_RESTARTING) gets restart_hold_ms
 * instead, at least min, unshortened by confirmations: delayed rebalance.
 *
 * Dead members. A faulty or left record stays dead_ms (still gossiped, and a healing target
 * when faulty), then tombstone_ms as a tombstone that only rejects stale updates, then is
 * reaped: removed from the table, with SWIM_EVENT_MEMBER_LEFT. Faulty and left records are
 * left out of the membership checksum (swim__checksum_now), so nodes that agree on the live
 * members agree on the checksum whether or not they have reaped the dead yet.
 */
#include <math.h>
#include <string.h>

#include "ring/error.h"
#include "members_int.h"
#include "swim_int.h"

static int is_dead(int status)
{
    return status == MEMBER_FAULTY || status == MEMBER_LEFT;
}

int swim__is_live_peer(const struct swim *s, size_t idx)
{
    int st = members_status(s->table, idx);
    if (st != MEMBER_ALIVE && st != MEMBER_SUSPECT) {
        return 0;
    }
    size_t id_len;
    const char *id = members_id(s->table, idx, &id_len);
    return !swim__is_self(s, id, id_len);
}

uint64_t swim__checksum_now(const struct swim *s)
{
    return members_checksum(s->table) - s->dead_digest_sum;
}

int swim__nodes_fit(struct swim *s)
{
    size_t want = members_count(s->table) + 1;
    struct swim_node *n = swim__grow_tight(s, s->nodes, &s->nodes_cap, want, sizeof(*n),
                                           (size_t)s->cfg.members_max + 1);
    if (n == NULL) {
        return RING_ENOMEM;
    }
    s->nodes = n;
    return 0;
}

/* ---- the dead list ---- */

static void dead_add(struct swim *s, size_t idx)
{
    uint32_t *d = swim__grow(s, s->dead, &s->dead_cap, s->dead_count + 1, sizeof(*d),
                             (size_t)s->cfg.members_max + 1);
    if (d == NULL) {
        return; /* never reaped: a tombstone kept for good is safe, only memory */
    }
    s->dead = d;
    s->dead[s->dead_count++] = (uint32_t)idx;
}

static void dead_remove(struct swim *s, size_t idx)
{
    for (size_t k = 0; k < s->dead_count; k++) {
        if (s->dead[k] == idx) {
            s->dead[k] = s->dead[--s->dead_count];
            return;
        }
    }
}

static void dead_renamed(struct swim *s, uint32_t from, uint32_t to)
{
    for (size_t k = 0; k < s->dead_count; k++) {
        if (s->dead[k] == from) {
            s->dead[k] = to;
            return;
        }
    }
}

static void timer_at(struct swim *s, uint64_t at_ms)
{
    if (at_ms < s->timers_next_ms) {
        s->timers_next_ms = at_ms;
    }
}

/* ---- suspicions ---- */

static uint64_t susp_deadline(const struct swim_suspicion *e)
{
    if (e->k < 1) {
        return e->start_ms + e->min_ms;
    }
    double frac = log((double)e->confirmations + 1.0) / log((double)e->k + 1.0);
    double t = (double)e->max_ms - frac * (double)(e->max_ms - e->min_ms);
    if (t < (double)e->min_ms) {
        t = (double)e->min_ms;
    }
    return e->start_ms + (uint64_t)t;
}

static int susp_has_source(const struct swim_suspicion *e, uint64_t h)
{
    for (uint32_t i = 0; i < e->source_count; i++) {
        if (e->sources[i] == h) {
            return 1;
        }
    }
    return 0;
}

static void susp_start(struct swim *s, size_t idx, const char *source, size_t source_len)
{
    struct swim_suspicion *e = swim__grow(s, s->susp, &s->susp_cap, s->susp_count + 1, sizeof(*e),
                                          (size_t)s->cfg.members_max + 1);
    if (e == NULL) {
        return; /* no timer: the suspect stays suspect until it refutes or a peer decides */
    }
    s->susp = e;
    e = &s->susp[s->susp_count++];
    memset(e, 0, sizeof(*e));
    s->nodes[idx].susp = (uint32_t)s->susp_count;
    e->node = (uint32_t)idx;
    e->start_ms = s->now_ms;
    double n = (double)members_ring_count(s->table);
    double scale = n > 10.0 ? log10(n) : 1.0;
    e->min_ms = (uint64_t)(s->cfg.suspicion_mult * scale * s->cfg.probe_interval_ms);
    e->max_ms = e->min_ms * s->cfg.suspicion_max_mult;
    uint32_t k = s->cfg.suspicion_confirmations;
    e->k = n - 2 < (double)k ? 0 : k;
    if ((members_flags(s->table, idx) & MEMBER_FLAG_RESTARTING) != 0 &&
        s->cfg.restart_hold_ms > 0) {
        /* A restarting member is expected to go quiet: hold its place, and no confirmation
         * shortens that. */
        e->min_ms = e->min_ms > s->cfg.restart_hold_ms ? e->min_ms : s->cfg.restart_hold_ms;
        e->max_ms = e->min_ms;
        e->k = 0;
    }
    if (source_len > 0) {
        e->sources[e->source_count++] = swim__id_hash(source, source_len);
    }
    e->probed = source_len > 0 && swim__is_self(s, source, source_len);
    timer_at(s, susp_deadline(e));
}

static void susp_end(struct swim *s, size_t idx)
{
    uint32_t slot = s->nodes[idx].susp;
    if (slot == 0) {
        return;
    }
    s->nodes[idx].susp = 0;
    s->susp[slot - 1] = s->susp[--s->susp_count];
    if (slot - 1 < s->susp_count) {
        s->nodes[s->susp[slot - 1].node].susp = slot;
    }
}

/* A distinct source suspects member |idx| too: the timeout shrinks, and the confirmation
 * is gossiped on so others count it (memberlist re-broadcasts accepted confirmations). */
static void susp_confirm(struct swim *s, size_t idx, const char *source, size_t source_len)
{
    uint32_t slot = s->nodes[idx].susp;
    if (slot == 0 || source_len == 0) {
        return;
    }
    struct swim_suspicion *e = &s->susp[slot - 1];
    uint64_t h = swim__id_hash(source, source_len);
    if (e->confirmations >= e->k || susp_has_source(e, h)) {
        return;
    }
    if (e->source_count < SWIM_CONFIRMATIONS_MAX) {
        e->sources[e->source_count++] = h;
    }
    e->confirmations++;
    timer_at(s, susp_deadline(e));
    (void)swim__bcast(s, idx, source, source_len);
}

/* ---- storing records ---- */

/* What store() needs of a record it replaces (a struct member is 1 KB to fill). */
struct prior {
    uint8_t status;
    uint64_t incarnation;
    uint64_t digest; /* member_digest() */
};

static void track_status(struct swim *s, size_t idx, const struct prior *old,
                         const struct member *m, const char *source, size_t source_len)
{
    struct swim_node *node = &s->nodes[idx];
    if (old == NULL || old->status != m->status) {
        node->changed_ms = s->now_ms;
    }
    int same_suspicion = old != NULL && old->status == MEMBER_SUSPECT &&
                         m->status == MEMBER_SUSPECT && old->incarnation == m->incarnation;
    if (!same_suspicion) {
        susp_end(s, idx);
    }
    if (m->status == MEMBER_SUSPECT && !same_suspicion) {
        susp_start(s, idx, source, source_len);
    }
    if (is_dead(m->status)) {
        timer_at(s, node->changed_ms + s->cfg.dead_ms + s->cfg.tombstone_ms);
    }
}

static int store(struct swim *s, const struct member *m, const char *source, size_t source_len,
                 int gossip)
{
    int idx = members_index(s->table, m->id, m->id_len);
    struct prior old = { 0, 0, 0 };
    if (idx >= 0) {
        size_t id_len;
        const char *id = members_id(s->table, (size_t)idx, &id_len);
        old.status = (uint8_t)members_status(s->table, (size_t)idx);
        old.incarnation = members_incarnation(s->table, (size_t)idx);
        old.digest =
            members__digest(id, id_len, members_addr(s->table, (size_t)idx), old.status,
                            (uint8_t)members_flags(s->table, (size_t)idx), old.incarnation);
    }
    int rv = swim__nodes_fit(s);
    if (rv == 0) {
        rv = members_put(s->table, m);
    }
    if (rv != 0) {
        return rv;
    }
    if (idx >= 0 && is_dead(old.status)) {
        s->dead_digest_sum -= old.digest;
    }
    if (is_dead(m->status)) {
        s->dead_digest_sum += member_digest(m);
    }
    int self = swim__is_self(s, m->id, m->id_len);
    if (self) {
        s->self = *m;
    }
    int was_dead = idx >= 0 && is_dead(old.status);
    if (idx < 0) {
        idx = members_index(s->table, m->id, m->id_len);
        RING_ASSERT(idx >= 0);
        memset(&s->nodes[idx], 0, sizeof(s->nodes[idx]));
        if (!self) {
            swim__order_insert(s, (uint32_t)idx);
            swim__event(s, SWIM_EVENT_MEMBER_JOINED, m->status, m);
        }
        track_status(s, (size_t)idx, NULL, m, source, source_len);
    } else {
        track_status(s, (size_t)idx, &old, m, source, source_len);
        swim__event(s, SWIM_EVENT_MEMBER_CHANGED, old.status, m);
    }
    if (!was_dead && is_dead(m->status)) {
        dead_add(s, (size_t)idx);
    } else if (was_dead && !is_dead(m->status)) {
        dead_remove(s, (size_t)idx);
    }
    if (gossip) {
        (void)swim__bcast(s, (size_t)idx, source, source_len);
    }
    return 0;
}

int swim__commit(struct swim *s, const struct member *m, const char *source, size_t source_len)
{
    return store(s, m, source, source_len, 1);
}

int swim__test_put(struct swim *s, const struct member *m)
{
    return store(s, m, NULL, 0, 0);
}

int swim__test_adopt(struct swim *s, const struct members *table)
{
    size_t n = members_count(table);
    if (members_count_status(table, MEMBER_ALIVE) != n || s->susp_count > 0 || s->dead_count > 0) {
        return RING_EINVAL; /* only a fresh node, only a table with no timers to start */
    }
    struct members *t;
    int rv = members__clone(&t, table, &s->mem);
    if (rv == 0) {
        rv = members_put(t, &s->self); /* our own record stays what we say it is */
    }
    if (rv != 0) {
        members_del(t);
        return rv;
    }
    struct members *old = s->table;
    s->table = t;
    rv = swim__nodes_fit(s);
    if (rv != 0) {
        s->table = old;
        members_del(t);
        return rv;
    }
    /* Indexes change: nothing queued may point into the old table. In a cluster converged
     * long ago nothing is news, so the queue stays empty. */
    swim__bcast_drop_all(s);
    members_del(old);
    for (size_t i = 0; i < members_count(t); i++) {
        memset(&s->nodes[i], 0, sizeof(s->nodes[i]));
        s->nodes[i].changed_ms = s->now_ms;
    }
    /* An empty order: the first probe shuffles the whole table into a round. */
    s->order_len = 0;
    s->order_pos = 0;
    return 0;
}

/* ---- updates from peers ---- */

/* An update about ourselves: refute it when it is at our incarnation or above and says
 * something else than we do. */
static int hear_self(struct swim *s, const struct member *m)
{
    struct member self = s->self;
    if (m->incarnation < self.incarnation) {
        return 0;
    }
    if (m->incarnation == self.incarnation &&
        !members__overrides(self.incarnation, self.status, self.flags, m)) {
        return 0; /* our own record, or one ours beats by precedence */
    }
    /* Beyond the ceiling every node refuses it too (swim_limits.c): refuting it would only
     * take us where nobody follows. Within it, the refutation is one above, and saturates
     * (unreachable: incarnation_min is at most SWIM_INCARNATION_MIN_MAX). */
    if (!swim__incarnation_plausible(s, self.incarnation, m)) {
        return 0;
    }
    self.incarnation = m->incarnation + (m->incarnation < UINT64_MAX);
    if (s->cfg.debug_events) {
        (void)swim__event(s, SWIM_EVENT_REFUTED, self.status, m);
    }
    if (m->status == MEMBER_SUSPECT || m->status == MEMBER_FAULTY) {
        s->stats.refutations++;
        swim__health(s, 1);
    }
    return swim__commit(s, &self, NULL, 0);
}

int swim__apply_update(struct swim *s, const struct member *m, const char *source,
                       size_t source_len)
{
    /* Sub-sharding: each group runs its own swim, so a record of another group (heard from a
     * seed or a peer of the wrong group) never enters the table. Flat clusters have one
     * group, "", and are unaffected. */
    if (m->group_len != s->self.group_len || memcmp(m->group, s->self.group, m->group_len) != 0) {
        return 0;
    }
    if (swim__is_self(s, m->id, m->id_len)) {
        return hear_self(s, m);
    }
    struct member clamped;
    m = swim__weight_clamp(s, m, &clamped);
    int idx = members_index(s->table, m->id, m->id_len);
    uint64_t known = idx >= 0 ? members_incarnation(s->table, (size_t)idx) : 0;
    if (idx < 0 && is_dead(m->status)) {
        return 0;
    }
    if (!swim__incarnation_plausible(s, known, m)) {
        return 0;
    }
    if (idx < 0) {
        if (!swim__admit(s, m)) {
            return 0;
        }
        /* A member a seed's join reply brought, or one heard of while the cluster forms
         * around us (a seed's joiners too): the member spreads its own record, every node
         * joins through a seed and catches up with one; a joiner that re-gossiped the whole
         * table would send N records λ·log N times each for nothing (proto/SWIM.md, "Cold
         * start"). */
        int quiet = s->admit_mode == SWIM_ADMIT_JOIN || s->now_ms < s->forming_until_ms;
        return store(s, m, source, source_len, !quiet);
    }
    if (m->status == MEMBER_SUSPECT && members_status(s->table, (size_t)idx) == MEMBER_SUSPECT &&
        members_incarnation(s->table, (size_t)idx) == m->incarnation) {
        susp_confirm(s, (size_t)idx, source, source_len);
        return 0;
    }
    if (!members__overrides(members_incarnation(s->table, (size_t)idx),
                            (uint8_t)members_status(s->table, (size_t)idx),
                            (uint8_t)members_flags(s->table, (size_t)idx), m)) {
        return 0;
    }
    return swim__commit(s, m, source, source_len);
}

void swim__suspect(struct swim *s, int idx)
{
    int st = members_status(s->table, (size_t)idx);
    if (st == MEMBER_SUSPECT) {
        susp_confirm(s, (size_t)idx, s->self.id, s->self.id_len);
        return;
    }
    if (st != MEMBER_ALIVE) {
        return;
    }
    struct member m;
    members_get(s->table, (size_t)idx, &m);
    m.status = MEMBER_SUSPECT;
    s->stats.suspicions++;
    (void)swim__commit(s, &m, s->self.id, s->self.id_len);
}

/* ---- timers: suspicion timeouts and reaping ---- */

static void declare_faulty(struct swim *s, size_t idx)
{
    struct member m;
    members_get(s->table, idx, &m);
    m.status = MEMBER_FAULTY;
    s->stats.faulty++;
    (void)swim__commit(s, &m, NULL, 0);
}

static void reap(struct swim *s, size_t idx)
{
    struct member old;
    members_get(s->table, idx, &old);
    size_t last = members_count(s->table) - 1;
    char moved_id[MEMBER_ID_BYTES_MAX];
    size_t moved_len = 0;
    if (idx != last) {
        const char *id = members_id(s->table, last, &moved_len);
        memcpy(moved_id, id, moved_len);
    }
    susp_end(s, idx);
    if (members_remove(s->table, old.id, old.id_len) != 0) {
        return;
    }
    s->dead_digest_sum -= member_digest(&old);
    swim__bcast_forget(s, idx);
    dead_remove(s, idx);
    if (idx != last) {
        /* The table moves its last record into the freed index; follow it. */
        RING_ASSERT(members_index(s->table, moved_id, moved_len) == (int)idx);
        s->nodes[idx] = s->nodes[last];
        if (s->nodes[idx].susp != 0) {
            s->susp[s->nodes[idx].susp - 1].node = (uint32_t)idx;
        }
        swim__bcast_moved(s, (uint32_t)idx, (uint32_t)last);
        dead_renamed(s, (uint32_t)last, (uint32_t)idx);
    }
    swim__order_moved(s, (uint32_t)idx, (uint32_t)last);
    swim__event(s, SWIM_EVENT_MEMBER_LEFT, old.status, &old);
}

static int is_self_idx(const struct swim *s, size_t idx)
{
    size_t id_len;
    const char *id = members_id(s->table, idx, &id_len);
    return swim__is_self(s, id, id_len);
}

/* Only suspects (the susp array) and dead members (the dead list) have timers, so the sweep
 * is O(suspects + dead), not O(N). Both walk backwards: ending a suspicion or reaping moves
 * the last entry into the freed slot, and that entry was already visited. */
void swim__timers_tick(struct swim *s)
{
    uint64_t now = s->now_ms;
    if (now < s->timers_next_ms) {
        return;
    }
    uint64_t next = UINT64_MAX;
    for (size_t k = s->susp_count; k-- > 0;) {
        if (k >= s->susp_count) {
            continue;
        }
        uint64_t at = susp_deadline(&s->susp[k]);
        if (now >= at) {
            declare_faulty(s, s->susp[k].node); /* it joins the dead list */
            continue;
        }
        next = at < next ? at : next;
    }
    const uint64_t dead_total = (uint64_t)s->cfg.dead_ms + s->cfg.tombstone_ms;
    for (size_t k = s->dead_count; k-- > 0;) {
        if (k >= s->dead_count) {
            continue;
        }
        uint32_t idx = s->dead[k];
        if (is_self_idx(s, idx)) {
            continue;
        }
        uint64_t at = s->nodes[idx].changed_ms + dead_total;
        if (now >= at) {
            reap(s, idx);
            continue;
        }
        next = at < next ? at : next;
    }
    s->timers_next_ms = next;
}
