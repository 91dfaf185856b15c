/*
 * proxy: the forwarding proxy's face to main.c: started after the node, it subscribes to ring
 * rebuilds (waiting requests retry) and to the stop, takes the gossip port's forwarding
 * connections (ringd_node_accept_streams()) and exports its counters. Its state is its own
 * (struct ringd_proxy, proxy_int.h): the node knows it only as the context of those
 * callbacks.
 */
#ifndef RINGD_PROXY_H
#define RINGD_PROXY_H

#include "daemon.h"

struct ringd_proxy;

/* Starts the proxy on |node| when --proxy is set; |*out| is NULL when it is not. Returns 0 or
 * a uv error. Once the node holds the proxy's callbacks, |*out| is set even when starting
 * fails: the node's stop closes it, and the caller frees it with ringd_proxy_free() after the
 * loop ends, as after a run. */
/* The most file descriptors the proxy holds at once with |cfg| (0 when --proxy is off):
 * its listener, clients, app connections and forwarding connections. */
uint32_t ringd_proxy_fds_max(const struct ringd_config *cfg);
int ringd_proxy_start(struct ringd *node, struct ringd_proxy **out);
/* Frees |p| (may be NULL) once the loop has ended. */
void ringd_proxy_free(struct ringd_proxy *p);

#endif
