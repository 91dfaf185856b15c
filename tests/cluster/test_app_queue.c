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
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "cluster.h"
#include "httpc.h"
#include "testapp.h"

#define IO_MS 10000

static struct testapp apps[2];
static struct httpc_resp resp; /* large: not on the stack */

static void setup(void)
{
    cluster_init();
}

static void teardown(void)
{
    cluster_stop();
    testapp_stop(&apps[0]);
    testapp_stop(&apps[1]);
}

TestSuite(app_queue, .init = setup, .fini = teardown, .timeout = 60);

static int ready(void *arg)
{
    char body[256];
    int i = (int)(intptr_t)arg;
    return cluster_http(i, "GET /readyz HTTP/1.0\r\n\r\n", body, sizeof(body)) == 200;
}

/* Node |i| (joining node 0 when |i| > 0) with its proxy in front of app |i|, at most |conns|
 * connections to it and |pending| requests waiting, and |more| flags (NULL-ended, may be
 * NULL). */
static void start_node(int i, const char *conns, const char *pending, const char *const *more)
{
    char id[8];
    snprintf(id, sizeof(id), "app%d", i);
    cr_assert(eq(int, testapp_start(&apps[i], testapp_port(i), id, NULL), 0));
    const char *flags[CLUSTER_EXTRA_ARGS_MAX] = { "--proxy-max-app-conns", conns,
                                                  "--proxy-max-pending", pending };
    for (size_t k = 0; more != NULL && more[k] != NULL; k++) {
        cr_assert(lt(sz, 4 + k, (size_t)CLUSTER_EXTRA_ARGS_MAX - 1));
        flags[4 + k] = more[k];
    }
    cluster_proxy_flags(i, testapp_port(i), flags);
    cluster_start_node(i, i > 0 ? 0 : -1);
    cr_assert(ge(int, cluster_wait(ready, (void *)(intptr_t)i, 10000), 0), "node %d not ready", i);
}

/* Node 0 alone: it owns every key. */
static void start(const char *conns, const char *pending, const char *const *more)
{
    start_node(0, conns, pending, more);
}

struct want {
    const char *name;
    long long value;
};

static int metric_is(void *arg)
{
    const struct want *w = arg;
    return cluster_metric(0, w->name) == w->value;
}

static void wait_metric(const char *name, long long value)
{
    struct want w = { name, value };
    cr_assert(ge(int, cluster_wait(metric_is, &w, IO_MS), 0), "%s stayed %lld, want %lld", name,
              cluster_metric(0, name), value);
}

static struct httpc *connect_proxy(int i)
{
    struct httpc *h = httpc_connect(cluster_proxy_port(i));
    cr_assert(ne(ptr, h, NULL), "cannot connect to node %d's proxy", i);
    return h;
}

static void send_str(struct httpc *h, const char *s)
{
    cr_assert(eq(int, httpc_send_str(h, s), 0));
}

/* A POST for |key| to node 0 whose chunked body has begun and not ended: once it has an app
 * connection, it holds it until release() ends it. */
static struct httpc *send_held(const char *key)
{
    struct httpc *h = connect_proxy(0);
    char req[256];
    snprintf(req, sizeof(req),
             "POST /echo HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n"
             "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
             key);
    send_str(h, req);
    return h;
}

/* Returns once the app has answered the first chunk of held POST |h| (the proxy passed its
 * answer's first bytes on): it has its app connection. */
static void wait_held(struct httpc *h)
{
    struct pollfd pfd = { .fd = httpc_fd(h), .events = POLLIN };
    cr_assert(eq(int, poll(&pfd, 1, IO_MS), 1), "the held request did not reach the app");
}

static struct httpc *hold_key(const char *key)
{
    struct httpc *h = send_held(key);
    wait_held(h);
    return h;
}

