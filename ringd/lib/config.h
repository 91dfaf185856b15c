/*
 * config: ringd's command line and environment, parsed into one struct ringd_config.
 *
 * Every flag --some-flag also reads the environment variable RINGD_SOME_FLAG; a flag given on
 * the command line overrides its variable entirely (for the list flags --join and --label
 * too: flags do not merge with the variable). An empty variable counts as unset, as
 * Kubernetes renders optional values that way. $POD_IP and $POD_NAME (the Downward API)
 * supply the defaults of --advertise and --id.
 *
 * Parsing is a pure function of (argv, envp): it reads no file, resolves no name and calls
 * no getenv, so tests run it on literal arrays and ringd's main() passes `environ`. The join
 * file, key file and DNS seeds are only recorded here; ringd reads and resolves them.
 *
 * Decisions a user may want spelled out:
 *   - Durations are an integer and a unit: 500ms, 2s, 1m, 1h. A bare number is rejected,
 *     since "5" could mean seconds or milliseconds.
 *   - --suspect-timeout is a multiplier, not a duration: the Lifeguard suspicion timeout is
 *     mult x log10(cluster size) x probe interval (then shrinks as confirmations arrive), so
 *     one fixed duration would be too short for large clusters or too slow for small ones.
 *     This is memberlist's SuspicionMult; a duration given there is an error that says so.
 *   - --advertise defaults to $POD_IP with the --bind port; without $POD_IP, to the --bind
 *     address when that is a specific address. Otherwise (bind 0.0.0.0, no POD_IP) it is an
 *     error rather than a guess among interfaces. A host without a port takes the bind port.
 *   - --id defaults to $POD_NAME, else to the advertise address as text ("10.0.0.5:7946"):
 *     unique and stable for a given address, with no hostname lookup.
 *   - Listen addresses (--bind, --advertise, --admin, --proxy) must be numeric IPs; --app
 *     and --join seeds may be names, resolved by ringd.
 *   - A repeated flag takes its last value; --label k=v repeats and a repeated key takes the
 *     last value.
 */
#ifndef RINGD_CONFIG_H
#define RINGD_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "ring/members.h"

#ifndef RINGD_VERSION
#define RINGD_VERSION "0.0.0-dev"
#endif

/* A DNS name is at most 253 bytes. */
#define RINGD_HOST_BYTES_MAX 253
/* sockaddr_un.sun_path holds 108 bytes with the NUL. */
#define RINGD_SOCKET_PATH_BYTES_MAX 107
/* Other paths (join file, key file): PATH_MAX with the NUL. */
#define RINGD_PATH_BYTES_MAX 4095
/* Seeds in --join: a headless Service is one dns: seed, so a few are plenty. */
#define RINGD_SEEDS_MAX 64
/* The forwarding key header name: an HTTP token. */
#define RINGD_HEADER_BYTES_MAX 64
/* --app-health: an origin-form request target, "/" and printable ASCII, as a kubelet
 * httpGet probe's path is; longer ones are not health checks. */
#define RINGD_APP_HEALTH_PATH_BYTES_MAX 255
/* --app-health-threshold: failures in a row before the node drains itself. */
#define RINGD_APP_HEALTH_THRESHOLD_MAX 100
/* Durations: at most a day, so a typo such as 1000h is caught. */
#define RINGD_DURATION_MS_MAX (24u * 60 * 60 * 1000)
/* Indirect probes: memberlist uses 3; more than 16 only adds traffic. */
#define RINGD_INDIRECT_PROBES_MAX 16
/* Suspicion multiplier: memberlist's default is 4 (LAN) to 6 (WAN). */
#define RINGD_SUSPECT_MULT_MAX 64
/* Proxy re-routes after a failed owner: the backoff doubles from 100 ms, so 10 is ~100 s. */
#define RINGD_PROXY_RETRIES_MAX 10
/* --proxy-max-app-conns: connections to the local app, busy and idle; each costs the app a
 * socket and, in most servers, a worker's slot. Past 65,536 one app runs out of ports. */
#define RINGD_PROXY_APP_CONNS_MAX 65536
/* --proxy-max-pending: requests waiting for an app connection; each holds a client slot
 * (4,096 in all) and up to 64 KiB of its request, so more would starve other clients. */
#define RINGD_PROXY_PENDING_MAX 4096
/* --lease-drift-ppm: lease_config accepts below 100000 (10%). */
#define RINGD_LEASE_DRIFT_PPM_MAX 99999
/* --lease: below this, a lease ends before its grants can come back. */
#define RINGD_LEASE_MS_MIN 100
/* Longest argument or variable value looked at (a --join list of 64 seeds fits). */
#define RINGD_VALUE_BYTES_MAX 16384

