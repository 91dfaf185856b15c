/*
 * Slow, idle and greedy clients on ringd's local listeners (admin HTTP, the local API, the
 * proxy's port), each while a real client must still be served: a slow-loris flood on admin
 * while /readyz is probed, 2,000 idle local API connections then a real client, greedy API
 * clients that pipeline and never read, an idle and slow-loris flood on the proxy port. The
 * attacks run in tests/tools/slow_clients.py (python3-msgpack for the API), which samples
 * ringd's VmRSS; each test asserts the attack failed, that ringd's counters show the defence
 * at work, and that ringd's peak RSS stayed under 64 MiB.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "testapp.h"

/* ringd's resident memory must stay under this through every attack. */
#define RSS_KIB_MAX (64u << 10)
/* File descriptors the attacks need (4,300 proxy connections on both ends). */
#define FDS_WANT 16384

static struct testapp app;
static char proxy_addr[32], app_addr[32];

static void setup(void)
{
    cluster_init();
}

static void teardown(void)
{
    cluster_stop();
    testapp_stop(&app);
}

TestSuite(slow_clients, .init = setup, .fini = teardown, .timeout = 90);

static void need_python_msgpack(void)
{
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import msgpack' 2>/dev/null") != 0) {
        cr_skip_test("python3-msgpack is not installed (scripts/deps.sh test installs it)");
    }
}

/* Raises this process's descriptor limit, which ringd inherits, to |want| when the hard limit
 * allows; returns 0, or -1 when it does not. */
static int raise_fds(rlim_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 ||
        (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)) {
        return -1;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) {
        return 0;
    }
    rl.rlim_cur = want;
    return setrlimit(RLIMIT_NOFILE, &rl);
}

static int ready(void *arg)
{
    (void)arg;
    char body[256];
    return cluster_http(0, "GET /readyz HTTP/1.0\r\n\r\n", body, sizeof(body)) == 200;
}

/* Starts node 0 alone with |flags| (NULL-ended) and waits until it is ready. */
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

/* Runs slow_clients.py |attack| against |target|; asserts it reports ok, prints one row of
 * the report's table and returns ringd's peak RSS in KiB. */
static unsigned long attack(const char *attack, const char *target)
{
    char cmd[512];
#if defined(__SANITIZE_ADDRESS__)
    const char *env = "RING_SLOW_PROBE_FAILURES_ALLOWED=1 "; /* slow_clients.py, admin-noread */
#else
    const char *env = "";
#endif
    snprintf(cmd, sizeof(cmd), "%s/usr/bin/python3 %s/tests/tools/slow_clients.py %s '%s' %d 2>&1",
             env, RING_SOURCE_DIR, attack, target, (int)cl.pids[0]);
    FILE *p = popen(cmd, "r");
    cr_assert(ne(ptr, p, NULL));
    static char out[8192];
    size_t len = fread(out, 1, sizeof(out) - 1, p);
    out[len] = '\0';
    int status = pclose(p);
    const char *rss = strstr(out, "peak_rss_kib=");
    unsigned long peak = rss != NULL ? strtoul(rss + strlen("peak_rss_kib="), NULL, 10) : 0;
    fprintf(stderr, "slow_clients: %-12s attack %-9s peak RSS %lu KiB\n%s", attack,
            WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "repelled" : "SUCCEEDED", peak, out);
    cr_assert(eq(int, WIFEXITED(status) && WEXITSTATUS(status) == 0, 1), "%s:\n%s", attack, out);
    cr_assert(ne(ptr, (void *)rss, NULL), "no RSS figure:\n%s", out);
#if !defined(__SANITIZE_ADDRESS__)
    /* (under ASan, freed memory stays resident in its quarantine, up to 256 MB) */
    cr_assert(lt(ulong, peak, RSS_KIB_MAX), "ringd's peak RSS %lu KiB during %s", peak, attack);
#endif
    return peak;
}