static struct httpc *hold(void)
{
    return hold_key("k");
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

/* A GET for |key| through node |via|'s proxy. */
static struct httpc *get_via(int via, const char *key)
{
    struct httpc *h = connect_proxy(via);
    char req[256];
    snprintf(req, sizeof(req), "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", key);
    send_str(h, req);
    return h;
}

static struct httpc *get(void)
{
    return get_via(0, "k");
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

/* The id of |key|'s owner as node |i| sees it, via the local API. */
static void owner_of(int i, const char *key, char *out, size_t cap)
{
    struct ringc *c = cluster_connect(i);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(c, &res, 2000, "lookup", "s", key), 0), "lookup failed");
    const msgpack_object *id = ringc_get(res, "id");
    cr_assert(ne(ptr, (void *)id, NULL));
    cr_assert(eq(int, id->type, MSGPACK_OBJECT_STR));
    snprintf(out, cap, "%.*s", (int)id->via.str.size, id->via.str.ptr);
    ringc_close(c);
}

/* A key that node 1 sees owned by node 0, into |key|. */
static void key_owned_by_n0(char *key, size_t cap)
{
    char owner[32] = "";
    for (int k = 0; k < 1000 && strcmp(owner, "n0") != 0; k++) {
        snprintf(key, cap, "key-%d", k);
        owner_of(1, key, owner, sizeof(owner));
    }
    cr_assert(eq(str, owner, "n0"), "no key owned by n0");
}

Test(app_queue, a_busy_app_queues_requests_and_serves_them_in_turn)
{
    start("4", "2", NULL);
    struct httpc *held[4];
    for (int i = 0; i < 4; i++) {
        held[i] = hold();
    }
    /* Every connection is busy: two wait (the first another held POST), the third past
     * --proxy-max-pending gets 503. */
    struct httpc *first = send_held("k");
    wait_metric("ringd_proxy_app_pending", 1);
    struct httpc *second = get();
    wait_metric("ringd_proxy_app_pending", 2);
    struct httpc *third = get();
    expect(third, 503, "app_overloaded");
    cr_assert(ne(ptr, strstr(resp.body, "busy"), NULL), "body: %s", resp.body);
    httpc_close(third);
    cr_assert(eq(i64, (int64_t)cluster_metric(0, "ringd_proxy_app_overflows_total"), 1));
    cr_assert(eq(
        i64, (int64_t)cluster_metric(0, "ringd_proxy_errors_total{cause=\"app_overloaded\"}"), 1));
    /* A waiter whose client goes away (a reset: a half-close still waits for its answer)
     * leaves the queue. */
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    cr_assert(eq(int, setsockopt(httpc_fd(second), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0));
    httpc_close(second);
    wait_metric("ringd_proxy_app_pending", 1);
    cr_assert(eq(i64, (int64_t)cluster_metric(0, "ringd_proxy_requests_abandoned_total"), 1));
    struct httpc *fourth = get(); /* behind the first */
    wait_metric("ringd_proxy_app_pending", 2);
    /* The connection a held request frees goes to the oldest waiter, which holds it in turn:
     * the newer one waits on; then it gets the next one, and 200, not 502. */
    release(held[0]);
    wait_held(first);
    cr_assert(eq(i64, (int64_t)cluster_metric(0, "ringd_proxy_app_pending"), 1),
              "the fourth waits on");
    release(first);
    expect(fourth, 200, NULL);
    cr_assert(eq(i64, (int64_t)cluster_metric(0, "ringd_proxy_app_pending"), 0));
    for (int i = 1; i < 4; i++) {
        release(held[i]);
    }
    /* With the queue empty, a request goes straight to an idle connection. */
    third = get();
    expect(third, 200, NULL);
    httpc_close(third);
    httpc_close(fourth);
    cr_assert(eq(i64, (int64_t)cluster_metric(0, "ringd_proxy_app_queued_total"), 3));
    cr_assert(
        eq(i64, (int64_t)cluster_metric(0, "ringd_proxy_errors_total{cause=\"app_failed\"}"), 0));
    /* the waiters took released connections: the pool never grew past 4 */
    cr_assert(eq(i64, (int64_t)cluster_metric(0, "ringd_proxy_app_connects_total"), 4));
}

Test(app_queue, no_queue_answers_503_at_once_and_the_app_still_serves)
{
    start("1", "0", NULL);
    struct httpc *held = hold();
    struct httpc *h = get();
    expect(h, 503, "app_overloaded");
    cr_assert(eq(i64, (int64_t)cluster_metric(0, "ringd_proxy_app_queued_total"), 0));
    cr_assert(eq(i64, (int64_t)cluster_metric(0, "ringd_proxy_app_overflows_total"), 1));
    httpc_close(h);
    release(held);
    h = get();
    expect(h, 200, NULL);
    httpc_close(h);
}

/* SIGTERM while requests wait: the node drains, its keys go to the other node, and the
 * requests waiting for its busy app go there at once; the one the app holds finishes there. */
Test(app_queue, stop_sends_waiting_requests_to_the_new_owner_and_exits_cleanly)
{
    const char *const more[] = { "--drain-timeout", "5s", NULL };
    start_node(0, "1", "4", more);
    start_node(1, "4", "4", NULL);
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)2, 10000), 0));
    char key[32];
    key_owned_by_n0(key, sizeof(key));
    struct httpc *held = hold_key(key);
    struct httpc *w[2];
    for (int i = 0; i < 2; i++) {
        w[i] = get_via(0, key);
        wait_metric("ringd_proxy_app_pending", i + 1);
    }
    cluster_signal(0, SIGTERM);
    for (int i = 0; i < 2; i++) {
        int rv = httpc_read(w[i], &resp, IO_MS);
        cr_assert(eq(int, rv, 0), "waiter %d got no answer (%d)", i, rv);
        cr_assert(eq(int, resp.status, 200), "waiter %d: status %d, %s", i, resp.status, resp.body);
        const char *by = httpc_header(&resp, "X-Ring-Owner");
        cr_assert(ne(ptr, (void *)by, NULL), "no X-Ring-Owner");
        cr_assert(eq(str, (char *)by, "n1"));
        httpc_close(w[i]);
    }
    cr_assert(eq(i64, (int64_t)cluster_metric(0, "ringd_proxy_app_pending"), 0));
    release(held); /* the node waited for it: it was on its app */
    int status = cluster_wait_exit(0, 15000);
    cr_assert(eq(int, WIFEXITED(status) && WEXITSTATUS(status) == 0, 1), "ringd ended with %d",
              status);
}

