/* lease_glue: exclusive shard leases driven by the node (see lease_glue.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lease_glue.h"
#include "err.h"
#include "prom.h"
#include "ring/codec.h"
#include "ring/error.h"

/* How often a leaving node looks whether its leases are handed off. */
#define DRAIN_POLL_MS 20

/* From a quick hand-off (a round trip or two on a LAN) to an unplanned move, which waits for
 * the old lease to run out (3 s by default, plus the drift bound and a round). */
const double ringd_lease_handoff_bounds_us[RINGD_LEASE_HANDOFF_BUCKETS - 1] = {
    1e3, 5e3, 1e4, 2.5e4, 5e4, 1e5, 2.5e5, 5e5, 1e6, 2.5e6, 5e6, 1e7, 3e7,
};

int ringd_leases_start(struct ringd *d)
{
    const struct ringd_config *c = &d->cfg;
    if (!c->exclusive) {
        return 0;
    }
    struct ringd_leases *ls = calloc(1, sizeof(*ls));
    if (ls == NULL) {
        return UV_ENOMEM;
    }
    d->leases = ls;
    ls->shards = calloc(c->shards, sizeof(*ls->shards));
    ls->out = malloc(CODEC_DATAGRAM_BYTES_MAX);
    if (ls->shards == NULL || ls->out == NULL) {
        return UV_ENOMEM;
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    struct lease_config lc = {
        .id = c->id,
        .id_len = c->id_len,
        .shards = c->shards,
        .lease_ms = c->lease_ms,
        .drift_ppm = c->lease_drift_ppm,
        .release_timeout_ms = c->lease_release_timeout_ms,
        /* sealed, a datagram must still fit the 1,400 bytes swim's do */
        .datagram_bytes_max = ringd_encrypting(d) ? 1400 - SEAL_OVERHEAD_BYTES : 0,
        .seed = (uint64_t)wall.tv_nsec * 2654435761u ^ ((uint64_t)getpid() << 20),
    };
    int rv = lease_new(&ls->l, &lc, NULL, uv_now(d->loop));
    if (rv != 0) {
        ringd_log(&d->log, RINGD_LOG_ERROR, "lease_new", "error", ring_strerror(rv), NULL);
        return UV_EINVAL;
    }
    uv_timer_init(d->loop, &ls->drain_timer);
    ls->drain_timer.data = d;
    return 0;
}

void ringd_leases_close(struct ringd *d)
{
    if (d->leases != NULL) {
        ringd_close_handle((uv_handle_t *)&d->leases->drain_timer);
    }
}

void ringd_leases_free(struct ringd *d)
{
    struct ringd_leases *ls = d->leases;
    if (ls == NULL) {
        return;
    }
    lease_del(ls->l);
    free(ls->shards);
    free(ls->out);
    free(ls);
    d->leases = NULL;
}

/* ---- events ---------------------------------------------------------------------------- */

static void observe_handoff(struct ringd_lease_counters *m, uint64_t ms)
{
    uint64_t us = ms * 1000;
    size_t b = 0;
    while (b < RINGD_LEASE_HANDOFF_BUCKETS - 1 && (double)us > ringd_lease_handoff_bounds_us[b]) {
        b++;
    }
    m->handoff[b]++;
    m->handoff_sum_us += us;
}

/* Losing a lease is news (a minority, or an app that released too late); the rest is the
 * normal course of shards moving. */
static void log_event(struct ringd *d, const struct lease_event *ev)
{
    char shard[12], epoch[24];
    snprintf(shard, sizeof(shard), "%u", ev->shard);
    snprintf(epoch, sizeof(epoch), "%llu", (unsigned long long)ev->epoch);
    ringd_log(&d->log, ev->state == LEASE_LOST ? RINGD_LOG_WARN : RINGD_LOG_DEBUG, "lease_changed",
              "shard", shard, "state", lease_state_name(ev->state), "was",
              lease_state_name(ev->prev), "epoch", epoch, NULL);
}

static void publish(struct ringd *d, const struct lease_event *ev, uint64_t now)
{
    struct ringd_leases *ls = d->leases;
    struct ringd_lease_shard *sh = &ls->shards[ev->shard];
    int renewal = ev->state == ev->prev && ev->epoch == sh->epoch;
    if (ev->state == LEASE_ACQUIRING && sh->acquiring_since_ms == 0) {
        sh->acquiring_since_ms = now;
    }
    if (ev->state == LEASE_HELD && sh->acquiring_since_ms != 0) {
        observe_handoff(&ls->m, now - sh->acquiring_since_ms);
    }
    if (ev->state != LEASE_ACQUIRING && ev->state != LEASE_LOST) {
        sh->acquiring_since_ms = 0;
    }
    if (ev->state == LEASE_LOST && sh->acquiring_since_ms == 0) {
        sh->acquiring_since_ms = now; /* claimed again while it is still ours */
    }
    sh->state = ev->state;
    sh->epoch = ev->epoch;
    sh->expires_ms = ev->expires_ms;
    if (ev->epoch > ls->m.epoch_max && (ev->state == LEASE_HELD || ev->state == LEASE_RELEASING)) {
        ls->m.epoch_max = ev->epoch;
    }
    if (renewal) {
        return;
    }
    log_event(d, ev);
    for (size_t i = 0; i < d->sub_count; i++) {
        if (d->subs[i].cbs.lease_changed != NULL) {
            d->subs[i].cbs.lease_changed(d->subs[i].ctx, ev);
        }
    }
}

/* ---- the pump -------------------------------------------------------------------------- */

void ringd_leases_pump(struct ringd *d, uint64_t now)
{
    struct ringd_leases *ls = d->leases;
    if (ls == NULL) {
        return;
    }
    /* a no-op unless the members or the ring changed (lease_update compares checksums) */
    (void)lease_update(ls->l, swim_members(d->swim), d->ring.ring, now);
    struct ring_addr to;
    ssize_t n;
    while ((n = lease_send_next(ls->l, &to, ls->out, CODEC_DATAGRAM_BYTES_MAX, now)) > 0) {
        ringd_udp_send(d, &to, ls->out, (size_t)n);
    }
    struct lease_event ev;
    while (lease_next_event(ls->l, &ev) == 1) {
        if (ev.shard < d->cfg.shards) {
            publish(d, &ev, now);
        }
    }
}

uint64_t ringd_leases_deadline(const struct ringd *d, uint64_t deadline)
{
    if (d->leases == NULL) {
        return deadline;
    }
    uint64_t l = lease_next_deadline(d->leases->l);
    return l < deadline ? l : deadline;
}

void ringd_leases_tick(struct ringd *d, uint64_t now)
{
    if (d->leases != NULL && lease_next_deadline(d->leases->l) <= now) {
        (void)lease_tick(d->leases->l, now); /* ENOMEM: retried at the next tick */
    }
}

int ringd_leases_recv(struct ringd *d, const struct ring_addr *from, const uint8_t *buf, size_t len,
                      uint64_t now)
{
    if (!codec_is_lease_type(codec_peek_type(buf, len))) {
        return 0;
    }
    if (d->leases != NULL) {
        (void)lease_recv(d->leases->l, from, buf, len, now); /* errors are counted there */
    }
    return 1; /* without --exclusive a lease datagram is nobody's: dropped */
}

/* ---- leaving --------------------------------------------------------------------------- */

static void drain_finish(struct ringd *d, int drained)
{
    struct ringd_leases *ls = d->leases;
    uv_timer_stop(&ls->drain_timer);
    ls->m.leave_drains++;
    ls->m.leave_drains_timed_out += !drained;
    char held[12];
    snprintf(held, sizeof(held), "%u", lease_held_count(ls->l));
    ringd_log(&d->log, drained ? RINGD_LOG_INFO : RINGD_LOG_WARN, "leases_handed_off", "complete",
              drained ? "true" : "false", "held", held, NULL);
    ringd_lease_done_cb done = ls->drain_done;
    ls->drain_done = NULL;
    if (done != NULL) {
        done(d);
    }
}

static void on_drain_timer(uv_timer_t *t)
{
    struct ringd *d = t->data;
    int drained = lease_drained(d->leases->l);
    if (drained || uv_now(d->loop) >= d->leases->drain_deadline_ms) {
        drain_finish(d, drained);
    }
}

void ringd_leases_handoff(struct ringd *d, ringd_lease_done_cb done)
{
    struct ringd_leases *ls = d->leases;
    if (ls == NULL || ls->drain_done != NULL) {
        if (ls == NULL && done != NULL) {
            done(d);
        }
        return;
    }
    uint64_t now = uv_now(d->loop);
    (void)lease_leave(ls->l, now);
    ls->drain_done = done;
    /* the app has --release-timeout to release; a lease after that, every shard it did not
     * release has lapsed */
    ls->drain_deadline_ms = now + d->cfg.lease_release_timeout_ms + d->cfg.lease_ms;
    ringd_pump(d);
    if (lease_drained(ls->l)) {
        drain_finish(d, 1);
        return;
    }
    uv_timer_start(&ls->drain_timer, on_drain_timer, DRAIN_POLL_MS, DRAIN_POLL_MS);
}

/* ---- the view -------------------------------------------------------------------------- */

int ringd_lease_serving(const struct ringd *d, uint32_t shard, uint64_t now, uint64_t *epoch)
{
    if (d->leases == NULL) {
        if (epoch != NULL) {
            *epoch = 0;
        }
        return 1;
    }
    return lease_check(d->leases->l, shard, now, epoch);
}

int ringd_lease_get(const struct ringd *d, uint32_t shard, uint64_t now,
                    struct lease_shard_info *out)
{
    if (d->leases == NULL) {
        return UV_EINVAL;
    }
    return ringd_err_from_ring(lease_get(d->leases->l, shard, now, out));
}

static int id_less(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c < 0 || (c == 0 && alen < blen);
}

int ringd_lease_minority(const struct ringd *d)
{
    const struct members *t = swim_members(d->swim);
    size_t voters = 0, alive = 0;
    const char *low = NULL;
    size_t low_len = 0;
    int low_alive = 0;
    for (size_t i = 0; i < members_count(t); i++) {
        int st = members_status(t, i);
        if (st != MEMBER_ALIVE && st != MEMBER_SUSPECT && st != MEMBER_FAULTY) {
            continue;
        }
        size_t len;
        const char *id = members_id(t, i, &len);
        voters++;
        alive += st == MEMBER_ALIVE;
        if (low == NULL || id_less(id, len, low, low_len)) {
            low = id;
            low_len = len;
            low_alive = st == MEMBER_ALIVE;
        }
    }
    return 2 * alive < voters || (2 * alive == voters && !low_alive);
}

int ringd_lease_release(struct ringd *d, uint32_t shard)
{
    if (d->leases == NULL) {
        return UV_EINVAL;
    }
    int rv = lease_release(d->leases->l, shard, uv_now(d->loop));
    if (rv == 0) {
        d->leases->m.releases_by_app++;
        ringd_pump(d);
    }
    return ringd_err_from_ring(rv);
}

enum ringd_lease_gate ringd_lease_gate_decide(int serving, int minority, uint64_t now,
                                              uint64_t wait_until_ms)
{
    if (serving) {
        return LEASE_GATE_SERVE;
    }
    if (minority) {
        return LEASE_GATE_NO_QUORUM;
    }
    return now < wait_until_ms ? LEASE_GATE_WAIT : LEASE_GATE_NO_LEASE;
}

enum ringd_lease_gate ringd_lease_gate(const struct ringd *d, uint32_t shard, uint64_t now,
                                       uint64_t wait_until_ms, uint64_t *epoch)
{
    int serving = ringd_lease_serving(d, shard, now, epoch);
    int minority = !serving && ringd_lease_minority(d);
    return ringd_lease_gate_decide(serving, minority, now, wait_until_ms);
}

/* ---- metrics --------------------------------------------------------------------------- */

void ringd_leases_prometheus(struct ringd *d, struct sbuf *b)
{
    struct ringd_leases *ls = d->leases;
    if (ls == NULL) {
        return;
    }
    uint64_t now = uv_now(d->loop);
    size_t by_state[LEASE_LOST + 1] = { 0 };
    for (uint32_t s = 0; s < d->cfg.shards; s++) {
        struct lease_shard_info info;
        if (lease_get(ls->l, s, now, &info) == 0 && info.state <= LEASE_LOST) {
            by_state[info.state]++;
        }
    }
    prom_family(b, "ringd_lease_shards", "gauge", "Logical shards by lease state at this node.");
    for (int st = LEASE_NONE; st <= LEASE_LOST; st++) {
        sbuf_printf(b, "ringd_lease_shards{state=\"%s\"} %zu\n", lease_state_name(st),
                    by_state[st]);
    }
    const struct lease_stats *st = lease_stats(ls->l);
    prom_one(b, "ringd_lease_acquisitions_total", "counter",
             "Leases acquired (each with a new epoch).", st->acquired);
    prom_one(b, "ringd_lease_handoffs_total", "counter",
             "Acquisitions that carried the previous holder's release.", st->handoffs);
    prom_one(b, "ringd_lease_losses_total", "counter",
             "Leases that ran out unrenewed (no majority, or released too late).", st->lost);
    prom_one(b, "ringd_lease_lapsed_total", "counter",
             "Of those, releasing leases the app did not release within --release-timeout.",
             st->lapsed);
    prom_one(b, "ringd_lease_releases_total", "counter", "release() calls accepted.",
             ls->m.releases_by_app);
    prom_one(b, "ringd_lease_renewals_total", "counter", "Held leases extended.", st->renewals);
    prom_one(b, "ringd_lease_epoch_max", "gauge", "The highest epoch this node has held.",
             ls->m.epoch_max);
    prom_one(b, "ringd_lease_rounds_total", "counter", "Request rounds started.", st->rounds);
    prom_family(b, "ringd_lease_votes_total", "counter",
                "Lease request entries this node answered as an acceptor.");
    sbuf_printf(b, "ringd_lease_votes_total{vote=\"granted\"} %llu\n",
                (unsigned long long)st->granted);
    sbuf_printf(b, "ringd_lease_votes_total{vote=\"refused\"} %llu\n",
                (unsigned long long)st->refused);
    prom_in_out(b, "ringd_lease_messages_total", "Lease datagrams.", st->msgs_in, st->msgs_out);
    prom_one(b, "ringd_lease_decode_errors_total", "counter",
             "Lease datagrams that failed to decode.", st->decode_errors);
    prom_family(b, "ringd_lease_handoff_seconds", "histogram",
                "Time from wanting a shard (acquiring) to holding it, at the new holder.");
    prom_histogram(b, "ringd_lease_handoff_seconds", "", ls->m.handoff, RINGD_LEASE_HANDOFF_BUCKETS,
                   ringd_lease_handoff_bounds_us, (double)ls->m.handoff_sum_us / 1e6);
    prom_one(b, "ringd_lease_leave_handoffs_total", "counter",
             "Planned leaves that handed their leases off.", ls->m.leave_drains);
    prom_one(b, "ringd_lease_leave_handoffs_timed_out_total", "counter",
             "Of those, leaves that stopped waiting with leases still held.",
             ls->m.leave_drains_timed_out);
}
