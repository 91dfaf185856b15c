/* metrics: the Prometheus text for /metrics. */
#ifndef RINGD_METRICS_H
#define RINGD_METRICS_H

#include "daemon.h"
#include "sbuf.h"

/* The node's families, every subsystem's export, and admin's own |http_requests|. */
void ringd_metrics_text(struct ringd *d, struct sbuf *b, uint64_t http_requests);

#endif
