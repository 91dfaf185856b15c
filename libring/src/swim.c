/*
 * swim: the object, its configuration, the datagram path in and out, the tick dispatch and
 * the event queue. proto/SWIM.md is the behaviour spec; this file is the switchboard.
 *
 * The core is a state machine without I/O: every entry point takes now_ms, and everything
 * it wants done is queued for the caller (datagrams in |out|, stream requests in |streams|,
 * events in |events|). Work is bounded per call: the queues have caps, a tick does at most
 * one probe step, one gossip round, one sync start and one sweep of the member timers.
 *
 * Datagrams are queued as headers (type, seq, destination, target) and their piggybacked
 * updates are chosen only when the caller drains them with swim_send_next(): updates
 * queued between a decision and the send still ride along, and the budget is checked
 * against the real encoded size there.
 *
 * Randomness: one splitmix64 stream seeded by cfg.seed drives every choice (probe order,
 * ping-req helpers, gossip targets, sync partners), so a seed replays exactly.
 */
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ring/codec.h"
#include "ring/error.h"
#include "ring/hashring.h"
#include "ring/swim.h"
#include "mem_int.h"
#include "swim_int.h"

/* Defaults (swim.h documents each): memberlist's LAN profile with a faster period (300 ms,
 * probe timeout 150 ms), a shorter suspicion floor (mult 2) and a higher ceiling (max mult
 * 10; Lifeguard's k = 2 kept), chosen with ringsim and 8 real ringd so that a kill is faulty
 * everywhere within 3 s at N = 100 and 2.5 s at N = 8 with 0 false positives at 10% loss
 * (proto/SWIM.md "Defaults" has the numbers); and the longer dead and tombstone periods
 * that ringpop uses so a flapping pod does not churn the ring. */
#define DEFAULT_PROBE_INTERVAL_MS       300
#define DEFAULT_PROBE_TIMEOUT_MS        150
#define DEFAULT_INDIRECT_PROBES         3
#define DEFAULT_SUSPICION_MULT          2
#define DEFAULT_SUSPICION_MAX_MULT      10
#define DEFAULT_SUSPICION_CONFIRMATIONS 2
#define DEFAULT_AWARENESS_MAX           8
#define DEFAULT_RETRANSMIT_MULT         4
#define DEFAULT_GOSSIP_INTERVAL_MS      200
#define DEFAULT_GOSSIP_NODES            3
#define DEFAULT_SYNC_INTERVAL_MS        30000
#define DEFAULT_DEAD_MS                 30000
#define DEFAULT_TOMBSTONE_MS            60000
#define DEFAULT_HEAL_INTERVAL_MS        10000
#define DEFAULT_DATAGRAM_BYTES_MAX      1400

