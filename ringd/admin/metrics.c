/*
 * metrics: /metrics in the Prometheus text exposition format (version 0.0.4): swim's counters,
 * the member table by status, the ring, and the local API's requests and latency histogram.
 */
#include <string.h>

#include "escape.h"
#include "metrics.h"

/* Room for one escaped label value; ours are short names. */
#define LABEL_VALUE_BYTES_MAX 64

/* |v| as a label value (escape_prom_label(): '\', '"' and newline escaped, the rest valid
 * UTF-8), in |buf|. Our values are fixed names today, but a label value must never break the
 * exposition, whatever a future one holds. */
static const char *label_value(char *buf, size_t cap, const char *v)
{
    struct sbuf b;
    sbuf_init(&b, cap - 1);
    escape_prom_label(&b, v, strlen(v));
    memcpy(buf, b.data != NULL ? b.data : "", b.len);
    buf[b.len] = '\0';
    sbuf_free(&b);
    return buf;
}

static void family(struct sbuf *b, const char *name, const char *type, const char *help)
{
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct sbuf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    family(b, name, type, help);
    sbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void in_out(struct sbuf *b, const char *name, const char *help, uint64_t in, uint64_t out)
{
    family(b, name, "counter", help);
    sbuf_printf(b, "%s{direction=\"in\"} %llu\n%s{direction=\"out\"} %llu\n", name,
                (unsigned long long)in, name, (unsigned long long)out);
}

static void swim_metrics(struct sbuf *b, const struct swim_stats *st)
{
    one(b, "ringd_probes_total", "counter", "Probes started.", st->probes);
    one(b, "ringd_probe_acks_total", "counter", "Probes answered by a direct ack in time.",
        st->probe_acks);
    one(b, "ringd_indirect_probes_total", "counter", "Probes that needed ping-req helpers.",
        st->indirect_probes);
    one(b, "ringd_stream_probes_total", "counter", "Fallback TCP stream pings sent.",
        st->stream_probes);
    one(b, "ringd_nacks_received_total", "counter", "Nacks received from ping-req helpers.",
        st->nacks_received);
    one(b, "ringd_suspicions_total", "counter", "Members this node began to suspect.",
        st->suspicions);
    one(b, "ringd_faulty_total", "counter", "Members this node declared faulty.", st->faulty);
    one(b, "ringd_refutations_total", "counter", "Times this node refuted a suspicion of itself.",
        st->refutations);
    one(b, "ringd_full_syncs_total", "counter", "Completed full state syncs (push-pull).",
        st->syncs);
    in_out(b, "ringd_gossip_bytes_total", "Gossip datagram bytes.", st->bytes_in, st->bytes_out);
    in_out(b, "ringd_gossip_messages_total", "Gossip datagrams.", st->msgs_in, st->msgs_out);
    in_out(b, "ringd_stream_bytes_total", "TCP stream message bytes.", st->stream_bytes_in,
           st->stream_bytes_out);
    one(b, "ringd_decode_errors_total", "counter",
        "Datagrams and stream messages that failed to decode.", st->decode_errors);
    one(b, "ringd_events_dropped_total", "counter", "Member events lost to a full queue.",
        st->events_dropped);
    one(b, "ringd_gossip_dropped_total", "counter", "Datagrams dropped by a full send queue.",
        st->msgs_dropped);
}

static void latency(struct sbuf *b, const struct ringd_metrics *m)
{
    const char *name = "ringd_api_request_duration_seconds";
    family(b, name, "histogram", "Local API request handling time.");
    uint64_t cum = 0;
    for (size_t i = 0; i < RINGD_LATENCY_BUCKETS; i++) {
        cum += m->api_latency[i];
        if (i + 1 < RINGD_LATENCY_BUCKETS) {
            sbuf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, ringd_latency_bounds_us[i] / 1e6,
                        (unsigned long long)cum);
        } else {
            sbuf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
        }
    }
    sbuf_printf(b, "%s_sum %.9f\n%s_count %llu\n", name, (double)m->api_latency_sum_ns / 1e9, name,
                (unsigned long long)cum);
}

