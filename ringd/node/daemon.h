/*
 * daemon: the gossip node's state and interface (ringd/node/). The node is a thin libuv
 * adapter around libring (docs/design.md): sockets, timers and signals feed swim with
 * uv_now(); every protocol decision is swim's. It owns membership and publishes the view
 * (d->ring); the local API, admin and the proxy (api/, admin/, proxy/) read it, subscribe to
 * its changes and export their counters through it, and the node never calls them by name.
 *
 *   node.c        the swim glue: pump (drain datagrams, streams, events; re-arm the one
 *                 timer), the view rebuilt once per loop iteration, subscriptions, leave
 *   udp.c         UDP gossip; addr.c address conversions
 *   stream.c      TCP streams on the gossip port: one frame each way, with timeouts; peer
 *                 queries; hand-over of registered first bytes (forwarding connections)
 *   seeds.c       --join / --join-file / dns: seeds, resolved with uv_getaddrinfo
 *   envelope.c    gossip encryption: seal what goes out, open what comes in (--keyfile)
 *   subshard.c    sub-sharding (--group); shardset.c the owned shards (--shards)
 *   drain.c       draining (operator, app health, SIGTERM) and the readiness checks
 *   route.c       the one answer to "who serves this key"
 *   view_pack.c   the view's msgpack forms; node_metrics.c the node's Prometheus families
 */
#ifndef RINGD_DAEMON_H
#define RINGD_DAEMON_H

#include <msgpack.h>
#include <uv.h>

#include "config.h"
#include "list.h"
#include "log.h"
#include "ring/codec.h"
#include "ring/hashring.h"
#include "ring/seal.h"
#include "ring/swim.h"

/* The node's counters (the subsystems keep their own). */
struct ringd_node_counters {
    uint64_t ring_changes;
    uint64_t ring_builds_failed;
    uint64_t shard_changes; /* --shards: times the owned set changed */
    uint64_t streams_out, streams_out_failed, streams_in;
    uint64_t streams_refused; /* frames longer than swim accepts, refused by their header */
    uint64_t udp_send_errors;
    uint64_t auth_failures;     /* sealed packets no key of ours opens */
    uint64_t plaintext_refused; /* plaintext packets while we require encryption */
    uint64_t sealed_refused;    /* sealed packets while we have no keys */
};

struct sbuf;

/* What a subsystem exports (registered with ringd_node_export()): its Prometheus families,
 * written into admin's /metrics, and its section of the local API's stats(). Admin and the
 * API walk the exports, so neither knows another subsystem's counters. Either callback may
 * be NULL. */
struct ringd_export {
    const char *name; /* stats()'s key of the section packed by |stats| */
    void (*prometheus)(void *ctx, struct sbuf *b);
    void (*stats)(void *ctx, msgpack_packer *pk); /* packs one value */
    void *ctx;
};
#define RINGD_EXPORTS_MAX 8

/* The ring as the API serves it: swim's alive and suspect members laid out by hashring,
 * with each ring member's address and share. Replaced whole when membership changes. */
struct ringd_ring {
    struct hashring *ring;
    struct ring_addr *addrs; /* by ring member index */
    double *shares;          /* by ring member index */
    /* By ring member index: its lookup answer, the map {"id", "address"}, packed once per
     * rebuild so a lookup copies bytes instead of formatting the address each time. */
    char *owners;
    size_t *owner_offs; /* member i's map is owners[owner_offs[i] .. owner_offs[i + 1]) */
    uint64_t checksum;
    uint64_t routes; /* members_routes_checksum(): the ring and its members' addresses */
};

/*
 * What the node tells the subsystems built on it (the local API, admin, the proxy), as
 * Envoy's PrioritySet::addMemberUpdateCb and memberlist's EventDelegate do: they subscribe
 * with ringd_node_subscribe() and the node calls them without knowing who they are. Any
 * callback may be NULL.
 */
struct ringd_node_cbs {
    /* The published view (d->ring) was rebuilt: after every rebuild, |changed| is 1 when its
     * checksum or its members' addresses changed (a watcher-visible change), 0 when only a
     * retry of the same ring is worth it. |old| is the view before (may have no ring); it is
     * freed when the callback returns. */
    void (*ring_rebuilt)(void *ctx, const struct ringd_ring *old, int changed);
    /* The shards this node owns changed (--shards); |old| (|old_n| shards, NULL at the first
     * computation) is the set before. */
    void (*shards_changed)(void *ctx, const uint32_t *old, size_t old_n);
    /* The node is stopping: close listeners and connections so the loop can end. */
    void (*stopping)(void *ctx);
    /* How many requests for keys this node owned are being served (drain.c waits for 0 before
     * it calls the node drained): the proxy counts those on the local app and those peers
     * forwarded here, not the local app's own requests going out. */
    size_t (*in_flight)(void *ctx);
};
#define RINGD_SUBSCRIBERS_MAX 8

