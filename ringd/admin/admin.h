/*
 * admin: the admin HTTP server's face to main.c (admin.c): /metrics, /healthz, /readyz and
 * the read-only /v1/ paths views, started after the node; it closes when the node stops.
 */
#ifndef RINGD_ADMIN_H
#define RINGD_ADMIN_H

#include "daemon.h"

/* Listens on --admin and subscribes to the node. Returns 0 or a uv error. */
int ringd_admin_start(struct ringd *d);
void ringd_admin_close(struct ringd *d);
void ringd_admin_free(struct ringd *d);

#endif
