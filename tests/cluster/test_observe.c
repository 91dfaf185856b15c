/*
 * What ringd tells a log shipper and Prometheus, parsed as they parse it: JSON log lines with
 * "msg" and typed fields, logfmt text, a node's own leave at info, a crash line in the log's
 * format; /metrics with the build, the process and the checksums, clean under promtool, and
 * proxy latencies timed finer than a millisecond.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "cluster.h"
#include "httpc.h"
#include "testapp.h"

static struct testapp app;
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

TestSuite(logs, .init = setup, .fini = teardown, .timeout = 40);
TestSuite(metrics, .init = setup, .fini = teardown, .timeout = 40);

static void converge(int n)
{
    int ms = cluster_wait(cluster_converged, (void *)(intptr_t)n, 10000);
    cr_assert(ge(int, ms, 0), "%d nodes did not converge in 10 s", n);
}

/* Runs python3 |script| on node |i|'s log file (sys.argv[1]); returns its exit status. */
static int py_log(int i, const char *script, char *out, size_t cap)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "python3 -c '%s' %s/n%d.log 2>&1", script, cl.dir, i);
    return cluster_sh(cmd, out, cap);
}

Test(logs, json_lines_have_msg_typed_fields_and_a_nodes_own_leave_is_info)
{
    for (int i = 0; i < 2; i++) {
        cl.extra_args[i][0] = "--log-format";
        cl.extra_args[i][1] = "json";
    }
    cluster_start(2);
    converge(2);
    char cmd[512], sock[128], out[8192];
    snprintf(cmd, sizeof(cmd), "%s --socket %s leave", RINGCTL_BIN,
             cluster_socket(1, sock, sizeof(sock)));
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
    int status = cluster_wait_exit(1, 5000);
    int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    cr_assert(eq(int, clean, 1), "status %d", status);
    cl.pids[1] = 0;
    const char *script =
        "import json,sys\n"
        "ls=[json.loads(l) for l in open(sys.argv[1],encoding=\"utf-8\")]\n"
        "assert ls, \"empty log\"\n"
        "for d in ls:\n"
        "    assert \"event\" not in d and {\"ts\",\"level\",\"msg\"} <= set(d), d\n"
        "    for k in (\"members\",\"incarnation\",\"port\",\"seeds\"):\n"
        "        assert k not in d or type(d[k]) is int, (k, d)\n"
        "    assert \"complete\" not in d or type(d[\"complete\"]) is bool, d\n"
        "ring=[d for d in ls if d[\"msg\"]==\"ring_changed\"]\n"
        "assert ring and all(type(d[\"members\"]) is int for d in ring), ring\n"
        "own=[d for d in ls if d[\"msg\"]==\"member_changed\" and d.get(\"id\")==\"n1\" and "
        "d.get(\"status\")==\"left\"]\n"
        "assert own and all(d[\"level\"]==\"info\" for d in own), own\n"
        "left=[d for d in ls if d.get(\"status\")==\"left\" and d[\"level\"]!=\"info\"]\n"
        "assert not left, left\n"
        "print(len(ls))";
    cr_assert(eq(int, py_log(1, script, out, sizeof(out)), 0), "n1.log: %s", out);
}

Test(logs, text_lines_are_logfmt)
{
    cluster_start(2);
    converge(2);
    char out[8192];
    const char *script =
        "import re,sys\n"
        "v=r\"(\\\"(?:[^\\\"\\\\\\\\]|\\\\\\\\.)*\\\"|[^ \\\"=]+)\"\n"
        "p=re.compile(r\"ts=\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z \"\n"
        "  r\"level=(debug|info|warn|error) msg=\"+v+r\"( [a-z_]+=\"+v+\")*\")\n"
        "ls=open(sys.argv[1],encoding=\"utf-8\").read().splitlines()\n"
        "bad=[l for l in ls if not p.fullmatch(l)]\n"
        "assert ls and not bad, bad\n"
        "assert any(\" msg=ring_changed \" in l for l in ls)\n"
        "print(len(ls))";
    cr_assert(eq(int, py_log(0, script, out, sizeof(out)), 0), "n0.log: %s", out);
}

