/*
 * The forwarding proxy with real processes: 3 ringd (--proxy, --app) and 3 ring_testapp's,
 * each app answering with its id (X-App-Id). Requests go in through any node's proxy and must
 * come out of the app of the key's owner, over raw HTTP (tests/cluster/httpc.h), so every byte
 * the client sends is the test's choice.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "cluster.h"
#include "httpc.h"
#include "testapp.h"

#define NODES 3
#define IO_MS 10000

static struct testapp apps[NODES];
static struct httpc_resp resp; /* large: not on the stack */

/* Gives node |i| a proxy in front of app |i|, with |extra| more flags (NULL-ended, may be NULL). */
static void proxy_flags(int i, const char *const *extra)
{
    cluster_proxy_flags(i, testapp_port(i), extra);
}

static void start_apps(void)
{
    for (int i = 0; i < NODES; i++) {
        char id[8];
        snprintf(id, sizeof(id), "app%d", i);
        cr_assert(eq(int, testapp_start(&apps[i], testapp_port(i), id, NULL), 0),
                  "ring_testapp %d did not start", i);
    }
}

/* 3 nodes with proxies, each with |extra| flags (may be NULL), converged. */
static void start_proxies(const char *const *extra)
{
    start_apps();
    for (int i = 0; i < NODES; i++) {
        proxy_flags(i, extra);
    }
    cluster_start(NODES);
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)NODES, 10000), 0),
              "no convergence");
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

TestSuite(proxy, .init = setup, .fini = teardown, .timeout = 120);

static struct httpc *connect_proxy(int i)
{
    struct httpc *h = httpc_connect(cluster_proxy_port(i));
    cr_assert(ne(ptr, h, NULL), "cannot connect to node %d's proxy", i);
    return h;
}

/* |got| (may be NULL: a missing header) equals |want|. */
#define EXPECT_STR(got, want)                                                                      \
    do {                                                                                           \
        const char *got_ = (got), *want_ = (want);                                                 \
        cr_assert(got_ != NULL && strcmp(got_, want_) == 0, "%s: \"%s\", want \"%s\"", #got,       \
                  got_ != NULL ? got_ : "(none)", want_);                                          \
    } while (0)

static void send_str(struct httpc *h, const char *s)
{
    cr_assert(eq(int, httpc_send_str(h, s), 0));
}

static void read_status(struct httpc *h, int status)
{
    int rv = httpc_read(h, &resp, IO_MS);
    cr_assert(eq(int, rv, 0), "no response: %s", strerror(-rv));
    cr_assert(eq(int, resp.status, status), "status %d, body %s", resp.status, resp.body);
}

/* The owner id of |key| as node |i| sees it ("n0".."n2"), via the local API. */
static void owner_of(int i, const char *key, char *out, size_t cap)
{
    struct ringc *c = cluster_connect(i);
    const msgpack_object *res;
    int rv = ringc_call(c, &res, 2000, "lookup", "s", key);
    cr_assert(eq(int, rv, 0), "lookup failed");
    const msgpack_object *id = ringc_get(res, "id");
    cr_assert(ne(ptr, (void *)id, NULL));
    cr_assert(eq(int, id->type, MSGPACK_OBJECT_STR));
    snprintf(out, cap, "%.*s", (int)id->via.str.size, id->via.str.ptr);
    ringc_close(c);
}

/* The app behind node "n<i>" is "app<i>". */
static void expect_app_of(const char *owner)
{
    const char *app = httpc_header(&resp, "X-App-Id");
    const char *by = httpc_header(&resp, "X-Ring-Owner");
    cr_assert(ne(ptr, (void *)app, NULL), "no X-App-Id");
    cr_assert(ne(ptr, (void *)by, NULL), "no X-Ring-Owner");
    EXPECT_STR(by, owner);
    cr_assert(eq(int, app[3], owner[1]), "owner %s answered by %s", owner, app);
}

/* A key that node |via| sees owned by node |owner|, written into |key|. */
static void key_owned_by(int via, int owner, char *key, size_t cap)
{
    char want[8], got[32];
    snprintf(want, sizeof(want), "n%d", owner);
    for (int k = 0; k < 1000; k++) {
        snprintf(key, cap, "key-%d-%d", owner, k);
        owner_of(via, key, got, sizeof(got));
        if (strcmp(got, want) == 0) {
            return;
        }
    }
    cr_fatal("no key owned by %s in 1000 tries", want);
}