Test(slow_clients, slow_loris_on_admin_never_delays_readyz)
{
    need_python_msgpack();
    start(NULL);
    char port[16];
    snprintf(port, sizeof(port), "%d", cluster_admin_port(0));
    attack("admin-loris", port);
    cr_assert(gt(i64, cluster_metric(0, "ringd_admin_evictions_total"), 0),
              "the flood filled admin's slots, so some must have been evicted");
}

/* Clients that ask and never read hold admin's slots with answers unsent while idle
 * connections keep arriving: the stalled and the idle are evicted, never a fresh probe. */
Test(slow_clients, readers_that_never_read_and_an_idle_flood_never_cut_a_probe)
{
    need_python_msgpack();
    start(NULL);
    char port[16];
    snprintf(port, sizeof(port), "%d", cluster_admin_port(0));
    attack("admin-noread", port);
    cr_assert(gt(i64, cluster_metric(0, "ringd_admin_evictions_total"), 0));
}

Test(slow_clients, idle_api_flood_never_locks_a_client_out)
{
    need_python_msgpack();
    if (raise_fds(FDS_WANT / 2) != 0) {
        cr_skip_test("RLIMIT_NOFILE's hard limit is under %d", FDS_WANT / 2);
    }
    start(NULL);
    char sock[128];
    attack("api-idle", cluster_socket(0, sock, sizeof(sock)));
    /* young ones wait past the slots (64), then on probation (64) */
    cr_assert(ge(i64, cluster_metric(0, "ringd_api_evictions_total"), 2000 - 1024 - 64 - 64),
              "every idle connection past the slots, the 64 past them and probation must have "
              "evicted one");
}

Test(slow_clients, greedy_api_clients_are_disconnected_within_bounded_memory)
{
    need_python_msgpack();
    static const char *const flags[] = { "--send-timeout", "2s", NULL };
    start(flags);
    char sock[128];
    attack("api-greedy", cluster_socket(0, sock, sizeof(sock)));
    long long sent = cluster_metric(0, "ringd_api_timeouts_total{phase=\"send\"}");
    long long over = cluster_metric(0, "ringd_api_output_overflows_total");
    cr_assert(ge(i64, sent + over, 40), "40 greedy clients, %lld send timeouts, %lld overflows",
              sent, over);
}

/* Node 0 with its proxy in front of a test app; the proxy's port, as text, into |port|. */
static void start_with_proxy(char *port, size_t cap)
{
    cr_assert(eq(int, testapp_start(&app, testapp_port(0), "app0", NULL), 0));
    snprintf(proxy_addr, sizeof(proxy_addr), "127.0.0.1:%d", cluster_proxy_port(0));
    snprintf(app_addr, sizeof(app_addr), "127.0.0.1:%d", testapp_port(0));
    const char *const flags[] = { "--proxy", proxy_addr, "--app", app_addr, NULL };
    start(flags);
    snprintf(port, cap, "%d", cluster_proxy_port(0));
}

Test(slow_clients, idle_and_slow_floods_on_the_proxy_never_lock_a_client_out)
{
    need_python_msgpack();
    if (raise_fds(FDS_WANT) != 0) {
        cr_skip_test("RLIMIT_NOFILE's hard limit is under %d", FDS_WANT);
    }
    char port[16];
    start_with_proxy(port, sizeof(port));
    attack("proxy-flood", port);
    cr_assert(gt(i64, cluster_metric(0, "ringd_proxy_client_evictions_total"), 0),
              "the flood filled the proxy's slots, so some must have been evicted");
}

/* Clients that ask for large answers and never read hold what the proxy read for them: all
 * together at most PROXY_UNREAD_TOTAL_MAX (24 MiB), the largest closed first. */
Test(slow_clients, proxy_clients_that_never_read_cost_bounded_memory)
{
    need_python_msgpack();
    char port[16];
    start_with_proxy(port, sizeof(port));
    attack("proxy-noread", port);
    cr_assert(gt(i64, cluster_metric(0, "ringd_proxy_client_overflows_total"), 0),
              "300 stalled readers of 256 KiB each pass 24 MiB: some must have been closed");
}

/* ---- deadlines: trickled bytes do not extend them ------------------------------------------ */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert(eq(int, connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0));
    return fd;
}

