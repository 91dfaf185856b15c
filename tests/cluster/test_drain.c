/*
 * Draining: a node gives its keys away at once (every node leaves it out of the ring when it
 * hears the draining record) while it stays a member that forwards what reaches it and
 * finishes what it serves; SIGTERM drains before it leaves. An app that fails its health
 * check drains its node, and takes the keys back after the hold-down. The other nodes'
 * /readyz never leaves 200 meanwhile.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "httpc.h"
#include "testapp.h"

#define NODES 3
#define KEYS  300
#define IO_MS 10000

static struct testapp apps[NODES];
static struct httpc_resp resp; /* large: not on the stack */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Node |i| runs a proxy in front of app |i|, with |extra| flags (NULL-ended, may be NULL). */
static void node_flags(int i, const char *const *extra)
{
    cluster_proxy_flags(i, testapp_port(i), extra);
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

TestSuite(drain, .init = setup, .fini = teardown, .timeout = 90);

/* The status of |request| on node |i|'s admin port with its body in |body| (thread-safe,
 * unlike cluster_http's shared buffer); -1 for no answer within |timeout_s|. */
static int admin_call(int i, const char *request, char *body, size_t cap, int timeout_s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(cluster_admin_port(i)) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    struct timeval tv = { .tv_sec = timeout_s };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    size_t len = 0;
    ssize_t n = write(fd, request, strlen(request));
    while (n > 0 && len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    int status = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        return -1;
    }
    const char *b = strstr(buf, "\r\n\r\n");
    snprintf(body, cap, "%s", b != NULL ? b + 4 : "");
    return status;
}

/* A thread that asks /readyz of nodes 0 and 1 every 10 ms and counts what is not 200. */
struct watcher {
    pthread_t t;
    atomic_int stop;
    int asked, unready;
};

static void *watch_ready(void *arg)
{
    struct watcher *w = arg;
    char body[256];
    while (!atomic_load(&w->stop)) {
        for (int i = 0; i < 2; i++) {
            w->unready +=
                admin_call(i, "GET /readyz HTTP/1.0\r\n\r\n", body, sizeof(body), 3) != 200;
            w->asked++;
        }
        cluster_sleep_ms(10);
    }
    return NULL;
}

static void watch_start(struct watcher *w)
{
    memset(w, 0, sizeof(*w));
    cr_assert(eq(int, pthread_create(&w->t, NULL, watch_ready, w), 0));
}

static void watch_stop(struct watcher *w)
{
    atomic_store(&w->stop, 1);
    pthread_join(w->t, NULL);
}

/* Node |i|'s owner of every test key ("n0".."n2"), via lookup on its local API. */
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

static int owned_by(char (*own)[8], const char *id)
{
    int n = 0;
    for (int k = 0; k < KEYS; k++) {
        n += strcmp(own[k], id) == 0;
    }
    return n;
}

/* Node |i| sees member |id| draining (the members() flag). */
static int sees_draining(int i, const char *id)
{
    struct ringc *c = cluster_connect(i);
    const msgpack_object *res;
    int draining = -1;
    if (ringc_call(c, &res, 2000, "members", "") == 0) {
        const msgpack_object *list = ringc_get(res, "members");
        for (uint32_t k = 0; list != NULL && k < list->via.array.size; k++) {
            char mid[130];
            ringc_get_str(&list->via.array.ptr[k], "id", mid, sizeof(mid));
            const msgpack_object *d = ringc_get(&list->via.array.ptr[k], "draining");
            if (strcmp(mid, id) == 0 && d != NULL && d->type == MSGPACK_OBJECT_BOOLEAN) {
                draining = d->via.boolean;
            }
        }
    }
    ringc_close(c);
    return draining;
}

static int n2_owns_nothing_everywhere(void *arg)
{
    (void)arg;
    static char own[KEYS][8];
    for (int i = 0; i < NODES; i++) {
        owners(i, own);
        if (owned_by(own, "n2") != 0) {
            return 0;
        }
    }
    return 1;
}

static int n2_owns_keys_at_n0(void *arg)
{
    (void)arg;
    static char own[KEYS][8];
    owners(0, own);
    return owned_by(own, "n2") > 0;
}

/* GET / with X-Ring-Key: |key| through node |via|'s proxy; the answer in |resp|. */
static void request_via(int via, const char *key, const char *path)
{
    struct httpc *h = httpc_connect(cluster_proxy_port(via));
    cr_assert(ne(ptr, h, NULL));
    char req[256];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", path, key);
    cr_assert(eq(int, httpc_send_str(h, req), 0));
    int rv = httpc_read(h, &resp, IO_MS);
    httpc_close(h);
    cr_assert(eq(int, rv, 0), "no answer via n%d: %s", via, strerror(-rv));
}

static void start_three(const char *const *extra2)
{
    static const char *const quick_drain[] = { "--drain-timeout", "8s", NULL };
    for (int i = 0; i < NODES; i++) {
        start_app(i);
        node_flags(i, i == 2 && extra2 != NULL ? extra2 : quick_drain);
    }
    cluster_start(NODES);
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)NODES, 10000), 0));
}

