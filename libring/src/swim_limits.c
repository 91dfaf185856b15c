/*
 * swim_limits: what one peer's message may change, whatever the transport's authentication
 * (proto/SWIM.md, "Limits between peers").
 *
 * SWIM trusts what it hears: a higher incarnation wins, a new id is inserted, a weight is
 * taken as given. A forged but well-formed datagram could therefore push a member's
 * incarnation to 2^64 - 1 (its refutation wrapped to 0 and lost for good), give a fake
 * member most of the ring, or fill the table with heavy records. Each rule here bounds one
 * of these, and each refusal is counted:
 *
 *   - incarnations: an update is accepted up to a ceiling a short step above what we hold
 *     for the member, or a day of seconds above our clock (ringd starts incarnations at its
 *     wall-clock seconds), and one more when it says alive, so that a member can always
 *     refute what any node accepted, and nothing reaches the top (incarnations_refused);
 *   - weights are clamped to weight_max (weights_clamped);
 *   - new members are admitted at most SWIM_ADMIT_PER_DATAGRAM per datagram, only while the
 *     ring's points fit HASHRING_POINTS_MAX, and from a budget (members_refused): a stranger
 *     (an address no live member has) draws on SWIM_ADMIT_BURST_MIN refilled at
 *     admit_per_second; a live member speaking from its own address, or answering a sync we
 *     started with it, on max(SWIM_ADMIT_BURST_MIN, N) refilled at N a second, so the table
 *     at most doubles a second; a joiner's own record in its join sync request, from an IP
 *     no live member has, on max(SWIM_ADMIT_JOINERS_MIN, N) refilled at as many a second (a
 *     stranger adds only itself, one per address, and the seeds of a cold start admit the
 *     joiners as they come); the reply to our own join sync, or to a catch-up sync with a
 *     seed once a refusal showed the table growing past our budget, is exempt: we asked a
 *     seed for the whole cluster;
 *   - a sync is refused by its length before it is decoded when our table cannot explain
 *     it (syncs_refused), except those join and catch-up replies.
 *
 * Memberlist and Serf bound none of these and rely on the keyring alone; ringd without
 * --keyfile is exactly the case where a peer's word is all there is.
 */
#include <string.h>

#include "ring/codec.h"
#include "ring/hashring.h"
#include "swim_int.h"

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* incarnation_min plus the whole seconds since swim_new(): ringd's incarnations are its
 * start time in seconds, so this is "now" on the same scale. */
static uint64_t clock_incarnation(const struct swim *s)
{
    uint64_t up_ms = s->now_ms > s->start_ms ? s->now_ms - s->start_ms : 0;
    return add_sat(s->cfg.incarnation_min, up_ms / 1000);
}

uint64_t swim__incarnation_ceiling(const struct swim *s, uint64_t known, int status)
{
    uint64_t by_step = add_sat(known, SWIM_INCARNATION_STEP_MAX);
    uint64_t by_clock = add_sat(clock_incarnation(s), SWIM_INCARNATION_AHEAD_MAX);
    uint64_t ceiling = by_step > by_clock ? by_step : by_clock;
    /* A refutation is one above the suspicion it answers: whoever accepted that accepts it. */
    return add_sat(ceiling, status == MEMBER_ALIVE);
}

int swim__incarnation_plausible(struct swim *s, uint64_t known, const struct member *m)
{
    if (m->incarnation <= swim__incarnation_ceiling(s, known, m->status)) {
        return 1;
    }
    s->stats.incarnations_refused++;
    return 0;
}

const struct member *swim__weight_clamp(struct swim *s, const struct member *m, struct member *copy)
{
    if (m->weight <= s->cfg.weight_max) {
        return m;
    }
    s->stats.weights_clamped++;
    *copy = *m;
    copy->weight = s->cfg.weight_max;
    return copy;
}

void swim__admit_init(struct swim *s, uint64_t now_ms)
{
    s->admit_strangers.millis = (uint64_t)SWIM_ADMIT_BURST_MIN * 1000;
    s->admit_strangers.refill_ms = now_ms;
    s->admit_members = s->admit_strangers;
    s->admit_joiners.millis = (uint64_t)SWIM_ADMIT_JOINERS_MIN * 1000;
    s->admit_joiners.refill_ms = now_ms;
}

/* Refills |b| for the time since its last refill at |per_s| members a second, up to |cap|
 * members; then takes one member from it if it holds one. */
static int budget_take(struct swim *s, struct swim_budget *b, uint64_t per_s, uint64_t cap)
{
    uint64_t elapsed = s->now_ms > b->refill_ms ? s->now_ms - b->refill_ms : 0;
    b->refill_ms = s->now_ms;
    cap *= 1000;
    /* per_s members a second are per_s thousandths a millisecond. */
    uint64_t add = elapsed >= cap ? cap : elapsed * per_s;
    b->millis = b->millis + add > cap ? cap : b->millis + add;
    if (b->millis < 1000) {
        return 0;
    }
    b->millis -= 1000;
    return 1;
}