/* SIGTERM while the app holds its one connection past the drain: the node stops at the drain's
 * deadline, answers the requests still waiting 503 app_overloaded (the app never saw them; they
 * were closed unanswered before), and exits 0. */
Test(app_queue, stop_past_the_drain_answers_waiting_requests_503_and_exits_cleanly)
{
    const char *const more[] = { "--drain-timeout", "4s", NULL }; /* 1 s of drain, then leave */
    start("1", "4", more);
    struct httpc *held = hold();
    struct httpc *w[2];
    for (int i = 0; i < 2; i++) {
        w[i] = get();
        wait_metric("ringd_proxy_app_pending", i + 1);
    }
    cluster_signal(0, SIGTERM);
    int status = cluster_wait_exit(0, 15000);
    cr_assert(eq(int, WIFEXITED(status) && WEXITSTATUS(status) == 0, 1), "ringd ended with %d",
              status);
    for (int i = 0; i < 2; i++) {
        expect(w[i], 503, "app_overloaded");
        cr_assert(eq(int, resp.keep_alive, 0), "waiter %d: the connection must close", i);
        httpc_close(w[i]);
    }
    httpc_close(held);
}

/* A request another ringd forwarded waits on the owner's side like a local one, and its
 * answer goes back through the hop. */
Test(app_queue, a_forwarded_request_waits_for_the_owners_app)
{
    start_node(0, "1", "4", NULL);
    start_node(1, "4", "4", NULL);
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)2, 10000), 0));
    char key[32];
    key_owned_by_n0(key, sizeof(key));
    struct httpc *held = hold_key(key);
    struct httpc *w = get_via(1, key);
    wait_metric("ringd_proxy_app_pending", 1);
    release(held);
    int rv = httpc_read(w, &resp, IO_MS);
    cr_assert(eq(int, rv, 0), "no answer (%d)", rv);
    cr_assert(eq(int, resp.status, 200), "status %d, body %s", resp.status, resp.body);
    const char *by = httpc_header(&resp, "X-Ring-Owner");
    cr_assert(ne(ptr, (void *)by, NULL), "no X-Ring-Owner");
    cr_assert(eq(str, (char *)by, "n0"));
    cr_assert(eq(str, resp.body, "app0\n"));
    httpc_close(w);
    cr_assert(eq(i64, (int64_t)cluster_metric(0, "ringd_proxy_requests_total{path=\"peer\"}"), 1));
}