enum ringd_log_level {
    RINGD_LOG_DEBUG = 0,
    RINGD_LOG_INFO = 1,
    RINGD_LOG_WARN = 2,
    RINGD_LOG_ERROR = 3,
};

enum ringd_log_format {
    RINGD_LOG_TEXT = 0,
    RINGD_LOG_JSON = 1,
};

/* host:port. IPv6 hosts are stored without brackets. */
struct ringd_hostport {
    char host[RINGD_HOST_BYTES_MAX + 1];
    uint16_t port;
    /* 4 or 6 for a numeric address, 0 for a name (or for an unset address: empty host). */
    uint8_t family;
};

struct ringd_seed {
    struct ringd_hostport addr;
    /* 1 for "dns:NAME:PORT": every address NAME resolves to, re-resolved when healing
     * partitions (a headless Service); 0 for one host:port. */
    uint8_t dns;
};

/* --api-output-max's range: room for a few answers, up to what one connection may hold. */
#define RINGD_API_OUTPUT_BYTES_MIN (4u << 10)
#define RINGD_API_OUTPUT_BYTES_MAX (16u << 20)

/* --delayed-rebalance's bound. */
#define RINGD_RESTART_HOLD_MS_MAX (10u * 60u * 1000u)

struct ringd_config {
    /* --id: this member's id (1..MEMBER_ID_BYTES_MAX bytes). */
    char id[MEMBER_ID_BYTES_MAX + 1];
    size_t id_len;
    /* --bind: gossip listen address (UDP and TCP). */
    struct ringd_hostport bind;
    /* --advertise: the address peers reach this node at (numeric). */
    struct ringd_hostport advertise;
    /* --join: seeds, and --join-file: a file of seeds, one per line ("" if none). */
    struct ringd_seed seeds[RINGD_SEEDS_MAX];
    size_t seed_count;
    char join_file[RINGD_PATH_BYTES_MAX + 1];
    /* --socket: the local API's unix socket. */
    char socket_path[RINGD_SOCKET_PATH_BYTES_MAX + 1];
    /* --admin: admin HTTP listen address. */
    struct ringd_hostport admin;
    /* --proxy: the forwarding proxy's listen address, and --app: the local app it passes
     * owned requests to. Both empty (host "") when the proxy is off. */
    struct ringd_hostport proxy;
    struct ringd_hostport app;
    /* --key-header: the request header holding the key. */
    char key_header[RINGD_HEADER_BYTES_MAX + 1];
    /* The proxy's --connect-timeout, --request-timeout (a whole request, retries included),
     * --idle-timeout (a keep-alive client), --proxy-retries, --max-body (0: no limit). */
    uint32_t proxy_connect_timeout_ms;
    uint32_t proxy_timeout_ms;
    uint32_t proxy_idle_timeout_ms;
    uint32_t proxy_retries;
    uint64_t proxy_max_body_bytes;
    /* --proxy-max-app-conns: connections to the local app at once (busy and idle);
     * --proxy-max-pending: requests that wait in order for one when all are busy, past which
     * the proxy answers 503 app_overloaded (0: no waiting, 503 at once). */
    uint32_t proxy_max_app_conns;
    uint32_t proxy_max_pending;
    /* The local listeners' (admin, local API, proxy) --header-timeout: a request head, or an
     * API message, must arrive whole within it of its first byte (of the accept, for admin
     * and proxy), however slowly its bytes trickle; --send-timeout: admin or an API client
     * that takes none of its pending answer for this long is closed; --api-timeout: an idle
     * local API connection (not a watcher) is closed after it (0: never); --api-output-max:
     * a local API client's unread output: reading stops at a quarter of it, a watcher past
     * it is closed. --idle-timeout (above) also closes idle admin keep-alive connections. */
    uint32_t header_timeout_ms;
    uint32_t send_timeout_ms;
    uint32_t api_idle_timeout_ms;
    uint32_t api_output_max_bytes;
    /* --drain-timeout: how long SIGTERM drains (the node gives its keys away and finishes
     * what it serves) before it leaves; 0: leave at once. */
    uint32_t drain_timeout_ms;
    /* --delayed-rebalance: a stopping node announces a restart instead of draining (its keys
     * stay with it, requests for them wait) and every node holds a restarting member's place
     * this long; a starting node holds its keys until its app first passes --app-health, at
     * most this long. 0: off. */
    uint32_t restart_hold_ms;
    /* --app-health: the path of the app's health check on --app ("" for none), checked every
     * --app-health-interval with --app-health-timeout; --app-health-threshold failures in a
     * row drain the node, and it takes its keys back once the app passes again and
     * --app-health-holddown has passed since it drained. */
    char app_health_path[RINGD_APP_HEALTH_PATH_BYTES_MAX + 1];
    uint32_t app_health_interval_ms;
    uint32_t app_health_timeout_ms;
    uint32_t app_health_threshold;
    uint32_t app_health_holddown_ms;
    /* --vnodes, --weight: ring points per unit of weight, and this node's weight.
     * --weight-max: the largest weight a peer may claim (swim_config.weight_max). */
    uint32_t vnodes;
    uint32_t weight;
    uint32_t weight_max;
    /* --shards: logical shards between keys and owners (ring/shards.h); 0: off. */
    uint32_t shards;
    /* --exclusive (with --shards): a shard is served only while this node holds its lease
     * (ring/lease.h); --lease, --lease-drift-ppm and --release-timeout are lease_config's
     * lease_ms, drift_ppm and release_timeout_ms; --handoff-wait bounds how long the proxy
     * holds a request for a shard whose lease is on its way. */
    uint8_t exclusive;
    uint32_t lease_ms;
    uint32_t lease_drift_ppm;
    uint32_t lease_release_timeout_ms;
    uint32_t proxy_lease_wait_ms;
    /* --label k=v (repeatable) and --group. */
    struct member_label labels[MEMBER_LABELS_MAX];
    size_t label_count;
    char group[MEMBER_GROUP_BYTES_MAX + 1];
    size_t group_len;
    /* --keyfile: the cluster key file ("" for none, which needs --insecure). */
    char keyfile[RINGD_PATH_BYTES_MAX + 1];
    /* --insecure: gossip in plaintext without a key (warned about at start and every 10 min). */
    uint8_t insecure;
    /* --gossip-accept-plaintext, --gossip-send-plaintext: with keys, still accept plaintext
     * packets / send plaintext ones (a plaintext cluster's rollout to keys, docs/operations.md). */
    uint8_t gossip_accept_plaintext;
    uint8_t gossip_send_plaintext;
    /* --replay-window: a sealed datagram stamped further than this from our wall clock is
     * dropped (clocks must agree loosely). */
    uint32_t replay_window_ms;
    /* SWIM timings. */
    uint32_t probe_interval_ms;
    uint32_t probe_timeout_ms;
    uint32_t indirect_probes;
    uint32_t suspect_mult;
    uint32_t sync_interval_ms;
    /* --log-level, --log-format. */
    uint8_t log_level;  /* enum ringd_log_level */
    uint8_t log_format; /* enum ringd_log_format */
    /* --help / --version were given: print and exit 0 (nothing else is filled in). */
    uint8_t show_help;
    uint8_t show_version;
};

