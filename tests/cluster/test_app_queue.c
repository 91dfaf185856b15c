/*
 * The proxy's queue for app connections, with a real ringd and ring_testapp: a request that
 * finds every connection to the app busy (--proxy-max-app-conns) waits its turn instead of
 * failing, up to --proxy-max-pending of them; past that it gets 503 app_overloaded at once. A
 * request holds its app connection while its chunked body is unfinished (the app echoes each
 * chunk as it comes), so the test decides when each connection comes free, and waits on
 * answers and metrics, never on time.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "cluster.h"
#include "httpc.h"
#include "testapp.h"

#define IO_MS 10000

static struct testapp app;
static char proxy_addr[32], app_addr[32];
static struct httpc_resp resp; /* large: not on the stack */

static void setup(void)
{
    cluster_init();
}

static void teardown(void)
{
    cluster_stop();
    testapp_stop(&app);
}

TestSuite(app_queue, .init = setup, .fini = teardown, .timeout = 60);

static int ready(void *arg)
{
    (void)arg;
    char body[256];
    return cluster_http(0, "GET /readyz HTTP/1.0\r\n\r\n", body, sizeof(body)) == 200;
}

/* Node 0 alone (it owns every key) with its proxy in front of the app, at most |conns|
 * connections to it and |pending| requests waiting, and |more| flags (NULL-ended, may be
 * NULL). */
static void start(const char *conns, const char *pending, const char *const *more)
{
    cr_assert(eq(int, testapp_start(&app, testapp_port(0), "app0", NULL), 0));
    snprintf(proxy_addr, sizeof(proxy_addr), "127.0.0.1:%d", cluster_proxy_port(0));
    snprintf(app_addr, sizeof(app_addr), "127.0.0.1:%d", testapp_port(0));
    const char *const flags[] = { "--proxy",
                                  proxy_addr,
                                  "--app",
                                  app_addr,
                                  "--proxy-max-app-conns",
                                  conns,
                                  "--proxy-max-pending",
                                  pending };
    size_t n = 0;
    for (; n < sizeof(flags) / sizeof(flags[0]); n++) {
        cl.extra_args[0][n] = flags[n];
    }
    for (size_t k = 0; more != NULL && more[k] != NULL; k++) {
        cl.extra_args[0][n++] = more[k];
    }
    cl.extra_args[0][n] = NULL;
    cluster_start_node(0, -1);
    cr_assert(ge(int, cluster_wait(ready, NULL, 10000), 0), "ringd did not become ready");
}

/* The value of the sample |name| (labels included) in node 0's /metrics, or -1. */
static long long metric(const char *name)
{
    static char body[1 << 18];
    if (cluster_http(0, "GET /metrics HTTP/1.0\r\n\r\n", body, sizeof(body)) != 200) {
        return -1;
    }
    char want[160];
    snprintf(want, sizeof(want), "\n%s ", name);
    const char *at = strstr(body, want);
    return at != NULL ? strtoll(at + strlen(want), NULL, 10) : -1;
}

struct want {
    const char *name;
    long long value;
};

static int metric_is(void *arg)
{
    const struct want *w = arg;
    return metric(w->name) == w->value;
}

static void wait_metric(const char *name, long long value)
{
    struct want w = { name, value };
    cr_assert(ge(int, cluster_wait(metric_is, &w, IO_MS), 0), "%s stayed %lld, want %lld", name,
              metric(name), value);
}

static struct httpc *connect_proxy(void)
{
    struct httpc *h = httpc_connect(cluster_proxy_port(0));
    cr_assert(ne(ptr, h, NULL), "cannot connect to the proxy");
    return h;
}

static void send_str(struct httpc *h, const char *s)
{
    cr_assert(eq(int, httpc_send_str(h, s), 0));
}

/* A POST whose chunked body has begun and not ended: it holds an app connection until
 * release() ends it. Returns once the app has answered its first chunk (the proxy passed its
 * answer's first bytes on), so the connection is taken. */