/* How many requests with `X-Request-Id: |id|` app 0 has seen (asked through node 0). */
static int app_count(const char *key, const char *id)
{
    struct httpc *h = connect_proxy(0);
    char req[256];
    snprintf(req, sizeof(req), "GET /count?id=%s HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", id,
             key);
    send_str(h, req);
    cr_assert(eq(int, httpc_read(h, &resp, IO_MS), 0), "no answer to /count");
    cr_assert(eq(int, resp.status, 200), "/count: %d %s", resp.status, resp.body);
    httpc_close(h);
    return atoi(resp.body);
}

/* Resets the connection of |h| (RST, not FIN) and frees it. */
static void reset_close(struct httpc *h)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    cr_assert(eq(int, setsockopt(httpc_fd(h), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0));
    httpc_close(h);
}

/* A forwarded request waiting in the owner's queue leaves it when its client at the entry
 * node goes away: the entry node cancels the stream, and the owner's app never sees it. */
Test(app_queue, a_forwarded_waiter_whose_client_resets_leaves_the_owners_queue)
{
    start_node(0, "1", "1", NULL);
    start_node(1, "4", "4", NULL);
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)2, 10000), 0));
    char key[32];
    key_owned_by_n0(key, sizeof(key));
    struct httpc *held = hold_key(key);
    struct httpc *w = connect_proxy(1);
    char req[256];
    snprintf(req, sizeof(req),
             "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\nX-Request-Id: gone\r\n\r\n", key);
    send_str(w, req);
    wait_metric("ringd_proxy_app_pending", 1);
    reset_close(w);
    wait_metric("ringd_proxy_app_pending", 0);
    /* its place is free: a new request waits, not 503 */
    struct httpc *next = get_via(0, key);
    wait_metric("ringd_proxy_app_pending", 1);
    release(held);
    expect(next, 200, NULL);
    httpc_close(next);
    cr_assert(eq(int, app_count(key, "gone"), 0), "the app got the abandoned request");
    /* abandoned at both ends: its client left the entry, the entry cancelled it at the owner */
    cr_assert(eq(i64, (int64_t)cluster_metric(1, "ringd_proxy_requests_abandoned_total"), 1));
    cr_assert(eq(i64, (int64_t)cluster_metric(0, "ringd_proxy_requests_abandoned_total"), 1));
}

/* A waiter still sending its body is not read while it waits: when its client resets (or
 * half-closes short of its Content-Length, the FIN inside the proxy's receive window), its
 * turn finds that out and drops it, so the app never gets the head and a cut body. */
Test(app_queue, a_waiter_gone_mid_body_never_reaches_the_app)
{
    start("1", "4", NULL);
    struct httpc *held = hold();
    static char body[100000];
    memset(body, 'm', sizeof(body));
    struct httpc *w[2];
    for (int i = 0; i < 2; i++) {
        w[i] = connect_proxy(0);
        char req[256];
        snprintf(req, sizeof(req),
                 "POST /sink HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k\r\nX-Request-Id: gone\r\n"
                 "Content-Length: 1000000\r\n\r\n");
        send_str(w[i], req);
        /* the first fills the proxy's socket; the second's FIN must fit in its window */
        cr_assert(eq(int, httpc_send(w[i], body, i == 0 ? sizeof(body) : 10000), 0));
        wait_metric("ringd_proxy_app_pending", i + 1);
    }
    reset_close(w[0]);
    cr_assert(eq(int, shutdown(httpc_fd(w[1]), SHUT_WR), 0)); /* 990,000 bytes short */
    struct httpc *next = get();
    wait_metric("ringd_proxy_app_pending", 3);
    release(held);
    expect(next, 200, NULL);
    httpc_close(next);
    httpc_close(w[1]);
    cr_assert(eq(int, app_count("k", "gone"), 0), "the app got a request whose client left");
    cr_assert(eq(i64, (int64_t)cluster_metric(0, "ringd_proxy_requests_abandoned_total"), 2));
    cr_assert(eq(i64, (int64_t)cluster_metric(0, "ringd_proxy_app_pending"), 0));
    cr_assert(eq(i64, (int64_t)cluster_metric(0, "ringd_proxy_app_connects_total"), 1));
}

