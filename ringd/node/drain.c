/*
 * drain: the node's life at its end and while its app is unwell. Draining is swim's
 * (swim_drain(): the node stays a live member but every node leaves it out of the ring at
 * once); this file decides when, for whom, and what "drained" means here.
 *
 * Three parties may want the node drained, each with its own bit, and the node drains
 * while any bit is set: an operator (the API's drain(), admin's /v1/drain, a preStop hook),
 * the app's health check (health/) and the shutdown that SIGTERM starts. So a drained-for-
 * shutdown node never takes keys back because its app recovered, and an operator's drain is
 * not undone by a health check.
 *
 * "Drained" is what a preStop hook waits for before the app is stopped: every node has heard
 * (swim_drain_done(): the record went out its full count of retransmits), and nothing that
 * reached this node for the keys it owned is still being served (the subscribers'
 * in_flight counts: the proxy's requests on the local app and those peers forwarded here),
 * and with --exclusive no shard's lease is held here any more (each moved to its next owner
 * as the ring left this node out: released by the app, or lapsed after --release-timeout).
 * Requests the local app sends out keep flowing through the proxy and do not count: the app
 * is still running while it is drained.
 *
 * SIGTERM drains, waits for drained (at most --drain-timeout less the leave's own bound),
 * then leaves (node.c) and exits. The order follows Envoy's drain manager and the Kubernetes
 * pattern of a preStop drain before the process exits.
 */
#include <signal.h>

#include "daemon.h"
#include "lease_glue.h"
#include "ring/groups.h"

/* How often a shutdown's drain is checked. */
#define DRAIN_POLL_MS 20

static const char *why_name(unsigned why)
{
    switch (why) {
    case RINGD_DRAIN_OPERATOR:
        return "operator";
    case RINGD_DRAIN_APP:
        return "app_health";
    case RINGD_DRAIN_SHUTDOWN:
        return "shutdown";
    default:
        return "unknown";
    }
}

int ringd_draining(const struct ringd *d)
{
    return swim_draining(d->swim);
}

size_t ringd_in_flight(const struct ringd *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->sub_count; i++) {
        if (d->subs[i].cbs.in_flight != NULL) {
            n += d->subs[i].cbs.in_flight(d->subs[i].ctx);
        }
    }
    return n;
}

int ringd_drained(const struct ringd *d)
{
    if (!ringd_draining(d)) {
        return ringd_restart_ready(d); /* a restart's "drained": it may stop, keys held */
    }
    return swim_drain_done(d->swim) && ringd_in_flight(d) == 0 &&
           (d->leases == NULL || lease_held_count(d->leases->l) == 0);
}

int ringd_drain_set(struct ringd *d, unsigned why, int on)
{
    if (d->leaving || d->stopping) {
        return UV_EINVAL;
    }
    unsigned before = d->drain_why;
    d->drain_why = on ? before | why : before & ~why;
    if ((before != 0) == (d->drain_why != 0)) {
        return 0;
    }
    uint64_t now = uv_now(d->loop);
    int rv = swim_drain(d->swim, d->drain_why != 0, now);
    if (rv != 0) {
        d->drain_why = before;
        return UV_EINVAL;
    }
    if (d->drain_why != 0) {
        d->drains++;
        d->drain_since_ms = now;
    }
    ringd_log_change(d, d->drain_why != 0 ? "draining" : "undrained", why_name(why));
    d->ring_dirty = 1;
    ringd_pump(d);
    return 0;
}

static void on_shutdown_timer(uv_timer_t *t)
{
    struct ringd *d = t->data;
    int drained = ringd_drained(d);
    if (!drained && uv_now(d->loop) < d->shutdown_deadline_ms) {
        return;
    }
    uv_timer_stop(t);
    char in_flight[24];
    snprintf(in_flight, sizeof(in_flight), "%zu", ringd_in_flight(d));
    ringd_log(&d->log, drained ? RINGD_LOG_INFO : RINGD_LOG_WARN, "drained", "complete",
              drained ? "true" : "false", "in_flight", in_flight, NULL);
    ringd_leave(d, d->shutdown_signal == SIGINT ? "SIGINT" : "SIGTERM");
}

/* A shutdown for a restart: once every node has heard and nothing is in flight (or at
 * --drain-timeout), the node stops without a leave, which would give its keys away. */
