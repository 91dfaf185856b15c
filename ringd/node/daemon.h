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
 *   lease_glue.c  exclusive shards (--exclusive): the lease state machine beside swim
 *   drain.c       draining (operator, app health, SIGTERM) and the readiness checks
 *   restart.c     delayed rebalance: holding the keys over a restart (--delayed-rebalance)
 *   route.c       the one answer to "who serves this key"
 *   view_pack.c   the view's msgpack forms; node_metrics.c the node's Prometheus families
 */
#ifndef RINGD_DAEMON_H
#define RINGD_DAEMON_H

#include <msgpack.h>
#include <uv.h>

#include "accept_pace.h"

#include "config.h"
#include "list.h"
#include "log.h"
#include "ring/codec.h"
#include "ring/hashring.h"
#include "ring/lease.h"
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
    uint64_t auth_failures;        /* sealed packets no key of ours opens */
    uint64_t plaintext_refused;    /* plaintext packets while we require encryption */
    uint64_t sealed_refused;       /* sealed packets while we have no keys */
    uint64_t seal_version_refused; /* sealed packets of another seal version */
    uint64_t dgrams_malformed;     /* empty or truncated datagrams, or from an unusable address */
    /* Gossip-port streams (stream.c): handshakes that failed (wrong key, tampered, not a
     * hello, a first frame of the wrong size), confirms that failed (a recorded hello played
     * again), handshakes past their deadline, frames failing to open after the handshake, and
     * connections evicted to make room for new ones (by address, or the total). */
    uint64_t stream_handshake_failures, stream_replays, stream_handshake_timeouts;
    uint64_t stream_auth_failures, stream_evicted_addr, stream_evicted_total;
    uint64_t replays_refused; /* sealed datagrams already seen (or below the filter's floor) */
    uint64_t skew_refused;    /* sealed datagrams stamped outside --replay-window */
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
    /* By ring member index: 1 when the member is restarting (MEMBER_FLAG_RESTARTING):
     * requests for its keys wait for it (--delayed-rebalance). */
    uint8_t *restarting;
    uint32_t restarting_count;
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
    /* A shard's lease changed state at this node (--exclusive; |ev| is lease.h's event, read
     * during the call only). Not renewals (state == prev, same epoch); a bump (state == prev,
     * a new epoch) is told. */
    void (*lease_changed)(void *ctx, const struct lease_event *ev);
    /* The node is stopping: close listeners and connections so the loop can end. */
    void (*stopping)(void *ctx);
    /* How many requests for keys this node owned are being served (drain.c waits for 0 before
     * it calls the node drained): the proxy counts those on the local app and those peers
     * forwarded here, not the local app's own requests going out. */
    size_t (*in_flight)(void *ctx);
};
#define RINGD_SUBSCRIBERS_MAX 8

/* Takes over an inbound gossip-port connection whose first frame (|frame|, |len| bytes, valid
 * only during the call; the plaintext) begins with the byte it registered for: |tcp| lives in
 * |owner|'s memory with reading stopped; the acceptor owns it from now on and closes it with
 * |close_cb|. |sess| is the connection's established session (ring/session.h), which the
 * acceptor copies and uses for every later frame, or NULL when the node has no keys (frames
 * are plaintext). */
struct session;
typedef void (*ringd_stream_accept_cb)(void *ctx, uv_tcp_t *tcp, void *owner, uv_close_cb close_cb,
                                       const struct ring_addr *peer, const struct session *sess,
                                       const uint8_t *frame, size_t len);
#define RINGD_ACCEPTORS_MAX 4

/* A runtime keyring operation (keyring.c) and its tally: members that answered, failed or
 * are still pending, the failures by name, and each fingerprint seen with how many nodes
 * hold it (and as primary). */
enum ringd_keyring_op {
    RINGD_KEYRING_LIST = 0,
    RINGD_KEYRING_INSTALL = 1,
    RINGD_KEYRING_USE = 2,
    RINGD_KEYRING_REMOVE = 3,
};
#define RINGD_KEYOP_PEERS_MAX    1024
#define RINGD_KEYOP_FAILURES_MAX 16
#define RINGD_KEYOP_FPS_MAX      32
struct keyring_peer;
struct ringd_keyop {
    struct ringd *d;
    int op;
    uint32_t seq;
    size_t ok, failed, pending;
    struct {
        char id[64];
        char why[96];
    } failures[RINGD_KEYOP_FAILURES_MAX];
    size_t failures_shown;
    struct {
        char fp[SEAL_FINGERPRINT_LEN];
        uint32_t nodes, primary;
    } fps[RINGD_KEYOP_FPS_MAX];
    size_t fp_count;
    struct keyring_peer *peers[RINGD_KEYOP_PEERS_MAX]; /* those still running */
    size_t peer_count;
};

struct ringd_leases;
/* A graceful leave never takes longer than this: the leave spreads by gossip in a few
 * gossip intervals (200 ms each); swim_leave_done() usually ends it far sooner. */