Test(drain, moves_every_key_at_once_keeps_forwarding_and_others_stay_ready)
{
    start_three(NULL);
    static char before[KEYS][8], after[KEYS][8];
    owners(0, before);
    int n2_keys = owned_by(before, "n2");
    cr_assert(gt(int, n2_keys, 0));
    struct watcher w;
    watch_start(&w);
    char body[512];
    int64_t t0 = now_ms();
    int st = admin_call(2, "POST /v1/drain?wait=1 HTTP/1.0\r\n\r\n", body, sizeof(body), 10);
    int64_t took = now_ms() - t0;
    cr_assert(eq(int, st, 200), "%s", body);
    cr_assert(ne(ptr, strstr(body, "\"drained\":true"), NULL), "%s", body);
    printf("drain: %d of %d keys moved off n2, drained in %lld ms\n", n2_keys, KEYS,
           (long long)took);
    /* Once drained, every node has left n2 out: the ring agrees and only n2's keys moved. */
    cr_assert(n2_owns_nothing_everywhere(NULL), "a node still routes to n2 after drained");
    for (int i = 0; i < NODES; i++) {
        owners(i, after);
        for (int k = 0; k < KEYS; k++) {
            if (strcmp(before[k], "n2") != 0) {
                cr_assert(eq(str, after[k], before[k]), "node %d moved key-%d too", i, k);
            }
        }
        cr_assert(eq(int, sees_draining(i, "n2"), 1), "node %d", i);
    }
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)NODES, 5000), 0),
              "n2 is a live member: one membership, one ring");
    /* Draining, n2 is not ready, still forwards, and its app gets nothing new. */
    cr_assert(
        eq(int, admin_call(2, "GET /readyz?verbose HTTP/1.0\r\n\r\n", body, sizeof(body), 3), 503));
    cr_assert(ne(ptr, strstr(body, "[-]not_draining"), NULL), "%s", body);
    for (int k = 0; k < KEYS; k++) {
        char key[16];
        snprintf(key, sizeof(key), "key-%d", k);
        if (strcmp(before[k], "n2") == 0) {
            request_via(2, key, "/");
            cr_assert(eq(int, resp.status, 200), "via n2: %d %s", resp.status, resp.body);
            const char *by = httpc_header(&resp, "X-Ring-Owner");
            cr_assert(by != NULL && strcmp(by, "n2") != 0, "served by %s", by ? by : "-");
        }
    }
    /* Cancelled, n2 takes its keys back: the same ones. */
    cr_assert(eq(int,
                 admin_call(2, "POST /v1/drain?cancel=1 HTTP/1.0\r\n\r\n", body, sizeof(body), 3),
                 200));
    cr_assert(ge(int, cluster_wait(n2_owns_keys_at_n0, NULL, 5000), 0));
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)NODES, 5000), 0));
    owners(0, after);
    for (int k = 0; k < KEYS; k++) {
        cr_assert(eq(str, after[k], before[k]), "key-%d", k);
    }
    watch_stop(&w);
    cr_assert(eq(int, w.unready, 0), "%d of %d /readyz answers of n0, n1 were not 200", w.unready,
              w.asked);
}

/* A request that n2's app is serving when n2 gets SIGTERM. */
struct slow {
    pthread_t t;
    const char *key;
    int status;
    char owner[16];
};