static void on_restart_shutdown_timer(uv_timer_t *t)
{
    struct ringd *d = t->data;
    if (ringd_draining(d)) {
        /* its app failed meanwhile: its keys went elsewhere, so it leaves as a drain does */
        uv_timer_stop(t);
        (void)ringd_restart_set(d, d->restart_why, 0);
        ringd_leave(d, d->shutdown_signal == SIGINT ? "SIGINT" : "SIGTERM");
        return;
    }
    int ready = ringd_restart_ready(d);
    if (!ready && uv_now(d->loop) < d->shutdown_deadline_ms) {
        return;
    }
    uv_timer_stop(t);
    char in_flight[24];
    snprintf(in_flight, sizeof(in_flight), "%zu", ringd_in_flight(d));
    ringd_log(&d->log, ready ? RINGD_LOG_INFO : RINGD_LOG_WARN, "stopped_for_restart", "complete",
              ready ? "true" : "false", "in_flight", in_flight, NULL);
    ringd_stop(d);
}

/* SIGTERM stops for a restart when one was announced, or with --delayed-rebalance; never
 * while the node drains (an operator's drain, its app failing: its keys are elsewhere
 * already, so it leaves). */
static int stops_for_restart(const struct ringd *d)
{
    if (ringd_draining(d)) {
        return 0; /* its keys are elsewhere: it leaves */
    }
    return d->restart_why != 0 || d->cfg.restart_hold_ms > 0;
}

void ringd_shutdown(struct ringd *d, int signum)
{
    if (d->shutting_down || d->leaving || d->stopping) {
        return;
    }
    d->shutting_down = 1;
    d->shutdown_signal = signum;
    if (stops_for_restart(d) && ringd_restart_set(d, RINGD_RESTART_SHUTDOWN, 1) == 0) {
        ringd_log(&d->log, RINGD_LOG_INFO, "stopping_for_restart", "signal",
                  signum == SIGINT ? "SIGINT" : "SIGTERM", NULL);
        d->shutdown_deadline_ms = uv_now(d->loop) + d->cfg.drain_timeout_ms;
        uv_timer_start(&d->shutdown_timer, on_restart_shutdown_timer, 0, DRAIN_POLL_MS);
        return;
    }
    uint32_t leave_ms = RINGD_LEAVE_MS_MAX;
    uint32_t drain_ms = d->cfg.drain_timeout_ms > leave_ms ? d->cfg.drain_timeout_ms - leave_ms : 0;
    if (drain_ms == 0 || ringd_drain_set(d, RINGD_DRAIN_SHUTDOWN, 1) != 0) {
        ringd_leave(d, signum == SIGINT ? "SIGINT" : "SIGTERM");
        return;
    }
    d->shutdown_deadline_ms = uv_now(d->loop) + drain_ms;
    uv_timer_start(&d->shutdown_timer, on_shutdown_timer, 0, DRAIN_POLL_MS);
}

#define CHANGE_LOG_MS 1000

static void log_change_now(struct ringd *d)
{
    char unlogged[16];
    snprintf(unlogged, sizeof(unlogged), "%u", d->changes_unlogged);
    ringd_log(&d->log, RINGD_LOG_INFO, d->change_event, "why", d->change_why,
              d->changes_unlogged > 0 ? "changes_unlogged" : NULL, unlogged, NULL);
    d->change_logged_ms = uv_now(d->loop);
    d->changes_unlogged = 0;
}

static void on_change_log_timer(uv_timer_t *t)
{
    struct ringd *d = t->data;
    if (d->changes_unlogged > 0) {
        d->changes_unlogged--; /* the one logged now is the last of them */
        log_change_now(d);
    }
}

void ringd_log_change(struct ringd *d, const char *event, const char *why)
{
    d->change_event = event;
    d->change_why = why;
    uint64_t now = uv_now(d->loop);
    if (d->change_logged_ms == 0 || now - d->change_logged_ms >= CHANGE_LOG_MS) {
        log_change_now(d);
        return;
    }
    d->changes_unlogged++;
    if (!uv_is_active((uv_handle_t *)&d->change_log_timer)) {
        uv_timer_start(&d->change_log_timer, on_change_log_timer,
                       d->change_logged_ms + CHANGE_LOG_MS - now, 0);
    }
}

void ringd_readiness(const struct ringd *d, struct ringd_readiness *out)
{
    out->joined = d->joined;
    out->ring = d->ring.ring != NULL && (d->groups == NULL || groups_ready(d->groups));
    out->leaving = d->leaving || d->shutting_down;
    out->restarting = ringd_restarting(d);
    out->draining = ringd_draining(d) || out->restarting;
    out->app_checked = d->app_health != RINGD_APP_UNCHECKED;
    out->app_healthy = d->app_health == RINGD_APP_HEALTHY;
    out->member = out->joined && out->ring && !out->leaving;
    out->ready = out->member && !out->draining && (!out->app_checked || out->app_healthy);
}
