/*
 * proxy_metrics: the proxy's counters as Prometheus families (admin's /metrics) and as the
 * "proxy" section of the local API's stats(): requests and latency by path, errors by cause,
 * retries, connections.
 */
#include <stdio.h>

#include "prom.h"
#include "proxy_int.h"
#include "view_pack.h"

static void proxy_latency(struct sbuf *b, const struct ringd_proxy_counters *m)
{
    const char *name = "ringd_proxy_request_duration_seconds";
    prom_family(b, name, "histogram",
                "Proxied request time, first byte in to last byte out, by path.");
    for (size_t p = 0; p < PROXY_PATHS; p++) {
        char path[PROM_LABEL_BYTES_MAX], label[PROM_LABEL_BYTES_MAX + 16];
        snprintf(label, sizeof(label), "path=\"%s\",",
                 prom_label(path, sizeof(path), ringd_proxy_path_names[p]));
        prom_histogram(b, name, label, m->proxy_latency[p], RINGD_PROXY_LATENCY_BUCKETS,
                       ringd_proxy_latency_bounds_us, (double)m->proxy_latency_sum_us[p] / 1e6);
    }
}

void px_prometheus(void *ctx, struct sbuf *b)
{
    const struct ringd_proxy *px = ctx;
    const struct ringd_proxy_counters *m = &px->m;
    prom_family(b, "ringd_proxy_requests_total", "counter",
                "Proxied requests answered, by path: local (our app, our client), forward (sent to "
                "the owner's ringd), peer (our app, for a peer).");
    for (size_t p = 0; p < PROXY_PATHS; p++) {
        char path[PROM_LABEL_BYTES_MAX];
        sbuf_printf(b, "ringd_proxy_requests_total{path=\"%s\"} %llu\n",
                    prom_label(path, sizeof(path), ringd_proxy_path_names[p]),
                    (unsigned long long)m->proxy_requests[p]);
    }
    prom_family(b, "ringd_proxy_errors_total", "counter",
                "Requests the proxy answered with an error, or cut short, by cause.");
    for (size_t e = 0; e < PROXY_ERRORS; e++) {
        char cause[PROM_LABEL_BYTES_MAX];
        sbuf_printf(b, "ringd_proxy_errors_total{cause=\"%s\"} %llu\n",
                    prom_label(cause, sizeof(cause), ringd_proxy_error_names[e]),
                    (unsigned long long)m->proxy_errors[e]);
    }
    prom_one(b, "ringd_proxy_retries_total", "counter", "Re-attempts after an owner failed.",
             m->proxy_retries);
    prom_one(b, "ringd_proxy_restart_waits_total", "counter",
             "Requests that waited for their key's owner to be back from a restart.",
             m->proxy_restart_waits);
    prom_one(b, "ringd_proxy_reroutes_total", "counter", "Re-attempts sent to a different owner.",
             m->proxy_reroutes);
    prom_one(b, "ringd_proxy_reforwards_total", "counter",
             "Requests from a peer passed on because this node does not own the key.",
             m->proxy_reforwards);
    prom_one(b, "ringd_proxy_client_connections_total", "counter", "Client connections accepted.",
             m->proxy_clients);
    prom_one(b, "ringd_proxy_client_evictions_total", "counter",
             "Proxy client connections closed to make room for a new one (every slot taken).",
             m->proxy_client_evictions);
    prom_one(b, "ringd_proxy_client_connections", "gauge",
             "Open proxy client connections (at most 4,096), forwarded streams included.",
             px->client_count);
    prom_one(b, "ringd_proxy_client_refused_total", "counter",
             "Proxy client connections closed at their accept because every slot held a "
             "request waiting for its answer (none could be evicted).",
             m->proxy_client_refusals);
    prom_one(b, "ringd_proxy_client_overflows_total", "counter",
             "TCP clients closed because the answers waiting for slow readers passed 24 MiB "
             "(the one with the most waiting first).",
             m->proxy_client_overflows);
    prom_one(b, "ringd_proxy_client_head_overflows_total", "counter",
             "TCP clients closed because the request heads being read passed 16 MiB together "
             "(the one holding the most first).",
             m->proxy_client_head_overflows);
    prom_family(b, "ringd_proxy_client_timeouts_total", "counter",
                "Proxy client connections closed at a deadline, by phase: header (a request head "
                "not whole within --header-timeout), idle (--idle-timeout).");
    static const char *const phases[2] = { "header", "idle" };
    for (size_t i = 0; i < 2; i++) {
        sbuf_printf(b, "ringd_proxy_client_timeouts_total{phase=\"%s\"} %llu\n", phases[i],
                    (unsigned long long)m->proxy_client_timeouts[i]);
    }
    prom_one(b, "ringd_proxy_app_connects_total", "counter", "Connections opened to the local app.",
             m->proxy_app_connects);
    prom_one(b, "ringd_proxy_app_unsolicited_total", "counter",
             "App connections closed for bytes sent when no request was outstanding on them.",
             m->proxy_app_unsolicited);
    prom_one(b, "ringd_proxy_app_pending", "gauge",
             "Requests waiting for a connection to the local app (every one is busy).",
             px->app_pending);
    prom_one(b, "ringd_proxy_app_pending_bytes", "gauge",
             "What the requests waiting for the local app may hold together (at most 16 MiB).",
             px->app_held);
    prom_one(b, "ringd_proxy_app_queued_total", "counter",
             "Requests that waited for a connection to the local app.", m->proxy_app_queued);
    prom_one(b, "ringd_proxy_app_overflows_total", "counter",
             "Requests answered 503 app_overloaded: every app connection busy and the queue "
             "full (--proxy-max-pending waiting, or 16 MiB held).",
             m->proxy_app_overflows);
    prom_one(b, "ringd_proxy_requests_abandoned_total", "counter",
             "Requests whose client went away (a reset or close; for a forwarded one, the entry "
             "ringd cancelled it) before their answer was whole: not in requests_total.",
             m->proxy_abandoned);
    prom_in_out(b, "ringd_proxy_peer_connections_total", "Forwarding connections between ringd's.",
                m->proxy_peer_conns_in, m->proxy_peer_conns_out);
    prom_one(b, "ringd_proxy_peer_connect_failures_total", "counter",
             "Forwarding connections that failed to connect in time.",
             m->proxy_peer_connect_failures);
    prom_one(b, "ringd_proxy_peer_protocol_errors_total", "counter",
             "Forwarding connections closed for frames that break the protocol.",
             m->proxy_peer_protocol_errors);
    prom_one(b, "ringd_proxy_peer_connections_refused_total", "counter",
             "Incoming forwarding connections refused at the cap (none idle to evict).",
             m->proxy_peer_conns_refused);
    prom_one(b, "ringd_proxy_peer_connections_evicted_total", "counter",
             "Idle incoming forwarding connections closed to make room for a new one.",
             m->proxy_peer_conns_evicted);
    prom_one(b, "ringd_proxy_peer_streams_refused_total", "counter",
             "Incoming forwarding streams refused at the per-connection or total cap.",
             m->proxy_peer_streams_refused);
    prom_one(b, "ringd_proxy_peer_streams_idle_total", "counter",
             "Incoming forwarding streams reset after idling before their request ended.",
             m->proxy_peer_streams_idle);
    prom_one(b, "ringd_proxy_peer_auth_failures_total", "counter",
             "Forwarding connections closed for a frame that does not open under the session.",
             m->proxy_peer_auth_failures);
    proxy_latency(b, m);
}

