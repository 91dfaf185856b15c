/*
 * node: the swim glue. Every input (a datagram, a stream response, the timer) ends in
 * ringd_pump(), which drains what swim wants done: datagrams until swim_send_next() returns
 * 0, stream requests, and events; then re-arms the one timer at swim_next_deadline(). Ring
 * changes only mark the ring dirty: the check phase of the same loop iteration rebuilds it
 * once (however many changes arrived), and the old ring serves lookups until the new one is
 * built. With --exclusive the leases (lease_glue.c) are pumped beside swim, after its events,
 * and the one timer is armed at the earlier of the two deadlines; a leave hands the leases
 * off before swim announces it.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "err.h"
#include "hugemem.h"
#include "lease_glue.h"
#include "shardset.h"
#include "subshard.h"
#include "view_pack.h"
#include "ring/error.h"

/* How often the leave's progress is checked. */
#define LEAVE_POLL_MS 20

void ringd_close_handle(uv_handle_t *h)
{
    if (h->loop != NULL && !uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

/* Suspect and faulty are news; alive again, or a graceful leave (this node's own included),
 * is the normal course of a cluster. */
static int member_change_level(uint8_t status)
{
    return status == MEMBER_ALIVE || status == MEMBER_LEFT ? RINGD_LOG_INFO : RINGD_LOG_WARN;
}

/* The protocol's own observations, which swim queues only under --log-level debug
 * (swim_config.debug_events). */
static void log_protocol_event(struct ringd *d, const struct swim_event *ev, const char *addr,
                               const char *inc)
{
    const struct member *m = &ev->member;
    char count[12];
    snprintf(count, sizeof(count), "%u", (unsigned)ev->count);
    switch (ev->type) {
    case SWIM_EVENT_PROBE_FAILED:
        ringd_log(&d->log, RINGD_LOG_DEBUG, "probe_failed", "id", m->id, "address", addr,
                  "incarnation", inc, "nacks", count, NULL);
        break;
    case SWIM_EVENT_REFUTED:
        ringd_log(&d->log, RINGD_LOG_DEBUG, "refuted", "heard", member_status_name(m->status),
                  "incarnation", inc, NULL);
        break;
    case SWIM_EVENT_SYNCED:
        ringd_log(&d->log, RINGD_LOG_DEBUG, ev->served ? "sync_served" : "sync_done", "peer", m->id,
                  "address", addr, "new_members", count, NULL);
        break;
    default:
        break;
    }
}

static void log_member_event(struct ringd *d, const struct swim_event *ev)
{
    char addr[RING_ADDR_STRLEN];
    char inc[24];
    const struct member *m = &ev->member;
    ringd_addr_str(&m->addr, addr);
    snprintf(inc, sizeof(inc), "%llu", (unsigned long long)m->incarnation);
    switch (ev->type) {
    case SWIM_EVENT_MEMBER_JOINED:
        ringd_log(&d->log, RINGD_LOG_INFO, "member_joined", "id", m->id, "address", addr, "status",
                  member_status_name(m->status), "incarnation", inc, NULL);
        break;
    case SWIM_EVENT_MEMBER_CHANGED:
        ringd_log(&d->log, member_change_level(m->status), "member_changed", "id", m->id, "address",
                  addr, "status", member_status_name(m->status), "was",
                  member_status_name(ev->old_status), "incarnation", inc, NULL);
        break;
    case SWIM_EVENT_MEMBER_LEFT:
        ringd_log(&d->log, RINGD_LOG_DEBUG, "member_reaped", "id", m->id, "address", addr, NULL);
        break;
    default:
        log_protocol_event(d, ev, addr, inc);
        break;
    }
}

static void drain_events(struct ringd *d)
{
    struct swim_event ev;
    while (swim_next_event(d->swim, &ev) == 1) {
        if (ev.type == SWIM_EVENT_RING_CHANGED) {
            d->ring_dirty = 1;
            continue;
        }
        int member = ev.type == SWIM_EVENT_MEMBER_CHANGED || ev.type == SWIM_EVENT_MEMBER_JOINED;
        if (member &&
            ((ev.member.flags & MEMBER_FLAG_RESTARTING) != 0 || d->ring.restarting_count > 0)) {
            /* the ring is the same, but the view says who is restarting: requests for their
             * keys wait there, and look again when it changes */
            d->ring_dirty = 1;
        }
        log_member_event(d, &ev);
    }
}

static void on_swim_timer(uv_timer_t *t)
{
    struct ringd *d = t->data;
    uint64_t now = uv_now(d->loop);
    swim_tick(d->swim, now);
    ringd_leases_tick(d, now);
    ringd_pump(d);
}

void ringd_pump(struct ringd *d)
{
    uint64_t now = uv_now(d->loop);
    struct ring_addr to;
    ssize_t n;
    while ((n = swim_send_next(d->swim, &to, d->dgram, CODEC_DATAGRAM_BYTES_MAX, now)) > 0) {
        ringd_udp_send(d, &to, d->dgram, (size_t)n);
    }
    struct swim_stream_req req;
    while (swim_stream_next(d->swim, &req) == 1) {
        ringd_stream_start(d, &req);
    }
    drain_events(d);
    if (d->stopping) {
        return;
    }
    ringd_groups_pump(d, now);
    ringd_leases_pump(d, now);
    uint64_t deadline = groups_deadline_with(d->groups, swim_next_deadline(d->swim));
    deadline = ringd_leases_deadline(d, deadline);
    if (deadline == UINT64_MAX) {
        uv_timer_stop(&d->swim_timer);
    } else {
        uv_timer_start(&d->swim_timer, on_swim_timer, deadline > now ? deadline - now : 0, 0);
    }
}

/* ---- the ring ------------------------------------------------------------------------- */

static void ring_free(struct ringd_ring *r)
{
    hashring_del(r->ring);
    free(r->addrs);
    free(r->shares);
    free(r->owners);
    free(r->owner_offs);
    free(r->restarting);
    memset(r, 0, sizeof(*r));
}

static int ring_build(struct ringd *d, struct ringd_ring *out)
{
    const struct members *t = swim_members(d->swim);
    size_t count = members_count(t);
    struct hashring_member *hm = calloc(count + 1, sizeof(*hm));
    if (hm == NULL) {
        return UV_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (members_in_ring(t, i)) {
            hm[n].id = members_id(t, i, &hm[n].id_len);
            hm[n].weight = members_weight(t, i);
            n++;
        }
    }
    struct hashring_config hc = { .vnodes = d->cfg.vnodes };
    /* From the ring it replaces: a change of one member rebuilds only what moved, the same
     * bytes a full build gives (hashring.h). Huge pages for the bucket table: lookups then
     * miss the TLB far less, and the blocks the old ring frees serve the next (hugemem.h). */
    int rv = hashring_new_from(&out->ring, d->ring.ring, hm, n, &hc, ringd_hugemem());
    free(hm);
    if (rv != 0) {
        return ringd_err_from_ring(rv);
    }
    out->addrs = calloc(n + 1, sizeof(*out->addrs));
    out->shares = calloc(n + 1, sizeof(*out->shares));
    out->restarting = calloc(n + 1, sizeof(*out->restarting));
    if (out->addrs == NULL || out->shares == NULL || out->restarting == NULL) {
        ring_free(out);
        return UV_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        const struct hashring_member *m = hashring_member(out->ring, i);
        int idx = members_index(t, m->id, m->id_len);
        if (idx >= 0) {
            out->addrs[i] = *members_addr(t, (size_t)idx);
            out->restarting[i] = (members_flags(t, (size_t)idx) & MEMBER_FLAG_RESTARTING) != 0;
            out->restarting_count += out->restarting[i];
        }
    }
    hashring_shares(out->ring, out->shares);
    out->checksum = hashring_checksum(out->ring);
    out->routes = members_routes_checksum(t);
    if (ringd_view_pack_owners(out) != 0) {
        ring_free(out);
        return UV_ENOMEM;
    }
    return 0;
}

static void rebuild_ring(struct ringd *d)
{
    struct ringd_ring fresh;
    memset(&fresh, 0, sizeof(fresh));
    int rv = ring_build(d, &fresh);
    if (rv != 0) {
        /* The old ring keeps serving; the next loop iteration tries again. */
        if (d->m.ring_builds_failed++ == 0) {
            ringd_log(&d->log, RINGD_LOG_ERROR, "ring_build_failed", "error", ringd_strerror(rv),
                      NULL);
        }
        return;
    }
    d->ring_dirty = 0;
    struct ringd_ring old = d->ring;
    d->ring = fresh;
    /* Other live members seen, whether or not they (or we) own keys: a node that joins
     * drained (its app not healthy yet) has joined all the same. */
    if (members_ring_count(swim_members(d->swim)) > 1) {
        d->joined = 1;
    }
    /* A member at a new address is a change to whoever routes by this ring (watchers cache
     * lookup answers, which carry addresses), even though no key changes owner. */
    int changed = old.ring == NULL || old.checksum != fresh.checksum || old.routes != fresh.routes;
    if (changed) {
        char sum[20], members[12];
        snprintf(sum, sizeof(sum), "%016llx", (unsigned long long)fresh.checksum);
        snprintf(members, sizeof(members), "%zu", hashring_member_count(fresh.ring));
        d->m.ring_changes += old.ring != NULL;
        ringd_log(&d->log, RINGD_LOG_INFO, "ring_changed", "checksum", sum, "members", members,
                  NULL);
    }
    /* after the new ring is in place: subscribers see it (the proxy's waiting requests retry
     * on it) */
    for (size_t i = 0; i < d->sub_count; i++) {
        if (d->subs[i].cbs.ring_rebuilt != NULL) {
            d->subs[i].cbs.ring_rebuilt(d->subs[i].ctx, &old, changed);
        }
    }
    ring_free(&old);
    ringd_shards_refresh(d);
    if (d->leases != NULL) {
        ringd_pump(d); /* the leases learn the new ring now, not at the next datagram */
    }
}

int ringd_node_export(struct ringd *d, const struct ringd_export *e)
{
    if (d->export_count == RINGD_EXPORTS_MAX) {
        return UV_ENOBUFS;
    }
    d->exports[d->export_count++] = *e;
    return 0;
}

int ringd_node_subscribe(struct ringd *d, const struct ringd_node_cbs *cbs, void *ctx)
{
    if (d->sub_count == RINGD_SUBSCRIBERS_MAX) {
        return UV_ENOBUFS;
    }
    d->subs[d->sub_count].cbs = *cbs;
    d->subs[d->sub_count].ctx = ctx;
    d->sub_count++;
    return 0;
}

static void on_check(uv_check_t *c)
{
    struct ringd *d = c->data;
    if (d->ring_dirty) {
        rebuild_ring(d);
    }
}

int ringd_ready(const struct ringd *d)
{
    /* This node can serve: it has joined, is not leaving or draining, has a ring (with
     * sub-sharding, it also knows the groups its peers know), and its app passes its health
     * check when there is one. Not "the ring is quiet": a change elsewhere must not make
     * every pod unready at once. */
    struct ringd_readiness r;
    ringd_readiness(d, &r);
    return r.ready;
}

/* ---- start, leave, stop --------------------------------------------------------------- */

static int swim_start(struct ringd *d)
{
    const struct ringd_config *c = &d->cfg;
    int rv = ring_addr_parse(c->advertise.host, strlen(c->advertise.host), &d->self);
    if (rv != 0) {
        char text[RINGD_HOST_BYTES_MAX + 16];
        snprintf(text, sizeof(text), c->advertise.family == 6 ? "[%s]:%u" : "%s:%u",
                 c->advertise.host, c->advertise.port);
        rv = ring_addr_parse(text, strlen(text), &d->self);
    }
    if (rv != 0) {
        return rv;
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    struct swim_config sc = {
        .id = c->id,
        .id_len = c->id_len,
        .addr = d->self,
        .weight = (uint16_t)c->weight,
        .weight_max = (uint16_t)c->weight_max,
        .group = c->group,
        .group_len = c->group_len,
        .labels = c->labels,
        .label_count = c->label_count,
        .incarnation_min = (uint64_t)wall.tv_sec,
        .seed =
            (uint64_t)wall.tv_sec * 1000003u ^ (uint64_t)wall.tv_nsec ^ ((uint64_t)getpid() << 32),
        .ring_vnodes = c->vnodes,
        .probe_interval_ms = c->probe_interval_ms,
        .probe_timeout_ms = c->probe_timeout_ms,
        .indirect_probes = c->indirect_probes,
        .suspicion_mult = c->suspect_mult,
        .sync_interval_ms = c->sync_interval_ms,
        .restart_hold_ms = c->restart_hold_ms,
        .debug_events = c->log_level == RINGD_LOG_DEBUG,
        /* Sealed datagrams must still fit the 1,400 bytes that are never fragmented. */
        .datagram_bytes_max = ringd_encrypting(d) ? 1400 - SEAL_OVERHEAD_BYTES : 0,
    };
    return swim_new(&d->swim, &sc, NULL, uv_now(d->loop));
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct ringd *d = s->data;
    if (signum == SIGHUP) {
        ringd_log(&d->log, RINGD_LOG_INFO, "reload", "what", "join seeds and keys", NULL);
        ringd_seeds_reload(d);
        if (ringd_encrypting(d)) {
            /* Key rotation; a node cannot switch encryption on or off without a restart,
             * because swim's datagram budget was set for one or the other. */
            (void)ringd_keys_load(d);
        }
        return;
    }
    if (d->leaving || d->shutting_down) {
        /* The same signal twice (Ctrl-C, Ctrl-C) means "now". A different one is ignored:
         * Ctrl-C in a shell sends SIGINT to the whole process group while a supervising
         * script may send SIGTERM too, and that must not cut the drain or leave short. */
        if (signum == d->leave_signal) {
            ringd_log(&d->log, RINGD_LOG_WARN, "stop", "why", "second signal", NULL);
            ringd_stop(d);
        }
        return;
    }
    d->leave_signal = signum;
    ringd_shutdown(d, signum);
}

static int signals_start(struct ringd *d)
{
    /* A peer or a local client that hangs up before its answer is written must cost a write
     * error (EPIPE), not the daemon: without this, one API client that timed out while ringd
     * was stopped killed it when it answered (found by tests/fault, scenario 4). */
    signal(SIGPIPE, SIG_IGN);
    uv_signal_t *sigs[] = { &d->sig_term, &d->sig_int, &d->sig_hup };
    int nums[] = { SIGTERM, SIGINT, SIGHUP };
    for (size_t i = 0; i < 3; i++) {
        uv_signal_init(d->loop, sigs[i]);
        sigs[i]->data = d;
        int rv = uv_signal_start(sigs[i], on_signal, nums[i]);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

int ringd_start(struct ringd *d)
{
    list_init(&d->streams);
    list_init(&d->streams_waiting);
    d->dgram = malloc(CODEC_DATAGRAM_BYTES_MAX);
    d->dgram_wire = malloc(CODEC_DATAGRAM_BYTES_MAX);
    if (d->dgram == NULL || d->dgram_wire == NULL) {
        return UV_ENOMEM;
    }
    int rv = ringd_keys_load(d);
    if (rv != 0) {
        return rv;
    }
    rv = ringd_envelope_start(d);
    if (rv != 0) {
        return rv;
    }
    rv = swim_start(d);
    if (rv != 0) {
        ringd_log(&d->log, RINGD_LOG_ERROR, "swim_new", "error", ring_strerror(rv), NULL);
        return UV_EINVAL;
    }
    rv = ringd_groups_start(d);
    if (rv == 0) {
        rv = ringd_leases_start(d);
    }
    if (rv != 0) {
        return rv;
    }
    uv_timer_init(d->loop, &d->swim_timer);
    d->swim_timer.data = d;
    uv_timer_init(d->loop, &d->leave_timer);
    d->leave_timer.data = d;
    uv_timer_init(d->loop, &d->shutdown_timer);
    d->shutdown_timer.data = d;
    uv_timer_init(d->loop, &d->change_log_timer);
    d->change_log_timer.data = d;
    ringd_restart_init(d);
    uv_check_init(d->loop, &d->check);
    d->check.data = d;
    uv_check_start(&d->check, on_check);
    d->ring_dirty = 1;
    rv = signals_start(d);
    if (rv == 0) {
        rv = ringd_udp_start(d);
    }
    if (rv == 0) {
        rv = ringd_stream_listen(d);
    }
    return rv;
}

int ringd_join(struct ringd *d)
{
    int rv = ringd_seeds_start(d);
    if (rv == 0) {
        ringd_pump(d);
    }
    return rv;
}

int ringd_force_leave(struct ringd *d, const char *id, size_t id_len)
{
    int rv = swim_force_leave(d->swim, id, id_len, uv_now(d->loop));
    if (rv == 0) {
        char shown[MEMBER_ID_BYTES_MAX + 1];
        memcpy(shown, id, id_len);
        shown[id_len] = '\0';
        ringd_log(&d->log, RINGD_LOG_INFO, "force_leave", "id", shown, NULL);
        ringd_pump(d); /* the left record goes out now, and the ring is rebuilt this iteration */
    }
    return ringd_err_from_ring(rv);
}

static void on_leave_timer(uv_timer_t *t)
{
    struct ringd *d = t->data;
    if (swim_leave_done(d->swim) || uv_now(d->loop) >= d->leave_deadline_ms) {
        ringd_log(&d->log, RINGD_LOG_INFO, "left", "complete",
                  swim_leave_done(d->swim) ? "true" : "false", NULL);
        ringd_stop(d);
    }
}

/* The second half of a leave, once the leases are handed off: swim announces it. */
static void leave_swim(struct ringd *d)
{
    if (d->stopping) {
        return;
    }
    uint64_t now = uv_now(d->loop);
    d->leave_deadline_ms = now + RINGD_LEAVE_MS_MAX;
    swim_leave(d->swim, now);
    ringd_pump(d);
    uv_timer_start(&d->leave_timer, on_leave_timer, LEAVE_POLL_MS, LEAVE_POLL_MS);
}

void ringd_leave(struct ringd *d, const char *why)
{
    if (d->leaving || d->stopping) {
        return;
    }
    d->leaving = 1;
    uv_timer_stop(&d->shutdown_timer);
    ringd_log(&d->log, RINGD_LOG_INFO, "leaving", "why", why, NULL);
    ringd_leases_handoff(d, leave_swim);
}

void ringd_stop(struct ringd *d)
{
    if (d->stopping) {
        return;
    }
    d->stopping = 1;
    uv_handle_t *own[] = {
        (uv_handle_t *)&d->swim_timer,
        (uv_handle_t *)&d->leave_timer,
        (uv_handle_t *)&d->check,
        (uv_handle_t *)&d->sig_term,
        (uv_handle_t *)&d->sig_int,
        (uv_handle_t *)&d->sig_hup,
        (uv_handle_t *)&d->udp,
        (uv_handle_t *)&d->peer,
        (uv_handle_t *)&d->shutdown_timer,
        (uv_handle_t *)&d->restart_timer,
        (uv_handle_t *)&d->change_log_timer,
    };
    for (size_t i = 0; i < RING_ARRAY_LEN(own); i++) {
        ringd_close_handle(own[i]);
    }
    accept_pace_close(&d->peer_pace);
    ringd_envelope_stop(d);
    ringd_keyring_stop(d);
    ringd_stream_close_all(d);
    ringd_seeds_close(d);
    ringd_leases_close(d);
    for (size_t i = 0; i < d->sub_count; i++) {
        if (d->subs[i].cbs.stopping != NULL) {
            d->subs[i].cbs.stopping(d->subs[i].ctx);
        }
    }
}

void ringd_free(struct ringd *d)
{
    ring_free(&d->ring);
    swim_del(d->swim);
    d->swim = NULL;
    free(d->dgram);
    d->dgram = NULL;
    free(d->dgram_wire);
    d->dgram_wire = NULL;
    ringd_envelope_free(d);
    ringd_keyring_free(d);
    free(d->seeds);
    d->seeds = NULL;
    ringd_groups_free(d);
    ringd_shards_free(d);
    ringd_leases_free(d);
}