static struct httpc *hold(void)
{
    struct httpc *h = connect_proxy();
    send_str(h, "POST /echo HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k\r\n"
                "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    struct pollfd pfd = { .fd = httpc_fd(h), .events = POLLIN };
    cr_assert(eq(int, poll(&pfd, 1, IO_MS), 1), "the held request did not reach the app");
    return h;
}

/* Ends the held POST: the app's answer completes, with what it echoed. */
static void release(struct httpc *h)
{
    send_str(h, "0\r\n\r\n");
    cr_assert(eq(int, httpc_read(h, &resp, IO_MS), 0), "the held request got no answer");
    cr_assert(eq(int, resp.status, 200));
    cr_assert(eq(str, resp.body, "hello"));
    httpc_close(h);
}

static struct httpc *get(void)
{
    struct httpc *h = connect_proxy();
    send_str(h, "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k\r\n\r\n");
    return h;
}

static void expect(struct httpc *h, int status, const char *cause)
{
    int rv = httpc_read(h, &resp, IO_MS);
    cr_assert(eq(int, rv, 0), "no answer (%d)", rv);
    cr_assert(eq(int, resp.status, status), "status %d, body %s", resp.status, resp.body);
    const char *got = httpc_header(&resp, "X-Ring-Error");
    if (cause == NULL) {
        cr_assert(eq(ptr, (void *)got, NULL), "X-Ring-Error: %s", got);
        cr_assert(eq(str, resp.body, "app0\n"));
    } else {
        cr_assert(ne(ptr, (void *)got, NULL), "no X-Ring-Error");
        cr_assert(eq(str, (char *)got, (char *)cause));
    }
}

Test(app_queue, a_busy_app_queues_requests_and_serves_them_in_turn)
{
    start("4", "2", NULL);
    struct httpc *held[4];
    for (int i = 0; i < 4; i++) {
        held[i] = hold();
    }
    /* Every connection is busy: two wait, the third past --proxy-max-pending gets 503. */
    struct httpc *first = get();
    wait_metric("ringd_proxy_app_pending", 1);
    struct httpc *second = get();
    wait_metric("ringd_proxy_app_pending", 2);
    struct httpc *third = get();
    expect(third, 503, "app_overloaded");
    cr_assert(ne(ptr, strstr(resp.body, "busy"), NULL), "body: %s", resp.body);
    httpc_close(third);
    cr_assert(eq(i64, (int64_t)metric("ringd_proxy_app_overflows_total"), 1));
    cr_assert(eq(i64, (int64_t)metric("ringd_proxy_errors_total{cause=\"app_overloaded\"}"), 1));
    /* A waiter whose client goes away (a reset: a half-close still waits for its answer)
     * leaves the queue. */
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    cr_assert(eq(int, setsockopt(httpc_fd(second), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0));
    httpc_close(second);
    wait_metric("ringd_proxy_app_pending", 1);
    /* The connection the first held request frees goes to the first waiter: 200, not 502. */
    release(held[0]);
    expect(first, 200, NULL);
    cr_assert(eq(i64, (int64_t)metric("ringd_proxy_app_pending"), 0));
    for (int i = 1; i < 4; i++) {
        release(held[i]);
    }
    /* With the queue empty, a request goes straight to an idle connection. */
    third = get();
    expect(third, 200, NULL);
    httpc_close(first);
    httpc_close(third);
    cr_assert(eq(i64, (int64_t)metric("ringd_proxy_app_queued_total"), 2));
    cr_assert(eq(i64, (int64_t)metric("ringd_proxy_errors_total{cause=\"app_failed\"}"), 0));
    /* the waiter took a released connection: the pool never grew past 4 */
    cr_assert(eq(i64, (int64_t)metric("ringd_proxy_app_connects_total"), 4));
}

Test(app_queue, no_queue_answers_503_at_once_and_the_app_still_serves)
{
    start("1", "0", NULL);
    struct httpc *held = hold();
    struct httpc *h = get();
    expect(h, 503, "app_overloaded");
    cr_assert(eq(i64, (int64_t)metric("ringd_proxy_app_queued_total"), 0));
    cr_assert(eq(i64, (int64_t)metric("ringd_proxy_app_overflows_total"), 1));
    httpc_close(h);
    release(held);
    h = get();
    expect(h, 200, NULL);
    httpc_close(h);
}

/* SIGTERM while requests wait: the node drains (what waits counts as in flight), the waiters
 * are answered once the app frees a connection, and the node exits cleanly. */
Test(app_queue, stop_with_waiting_requests_answers_them_and_exits_cleanly)
{
    const char *const more[] = { "--drain-timeout", "5s", NULL };
    start("1", "4", more);
    struct httpc *held = hold();
    struct httpc *w[2];
    for (int i = 0; i < 2; i++) {
        w[i] = get();
        wait_metric("ringd_proxy_app_pending", i + 1);
    }
    cluster_signal(0, SIGTERM);
    release(held);
    for (int i = 0; i < 2; i++) {
        int rv = httpc_read(w[i], &resp, IO_MS);
        cr_assert(eq(int, rv, 0), "waiter %d got no answer (%d)", i, rv);
        /* the app's answer, or the draining node's own (its ring has no owner left) */
        cr_assert(eq(int, resp.status == 200 || resp.status == 503, 1), "waiter %d: status %d", i,
                  resp.status);
        httpc_close(w[i]);
    }
    int status = cluster_wait_exit(0, 15000);
    cr_assert(eq(int, WIFEXITED(status) && WEXITSTATUS(status) == 0, 1), "ringd ended with %d",
              status);
}