#define RINGD_LEAVE_MS_MAX 3000

/* Who wants the node drained (drain.c); it drains while any is set. */
enum ringd_drain_why {
    RINGD_DRAIN_OPERATOR = 1u, /* drain() from the API, /v1/drain */
    RINGD_DRAIN_APP = 2u,      /* the app fails its health check, or has not passed it yet */
    RINGD_DRAIN_SHUTDOWN = 4u, /* SIGTERM */
};

/* Who wants the node to hold its keys for a restart (restart.c, --delayed-rebalance); it
 * holds while any is set. */
enum ringd_restart_why {
    RINGD_RESTART_OPERATOR = 1u, /* drain("restart"), /v1/drain?restart=1: a planned restart */
    RINGD_RESTART_STARTING = 2u, /* started: its app has not passed its health check yet */
    RINGD_RESTART_SHUTDOWN = 4u, /* SIGTERM with --delayed-rebalance */
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
    int restarting; /* holding its keys for a restart: counts as draining for readiness */
    int app_checked, app_healthy;
    int member, ready;
};

struct ringd_seeds;
struct ringd_stream;
struct replay;
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
    struct accept_pace peer_pace; /* the gossip port's accepts (accept_pace.h) */
    uint32_t streams_in_open;
    struct list streams; /* open streams (struct ringd_stream), both directions */
    /* Incoming streams not yet served or handed over, oldest first: the ones evicted when a
     * cap is reached (stream.c). */
    struct list streams_waiting;
    uint64_t stream_refusal_logged_ms;
    uint8_t *dgram;      /* CODEC_DATAGRAM_BYTES_MAX: receive and send scratch */
    uint8_t *dgram_wire; /* as large: a datagram sealed, or opened */

    struct seal_keyring keys; /* --keyfile; empty: no encryption (--insecure) */
    struct replay *replay;    /* with keys: the sealed datagrams accepted recently */
    uint64_t auth_logged_ms, plaintext_logged_ms, sealed_logged_ms, replay_logged_ms,
        skew_logged_ms;
    uv_timer_t insecure_timer; /* --insecure: the warning repeated */
    uv_fs_poll_t keyfile_poll; /* with keys: the key file watched for changes */
    struct ringd_keyop *keyop; /* the last runtime keyring operation (keyring.c), or NULL */
    uint32_t keyop_seq;

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
    int app_health;  /* enum ringd_app_health, set by health/ */
    int app_passing; /* the app's last health check passed (set by health/) */

    /* Drain and restart changes are logged at most once a second (a client toggling them as
     * fast as it can must not flood the log); the last one held back is logged when the
     * second is up, with how many were not (drain.c). */
    uv_timer_t change_log_timer;
    uint64_t change_logged_ms;
    uint32_t changes_unlogged;
    const char *change_event, *change_why;

    /* restart.c */
    unsigned restart_why; /* enum ringd_restart_why bits */
    uint64_t restart_since_ms;
    uint64_t restarts; /* times the node announced a restart */
    uv_timer_t restart_timer;

    struct ringd_seeds *seeds;

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

    /* Logical shards (--shards; shardset.c): the shards this node owns, ascending. NULL
     * until first computed. */
    uint32_t *shards_owned;
    size_t shards_owned_count;

    /* Exclusive shards (--exclusive; lease_glue.c). NULL without. */
    struct ringd_leases *leases;
};

/* node.c */
/* Starts the node: swim, groups, signals, the gossip UDP and TCP listeners. The subsystems
 * start after it (they subscribe), then ringd_join() starts the seeds. Returns 0 or a uv
 * error. */
int ringd_start(struct ringd *d);
/* The most file descriptors the node holds at once: its UDP socket, the gossip port's
 * listener and sessions in and out, the loop's own. */
uint32_t ringd_node_fds_max(void);
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
/* The graceful leave (SIGTERM, SIGINT, the API's leave()): with --exclusive the leases are
 * handed off first (ringd_leases_handoff), then swim announces the leave, then the node
 * stops. */
void ringd_leave(struct ringd *d, const char *why);
void ringd_stop(struct ringd *d);
/* Forces failed member |id| out (swim_force_leave()) and sends the news at once. Returns 0,
 * UV_ENOENT (unknown), UV_EAGAIN (alive) or UV_EINVAL (this node's own id). */
int ringd_force_leave(struct ringd *d, const char *id, size_t id_len);
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
/* Logs a drain or restart change |event| (with |why|; both static strings), at most once a
 * second: see change_log_timer. */
void ringd_log_change(struct ringd *d, const char *event, const char *why);

/* restart.c */
void ringd_restart_init(struct ringd *d);
/* Sets (|on| 1) or clears |why| (enum ringd_restart_why); the node holds its keys for a
 * restart while any is set (swim_restarting_set()), at most --delayed-rebalance. Returns 0,
 * UV_ENOTSUP without --delayed-rebalance, UV_EALREADY while the node drains (its keys are
 * elsewhere: callers drain instead), or UV_EINVAL once the node is leaving. */