/* Clients that stop mid-request (a partial head, a body short of its Content-Length), by a
 * close or a half-close, have gone away: each is abandoned, as a reset one is, and none is
 * a request served or a bad request (each counted 400 that was never sent). */
Test(app_queue, a_client_that_stops_mid_request_is_abandoned_not_a_bad_request)
{
    start("4", "4", NULL);
    static const char *const sends[] = {
        "GET /x HTTP/1.1\r\nHost: t\r\n",
        "POST /sink HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k\r\nX-Request-Id: cut\r\n"
        "Content-Length: 1000\r\n\r\n0123456789",
    };
    for (int i = 0; i < 4; i++) {
        struct httpc *h = connect_proxy(0);
        send_str(h, sends[i % 2]);
        if (i < 2) {
            httpc_close(h);
        } else {
            cr_assert(eq(int, shutdown(httpc_fd(h), SHUT_WR), 0));
            char byte;
            struct pollfd p = { .fd = httpc_fd(h), .events = POLLIN };
            cr_assert(eq(int, poll(&p, 1, IO_MS), 1));
            cr_assert(le(i64, (int64_t)recv(httpc_fd(h), &byte, 1, 0), 0), "it was answered");
            httpc_close(h);
        }
        wait_metric("ringd_proxy_requests_abandoned_total", i + 1);
    }
    cr_assert(eq(i64, cluster_metric(0, "ringd_proxy_errors_total{cause=\"bad_request\"}"), 0));
    cr_assert(eq(i64, cluster_metric(0, "ringd_proxy_requests_total{path=\"local\"}"), 0));
    /* the proxy goes on serving */
    struct httpc *h = get();
    expect(h, 200, NULL);
    httpc_close(h);
}

/* A whole request, then part of a pipelined one, then a half-close: the first is answered
 * and the connection closes at once, the cut one abandoned; it was held until the header
 * deadline (10 s) and counted as a header timeout. */
Test(app_queue, a_half_close_after_part_of_a_pipelined_request_closes_after_the_answer)
{
    start("4", "4", NULL);
    struct httpc *h = connect_proxy(0);
    send_str(h, "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k\r\n\r\nGET /x HTTP/1.1\r\nHo");
    cr_assert(eq(int, shutdown(httpc_fd(h), SHUT_WR), 0));
    expect(h, 200, NULL);
    char byte;
    struct pollfd p = { .fd = httpc_fd(h), .events = POLLIN };
    cr_assert(eq(int, poll(&p, 1, 3000), 1), "the connection stayed open");
    cr_assert(le(i64, (int64_t)recv(httpc_fd(h), &byte, 1, 0), 0), "a second answer came");
    httpc_close(h);
    wait_metric("ringd_proxy_requests_abandoned_total", 1);
    cr_assert(eq(i64, cluster_metric(0, "ringd_proxy_client_timeouts_total{phase=\"header\"}"), 0));
}

/* A waiter that resets its connection right after its request, the reset arriving with the
 * request's bytes (here: while ringd is stopped), leaves the queue as one that resets later
 * does; libuv reports such a reset as an end of stream, and the request stayed queued,
 * reached the app and counted as served. */
Test(app_queue, a_waiter_that_resets_with_its_request_never_reaches_the_app)
{
    start("1", "4", NULL);
    /* accepted and read before: a keep-alive client that asked once */
    struct httpc *w = get();
    expect(w, 200, NULL);
    struct httpc *held = hold();
    pid_t pid = cl.pids[0];
    cr_assert(eq(int, kill(pid, SIGSTOP), 0));
    send_str(w, "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k\r\nX-Request-Id: gone\r\n\r\n");
    reset_close(w);
    cr_assert(eq(int, kill(pid, SIGCONT), 0));
    wait_metric("ringd_proxy_requests_abandoned_total", 1);
    cr_assert(eq(i64, (int64_t)cluster_metric(0, "ringd_proxy_app_pending"), 0));
    release(held);
    cr_assert(eq(int, app_count("k", "gone"), 0), "the app got a request whose client reset");
}

