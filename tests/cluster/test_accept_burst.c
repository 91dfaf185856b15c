/*
 * A burst of accepts never closes a client whose request is already in its socket.
 *
 * Every listener of ringd's makes room, when its slots are full, by closing a connection that
 * is not doing its part. A flood of idle connections that fills the backlog while ringd is
 * busy (descheduled on a loaded host, say) is accepted in one burst, and a real client accepted
 * a moment before it, whose request is in its socket but not yet read, looked as idle as the
 * flood: it was closed unanswered. Each test here makes that burst happen: the client connects
 * and is accepted, ringd is stopped (SIGSTOP), the flood's first connection arrives, then the
 * client's request, then the rest of the flood, and ringd continues (SIGCONT). The listener
 * sees the flood before the request, so every connection of the burst must evict one while the
 * request still waits unread. The client must be answered.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "httpc.h"
#include "ring/session.h"
#include "testapp.h"

static struct testapp app;

static void setup(void)
{
    cluster_init();
}

static void teardown(void)
{
    cluster_stop();
    testapp_stop(&app);
}

TestSuite(accept_burst, .init = setup, .fini = teardown, .timeout = 60);

static int ready(void *arg)
{
    (void)arg;
    char body[256];
    return cluster_http(0, "GET /readyz HTTP/1.0\r\n\r\n", body, sizeof(body)) == 200;
}

static void start(const char *const *flags)
{
    size_t n = 0;
    for (; flags != NULL && flags[n] != NULL; n++) {
        cl.extra_args[0][n] = flags[n];
    }
    cl.extra_args[0][n] = NULL;
    cluster_start_node(0, -1);
    cr_assert(ge(int, cluster_wait(ready, NULL, 10000), 0), "ringd did not become ready");
}

/* A connection to 127.0.0.1:|port|, or to the unix socket |path| when it is not NULL, made
 * without waiting for the server; -1 when the backlog is full. */
static int connect_nowait(int port, const char *path)
{
    int fd;
    int rv;
    if (path != NULL) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t n = strlen(path);
        cr_assert(lt(sz, n, sizeof(sa.sun_path)));
        memcpy(sa.sun_path, path, n + 1);
        rv = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    } else {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        rv = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    }
    if (rv != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether process |pid| is stopped (state T in /proc/PID/stat). */
static int stopped(void *arg)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)(intptr_t)arg);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren != NULL && paren[1] == ' ' && paren[2] == 'T';
}

struct flood {
    int fds[6000];
    int count;
};

static void flood_add(struct flood *fl, int port, const char *path, int count)
{
    for (int i = 0; i < count && fl->count < (int)(sizeof(fl->fds) / sizeof(fl->fds[0])); i++) {
        int fd = connect_nowait(port, path);
        if (fd >= 0) {
            fl->fds[fl->count++] = fd;
        }
    }
}

/* Adds |count| connections, each connected (in the listener's backlog or accepted) before
 * the next batch starts, so none is lost to a full backlog. */
static void flood_add_all(struct flood *fl, int port, const char *path, int count)
{
    enum { BATCH = 64 };
    while (count > 0) {
        int first = fl->count;
        int n = count < BATCH ? count : BATCH;
        flood_add(fl, port, path, n);
        for (int i = first; i < fl->count; i++) {
            struct pollfd p = { .fd = fl->fds[i], .events = POLLOUT };
            cr_assert(eq(int, poll(&p, 1, 10000), 1), "a flood connection did not connect");
        }
        count -= n;
    }
}

static void flood_close(struct flood *fl)
{
    for (int i = 0; i < fl->count; i++) {
        close(fl->fds[i]);
    }
    fl->count = 0;
}

/* Stops node 0, adds one idle connection, has |send_request| write the client's request, adds
 * |more| idle connections, and lets the node go on. */
static void burst(struct flood *fl, int port, const char *path, int more,
                  void (*send_request)(void *), void *arg)
{
    pid_t pid = cl.pids[0];
    cr_assert(eq(int, kill(pid, SIGSTOP), 0));
    cr_assert(ge(int, cluster_wait(stopped, (void *)(intptr_t)pid, 5000), 0));
    flood_add(fl, port, path, 1);
    send_request(arg);
    flood_add(fl, port, path, more);
    /* the flood's accepts come at least a millisecond after the client's */
    struct timespec ms2 = { .tv_nsec = 2000000 };
    nanosleep(&ms2, NULL);
    cr_assert(eq(int, kill(pid, SIGCONT), 0));
}

struct want {
    const char *name;
    long long value;
};

static int metric_at_least(void *arg)
{
    const struct want *w = arg;
    return cluster_metric(0, w->name) >= w->value;
}

/* Waits until node 0's API evictions reach |n|: those on probation are closed by the sweep,
 * 200 ms after their accept. */
static void wait_api_evictions(long long n)
{
    struct want w = { "ringd_api_evictions_total", n };
    cr_assert(ge(int, cluster_wait(metric_at_least, &w, 10000), 0), "%lld evictions, want %lld",
              cluster_metric(0, w.name), n);
}

/* ---- admin ------------------------------------------------------------------------------ */

/* Admin's slots (ADMIN_CONNS_MAX) and listen backlog. */
#define ADMIN_SLOTS 64

