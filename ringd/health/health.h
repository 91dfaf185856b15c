/*
 * health: the app's health check (--app-health), as a kubelet httpGet probe or an Envoy
 * active health check makes it: every --app-health-interval, GET --app-health on --app over
 * a fresh connection; a 2xx or 3xx status line is a pass, anything else, a refused
 * connection or no status line within --app-health-timeout is a failure.
 *
 * What it does with the answers (health.c): until the app first passes, the node stays
 * drained (it joins owning no keys, so no key moves to a pod whose app is not up yet);
 * --app-health-threshold failures in a row drain it; it takes its keys back once the app has
 * passed every check for --app-health-holddown, so a flapping app moves its keys at most
 * once per hold-down. It tells the node through ringd_drain_set() and d->app_health, which
 * /readyz reads; the node never calls it, and main.c holds its handle.
 */
#ifndef RINGD_HEALTH_H
#define RINGD_HEALTH_H

#include "daemon.h"

struct ringd_health;

/* Starts the checks on |node| when --app-health is set (before the join, so the node joins
 * drained); |*out| is the checker (NULL without --app-health), for ringd_health_free() once
 * the loop has ended, even when this fails. Returns 0 or a negative errno (a uv error). */
int ringd_health_start(struct ringd *node, struct ringd_health **out);
void ringd_health_free(struct ringd_health *hc);

#endif
