/*
 * Delayed rebalance (--delayed-rebalance): a node that announces a restart keeps its keys
 * while it is away. Every node holds requests for them (the proxy waits) until the process
 * that comes back under the same id has joined and its app passes its health check; the ring
 * never changes, so its keys move 0 times instead of 2. A node not back within the hold gives
 * its keys away once, and the requests that waited go to the new owner.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "httpc.h"
#include "testapp.h"

#define NODES 3
#define KEYS  300
#define IO_MS 20000

static struct testapp apps[NODES];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Node |i| runs a proxy in front of app |i| with --delayed-rebalance |hold| and an app health
 * check (so a restarted node holds its keys until its app passes). */
static void node_flags(int i, const char *hold)
{
    const char *flags[] = { "--drain-timeout",
                            "8s",
                            "--app-health",
                            "/healthz",
                            "--app-health-interval",
                            "200ms",
                            hold != NULL ? "--delayed-rebalance" : NULL,
                            hold,
                            NULL };
    cluster_proxy_flags(i, testapp_port(i), flags);
}

static void start_app(int i)
{
    char id[8];
    snprintf(id, sizeof(id), "app%d", i);
    cr_assert(eq(int, testapp_start(&apps[i], testapp_port(i), id, NULL), 0), "app %d", i);
}

static void setup(void)
{
    cluster_init();
}

static void teardown(void)
{
    cluster_stop();
    for (int i = 0; i < NODES; i++) {
        testapp_stop(&apps[i]);
    }
}

TestSuite(restart, .init = setup, .fini = teardown, .timeout = 90);

static void owners(int i, char (*out)[8])
{
    struct ringc *c = cluster_connect(i);
    for (int k = 0; k < KEYS; k++) {
        char key[16];
        snprintf(key, sizeof(key), "key-%d", k);
        const msgpack_object *res;
        cr_assert(eq(int, ringc_call(c, &res, 2000, "lookup", "s", key), 0));
        ringc_get_str(res, "id", out[k], sizeof(out[k]));
    }
    ringc_close(c);
}

static int moved(char (*a)[8], char (*b)[8])
{
    int n = 0;
    for (int k = 0; k < KEYS; k++) {
        n += strcmp(a[k], b[k]) != 0;
    }
    return n;
}

/* The first test key node 0 places on n2. */
static int key_of_n2(char *key, size_t cap)
{
    static char own[KEYS][8];
    owners(0, own);
    for (int k = 0; k < KEYS; k++) {
        if (strcmp(own[k], "n2") == 0) {
            snprintf(key, cap, "key-%d", k);
            return k;
        }
    }
    return -1;
}

static uint64_t ring_at(int i)
{
    uint64_t alive = 0, ring = 0, sum = 0;
    return cluster_stats(i, &alive, &ring, &sum) == 0 ? ring : 0;
}

/* A request for n2's key through node 0's proxy, in a thread: it waits while n2 restarts. */
struct held {
    pthread_t t;
    const char *key;
    int status;
    char owner[16];
    int64_t took_ms;
    atomic_int done;
};

static void *held_request(void *arg)
{
    struct held *r = arg;
    static struct httpc_resp resp;
    int64_t t0 = now_ms();
    struct httpc *h = httpc_connect(cluster_proxy_port(0));
    char req[256];
    snprintf(req, sizeof(req),
             "POST /orders HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n"
             "Content-Length: 5\r\n\r\norder",
             r->key);
    r->status = -1;
    if (h != NULL && httpc_send_str(h, req) == 0 && httpc_read(h, &resp, IO_MS) == 0) {
        r->status = resp.status;
        const char *by = httpc_header(&resp, "X-Ring-Owner");
        snprintf(r->owner, sizeof(r->owner), "%s", by != NULL ? by : "");
    }
    if (h != NULL) {
        httpc_close(h);
    }
    r->took_ms = now_ms() - t0;
    atomic_store(&r->done, 1);
    return NULL;
}

static void start_three(const char *hold)
{
    for (int i = 0; i < NODES; i++) {
        start_app(i);
        node_flags(i, hold);
    }
    cluster_start(NODES);
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)NODES, 10000), 0));
}