Test(proxy, thousand_random_keys_land_on_the_owners_app)
{
    start_proxies(NULL);
    struct httpc *h[NODES];
    for (int i = 0; i < NODES; i++) {
        h[i] = connect_proxy(i);
    }
    srand(7);
    int forwarded = 0;
    for (int r = 0; r < 1000; r++) {
        char key[32], owner[32], req[256];
        snprintf(key, sizeof(key), "user-%d", rand());
        int via = r % NODES;
        owner_of(via, key, owner, sizeof(owner));
        snprintf(req, sizeof(req), "GET /r%d HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", r,
                 key);
        send_str(h[via], req);
        read_status(h[via], 200);
        expect_app_of(owner);
        EXPECT_STR(httpc_header(&resp, "X-Echo-Key"), key);
        forwarded += owner[1] - '0' != via;
    }
    /* with 3 nodes about 2/3 go through a forward hop */
    cr_assert(gt(int, forwarded, 500), "only %d of 1000 forwarded", forwarded);
    for (int i = 0; i < NODES; i++) {
        httpc_close(h[i]);
    }
}

Test(proxy, keep_alive_and_pipelining_answer_in_order_across_a_hop)
{
    start_proxies(NULL);
    char remote[32], local[32];
    key_owned_by(0, 1, remote, sizeof(remote));
    key_owned_by(0, 0, local, sizeof(local));
    struct httpc *h = connect_proxy(0);
    char req[2048] = "";
    for (int r = 0; r < 6; r++) {
        char one[256];
        /* alternate remote and local keys, with a slow one first: answers must stay in order */
        snprintf(
            one, sizeof(one),
            "POST /echo HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\nContent-Length: 2\r\n\r\n%02d",
            r % 2 == 0 ? remote : local, r);
        strcat(req, one);
    }
    send_str(h, req);
    for (int r = 0; r < 6; r++) {
        read_status(h, 200);
        char want[4];
        snprintf(want, sizeof(want), "%02d", r);
        EXPECT_STR(resp.body, want);
        expect_app_of(r % 2 == 0 ? "n1" : "n0");
        cr_assert(resp.keep_alive);
    }
    /* the connection stays usable */
    send_str(h, "GET /again HTTP/1.1\r\nHost: t\r\nX-Ring-Key: x\r\n\r\n");
    read_status(h, 200);
    httpc_close(h);
}

Test(proxy, chunked_request_and_response_through_a_hop)
{
    start_proxies(NULL);
    char key[32];
    key_owned_by(2, 0, key, sizeof(key));
    struct httpc *h = connect_proxy(2);
    char req[512];
    snprintf(
        req, sizeof(req),
        "POST /echo HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
        key);
    send_str(h, req);
    read_status(h, 200);
    EXPECT_STR(resp.body, "hello, world");
    cr_assert(resp.chunked, "an echo of unknown length goes back chunked");
    expect_app_of("n0");
    snprintf(req, sizeof(req),
             "GET /gen?bytes=300000&chunked=1 HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", key);
    send_str(h, req);
    read_status(h, 200);
    cr_assert(eq(u64, resp.body_bytes, 300000));
    cr_assert(resp.chunked);
    for (size_t i = 0; i < resp.body_len; i++) {
        cr_assert(eq(int, (unsigned char)resp.body[i], (int)(i % 251)), "byte %zu", i);
    }
    httpc_close(h);
}

Test(proxy, expect_100_continue_and_http10)
{
    start_proxies(NULL);
    char key[32];
    key_owned_by(0, 2, key, sizeof(key));
    struct httpc *h = connect_proxy(0);
    char req[512];
    snprintf(req, sizeof(req),
             "PUT /echo HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\nExpect: 100-continue\r\n"
             "Content-Length: 4\r\n\r\n",
             key);
    send_str(h, req);
    read_status(h, 100); /* the app's interim answer, through two ringd's */
    send_str(h, "body");
    read_status(h, 200);
    EXPECT_STR(resp.body, "body");
    httpc_close(h);

    h = connect_proxy(0);
    snprintf(req, sizeof(req), "GET /x HTTP/1.0\r\nX-Ring-Key: %s\r\n\r\n", key);
    send_str(h, req);
    read_status(h, 200);
    EXPECT_STR(resp.body, "app2\n");
    cr_assert(eq(int, httpc_wait_eof(h, IO_MS), 0), "an HTTP/1.0 exchange ends the connection");
    httpc_close(h);
}

/* Peak resident memory of node |i| in kB (VmHWM). */
static long peak_rss_kb(int i)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)cl.pids[i]);
    FILE *f = fopen(path, "r");
    cr_assert(ne(ptr, f, NULL));
    long kb = -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
        }
    }
    fclose(f);
    return kb;
}

