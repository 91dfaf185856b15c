/*
 * node_metrics: the node's Prometheus families: the member table by status, the ring and the
 * shards, swim's counters, the gossip transport and encryption.
 */
#include "daemon.h"
#include "lease_glue.h"
#include "prom.h"

static void swim_metrics(struct sbuf *b, const struct swim_stats *st)
{
    prom_one(b, "ringd_probes_total", "counter", "Probes started.", st->probes);
    prom_one(b, "ringd_probe_acks_total", "counter", "Probes answered by a direct ack in time.",
             st->probe_acks);
    prom_one(b, "ringd_indirect_probes_total", "counter", "Probes that needed ping-req helpers.",
             st->indirect_probes);
    prom_one(b, "ringd_stream_probes_total", "counter", "Fallback TCP stream pings sent.",
             st->stream_probes);
    prom_one(b, "ringd_nacks_received_total", "counter", "Nacks received from ping-req helpers.",
             st->nacks_received);
    prom_one(b, "ringd_suspicions_total", "counter", "Members this node began to suspect.",
             st->suspicions);
    prom_one(b, "ringd_faulty_total", "counter", "Members this node declared faulty.", st->faulty);
    prom_one(b, "ringd_refutations_total", "counter",
             "Times this node refuted a suspicion of itself.", st->refutations);
    prom_one(b, "ringd_full_syncs_total", "counter", "Completed full state syncs (push-pull).",
             st->syncs);
    prom_in_out(b, "ringd_gossip_bytes_total", "Gossip datagram bytes.", st->bytes_in,
                st->bytes_out);
    prom_in_out(b, "ringd_gossip_messages_total", "Gossip datagrams.", st->msgs_in, st->msgs_out);
    prom_in_out(b, "ringd_stream_bytes_total", "TCP stream message bytes.", st->stream_bytes_in,
                st->stream_bytes_out);
    prom_one(b, "ringd_decode_errors_total", "counter",
             "Datagrams and stream messages that failed to decode.", st->decode_errors);
    prom_one(b, "ringd_events_dropped_total", "counter", "Member events lost to a full queue.",
             st->events_dropped);
    prom_one(b, "ringd_gossip_dropped_total", "counter", "Datagrams dropped by a full send queue.",
             st->msgs_dropped);
    /* limits between peers (proto/SWIM.md): what forged or runaway updates were refused */
    prom_one(b, "ringd_incarnations_refused_total", "counter",
             "Updates whose incarnation was above the accepted ceiling.", st->incarnations_refused);
    prom_one(b, "ringd_weights_clamped_total", "counter", "Updates whose weight was clamped.",
             st->weights_clamped);
    prom_one(b, "ringd_members_refused_total", "counter",
             "New members refused by the admission budgets.", st->members_refused);
    prom_one(b, "ringd_ping_reqs_refused_total", "counter",
             "Ping-reqs naming a member not in the table.", st->ping_reqs_refused);
    prom_one(b, "ringd_syncs_refused_total", "counter", "Syncs refused by their length.",
             st->syncs_refused);
    prom_one(b, "ringd_catchups_total", "counter",
             "Catch-up syncs with a seed while the cluster was forming.", st->catchups);
    prom_one(b, "ringd_seed_pulls_total", "counter",
             "Pulls from the other seeds while joiners arrived here.", st->seed_pulls);
}

