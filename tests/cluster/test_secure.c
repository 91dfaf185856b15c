/*
 * Secure by default (docs/operations.md, "Gossip encryption"): ringd refuses to start without
 * a key unless told --insecure; a keyed node drops and counts forged plaintext, replayed
 * sealed datagrams (within the window by their nonce, after it by their time) and datagrams
 * stamped by a clock too far from its own.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cluster.h"
#include "ring/seal.h"

static void setup(void)
{
    cluster_init();
}

static void teardown(void)
{
    cluster_stop();
}

TestSuite(secure, .init = setup, .fini = teardown, .timeout = 40);

struct refused {
    uint64_t plaintext, replays, skew, auth;
};

static void refused_of(int i, struct refused *r)
{
    struct ringc *c = cluster_connect(i);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(c, &res, 3000, "keys", ""), 0));
    r->plaintext = ringc_get_u64(res, "plaintext_refused", 0);
    r->replays = ringc_get_u64(res, "replays_refused", 0);
    r->skew = ringc_get_u64(res, "clock_skew_refused", 0);
    r->auth = ringc_get_u64(res, "auth_failures", 0);
    ringc_close(c);
}

/* A UDP socket on 127.0.0.1 with a receive timeout of |ms|. */
static int udp_socket(int ms)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = { .sin_family = AF_INET };
    inet_pton(AF_INET, "127.0.0.1", &me.sin_addr);
    cr_assert(eq(int, bind(fd, (struct sockaddr *)&me, sizeof(me)), 0));
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_to(int fd, int node, const void *buf, size_t len)
{
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)cluster_gossip_port(node)) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert(eq(i64, (int64_t)sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)),
                 (int64_t)len));
}

/* [1, ping, {seq, from "tester", target |target|, checksum 0}] */
static void pack_ping(msgpack_sbuffer *sb, const char *target)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_map(&pk, 4);
    msgpack_pack_uint8(&pk, 0);
    msgpack_pack_uint8(&pk, 7);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_str_with_body(&pk, "tester", 6);
    msgpack_pack_uint8(&pk, 2);
    msgpack_pack_str_with_body(&pk, target, strlen(target));
    msgpack_pack_uint8(&pk, 4);
    msgpack_pack_uint8(&pk, 0);
}

static int plaintext_counted(void *arg)
{
    struct refused r;
    refused_of(0, &r);
    return r.plaintext >= (uint64_t)(intptr_t)arg;
}

Test(secure, no_key_and_no_insecure_exits_2_with_a_clear_message)
{
    char cmd[512], out[4096];
    snprintf(cmd, sizeof(cmd),
             "env -u RINGD_KEYFILE %s --bind 127.0.0.1:%d --admin 127.0.0.1:%d 2>&1", RINGD_BIN,
             cluster_gossip_port(0), cluster_admin_port(0));
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 2), "%s", out);
    cr_assert(ne(ptr, strstr(out, "no cluster key"), NULL), "%s", out);
    cr_assert(ne(ptr, strstr(out, "--keyfile"), NULL), "%s", out);
    cr_assert(ne(ptr, strstr(out, "--insecure"), NULL), "%s", out);
    cr_assert(ne(ptr, strstr(out, "ringctl keygen"), NULL), "%s", out);
}

/* --insecure starts, and says so in its log. */
Test(secure, insecure_starts_and_warns)
{
    cl.insecure[0] = 1;
    cluster_start_node(0, -1);
    char cmd[256], out[4096];
    snprintf(cmd, sizeof(cmd), "grep -c 'insecure' '%s/n0.log'", cl.dir);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "no warning in the log");
    /* ringctl keys shows this node's (lack of) keys rather than failing */
    char sock[128];
    snprintf(cmd, sizeof(cmd), "%s --socket %s keys 2>&1", RINGCTL_BIN,
             cluster_socket(0, sock, sizeof(sock)));
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
    cr_assert(ne(ptr, strstr(out, "no keys: gossip is plaintext"), NULL), "%s", out);
}

static int log_has(void *arg)
{
    char cmd[512], out[256];
    snprintf(cmd, sizeof(cmd), "grep -c -- '%s' '%s/n0.log'", (const char *)arg, cl.dir);
    return cluster_sh(cmd, out, sizeof(out)) == 0;
}

/* A key file others may write is named in a warning; one deleted while the node runs is
 * reported (within the 5 s watch), and the node keeps the keys it loaded. */