Test(proxy, hundred_megabyte_upload_through_a_hop_in_bounded_memory)
{
    start_proxies(NULL);
    char key[32];
    key_owned_by(0, 1, key, sizeof(key));
    long before0 = peak_rss_kb(0), before1 = peak_rss_kb(1);
    const size_t total = 100u << 20;
    struct httpc *h = connect_proxy(0);
    char req[256];
    snprintf(req, sizeof(req),
             "POST /sink HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\nContent-Length: %zu\r\n\r\n", key,
             total);
    send_str(h, req);
    static char chunk[1 << 16];
    XXH64_state_t *st = XXH64_createState();
    XXH64_reset(st, 0);
    for (size_t sent = 0; sent < total; sent += sizeof(chunk)) {
        for (size_t k = 0; k < sizeof(chunk); k++) {
            chunk[k] = (char)((sent + k) * 2654435761u >> 24);
        }
        XXH64_update(st, chunk, sizeof(chunk));
        cr_assert(eq(int, httpc_send(h, chunk, sizeof(chunk)), 0), "send failed at %zu", sent);
    }
    read_status(h, 200);
    char want[96];
    snprintf(want, sizeof(want), "{\"bytes\":%zu,\"xxh64\":\"%016llx\"}", total,
             (unsigned long long)XXH64_digest(st));
    XXH64_freeState(st);
    EXPECT_STR(resp.body, want);
    long grew0 = peak_rss_kb(0) - before0, grew1 = peak_rss_kb(1) - before1;
    fprintf(stderr, "proxy: 100 MB through a hop: peak RSS grew %ld kB (sender), %ld kB (owner)\n",
            grew0, grew1);
    /* a few 256 KB windows and 64 KB buffers, never the body. Not under AddressSanitizer:
     * its quarantine keeps up to 256 MB of freed memory resident by design. */
#if !defined(__SANITIZE_ADDRESS__)
    cr_assert(lt(long, grew0, 16 * 1024));
    cr_assert(lt(long, grew1, 16 * 1024));
#endif
    httpc_close(h);
}

/* Sends GET /count?id=ID with |key| through |h| and returns the count the app reports. */
static int count_of(struct httpc *h, const char *key, const char *id)
{
    char req[256];
    snprintf(req, sizeof(req), "GET /count?id=%s HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", id,
             key);
    send_str(h, req);
    read_status(h, 200);
    return atoi(resp.body);
}

Test(proxy, owner_killed_idempotent_requests_reroute_posts_get_502)
{
    /* fast failure detection: the functional cluster probes every 100 ms */
    start_proxies(NULL);
    char key[32];
    key_owned_by(0, 2, key, sizeof(key));
    struct httpc *h = connect_proxy(0);
    char req[256];
    snprintf(req, sizeof(req), "GET /sleep?ms=3000 HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n",
             key);
    send_str(h, req);
    struct httpc *p = connect_proxy(0);
    snprintf(req, sizeof(req),
             "POST /sleep?ms=3000 HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\nX-Request-Id: post-1\r\n"
             "Content-Length: 1\r\n\r\nx",
             key);
    send_str(p, req);
    cluster_sleep_ms(300); /* both are in node 2's app now */
    cluster_signal(2, SIGKILL);
    testapp_stop(&apps[2]);
    /* the GET is retried on the key's next owner once the ring drops node 2 */
    read_status(h, 200);
    const char *app = httpc_header(&resp, "X-App-Id");
    cr_assert(app != NULL && strcmp(app, "app2") != 0, "answered by %s", app);
    /* the POST may have reached node 2's app: 502, never a second delivery */
    read_status(p, 502);
    EXPECT_STR(httpc_header(&resp, "X-Ring-Error"), "owner_unreachable");
    char owner[32];
    owner_of(0, key, owner, sizeof(owner));
    cr_assert(eq(int, count_of(p, key, "post-1"), 0), "the POST reached %s too", owner);
    /* a stream of idempotent requests keeps succeeding */
    for (int r = 0; r < 50; r++) {
        snprintf(req, sizeof(req), "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", key);
        send_str(h, req);
        read_status(h, 200);
    }
    httpc_close(h);
    httpc_close(p);
}

/* Node |i| sees member |id| alive at |addr|. */
struct seen_at {
    int i;
    const char *id, *addr;
};

static int sees_at(void *arg)
{
    const struct seen_at *w = arg;
    struct ringc *c = cluster_connect(w->i);
    const msgpack_object *res;
    int found = 0;
    if (ringc_call(c, &res, 2000, "members", "") == 0) {
        const msgpack_object *list = ringc_get(res, "members");
        for (uint32_t k = 0; list != NULL && k < list->via.array.size; k++) {
            char id[64], status[16], addr[64];
            ringc_get_str(&list->via.array.ptr[k], "id", id, sizeof(id));
            ringc_get_str(&list->via.array.ptr[k], "status", status, sizeof(status));
            ringc_get_str(&list->via.array.ptr[k], "address", addr, sizeof(addr));
            found |= strcmp(id, w->id) == 0 && strcmp(status, "alive") == 0 &&
                     strcmp(addr, w->addr) == 0;
        }
    }
    ringc_close(c);
    return found;
}

/* What a rescheduled StatefulSet pod does: the member is killed and comes back at once with
 * the same id at a new IP, before anyone declared it faulty. Its keys must reach it at the
 * new address, through every node's proxy and in every lookup answer. */