/* n2 announces a restart, its preStop's way, and stops. */
static void announce_and_stop_n2(void)
{
    char body[512];
    cr_assert(
        eq(int,
           cluster_http(2, "GET /v1/drain?wait=1&restart=1 HTTP/1.0\r\n\r\n", body, sizeof(body)),
           200),
        "%s", body);
    cr_assert(ne(ptr, strstr(body, "\"restarting\":true"), NULL), "%s", body);
    cr_assert(ne(ptr, strstr(body, "\"drained\":true"), NULL), "%s", body);
    cr_assert(ne(ptr, strstr(body, "\"draining\":false"), NULL), "%s", body);
    cr_assert(eq(int, cluster_http(2, "GET /readyz HTTP/1.0\r\n\r\n", body, sizeof(body)), 503));
    cluster_signal(2, SIGTERM);
    int ws = cluster_wait_exit(2, 5000);
    cr_assert(ws >= 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "ringd exit %d", ws);
}

static int n2_owns_keys_at_n0(void *arg)
{
    (void)arg;
    char key[16];
    return key_of_n2(key, sizeof(key)) >= 0;
}

Test(restart, a_restarted_node_keeps_its_keys_and_requests_for_them_wait)
{
    start_three("20s");
    static char before[KEYS][8], after[KEYS][8];
    owners(0, before);
    uint64_t ring = ring_at(0);
    char key[16];
    cr_assert(ge(int, key_of_n2(key, sizeof(key)), 0));
    announce_and_stop_n2();
    struct held r = { .key = key };
    cr_assert(eq(int, pthread_create(&r.t, NULL, held_request, &r), 0));
    /* Lifeguard would call n2 faulty within about a second here; the hold keeps its place. */
    cluster_sleep_ms(2500);
    cr_assert(eq(u64, ring_at(0), ring), "n0's ring changed while n2 was away");
    cr_assert(eq(u64, ring_at(1), ring), "n1's ring changed while n2 was away");
    cr_assert(eq(int, atomic_load(&r.done), 0), "answered before n2 was back");
    int64_t back = now_ms();
    cluster_start_node(2, 0);
    pthread_join(r.t, NULL);
    printf("restart: the held POST was answered %lld ms after it was sent, %lld ms after n2 "
           "started again\n",
           (long long)r.took_ms, (long long)(now_ms() - back));
    cr_assert(eq(int, r.status, 200), "the held request got %d", r.status);
    cr_assert(eq(str, r.owner, "n2"), "served by %s", r.owner);
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)NODES, 10000), 0));
    owners(0, after);
    cr_assert(eq(int, moved(before, after), 0));
    cr_assert(eq(u64, ring_at(0), ring));
    cr_assert(eq(u64, ring_at(2), ring));
    static char metrics[1 << 18];
    cr_assert(
        eq(int, cluster_http(0, "GET /metrics HTTP/1.0\r\n\r\n", metrics, sizeof(metrics)), 200));
    char *waits = strstr(metrics, "\nringd_proxy_restart_waits_total ");
    cr_assert(ne(ptr, waits, NULL));
    cr_assert(ge(int, atoi(waits + strlen("\nringd_proxy_restart_waits_total ")), 1));
}

Test(restart, a_node_not_back_within_the_hold_gives_its_keys_away_once)
{
    start_three("3s");
    uint64_t ring = ring_at(0);
    char key[16];
    cr_assert(ge(int, key_of_n2(key, sizeof(key)), 0));
    announce_and_stop_n2();
    struct held r = { .key = key };
    cr_assert(eq(int, pthread_create(&r.t, NULL, held_request, &r), 0));
    pthread_join(r.t, NULL);
    printf("restart: n2 not back, the held POST was answered by %s after %lld ms (hold 3 s)\n",
           r.owner, (long long)r.took_ms);
    cr_assert(eq(int, r.status, 200));
    cr_assert(ne(str, r.owner, "n2"));
    cr_assert(ge(int, (int)r.took_ms, 2000), "the hold was not kept");
    cr_assert(ne(u64, ring_at(0), ring));
    cr_assert(lt(int, cluster_wait(n2_owns_keys_at_n0, NULL, 200), 0));
}

