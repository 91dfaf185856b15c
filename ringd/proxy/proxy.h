/*
 * proxy: the forwarding proxy's face to main.c: started after the node, it subscribes to ring
 * rebuilds (waiting requests retry) and to the stop, takes the gossip port's forwarding
 * connections (ringd_node_accept_streams()) and exports its counters.
 */
#ifndef RINGD_PROXY_H
#define RINGD_PROXY_H

#include "daemon.h"

/* Starts the proxy when --proxy is set (else does nothing). Returns 0 or a uv error. */
int ringd_proxy_start(struct ringd *d);
void ringd_proxy_close(struct ringd *d);
void ringd_proxy_free(struct ringd *d);

#endif