Test(proxy, an_owner_back_at_a_new_ip_gets_its_requests)
{
    start_proxies(NULL);
    char key[32];
    key_owned_by(0, 2, key, sizeof(key));
    /* Incarnations start at the start time in seconds: the new life starts in a later second,
     * as a real reschedule (scheduling, image pull) does. */
    cluster_sleep_ms(1100);
    cluster_signal(2, SIGKILL);
    cr_assert(ne(int, cluster_wait_exit(2, 5000), -1));
    char bind[48];
    snprintf(bind, sizeof(bind), "127.0.0.2:%d", cluster_gossip_port(2));
    const char *const moved[] = { "--bind", bind, NULL };
    proxy_flags(2, moved);
    cluster_start_node(2, 0);
    struct seen_at w0 = { 0, "n2", bind }, w1 = { 1, "n2", bind };
    cr_assert(ge(int, cluster_wait(sees_at, &w0, 10000), 0), "node 0 never saw n2 at %s", bind);
    cr_assert(ge(int, cluster_wait(sees_at, &w1, 10000), 0), "node 1 never saw n2 at %s", bind);
    for (int via = 0; via < NODES; via++) {
        struct ringc *c = cluster_connect(via);
        const msgpack_object *res;
        char addr[64];
        cr_assert(eq(int, ringc_call(c, &res, 2000, "lookup", "s", key), 0));
        ringc_get_str(res, "address", addr, sizeof(addr));
        EXPECT_STR(addr, bind);
        ringc_close(c);
        struct httpc *h = connect_proxy(via);
        for (int r = 0; r < 20; r++) {
            char req[256];
            snprintf(req, sizeof(req), "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", key);
            send_str(h, req);
            read_status(h, 200);
            expect_app_of("n2");
        }
        httpc_close(h);
    }
}

Test(proxy, app_down_gives_502_with_a_body)
{
    start_proxies(NULL);
    char key[32];
    key_owned_by(1, 1, key, sizeof(key));
    testapp_stop(&apps[1]);
    for (int via = 0; via < 2; via++) {
        struct httpc *h = connect_proxy(via);
        char req[256];
        snprintf(req, sizeof(req), "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", key);
        send_str(h, req);
        read_status(h, 502);
        EXPECT_STR(httpc_header(&resp, "X-Ring-Error"), "app_failed");
        cr_assert(ne(ptr, strstr(resp.body, "app"), NULL), "body: %s", resp.body);
        httpc_close(h);
    }
}

Test(proxy, ring_disagreement_stops_at_the_hop_limit)
{
    /* Different --vnodes make each node build a different ring from the same members: a real
     * key-ownership disagreement, without a partition. */
    start_apps();
    const char *const v0[] = { "--vnodes", "1024", NULL };
    const char *const v1[] = { "--vnodes", "16", NULL };
    const char *const v2[] = { "--vnodes", "64", NULL };
    const char *const *v[NODES] = { v0, v1, v2 };
    for (int i = 0; i < NODES; i++) {
        proxy_flags(i, v[i]);
    }
    cluster_start(NODES);
    cluster_sleep_ms(1500);
    /* find a key node 0 gives to node 1, node 1 to node 2, and node 2 to someone else */
    char key[32] = "", o0[32], o1[32], o2[32];
    int found = 0;
    for (int k = 0; k < 5000 && !found; k++) {
        snprintf(key, sizeof(key), "dis-%d", k);
        owner_of(0, key, o0, sizeof(o0));
        if (strcmp(o0, "n1") != 0) {
            continue;
        }
        owner_of(1, key, o1, sizeof(o1));
        if (strcmp(o1, "n2") != 0) {
            continue;
        }
        owner_of(2, key, o2, sizeof(o2));
        found = strcmp(o2, "n2") != 0;
    }
    cr_assert(found, "no key with a three-way disagreement");
    struct httpc *h = connect_proxy(0);
    char req[256];
    snprintf(req, sizeof(req), "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", key);
    send_str(h, req);
    /* node 0 retries while the rings may settle (100 ms, doubling, 5 times), then gives up */
    read_status(h, 503);
    EXPECT_STR(httpc_header(&resp, "X-Ring-Error"), "hop_limit");
    httpc_close(h);
    char out[16384], cmd[256], sock[128];
    snprintf(cmd, sizeof(cmd), "%s --socket %s --json stats", RINGCTL_BIN,
             cluster_socket(1, sock, sizeof(sock)));
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0));
    /* node 1 passed each attempt on once, and only once: no loop */
    cr_assert(ne(ptr, strstr(out, "\"reforwards\":6"), NULL), "%s", out);
}