static void send_readyz(void *arg)
{
    cr_assert(eq(int, httpc_send_str(arg, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"), 0));
}

Test(accept_burst, admin_answers_a_probe_whose_request_waits_behind_a_flood)
{
    start(NULL);
    int port = cluster_admin_port(0);
    struct flood fl = { .count = 0 };
    /* every slot held by an idle connection older than the probe */
    flood_add_all(&fl, port, NULL, ADMIN_SLOTS);
    cr_assert(ge(i64, cluster_metric(0, "ringd_admin_connections"), ADMIN_SLOTS - 1));
    struct httpc *probe = httpc_connect(port);
    cr_assert(ne(ptr, probe, NULL));
    /* accepted: admin answers a request on a later connection only after accepting it */
    cr_assert(ge(i64, cluster_metric(0, "ringd_admin_connections"), ADMIN_SLOTS - 1));
    burst(&fl, port, NULL, ADMIN_SLOTS + 16, send_readyz, probe);
    struct httpc_resp *r = calloc(1, sizeof(*r));
    int rv = httpc_read(probe, r, 5000);
    cr_assert(eq(int, rv, 0), "the probe was closed unanswered (%d)", rv);
    cr_assert(eq(int, r->status, 200));
    cr_assert(gt(i64, cluster_metric(0, "ringd_admin_evictions_total"), ADMIN_SLOTS),
              "the burst must have evicted");
    /* said in the log too, once per 10 s at most */
    char cmd[512], out[256];
    snprintf(cmd, sizeof(cmd), "grep -c 'msg=connections_evicted listener=admin' '%s/n0.log'",
             cl.dir);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "no eviction logged");
    cr_assert(eq(int, atoi(out), 1), "%s lines for one burst", out);
    free(r);
    httpc_close(probe);
    flood_close(&fl);
}

/* ---- the local API ---------------------------------------------------------------------- */

/* The API's slots (API_CONNS_MAX) and listen backlog (API_BACKLOG). */
#define API_SLOTS   1024
#define API_BACKLOG 1024
/* New connections that wait past the slots (API_EXTRA_MAX). */
#define API_EXTRA 64

/* lookup("key") as msgid |id|: [0, id, "lookup", ["key"]]. */
static void send_lookup(int fd, uint8_t id)
{
    char msg[] = "\x94\x00\x00\xa6lookup\x91\xa3key";
    msg[2] = (char)id;
    cr_assert(eq(sz, (size_t)send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL), sizeof(msg) - 1));
}

static void send_lookup_1(void *arg)
{
    send_lookup(*(int *)arg, 1);
}

/* Reads the answer to msgid |id| on |fd| within 5 s: [1, id, nil, owner]; asserts it came. */
static void read_answer(int fd, uint8_t id)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    cr_assert(eq(int, poll(&p, 1, 5000), 1), "no answer within 5 s");
    uint8_t buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    cr_assert(ge(sz, (size_t)(n > 0 ? n : 0), 4), "the connection was closed unanswered");
    cr_assert(eq(u8, buf[0], 0x94));
    cr_assert(eq(u8, buf[1], 0x01));
    cr_assert(eq(u8, buf[2], id));
    cr_assert(eq(u8, buf[3], 0xc0), "the lookup failed");
}

/* Reads each of |n| clients' answer to its lookup, msgid 10 + i % 100 (msgids are positive
 * fixints: below 128), and closes it. */
static void read_answers(const int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        read_answer(fds[i], (uint8_t)(10 + i % 100));
        close(fds[i]);
    }
}

static int unix_connect_wait(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t n = strlen(path);
    cr_assert(lt(sz, n, sizeof(sa.sun_path)));
    memcpy(sa.sun_path, path, n + 1);
    cr_assert(eq(int, connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0));
    return fd;
}

/* The test's own descriptors: a flood of the API's slots and a backlog on top. */
static void need_fds(rlim_t want)
{
    struct rlimit rl;
    cr_assert(eq(int, getrlimit(RLIMIT_NOFILE, &rl), 0));
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
            cr_skip_test("RLIMIT_NOFILE's hard limit is under %d", (int)want);
        }
        rl.rlim_cur = want;
        cr_assert(eq(int, setrlimit(RLIMIT_NOFILE, &rl), 0));
    }
}

/* A later connection's lookup answered: the API has accepted every connection made before it
 * (accepts are in order). */
static void api_sync(const char *sock)
{
    int fd = unix_connect_wait(sock);
    send_lookup(fd, 9);
    read_answer(fd, 9);
    close(fd);
}

/* Node 0 alone, its socket's path into |sock|; returns the app's connection, which asked once
 * and now waits for its next request. */
static int start_with_app_connection(char *sock, size_t cap)
{
    need_fds(4096);
    start(NULL);
    cluster_socket(0, sock, cap);
    int fd = unix_connect_wait(sock);
    send_lookup(fd, 1);
    read_answer(fd, 1);
    return fd;
}

Test(accept_burst, api_keeps_an_apps_idle_connection_through_a_silent_flood)
{
    char sock[128];
    int app_fd = start_with_app_connection(sock, sizeof(sock));
    /* more connections than the slots, none of which ever says a word */
    struct flood fl = { .count = 0 };
    for (int i = 0; i < API_SLOTS + 100; i++) {
        int fd = unix_connect_wait(sock);
        fl.fds[fl.count++] = fd;
    }
    /* all accepted: a later connection's request is answered only after that */
    api_sync(sock);
    /* young ones wait past the slots (API_EXTRA), then on probation until the sweep */
    wait_api_evictions(100 - API_EXTRA);
    send_lookup(app_fd, 2);
    read_answer(app_fd, 2);
    close(app_fd);
    flood_close(&fl);
}

Test(accept_burst, api_answers_a_client_whose_request_waits_behind_a_flood)
{
    need_fds(4096);
    start(NULL);
    char sock[128];
    cluster_socket(0, sock, sizeof(sock));
    struct flood fl = { .count = 0 };
    for (int i = 0; i < API_SLOTS; i++) {
        fl.fds[fl.count++] = unix_connect_wait(sock);
    }
    int client = unix_connect_wait(sock);
    /* accepted: the API answers a later connection's request only after accepting it */
    api_sync(sock);
    burst(&fl, 0, sock, API_BACKLOG + 16, send_lookup_1, &client);
    read_answer(client, 1);
    close(client);
    flood_close(&fl);
}

/* ---- the proxy -------------------------------------------------------------------------- */

/* The proxy's client slots (PROXY_CLIENTS_MAX) and listen backlog. */
#define PROXY_SLOTS   4096
#define PROXY_BACKLOG 511

static char proxy_addr[32], app_addr[32];

static void start_with_proxy(void)
{
    cr_assert(eq(int, testapp_start(&app, testapp_port(0), "app0", NULL), 0));
    snprintf(proxy_addr, sizeof(proxy_addr), "127.0.0.1:%d", cluster_proxy_port(0));
    snprintf(app_addr, sizeof(app_addr), "127.0.0.1:%d", testapp_port(0));
    const char *const flags[] = { "--proxy", proxy_addr, "--app", app_addr, NULL };
    start(flags);
}

static void send_proxied(void *arg)
{
    cr_assert(
        eq(int, httpc_send_str(arg, "GET /k HTTP/1.1\r\nHost: x\r\nX-Ring-Key: k\r\n\r\n"), 0));
}