static void *slow_request(void *arg)
{
    struct slow *s = arg;
    static struct httpc_resp r;
    struct httpc *h = httpc_connect(cluster_proxy_port(0));
    char req[256];
    snprintf(req, sizeof(req), "GET /sleep?ms=1500 HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n",
             s->key);
    s->status = -1;
    if (h != NULL && httpc_send_str(h, req) == 0 && httpc_read(h, &r, IO_MS) == 0) {
        s->status = r.status;
        const char *by = httpc_header(&r, "X-Ring-Owner");
        snprintf(s->owner, sizeof(s->owner), "%s", by != NULL ? by : "");
    }
    if (h != NULL) {
        httpc_close(h);
    }
    return NULL;
}

Test(drain, sigterm_drains_finishes_in_flight_then_leaves)
{
    start_three(NULL);
    static char own[KEYS][8];
    owners(0, own);
    int k2 = -1;
    for (int k = 0; k < KEYS && k2 < 0; k++) {
        k2 = strcmp(own[k], "n2") == 0 ? k : -1;
    }
    cr_assert(ge(int, k2, 0));
    char key[16];
    snprintf(key, sizeof(key), "key-%d", k2);
    struct watcher w;
    watch_start(&w);
    struct slow s = { .key = key };
    cr_assert(eq(int, pthread_create(&s.t, NULL, slow_request, &s), 0));
    cluster_sleep_ms(300); /* on n2's app by now: the proxy connects in well under 300 ms */
    int64_t t0 = now_ms();
    cluster_signal(2, SIGTERM);
    int ws = cluster_wait_exit(2, 8000);
    int64_t took = now_ms() - t0;
    pthread_join(s.t, NULL);
    watch_stop(&w);
    cr_assert(ws >= 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "ringd exit %d", ws);
    cr_assert(eq(int, s.status, 200), "the in-flight request got %d", s.status);
    cr_assert(eq(str, s.owner, "n2"), "served by %s", s.owner);
    /* It waited for the request (1.5 s, 1.2 s of it after the signal). */
    cr_assert(ge(int, (int)took, 1000), "exited %lld ms after SIGTERM", (long long)took);
    printf("sigterm: exited %lld ms after the signal, in-flight request answered\n",
           (long long)took);
    cr_assert(eq(int, w.unready, 0), "%d of %d /readyz answers of n0, n1 were not 200", w.unready,
              w.asked);
}

static int n2_draining_at_n0(void *arg)
{
    return sees_draining(0, "n2") == *(int *)arg;
}

/* n2's own /readyz says its app fails its check. */
static int n2_app_failing(void *arg)
{
    (void)arg;
    char body[512];
    return admin_call(2, "GET /readyz?verbose HTTP/1.0\r\n\r\n", body, sizeof(body), 3) == 503 &&
           strstr(body, "[-]app_healthy") != NULL;
}

/* n2's /readyz says its app passes again and waits out the hold-down. */
static int n2_passes_again(void *arg)
{
    (void)arg;
    char body[512];
    return admin_call(2, "GET /readyz?verbose HTTP/1.0\r\n\r\n", body, sizeof(body), 3) == 503 &&
           strstr(body, "the app passes again") != NULL;
}