/* The proxy's counters: requests and mean latency by path, errors by cause, retries. */
void px_stats(void *ctx, msgpack_packer *pk)
{
    const struct ringd_proxy *px = ctx;
    const struct ringd_proxy_counters *m = &px->m;
    msgpack_pack_map(pk, 13);
    view_pack_str(pk, "requests");
    msgpack_pack_map(pk, PROXY_PATHS);
    for (size_t p = 0; p < PROXY_PATHS; p++) {
        view_pack_key_u64(pk, ringd_proxy_path_names[p], m->proxy_requests[p]);
    }
    view_pack_str(pk, "mean_latency_us");
    msgpack_pack_map(pk, PROXY_PATHS);
    for (size_t p = 0; p < PROXY_PATHS; p++) {
        uint64_t n = m->proxy_requests[p];
        view_pack_key_u64(pk, ringd_proxy_path_names[p],
                          n > 0 ? m->proxy_latency_sum_us[p] / n : 0);
    }
    view_pack_str(pk, "errors");
    msgpack_pack_map(pk, PROXY_ERRORS);
    for (size_t e = 0; e < PROXY_ERRORS; e++) {
        view_pack_key_u64(pk, ringd_proxy_error_names[e], m->proxy_errors[e]);
    }
    view_pack_key_u64(pk, "retries", m->proxy_retries);
    view_pack_key_u64(pk, "restart_waits", m->proxy_restart_waits);
    view_pack_key_u64(pk, "reroutes", m->proxy_reroutes);
    view_pack_key_u64(pk, "reforwards", m->proxy_reforwards);
    view_pack_key_u64(pk, "client_connections", m->proxy_clients);
    view_pack_key_u64(pk, "peer_connect_failures", m->proxy_peer_connect_failures);
    view_pack_key_u64(pk, "app_pending", px->app_pending);
    view_pack_key_u64(pk, "app_queued", m->proxy_app_queued);
    view_pack_key_u64(pk, "app_overflows", m->proxy_app_overflows);
    view_pack_key_u64(pk, "abandoned", m->proxy_abandoned);
}