Test(secure, a_writable_key_file_and_a_deleted_one_are_logged)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/writable.key", cl.dir);
    char cmd[512], out[4096];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 0666 '%s'", cl.key_path, path, path);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
    snprintf(cl.keyfile[0], sizeof(cl.keyfile[0]), "%s", path);
    cluster_start_node(0, -1);
    cr_assert(ge(int, cluster_wait(log_has, "mode=0666", 5000), 0), "no mode logged");
    cr_assert(log_has("writable by its group or others"), "no warning for a 0666 key file");
    unlink(path);
    cr_assert(ge(int, cluster_wait(log_has, "the key file cannot be read", 12000), 0),
              "a deleted key file went unreported");
    cr_assert(eq(int, cluster_wait_exit(0, 100), -1), "ringd must keep running on its keys");
}

/* A forged plaintext ping to a node started the default way: dropped, counted, unanswered. */
Test(secure, forged_plaintext_to_a_default_node_is_dropped_and_counted)
{
    cluster_start_node(0, -1);
    int fd = udp_socket(500);
    msgpack_sbuffer sb;
    pack_ping(&sb, "n0");
    send_to(fd, 0, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    cr_assert(ge(int, cluster_wait(plaintext_counted, (void *)1, 3000), 0),
              "the plaintext ping was not counted");
    char buf[2048];
    cr_assert(lt(i64, (int64_t)recv(fd, buf, sizeof(buf), 0), 0), "a plaintext ping was answered");
    close(fd);
}

static int odd_datagrams_counted(void *arg)
{
    (void)arg;
    return cluster_metric(0, "ringd_datagrams_malformed_total") >= 1 &&
           cluster_metric(0, "ringd_seal_version_refused_total") >= 1;
}

/* An empty datagram and one sealed by the first seal version (an older node's) are each
 * counted where an operator looks for them, not as attacks on the key. */
Test(secure, empty_and_old_version_datagrams_are_counted_apart)
{
    cluster_start_node(0, -1);
    int fd = udp_socket(500);
    send_to(fd, 0, "", 0);
    uint8_t v1[96];
    memset(v1, 0x5a, sizeof(v1));
    v1[0] = 0xc1; /* the seal marker */
    v1[1] = 1;    /* version 1 */
    send_to(fd, 0, v1, sizeof(v1));
    close(fd);
    cr_assert(ge(int, cluster_wait(odd_datagrams_counted, NULL, 3000), 0),
              "malformed %lld, old version %lld",
              cluster_metric(0, "ringd_datagrams_malformed_total"),
              cluster_metric(0, "ringd_seal_version_refused_total"));
    cr_assert(eq(i64, cluster_metric(0, "ringd_auth_failures_total"), 0));
    cr_assert(eq(i64, cluster_metric(0, "ringd_plaintext_refused_total"), 0));
}

/* A sealed ping from the tester, answered by node 0 with a sealed ack: a genuine datagram
 * of the cluster, captured into |buf|. Returns its length. */
static size_t capture_ack(int fd, uint8_t *buf, size_t cap)
{
    msgpack_sbuffer sb;
    pack_ping(&sb, "n0");
    uint8_t wire[512];
    size_t n = cluster_seal(SEAL_DATAGRAM, cluster_wall_ms(), sb.data, sb.size, wire, sizeof(wire));
    msgpack_sbuffer_destroy(&sb);
    send_to(fd, 0, wire, n);
    ssize_t got = recv(fd, buf, cap, 0);
    cr_assert(gt(i64, (int64_t)got, 0), "node 0 did not answer a sealed ping");
    cr_assert(eq(int, seal_is_sealed(buf, (size_t)got), 1), "the ack was not sealed");
    return (size_t)got;
}

struct want {
    int node;
    uint64_t replays, skew;
};

static int counted(void *arg)
{
    const struct want *w = arg;
    struct refused r;
    refused_of(w->node, &r);
    return r.replays >= w->replays && r.skew >= w->skew;
}

Test(secure, a_captured_datagram_replayed_within_the_window_is_dropped_and_counted)
{
    cluster_start(2);
    int fd = udp_socket(2000);
    uint8_t ack[2048];
    size_t n = capture_ack(fd, ack, sizeof(ack));
    /* Node 1 has never seen it: the first delivery passes, every copy after is a replay. */
    for (int k = 0; k < 3; k++) {
        send_to(fd, 1, ack, n);
    }
    /* And node 0 does not take back its own datagram more than once either. */
    send_to(fd, 0, ack, n);
    send_to(fd, 0, ack, n);
    struct want w1 = { 1, 2, 0 }, w0 = { 0, 1, 0 };
    cr_assert(ge(int, cluster_wait(counted, &w1, 3000), 0), "node 1 did not count 2 replays");
    cr_assert(ge(int, cluster_wait(counted, &w0, 3000), 0), "node 0 did not count its replay");
    struct refused r;
    refused_of(1, &r);
    cr_assert(eq(u64, r.replays, 2), "the first delivery was refused too");
    cr_assert(eq(u64, r.auth + r.skew, 0));
    close(fd);
}

static int after_ms(void *arg)
{
    return cluster_wall_ms() >= *(const uint64_t *)arg;
}

Test(secure, a_captured_datagram_replayed_after_the_window_is_dropped_as_stale)
{
    for (int i = 0; i < 2; i++) {
        cl.extra_args[i][0] = "--replay-window";
        cl.extra_args[i][1] = "1s";
    }
    cluster_start(2);
    int fd = udp_socket(2000);
    uint8_t ack[2048];
    size_t n = capture_ack(fd, ack, sizeof(ack));
    uint64_t later = cluster_wall_ms() + 1200;
    cluster_wait(after_ms, &later, 3000);
    send_to(fd, 1, ack, n);
    struct want w = { 1, 0, 1 };
    cr_assert(ge(int, cluster_wait(counted, &w, 3000), 0), "the stale datagram was not counted");
    close(fd);
}

Test(secure, a_datagram_from_a_skewed_clock_is_dropped_and_counted)
{
    cluster_start_node(0, -1);
    int fd = udp_socket(500);
    msgpack_sbuffer sb;
    pack_ping(&sb, "n0");
    uint8_t wire[512];
    uint64_t now = cluster_wall_ms();
    /* 60 s behind, then 60 s ahead of node 0's clock; the default window is 30 s. */
    size_t n = cluster_seal(SEAL_DATAGRAM, now - 60000, sb.data, sb.size, wire, sizeof(wire));
    send_to(fd, 0, wire, n);
    n = cluster_seal(SEAL_DATAGRAM, now + 60000, sb.data, sb.size, wire, sizeof(wire));
    send_to(fd, 0, wire, n);
    msgpack_sbuffer_destroy(&sb);
    struct want w = { 0, 0, 2 };
    cr_assert(ge(int, cluster_wait(counted, &w, 3000), 0), "the skewed datagrams were not counted");
    char buf[2048];
    cr_assert(lt(i64, (int64_t)recv(fd, buf, sizeof(buf), 0), 0), "a skewed ping was answered");
    char body[1 << 16];
    cr_assert(eq(int, cluster_http(0, "GET /metrics HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    cr_assert(ne(ptr, strstr(body, "\nringd_clock_skew_refused_total 2\n"), NULL));
    close(fd);
}

static void converge(int n)
{
    int ms = cluster_wait(cluster_converged, (void *)(intptr_t)n, 10000);
    cr_assert(ge(int, ms, 0), "%d nodes did not converge in 10 s", n);
}

/* Node |i| restarted (graceful leave, then a new process) with |flags| (NULL-terminated,
 * at most 3) joining through the next node. */
static void restart_with(int i, const char *const *flags)
{
    cluster_signal(i, SIGTERM);
    cr_assert(ge(int, cluster_wait_exit(i, 10000), 0), "node %d did not leave", i);
    memset(cl.extra_args[i], 0, sizeof(cl.extra_args[i]));
    for (int k = 0; flags[k] != NULL; k++) {
        cl.extra_args[i][k] = flags[k];
    }
    cl.insecure[i] = 0;
    cluster_start_node(i, (i + 1) % 3);
    converge(3);
}

/* A plaintext cluster moves to keys one node at a time, as docs/operations.md describes,
 * with all three members alive and agreeing after every restart. (Without step 2's
 * --gossip-accept-plaintext, the first node restarted into it cannot hear the step-1 nodes
 * and the cluster does not converge.) */
Test(secure, a_plaintext_cluster_rolls_onto_keys_without_losing_a_member, .timeout = 90)
{
    for (int i = 0; i < 3; i++) {
        cl.insecure[i] = 1;
    }
    cluster_start(3);
    converge(3);
    static const char *const step1[] = { "--gossip-send-plaintext", "--gossip-accept-plaintext",
                                         NULL };
    static const char *const step2[] = { "--gossip-accept-plaintext", NULL };
    static const char *const step3[] = { NULL };
    const char *const *steps[] = { step1, step2, step3 };
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < 3; i++) {
            restart_with(i, steps[s]);
        }
    }
    /* Every node now sends sealed and refuses plaintext: a forged plaintext ping is counted. */
    int fd = udp_socket(500);
    msgpack_sbuffer sb;
    pack_ping(&sb, "n0");
    send_to(fd, 0, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    cr_assert(ge(int, cluster_wait(plaintext_counted, (void *)1, 3000), 0));
    struct refused r;
    for (int i = 0; i < 3; i++) {
        refused_of(i, &r);
        cr_assert(eq(u64, r.auth + r.replays + r.skew, 0), "node %d refused a peer's packet", i);
    }
    close(fd);
}