Test(drain, a_failing_app_drains_its_node_and_takes_keys_back_after_the_holddown)
{
    static const char *const health[] = {
        "--app-health",
        "/healthz",
        "--app-health-interval",
        "200ms",
        "--app-health-timeout",
        "100ms",
        "--app-health-threshold",
        "3",
        "--app-health-holddown",
        "2s",
        NULL,
    };
    start_three(health);
    testapp_stop(&apps[2]);
    /* The app is not up: n2 drains (it may have passed one check before the stop), ready to
     * ringd's part only. */
    int yes = 1, no = 0;
    cr_assert(ge(int, cluster_wait(n2_app_failing, NULL, 5000), 0), "n2's app never failed");
    cr_assert(ge(int, cluster_wait(n2_draining_at_n0, &yes, 5000), 0));
    char body[512];
    cr_assert(
        eq(int, admin_call(2, "GET /readyz?verbose HTTP/1.0\r\n\r\n", body, sizeof(body), 3), 503));
    cr_assert(ne(ptr, strstr(body, "[-]app_healthy"), NULL), "%s", body);
    /* The startup probe's form: ringd's own part, as Kubernetes' ?exclude= spells it. */
    cr_assert(eq(int,
                 admin_call(2,
                            "GET /readyz?exclude=app_healthy&exclude=not_draining&verbose "
                            "HTTP/1.0\r\n\r\n",
                            body, sizeof(body), 3),
                 200),
              "%s", body);
    cr_assert(ne(ptr, strstr(body, "[+]app_healthy excluded: ok"), NULL), "%s", body);
    cr_assert(eq(ptr, strstr(body, "warn:"), NULL), "%s", body);
    /* a typo excludes nothing, and says so as Kubernetes' /readyz does */
    cr_assert(
        eq(int,
           admin_call(2, "GET /readyz?exclude=app_health&exclude=%1b&verbose HTTP/1.0\r\n\r\n",
                      body, sizeof(body), 3),
           503),
        "%s", body);
    cr_assert(ne(ptr,
                 strstr(body, "warn: some health checks cannot be excluded: no matches for "
                              "\"app_health\", (a name that is not a check)\n"),
                 NULL),
              "%s", body);
    cr_assert(
        eq(int,
           admin_call(2, "GET /readyz?exclude=app_healthy HTTP/1.0\r\n\r\n", body, sizeof(body), 3),
           503),
        "still draining: %s", body);
    char out[256];
    char sock[128], cmd[512];
    snprintf(cmd, sizeof(cmd), "%s --socket %s wait-ready --timeout 5s", RINGCTL_BIN,
             cluster_socket(2, sock, sizeof(sock)));
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "wait-ready: %s", out);
    /* The app starts: at its first pass n2 takes keys (no hold-down at start). */
    start_app(2);
    cr_assert(ge(int, cluster_wait(n2_draining_at_n0, &no, 5000), 0));
    cr_assert(ge(int, cluster_wait(n2_owns_keys_at_n0, NULL, 5000), 0));
    struct watcher w;
    watch_start(&w);
    /* It fails: drained within threshold x interval + a timeout + gossip. */
    int64_t t0 = now_ms();
    testapp_stop(&apps[2]);
    int moved = cluster_wait(n2_draining_at_n0, &yes, 5000);
    cr_assert(ge(int, moved, 0));
    int64_t drained_ms = now_ms() - t0;
    cr_assert(n2_owns_nothing_everywhere(NULL));
    /* It recovers: the keys come back once the app has passed for the hold-down (2 s), and
     * /readyz says so meanwhile. */
    t0 = now_ms();
    start_app(2);
    cr_assert(ge(int, cluster_wait(n2_passes_again, NULL, 1500), 0), "no word of the hold-down");
    cr_assert(ge(int, cluster_wait(n2_owns_keys_at_n0, NULL, 8000), 0));
    int64_t back_ms = now_ms() - t0;
    watch_stop(&w);
    printf("app health: keys moved off %lld ms after the app died (3 x 200 ms checks), back "
           "%lld ms after it recovered (hold-down 2 s)\n",
           (long long)drained_ms, (long long)back_ms);
    cr_assert(le(int, (int)drained_ms, 3000));
    /* The hold-down runs from the last failed check, up to one interval before the restart. */
    cr_assert(ge(int, (int)back_ms, 2000 - 200), "keys back before the hold-down");
    cr_assert(le(int, (int)back_ms, 5000));
    cr_assert(eq(int, w.unready, 0), "%d of %d /readyz answers of n0, n1 were not 200", w.unready,
              w.asked);
}

Test(drain, a_health_check_that_times_out_is_a_failure)
{
    static const char *const slow_health[] = {
        "--app-health", "/sleep?ms=1000",       "--app-health-interval",
        "200ms",        "--app-health-timeout", "100ms",
        NULL,
    };
    start_three(slow_health);
    cluster_sleep_ms(1500);
    cr_assert(eq(int, sees_draining(0, "n2"), 1), "an app that never answers in time got keys");
    cr_assert(n2_owns_nothing_everywhere(NULL));
    char body[512];
    cr_assert(eq(int, admin_call(2, "GET /readyz HTTP/1.0\r\n\r\n", body, sizeof(body), 3), 503));
}