/* Takes over an inbound gossip-port connection whose first frame (|frame|, |len| bytes, valid
 * only during the call) begins with the byte it registered for: |tcp| lives in |owner|'s
 * memory with reading stopped; the acceptor owns it from now on and closes it with
 * |close_cb|. */
typedef void (*ringd_stream_accept_cb)(void *ctx, uv_tcp_t *tcp, void *owner, uv_close_cb close_cb,
                                       const struct ring_addr *peer, const uint8_t *frame,
                                       size_t len);
#define RINGD_ACCEPTORS_MAX 4

/* A graceful leave never takes longer than this: the leave spreads by gossip in a few
 * gossip intervals (200 ms each); swim_leave_done() usually ends it far sooner. */
#define RINGD_LEAVE_MS_MAX 3000

/* Who wants the node drained (drain.c); it drains while any is set. */
enum ringd_drain_why {
    RINGD_DRAIN_OPERATOR = 1u, /* drain() from the API, /v1/drain */
    RINGD_DRAIN_APP = 2u,      /* the app fails its health check, or has not passed it yet */
    RINGD_DRAIN_SHUTDOWN = 4u, /* SIGTERM */
};

/* The app's health as health/ last saw it. */
enum ringd_app_health {
    RINGD_APP_UNCHECKED = 0, /* no --app-health */
    RINGD_APP_STARTING,      /* not passed yet */
    RINGD_APP_HEALTHY,
    RINGD_APP_UNHEALTHY, /* failed --app-health-threshold checks in a row */
};

/* The checks behind /readyz (drain.c): |ready| is "this pod can serve", |member| is ringd's
 * own part (joined, a ring, not leaving), what an app waits for before it starts. */
struct ringd_readiness {
    int joined, ring, leaving, draining;
    int app_checked, app_healthy;
    int member, ready;
};

struct ringd_api;
struct ringd_admin;
struct ringd_seeds;
struct ringd_stream;
struct ringd_mux;
struct ringd_proxy;
struct ringd_health;
struct groups;
struct groupmap;

struct ringd {
    uv_loop_t *loop;
    struct ringd_config cfg;
    struct ringd_log log;
    struct swim *swim;
    struct ring_addr self;
    struct ringd_node_counters m;

    struct ringd_ring ring;
    int ring_dirty;
    int joined; /* latched: other members seen, or nobody to join */

    uv_timer_t swim_timer;
    uv_check_t check;
    uv_udp_t udp;
    uv_tcp_t peer;
    uint32_t streams_in_open;
    struct list streams; /* open streams (struct ringd_stream), both directions */
    uint8_t *dgram;      /* CODEC_DATAGRAM_BYTES_MAX: receive and send scratch */
    uint8_t *dgram_wire; /* as large: a datagram sealed, or opened */

    struct seal_keyring keys; /* --keyfile; empty: no encryption */
    uint64_t auth_logged_ms, plaintext_logged_ms, sealed_logged_ms;

    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t leave_timer;
    int leaving;
    int leave_signal; /* the signal that started the leave, 0 for the API */
    uint64_t leave_deadline_ms;
    int stopping;

    /* drain.c */
    unsigned drain_why; /* enum ringd_drain_why bits */
    uint64_t drain_since_ms;
    uint64_t drains; /* times the node began draining */
    uv_timer_t shutdown_timer;
    int shutting_down; /* SIGTERM: draining, then leaving */
    int shutdown_signal;
    uint64_t shutdown_deadline_ms;
    int app_health; /* enum ringd_app_health, set by health/ */

    struct ringd_seeds *seeds;
    struct ringd_api *api;
    struct ringd_admin *admin;
    struct ringd_proxy *proxy;
    struct ringd_mux *mux;
    struct ringd_health *health;

    struct {
        struct ringd_node_cbs cbs;
        void *ctx;
    } subs[RINGD_SUBSCRIBERS_MAX];
    size_t sub_count;
    struct {
        uint8_t first_byte;
        ringd_stream_accept_cb cb;
        void *ctx;
    } acceptors[RINGD_ACCEPTORS_MAX];
    size_t acceptor_count;
    struct ringd_export exports[RINGD_EXPORTS_MAX];
    size_t export_count;

    /* Sub-sharding (--group; subshard.c): the other groups' summaries and the key -> group
     * map built from them. NULL without --group. */
    struct groups *groups;
    struct groupmap *gmap;
    uint64_t gmap_checksum;

    /* Logical shards (--shards; shardset.c): the shards this node owns, ascending. NULL
     * until first computed. */
    uint32_t *shards_owned;
    size_t shards_owned_count;
};

/* node.c */
/* Starts the node: swim, groups, signals, the gossip UDP and TCP listeners. The subsystems
 * start after it (they subscribe), then ringd_join() starts the seeds. Returns 0 or a uv
 * error. */
