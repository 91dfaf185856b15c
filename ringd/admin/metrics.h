/* metrics: the Prometheus text for /metrics. */
#ifndef RINGD_METRICS_H
#define RINGD_METRICS_H

#include "daemon.h"
#include "sbuf.h"

void ringd_metrics_text(struct ringd *d, struct sbuf *b);

#endif