int ringd_restart_set(struct ringd *d, unsigned why, int on);
int ringd_restarting(const struct ringd *d);
/* 1 when an operator's or a shutdown's restart is announced, every node has heard, and
 * nothing it owned is still being served: the node may stop (without leaving). */
int ringd_restart_ready(const struct ringd *d);
/* 1 while a starting node holds its keys for its app: requests for them wait here too. */
int ringd_holding_own_keys(const struct ringd *d);

/* udp.c: UDP gossip; addr.c: address conversions */
int ringd_udp_start(struct ringd *d);
void ringd_udp_send(struct ringd *d, const struct ring_addr *to, const uint8_t *buf, size_t len);
/* sockaddr <-> ring_addr (IPv4-mapped IPv6 becomes IPv4). Returns 0 or UV_EAFNOSUPPORT. */
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
/* A one-frame request to a peer's gossip port, under a session when the node sends sealed
 * (the keyring's peer queries). |done| is called exactly once, unless
 * ringd_stream_call_cancel() comes first: with |why| NULL and the answer's plaintext (valid
 * only during the call), or with why it failed. An answer longer than |answer_max| fails.
 * Returns the call, or NULL when it could not start (|done| is not called). */
typedef void (*ringd_stream_done_cb)(void *ctx, const char *why, const uint8_t *answer, size_t len);
struct ringd_stream *ringd_stream_call(struct ringd *d, const struct ring_addr *to,
                                       const uint8_t *req, size_t len, uint64_t timeout_ms,
                                       size_t answer_max, ringd_stream_done_cb done, void *ctx);
void ringd_stream_call_cancel(struct ringd_stream *st);
void ringd_stream_close_all(struct ringd *d);

/* seeds.c */
int ringd_seeds_start(struct ringd *d);
/* Re-reads the join file and re-resolves every seed now (SIGHUP). */
void ringd_seeds_reload(struct ringd *d);
/* Adds numeric seeds given by the API and joins through them now. Returns 0, or UV_E2BIG past
 * SWIM_SEEDS_MAX seeds given this way. */
int ringd_seeds_add(struct ringd *d, const struct ring_addr *addrs, size_t n);
void ringd_seeds_close(struct ringd *d);

/* keyring.c: the runtime keyring (ringctl keys). */
/* enum ringd_keyring_op of |name|, or UV_EINVAL. */
int ringd_keyring_op_parse(const char *name, size_t len);
/* Applies |op| (with |key|: base64, or a fingerprint for use/remove; ignored for list) here,
 * then starts asking every other alive member to. Returns the operation's seq (> 0), or a
 * negative errno with a reason in |*why| (UV_EAGAIN while another is running). */
int ringd_keyring_start(struct ringd *d, int op, const char *key, size_t key_len, const char **why);
/* The current operation's tally (keys_status()). */
void ringd_keyring_pack_status(const struct ringd *d, msgpack_packer *pk);
/* Answers a peer's "keyring" query (stream.c): the result or an error response. */
struct rpc_msg;
void ringd_keyring_serve(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk);
void ringd_keyring_stop(struct ringd *d);
void ringd_keyring_free(struct ringd *d);

/* envelope.c */
/* (Re)reads --keyfile into d->keys; without --keyfile does nothing. On error logs it and keeps
 * the keys it had. Returns 0 or a negative errno. */
int ringd_keys_load(struct ringd *d);
int ringd_encrypting(const struct ringd *d);
/* The node opens its gossip-port connections with the session handshake: it has keys and
 * does not send plaintext (--gossip-send-plaintext). */
int ringd_streams_secure_out(const struct ringd *d);
/* After the keys are loaded: the replay filter and the key file's watch, or (--insecure) the
 * repeated warning. Returns 0 or a uv error. */
int ringd_envelope_start(struct ringd *d);
/* Closes the handles of ringd_envelope_start(); ringd_envelope_free() wipes the keys and frees
 * the filter. */
void ringd_envelope_stop(struct ringd *d);
void ringd_envelope_free(struct ringd *d);
/* The wall clock in Unix ms: sealed datagrams are stamped with it. */
uint64_t ringd_wall_ms(void);
/* Seals |len| bytes of |in| for |context| (SEAL_DATAGRAM or SEAL_STREAM) into |out| (|cap|
 * bytes), or copies them when the node does not encrypt. Returns the length or a negative
 * errno (UV_ENOBUFS when |cap| is too small). */
ssize_t ringd_seal(struct ringd *d, int context, const uint8_t *in, size_t len, uint8_t *out,
                   size_t cap);
/* Opens what |from| sent: the plaintext (|in| itself when the node does not encrypt, else
 * opened into |out|) and its length in |*out_len|, or NULL when it must be dropped (counted
 * and logged here). */
const uint8_t *ringd_open(struct ringd *d, int context, const struct ring_addr *from,
                          const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

#endif