/* Whether the ring's points stay within what hashring_new() can build with |m| added. */
static int ring_has_room(const struct swim *s, const struct member *m)
{
    if (m->status != MEMBER_ALIVE && m->status != MEMBER_SUSPECT) {
        return 1;
    }
    uint64_t weight = members_ring_weight(s->table) + m->weight;
    return weight * s->cfg.ring_vnodes <= HASHRING_POINTS_MAX &&
           members_ring_count(s->table) < HASHRING_MEMBERS_MAX;
}

static int same_ip(const struct ring_addr *a, const struct ring_addr *b)
{
    return a->family == b->family && memcmp(a->ip, b->ip, sizeof(a->ip)) == 0;
}

/* Whether |m| is the sender's own record in a join sync request from a stranger's IP: the
 * record's id is the request's sender and its IP the connection's. */
static int is_joiner(const struct swim *s, const struct member *m)
{
    return s->admit_mode == SWIM_ADMIT_STRANGER && s->joiner_id != NULL &&
           m->id_len == s->joiner_id_len && memcmp(m->id, s->joiner_id, m->id_len) == 0 &&
           same_ip(&m->addr, s->joiner_from);
}

static int budget_allows(struct swim *s, const struct member *m)
{
    uint64_t n = members_ring_count(s->table);
    if (is_joiner(s, m)) {
        uint64_t joiners = n > SWIM_ADMIT_JOINERS_MIN ? n : SWIM_ADMIT_JOINERS_MIN;
        return budget_take(s, &s->admit_joiners, joiners, joiners);
    }
    uint64_t burst = n > SWIM_ADMIT_BURST_MIN ? n : SWIM_ADMIT_BURST_MIN;
    uint64_t rate = s->cfg.admit_per_second;
    switch (s->admit_mode) {
    case SWIM_ADMIT_JOIN:
        return 1;
    case SWIM_ADMIT_MEMBER:
    case SWIM_ADMIT_MEMBER_DGRAM:
        return budget_take(s, &s->admit_members, n > rate ? n : rate, burst);
    default:
        return budget_take(s, &s->admit_strangers, rate, SWIM_ADMIT_BURST_MIN);
    }
}

int swim__admit(struct swim *s, const struct member *m)
{
    int dgram = s->admit_mode == SWIM_ADMIT_STRANGER_DGRAM;
    int room = members_count(s->table) < s->cfg.members_max && ring_has_room(s, m) &&
               (!dgram || s->admit_in_msg < SWIM_ADMIT_PER_DATAGRAM);
    int ok = room && budget_allows(s, m);
    if (ok) {
        s->admit_in_msg++;
        if (is_joiner(s, m)) {
            swim__joiner_admitted(s);
        }
        /* Soon after our join, a member heard of from a peer joined after the seed answered
         * us: a cold start is under way, and a seed soon has the rest (swim_sync.c). */
        s->catchup_wanted |= s->admit_mode != SWIM_ADMIT_JOIN && s->now_ms < s->forming_until_ms;
        return 1;
    }
    s->stats.members_refused++;
    if (room) {
        /* The table grows faster than our budget lets it: a seed has the rest (catch-up,
         * swim_sync.c). A forged flood asks at a backed-off pace, for bytes the seed
         * would send a joiner anyway. */
        s->catchup_wanted = 1;
    }
    return 0;
}

uint8_t swim__admit_mode_of(const struct swim *s, const struct ring_addr *from, const char *id,
                            size_t id_len, int ip_only)
{
    if (id != NULL) {
        int idx = members_index(s->table, id, id_len);
        return idx >= 0 && swim__is_live_peer(s, (size_t)idx) &&
                       ring_addr_equal(members_addr(s->table, (size_t)idx), from)
                   ? SWIM_ADMIT_MEMBER
                   : SWIM_ADMIT_STRANGER;
    }
    for (size_t i = 0; i < s->seed_count && !ip_only; i++) {
        if (ring_addr_equal(&s->seeds[i], from)) {
            return SWIM_ADMIT_MEMBER;
        }
    }
    size_t n = members_count(s->table);
    for (size_t i = 0; i < n; i++) {
        const struct ring_addr *a = members_addr(s->table, i);
        if ((ip_only ? same_ip(a, from) : ring_addr_equal(a, from)) && swim__is_live_peer(s, i)) {
            return SWIM_ADMIT_MEMBER;
        }
    }
    return SWIM_ADMIT_STRANGER;
}

size_t swim_stream_bytes_max(const struct swim *s, uint32_t token)
{
    for (size_t i = 0; token != 0 && i < SWIM_STREAMS_MAX && s->stream_count > 0; i++) {
        const struct swim_stream *st = &s->streams[i];
        if (st->used && st->token == token &&
            (st->kind == SWIM_STREAM_JOIN || st->kind == SWIM_STREAM_CATCHUP)) {
            return CODEC_FRAME_BYTES_MAX;
        }
    }
    uint64_t n =
        SWIM_SYNC_BYTES_MIN + 2 * (uint64_t)members_count(s->table) * SWIM_SYNC_RECORD_BYTES_MAX;
    return n < CODEC_FRAME_BYTES_MAX ? (size_t)n : CODEC_FRAME_BYTES_MAX;
}