static void read_200(struct httpc *h)
{
    struct httpc_resp *r = calloc(1, sizeof(*r));
    int rv = httpc_read(h, r, 5000);
    cr_assert(eq(int, rv, 0), "the client was closed unanswered (%d)", rv);
    cr_assert(eq(int, r->status, 200));
    free(r);
}

/* Fills the proxy's slots with |count| connections that never say a word, waiting until each
 * is accepted (a request on a later connection is answered only after that). */
static void flood_proxy(struct flood *fl, int port, int count)
{
    flood_add_all(fl, port, NULL, count);
    struct httpc *sync = httpc_connect(port);
    cr_assert(ne(ptr, sync, NULL));
    send_proxied(sync);
    read_200(sync);
    httpc_close(sync);
}

Test(accept_burst, proxy_keeps_a_clients_idle_connection_through_a_silent_flood, .timeout = 120)
{
    need_fds(16384);
    start_with_proxy();
    int port = cluster_proxy_port(0);
    struct httpc *client = httpc_connect(port);
    cr_assert(ne(ptr, client, NULL));
    send_proxied(client);
    read_200(client);
    struct flood fl = { .count = 0 };
    flood_proxy(&fl, port, PROXY_SLOTS + 200);
    cr_assert(ge(i64, cluster_metric(0, "ringd_proxy_client_evictions_total"), 200));
    send_proxied(client);
    read_200(client);
    httpc_close(client);
    flood_close(&fl);
}

Test(accept_burst, proxy_answers_a_client_whose_request_waits_behind_a_flood, .timeout = 120)
{
    need_fds(16384);
    start_with_proxy();
    int port = cluster_proxy_port(0);
    /* the client among the oldest connections, fewer than a backlog's worth older still, the
     * slots full of newer ones: the burst's evictions reach it */
    struct flood fl = { .count = 0 };
    flood_proxy(&fl, port, 200);
    struct httpc *client = httpc_connect(port);
    cr_assert(ne(ptr, client, NULL));
    struct timespec ms2 = { .tv_nsec = 2000000 };
    nanosleep(&ms2, NULL);
    flood_proxy(&fl, port, PROXY_SLOTS - 200);
    burst(&fl, port, NULL, PROXY_BACKLOG + 16, send_proxied, client);
    read_200(client);
    httpc_close(client);
    flood_close(&fl);
}

/* Every proxy slot holds a request waiting for its answer (256 at the app, the rest queued
 * for a connection to it): a new client is closed at once, as documented, and that is
 * counted and logged, where nothing did either. */
Test(accept_burst, proxy_counts_the_clients_it_refuses_when_every_slot_waits, .timeout = 120)
{
    need_fds(16384);
    cr_assert(eq(int, testapp_start(&app, testapp_port(0), "app0", NULL), 0));
    snprintf(proxy_addr, sizeof(proxy_addr), "127.0.0.1:%d", cluster_proxy_port(0));
    snprintf(app_addr, sizeof(app_addr), "127.0.0.1:%d", testapp_port(0));
    /* 3,840 GETs waiting count 4 KiB and their heads each: within the queue's 16 MiB */
    const char *const flags[] = { "--proxy",
                                  proxy_addr,
                                  "--app",
                                  app_addr,
                                  "--proxy-max-app-conns",
                                  "256",
                                  "--proxy-max-pending",
                                  "3840",
                                  "--request-timeout",
                                  "60s",
                                  NULL };
    start(flags);
    int port = cluster_proxy_port(0);
    struct flood fl = { .count = 0 };
    flood_add_all(&fl, port, NULL, PROXY_SLOTS);
    static const char req[] = "GET /sleep?ms=60000 HTTP/1.1\r\nHost: x\r\nX-Ring-Key: k\r\n\r\n";
    for (int i = 0; i < fl.count; i++) {
        cr_assert(eq(i64, (int64_t)send(fl.fds[i], req, sizeof(req) - 1, MSG_NOSIGNAL),
                     (int64_t)sizeof(req) - 1));
    }
    struct want w = { "ringd_proxy_app_pending", PROXY_SLOTS - 256 };
    cr_assert(ge(int, cluster_wait(metric_at_least, &w, 20000), 0), "%lld waiting",
              cluster_metric(0, w.name));
    int extra = connect_nowait(port, NULL);
    cr_assert(ge(int, extra, 0));
    struct pollfd p = { .fd = extra, .events = POLLIN };
    cr_assert(eq(int, poll(&p, 1, 5000), 1), "the client over the slots was not closed");
    char byte;
    cr_assert(le(i64, (int64_t)recv(extra, &byte, 1, 0), 0), "it was answered");
    close(extra);
    cr_assert(eq(i64, cluster_metric(0, "ringd_proxy_client_refused_total"), 1));
    cr_assert(eq(i64, cluster_metric(0, "ringd_proxy_client_evictions_total"), 0));
    char cmd[512], out[256];
    snprintf(cmd, sizeof(cmd),
             "grep -c 'msg=connections_refused listener=proxy refused=1' '%s/n0.log'", cl.dir);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "no refusal logged");
    flood_close(&fl);
}

/* ---- the gossip port -------------------------------------------------------------------- */

/* Connections waiting for their first frame from one address (STREAMS_PER_ADDRESS_MAX). */
#define STREAMS_PER_ADDRESS 32

struct peer {
    int fd;
    struct session sess;
};

static void send_hello(void *arg)
{
    struct peer *pe = arg;
    cluster_stream_hello(pe->fd, &pe->sess);
}

Test(accept_burst, gossip_port_completes_a_handshake_whose_hello_waits_behind_a_flood)
{
    start(NULL);
    int port = cluster_gossip_port(0);
    struct peer pe;
    pe.fd = cluster_stream_connect(0);
    /* accepted: a later connection's handshake is answered only after that */
    struct session sync_sess;
    close(cluster_stream_open(0, &sync_sess));
    struct flood fl = { .count = 0 };
    burst(&fl, port, NULL, STREAMS_PER_ADDRESS + 8, send_hello, &pe);
    cr_assert(eq(int, cluster_stream_finish(pe.fd, &pe.sess), 0),
              "the peer's connection was closed before the server hello");
    cr_assert(gt(i64, cluster_metric(0, "ringd_stream_evictions_total{cap=\"address\"}"), 0),
              "the burst must have evicted");
    close(pe.fd);
    flood_close(&fl);
}