/* The soft open-file limit ringd runs with: /proc/PID/limits, "Max open files". */
static long open_files_soft(int i)
{
    char cmd[256], out[256];
    snprintf(cmd, sizeof(cmd), "awk '/^Max open files/ {print $4}' /proc/%d/limits",
             (int)cl.pids[i]);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
    return strtol(out, NULL, 10);
}

/* Started with a soft limit of 256 (many systems start processes at 1,024), ringd raises it
 * to the hard limit, and says nothing when that is enough; with a hard limit of 512, below
 * what it may hold, it raises to 512 and logs a warning that names both figures. */
Test(logs, ringd_raises_its_open_file_limit_and_warns_when_the_hard_one_is_low)
{
    struct rlimit rl;
    cr_assert(eq(int, getrlimit(RLIMIT_NOFILE, &rl), 0));
    cr_assert(gt(u64, (uint64_t)rl.rlim_max, 8192), "this test needs a hard limit above 8192");
    static char enough[64];
    snprintf(enough, sizeof(enough), "--nofile=256:%llu", (unsigned long long)rl.rlim_max);
    const char *wrap_enough[] = { "/usr/bin/prlimit", enough, "--", NULL };
    const char *wrap_low[] = { "/usr/bin/prlimit", "--nofile=256:512", "--", NULL };
    for (int k = 0; wrap_enough[k] != NULL; k++) {
        cl.wrapper[0][k] = wrap_enough[k];
        cl.wrapper[1][k] = wrap_low[k];
    }
    cluster_start(2);
    converge(2);
    cr_assert(eq(long, open_files_soft(0), (long)rl.rlim_max));
    cr_assert(eq(long, open_files_soft(1), 512));
    char out[4096];
    const char *quiet = "import sys\n"
                        "ls=open(sys.argv[1]).read().splitlines()\n"
                        "assert not [l for l in ls if \"open_files_limit_low\" in l], ls";
    cr_assert(eq(int, py_log(0, quiet, out, sizeof(out)), 0), "n0.log: %s", out);
    const char *warned = "import re,sys\n"
                         "ls=[l for l in open(sys.argv[1]) if \"open_files_limit_low\" in l]\n"
                         "assert len(ls)==1 and \"level=warn\" in ls[0], ls\n"
                         "m=re.search(r\"limit=(\\d+) may_need=(\\d+)\", ls[0])\n"
                         "assert m and m[1]==\"512\" and int(m[2])>1000, ls";
    cr_assert(eq(int, py_log(1, warned, out, sizeof(out)), 0), "n1.log: %s", out);
}

Test(logs, a_crash_is_logged_in_the_log_format)
{
    cl.extra_args[0][0] = "--log-format";
    cl.extra_args[0][1] = "json";
    cluster_start(1);
    converge(1);
    cluster_signal(0, SIGABRT);
    int status = cluster_wait_exit(0, 5000);
    int aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    cr_assert(eq(int, aborted, 1), "ringd still dies of the signal (status %d)", status);
    cl.pids[0] = 0;
    char out[4096];
    const char *script = "import json,sys\n"
                         "d=json.loads(open(sys.argv[1]).read().splitlines()[-1])\n"
                         "assert d[\"msg\"]==\"crash\" and d[\"level\"]==\"error\", d\n"
                         "assert d[\"signal\"]==\"SIGABRT\" and d[\"ts\"], d";
    cr_assert(eq(int, py_log(0, script, out, sizeof(out)), 0), "n0.log: %s", out);
}