static void proxy_latency(struct sbuf *b, const struct ringd_metrics *m)
{
    const char *name = "ringd_proxy_request_duration_seconds";
    family(b, name, "histogram", "Proxied request time, first byte in to last byte out, by path.");
    for (size_t p = 0; p < PROXY_PATHS; p++) {
        char path[LABEL_VALUE_BYTES_MAX];
        label_value(path, sizeof(path), ringd_proxy_path_names[p]);
        uint64_t cum = 0;
        for (size_t i = 0; i < RINGD_PROXY_LATENCY_BUCKETS; i++) {
            cum += m->proxy_latency[p][i];
            if (i + 1 < RINGD_PROXY_LATENCY_BUCKETS) {
                sbuf_printf(b, "%s_bucket{path=\"%s\",le=\"%g\"} %llu\n", name, path,
                            ringd_proxy_latency_bounds_us[i] / 1e6, (unsigned long long)cum);
            } else {
                sbuf_printf(b, "%s_bucket{path=\"%s\",le=\"+Inf\"} %llu\n", name, path,
                            (unsigned long long)cum);
            }
        }
        sbuf_printf(b, "%s_sum{path=\"%s\"} %.6f\n%s_count{path=\"%s\"} %llu\n", name, path,
                    (double)m->proxy_latency_sum_us[p] / 1e6, name, path, (unsigned long long)cum);
    }
}

static void proxy_metrics(struct sbuf *b, const struct ringd_metrics *m)
{
    family(b, "ringd_proxy_requests_total", "counter",
           "Proxied requests answered, by path: local (our app, our client), forward (sent to "
           "the owner's ringd), peer (our app, for a peer).");
    for (size_t p = 0; p < PROXY_PATHS; p++) {
        char path[LABEL_VALUE_BYTES_MAX];
        sbuf_printf(b, "ringd_proxy_requests_total{path=\"%s\"} %llu\n",
                    label_value(path, sizeof(path), ringd_proxy_path_names[p]),
                    (unsigned long long)m->proxy_requests[p]);
    }
    family(b, "ringd_proxy_errors_total", "counter",
           "Requests the proxy answered with an error, or cut short, by cause.");
    for (size_t e = 0; e < PROXY_ERRORS; e++) {
        char cause[LABEL_VALUE_BYTES_MAX];
        sbuf_printf(b, "ringd_proxy_errors_total{cause=\"%s\"} %llu\n",
                    label_value(cause, sizeof(cause), ringd_proxy_error_names[e]),
                    (unsigned long long)m->proxy_errors[e]);
    }
    one(b, "ringd_proxy_retries_total", "counter", "Re-attempts after an owner failed.",
        m->proxy_retries);
    one(b, "ringd_proxy_reroutes_total", "counter", "Re-attempts sent to a different owner.",
        m->proxy_reroutes);
    one(b, "ringd_proxy_reforwards_total", "counter",
        "Requests from a peer passed on because this node does not own the key.",
        m->proxy_reforwards);
    one(b, "ringd_proxy_client_connections_total", "counter", "Client connections accepted.",
        m->proxy_clients);
    one(b, "ringd_proxy_app_connects_total", "counter", "Connections opened to the local app.",
        m->proxy_app_connects);
    one(b, "ringd_proxy_app_unsolicited_total", "counter",
        "App connections closed for bytes sent when no request was outstanding on them.",
        m->proxy_app_unsolicited);
    in_out(b, "ringd_proxy_peer_connections_total", "Forwarding connections between ringd's.",
           m->proxy_peer_conns_in, m->proxy_peer_conns_out);
    one(b, "ringd_proxy_peer_connect_failures_total", "counter",
        "Forwarding connections that failed to connect in time.", m->proxy_peer_connect_failures);
    one(b, "ringd_proxy_peer_protocol_errors_total", "counter",
        "Forwarding connections closed for frames that break the protocol.",
        m->proxy_peer_protocol_errors);
    proxy_latency(b, m);
}

