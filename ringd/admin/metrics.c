/*
 * metrics: /metrics in the Prometheus text exposition format (version 0.0.4): the build, the
 * process, the node's families, then every subsystem's (ringd_node_export()), then admin's
 * own.
 */
#include "metrics.h"
#include "prom.h"

void ringd_metrics_text(struct ringd *d, struct sbuf *b, uint64_t http_requests)
{
    prom_build_info(b);
    prom_process(b);
    ringd_node_prometheus(d, b);
    for (size_t i = 0; i < d->export_count; i++) {
        if (d->exports[i].prometheus != NULL) {
            d->exports[i].prometheus(d->exports[i].ctx, b);
        }
    }
    prom_one(b, "ringd_http_requests_total", "counter", "Admin HTTP requests.", http_requests);
}