/* Node |i|'s log holds a line with every string of the NULL-terminated |want|. */
static int log_has(int i, const char *const *want)
{
    char path[128], line[4096];
    snprintf(path, sizeof(path), "%s/n%d.log", cl.dir, i);
    FILE *f = fopen(path, "r");
    int found = 0;
    while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL) {
        found = 1;
        for (size_t k = 0; want[k] != NULL && found; k++) {
            found = strstr(line, want[k]) != NULL;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return found;
}

static int n0_logged_a_failed_probe_of_n2(void *arg)
{
    (void)arg;
    const char *const want[] = { "\"msg\":\"probe_failed\"", "\"id\":\"n2\"", NULL };
    return log_has(0, want);
}

static int n1_sees_n2_faulty(void *arg)
{
    (void)arg;
    const char *const want[] = { "\"msg\":\"member_changed\"", "\"id\":\"n2\"",
                                 "\"status\":\"faulty\"", NULL };
    return log_has(1, want);
}

Test(logs, debug_level_adds_the_protocols_events_and_info_level_none)
{
    /* n0 logs at debug (the harness's level), n1 at info; a slow suspicion timeout gives n0
     * time to probe n2 itself before n1's verdict reaches it. */
    const char *args[2][6] = {
        { "--log-format", "json", "--suspect-timeout", "10", NULL },
        { "--log-format", "json", "--suspect-timeout", "10", "--log-level", "info" },
    };
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < 6 && args[i][k] != NULL; k++) {
            cl.extra_args[i][k] = args[i][k];
        }
    }
    cluster_start(3);
    converge(3);
    cluster_signal(2, SIGKILL);
    cr_assert(ne(int, cluster_wait_exit(2, 2000), -1));
    cl.pids[2] = 0;
    cr_assert(ge(int, cluster_wait(n0_logged_a_failed_probe_of_n2, NULL, 10000), 0),
              "n0 logged no failed probe of n2");
    cr_assert(ge(int, cluster_wait(n1_sees_n2_faulty, NULL, 10000), 0), "n1 never saw n2 faulty");
    char out[8192];
    const char *debug_script =
        "import json,sys\n"
        "ls=[json.loads(l) for l in open(sys.argv[1],encoding=\"utf-8\")]\n"
        "p=[d for d in ls if d[\"msg\"]==\"probe_failed\" and d[\"id\"]==\"n2\"]\n"
        "assert p and all(d[\"level\"]==\"debug\" and type(d[\"nacks\"]) is int and "
        "type(d[\"incarnation\"]) is int for d in p), p\n"
        "s=[d for d in ls if d[\"msg\"] in (\"sync_done\",\"sync_served\")]\n"
        "assert s and all(type(d[\"new_members\"]) is int for d in s), s\n"
        "assert any(d[\"msg\"]==\"sync_served\" and d[\"new_members\"]>=1 for d in s), s\n"
        "print(len(p), len(s))";
    cr_assert(eq(int, py_log(0, debug_script, out, sizeof(out)), 0), "n0.log: %s", out);
    const char *info_script =
        "import json,sys\n"
        "ls=[json.loads(l) for l in open(sys.argv[1],encoding=\"utf-8\")]\n"
        "assert [d for d in ls if d[\"msg\"]==\"member_changed\" and d.get(\"id\")==\"n2\"]\n"
        "dbg=[d for d in ls if d[\"level\"]==\"debug\"]\n"
        "assert not dbg, dbg\n"
        "print(len(ls))";
    cr_assert(eq(int, py_log(1, info_script, out, sizeof(out)), 0), "n1.log: %s", out);
}

/* The value of the sample |name| (with its labels, e.g. "x{a=\"b\"}") in |body|, or -1. */
static double sample(const char *body, const char *name)
{
    char pat[256];
    snprintf(pat, sizeof(pat), "\n%s ", name);
    const char *at = strstr(body, pat);
    return at != NULL ? strtod(at + strlen(pat), NULL) : -1;
}