void ringd_metrics_text(struct ringd *d, struct sbuf *b)
{
    const struct members *t = swim_members(d->swim);
    family(b, "ringd_members", "gauge", "Members in the table by status.");
    for (int st = MEMBER_ALIVE; st <= MEMBER_LEFT; st++) {
        char status[LABEL_VALUE_BYTES_MAX];
        sbuf_printf(b, "ringd_members{status=\"%s\"} %zu\n",
                    label_value(status, sizeof(status), member_status_name(st)),
                    members_count_status(t, st));
    }
    one(b, "ringd_ring_members", "gauge", "Members that own points on the ring.",
        d->ring.ring != NULL ? hashring_member_count(d->ring.ring) : 0);
    one(b, "ringd_ring_checksum_changes_total", "counter", "Times the ring changed.",
        d->m.ring_changes);
    if (d->cfg.shards != 0) {
        one(b, "ringd_shards", "gauge", "Logical shards (--shards).", d->cfg.shards);
        one(b, "ringd_shards_owned", "gauge", "Logical shards this node owns.",
            d->shards_owned_count);
        one(b, "ringd_shards_changes_total", "counter", "Times the owned shards changed.",
            d->m.shard_changes);
    }
    one(b, "ringd_incarnation", "gauge", "This node's incarnation.", swim_incarnation(d->swim));
    one(b, "ringd_health_score", "gauge", "Lifeguard local health score (0 is healthy).",
        swim_health(d->swim));
    one(b, "ringd_ready", "gauge", "1 when joined and the ring is stable.", ringd_ready(d));
    swim_metrics(b, swim_stats(d->swim));
    one(b, "ringd_udp_send_errors_total", "counter", "Datagrams the kernel refused.",
        d->m.udp_send_errors);
    one(b, "ringd_auth_failures_total", "counter",
        "Sealed packets no key of this node opens (wrong key or tampered).", d->m.auth_failures);
    one(b, "ringd_plaintext_refused_total", "counter",
        "Plaintext packets dropped because this node requires encryption.", d->m.plaintext_refused);
    one(b, "ringd_sealed_refused_total", "counter",
        "Sealed packets dropped because this node has no --keyfile.", d->m.sealed_refused);
    in_out(b, "ringd_streams_total", "TCP streams opened.", d->m.streams_in, d->m.streams_out);
    one(b, "ringd_stream_failures_total", "counter", "Outgoing streams that failed or timed out.",
        d->m.streams_out_failed);
    one(b, "ringd_api_requests_total", "counter", "Local API requests answered.",
        d->m.api_requests);
    one(b, "ringd_api_errors_total", "counter", "Local API requests answered with an error.",
        d->m.api_errors);
    one(b, "ringd_api_protocol_errors_total", "counter",
        "Local API connections closed for bytes that break framing.", d->m.api_protocol_errors);
    one(b, "ringd_api_notifications_total", "counter",
        "Local API notifications received (run, never answered).", d->m.api_notifications);
    one(b, "ringd_api_notifications_failed_total", "counter",
        "Local API notifications that were malformed or whose call failed.",
        d->m.api_notifications_failed);
    one(b, "ringd_api_responses_ignored_total", "counter",
        "Responses sent by local API clients, which must not send any; dropped.",
        d->m.api_responses_ignored);
    one(b, "ringd_api_unanswerable_total", "counter",
        "Local API messages with no usable msgid, answered by an error notification.",
        d->m.api_unanswerable);
    one(b, "ringd_api_connections", "gauge", "Open local API connections.",
        ringd_api_connections(d));
    latency(b, &d->m);
    one(b, "ringd_http_requests_total", "counter", "Admin HTTP requests.", d->m.http_requests);
    if (d->proxy != NULL) {
        proxy_metrics(b, &d->m);
    }
}