/* ---- a connect flood never holds the loop ------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A child that connects to the unix socket |path| in a tight loop for |ms|, holding at most
 * 200 connections (the oldest closed first); it counts them in |*made| (shared memory). */
static pid_t connect_flood(const char *path, int64_t ms, volatile long *made)
{
    pid_t pid = fork();
    cr_assert(ge(int, pid, 0));
    if (pid > 0) {
        return pid;
    }
    int held[200];
    size_t n = 0, next = 0;
    int64_t end = now_ms() + ms;
    while (now_ms() < end) {
        int fd = connect_nowait(0, path);
        if (fd < 0) {
            continue;
        }
        (*made)++;
        if (n < 200) {
            held[n++] = fd;
        } else {
            close(held[next]);
            held[next] = fd;
            next = (next + 1) % 200;
        }
    }
    _exit(0);
}

/* A field of /proc/<pid>/status in KiB ("VmHWM:", "VmRSS:"), or -1. */
static long vm_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    size_t n = strlen(field);
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, n) == 0) {
            kib = strtol(line + n, NULL, 10);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kib;
}

/* Processes connecting to the API socket in a loop. */
#define FLOODERS 1

static int two_converged(void *arg)
{
    (void)arg;
    return cluster_converged((void *)(intptr_t)2);
}

/* libuv accepts until the listener's queue is empty; two processes connecting to the API
 * socket as fast as they can kept it full, so the loop stayed there: admin answered after 2 s,
 * the other node declared this one faulty, and its memory rose to 184 MiB. Now each turn of the
 * loop accepts at most 64. */
