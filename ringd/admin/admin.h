/*
 * admin: the admin HTTP server's face to main.c (admin.c): /metrics, /healthz, /readyz and
 * the read-only /v1/ paths views, started after the node; it closes when the node stops.
 */
#ifndef RINGD_ADMIN_H
#define RINGD_ADMIN_H

#include "daemon.h"

struct ringd_admin;

/* Listens on --admin and subscribes to node |d|; the handle goes to |*out|, which main.c
 * owns. Returns 0 or a negative errno (a uv error; UV_ENOMEM). |*out| is set even when a
 * later step fails (NULL only without memory): its listener closes when the node stops, and
 * ringd_admin_free() frees it after the loop in either case. */
/* The most file descriptors admin holds at once (its listener and connections). */
uint32_t ringd_admin_fds_max(void);
int ringd_admin_start(struct ringd *d, struct ringd_admin **out);
/* After the loop has ended (every handle closed). NULL is ignored. */
void ringd_admin_free(struct ringd_admin *a);

#endif
