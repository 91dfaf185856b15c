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
#include <sys/resource.h>
#include <sys/wait.h>
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
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)) {
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
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/tools/slow_clients.py %s '%s' %d 2>&1",
             RING_SOURCE_DIR, attack, target, (int)cl.pids[0]);
    FILE *p = popen(cmd, "r");
    cr_assert(ne(ptr, p, NULL));
    static char out[8192];
    size_t len = fread(out, 1, sizeof(out) - 1, p);
    out[len] = '\0';
    int status = pclose(p);
    const char *rss = strstr(out, "peak_rss_kib=");
    unsigned long peak = rss != NULL ? strtoul(rss + strlen("peak_rss_kib="), NULL, 10) : 0;
    fprintf(stderr, "slow_clients: %-12s %-6s peak RSS %lu KiB\n%s", attack,
            WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "failed" : "WON", peak, out);
    cr_assert(eq(int, WIFEXITED(status) && WEXITSTATUS(status) == 0, 1), "%s:\n%s", attack, out);
    cr_assert(ne(ptr, (void *)rss, NULL), "no RSS figure:\n%s", out);
    cr_assert(lt(ulong, peak, RSS_KIB_MAX), "ringd's peak RSS %lu KiB during %s", peak, attack);
    return peak;
}

/* The value of the sample |name| (with its labels, e.g. ringd_api_timeouts_total{phase=
 * "send"}) in node 0's /metrics, or -1. */
static long long metric(const char *name)
{
    static char body[1 << 20];
    if (cluster_http(0, "GET /metrics HTTP/1.0\r\n\r\n", body, sizeof(body)) != 200) {
        return -1;
    }
    char want[160];
    snprintf(want, sizeof(want), "\n%s ", name);
    const char *at = strstr(body, want);
    return at != NULL ? strtoll(at + strlen(want), NULL, 10) : -1;
}

Test(slow_clients, slow_loris_on_admin_never_delays_readyz)
{
    need_python_msgpack();
    start(NULL);
    char port[16];
    snprintf(port, sizeof(port), "%d", cluster_admin_port(0));
    attack("admin-loris", port);
    cr_assert(gt(i64, metric("ringd_admin_evictions_total"), 0),
              "the flood filled admin's slots, so some must have been evicted");
}

Test(slow_clients, idle_api_flood_never_locks_a_client_out)
{
    need_python_msgpack();
    cr_assert(eq(int, raise_fds(FDS_WANT / 2), 0), "cannot raise RLIMIT_NOFILE");
    start(NULL);
    char sock[128];
    attack("api-idle", cluster_socket(0, sock, sizeof(sock)));
    cr_assert(ge(i64, metric("ringd_api_evictions_total"), 2000 - 1024),
              "every idle connection past the slots must have evicted one");
}

Test(slow_clients, greedy_api_clients_are_disconnected_within_bounded_memory)
{
    need_python_msgpack();
    static const char *const flags[] = { "--send-timeout", "2s", NULL };
    start(flags);
    char sock[128];
    attack("api-greedy", cluster_socket(0, sock, sizeof(sock)));
    long long sent = metric("ringd_api_timeouts_total{phase=\"send\"}");
    long long over = metric("ringd_api_output_overflows_total");
    cr_assert(ge(i64, sent + over, 40), "40 greedy clients, %lld send timeouts, %lld overflows",
              sent, over);
}

Test(slow_clients, idle_and_slow_floods_on_the_proxy_never_lock_a_client_out)
{
    need_python_msgpack();
    if (raise_fds(FDS_WANT) != 0) {
        cr_skip_test("RLIMIT_NOFILE's hard limit is under %d", FDS_WANT);
    }
    cr_assert(eq(int, testapp_start(&app, testapp_port(0), "app0", NULL), 0));
    snprintf(proxy_addr, sizeof(proxy_addr), "127.0.0.1:%d", cluster_proxy_port(0));
    snprintf(app_addr, sizeof(app_addr), "127.0.0.1:%d", testapp_port(0));
    const char *const flags[] = { "--proxy", proxy_addr, "--app", app_addr, NULL };
    start(flags);
    char port[16];
    snprintf(port, sizeof(port), "%d", cluster_proxy_port(0));
    attack("proxy-flood", port);
    cr_assert(gt(i64, metric("ringd_proxy_client_evictions_total"), 0),
              "the flood filled the proxy's slots, so some must have been evicted");
}