Test(proxy, garbage_gets_400_and_a_close_others_unaffected)
{
    start_proxies(NULL);
    struct httpc *good = connect_proxy(0);
    send_str(good, "GET /a HTTP/1.1\r\nHost: t\r\nX-Ring-Key: a\r\n\r\n");
    read_status(good, 200);
    struct httpc *bad = connect_proxy(0);
    send_str(bad, "\x16\x03\x01 this is not http\r\n\r\n");
    read_status(bad, 400);
    cr_assert(eq(int, httpc_wait_eof(bad, IO_MS), 0), "the bad connection stays open");
    httpc_close(bad);
    bad = connect_proxy(0);
    send_str(bad, "GET /nokey HTTP/1.1\r\nHost: t\r\n\r\n");
    read_status(bad, 400);
    EXPECT_STR(httpc_header(&resp, "X-Ring-Error"), "no_key");
    httpc_close(bad);
    bad = connect_proxy(0);
    static char big[40000];
    memset(big, 'a', sizeof(big) - 1);
    char head[64];
    snprintf(head, sizeof(head), "GET /x HTTP/1.1\r\nX-Ring-Key: a\r\nX-Big: ");
    send_str(bad, head);
    send_str(bad, big);
    read_status(bad, 431);
    httpc_close(bad);
    send_str(good, "GET /b HTTP/1.1\r\nHost: t\r\nX-Ring-Key: b\r\n\r\n");
    read_status(good, 200);
    httpc_close(good);
}

Test(proxy, limits_and_timeouts_answer_413_and_504)
{
    const char *const extra[] = { "--max-body", "1K", "--request-timeout", "500ms", NULL };
    start_proxies(extra);
    char key[32];
    key_owned_by(0, 1, key, sizeof(key));
    struct httpc *h = connect_proxy(0);
    char req[256];
    snprintf(req, sizeof(req),
             "POST /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\nContent-Length: 5000\r\n\r\n", key);
    send_str(h, req);
    read_status(h, 413);
    httpc_close(h);
    h = connect_proxy(0);
    snprintf(req, sizeof(req), "GET /sleep?ms=2000 HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n",
             key);
    send_str(h, req);
    read_status(h, 504);
    EXPECT_STR(httpc_header(&resp, "X-Ring-Error"), "timeout");
    httpc_close(h);
}

Test(proxy, stats_count_local_and_forwarded_requests)
{
    start_proxies(NULL);
    char local[32], remote[32];
    key_owned_by(0, 0, local, sizeof(local));
    key_owned_by(0, 1, remote, sizeof(remote));
    struct httpc *h = connect_proxy(0);
    char req[256];
    for (int r = 0; r < 10; r++) {
        snprintf(req, sizeof(req), "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n",
                 r < 4 ? local : remote);
        send_str(h, req);
        read_status(h, 200);
    }
    httpc_close(h);
    char out[16384];
    char cmd[256], sock[128];
    snprintf(cmd, sizeof(cmd), "%s --socket %s --json stats", RINGCTL_BIN,
             cluster_socket(0, sock, sizeof(sock)));
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0));
    cr_assert(ne(ptr, strstr(out, "\"local\":4"), NULL), "%s", out);
    cr_assert(ne(ptr, strstr(out, "\"forward\":6"), NULL), "%s", out);
}