/* A whole request that finds the queue full gets 503 on a connection that stays open: the
 * client asks again on it, and gets 200 once the app is free. */
Test(app_queue, overloaded_keeps_the_connection_of_a_whole_request)
{
    start("1", "0", NULL);
    struct httpc *held = hold();
    struct httpc *h = get();
    expect(h, 503, "app_overloaded");
    const char *conn = httpc_header(&resp, "Connection");
    cr_assert(eq(int, conn != NULL && strcasecmp(conn, "close") == 0, 0), "Connection: close");
    /* pipelined, both answered at once and in order, the connection kept */
    send_str(h, "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k\r\n\r\n"
                "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k\r\n\r\n");
    expect(h, 503, "app_overloaded");
    expect(h, 503, "app_overloaded");
    /* a request whose body the proxy did not read still closes its connection */
    struct httpc *post = connect_proxy(0);
    send_str(post, "POST /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k\r\nContent-Length: 5\r\n\r\n");
    expect(post, 503, "app_overloaded");
    conn = httpc_header(&resp, "Connection");
    cr_assert(eq(int, conn != NULL && strcasecmp(conn, "close") == 0, 1), "no Connection: close");
    httpc_close(post);
    release(held);
    send_str(h, "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k\r\n\r\n");
    expect(h, 200, NULL);
    httpc_close(h);
}

static int all_waiting_or_overloaded(void *arg)
{
    long long posts = *(const int *)arg;
    return cluster_metric(0, "ringd_proxy_app_pending") +
               cluster_metric(0, "ringd_proxy_app_overflows_total") ==
           posts;
}

/* 300 POSTs whose heads say Content-Length |length| (their bodies not sent) to node 0, whose
 * app is busy: past 16 MiB of what the waiters may hold, they get 503 at once, whatever
 * --proxy-max-pending allows; each waiter counts at least |min_bytes|. */
static void waiters_within_16_mib(const char *length, long long min_bytes)
{
    start("1", "4096", NULL);
    struct httpc *held = hold();
    static struct httpc *w[300];
    int posts = 300;
    char req[256];
    snprintf(req, sizeof(req),
             "POST /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k\r\nContent-Length: %s\r\n\r\n", length);
    for (int i = 0; i < posts; i++) {
        w[i] = connect_proxy(0);
        send_str(w[i], req);
    }
    cr_assert(ge(int, cluster_wait(all_waiting_or_overloaded, &posts, IO_MS), 0),
              "%lld waiting, %lld overloaded, %lld bad",
              cluster_metric(0, "ringd_proxy_app_pending"),
              cluster_metric(0, "ringd_proxy_app_overflows_total"),
              cluster_metric(0, "ringd_proxy_errors_total{cause=\"bad_request\"}"));
    long long pending = cluster_metric(0, "ringd_proxy_app_pending");
    long long overloaded = cluster_metric(0, "ringd_proxy_app_overflows_total");
    cr_assert(gt(i64, overloaded, 0), "all %lld wait: no bound on what they hold", pending);
    long long bytes = cluster_metric(0, "ringd_proxy_app_pending_bytes");
    cr_assert(le(i64, bytes, 16 << 20), "%lld bytes held", bytes);
    cr_assert(ge(i64, bytes, pending * min_bytes), "%lld bytes for %lld waiters", bytes, pending);
    /* the overloaded ones were answered as their heads came (before the metrics were) */
    long long answered = 0;
    for (int i = 0; i < posts; i++) {
        struct pollfd pfd = { .fd = httpc_fd(w[i]), .events = POLLIN };
        if (poll(&pfd, 1, 0) == 1) {
            expect(w[i], 503, "app_overloaded");
            answered++;
        }
    }
    cr_assert(eq(i64, answered, overloaded));
    /* gone mid-body, each is dropped at its turn, and gives back what it counted */
    for (int i = 0; i < posts; i++) {
        reset_close(w[i]);
    }
    release(held);
    wait_metric("ringd_proxy_app_pending", 0);
    cr_assert(eq(i64, cluster_metric(0, "ringd_proxy_app_pending_bytes"), 0));
}

