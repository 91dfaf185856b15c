/*
 * restart: delayed rebalance (--delayed-rebalance), as Helix's delayed rebalancer does for a
 * node that goes away briefly. A node that stops for a restart keeps its place on the ring:
 * swim_restarting_set() marks its record, every node holds requests for its keys instead of
 * passing them on (the proxy waits), and when it goes quiet its peers suspect it for the hold
 * before they call it faulty. The process that comes back under the same id finds its keys
 * where it left them: a rolling restart moves them 0 times instead of 2 (away, then back).
 *
 * Three parties may want the hold, each with its own bit, as for draining (drain.c): an
 * operator announcing a restart (the API's drain("restart"), /v1/drain?restart=1, the preStop
 * hook of a pod that will come back), the start of a node whose app has not passed its health
 * check yet (it holds its keys rather than giving them away and taking them back), and
 * SIGTERM with --delayed-rebalance. The hold is bounded here too: a node still running, or
 * whose app has still not passed, when --delayed-rebalance has passed gives up the hold (and
 * a starting one drains for its app, as without delayed rebalance).
 */
#include "daemon.h"

static const char *why_name(unsigned why)
{
    switch (why) {
    case RINGD_RESTART_OPERATOR:
        return "operator";
    case RINGD_RESTART_STARTING:
        return "starting";
    case RINGD_RESTART_SHUTDOWN:
        return "shutdown";
    default:
        return "unknown";
    }
}

int ringd_restarting(const struct ringd *d)
{
    return swim_restarting(d->swim);
}

int ringd_holding_own_keys(const struct ringd *d)
{
    return (d->restart_why & RINGD_RESTART_STARTING) != 0;
}

int ringd_restart_ready(const struct ringd *d)
{
    return (d->restart_why & (RINGD_RESTART_OPERATOR | RINGD_RESTART_SHUTDOWN)) != 0 &&
           !ringd_draining(d) && swim_restarting_done(d->swim) && ringd_in_flight(d) == 0;
}

/* The hold ran out and the node is still here: what it held for did not happen in time. */
static void on_restart_timer(uv_timer_t *t)
{
    struct ringd *d = t->data;
    if (d->restart_why == 0 || d->shutting_down || d->leaving || d->stopping) {
        return;
    }
    unsigned why = d->restart_why & (RINGD_RESTART_OPERATOR | RINGD_RESTART_STARTING);
    ringd_log(
        &d->log, RINGD_LOG_WARN, "restart_hold_expired", "why",
        why_name(why & RINGD_RESTART_STARTING ? RINGD_RESTART_STARTING : RINGD_RESTART_OPERATOR),
        NULL);
    if ((why & RINGD_RESTART_STARTING) != 0 && d->app_health == RINGD_APP_STARTING) {
        /* as without delayed rebalance: its keys go to others until the app passes */
        (void)ringd_drain_set(d, RINGD_DRAIN_APP, 1);
    }
    (void)ringd_restart_set(d, why, 0);
}

int ringd_restart_set(struct ringd *d, unsigned why, int on)
{
    if (d->leaving || d->stopping) {
        return UV_EINVAL;
    }
    if (on && d->cfg.restart_hold_ms == 0) {
        return UV_ENOTSUP;
    }
    if (on && why != RINGD_RESTART_STARTING && ringd_draining(d)) {
        /* its keys are elsewhere already: there is nothing to hold, it drains and leaves */
        return UV_EALREADY;
    }
    unsigned before = d->restart_why;
    d->restart_why = on ? before | why : before & ~why;
    if ((before != 0) == (d->restart_why != 0)) {
        return 0;
    }
    uint64_t now = uv_now(d->loop);
    if (swim_restarting_set(d->swim, d->restart_why != 0, now) != 0) {
        d->restart_why = before;
        return UV_EINVAL;
    }
    if (d->restart_why != 0) {
        d->restarts += why != RINGD_RESTART_STARTING; /* a start is not a restart */
        d->restart_since_ms = now;
        uv_timer_start(&d->restart_timer, on_restart_timer, d->cfg.restart_hold_ms, 0);
    } else {
        uv_timer_stop(&d->restart_timer);
    }
    ringd_log_change(d, d->restart_why != 0 ? "restarting" : "restart_ended", why_name(why));
    d->ring_dirty = 1; /* the view says who is restarting */
    ringd_pump(d);
    return 0;
}

void ringd_restart_init(struct ringd *d)
{
    uv_timer_init(d->loop, &d->restart_timer);
    d->restart_timer.data = d;
}