Test(metrics, build_info_process_and_checksum_gauges)
{
    cluster_start(2);
    converge(2);
    static char body[1 << 20];
    char sock[128], cmd[512], out[4096];
    double checksum[2], ring[2];
    for (int i = 0; i < 2; i++) {
        cr_assert(
            eq(int, cluster_http(i, "GET /metrics HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
        cr_assert(not(eq(ptr, strstr(body, "\nringd_build_info{version=\""), NULL)), "%s", body);
        cr_assert(not(eq(ptr, strstr(body, "\",commit=\""), NULL)));
        cr_assert(gt(dbl, sample(body, "process_resident_memory_bytes"), 1e6));
        cr_assert(gt(dbl, sample(body, "process_open_fds"), 5));
        cr_assert(ge(dbl, sample(body, "process_cpu_seconds_total"), 0));
        cr_assert(gt(dbl, sample(body, "process_start_time_seconds"), 1.6e9));
        checksum[i] = sample(body, "ringd_checksum");
        ring[i] = sample(body, "ringd_ring_checksum");
        cr_assert(gt(dbl, ring[i], 0));
    }
    cr_assert(eq(dbl, checksum[0], checksum[1]), "nodes that agree show one value");
    cr_assert(eq(dbl, ring[0], ring[1]));
    /* the gauge is the checksum ringctl shows in hex, as a float64 */
    snprintf(cmd, sizeof(cmd), "%s --socket %s ring", RINGCTL_BIN,
             cluster_socket(0, sock, sizeof(sock)));
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0));
    unsigned long long hex = strtoull(out + strlen("ring "), NULL, 16);
    cr_assert(eq(dbl, ring[0], (double)hex), "%s", out);
}

Test(metrics, promtool_finds_nothing_to_fix)
{
    char out[8192];
    if (cluster_sh("command -v promtool", out, sizeof(out)) != 0) {
        cr_skip_test("promtool is not installed (Debian: apt-get install prometheus; "
                     "scripts/deps.sh test installs it)");
    }
    cluster_start(1);
    converge(1);
    static char body[1 << 20];
    cr_assert(eq(int, cluster_http(0, "GET /metrics HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    char path[128], cmd[256];
    snprintf(path, sizeof(path), "%s/metrics.txt", cl.dir);
    FILE *f = fopen(path, "w");
    cr_assert(not(eq(ptr, f, NULL)));
    fputs(body, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "promtool: %s", out);
    cr_assert(eq(str, out, ""), "promtool: %s", out);
}

/* Proxied requests are timed with the high-resolution clock: a sum of latencies in whole
 * milliseconds would mean the loop's millisecond clock timed them. */
Test(metrics, proxy_latency_is_timed_finer_than_a_millisecond)
{
    cr_assert(eq(int, testapp_start(&app, testapp_port(0), "app0", NULL), 0));
    char proxy[32], appaddr[32];
    snprintf(proxy, sizeof(proxy), "127.0.0.1:%d", cluster_proxy_port(0));
    snprintf(appaddr, sizeof(appaddr), "127.0.0.1:%d", testapp_port(0));
    const char *flags[] = { "--proxy", proxy, "--app", appaddr, NULL };
    memcpy(cl.extra_args[0], flags, sizeof(flags));
    cluster_start(1);
    converge(1);
    struct httpc *h = httpc_connect(cluster_proxy_port(0));
    cr_assert(not(eq(ptr, h, NULL)));
    for (int k = 0; k < 20; k++) {
        cr_assert(
            eq(int, httpc_send_str(h, "GET /x HTTP/1.1\r\nHost: a\r\nX-Ring-Key: k\r\n\r\n"), 0));
        cr_assert(eq(int, httpc_read(h, &resp, 5000), 0));
        cr_assert(eq(int, resp.status, 200));
    }
    httpc_close(h);
    static char body[1 << 20];
    cr_assert(eq(int, cluster_http(0, "GET /metrics HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    double count = sample(body, "ringd_proxy_request_duration_seconds_count{path=\"local\"}");
    double sum = sample(body, "ringd_proxy_request_duration_seconds_sum{path=\"local\"}");
    cr_assert(eq(dbl, count, 20));
    cr_assert(gt(dbl, sum, 0), "20 requests took no time at all");
    double ms = sum * 1000;
    cr_assert(gt(dbl, ms - (double)(long long)ms, 1e-6), "sum %.9f s is whole milliseconds", sum);
}