Test(accept_burst, a_connect_flood_on_the_api_socket_never_holds_the_loop)
{
    start(NULL);
    cluster_start_node(1, 0);
    cr_assert(ge(int, cluster_wait(two_converged, NULL, 10000), 0), "no convergence");
    char sock[128];
    cluster_socket(0, sock, sizeof(sock));
    pid_t flood[FLOODERS];
    volatile long *made =
        mmap(NULL, 2 * sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(ne(ptr, (void *)made, MAP_FAILED));
    for (int i = 0; i < FLOODERS; i++) {
        made[i] = 0;
        flood[i] = connect_flood(sock, 3000, &made[i]);
    }
    int64_t worst = 0, end = now_ms() + 3000;
    while (now_ms() < end) {
        char body[256];
        int64_t t0 = now_ms();
        cr_assert(
            eq(int, cluster_http(0, "GET /healthz HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
        int64_t took = now_ms() - t0;
        worst = took > worst ? took : worst;
        struct timespec ms50 = { .tv_nsec = 50000000 };
        nanosleep(&ms50, NULL);
    }
    for (int i = 0; i < FLOODERS; i++) {
        int status;
        cr_assert(eq(int, waitpid(flood[i], &status, 0), flood[i]));
    }
    long hwm = vm_kib(cl.pids[0], "VmHWM:");
    long connects = 0;
    for (int i = 0; i < FLOODERS; i++) {
        connects += made[i];
    }
    munmap((void *)made, 2 * sizeof(long));
    fprintf(stderr,
            "accept_burst: API connect flood: %ld connections, /healthz worst %lld ms, "
            "peak RSS %ld KiB\n",
            connects, (long long)worst, hwm);
    cr_assert(gt(i64, connects, 10000), "only %ld connections: not a flood", connects);
    cr_assert(lt(i64, worst, 1000), "admin answered after %lld ms", (long long)worst);
#if !defined(__SANITIZE_ADDRESS__) /* ASan keeps freed memory in its quarantine */
    cr_assert(lt(i64, hwm, 64 << 10), "peak RSS %ld KiB", hwm);
#endif
    cr_assert(eq(i64, cluster_metric(1, "ringd_suspicions_total"), 0),
              "the other node suspected this one");
}

/* ---- connections that have spoken outlive those that never do ---------------------------- */

/* watch() as msgid 1: [0, 1, "watch", []]; waits for its answer. */
static void start_watching(int fd)
{
    static const char msg[] = "\x94\x00\x01\xa5watch\x90";
    cr_assert(eq(sz, (size_t)send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL), sizeof(msg) - 1));
    struct pollfd p = { .fd = fd, .events = POLLIN };
    cr_assert(eq(int, poll(&p, 1, 5000), 1), "watch() not answered");
    uint8_t buf[512];
    cr_assert(gt(i64, (int64_t)recv(fd, buf, sizeof(buf), 0), 0));
}

/* Fills every API slot but the app's with watchers (closed last by design), into |fl|. */
static void watch_every_other_slot(struct flood *fl, const char *sock)
{
    for (int i = 0; i < API_SLOTS - 1; i++) {
        int fd = unix_connect_wait(sock);
        start_watching(fd);
        fl->fds[fl->count++] = fd;
    }
}

/* Adds |n| clients that each ask once, are answered and stay idle, into |fl|. */
static void ask_and_stay(struct flood *fl, const char *sock, int n)
{
    for (int i = 0; i < n; i++) {
        int fd = unix_connect_wait(sock);
        send_lookup(fd, 4);
        read_answer(fd, 4);
        fl->fds[fl->count++] = fd;
    }
}

/* Every slot but the app's held by watchers (closed last by design): strangers that connect
 * and say nothing wait on probation, and the app's connection, which has asked before, stays. */
Test(accept_burst, api_keeps_an_apps_connection_when_watchers_hold_the_other_slots)
{
    char sock[128];
    int app_fd = start_with_app_connection(sock, sizeof(sock));
    struct flood fl = { .count = 0 };
    watch_every_other_slot(&fl, sock);
    /* silent strangers, more than probation holds: 64 wait, each further one takes the place
     * of the oldest of those */
    for (int i = 0; i < 100; i++) {
        fl.fds[fl.count++] = unix_connect_wait(sock);
    }
    struct want w = { "ringd_api_evictions_total", 100 - API_EXTRA };
    cr_assert(ge(int, cluster_wait(metric_at_least, &w, 10000), 0), "%lld evictions",
              cluster_metric(0, w.name));
    cr_assert(eq(i64, cluster_metric(0, "ringd_api_connections"), API_SLOTS + API_EXTRA));
    send_lookup(app_fd, 2);
    read_answer(app_fd, 2);
    close(app_fd);
    flood_close(&fl);
}

/* Every slot but the app's held by watchers: strangers that send a byte (the start of a
 * request, or a byte no message starts with) have not asked anything, so they wait on
 * probation as silent ones do and never close the app's connection (one byte from any local
 * process did). */
Test(accept_burst, api_keeps_an_apps_connection_from_strangers_that_send_a_byte)
{
    char sock[128];
    int app_fd = start_with_app_connection(sock, sizeof(sock));
    struct flood fl = { .count = 0 };
    watch_every_other_slot(&fl, sock);
    /* one that breaks framing at once: closed for that, and no one else for it */
    int bad = unix_connect_wait(sock);
    cr_assert(eq(i64, (int64_t)send(bad, "\xc1", 1, MSG_NOSIGNAL), 1));
    struct pollfd p = { .fd = bad, .events = POLLIN };
    cr_assert(eq(int, poll(&p, 1, 5000), 1), "a byte no message starts with was not refused");
    close(bad);
    /* 200 that begin a request and stop: 64 wait on probation, each further one takes the
     * place of the oldest of those (not a sync by a later client's lookup: a client that asks
     * is owed a slot, and the app's, idle the longest, would be the one) */
    for (int i = 0; i < 200; i++) {
        int fd = unix_connect_wait(sock);
        cr_assert(eq(i64, (int64_t)send(fd, "\x94", 1, MSG_NOSIGNAL), 1));
        fl.fds[fl.count++] = fd;
    }
    struct want w = { "ringd_api_evictions_total", 200 - API_EXTRA };
    cr_assert(ge(int, cluster_wait(metric_at_least, &w, 10000), 0), "%lld evictions",
              cluster_metric(0, w.name));
    send_lookup(app_fd, 2);
    read_answer(app_fd, 2);
    close(app_fd);
    flood_close(&fl);
}

/* Every slot held by clients that asked (the app and watchers): ten new clients connecting
 * back to back, each with its request sent at once, all wait on probation and all are
 * answered; one newcomer no longer closes the one before it while its request is unread. */
Test(accept_burst, api_answers_a_burst_of_new_clients_when_every_slot_holds_one_that_asked)
{
    char sock[128];
    int app_fd = start_with_app_connection(sock, sizeof(sock));
    struct flood fl = { .count = 0 };
    watch_every_other_slot(&fl, sock);
    int fds[10];
    for (int i = 0; i < 10; i++) {
        fds[i] = unix_connect_wait(sock);
        send_lookup(fds[i], (uint8_t)(10 + i));
    }
    read_answers(fds, 10);
    close(app_fd);
    flood_close(&fl);
}

/* Watchers and the app hold 901 slots; 150 clients connect at once and each then sends its
 * request: the 27 past the free slots wait past them while the others' requests are on their
 * way, so none is closed and every one is answered (a newcomer closed the one before it whose
 * request had not arrived yet: 27 were reset unanswered). The app's connection stays. */
Test(accept_burst, api_answers_a_burst_that_connects_before_it_asks)
{
    char sock[128];
    int app_fd = start_with_app_connection(sock, sizeof(sock));
    struct flood fl = { .count = 0 };
    for (int i = 0; i < 900; i++) {
        int fd = unix_connect_wait(sock);
        start_watching(fd);
        fl.fds[fl.count++] = fd;
    }
    enum { BURST = 150 };
    int fds[BURST];
    for (int i = 0; i < BURST; i++) {
        fds[i] = unix_connect_wait(sock);
    }
    for (int i = 0; i < BURST; i++) { /* msgids are positive fixints: below 128 */
        send_lookup(fds[i], (uint8_t)(10 + i % 100));
    }
    read_answers(fds, BURST);
    cr_assert(eq(i64, cluster_metric(0, "ringd_api_evictions_total"), 0));
    send_lookup(app_fd, 2);
    read_answer(app_fd, 2);
    close(app_fd);
    flood_close(&fl);
}

/* Every slot held by clients that asked (the app and watchers); 100 clients each connect and
 * send a request while ringd is stopped, so that all of them are accepted in one burst: each
 * is read at its accept, has asked, and is answered, where the first 36 were closed unread
 * for those after them. */
Test(accept_burst, api_reads_a_bursts_requests_as_it_accepts_them)
{
    char sock[128];
    int app_fd = start_with_app_connection(sock, sizeof(sock));
    struct flood fl = { .count = 0 };
    watch_every_other_slot(&fl, sock);
    enum { BURST = 100 };
    int fds[BURST];
    pid_t pid = cl.pids[0];
    cr_assert(eq(int, kill(pid, SIGSTOP), 0));
    for (int i = 0; i < BURST; i++) {
        fds[i] = unix_connect_wait(sock);
        send_lookup(fds[i], (uint8_t)(10 + i));
    }
    cr_assert(eq(int, kill(pid, SIGCONT), 0));
    read_answers(fds, BURST);
    close(app_fd);
    flood_close(&fl);
}

/* Every slot held (watchers and the app), then a burst of connections that each send one
 * byte with a real client among them that connects and asks a moment later: young ones go
 * oldest first whatever they sent, so the client, silent at its accept, is not the first to
 * go (ranked above the byte-senders, it was: half of the real clients in a byte flood were
 * reset). */
Test(accept_burst, api_keeps_a_client_that_asks_after_its_connect_through_a_byte_burst)
{
    char sock[128];
    int app_fd = start_with_app_connection(sock, sizeof(sock));
    struct flood fl = { .count = 0 };
    watch_every_other_slot(&fl, sock);
    pid_t pid = cl.pids[0];
    cr_assert(eq(int, kill(pid, SIGSTOP), 0));
    cr_assert(ge(int, cluster_wait(stopped, (void *)(intptr_t)pid, 5000), 0));
    int client = -1;
    for (int i = 0; i < 81; i++) {
        int fd = unix_connect_wait(sock);
        if (i == 40) {
            client = fd; /* silent until ringd has accepted the burst */
            continue;
        }
        cr_assert(eq(i64, (int64_t)send(fd, "\x94", 1, MSG_NOSIGNAL), 1));
        fl.fds[fl.count++] = fd;
    }
    cr_assert(eq(int, kill(pid, SIGCONT), 0));
    struct want w = { "ringd_api_evictions_total", 81 - API_EXTRA };
    cr_assert(ge(int, cluster_wait(metric_at_least, &w, 10000), 0), "%lld evictions",
              cluster_metric(0, w.name));
    send_lookup(client, 3);
    read_answer(client, 3);
    close(client);
    close(app_fd);
    flood_close(&fl);
}

/* Every slot and the room past them held by clients that asked (watchers, the app and 64
 * idle ones): a stranger that says nothing waits on probation and is closed after 200 ms,
 * closing no one, and a client that connects and asks 20 ms later is answered, taking the
 * place of the one idle the longest (all such clients were closed at once). */
Test(accept_burst, api_lets_in_a_client_that_asks_after_its_connect_when_all_have_asked,
     .timeout = 60)
{
    char sock[128];
    int app_fd = start_with_app_connection(sock, sizeof(sock));
    struct flood fl = { .count = 0 };
    watch_every_other_slot(&fl, sock);
    ask_and_stay(&fl, sock, API_EXTRA);
    cr_assert(eq(i64, cluster_metric(0, "ringd_api_connections"), API_SLOTS + API_EXTRA));
    int stranger = unix_connect_wait(sock);
    struct pollfd p = { .fd = stranger, .events = POLLIN };
    cr_assert(eq(int, poll(&p, 1, 5000), 1), "the silent stranger was kept");
    char byte;
    cr_assert(le(i64, (int64_t)recv(stranger, &byte, 1, 0), 0));
    close(stranger);
    cr_assert(eq(i64, cluster_metric(0, "ringd_api_evictions_total"), 1),
              "the stranger closed someone");
    for (int i = 0; i < 5; i++) {
        int fd = unix_connect_wait(sock);
        struct timespec ms20 = { .tv_nsec = 20000000 };
        nanosleep(&ms20, NULL);
        send_lookup(fd, (uint8_t)(20 + i));
        read_answer(fd, (uint8_t)(20 + i));
        fl.fds[fl.count++] = fd;
    }
    close(app_fd);
    flood_close(&fl);
}

/* One place left past the slots, the rest held by clients that asked: a client takes it, a
 * second connects 20 ms later, and both ask a moment after: the second waits on probation,
 * and the first, which had not asked yet, is not closed for it (it was, every time). */
Test(accept_burst, api_keeps_a_newcomer_that_has_not_asked_yet_from_the_next)
{
    char sock[128];
    int app_fd = start_with_app_connection(sock, sizeof(sock));
    struct flood fl = { .count = 0 };
    watch_every_other_slot(&fl, sock);
    ask_and_stay(&fl, sock, API_EXTRA - 1);
    struct timespec ms20 = { .tv_nsec = 20000000 };
    int first = unix_connect_wait(sock);
    nanosleep(&ms20, NULL);
    int second = unix_connect_wait(sock);
    nanosleep(&ms20, NULL);
    send_lookup(first, 5);
    read_answer(first, 5);
    send_lookup(second, 6);
    read_answer(second, 6);
    close(first);
    close(second);
    close(app_fd);
    flood_close(&fl);
}

/* 200 connections each send most of a 1 MiB message and never finish it: each is within
 * the message limit, and together they held 200 MiB (1,088 of them, 1.1 GB). The buffers of
 * all connections together are bounded: past 32 MiB the one holding the most is closed, and
 * the app's connection is answered throughout. */
Test(accept_burst, api_bounds_the_messages_being_received_together, .timeout = 120)
{
    char sock[128];
    int app_fd = start_with_app_connection(sock, sizeof(sock));
    /* [0, 1, "lookup", [<a str of 1,000,000 bytes>]], 900 KiB of it */
    static const char head[] = "\x94\x00\x01\xa6lookup\x91\xdb\x00\x0f\x42\x40";
    static char body[900 << 10];
    memset(body, 'x', sizeof(body));
    struct flood fl = { .count = 0 };
    for (int i = 0; i < 200; i++) {
        int fd = unix_connect_wait(sock);
        fl.fds[fl.count++] = fd;
        (void)send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL);
        /* blocks while ringd reads; fails once ringd has closed this one */
        (void)send(fd, body, sizeof(body), MSG_NOSIGNAL);
    }
    api_sync(sock);
    send_lookup(app_fd, 2);
    read_answer(app_fd, 2);
    long hwm = vm_kib(cl.pids[0], "VmHWM:");
    long long closed = cluster_metric(0, "ringd_api_input_overflows_total");
    fprintf(stderr,
            "accept_burst: 200 API messages of 900 KiB never finished: %lld closed, "
            "peak RSS %ld KiB\n",
            closed, hwm);
    cr_assert(ge(i64, closed, 150), "%lld closed", closed);
#if !defined(__SANITIZE_ADDRESS__) /* ASan keeps freed memory in its quarantine */
    cr_assert(lt(i64, hwm, 64 << 10), "peak RSS %ld KiB", hwm);
#endif
    close(app_fd);
    flood_close(&fl);
}

/* A flood of connections that send one byte each and stop is stuck mid-message: those go
 * before an idle connection that was answered. */
Test(accept_burst, api_keeps_an_apps_idle_connection_through_a_one_byte_flood)
{
    char sock[128];
    int app_fd = start_with_app_connection(sock, sizeof(sock));
    struct flood fl = { .count = 0 };
    for (int i = 0; i < API_SLOTS + 200; i++) {
        int fd = unix_connect_wait(sock);
        cr_assert(eq(i64, (int64_t)send(fd, "\x94", 1, MSG_NOSIGNAL), 1));
        fl.fds[fl.count++] = fd;
    }
    api_sync(sock);
    wait_api_evictions(200 - API_EXTRA);
    send_lookup(app_fd, 2);
    read_answer(app_fd, 2);
    close(app_fd);
    flood_close(&fl);
}

Test(accept_burst, proxy_keeps_a_clients_idle_connection_through_a_one_byte_flood, .timeout = 120)
{
    need_fds(16384);
    start_with_proxy();
    int port = cluster_proxy_port(0);
    struct httpc *client = httpc_connect(port);
    cr_assert(ne(ptr, client, NULL));
    send_proxied(client);
    read_200(client);
    struct flood fl = { .count = 0 };
    flood_add_all(&fl, port, NULL, PROXY_SLOTS + 200);
    for (int i = 0; i < fl.count; i++) {
        cr_assert(eq(i64, (int64_t)send(fl.fds[i], "G", 1, MSG_NOSIGNAL), 1));
    }
    /* all accepted: a later connection's request is answered only after that */
    struct httpc *sync = httpc_connect(port);
    cr_assert(ne(ptr, sync, NULL));
    send_proxied(sync);
    read_200(sync);
    httpc_close(sync);
    cr_assert(gt(i64, cluster_metric(0, "ringd_proxy_client_evictions_total"), 0));
    send_proxied(client);
    read_200(client);
    httpc_close(client);
    flood_close(&fl);
}

/* Clients 16 KB into request heads that never end hold what the proxy read of them: all
 * together at most PROXY_HEADS_HELD_MAX (16 MiB), the largest closed first (4,096 of them held
 * 129 MiB before), while a real request is answered. */
Test(accept_burst, proxy_clients_in_endless_heads_cost_bounded_memory, .timeout = 120)
{
    need_fds(4096);
    start_with_proxy();
    int port = cluster_proxy_port(0);
    static char head[16500];
    int n = snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: x\r\nX-Ring-Key: k\r\nX-Pad: ");
    memset(head + n, 'a', 16000);
    size_t head_len = (size_t)n + 16000;
    struct flood fl = { .count = 0 };
    flood_add_all(&fl, port, NULL, 1100);
    for (int i = 0; i < fl.count; i++) {
        (void)send(fl.fds[i], head, head_len, MSG_NOSIGNAL);
    }
    /* all read: a later connection's request is answered only after they were accepted, and
     * the heads' bytes are read as they arrive */
    struct want w = { "ringd_proxy_client_head_overflows_total", 1 };
    cr_assert(ge(int, cluster_wait(metric_at_least, &w, 20000), 0),
              "1,100 heads of 16 KB pass 16 MiB: some must have been closed");
    struct httpc *client = httpc_connect(port);
    cr_assert(ne(ptr, client, NULL));
    send_proxied(client);
    read_200(client);
    httpc_close(client);
    long hwm = vm_kib(cl.pids[0], "VmHWM:");
    fprintf(stderr,
            "accept_burst: 1,100 endless proxy heads of 16 KB: %lld closed, peak RSS %ld KiB\n",
            cluster_metric(0, w.name), hwm);
#if !defined(__SANITIZE_ADDRESS__) /* ASan keeps freed memory in its quarantine */
    cr_assert(lt(i64, hwm, 32 << 10), "peak RSS %ld KiB", hwm);
#endif
    flood_close(&fl);
}

static int proxy_clients_gone(void *arg)
{
    (void)arg;
    return cluster_metric(0, "ringd_proxy_client_connections") == 0;
}

/* Bursts of proxy clients that sent a byte or 16 KB of a head, each burst closed before the
 * next, leave ringd's memory where the first left it. Before, each exchange kept its head's
 * text inline (39 KB), and the pages a burst touched lay in ever new parts of malloc's heap:
 * six bursts of 4,096 climbed to 72 MiB resident. */
#define BURST_ROUNDS  6
#define BURST_CLIENTS 3000
Test(accept_burst, repeated_proxy_bursts_leave_memory_where_the_first_left_it, .timeout = 120)
{
    need_fds(BURST_CLIENTS + 200);
    start_with_proxy();
    int port = cluster_proxy_port(0);
    static char head[16500];
    int n = snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: x\r\nX-Ring-Key: k\r\nX-Pad: ");
    memset(head + n, 'a', 16000);
    long rss[BURST_ROUNDS];
    static struct flood fl;
    for (int r = 0; r < BURST_ROUNDS; r++) {
        fl.count = 0;
        flood_add_all(&fl, port, NULL, BURST_CLIENTS);
        for (int i = 0; i < fl.count; i++) {
            /* odd rounds: a byte; even ones: a head 16 KB long, never ended */
            (void)send(fl.fds[i], r % 2 ? "G" : head, r % 2 ? 1 : (size_t)n + 16000, MSG_NOSIGNAL);
        }
        /* a later client is answered once those were accepted and their bytes read */
        struct httpc *client = httpc_connect(port);
        cr_assert(ne(ptr, client, NULL));
        send_proxied(client);
        read_200(client);
        httpc_close(client);
        flood_close(&fl);
        cr_assert(ge(int, cluster_wait(proxy_clients_gone, NULL, 20000), 0),
                  "ringd did not see the burst's clients go");
        rss[r] = vm_kib(cl.pids[0], "VmRSS:");
    }
    long hwm = vm_kib(cl.pids[0], "VmHWM:");
    fprintf(stderr, "accept_burst: %d bursts of %d proxy clients: RSS after each", BURST_ROUNDS,
            BURST_CLIENTS);
    for (int r = 0; r < BURST_ROUNDS; r++) {
        fprintf(stderr, " %ld", rss[r]);
    }
    fprintf(stderr, " KiB, peak %ld KiB\n", hwm);
#if !defined(__SANITIZE_ADDRESS__) /* ASan keeps freed memory in its quarantine */
    cr_assert(le(i64, rss[BURST_ROUNDS - 1], rss[1] + (2 << 10)),
              "RSS climbed from %ld KiB to %ld KiB", rss[1], rss[BURST_ROUNDS - 1]);
    cr_assert(lt(i64, hwm, 32 << 10), "peak RSS %ld KiB", hwm);
#endif
}

/* The evictions of a burst are all in the log once EVICT_LOG_INTERVAL_MS (10 s) has passed,
 * though no eviction follows: the last burst's count waited for the next eviction. */
/* The evictions node 0's connections_evicted lines of |listener| add up to, or -1. */
static long long evictions_logged(const char *listener)
{
    char cmd[512], out[64];
    snprintf(cmd, sizeof(cmd),
             "awk '/msg=connections_evicted listener=%s / { for (i = 1; i <= NF; i++) if "
             "($i ~ /^evicted=/) { sub(/evicted=/, \"\", $i); n += $i } } END { print n + 0 }' "
             "'%s/n0.log'",
             listener, cl.dir);
    return cluster_sh(cmd, out, sizeof(out)) == 0 ? atoll(out) : -1;
}

static int api_evictions_all_logged(void *arg)
{
    (void)arg;
    return evictions_logged("api") == cluster_metric(0, "ringd_api_evictions_total");
}

Test(accept_burst, a_bursts_last_evictions_reach_the_log_without_another, .timeout = 60)
{
    need_fds(4096);
    start(NULL);
    char sock[128];
    cluster_socket(0, sock, sizeof(sock));
    struct flood fl = { .count = 0 };
    flood_add_all(&fl, 0, sock, API_SLOTS + 100);
    api_sync(sock);
    /* young ones wait past the slots (API_EXTRA), then on probation until the sweep */
    wait_api_evictions(100 - API_EXTRA);
    cr_assert(ge(int, cluster_wait(api_evictions_all_logged, NULL, 15000), 0),
              "%lld evictions, not all in the log 15 s later",
              cluster_metric(0, "ringd_api_evictions_total"));
    flood_close(&fl);
}

/* Admin's listen backlog holds a burst of connections while its loop is busy (here: stopped):
 * with 64, the SYNs past it were dropped and retried a second later, so probes took 1-2 s in
 * a connect flood. */
Test(accept_burst, admin_backlog_holds_a_burst_of_connections)
{
    start(NULL);
    int port = cluster_admin_port(0);
    pid_t pid = cl.pids[0];
    cr_assert(eq(int, kill(pid, SIGSTOP), 0));
    cr_assert(ge(int, cluster_wait(stopped, (void *)(intptr_t)pid, 5000), 0));
    struct flood fl = { .count = 0 };
    flood_add(&fl, port, NULL, 500);
    int connected = 0;
    for (int i = 0; i < fl.count; i++) {
        struct pollfd p = { .fd = fl.fds[i], .events = POLLOUT };
        connected += poll(&p, 1, i == 0 ? 500 : 0) == 1;
    }
    cr_assert(eq(int, kill(pid, SIGCONT), 0));
    cr_assert(eq(int, connected, 500), "%d of 500 connected while admin's loop was stopped",
              connected);
    flood_close(&fl);
}

/* A connection that pipelines |n| requests for /metrics and reads no answer, its receive
 * buffer small so that its answers stall at once. */
static int pipeline_metrics(int port, int n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    cr_assert(eq(int, setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0));
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert(eq(int, connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0));
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < n; i++) {
        cr_assert(eq(i64, (int64_t)send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL),
                     (int64_t)sizeof(req) - 1));
    }
    return fd;
}