uint64_t swim__rand(struct swim *s)
{
    uint64_t z = (s->rng += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint32_t swim__rand_below(struct swim *s, uint32_t n)
{
    RING_ASSERT(n > 0);
    /* The modulo bias of a 64-bit draw over n < 2^32 is below 2^-32: irrelevant here. */
    return (uint32_t)(swim__rand(s) % n);
}

/* Grows |ptr| from |*cap| elements by |step(n)| until it holds |want|. */
static void *grow_by(struct swim *s, void *ptr, size_t *cap, size_t want, size_t size, size_t max,
                     int quarter)
{
    if (want <= *cap) {
        return ptr;
    }
    if (want > max) {
        return NULL;
    }
    size_t n = *cap ? *cap : 8;
    while (n < want) {
        n += quarter ? (n / 4 > 8 ? n / 4 : 8) : n;
    }
    if (n > max) {
        n = max;
    }
    if (size != 0 && n > SIZE_MAX / size) {
        return NULL;
    }
    void *p = s->mem.realloc(ptr, n * size, s->mem.user_data);
    if (p != NULL) {
        *cap = n;
    }
    return p;
}

void *swim__grow(struct swim *s, void *ptr, size_t *cap, size_t want, size_t size, size_t max)
{
    return grow_by(s, ptr, cap, want, size, max, 0);
}

void *swim__grow_tight(struct swim *s, void *ptr, size_t *cap, size_t want, size_t size, size_t max)
{
    return grow_by(s, ptr, cap, want, size, max, 1);
}

int swim__random_member(struct swim *s, int (*want)(const struct swim *, size_t))
{
    size_t n = members_count(s->table);
    if (n > SWIM_SAMPLE_SCAN_MAX) {
        for (int tries = 0; tries < 4 * SWIM_SAMPLE_TRIES; tries++) {
            uint32_t i = swim__rand_below(s, (uint32_t)n);
            if (want(s, i)) {
                return (int)i;
            }
        }
        return -1;
    }
    int picked = -1;
    uint32_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (want(s, i) && swim__rand_below(s, ++seen) == 0) {
            picked = (int)i;
        }
    }
    return picked;
}

static int picked_already(const uint32_t *out, size_t got, uint32_t i)
{
    for (size_t k = 0; k < got; k++) {
        if (out[k] == i) {
            return 1;
        }
    }
    return 0;
}

size_t swim__random_members(struct swim *s, int (*want)(const struct swim *, size_t), uint32_t *out,
                            size_t n)
{
    size_t count = members_count(s->table);
    size_t got = 0;
    if (count > SWIM_SAMPLE_SCAN_MAX) {
        for (size_t tries = n * SWIM_SAMPLE_TRIES; got < n && tries > 0; tries--) {
            uint32_t i = swim__rand_below(s, (uint32_t)count);
            if (want(s, i) && !picked_already(out, got, i)) {
                out[got++] = i;
            }
        }
        return got;
    }
    /* Reservoir sampling over the table: one pass, uniform, deterministic. */
    size_t seen = 0;
    for (size_t i = 0; i < count; i++) {
        if (!want(s, i)) {
            continue;
        }
        seen++;
        if (got < n) {
            out[got++] = (uint32_t)i;
        } else {
            uint32_t j = swim__rand_below(s, (uint32_t)seen);
            if (j < n) {
                out[j] = (uint32_t)i;
            }
        }
    }
    return got;
}

int swim__is_self(const struct swim *s, const char *id, size_t id_len)
{
    return id_len == s->self.id_len && memcmp(id, s->self.id, id_len) == 0;
}

uint64_t swim__id_hash(const char *id, size_t id_len)
{
    return XXH3_64bits(id, id_len);
}

uint64_t swim__scaled(const struct swim *s, uint64_t ms)
{
    return ms * (1 + (uint64_t)s->awareness);
}

void swim__health(struct swim *s, int delta)
{
    int64_t v = (int64_t)s->awareness + delta;
    if (v < 0) {
        v = 0;
    }
    if (v > (int64_t)s->cfg.awareness_max) {
        v = s->cfg.awareness_max;
    }
    s->awareness = (uint32_t)v;
}

/* ---- configuration ---- */

static uint32_t or_default(uint32_t v, uint32_t def)
{
    return v != 0 ? v : def;
}

void swim_config_defaults(struct swim_config *c)
{
    c->weight = (uint16_t)or_default(c->weight, 1);
    c->incarnation_min = c->incarnation_min != 0 ? c->incarnation_min : 1;
    c->ring_vnodes = or_default(c->ring_vnodes, HASHRING_VNODES_DEFAULT);
    c->probe_interval_ms = or_default(c->probe_interval_ms, DEFAULT_PROBE_INTERVAL_MS);
    c->probe_timeout_ms = or_default(c->probe_timeout_ms, DEFAULT_PROBE_TIMEOUT_MS);
    c->indirect_probes = or_default(c->indirect_probes, DEFAULT_INDIRECT_PROBES);
    c->suspicion_mult = or_default(c->suspicion_mult, DEFAULT_SUSPICION_MULT);
    c->suspicion_max_mult = or_default(c->suspicion_max_mult, DEFAULT_SUSPICION_MAX_MULT);
    c->suspicion_confirmations =
        or_default(c->suspicion_confirmations, DEFAULT_SUSPICION_CONFIRMATIONS);
    c->awareness_max = or_default(c->awareness_max, DEFAULT_AWARENESS_MAX);
    c->retransmit_mult = or_default(c->retransmit_mult, DEFAULT_RETRANSMIT_MULT);
    c->gossip_interval_ms = or_default(c->gossip_interval_ms, DEFAULT_GOSSIP_INTERVAL_MS);
    c->gossip_nodes = or_default(c->gossip_nodes, DEFAULT_GOSSIP_NODES);
    c->sync_interval_ms = or_default(c->sync_interval_ms, DEFAULT_SYNC_INTERVAL_MS);
    c->dead_ms = or_default(c->dead_ms, DEFAULT_DEAD_MS);
    c->tombstone_ms = or_default(c->tombstone_ms, DEFAULT_TOMBSTONE_MS);
    c->heal_interval_ms = or_default(c->heal_interval_ms, DEFAULT_HEAL_INTERVAL_MS);
    c->datagram_bytes_max = or_default(c->datagram_bytes_max, DEFAULT_DATAGRAM_BYTES_MAX);
    c->members_max = or_default(c->members_max, MEMBERS_MAX);
    c->weight_max = (uint16_t)or_default(c->weight_max, SWIM_WEIGHT_MAX_DEFAULT);
    c->admit_per_second = or_default(c->admit_per_second, SWIM_ADMIT_PER_SECOND_DEFAULT);
}

static int check_timing(const struct swim_config *c)
{
    if (c->probe_timeout_ms >= c->probe_interval_ms) {
        return RING_EINVAL;
    }
    if (c->indirect_probes > SWIM_INDIRECT_MAX || c->suspicion_max_mult < 1 ||
        c->suspicion_confirmations >= SWIM_CONFIRMATIONS_MAX) {
        return RING_EINVAL;
    }
    if (c->gossip_nodes != UINT32_MAX && c->gossip_nodes > SWIM_GOSSIP_NODES_MAX) {
        return RING_EINVAL;
    }
    if (c->datagram_bytes_max < SWIM_DATAGRAM_BYTES_MIN ||
        c->datagram_bytes_max > CODEC_DATAGRAM_BYTES_MAX) {
        return RING_EINVAL;
    }
    if (c->members_max > MEMBERS_MAX || c->weight_max > HASHRING_WEIGHT_MAX ||
        c->weight > c->weight_max) {
        return RING_EINVAL;
    }
    if (c->incarnation_min > SWIM_INCARNATION_MIN_MAX) {
        return RING_EINVAL; /* no forged update may bring an incarnation near 2^64 */
    }
    return 0;
}

static int self_record(const struct swim_config *c, struct member *m)
{
    memset(m, 0, sizeof(*m));
    if (c->id == NULL || member_set_id(m, c->id, c->id_len) != 0) {
        return RING_EINVAL;
    }
    if (c->addr.family != RING_ADDR_V4 && c->addr.family != RING_ADDR_V6) {
        return RING_EINVAL;
    }
    if (c->group_len > MEMBER_GROUP_BYTES_MAX || (c->group == NULL && c->group_len > 0)) {
        return RING_EINVAL;
    }
    if (c->label_count > MEMBER_LABELS_MAX || (c->labels == NULL && c->label_count > 0)) {
        return RING_EINVAL;
    }
    m->status = MEMBER_ALIVE;
    m->weight = c->weight;
    m->incarnation = c->incarnation_min;
    m->addr = c->addr;
    if (c->group_len > 0) {
        memcpy(m->group, c->group, c->group_len);
    }
    m->group_len = (uint8_t)c->group_len;
    for (size_t i = 0; i < c->label_count; i++) {
        if (member_set_label(m, c->labels[i].key, c->labels[i].value) != 0) {
            return RING_EINVAL;
        }
    }
    return member_validate(m) == 0 ? 0 : RING_EINVAL;
}

static void schedule_start(struct swim *s, uint64_t now_ms)
{
    const struct swim_config *c = &s->cfg;
    /* Spread the first probe over one period so nodes started together do not probe in
     * lock step. */
    s->probe_next_ms = now_ms + swim__rand_below(s, c->probe_interval_ms);
    s->gossip_next_ms = now_ms + c->gossip_interval_ms;
    /* The first sync falls in the second half of the first interval, for the same reason. */
    s->sync_base_ms = now_ms;
    s->sync_phase_ms = swim__rand_below(s, c->sync_interval_ms / 2 + 1);
    s->sync_next_ms = now_ms + c->sync_interval_ms - s->sync_phase_ms;
    /* Heals too: nodes started together would otherwise all sync with a fresh faulty
     * member in the same instant (ringsim's converged starts, a fleet rollout). */
    s->heal_base_ms = now_ms;
    s->heal_phase_ms = swim__rand_below(s, c->heal_interval_ms / 2 + 1);
    s->heal_next_ms = now_ms + c->heal_interval_ms - s->heal_phase_ms;
    s->join_next_ms = UINT64_MAX;
    s->timers_next_ms = UINT64_MAX;
    s->joined = 1;
}

struct swim_scratch {
    struct codec_msg msg;
    struct ring_mem mem;
};

int swim_scratch_new(struct swim_scratch **out, const struct ring_mem *mem)
{
    mem = mem != NULL ? mem : ring_mem_default();
    struct swim_scratch *sc = ring__calloc(mem, 1, sizeof(*sc));
    if (sc == NULL) {
        return RING_ENOMEM;
    }
    sc->mem = *mem;
    *out = sc;
    return 0;
}

void swim_scratch_del(struct swim_scratch *sc)
{
    if (sc != NULL) {
        struct ring_mem mem = sc->mem;
        ring__free(&mem, sc);
    }
}

int swim_new(struct swim **out, const struct swim_config *cfg, const struct ring_mem *mem,
             uint64_t now_ms)
{
    if (out == NULL || cfg == NULL) {
        return RING_EINVAL;
    }
    struct swim_config c = *cfg;
    swim_config_defaults(&c);
    int rv = check_timing(&c);
    struct member self;
    if (rv == 0) {
        rv = self_record(&c, &self);
    }
    if (rv != 0) {
        return rv;
    }
    mem = mem != NULL ? mem : ring_mem_default();
    struct swim *s = ring__calloc(mem, 1, sizeof(*s));
    if (s == NULL) {
        return RING_ENOMEM;
    }
    s->mem = *mem;
    c.id = NULL;
    c.group = NULL;
    c.labels = NULL;
    s->cfg = c;
    s->self = self;
    s->rng = c.seed;
    s->now_ms = now_ms;
    s->start_ms = now_ms;
    swim__admit_init(s, now_ms);
    s->seq_next = 1;
    s->token_next = 1;
    s->msg = c.scratch != NULL ? &c.scratch->msg : NULL;
    if (s->msg == NULL) {
        s->msg = ring__calloc(mem, 1, sizeof(*s->msg));
        s->msg_owned = 1;
    }
    /* The table starts small and doubles as members arrive: reserving members_max records
     * up front cost 4.7 MB per node, which ringsim's 10,000 nodes cannot afford.
     * members_max is enforced by swim__nodes_fit(). */
    rv = s->msg == NULL ? RING_ENOMEM : members_new(&s->table, 0, mem);
    if (rv == 0) {
        rv = swim__commit(s, &self, NULL, 0);
    }
    if (rv != 0) {
        swim_del(s);
        return rv;
    }
    s->routes_reported = members_routes_checksum(s->table);
    s->ev_count = 0; /* the node's own record is not news */
    schedule_start(s, now_ms);
    *out = s;
    return 0;
}

void swim_del(struct swim *s)
{
    if (s == NULL) {
        return;
    }
    struct ring_mem mem = s->mem;
    members_del(s->table);
    ring__free(&mem, s->nodes);
    ring__free(&mem, s->susp);
    ring__free(&mem, s->order);
    ring__free(&mem, s->bcasts);
    ring__free(&mem, s->dead);
    if (s->msg_owned) {
        ring__free(&mem, s->msg);
    }
    ring__free(&mem, s->out);
    ring__free(&mem, s->stream_buf);
    ring__free(&mem, s->events);
    ring__free(&mem, s);
}

/* ---- leave ---- */

int swim_leave(struct swim *s, uint64_t now_ms)
{
    s->now_ms = now_ms;
    if (s->leaving) {
        return 0;
    }
    s->leaving = 1;
    struct member self = s->self;
    self.status = MEMBER_LEFT;
    self.incarnation += self.incarnation < UINT64_MAX; /* unreachable: incarnation_min bound */
    /* Push the leave to gossip_nodes members now rather than at the next gossip round: a
     * graceful leave should be seen everywhere within a few network hops. */
    s->gossip_next_ms = now_ms;
    return swim__commit(s, &self, NULL, 0);
}

int swim_leave_done(const struct swim *s)
{
    if (!s->leaving) {
        return 0;
    }
    return s->leave_spread || members_ring_count(s->table) == 0;
}

/* ---- our own flags: drain and restart ---- */

/* Sets our record's flags to |want| with a new incarnation, and pushes it. */
static int flags_apply(struct swim *s, unsigned want)
{
    s->flags_pending = 0;
    if (s->self.flags == want) {
        return 0;
    }
    struct member self = s->self;
    self.flags = (uint8_t)want;
    self.incarnation += self.incarnation < UINT64_MAX; /* unreachable: incarnation_min bound */
    s->flags_spread = 0;
    s->flags_changed_ms = s->now_ms;
    /* As for a leave: every node should act on it at once, so push it now. */
    s->gossip_next_ms = s->now_ms;
    return swim__commit(s, &self, NULL, 0);
}

/* The flags we have asked for: pending ones, else our record's. */
static unsigned flags_wanted(const struct swim *s)
{
    return s->flags_pending ? s->flags_want : s->self.flags;
}

static int flag_set(struct swim *s, unsigned flag, int on, uint64_t now_ms)
{
    s->now_ms = now_ms;
    if (s->leaving) {
        return RING_EINVAL;
    }
    unsigned want = on ? flags_wanted(s) | flag : flags_wanted(s) & ~flag;
    if (want == s->self.flags) {
        s->flags_pending = 0; /* back to what the record says: nothing to send */
        return 0;
    }
    if (s->flags_changed_ms != 0 && now_ms - s->flags_changed_ms < SWIM_DRAIN_CHANGE_MIN_MS) {
        s->flags_pending = 1;
        s->flags_want = (uint8_t)want;
        return 0;
    }
    return flags_apply(s, want);
}

/* A flag change that waited for SWIM_DRAIN_CHANGE_MIN_MS, applied once it has passed. */
static void flags_tick(struct swim *s)
{
    if (s->flags_pending && !s->leaving &&
        s->now_ms - s->flags_changed_ms >= SWIM_DRAIN_CHANGE_MIN_MS) {
        (void)flags_apply(s, s->flags_want);
    }
}

/* 1 once our record with |flag| set has gone out its full count of retransmits (or no other
 * live member is left to tell). */
static int flag_spread(const struct swim *s, unsigned flag)
{
    if ((flags_wanted(s) & flag) == 0 || s->flags_pending) {
        return 0;
    }
    return s->flags_spread || members_ring_count(s->table) <= 1;
}

int swim_drain(struct swim *s, int on, uint64_t now_ms)
{
    return flag_set(s, MEMBER_FLAG_DRAINING, on, now_ms);
}

int swim_draining(const struct swim *s)
{
    return (flags_wanted(s) & MEMBER_FLAG_DRAINING) != 0;
}

int swim_drain_done(const struct swim *s)
{
    return flag_spread(s, MEMBER_FLAG_DRAINING);
}

int swim_restarting_set(struct swim *s, int on, uint64_t now_ms)
{
    return flag_set(s, MEMBER_FLAG_RESTARTING, on, now_ms);
}

int swim_restarting(const struct swim *s)
{
    return (flags_wanted(s) & MEMBER_FLAG_RESTARTING) != 0;
}

int swim_restarting_done(const struct swim *s)
{
    return flag_spread(s, MEMBER_FLAG_RESTARTING);
}

/* ---- force-leave ---- */

int swim_force_leave(struct swim *s, const char *id, size_t id_len, uint64_t now_ms)
{
    s->now_ms = now_ms;
    if (swim__is_self(s, id, id_len)) {
        return RING_EINVAL; /* swim_leave() is ours */
    }
    int idx = members_index(s->table, id, id_len);
    if (idx < 0) {
        return RING_ENOENT;
    }
    int st = members_status(s->table, (size_t)idx);
    if (st == MEMBER_ALIVE) {
        return RING_EAGAIN; /* only the member itself says it is leaving while it lives */
    }
    if (st == MEMBER_LEFT) {
        return 0;
    }
    /* Left at the incarnation we hold: every node takes it as it takes a leave relayed by
     * gossip (a higher status at the same incarnation), and a member that is in fact alive
     * hears it and refutes one incarnation higher, as it refutes a suspicion. */
    struct member m;
    members_get(s->table, (size_t)idx, &m);
    m.status = MEMBER_LEFT;
    s->gossip_next_ms = now_ms;
    return swim__commit(s, &m, NULL, 0);
}

/* ---- datagrams in ---- */

static int is_datagram_type(uint8_t type)
{
    return type == CODEC_PING || type == CODEC_ACK || type == CODEC_NACK || type == CODEC_PING_REQ;
}

static void apply_updates(struct swim *s, const struct ring_addr *from, const struct codec_msg *msg)
{
    s->admit_mode = swim__admit_mode_of(s, from, msg->from, msg->from_len, 0) == SWIM_ADMIT_MEMBER
                        ? SWIM_ADMIT_MEMBER_DGRAM
                        : SWIM_ADMIT_STRANGER_DGRAM;
    s->admit_in_msg = 0;
    for (uint16_t i = 0; i < msg->update_count; i++) {
        const struct codec_update *u = &msg->updates[i];
        (void)swim__apply_update(s, &u->m, u->source, u->source_len);
    }
    s->admit_mode = SWIM_ADMIT_STRANGER;
}

int swim_recv(struct swim *s, const struct ring_addr *from, const uint8_t *buf, size_t len,
              uint64_t now_ms)
{
    s->now_ms = now_ms;
    s->stats.msgs_in++;
    s->stats.bytes_in += len;
    struct codec_msg *msg = s->msg;
    int rv = len > CODEC_DATAGRAM_BYTES_MAX ? RING_EMSGSIZE : codec_decode(buf, len, msg);
    if (rv == 0 && !is_datagram_type(msg->type)) {
        rv = RING_EPROTO;
    }
    if (rv != 0) {
        s->stats.decode_errors++;
        return rv;
    }
    if (swim__is_self(s, msg->from, msg->from_len)) {
        return 0; /* our own datagram looped back */
    }
    apply_updates(s, from, msg);
    switch (msg->type) {
    case CODEC_PING:
        swim__on_ping(s, from, msg);
        swim__checksum_seen(s, from, msg);
        break;
    case CODEC_ACK:
        swim__on_ack(s, msg);
        swim__checksum_seen(s, from, msg);
        break;
    case CODEC_NACK:
        swim__on_nack(s, msg);
        break;
    default:
        swim__on_ping_req(s, from, msg);
        break;
    }
    return 0;
}

/* ---- datagrams out ---- */

/* Doubles the datagram queue, unwrapping it: the entries that wrapped around to the front
 * move to just past the old end. Returns 0 when the queue is full or memory is short. */
static int out_grow(struct swim *s)
{
    size_t old_cap = s->out_cap;
    struct swim_out *out =
        swim__grow(s, s->out, &s->out_cap, old_cap + 1, sizeof(*out), SWIM_OUT_MAX);
    if (out == NULL) {
        return 0;
    }
    s->out = out;
    if (s->out_head + s->out_count > old_cap) {
        size_t wrapped = s->out_head + s->out_count - old_cap;
        memcpy(&out[old_cap], &out[0], wrapped * sizeof(*out));
    }
    return 1;
}

struct swim_out *swim__out_push(struct swim *s, uint8_t type, const struct ring_addr *to)
{
    if (s->out_count == s->out_cap && !out_grow(s)) {
        s->stats.msgs_dropped++;
        return NULL;
    }
    struct swim_out *o = &s->out[(s->out_head + s->out_count) % s->out_cap];
    s->out_count++;
    memset(o, 0, offsetof(struct swim_out, target));
    o->type = type;
    o->to = *to;
    return o;
}

/* The suspicion a ping to a suspect carries, so the target can refute at once. */
static int suspicion_update(struct swim *s, const struct swim_out *o, struct codec_update *u)
{
    int idx = members_index(s->table, o->target, o->target_len);
    if (idx < 0 || members_status(s->table, (size_t)idx) != MEMBER_SUSPECT) {
        return 0;
    }
    memset(u, 0, sizeof(*u));
    members_get(s->table, (size_t)idx, &u->m);
    memcpy(u->source, s->self.id, s->self.id_len + 1);
    u->source_len = s->self.id_len;
    return 1;
}

static void fill_header(struct swim *s, const struct swim_out *o, struct codec_msg *msg)
{
    memset(msg, 0, offsetof(struct codec_msg, updates));
    msg->type = o->type;
    msg->seq = o->seq;
    memcpy(msg->from, s->self.id, s->self.id_len + 1);
    msg->from_len = s->self.id_len;
    memcpy(msg->target, o->target, o->target_len);
    msg->target[o->target_len] = '\0';
    msg->target_len = o->target_len;
    msg->target_addr = o->target_addr;
    if (o->type == CODEC_PING || o->type == CODEC_ACK) {
        msg->checksum = swim__checksum_now(s);
    }
}

/* Encodes |o| with as many updates as fit in |budget|; the size of each update is known
 * in advance, and a shortfall (never expected) sheds updates until it fits. */
static ssize_t encode_out(struct swim *s, const struct swim_out *o, uint8_t *buf, size_t budget)
{
    struct codec_msg *msg = s->msg;
    struct codec_update carried;
    fill_header(s, o, msg);
    int carry = o->carry_suspect && suspicion_update(s, o, &carried);
    swim__piggyback(s, msg, budget, carry ? &carried : NULL);
    for (;;) {
        ssize_t n = codec_encode(buf, budget, msg);
        if (n != RING_EMSGSIZE || msg->update_count == 0) {
            return n;
        }
        msg->update_count--;
    }
}

ssize_t swim_send_next(struct swim *s, struct ring_addr *to, uint8_t *buf, size_t cap,
                       uint64_t now_ms)
{
    s->now_ms = now_ms;
    size_t budget = s->cfg.datagram_bytes_max;
    if (cap < budget) {
        return RING_ENOBUFS;
    }
    while (s->out_count > 0) {
        const struct swim_out *o = &s->out[s->out_head];
        s->out_head = (s->out_head + 1) % s->out_cap;
        s->out_count--;
        ssize_t n = encode_out(s, o, buf, budget);
        if (n < 0) {
            continue; /* cannot happen with well-formed state; drop rather than stall */
        }
        RING_ASSERT((size_t)n <= budget);
        *to = o->to;
        s->stats.msgs_out++;
        s->stats.bytes_out += (uint64_t)n;
        return n;
    }
    return 0;
}

/* ---- time ---- */

int swim_tick(struct swim *s, uint64_t now_ms)
{
    s->now_ms = now_ms;
    flags_tick(s);
    swim__timers_tick(s);
    swim__probe_tick(s);
    swim__gossip_tick(s);
    swim__sync_tick(s);
    return 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

uint64_t swim_next_deadline(const struct swim *s)
{
    uint64_t t = s->timers_next_ms;
    t = min_u64(t, swim__probe_deadline(s));
    t = min_u64(t, swim__gossip_deadline(s));
    t = min_u64(t, swim__sync_deadline(s));
    if (s->flags_pending) {
        t = min_u64(t, s->flags_changed_ms + SWIM_DRAIN_CHANGE_MIN_MS);
    }
    return t;
}

/* ---- events ---- */

struct swim_event *swim__event(struct swim *s, uint8_t type, uint8_t old_status,
                               const struct member *m)
{
    if (s->ev_count == s->ev_cap) {
        size_t cap = s->ev_cap;
        struct swim_event *ev =
            swim__grow(s, s->events, &cap, s->ev_count + 1, sizeof(*ev), SWIM_EVENTS_MAX);
        if (ev == NULL) {
            s->stats.events_dropped++;
            return NULL;
        }
        /* Unwrap the ring into the larger array: the wrapped head part moves up. */
        size_t tail =
            s->ev_head + s->ev_count > s->ev_cap ? s->ev_head + s->ev_count - s->ev_cap : 0;
        memcpy(ev + s->ev_cap, ev, tail * sizeof(*ev));
        s->events = ev;
        s->ev_cap = cap;
    }
    struct swim_event *e = &s->events[(s->ev_head + s->ev_count) % s->ev_cap];
    s->ev_count++;
    memset(e, 0, sizeof(*e));
    e->type = type;
    e->old_status = old_status;
    e->member = *m;
    return e;
}

int swim_next_event(struct swim *s, struct swim_event *ev)
{
    if (s->ev_count > 0) {
        *ev = s->events[s->ev_head];
        s->ev_head = (s->ev_head + 1) % s->ev_cap;
        s->ev_count--;
        if (s->ev_count == 0 && s->ev_cap > SWIM_EVENTS_KEEP) {
            s->mem.free(s->events, s->mem.user_data);
            s->events = NULL;
            s->ev_cap = 0;
            s->ev_head = 0;
        }
        return 1;
    }
    /* RING_CHANGED is a level, not an edge: it is derived here from the routes checksum (the
     * ring and its members' addresses), so it is never lost to a full queue and bursts of
     * changes coalesce into one. A member that moves to a new address changes where its keys
     * go without changing the ring checksum: it is a ring change to whoever routes keys. */
    uint64_t routes = members_routes_checksum(s->table);
    if (routes == s->routes_reported) {
        return 0;
    }
    s->routes_reported = routes;
    memset(ev, 0, sizeof(*ev));
    ev->type = SWIM_EVENT_RING_CHANGED;
    ev->ring_checksum = members_ring_checksum(s->table, s->cfg.ring_vnodes);
    return 1;
}

/* ---- accessors ---- */

const struct members *swim_members(const struct swim *s)
{
    return s->table;
}

uint64_t swim_checksum(const struct swim *s)
{
    return swim__checksum_now(s);
}

uint64_t swim_ring_checksum(const struct swim *s)
{
    return members_ring_checksum(s->table, s->cfg.ring_vnodes);
}

uint64_t swim_incarnation(const struct swim *s)
{
    return s->self.incarnation;
}

uint32_t swim_health(const struct swim *s)
{
    return s->awareness;
}

const struct swim_stats *swim_stats(const struct swim *s)
{
    return &s->stats;
}