Test(restart, restart_is_refused_without_the_flag_and_malformed_asks_get_400)
{
    start_app(0);
    node_flags(0, NULL);
    cluster_start(1);
    char body[512];
    cr_assert(eq(int,
                 cluster_http(0, "POST /v1/drain?restart=1 HTTP/1.0\r\n\r\n", body, sizeof(body)),
                 409));
    cr_assert(ne(ptr, strstr(body, "--delayed-rebalance"), NULL), "%s", body);
    cr_assert(eq(int,
                 cluster_http(0, "POST /v1/drain?restart=2 HTTP/1.0\r\n\r\n", body, sizeof(body)),
                 400));
    cr_assert(ne(ptr, strstr(body, "restart: expected 1 or 0"), NULL), "%s", body);
    /* a typo or a second value is refused, not taken for a plain drain */
    static const char *const refused[] = {
        "POST /v1/drain?Restart=1 HTTP/1.0\r\n\r\n",
        "POST /v1/drain?restart=1&restart=0 HTTP/1.0\r\n\r\n",
        "GET /v1/drain?wait=1&wiat=1 HTTP/1.0\r\n\r\n",
        "POST /v1/drain?& HTTP/1.0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        cr_assert(eq(int, cluster_http(0, refused[i], body, sizeof(body)), 400), "%s: %s",
                  refused[i], body);
    }
    cr_assert(eq(int, cluster_http(0, "GET /v1/drain HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    cr_assert(ne(ptr, strstr(body, "\"draining\":false"), NULL), "%s", body);
    char sock[128], cmd[512], out[512];
    cluster_socket(0, sock, sizeof(sock));
    snprintf(cmd, sizeof(cmd), "%s --socket %s drain --restart 2>&1", RINGCTL_BIN, sock);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 1), "%s", out);
    cr_assert(ne(ptr, strstr(out, "--delayed-rebalance"), NULL), "%s", out);
    snprintf(cmd, sizeof(cmd), "%s --socket %s drain --restart --cancel 2>&1", RINGCTL_BIN, sock);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 2), "%s", out);
    /* the one param of drain() is "restart" or nothing */
    struct ringc *c = cluster_connect(0);
    const msgpack_object *res;
    cr_assert(ne(int, ringc_call(c, &res, 2000, "drain", "s", "later"), 0));
    cr_assert(ne(int, ringc_call(c, &res, 2000, "drain", "i", 1), 0));
    ringc_close(c);
    snprintf(cmd, sizeof(cmd),
             "env -u RINGD_KEYFILE %s --delayed-rebalance 11m --insecure --bind 127.0.0.1:1 2>&1",
             RINGD_BIN);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 2), "%s", out);
    cr_assert(ne(ptr, strstr(out, "at most 10m"), NULL), "%s", out);
}

/* 256 POSTs of 100 KB each wait for the restarting owner and go to it together once it is
 * back, over one new forwarding connection: more than its handshake's early buffer holds, so
 * the streams wait their turn instead of failing the connection. */
Test(restart, many_large_held_posts_all_reach_the_owner_when_it_is_back)
{
    start_three("20s");
    char key[16];
    cr_assert(ge(int, key_of_n2(key, sizeof(key)), 0));
    announce_and_stop_n2();
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "/usr/bin/python3 %s/tests/tools/held_posts.py %d %s 256 100000 2>&1", RING_SOURCE_DIR,
             cluster_proxy_port(0), key);
    FILE *p = popen(cmd, "r");
    cr_assert(ne(ptr, p, NULL));
    cluster_sleep_ms(1500); /* every POST is held by now */
    cluster_start_node(2, 0);
    static char out[1024];
    size_t len = fread(out, 1, sizeof(out) - 1, p);
    out[len] = '\0';
    pclose(p);
    printf("restart: 256 held POSTs of 100 KB: %s", out);
    cr_assert(ne(ptr, strstr(out, "200 256\n"), NULL), "%s", out);
}

/* A drained node asked to restart has no keys to hold: it stays drained, and SIGTERM makes it
 * leave at once (left everywhere), not wait out --drain-timeout for a restart. */
Test(restart, a_drained_node_asked_to_restart_drains_and_leaves)
{
    start_three("20s");
    char body[512];
    cr_assert(eq(int, cluster_http(2, "POST /v1/drain HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    cr_assert(
        eq(int,
           cluster_http(2, "GET /v1/drain?wait=1&restart=1 HTTP/1.0\r\n\r\n", body, sizeof(body)),
           200),
        "%s", body);
    cr_assert(ne(ptr, strstr(body, "\"restarting\":false"), NULL), "%s", body);
    cr_assert(ne(ptr, strstr(body, "\"draining\":true"), NULL), "%s", body);
    int64_t t0 = now_ms();
    cluster_signal(2, SIGTERM);
    int ws = cluster_wait_exit(2, 8000);
    int64_t took = now_ms() - t0;
    cr_assert(ws >= 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "ringd exit %d", ws);
    cr_assert(lt(long, (long)took, 5000L), "SIGTERM took %lld ms", (long long)took);
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)2, 5000), 0),
              "n2 did not leave");
}