int ringd_start(struct ringd *d);
/* Starts joining through the seeds and runs the first pump. Returns 0 or a uv error. */
int ringd_join(struct ringd *d);
/* Adds a subscriber (see struct ringd_node_cbs). Returns 0 or UV_ENOBUFS past
 * RINGD_SUBSCRIBERS_MAX. */
int ringd_node_subscribe(struct ringd *d, const struct ringd_node_cbs *cbs, void *ctx);
/* Adds what a subsystem exports (see struct ringd_export). Returns 0 or UV_ENOBUFS. */
int ringd_node_export(struct ringd *d, const struct ringd_export *e);
/* The node's own Prometheus families (node_metrics.c): members, ring, shards, swim's
 * counters, gossip transport and encryption. */
void ringd_node_prometheus(struct ringd *d, struct sbuf *b);
/* Registers |cb| for inbound gossip-port connections whose first frame starts with
 * |first_byte| (the proxy takes forwarding HELLOs). Returns 0 or UV_ENOBUFS. */
int ringd_node_accept_streams(struct ringd *d, uint8_t first_byte, ringd_stream_accept_cb cb,
                              void *ctx);
void ringd_pump(struct ringd *d);
void ringd_leave(struct ringd *d, const char *why);
void ringd_stop(struct ringd *d);
void ringd_free(struct ringd *d);
int ringd_ready(const struct ringd *d);
/* Closes |h| unless it is already closing (for handles owned by |d|). */
void ringd_close_handle(uv_handle_t *h);

/* drain.c */
/* Sets (|on| 1) or clears |why| (enum ringd_drain_why); the node drains while any is set.
 * Returns 0, or UV_EINVAL once the node is leaving. */
int ringd_drain_set(struct ringd *d, unsigned why, int on);
int ringd_draining(const struct ringd *d);
/* 1 when draining, every node has heard, and nothing it owned is still being served. */
int ringd_drained(const struct ringd *d);
/* The subscribers' in_flight counts, summed. */
size_t ringd_in_flight(const struct ringd *d);
/* SIGTERM/SIGINT: drain until drained or --drain-timeout (less RINGD_LEAVE_MS_MAX), then
 * ringd_leave(). With --drain-timeout 0, or no room for a drain, it leaves at once. */
void ringd_shutdown(struct ringd *d, int signum);
void ringd_readiness(const struct ringd *d, struct ringd_readiness *out);

/* udp.c: UDP gossip; addr.c: address conversions */
int ringd_udp_start(struct ringd *d);
void ringd_udp_send(struct ringd *d, const struct ring_addr *to, const uint8_t *buf, size_t len);
/* sockaddr <-> ring_addr (IPv4-mapped IPv6 becomes IPv4). Return 0 or -1. */
int ringd_addr_from_sockaddr(const struct sockaddr *sa, struct ring_addr *out);
void ringd_addr_to_sockaddr(const struct ring_addr *a, int v6_socket, struct sockaddr_storage *ss);
/* The sockaddr of a numeric host:port from the config. Returns 0 or a uv error. */
int ringd_bind_sockaddr(const struct ringd *d, const struct ringd_hostport *hp,
                        struct sockaddr_storage *ss);
/* "ip:port" of |a| into |buf| (RING_ADDR_STRLEN). */
const char *ringd_addr_str(const struct ring_addr *a, char *buf);

/* stream.c */
int ringd_stream_listen(struct ringd *d);
void ringd_stream_start(struct ringd *d, const struct swim_stream_req *req);
void ringd_stream_close_all(struct ringd *d);

/* seeds.c */
int ringd_seeds_start(struct ringd *d);
/* Re-reads the join file and re-resolves every seed now (SIGHUP). */
void ringd_seeds_reload(struct ringd *d);
/* Adds numeric seeds given by the API and joins through them now. */
int ringd_seeds_add(struct ringd *d, const struct ring_addr *addrs, size_t n);
void ringd_seeds_close(struct ringd *d);

/* envelope.c */
/* (Re)reads --keyfile into d->keys; without --keyfile does nothing. On error logs it and keeps
 * the keys it had. Returns 0 or -1. */
int ringd_keys_load(struct ringd *d);
int ringd_encrypting(const struct ringd *d);
/* Seals |len| bytes of |in| for |context| (SEAL_DATAGRAM or SEAL_STREAM) into |out| (|cap|
 * bytes), or copies them when the node does not encrypt. Returns the length or a RING_E*. */
ssize_t ringd_seal(struct ringd *d, int context, const uint8_t *in, size_t len, uint8_t *out,
                   size_t cap);
/* Opens what |from| sent: the plaintext (|in| itself when the node does not encrypt, else
 * opened into |out|) and its length in |*out_len|, or NULL when it must be dropped (counted
 * and logged here). */
const uint8_t *ringd_open(struct ringd *d, int context, const struct ring_addr *from,
                          const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

#endif
