/*
 * valgrind finds no leak in a ringd start/join/leave/stop cycle: three nodes on loopback,
 * the third under memcheck (--leak-check=full, definite and indirect leaks count as errors)
 * joins the other two, answers a few API calls and forwarding-proxy requests (served by its
 * own app, forwarded to the others, and forwarded to it), leaves on SIGTERM and exits. memcheck's
 * exit status says whether it found an error or a leak; its report stays in the test's
 * temp dir with RING_CLUSTER_KEEP=1 and its tail is printed on failure. Runs on loopback
 * (no namespaces, no root); in scripts/test.sh with the short fault scenarios.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster.h"
#include "fault.h"
#include "httpc.h"
#include "testapp.h"

/* memcheck's exit status when it found an error or a leak (any other is ringd's own). */
#define VALGRIND_ERROR_EXIT 99
#define NODES               3
#define UNDER_VALGRIND      2
/* Memcheck runs ringd some 20-50 times slower: generous bounds, not timing targets. */
#define JOIN_MS_MAX 30000
#define EXIT_MS_MAX 30000

static struct testapp apps[NODES];
static char proxy_addr[NODES][32], app_addr[NODES][32];
static struct httpc_resp resp;

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

/* Every node gets a forwarding proxy in front of its own ring_testapp. */
static void start_apps(void)
{
    for (int i = 0; i < NODES; i++) {
        char id[8];
        snprintf(id, sizeof(id), "app%d", i);
        cr_assert(eq(int, testapp_start(&apps[i], testapp_port(i), id, NULL), 0));
        snprintf(proxy_addr[i], sizeof(proxy_addr[i]), "127.0.0.1:%d", cluster_proxy_port(i));
        snprintf(app_addr[i], sizeof(app_addr[i]), "127.0.0.1:%d", testapp_port(i));
        const char *args[] = { "--proxy", proxy_addr[i], "--app", app_addr[i], NULL };
        memcpy(cl.extra_args[i], args, sizeof(args));
    }
}

/* Requests with many keys through node |i|'s proxy: some its own app serves, some go to the
 * others; every one must be answered. */
static void exercise_proxy(int i)
{
    struct httpc *h = httpc_connect(cluster_proxy_port(i));
    cr_assert(ne(ptr, h, NULL));
    for (int r = 0; r < 30; r++) {
        char req[160];
        snprintf(req, sizeof(req),
                 "POST /echo HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k%d\r\nContent-Length: 2\r\n\r\nhi",
                 r);
        cr_assert(eq(int, httpc_send_str(h, req), 0));
        cr_assert(eq(int, httpc_read(h, &resp, 20000), 0), "request %d through node %d", r, i);
        cr_assert(eq(int, resp.status, 200));
    }
    httpc_close(h);
}

TestSuite(leaks, .init = setup, .fini = teardown, .timeout = 120);

static void print_report_tail(const char *path)
{
    char cmd[256], out[8192];
    snprintf(cmd, sizeof(cmd), "tail -n 40 '%s'", path);
    cluster_sh(cmd, out, sizeof(out));
    fprintf(stderr, "--- %s (tail)\n%s---\n", path, out);
}

static void exercise_api(int i)
{
    struct ringc *c = cluster_connect(i);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(c, &res, 10000, "lookup", "s", "user:42"), 0));
    cr_assert(eq(int, ringc_call(c, &res, 10000, "members", ""), 0));
    cr_assert(eq(int, ringc_call(c, &res, 10000, "ring", ""), 0));
    cr_assert(eq(int, ringc_call(c, &res, 10000, "stats", ""), 0));
    ringc_close(c);
}

Test(leaks, ringd_join_leave_stop_under_valgrind_leaks_nothing)
{
    char log_opt[200], report[160];
    snprintf(report, sizeof(report), "%s/valgrind.txt", cl.dir);
    snprintf(log_opt, sizeof(log_opt), "--log-file=%s", report);
    const char *wrap[] = { VALGRIND_BIN,
                           "--leak-check=full",
                           "--show-leak-kinds=definite,indirect",
                           "--errors-for-leak-kinds=definite,indirect",
                           "--error-exitcode=99",
                           log_opt,
                           NULL };
    for (size_t k = 0; k < sizeof(wrap) / sizeof(wrap[0]); k++) {
        cl.wrapper[UNDER_VALGRIND][k] = wrap[k];
    }
    start_apps();
    cluster_start(NODES);
    int join_ms = cluster_wait(cluster_converged, (void *)(intptr_t)NODES, JOIN_MS_MAX);
    cr_assert(ge(int, join_ms, 0), "the node under valgrind did not join");
    cluster_sleep_ms(1000); /* some protocol periods: probes, acks, gossip, all allocated */
    exercise_api(UNDER_VALGRIND);
    exercise_proxy(UNDER_VALGRIND);
    exercise_proxy(0);
    cluster_signal(UNDER_VALGRIND, SIGTERM);
    int status = cluster_wait_exit(UNDER_VALGRIND, EXIT_MS_MAX);
    char st[16];
    uint64_t inc;
    int left = cluster_member(0, "n2", st, sizeof(st), &inc) == 0 && st[0] == 'l';
    int code = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    fprintf(stderr,
            "{\"scenario\": \"valgrind\", \"join_ms\": %d, \"exit_code\": %d, "
            "\"seen_left\": %s}\n",
            join_ms, code, left ? "true" : "false");
    if (code != 0) {
        print_report_tail(report);
    }
    cr_assert(ne(int, status, -1), "ringd under valgrind did not exit after SIGTERM");
    cr_assert(ne(int, code, VALGRIND_ERROR_EXIT), "memcheck found errors or leaks");
    cr_assert(eq(int, code, 0), "ringd under valgrind exited with %d", code);
    cr_assert(left, "the others did not see the node leave");
}