Test(drain, admin_drain_refuses_what_it_does_not_serve_and_get_changes_nothing)
{
    start_three(NULL);
    char body[512];
    cr_assert(eq(int, admin_call(2, "POST /metrics HTTP/1.0\r\n\r\n", body, sizeof(body), 3), 405));
    cr_assert(eq(int, admin_call(2, "PUT /v1/drain HTTP/1.0\r\n\r\n", body, sizeof(body), 3), 405));
    cr_assert(eq(int,
                 admin_call(2, "POST /v1/drain HTTP/1.0\r\nContent-Length: 4\r\n\r\nnow!", body,
                            sizeof(body), 3),
                 400));
    cr_assert(ne(ptr, strstr(body, "no request body"), NULL), "%s", body);
    cr_assert(eq(
        int,
        admin_call(2, "POST /v1/drain?wait=1&timeout=soon HTTP/1.0\r\n\r\n", body, sizeof(body), 3),
        400));
    /* wait= and cancel= are 1/true or 0/false; anything else drains nothing */
    const char *odd[] = { "GET /v1/drain?wait=yes", "GET /v1/drain?wait=1%00",
                          "GET /v1/drain?wait=2", "POST /v1/drain?cancel=maybe" };
    for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++) {
        char req[128];
        snprintf(req, sizeof(req), "%s HTTP/1.0\r\n\r\n", odd[k]);
        cr_assert(eq(int, admin_call(2, req, body, sizeof(body), 3), 400), "%s: %s", odd[k], body);
    }
    cr_assert(eq(int, admin_call(2, "GET /v1/drain?wait=0 HTTP/1.0\r\n\r\n", body, sizeof(body), 3),
                 200));
    cr_assert(eq(int, admin_call(2, "GET /v1/drain HTTP/1.0\r\n\r\n", body, sizeof(body), 3), 200));
    cr_assert(ne(ptr, strstr(body, "\"draining\":false"), NULL), "%s", body);
    cr_assert(eq(
        int, admin_call(2, "HEAD /v1/drain?wait=1 HTTP/1.0\r\n\r\n", body, sizeof(body), 3), 200));
    cr_assert(eq(int, sees_draining(2, "n2"), 0), "a GET without wait or a HEAD drained");
    /* The preStop hook's GET drains and waits. */
    cr_assert(eq(
        int, admin_call(2, "GET /v1/drain?wait=1 HTTP/1.0\r\n\r\n", body, sizeof(body), 10), 200));
    cr_assert(ne(ptr, strstr(body, "\"drained\":true"), NULL), "%s", body);
}

/* Runs `ringctl --socket <node i's> ARGS 2>&1`; returns its exit status. */
static int ctl(int i, const char *args, char *out, size_t cap)
{
    char sock[128], cmd[512];
    snprintf(cmd, sizeof(cmd), "%s --socket %s %s 2>&1", RINGCTL_BIN,
             cluster_socket(i, sock, sizeof(sock)), args);
    return cluster_sh(cmd, out, cap);
}

Test(drain, ringctl_drain_members_cancel_and_wait_ready)
{
    start_three(NULL);
    static char out[8192];
    cr_assert(eq(int, ctl(2, "drain --timeout 10s", out, sizeof(out)), 0), "%s", out);
    cr_assert(ne(ptr, strstr(out, "drained"), NULL), "%s", out);
    cr_assert(eq(int, ctl(0, "members --status draining", out, sizeof(out)), 0), "%s", out);
    cr_assert(ne(ptr, strstr(out, "n2"), NULL), "%s", out);
    cr_assert(eq(ptr, strstr(out, "n1"), NULL), "%s", out);
    cr_assert(eq(int, ctl(2, "wait-ready --serving --timeout 300ms", out, sizeof(out)), 1),
              "draining is not serving: %s", out);
    cr_assert(eq(int, ctl(2, "wait-ready --timeout 2s", out, sizeof(out)), 0), "%s", out);
    cr_assert(eq(int, ctl(2, "drain --cancel", out, sizeof(out)), 0), "%s", out);
    cr_assert(ge(int, cluster_wait(n2_owns_keys_at_n0, NULL, 5000), 0));
    cr_assert(eq(int, ctl(2, "wait-ready --serving --timeout 5s", out, sizeof(out)), 0), "%s", out);
    cr_assert(eq(int, ctl(2, "drain extra", out, sizeof(out)), 2), "%s", out);
    cr_assert(eq(int, ctl(2, "members --status drained", out, sizeof(out)), 2), "%s", out);
    /* No ringd behind the socket: wait-ready retries, then gives up. */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "%s --socket %s/none.sock wait-ready --timeout 300ms 2>&1",
             RINGCTL_BIN, cl.dir);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 1), "%s", out);
    cr_assert(ne(ptr, strstr(out, "did not answer"), NULL), "%s", out);
}