/*
 * Parses |argv| (|argc| entries, argv[0] the program name) and the environment |envp| (a
 * NULL-terminated "NAME=value" array, may be NULL) into |*out|, starting from the defaults.
 *
 * Returns 0, or -EINVAL with one line (no newline) in |err| (|errlen| bytes, may be 0)
 * naming the flag or variable and the problem, e.g.
 *   ringd: --probe-interval: invalid duration "5x" (expected e.g. 500ms, 2s)
 * ringd's main prints it and exits with status 2.
 */
int ringd_config_parse(struct ringd_config *out, int argc, char **argv, char **envp, char *err,
                       size_t errlen);

/* Secure by default: 0 when |c| has a --keyfile or says --insecure, else -EINVAL with one
 * line for a person in |err| (ringd exits 2 with it). */
int ringd_config_require_key(const struct ringd_config *c, char *err, size_t errlen);

/* Parses one seed, "host:port" or "dns:NAME:PORT" (as in --join), into |*out|. Returns 0, or
 * -EINVAL with one line in |err|. Used for the join file and the join() API call. */
int ringd_seed_parse(const char *item, struct ringd_seed *out, char *err, size_t errlen);

/* Parses a duration as every duration flag does ("500ms", "2s", "1m", "1h": an integer and
 * a unit, no bare number) into |*out_ms|. Shared with ringctl's --timeout. Returns 0,
 * -EINVAL (not a duration) or -ERANGE (0, or over RINGD_DURATION_MS_MAX). */
int ringd_duration_parse(const char *v, uint32_t *out_ms);

/* Prints `ringd --help` to |f|: usage, then every flag grouped, with its variable and
 * default. */
void ringd_config_usage(FILE *f);

#endif