void ringd_node_prometheus(struct ringd *d, struct sbuf *b)
{
    const struct members *t = swim_members(d->swim);
    prom_family(b, "ringd_members", "gauge", "Members in the table by status.");
    for (int st = MEMBER_ALIVE; st <= MEMBER_LEFT; st++) {
        char status[PROM_LABEL_BYTES_MAX];
        sbuf_printf(b, "ringd_members{status=\"%s\"} %zu\n",
                    prom_label(status, sizeof(status), member_status_name(st)),
                    members_count_status(t, st));
    }
    prom_one(b, "ringd_members_draining", "gauge",
             "Live members that are draining (in the table, not in the ring).",
             members_ring_count(t) - members_owner_count(t));
    prom_one(b, "ringd_draining", "gauge", "1 while this node drains (owns no keys).",
             (uint64_t)ringd_draining(d));
    prom_one(b, "ringd_drains_total", "counter", "Times this node began to drain.", d->drains);
    prom_one(b, "ringd_restarting", "gauge",
             "1 while this node holds its keys for a restart (--delayed-rebalance).",
             (uint64_t)ringd_restarting(d));
    prom_one(b, "ringd_restarts_total", "counter",
             "Times this node began to hold its keys for a restart.", d->restarts);
    prom_one(b, "ringd_ring_members_restarting", "gauge",
             "Ring members whose keys wait for them to be back from a restart.",
             (uint64_t)d->ring.restarting_count);
    prom_one(b, "ringd_ring_members", "gauge", "Members that own points on the ring.",
             d->ring.ring != NULL ? hashring_member_count(d->ring.ring) : 0);
    prom_one(b, "ringd_ring_checksum_changes_total", "counter", "Times the ring changed.",
             d->m.ring_changes);
    /* Two values across the pods of one cluster for longer than a few probe intervals is a
     * split (docs/operations.md has the alert). A gauge is a float64, so the lowest bits of
     * these 64-bit checksums are rounded: compare them, do not decode them. */
    prom_gauge_f(b, "ringd_checksum",
                 "Membership checksum (alive and suspect members); equal on nodes that agree.",
                 (double)swim_checksum(d->swim));
    prom_gauge_f(b, "ringd_ring_checksum", "Ring checksum; equal on nodes that route alike.",
                 (double)d->ring.checksum);
    if (d->cfg.shards != 0) {
        prom_one(b, "ringd_shards", "gauge", "Logical shards (--shards).", d->cfg.shards);
        prom_one(b, "ringd_shards_owned", "gauge", "Logical shards this node owns.",
                 d->shards_owned_count);
        prom_one(b, "ringd_shards_changes_total", "counter", "Times the owned shards changed.",
                 d->m.shard_changes);
    }
    ringd_leases_prometheus(d, b);
    prom_one(b, "ringd_incarnation", "gauge", "This node's incarnation.",
             swim_incarnation(d->swim));
    prom_one(b, "ringd_health_score", "gauge", "Lifeguard local health score (0 is healthy).",
             swim_health(d->swim));
    prom_one(b, "ringd_ready", "gauge",
             "1 when this node can serve: joined, not leaving, ring built.", ringd_ready(d));
    swim_metrics(b, swim_stats(d->swim));
    prom_one(b, "ringd_udp_send_errors_total", "counter", "Datagrams the kernel refused.",
             d->m.udp_send_errors);
    prom_one(b, "ringd_auth_failures_total", "counter",
             "Sealed packets no key of this node opens (wrong key or tampered).",
             d->m.auth_failures);
    prom_one(b, "ringd_plaintext_refused_total", "counter",
             "Plaintext packets dropped because this node requires encryption.",
             d->m.plaintext_refused);
    prom_one(b, "ringd_sealed_refused_total", "counter",
             "Sealed packets dropped because this node has no --keyfile.", d->m.sealed_refused);
    prom_one(b, "ringd_seal_version_refused_total", "counter",
             "Sealed packets of another seal version (a node of another release): dropped.",
             d->m.seal_version_refused);
    prom_one(b, "ringd_datagrams_malformed_total", "counter",
             "Datagrams dropped before opening: empty, longer than the receive buffer, or from "
             "an address that is neither IPv4 nor IPv6.",
             d->m.dgrams_malformed);
    prom_one(b, "ringd_replays_refused_total", "counter",
             "Sealed datagrams dropped as replays (already seen, or below the filter's floor).",
             d->m.replays_refused);
    prom_one(b, "ringd_clock_skew_refused_total", "counter",
             "Sealed datagrams dropped for a time outside --replay-window of this node's clock.",
             d->m.skew_refused);
    prom_in_out(b, "ringd_streams_total", "TCP streams opened.", d->m.streams_in, d->m.streams_out);
    prom_one(b, "ringd_stream_frames_refused_total", "counter",
             "Stream frames longer than swim accepts, refused by their header.",
             d->m.streams_refused);
    prom_one(b, "ringd_stream_failures_total", "counter",
             "Outgoing streams that failed or timed out.", d->m.streams_out_failed);
    prom_one(b, "ringd_stream_handshake_failures_total", "counter",
             "Gossip-port connections whose handshake failed (wrong key, tampered, not a hello).",
             d->m.stream_handshake_failures);
    prom_one(b, "ringd_stream_replays_refused_total", "counter",
             "Handshakes whose confirm did not open: a recorded connection played again.",
             d->m.stream_replays);
    prom_one(b, "ringd_stream_handshake_timeouts_total", "counter",
             "Gossip-port connections closed at the handshake deadline.",
             d->m.stream_handshake_timeouts);
    prom_one(b, "ringd_stream_auth_failures_total", "counter",
             "Stream frames that did not open under their connection's session.",
             d->m.stream_auth_failures);
    prom_family(b, "ringd_stream_evictions_total", "counter",
                "Waiting gossip-port connections closed to make room for a new one.");
    sbuf_printf(b, "ringd_stream_evictions_total{cap=\"address\"} %llu\n",
                (unsigned long long)d->m.stream_evicted_addr);
    sbuf_printf(b, "ringd_stream_evictions_total{cap=\"total\"} %llu\n",
                (unsigned long long)d->m.stream_evicted_total);
}