/* A burst of 100 connections that each pipeline requests and read no answer, a probe among
 * them, all arriving while the loop is busy (here: stopped): every request waits unread, the
 * probe's as much as the others', and when 36 of them had to go, the oldest went, the probe
 * with them when it came early (7 of 10 such probes were reset). Each is now read as it is
 * accepted, so the probe has its answer before any is closed. */
Test(accept_burst, admin_answers_a_probe_in_a_burst_of_pipelining_connections, .timeout = 60)
{
    start(NULL);
    int port = cluster_admin_port(0);
    pid_t pid = cl.pids[0];
    for (int round = 0; round < 3; round++) {
        cr_assert(eq(int, kill(pid, SIGSTOP), 0));
        cr_assert(ge(int, cluster_wait(stopped, (void *)(intptr_t)pid, 5000), 0));
        struct flood fl = { .count = 0 };
        for (int i = 0; i < 20; i++) {
            fl.fds[fl.count++] = pipeline_metrics(port, 200);
        }
        struct httpc *probe = httpc_connect(port);
        cr_assert(ne(ptr, probe, NULL));
        send_readyz(probe);
        for (int i = 0; i < 80; i++) {
            fl.fds[fl.count++] = pipeline_metrics(port, 200);
        }
        cr_assert(eq(int, kill(pid, SIGCONT), 0));
        struct httpc_resp *r = calloc(1, sizeof(*r));
        int rv = httpc_read(probe, r, 5000);
        cr_assert(eq(int, rv, 0), "round %d: the probe was closed unanswered (%d)", round, rv);
        cr_assert(eq(int, r->status, 200));
        free(r);
        httpc_close(probe);
        flood_close(&fl);
    }
    cr_assert(gt(i64, cluster_metric(0, "ringd_admin_evictions_total"), 0),
              "the bursts must have evicted");
}