/* An app that answers its health check 503 (ring_testapp's /forge) never passes: its node
 * never gets keys, and stats() counts the failed checks. */
Test(drain, a_5xx_health_answer_is_a_failure)
{
    static const char *const forged[] = {
        "--app-health", "/forge", "--app-health-interval", "200ms", NULL,
    };
    start_three(forged);
    cluster_sleep_ms(1000);
    cr_assert(eq(int, sees_draining(0, "n2"), 1), "an app answering 503 got keys");
    struct ringc *c = cluster_connect(2);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(c, &res, 2000, "stats", ""), 0));
    const msgpack_object *h = ringc_get(res, "app_health");
    cr_assert(ne(ptr, (void *)h, NULL));
    char state[16];
    ringc_get_str(h, "state", state, sizeof(state));
    cr_assert(eq(str, state, "starting"));
    cr_assert(ge(u64, ringc_get_u64(h, "checks_failed", 0), 3));
    cr_assert(eq(u64, ringc_get_u64(h, "checks_passed", 0), 0));
    ringc_close(c);
}

/* A client toggling the drain as fast as it can (drain, undrain, ... over one connection)
 * costs the node at most one incarnation a second, so it is never locked out after a restart
 * by an incarnation ahead of the clock; the last state asked for is the one every node ends
 * with. */
Test(drain, toggling_as_fast_as_a_client_can_spends_one_incarnation_a_second)
{
    start_three(NULL);
    struct ringc *c = cluster_connect(2);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(c, &res, 2000, "stats", ""), 0));
    uint64_t inc = ringc_get_u64(res, "incarnation", 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int k = 0; k < 4000; k++) {
        cr_assert(eq(int, ringc_call(c, &res, 2000, k % 2 == 0 ? "drain" : "undrain", ""), 0));
    }
    cr_assert(eq(int, ringc_call(c, &res, 2000, "drain", ""), 0)); /* the last: drained */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert(eq(int, ringc_call(c, &res, 2000, "stats", ""), 0));
    uint64_t spent = ringc_get_u64(res, "incarnation", 0) - inc;
    uint64_t secs = (uint64_t)(t1.tv_sec - t0.tv_sec) + 1;
    fprintf(stderr, "drain toggles: 4001 in %llu s, %llu incarnations\n", (unsigned long long)secs,
            (unsigned long long)spent);
    cr_assert(le(u64, spent, secs + 1), "%llu incarnations in about %llu s",
              (unsigned long long)spent, (unsigned long long)secs);
    int yes = 1;
    cr_assert(ge(int, cluster_wait(n2_draining_at_n0, &yes, 5000), 0), "the last state lost");
    ringc_close(c);
    /* and the log has about one line a second of them, the last state among them */
    cluster_sleep_ms(1100);
    char cmd[256], out[64];
    snprintf(cmd, sizeof(cmd), "grep -cE 'msg=(draining|undrained) ' '%s/n2.log'", cl.dir);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0));
    long lines = strtol(out, NULL, 10);
    fprintf(stderr, "drain toggles: %ld log lines\n", lines);
    cr_assert(le(long, lines, (long)secs + 3), "%ld log lines for 4001 toggles", lines);
    snprintf(cmd, sizeof(cmd), "grep -E 'msg=(draining|undrained) ' '%s/n2.log' | tail -1", cl.dir);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0));
    cr_assert(ne(ptr, strstr(out, "msg=draining"), NULL), "the last line logged: %s", out);
}
