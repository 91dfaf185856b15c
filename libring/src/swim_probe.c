/*
 * swim_probe: the failure detector, one probe per protocol period (SWIM §4.3, Lifeguard).
 *
 * Order. Targets come from a shuffled list of the member table, walked round-robin; a new
 * round reshuffles, and a member that joins mid-round is inserted at a random position of
 * the rest of the round. Every live member is probed once per round, so a failure is
 * detected within two rounds in the worst case, not "eventually" as with random picks.
 *
 * Suspects first (a departure from SWIM and Lifeguard). A member we heard is suspect and
 * have not probed since is our next target, ahead of the round (which resumes one period
 * later). Lifeguard's suspicion timeout only falls to its minimum once k other members
 * confirm, and confirmations come from independent probes: left to the round-robin, the
 * k-th comes after ~k more periods on average with a long geometric tail (at N = 100, one
 * run in ten waited 0.3-1 s past the minimum). Probing the suspect at once turns every
 * member that heard the rumor into an independent witness within about one period, at no
 * extra traffic (the probe replaces a round-robin one), and each of those pings carries
 * the suspicion to the suspect, so a healthy one hears of it and refutes sooner.
 *
 * One period. Ping the target and wait probe_timeout for the ack. Silence: ask up to
 * indirect_probes random live members to ping it for us (ping-req), and at the same time
 * ask the caller to ping it over the stream transport (memberlist's TCP fallback), which
 * gets through when only UDP is lost. A helper whose own ping times out answers nack. Any
 * ack by the end of the period clears the target; otherwise it becomes suspect.
 *
 * Local health (Lifeguard LHM). The awareness score stretches the probe timeout and the
 * period by 1 + score: -1 for a direct ack, +1 for a probe that failed without any helper
 * to ask, and +1 per helper that did not even nack (a helper's silence says our own
 * network or scheduler is at fault, not the target). Refuting a suspicion of ourselves
 * adds +1 too (swim_suspect.c). A slow node thus probes less and waits longer before it
 * accuses anyone.
 */
#include <string.h>

#include "ring/codec.h"
#include "swim_int.h"

/* ---- probe order ---- */

static int order_fit(struct swim *s, size_t want)
{
    uint32_t *o = swim__grow_tight(s, s->order, &s->order_cap, want, sizeof(*o), MEMBERS_MAX + 1);
    if (o == NULL) {
        return -1;
    }
    s->order = o;
    return 0;
}

/* A fresh round: every member but us, Fisher-Yates shuffled. */
static void order_shuffle(struct swim *s)
{
    size_t n = members_count(s->table);
    s->order_len = 0;
    s->order_pos = 0;
    if (order_fit(s, n) != 0) {
        return;
    }
    /* Our index, looked up once: comparing ids per member made the first round of a
     * 10,000-member table (ringsim's warm start) cost 10^8 memcmps across the cluster. */
    int self = members_index(s->table, s->self.id, s->self.id_len);
    for (size_t i = 0; i < n; i++) {
        if ((int)i != self) {
            s->order[s->order_len++] = (uint32_t)i;
        }
    }
    for (size_t i = s->order_len; i > 1; i--) {
        size_t j = swim__rand_below(s, (uint32_t)i);
        uint32_t t = s->order[i - 1];
        s->order[i - 1] = s->order[j];
        s->order[j] = t;
    }
}

void swim__order_insert(struct swim *s, uint32_t idx)
{
    if (order_fit(s, s->order_len + 1) != 0) {
        return; /* it joins the order at the next reshuffle */
    }
    /* A random position in the rest of the round; the member there moves to the round's end
     * (still probed this round), so an insert is O(1), not a memmove of the order. */
    size_t span = s->order_len - s->order_pos + 1;
    size_t at = s->order_pos + swim__rand_below(s, (uint32_t)span);
    size_t end = s->order_len++;
    s->order[end] = at < end ? s->order[at] : idx;
    s->order[at] = idx;
}

void swim__order_moved(struct swim *s, uint32_t removed, uint32_t moved_from)
{
    for (size_t i = 0; i < s->order_len; i++) {
        if (s->order[i] == removed) {
            s->order[i] = SWIM_NO_NODE;
        } else if (s->order[i] == moved_from) {
            s->order[i] = removed;
        }
    }
}

/* The next live member in the order, or -1 when there is none. */
static int order_next(struct swim *s)
{
    for (int pass = 0; pass < 2; pass++) {
        while (s->order_pos < s->order_len) {
            uint32_t idx = s->order[s->order_pos++];
            if (idx != SWIM_NO_NODE && swim__is_live_peer(s, idx)) {
                return (int)idx;
            }
        }
        order_shuffle(s);
    }
    return -1;
}