/* Waiters with bodies count what they may come to hold: 300 of 60,000 bytes would hold 18 MB.
 * (1,100 of them took ringd past 80 MB.) */
Test(app_queue, waiting_requests_hold_at_most_16_mib_together)
{
    waiters_within_16_mib("60000", 60000);
}

/* The largest Content-Length http_parser takes (2^64 - 7) counts as the most a waiter holds
 * (64 KiB), not as a sum with its head that wraps around to a few bytes (all 300 waited). */
Test(app_queue, a_waiter_of_the_largest_content_length_counts_64_kib)
{
    waiters_within_16_mib("18446744073709551609", 64 << 10);
}

/* A request with neither Content-Length nor chunked framing has no body: it counts its head
 * and the waiter's bytes, not the 64 KiB a body may hold (then 240 GETs filled 16 MiB and a
 * busy app's queue of 1,024 took a quarter of that). 400 GETs, HTTP/1.1 and HTTP/1.0, all
 * wait. */
Test(app_queue, a_get_without_a_body_counts_its_head_only)
{
    start("1", "4096", NULL);
    struct httpc *held = hold();
    enum { GETS = 400 };
    static struct httpc *w[GETS];
    int gets = GETS;
    for (int i = 0; i < gets; i++) {
        w[i] = connect_proxy(0);
        send_str(w[i], i % 2 ? "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k\r\n\r\n"
                             : "GET /x HTTP/1.0\r\nX-Ring-Key: k\r\n\r\n");
    }
    cr_assert(ge(int, cluster_wait(all_waiting_or_overloaded, &gets, IO_MS), 0));
    cr_assert(eq(i64, cluster_metric(0, "ringd_proxy_app_pending"), gets),
              "%lld waiting, %lld overloaded", cluster_metric(0, "ringd_proxy_app_pending"),
              cluster_metric(0, "ringd_proxy_app_overflows_total"));
    long long bytes = cluster_metric(0, "ringd_proxy_app_pending_bytes");
    cr_assert(le(i64, bytes, (long long)gets * (8 << 10)), "%lld bytes for %d GETs", bytes, gets);
    release(held);
    for (int i = 0; i < gets; i++) {
        expect(w[i], 200, NULL);
        httpc_close(w[i]);
    }
    wait_metric("ringd_proxy_app_pending", 0);
    cr_assert(eq(i64, cluster_metric(0, "ringd_proxy_app_pending_bytes"), 0));
}

static int head_overflowed(void *arg)
{
    (void)arg;
    return cluster_metric(0, "ringd_proxy_client_head_overflows_total") > 0;
}

/* Pipelined requests read ahead of the one waiting count against the 16 MiB that heads being
 * read hold together: 300 waiting clients with 130 KB pipelined each (most of it read, up to
 * 128 KiB a client) pass it, and the clients holding the most are closed. Before, those bytes
 * were counted nowhere: 1,896 such clients took ringd to 256 MiB. */
Test(app_queue, pipelined_bytes_of_waiting_clients_count_against_the_heads_bound)
{
    start("1", "4096", NULL);
    struct httpc *held = hold();
    enum { CLIENTS = 300 };
    static char req[140000];
    const char *one = "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k\r\n\r\n";
    size_t n = 0, len = strlen(one);
    while (n + len < 130000) {
        memcpy(req + n, one, len);
        n += len;
    }
    static struct httpc *w[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        w[i] = connect_proxy(0);
        int fd = httpc_fd(w[i]);
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        (void)send(fd, req, n, MSG_NOSIGNAL); /* what the socket takes */
    }
    cr_assert(ge(int, cluster_wait(head_overflowed, NULL, IO_MS), 0),
              "%d clients with 130 KB pipelined each: none closed", CLIENTS);
    for (int i = 0; i < CLIENTS; i++) {
        reset_close(w[i]);
    }
    release(held);
    wait_metric("ringd_proxy_app_pending", 0);
}