static int unix_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    cr_assert(eq(int, connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0));
    return fd;
}

/* Sends the |len| bytes at |bytes| one every 100 ms (cycling; none when |len| is 0) on |fd|
 * until the server closes it; returns the ms that took, or -1 after |limit_ms|. Closes |fd|. */
static int64_t trickle_until_closed(int fd, const char *bytes, size_t len, int64_t limit_ms)
{
    int64_t t0 = mono_ms(), took = -1;
    size_t sent = 0;
    while (mono_ms() - t0 < limit_ms) {
        if (len > 0 && send(fd, bytes + sent % len, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
            took = mono_ms() - t0;
            break;
        }
        sent++;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char buf[4096];
        if (poll(&p, 1, 100) == 1 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0) {
            took = mono_ms() - t0;
            break;
        }
    }
    close(fd);
    return took;
}

/* The deadline of |what| closed the connection at about |want_ms| (its checks run every 200 ms
 * at most), and was counted in |counter|. */
static void closed_at_deadline(const char *what, int64_t took, int64_t want_ms, const char *counter)
{
    fprintf(stderr, "slow_clients: %s closed after %lld ms (deadline %lld ms)\n", what,
            (long long)took, (long long)want_ms);
    cr_assert(ge(i64, took, want_ms - 50), "%s closed after %lld ms, before its deadline", what,
              (long long)took);
    cr_assert(le(i64, took, want_ms + 700), "%s still open %lld ms after its deadline", what,
              (long long)(took - want_ms));
    cr_assert(ge(i64, cluster_metric(0, counter), 1), "%s: %s not counted", what, counter);
}

Test(slow_clients, trickled_bytes_never_extend_a_deadline)
{
    cr_assert(eq(int, testapp_start(&app, testapp_port(0), "app0", NULL), 0));
    snprintf(proxy_addr, sizeof(proxy_addr), "127.0.0.1:%d", cluster_proxy_port(0));
    snprintf(app_addr, sizeof(app_addr), "127.0.0.1:%d", testapp_port(0));
    const char *const flags[] = { "--proxy", proxy_addr,      "--app", app_addr, "--header-timeout",
                                  "600ms",   "--api-timeout", "800ms", NULL };
    start(flags);
    /* a head trickled at 10 bytes/s, never finished: closed at the deadline, not after it */
    const char *head = "GET /readyz HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    size_t head_len = strlen(head);
    closed_at_deadline(
        "admin head",
        trickle_until_closed(tcp_connect(cluster_admin_port(0)), head, head_len, 5000), 600,
        "ringd_admin_timeouts_total{phase=\"header\"}");
    closed_at_deadline(
        "proxy head",
        trickle_until_closed(tcp_connect(cluster_proxy_port(0)), head, head_len, 5000), 600,
        "ringd_proxy_client_timeouts_total{phase=\"header\"}");
    /* an API message (a lookup of a 200-byte key) trickled */
    static const char lead[] = "\x94\x00\x01\xa6lookup\x91\xd9\xc8";
    char msg[sizeof(lead) - 1 + 200];
    memcpy(msg, lead, sizeof(lead) - 1);
    memset(msg + sizeof(lead) - 1, 'k', 200);
    char sock[128];
    cluster_socket(0, sock, sizeof(sock));
    closed_at_deadline("API message",
                       trickle_until_closed(unix_connect(sock), msg, sizeof(msg), 5000), 600,
                       "ringd_api_timeouts_total{phase=\"header\"}");
    /* an API connection that says nothing: --api-timeout */
    closed_at_deadline("idle API connection",
                       trickle_until_closed(unix_connect(sock), NULL, 0, 5000), 800,
                       "ringd_api_timeouts_total{phase=\"idle\"}");
    /* a connection that says nothing is inside its first head's deadline on admin and proxy */
    closed_at_deadline("silent admin connection",
                       trickle_until_closed(tcp_connect(cluster_admin_port(0)), NULL, 0, 5000), 600,
                       "ringd_admin_timeouts_total{phase=\"header\"}");
}