/* The suspect we heard about longest ago and have not probed ourselves, or -1. */
static int unprobed_suspect(const struct swim *s)
{
    int best = -1;
    for (size_t k = 0; k < s->susp_count; k++) {
        const struct swim_suspicion *e = &s->susp[k];
        if (!e->probed && (best < 0 || e->start_ms < s->susp[best].start_ms)) {
            best = (int)k;
        }
    }
    return best;
}

/* This period's target: a suspect first, else the next member of the round. */
static int probe_target(struct swim *s)
{
    int k = unprobed_suspect(s);
    int idx = k >= 0 ? (int)s->susp[k].node : order_next(s);
    if (idx >= 0 && s->nodes[idx].susp != 0) {
        s->susp[s->nodes[idx].susp - 1].probed = 1;
    }
    return idx;
}

/* ---- the probe ---- */

static void probe_start(struct swim *s)
{
    uint64_t now = s->now_ms;
    s->probe_next_ms = now + swim__scaled(s, s->cfg.probe_interval_ms);
    int idx = probe_target(s);
    if (idx < 0) {
        return;
    }
    struct swim_probe *p = &s->probe;
    memset(p, 0, sizeof(*p));
    p->active = 1;
    p->seq = s->seq_next++;
    p->ack_deadline_ms = now + swim__scaled(s, s->cfg.probe_timeout_ms);
    p->end_ms = s->probe_next_ms;
    size_t id_len;
    const char *id = members_id(s->table, (size_t)idx, &id_len);
    memcpy(p->id, id, id_len);
    p->id_len = (uint8_t)id_len;
    p->addr = *members_addr(s->table, (size_t)idx);
    p->incarnation = members_incarnation(s->table, (size_t)idx);
    s->stats.probes++;
    struct swim_out *o = swim__out_push(s, CODEC_PING, &p->addr);
    if (o != NULL) {
        o->seq = p->seq;
        memcpy(o->target, p->id, p->id_len);
        o->target_len = p->id_len;
        o->carry_suspect = members_status(s->table, (size_t)idx) == MEMBER_SUSPECT;
    }
}

/* A ping-req helper: an alive member other than us and the probe's target. */
static int helper_candidate(const struct swim *s, size_t idx)
{
    if (members_status(s->table, idx) != MEMBER_ALIVE) {
        return 0;
    }
    size_t id_len;
    const char *id = members_id(s->table, idx, &id_len);
    return !swim__is_self(s, id, id_len) &&
           !(id_len == s->probe.id_len && memcmp(id, s->probe.id, id_len) == 0);
}

/* Picks up to |want| distinct random helpers. */
static size_t pick_helpers(struct swim *s, uint32_t *out, size_t want)
{
    return swim__random_members(s, helper_candidate, out, want);
}

static void probe_indirect(struct swim *s)
{
    struct swim_probe *p = &s->probe;
    uint32_t helpers[SWIM_INDIRECT_MAX];
    size_t n = pick_helpers(s, helpers, s->cfg.indirect_probes);
    p->indirect = 1;
    s->stats.indirect_probes++;
    for (size_t i = 0; i < n; i++) {
        struct swim_out *o = swim__out_push(s, CODEC_PING_REQ, members_addr(s->table, helpers[i]));
        if (o == NULL) {
            break;
        }
        o->seq = p->seq;
        memcpy(o->target, p->id, p->id_len);
        o->target_len = p->id_len;
        o->target_addr = p->addr;
        p->nacks_expected++;
    }
    if (swim__stream_ping_start(s, &p->addr, p->id, p->id_len, p->seq) == 0) {
        s->stats.stream_probes++;
    }
}

static void probe_failed(struct swim *s)
{
    struct swim_probe *p = &s->probe;
    p->active = 0;
    if (p->nacks_expected == 0) {
        swim__health(s, 1);
    } else if (p->nacks < p->nacks_expected) {
        swim__health(s, (int)(p->nacks_expected - p->nacks));
    }
    int idx = members_index(s->table, p->id, p->id_len);
    /* A member that came back in a new life while we probed its old one (a pod recreated at
     * a new address, a refutation) is not the one that stayed silent: suspecting it would
     * only make the new process refute. */
    if (idx >= 0 && members_incarnation(s->table, (size_t)idx) == p->incarnation &&
        ring_addr_equal(members_addr(s->table, (size_t)idx), &p->addr)) {
        if (s->cfg.debug_events) {
            struct member m;
            members_get(s->table, (size_t)idx, &m);
            struct swim_event *e = swim__event(s, SWIM_EVENT_PROBE_FAILED, m.status, &m);
            if (e != NULL) {
                e->count = p->nacks;
            }
        }
        swim__suspect(s, idx);
    }
}

void swim__probe_acked(struct swim *s, uint32_t seq, int direct)
{
    struct swim_probe *p = &s->probe;
    if (!p->active || p->seq != seq) {
        return;
    }
    p->active = 0;
    if (direct) {
        s->stats.probe_acks++;
        swim__health(s, -1);
    }
}