Test(proxy, forwarding_is_sealed_when_the_cluster_encrypts)
{
    for (int i = 0; i < NODES; i++) {
        snprintf(cl.keyfile[i], sizeof(cl.keyfile[i]), "%s/keys-n%d", cl.dir, i);
        FILE *f = fopen(cl.keyfile[i], "w");
        cr_assert(ne(ptr, f, NULL));
        fputs("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n", f);
        fclose(f);
    }
    start_proxies(NULL);
    char key[32];
    key_owned_by(0, 2, key, sizeof(key));
    struct httpc *h = connect_proxy(0);
    char req[256];
    snprintf(req, sizeof(req),
             "POST /echo HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\nContent-Length: 6\r\n\r\nsealed",
             key);
    send_str(h, req);
    read_status(h, 200);
    EXPECT_STR(resp.body, "sealed");
    expect_app_of("n2");
    httpc_close(h);
    /* every forwarding frame was sealed and opened: nothing failed authentication */
    char body[65536];
    cr_assert(eq(
        int, cluster_http(2, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", body, sizeof(body)), 200));
    cr_assert(ne(ptr, strstr(body, "ringd_auth_failures_total 0"), NULL));
    cr_assert(ne(ptr, strstr(body, "ringd_proxy_requests_total{path=\"peer\"} 1"), NULL), "%s",
              body);
}

/* ---- header hygiene: what a client or an app sends must not pass as ringd's own ---------- */

/* How many times header |name| (any case) is in |r|. */
static int header_count(const struct httpc_resp *r, const char *name)
{
    int n = 0;
    for (int i = 0; i < r->headers; i++) {
        n += strcasecmp(r->head + r->name_off[i], name) == 0;
    }
    return n;
}

/* 1 if |text| contains |word| in any case. */
static int contains_ci(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = text; *p != '\0'; p++) {
        if (strncasecmp(p, word, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* How many requests with X-Request-Id: |id| app |i| has seen, asked of the app itself. */
static unsigned long app_count(int i, const char *id)
{
    struct httpc *h = httpc_connect(apps[i].port);
    cr_assert(ne(ptr, h, NULL), "cannot connect to app %d", i);
    char req[256];
    snprintf(req, sizeof(req), "GET /count?id=%s HTTP/1.1\r\nHost: t\r\n\r\n", id);
    send_str(h, req);
    read_status(h, 200);
    httpc_close(h);
    return strtoul(resp.body, NULL, 10);
}

/* The value of the unlabelled counter |name| in node |i|'s /metrics. */
static uint64_t metric(int i, const char *name)
{
    static char body[1 << 16];
    cr_assert(eq(
        int, cluster_http(i, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", body, sizeof(body)), 200));
    char want[128];
    snprintf(want, sizeof(want), "\n%s ", name);
    const char *at = strstr(body, want);
    cr_assert(ne(ptr, (void *)at, NULL), "no %s in /metrics", name);
    return strtoull(at + strlen(want), NULL, 10);
}

/* Sends the |len| bytes of |raw| on a new connection to node |via|'s proxy; the answer must be
 * 400 bad_request with a body containing |why|, and the connection must close. */
static void expect_400(int via, const char *raw, size_t len, const char *why)
{
    struct httpc *h = connect_proxy(via);
    cr_assert(eq(int, httpc_send(h, raw, len), 0));
    read_status(h, 400);
    EXPECT_STR(httpc_header(&resp, "X-Ring-Error"), "bad_request");
    cr_assert(ne(ptr, strstr(resp.body, why), NULL), "body \"%s\", want \"%s\" in it", resp.body,
              why);
    cr_assert(eq(int, httpc_wait_eof(h, IO_MS), 0), "the connection stays open after a 400");
    httpc_close(h);
}

Test(proxy, two_key_headers_get_400_and_reach_no_app)
{
    start_proxies(NULL);
    char local[32], remote[32];
    key_owned_by(0, 0, local, sizeof(local));
    key_owned_by(0, 1, remote, sizeof(remote));
    const char *const pairs[][2] = { { local, remote }, { remote, local }, { remote, remote } };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        char req[512];
        int n = snprintf(req, sizeof(req),
                         "POST /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\nX-Request-Id: dup\r\n"
                         "x-ring-key: %s\r\nContent-Length: 1\r\n\r\nx",
                         pairs[i][0], pairs[i][1]);
        expect_400(0, req, (size_t)n, "X-Ring-Key");
    }
    for (int i = 0; i < NODES; i++) {
        cr_assert(eq(ulong, app_count(i, "dup"), 0ul), "app%d got a request with two keys", i);
    }
}

Test(proxy, client_ring_headers_never_reach_the_app)
{
    start_proxies(NULL);
    for (int owner = 0; owner < 2; owner++) {
        char key[32], want[64], req[512];
        key_owned_by(0, owner, key, sizeof(key));
        snprintf(req, sizeof(req),
                 "GET /headers HTTP/1.1\r\nHost: t\r\nX-Ring-Owner: evil\r\nX-Ring-Key: %s\r\n"
                 "x-ring-error: no_owner\r\nX-RING-OWNER: evil-too\r\nX-Ring-Idempotent: 1\r\n\r\n",
                 key);
        struct httpc *h = connect_proxy(0);
        send_str(h, req);
        read_status(h, 200);
        httpc_close(h);
        snprintf(want, sizeof(want), "n%d", owner);
        expect_app_of(want);
        cr_assert(eq(int, header_count(&resp, "X-Ring-Owner"), 1));
        cr_assert(eq(int, header_count(&resp, "X-Ring-Error"), 0));
        /* the app saw the key and the client's own headers, but none of ringd's */
        snprintf(want, sizeof(want), "X-Ring-Key: %s\n", key);
        cr_assert(ne(ptr, strstr(resp.body, want), NULL), "the app saw:\n%s", resp.body);
        cr_assert(ne(ptr, strstr(resp.body, "X-Ring-Idempotent: 1\n"), NULL), "%s", resp.body);
        cr_assert(not(contains_ci(resp.body, "X-Ring-Owner")), "%s", resp.body);
        cr_assert(not(contains_ci(resp.body, "X-Ring-Error")), "%s", resp.body);
    }
}

Test(proxy, app_ring_headers_do_not_pass_as_ringd_own)
{
    start_proxies(NULL);
    for (int owner = 0; owner < 2; owner++) {
        char key[32], want[8], id[16], req[512];
        key_owned_by(0, owner, key, sizeof(key));
        snprintf(id, sizeof(id), "forge-%d", owner);
        /* a POST: were the app's "X-Ring-Error: no_owner" taken for a ringd's refusal, the
         * forwarding node would send it again */
        snprintf(req, sizeof(req),
                 "POST /forge HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\nX-Request-Id: %s\r\n"
                 "Content-Length: 1\r\n\r\nx",
                 key, id);
        struct httpc *h = connect_proxy(0);
        send_str(h, req);
        read_status(h, 503);
        httpc_close(h);
        EXPECT_STR(resp.body, "forged\n");
        snprintf(want, sizeof(want), "n%d", owner);
        cr_assert(eq(int, header_count(&resp, "X-Ring-Owner"), 1), "X-Ring-Owner %d times",
                  header_count(&resp, "X-Ring-Owner"));
        EXPECT_STR(httpc_header(&resp, "X-Ring-Owner"), want);
        cr_assert(eq(ptr, (void *)httpc_header(&resp, "X-Ring-Error"), NULL),
                  "the app's X-Ring-Error passed as ringd's: %s",
                  httpc_header(&resp, "X-Ring-Error"));
        cr_assert(eq(ulong, app_count(owner, id), 1ul), "the POST reached app%d %lu times", owner,
                  app_count(owner, id));
    }
}

Test(proxy, connection_naming_the_key_header_still_routes_and_forwards_it)
{
    start_proxies(NULL);
    static const char *const conn[] = { "X-Ring-Key", "keep-alive, x-ring-key" };
    for (int owner = 0; owner < 2; owner++) {
        for (size_t c = 0; c < sizeof(conn) / sizeof(conn[0]); c++) {
            char key[32], want[8], req[512];
            key_owned_by(0, owner, key, sizeof(key));
            snprintf(req, sizeof(req),
                     "GET /x HTTP/1.1\r\nHost: t\r\nConnection: %s\r\nX-Ring-Key: %s\r\n\r\n",
                     conn[c], key);
            struct httpc *h = connect_proxy(0);
            send_str(h, req);
            read_status(h, 200);
            httpc_close(h);
            snprintf(want, sizeof(want), "n%d", owner);
            expect_app_of(want);
            /* the key goes on to the owner's ringd, which routes on it too, and to the app */
            EXPECT_STR(httpc_header(&resp, "X-Echo-Key"), key);
        }
    }
}

Test(proxy, bare_lf_bare_cr_nul_and_obs_fold_in_a_head_get_400)
{
    start_proxies(NULL);
    /* Each would smuggle "X-Request-Id: inj" past a front end that reads lines as RFC 9112
     * says; '@' stands for a NUL byte. */
    static const struct {
        const char *fmt;
        const char *why;
    } bad[] = {
        { "GET /x HTTP/1.1\r\nHost: t\r\nX-A: a\nX-Request-Id: inj\r\nX-Ring-Key: %s\r\n\r\n",
          "bare LF" },
        { "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\nX-Request-Id: inj\r\n\r\n", "bare LF" },
        { "GET /x HTTP/1.1\nHost: t\nX-Ring-Key: %s\nX-Request-Id: inj\n\n", "bare LF" },
        { "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\nX-Request-Id: inj\r\n\n", "bare LF" },
        { "GET /x HTTP/1.1\r\nHost: t\r\nX-A: a\rX-Request-Id: inj\r\nX-Ring-Key: %s\r\n\r\n",
          "bare CR" },
        { "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\nX-Request-Id: inj\r\n\r\r\n",
          "bare CR" },
        { "GET /x HTTP/1.1\r\nHost: t\r\nX-A: a@b\r\nX-Request-Id: inj\r\nX-Ring-Key: %s\r\n\r\n",
          "NUL" },
        { "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\nX-A: a\r\n X-Request-Id: inj\r\n\r\n",
          "obs-fold" },
        { "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\nX-A: a\r\n\tX-Request-Id: inj\r\n\r\n",
          "obs-fold" },
        /* http_parser does not check the letters of "HTTP/": it reads "H\r\n\r\n" as them and
         * goes on reading headers after what is a blank line to everyone else (fuzz_http) */
        { "GET /x H\r\n\r\n1.1\r\nX-Ring-Key: %s\r\nX-A: a\nX-Request-Id: inj\r\n\r\n",
          "malformed request line" },
    };
    for (int owner = 0; owner < 2; owner++) {
        char key[32];
        key_owned_by(0, owner, key, sizeof(key));
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            char req[512];
            int n = snprintf(req, sizeof(req), bad[i].fmt, key);
            for (int k = 0; k < n; k++) {
                req[k] = req[k] == '@' ? '\0' : req[k];
            }
            expect_400(0, req, (size_t)n, bad[i].why);
        }
        /* the same, pipelined after a good request on one connection: the good one is
         * answered, the bad one refused */
        char req[1024];
        int n = snprintf(req, sizeof(req),
                         "GET /ok HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n"
                         "GET /x HTTP/1.1\r\nX-Ring-Key: %s\r\nX-A: a\nX-Request-Id: inj\r\n\r\n",
                         key, key);
        struct httpc *h = connect_proxy(0);
        cr_assert(eq(int, httpc_send(h, req, (size_t)n), 0));
        read_status(h, 200);
        read_status(h, 400);
        cr_assert(ne(ptr, strstr(resp.body, "bare LF"), NULL), "%s", resp.body);
        httpc_close(h);
    }
    for (int i = 0; i < NODES; i++) {
        cr_assert(eq(ulong, app_count(i, "inj"), 0ul), "a smuggled header reached app%d", i);
    }
}

Test(proxy, app_response_head_with_a_bare_lf_gets_502)
{
    start_proxies(NULL);
    for (int owner = 0; owner < 2; owner++) {
        char key[32], req[256];
        key_owned_by(0, owner, key, sizeof(key));
        snprintf(req, sizeof(req), "GET /badhead HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n",
                 key);
        struct httpc *h = connect_proxy(0);
        send_str(h, req);
        read_status(h, 502);
        /* made by the owner's ringd, passed on by node 0 when it forwarded */
        EXPECT_STR(httpc_header(&resp, "X-Ring-Error"), "app_failed");
        cr_assert(ne(ptr, strstr(resp.body, "bare LF"), NULL), "%s", resp.body);
        cr_assert(eq(int, header_count(&resp, "X-Ring-Owner"), 0));
        /* the connection goes on */
        snprintf(req, sizeof(req), "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", key);
        send_str(h, req);
        read_status(h, 200);
        httpc_close(h);
    }
}

Test(proxy, unsolicited_app_response_is_not_given_to_the_next_client)
{
    start_proxies(NULL);
    for (int owner = 0; owner < 2; owner++) {
        char key[32], req[1024], app[8], name[8];
        key_owned_by(0, owner, key, sizeof(key));
        snprintf(app, sizeof(app), "app%d", owner);
        snprintf(name, sizeof(name), "app%d\n", owner);
        uint64_t before = metric(owner, "ringd_proxy_app_unsolicited_total");
        /* in the same write as the answer, with the next request pipelined behind; then a
         * larger one than a read takes at once, whose tail would land on the next request */
        static const char *const extra[] = { "ms=0", "ms=0&bytes=300000" };
        for (size_t e = 0; e < sizeof(extra) / sizeof(extra[0]); e++) {
            snprintf(req, sizeof(req),
                     "GET /extra?%s HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n"
                     "GET /next HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n",
                     extra[e], key, key);
            struct httpc *h = connect_proxy(0);
            send_str(h, req);
            read_status(h, 200);
            EXPECT_STR(resp.body, name);
            read_status(h, 200);
            EXPECT_STR(resp.body, name);
            EXPECT_STR(httpc_header(&resp, "X-App-Id"), app);
            httpc_close(h);
        }
        /* while the app connection is idle */
        snprintf(req, sizeof(req),
                 "GET /extra?ms=100 HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", key);
        struct httpc *h = connect_proxy(0);
        send_str(h, req);
        read_status(h, 200);
        EXPECT_STR(resp.body, name);
        cluster_sleep_ms(300);
        snprintf(req, sizeof(req), "GET /next HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", key);
        send_str(h, req);
        read_status(h, 200);
        EXPECT_STR(resp.body, name);
        httpc_close(h);
        /* the owner's ringd closed each of those app connections and counted it */
        cr_assert(eq(u64, metric(owner, "ringd_proxy_app_unsolicited_total") - before, 3));
    }
}

Test(proxy, reforwarded_answer_names_the_owner_that_served_it)
{
    /* As in ring_disagreement_stops_at_the_hop_limit: node 0 gives the key to node 1, node 1
     * to node 2, and node 2 keeps it. Node 1 passes on node 2's answer, which names node 2. */
    start_apps();
    const char *const v0[] = { "--vnodes", "1024", NULL };
    const char *const v1[] = { "--vnodes", "16", NULL };
    const char *const v2[] = { "--vnodes", "64", NULL };
    const char *const *v[NODES] = { v0, v1, v2 };
    for (int i = 0; i < NODES; i++) {
        proxy_flags(i, v[i]);
    }
    cluster_start(NODES);
    cluster_sleep_ms(1500); /* the rings differ by design: their checksums never agree */
    char key[32] = "", o[32];
    int found = 0;
    for (int k = 0; k < 5000 && !found; k++) {
        snprintf(key, sizeof(key), "re-%d", k);
        owner_of(0, key, o, sizeof(o));
        if (strcmp(o, "n1") != 0) {
            continue;
        }
        owner_of(1, key, o, sizeof(o));
        if (strcmp(o, "n2") != 0) {
            continue;
        }
        owner_of(2, key, o, sizeof(o));
        found = strcmp(o, "n2") == 0;
    }
    cr_assert(found, "no key node 1 passes on to node 2");
    struct httpc *h = connect_proxy(0);
    char req[256];
    snprintf(req, sizeof(req), "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", key);
    send_str(h, req);
    read_status(h, 200);
    expect_app_of("n2");
    cr_assert(eq(int, header_count(&resp, "X-Ring-Owner"), 1));
    httpc_close(h);
}