/* ringd_admin_evictions_total read on keep-alive connection |h| (no connection closes). */
static long long admin_evictions_on(struct httpc *h)
{
    static struct httpc_resp r;
    cr_assert(eq(int, httpc_send_str(h, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 0));
    cr_assert(eq(int, httpc_read(h, &r, 5000), 0));
    const char *m = strstr(r.body, "\nringd_admin_evictions_total ");
    cr_assert(ne(ptr, (void *)m, NULL), "no ringd_admin_evictions_total");
    return atoll(m + strlen("\nringd_admin_evictions_total "));
}

/* Admin has no sweep: clients that asked once and stay idle on keep-alive, and a scraper that
 * keeps its connection, close nothing, yet every eviction reaches the log within about 10 s
 * (before, the count waited for a connection to close: 40 s and more). */
Test(accept_burst, admin_evictions_reach_the_log_while_clients_keep_their_connections,
     .timeout = 60)
{
    start(NULL);
    int port = cluster_admin_port(0);
    static struct httpc *idle[ADMIN_SLOTS + 16];
    static struct httpc_resp r;
    for (int i = 0; i < ADMIN_SLOTS + 16; i++) {
        idle[i] = httpc_connect(port);
        cr_assert(ne(ptr, idle[i], NULL));
        send_readyz(idle[i]);
        (void)httpc_read(idle[i], &r, 5000); /* the oldest may be closed for the newest */
    }
    struct httpc *scraper = httpc_connect(port);
    cr_assert(ne(ptr, scraper, NULL));
    long long evicted = admin_evictions_on(scraper);
    cr_assert(ge(i64, evicted, 16));
    int64_t end = now_ms() + 15000;
    while (evictions_logged("admin") != evicted && now_ms() < end) {
        struct timespec s = { .tv_nsec = 500000000 };
        nanosleep(&s, NULL);
        evicted = admin_evictions_on(scraper);
    }
    cr_assert(eq(i64, evictions_logged("admin"), evicted), "%lld evictions, %lld logged", evicted,
              evictions_logged("admin"));
    httpc_close(scraper);
    for (int i = 0; i < ADMIN_SLOTS + 16; i++) {
        httpc_close(idle[i]);
    }
}