void swim__probe_tick(struct swim *s)
{
    struct swim_probe *p = &s->probe;
    uint64_t now = s->now_ms;
    if (p->active && !p->indirect && now >= p->ack_deadline_ms) {
        probe_indirect(s);
    }
    if (p->active && now >= p->end_ms) {
        probe_failed(s);
    }
    if (!p->active && now >= s->probe_next_ms) {
        probe_start(s);
    }
    /* Relays whose target stayed silent answer nack (Lifeguard): we are alive, it is not
     * answering us either. */
    for (size_t i = 0; i < SWIM_RELAYS_MAX && s->relay_count > 0; i++) {
        struct swim_relay *r = &s->relays[i];
        if (r->used && now >= r->deadline_ms) {
            r->used = 0;
            s->relay_count--;
            struct swim_out *o = swim__out_push(s, CODEC_NACK, &r->origin);
            if (o != NULL) {
                o->seq = r->origin_seq;
            }
        }
    }
}

uint64_t swim__probe_deadline(const struct swim *s)
{
    const struct swim_probe *p = &s->probe;
    uint64_t t = s->probe_next_ms;
    if (p->active) {
        t = p->indirect ? p->end_ms : p->ack_deadline_ms;
    }
    for (size_t i = 0; i < SWIM_RELAYS_MAX && s->relay_count > 0; i++) {
        if (s->relays[i].used && s->relays[i].deadline_ms < t) {
            t = s->relays[i].deadline_ms;
        }
    }
    return t;
}

/* ---- datagram handlers ---- */

void swim__on_ping(struct swim *s, const struct ring_addr *from, const struct codec_msg *msg)
{
    if (msg->target_len > 0 && !swim__is_self(s, msg->target, msg->target_len)) {
        return; /* meant for whoever had this address before us */
    }
    struct swim_out *o = swim__out_push(s, CODEC_ACK, from);
    if (o != NULL) {
        o->seq = msg->seq;
    }
}

void swim__on_ping_req(struct swim *s, const struct ring_addr *from, const struct codec_msg *msg)
{
    if (swim__is_self(s, msg->target, msg->target_len)) {
        struct swim_out *o = swim__out_push(s, CODEC_ACK, from);
        if (o != NULL) {
            o->seq = msg->seq;
        }
        return;
    }
    /* Only a member of our table is probed, at the address our table holds: a ping-req
     * naming any id and address would make this node reflect pings wherever a forger
     * likes. The origin's view may be newer (a member moved); the nack it then misses is
     * counted against its own health, as for a busy helper. */
    int idx = members_index(s->table, msg->target, msg->target_len);
    if (idx < 0) {
        s->stats.ping_reqs_refused++;
        return;
    }
    struct swim_relay *r = NULL;
    for (size_t i = 0; i < SWIM_RELAYS_MAX && r == NULL; i++) {
        r = s->relays[i].used ? NULL : &s->relays[i];
    }
    if (r == NULL) {
        return; /* too busy: the origin counts our missing nack against itself, correctly */
    }
    struct swim_out *o = swim__out_push(s, CODEC_PING, members_addr(s->table, (size_t)idx));
    if (o == NULL) {
        return;
    }
    o->seq = s->seq_next++;
    memcpy(o->target, msg->target, msg->target_len);
    o->target_len = msg->target_len;
    r->used = 1;
    s->relay_count++;
    r->seq = o->seq;
    r->origin_seq = msg->seq;
    r->origin = *from;
    /* Lifeguard: the nack goes out at 80% of the (unstretched) probe timeout, so that it
     * reaches the origin before its period ends, where it is counted. */
    r->deadline_ms = s->now_ms + (uint64_t)s->cfg.probe_timeout_ms * SWIM_NACK_PERCENT / 100;
}

void swim__on_ack(struct swim *s, const struct codec_msg *msg)
{
    if (msg->seq == 0) {
        return; /* a gossip carrier */
    }
    if (s->probe.active && s->probe.seq == msg->seq) {
        /* An ack after the ping-reqs went out may come from a helper: not a direct ack. */
        swim__probe_acked(s, msg->seq, !s->probe.indirect);
        return;
    }
    for (size_t i = 0; i < SWIM_RELAYS_MAX && s->relay_count > 0; i++) {
        struct swim_relay *r = &s->relays[i];
        if (r->used && r->seq == msg->seq) {
            r->used = 0;
            s->relay_count--;
            struct swim_out *o = swim__out_push(s, CODEC_ACK, &r->origin);
            if (o != NULL) {
                o->seq = r->origin_seq;
            }
            return;
        }
    }
}

void swim__on_nack(struct swim *s, const struct codec_msg *msg)
{
    if (s->probe.active && s->probe.seq == msg->seq) {
        s->probe.nacks++;
        s->stats.nacks_received++;
    }
}
