/*
 * cluster: real ringd processes on 127.0.0.1 for the cluster tests. Every process a test
 * starts is recorded and killed by PID in cluster_stop() (the suites' fini), and each child
 * asks the kernel to SIGKILL it if the test process dies first, so nothing outlives a test.
 */
#ifndef RING_TESTS_CLUSTER_H
#define RING_TESTS_CLUSTER_H

#include <stdint.h>
#include <sys/types.h>

#include "client.h"

#define CLUSTER_NODES_MAX 8
/* Extra ringd flags per node (cluster.extra_args). */
#define CLUSTER_EXTRA_ARGS_MAX 16

struct netns;

struct cluster {
    int n;
    pid_t pids[CLUSTER_NODES_MAX];
    char dir[64];
    int base_port;
    /* The --keyfile of node i, set before starting it. cluster_init() writes one fresh key
     * for the test's cluster (cl.key_path) and gives it to every node; a test may point a node
     * at another file, or start it with --insecure instead (cl.insecure). */
    char keyfile[CLUSTER_NODES_MAX][160];
    /* Start node i with --insecure and no key file (plaintext gossip). */
    int insecure[CLUSTER_NODES_MAX];
    /* The cluster's key file and its key (base64, as the file holds it). */
    char key_path[160];
    char key_b64[64];
    /* Start nodes with ringd's default timings instead of the fast 100ms/50ms probes the
     * functional tests use (the timing tests measure the defaults). */
    int default_timing;
    /* When set (tests/netns), node i runs in host namespace i of this network, listening on
     * its address with ringd's default ports; NULL: every node on 127.0.0.1. */
    const struct netns *ns;
    /* More flags for node i, NULL-terminated (e.g. "--proxy", "10.250.0.10:8080"). */
    const char *extra_args[CLUSTER_NODES_MAX][CLUSTER_EXTRA_ARGS_MAX + 1];
    /* A program node i runs under, NULL-terminated, its argv[0] a path (e.g. valgrind and
     * its flags): ringd and its flags follow. */
    const char *wrapper[CLUSTER_NODES_MAX][CLUSTER_EXTRA_ARGS_MAX + 1];
};

extern struct cluster cl;

/* Makes a temp dir, picks ports for this test process and writes the cluster's key file. */
void cluster_init(void);
/* Starts node |i| (id "n<i>"), joining node |seed| (-1: no --join). */
void cluster_start_node(int i, int seed);
/* Starts nodes 0..n-1, all joining node 0. */
void cluster_start(int n);
/* Kills every node still running (SIGKILL) and removes the temp dir. */
void cluster_stop(void);
/* Sends |sig| to node |i|. */
void cluster_signal(int i, int sig);
/* Waits for node |i| to exit; returns its wait status, or -1 after |timeout_ms|. */
int cluster_wait_exit(int i, int timeout_ms);

const char *cluster_socket(int i, char *buf, size_t cap);
int cluster_gossip_port(int i);
int cluster_admin_port(int i);
/* A port for node |i|'s forwarding proxy (0..CLUSTER_NODES_MAX-1), of this test process.
 * Test ports are split so no two kinds overlap: apps 8000.., proxies 12000.., the cluster's
 * gossip and admin 16000..; all below the kernel's ephemeral ports (32768 and up). */
int cluster_proxy_port(int i);

/* Connects to node |i|'s local API (asserts). */
struct ringc *cluster_connect(int i);
/* Node |i|'s view of member |id|: its status ("alive", ...) into |status|, incarnation into
 * |*inc|; returns 0, or -1 if the node does not know it or cannot be asked. */
int cluster_member(int i, const char *id, char *status, size_t cap, uint64_t *inc);
/* Node |i|'s stats: alive members, ring checksum. Returns 0 or -1. */
int cluster_stats(int i, uint64_t *alive, uint64_t *ring_checksum, uint64_t *checksum);

/* Polls |cond| every 20 ms until it returns 1 or |timeout_ms| passes; returns the ms it took
 * or -1. */
int cluster_wait(int (*cond)(void *), void *arg, int timeout_ms);

/* Node |i| sees |want| alive members and every running node reports the same ring checksum. */
int cluster_converged(void *want);

/* GET |path| from node |i|'s admin server: returns the status, the body in |body|. */
int cluster_http(int i, const char *request, char *body, size_t cap);
/* The value of the sample |name| (labels included, e.g. ringd_api_timeouts_total{phase=
 * "send"}) in node |i|'s /metrics, or -1. */
long long cluster_metric(int i, const char *name);
/* Gives node |i| a proxy on its cluster_proxy_port() in front of the app at
 * 127.0.0.1:|app_port|, then |extra| flags (NULL-ended, may be NULL). */
void cluster_proxy_flags(int i, int app_port, const char *const *extra);

void cluster_sleep_ms(int ms);

/* Seals |len| bytes of |in| as a peer holding the cluster key would (ring/seal.h: |context|
 * SEAL_DATAGRAM or SEAL_STREAM), stamped |sent_ms| (Unix ms; cluster_wall_ms() for now), into
 * |out| (|cap| bytes). Returns the sealed length (asserts). */
size_t cluster_seal(int context, uint64_t sent_ms, const void *in, size_t len, uint8_t *out,
                    size_t cap);

/* A peer of the cluster on node |node|'s gossip port: connects and runs the session handshake
 * (PROTOCOL.md 10.1) with the cluster's key, |sess| holding the session. Returns the fd. */
struct session;
int cluster_stream_open(int node, struct session *sess);
/* The same in steps: connects (the fd); sends the client hello; reads the server hello and
 * sends the confirm, returning 0, or -1 when ringd closed the connection first. */
int cluster_stream_connect(int node);
void cluster_stream_hello(int fd, struct session *sess);
int cluster_stream_finish(int fd, struct session *sess);
/* Sends |len| bytes as one frame under |sess|; returns 0, or -1 when ringd closed first (a
 * refusal mid-frame). */
int cluster_stream_send(int fd, struct session *sess, const void *p, size_t len);
uint64_t cluster_wall_ms(void);

/* Runs a shell command; returns its exit status and up to |cap| bytes of stdout in |out|. */
int cluster_sh(const char *cmd, char *out, size_t cap);

#endif
