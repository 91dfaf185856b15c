/*
 * Cluster tests: real ringd processes on 127.0.0.1 with 100 ms probe intervals, talked to
 * through the C client, ringctl and the admin HTTP port. Every test's fini kills what it
 * started, by PID.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster.h"
#include "ring/error.h"

static void setup(void)
{
    cluster_init();
}

static void teardown(void)
{
    cluster_stop();
}

TestSuite(cluster, .init = setup, .fini = teardown, .timeout = 40);

static void converge(int n)
{
    int ms = cluster_wait(cluster_converged, (void *)(intptr_t)n, 10000);
    cr_assert(ge(int, ms, 0), "%d nodes did not converge in 10 s", n);
}

/* The owner id of each of |count| keys, from node |i|, pipelined on one connection. */
static void lookups(int i, int count, char (*ids)[16])
{
    struct ringc *c = cluster_connect(i);
    for (int k = 0; k < count; k++) {
        char key[32];
        snprintf(key, sizeof(key), "key:%d", k);
        cr_assert(eq(int, ringc_send(c, NULL, "lookup", "s", key), 0));
    }
    cr_assert(eq(int, ringc_flush(c), 0));
    for (int k = 0; k < count; k++) {
        struct rpc_msg msg;
        const msgpack_object *res;
        cr_assert(eq(int, ringc_read(c, &msg, 3000), 0));
        cr_assert(eq(u32, msg.msgid, (uint32_t)k + 1), "responses come in request order");
        cr_assert(eq(int, msg.is_error, 0));
        cr_assert(eq(int, ringc_unpack(c, &msg, &res), 0));
        cr_assert(gt(int, ringc_get_str(res, "id", ids[k], 16), 0));
    }
    ringc_close(c);
}

Test(cluster, five_nodes_converge_and_agree_on_every_key)
{
    cluster_start(5);
    converge(5);
    static char first[1000][16], other[1000][16];
    lookups(0, 1000, first);
    int owners[5] = { 0 };
    for (int k = 0; k < 1000; k++) {
        owners[first[k][1] - '0']++;
    }
    for (int i = 0; i < 5; i++) {
        cr_assert(gt(int, owners[i], 100), "n%d owns %d of 1000 keys", i, owners[i]);
    }
    for (int i = 1; i < 5; i++) {
        lookups(i, 1000, other);
        for (int k = 0; k < 1000; k++) {
            cr_assert(eq(str, other[k], first[k]), "key:%d: n%d says %s, n0 says %s", k, i,
                      other[k], first[k]);
        }
    }
    /* ringctl checksums asks every member over its gossip port: one group, exit 0. */
    char cmd[512], out[8192], sock[128];
    snprintf(cmd, sizeof(cmd), "%s --socket %s checksums --json", RINGCTL_BIN,
             cluster_socket(2, sock, sizeof(sock)));
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
    cr_assert(strstr(out, "\"agree\":true,\"asked\":5") != NULL, "%s", out);
}

static int member_is(int i, const char *id, const char *want)
{
    char status[16];
    uint64_t inc;
    return cluster_member(i, id, status, sizeof(status), &inc) == 0 && strcmp(status, want) == 0;
}

struct seen {
    int except;
    const char *id;
    const char *status;
};

static int all_see(void *arg)
{
    const struct seen *s = arg;
    for (int i = 0; i < cl.n; i++) {
        if (i != s->except && cl.pids[i] > 0 && !member_is(i, s->id, s->status)) {
            return 0;
        }
    }
    return 1;
}

Test(cluster, kill_9_is_marked_faulty_and_a_restart_rejoins_higher)
{
    cluster_start(4);
    converge(4);
    char status[16];
    uint64_t inc_before, inc_after;
    cr_assert(eq(int, cluster_member(0, "n3", status, sizeof(status), &inc_before), 0));
    cluster_signal(3, SIGKILL);
    cr_assert(ne(int, cluster_wait_exit(3, 2000), -1));
    struct seen s = { 3, "n3", "faulty" };
    int ms = cluster_wait(all_see, &s, 8000);
    cr_assert(ge(int, ms, 0), "the others did not mark n3 faulty");
    converge(3); /* and the ring dropped it everywhere */
    cluster_start_node(3, 0);
    converge(4);
    cr_assert(eq(int, cluster_member(1, "n3", status, sizeof(status), &inc_after), 0));
    cr_assert(eq(str, status, "alive"));
    cr_assert(gt(u64, inc_after, inc_before), "rejoined at incarnation %llu after %llu",
              (unsigned long long)inc_after, (unsigned long long)inc_before);
}

Test(cluster, sigterm_leaves_gracefully_and_exits_0)
{
    cluster_start(3);
    converge(3);
    cluster_signal(2, SIGTERM);
    struct seen s = { 2, "n2", "left" };
    int ms = cluster_wait(all_see, &s, 3000);
    cr_assert(ge(int, ms, 0), "the others did not see n2 leave");
    int status = cluster_wait_exit(2, 5000);
    cr_assert(ne(int, status, -1), "n2 did not exit");
    int exited_0 = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    cr_assert(exited_0, "n2 exit status %d", status);
    converge(2);
}

Test(cluster, sigstop_past_suspicion_then_sigcont_refutes)
{
    cluster_start(3);
    converge(3);
    char status[16];
    uint64_t inc_before, inc_after;
    cr_assert(eq(int, cluster_member(0, "n2", status, sizeof(status), &inc_before), 0));
    cluster_signal(2, SIGSTOP);
    struct seen s = { 2, "n2", "faulty" };
    cr_assert(ge(int, cluster_wait(all_see, &s, 8000), 0), "n2 was not declared faulty");
    cluster_signal(2, SIGCONT);
    struct seen back = { -1, "n2", "alive" };
    cr_assert(ge(int, cluster_wait(all_see, &back, 8000), 0), "n2 did not come back");
    cr_assert(eq(int, cluster_member(0, "n2", status, sizeof(status), &inc_after), 0));
    cr_assert(gt(u64, inc_after, inc_before), "n2 refuted with a higher incarnation");
    converge(3);
}

/* A lookup on |c| still answers. */
static void assert_lookup_works(struct ringc *c)
{
    const msgpack_object *res;
    char id[16];
    cr_assert(eq(int, ringc_call(c, &res, 2000, "lookup", "s", "still-here"), 0));
    cr_assert(gt(int, ringc_get_str(res, "id", id, sizeof(id)), 0));
}

/* Sends |bytes| on a fresh connection and reads one error: an error response when |kind| is
 * RPC_RESPONSE, else an error notification ([2, "error", [code, message]]: framing broke, so
 * there is no msgid to answer). Its code name goes to |code|. Returns 1 if the connection is
 * still open afterwards (a lookup works), else 0. */
static int bad_input(const void *bytes, size_t len, int kind, char *code, size_t cap)
{
    struct ringc *c = cluster_connect(0);
    cr_assert(eq(int, ringc_send_raw(c, bytes, len), 0));
    cr_assert(eq(int, ringc_flush(c), 0));
    struct rpc_msg msg;
    int rv = ringc_read(c, &msg, 2000);
    cr_assert(eq(int, rv, 0), "no error (%d)", rv);
    cr_assert(eq(int, msg.kind, kind));
    if (kind == RPC_RESPONSE) {
        cr_assert(eq(int, msg.is_error, 1));
        snprintf(code, cap, "%.*s", (int)msg.error_code.len, msg.error_code.ptr);
    } else {
        cr_assert(eq(int, rpc_method_is(&msg, "error"), 1));
        cr_assert(eq(u32, msg.param_count, 2));
        cr_assert(eq(int, msg.params[0].type, RPC_VAL_STR));
        snprintf(code, cap, "%.*s", (int)msg.params[0].v.s.len, msg.params[0].v.s.ptr);
    }
    const msgpack_object *res;
    int open = ringc_call(c, &res, 1000, "lookup", "s", "k") == 0;
    ringc_close(c);
    return open;
}

Test(cluster, bad_api_input_gets_errors_and_never_disturbs_another_client)
{
    cluster_start(2);
    converge(2);
    struct ringc *good = cluster_connect(0);
    struct ringc *watcher = cluster_connect(0);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(watcher, &res, 2000, "watch", ""), 0));
    assert_lookup_works(good);
    char code[32];

    /* Garbage that breaks framing: an error notification, then that connection (only)
     * closes. */
    const uint8_t garbage[] = { 0xc1, 0xff, 0x00, 0x12 };
    cr_assert(
        eq(int, bad_input(garbage, sizeof(garbage), RPC_NOTIFICATION, code, sizeof(code)), 0));
    cr_assert(eq(str, code, "EPROTO"));
    /* A 100 MB length prefix: [0, 1, "lookup", [str32 of 100 MB]]. */
    const uint8_t huge[] = { 0x94, 0x00, 0x01, 0xa6, 'l',  'o',  'o',  'k',
                             'u',  'p',  0x91, 0xdb, 0x05, 0xf5, 0xe1, 0x00 };
    cr_assert(eq(int, bad_input(huge, sizeof(huge), RPC_NOTIFICATION, code, sizeof(code)), 0));
    cr_assert(eq(str, code, "EMSGSIZE"));
    /* Wrong types: the method is an integer. The connection stays open. */
    const uint8_t wrong[] = { 0x94, 0x00, 0x07, 0x05, 0x90 };
    cr_assert(eq(int, bad_input(wrong, sizeof(wrong), RPC_RESPONSE, code, sizeof(code)), 1));
    cr_assert(eq(str, code, "ETYPE"));
    /* An unknown method, and a key of the wrong type. */
    const uint8_t unknown[] = { 0x94, 0x00, 0x07, 0xa3, 'f', 'o', 'o', 0x90 };
    cr_assert(eq(int, bad_input(unknown, sizeof(unknown), RPC_RESPONSE, code, sizeof(code)), 1));
    cr_assert(eq(str, code, "ENOENT"));
    const uint8_t int_key[] = { 0x94, 0x00, 0x07, 0xa6, 'l', 'o', 'o', 'k', 'u', 'p', 0x91, 0x2a };
    cr_assert(eq(int, bad_input(int_key, sizeof(int_key), RPC_RESPONSE, code, sizeof(code)), 1));
    cr_assert(eq(str, code, "ETYPE"));
    /* lookup_n with n out of range. */
    struct ringc *c = cluster_connect(0);
    cr_assert(
        eq(int, ringc_call(c, &res, 2000, "lookup_n", "su", "k", (uint64_t)0), RINGC_ERESPONSE));
    cr_assert(eq(str, (char *)ringc_error_code(c), "ERANGE"));
    ringc_close(c);
    /* A truncated message, then the client goes away. */
    struct ringc *cut = cluster_connect(0);
    cr_assert(eq(int, ringc_send_raw(cut, huge, 6), 0));
    cr_assert(eq(int, ringc_flush(cut), 0));
    ringc_close(cut);

    assert_lookup_works(good);
    /* The watcher got nothing spurious and still works. */
    struct rpc_msg msg;
    cr_assert(eq(int, ringc_read(watcher, &msg, 100), -ETIMEDOUT));
    assert_lookup_works(watcher);
    ringc_close(good);
    ringc_close(watcher);
}

Test(cluster, watch_gets_a_notification_per_ring_change)
{
    cluster_start(2);
    converge(2);
    struct ringc *w = cluster_connect(0);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(w, &res, 2000, "watch", ""), 0));
    cr_assert(eq(u64, ringc_get_u64(res, "members", 0), 2));
    cluster_start_node(2, 0);
    struct rpc_msg msg;
    cr_assert(eq(int, ringc_read(w, &msg, 5000), 0));
    cr_assert(eq(int, msg.kind, RPC_NOTIFICATION));
    cr_assert(eq(int, rpc_method_is(&msg, "ring_changed"), 1));
    const msgpack_object *params;
    cr_assert(eq(int, ringc_unpack(w, &msg, &params), 0));
    /* [checksum, members, added, removed, omitted] */
    cr_assert(eq(u32, params->via.array.size, 5));
    const msgpack_object *p = params->via.array.ptr;
    cr_assert(eq(u64, p[1].via.u64, 3));
    cr_assert(eq(u32, p[2].via.array.size, 1));
    cr_assert(eq(int, memcmp(p[2].via.array.ptr[0].via.str.ptr, "n2", 2), 0));
    cr_assert(eq(u32, p[3].via.array.size, 0));
    cr_assert(eq(u64, p[4].via.u64, 0));
    cluster_signal(2, SIGTERM);
    cr_assert(eq(int, ringc_read(w, &msg, 5000), 0));
    cr_assert(eq(int, ringc_unpack(w, &msg, &params), 0));
    p = params->via.array.ptr;
    cr_assert(eq(u64, p[1].via.u64, 2));
    cr_assert(eq(u32, p[3].via.array.size, 1), "n2 removed");
    ringc_close(w);
}

/* Every sample line of a Prometheus text body is `name{labels} value`. */
static void assert_prometheus(const char *body)
{
    int samples = 0;
    for (const char *line = body; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        cr_assert(nl != NULL, "the body ends with a newline");
        if (line[0] != '#') {
            char name[128];
            double v;
            int n = 0;
            cr_assert(eq(int, sscanf(line, "%127[a-zA-Z0-9_:]%n", name, &n), 1), "%.*s",
                      (int)(nl - line), line);
            const char *rest = line + n;
            if (*rest == '{') {
                rest = strchr(rest, '}');
                cr_assert(rest != NULL && rest < nl);
                rest++;
            }
            cr_assert(eq(int, sscanf(rest, " %lf", &v), 1), "%.*s", (int)(nl - line), line);
            samples++;
        }
        line = nl + 1;
    }
    cr_assert(gt(int, samples, 20));
}

Test(cluster, admin_http_answers)
{
    cluster_start(2);
    converge(2);
    static char body[1 << 20];
    int status = cluster_http(0, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                              body, sizeof(body));
    cr_assert(eq(int, status, 200));
    assert_prometheus(body);
    cr_assert(strstr(body, "ringd_members{status=\"alive\"} 2\n") != NULL, "%s", body);
    cr_assert(strstr(body, "ringd_api_request_duration_seconds_bucket{le=\"+Inf\"}") != NULL);
    cr_assert(strstr(body, "ringd_gossip_bytes_total{direction=\"in\"}") != NULL);
    int ready = -1;
    for (int t = 0; t < 100 && ready != 200; t++) {
        ready = cluster_http(1, "GET /readyz HTTP/1.0\r\n\r\n", body, sizeof(body));
        cluster_sleep_ms(50);
    }
    cr_assert(eq(int, ready, 200), "%s", body);
    cr_assert(eq(int, cluster_http(0, "GET /healthz HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    cr_assert(eq(
        int, cluster_http(0, "GET /v1/lookup?key=user%3A42 HTTP/1.0\r\n\r\n", body, sizeof(body)),
        200));
    cr_assert(strstr(body, "{\"key\":\"user:42\",\"id\":\"n") == body, "%s", body);
    cr_assert(
        eq(int, cluster_http(0, "GET /v1/members HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    cr_assert(strstr(body, "\"status\":\"alive\"") != NULL);
    cr_assert(eq(int, cluster_http(0, "GET /v1/ring HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    cr_assert(eq(int, cluster_http(0, "POST /metrics HTTP/1.1\r\n\r\n", body, sizeof(body)), 405));
    cr_assert(eq(
        int, cluster_http(0, "GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n", body, sizeof(body)),
        404));
    cr_assert(eq(int, cluster_http(0, "garbage\r\n\r\n", body, sizeof(body)), 400));
}

Test(cluster, ringctl_json_parses_and_errors_are_clear)
{
    cluster_start(2);
    converge(2);
    char cmd[512], out[16384], sock[128];
    cluster_socket(1, sock, sizeof(sock));
    const char *checks[] = {
        "members --json", "lookup user:1 --json", "lookup user:1 -n 2 --json",
        "ring --json",    "stats --json",
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        snprintf(cmd, sizeof(cmd),
                 "%s --socket %s %s | python3 -c 'import json,sys; d=json.load(sys.stdin); "
                 "print(sorted(d))'",
                 RINGCTL_BIN, sock, checks[i]);
        cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s: %s", checks[i], out);
    }
    snprintf(cmd, sizeof(cmd), "%s --socket %s members --json", RINGCTL_BIN, sock);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0));
    cr_assert(strstr(out, "{\"members\":[{\"id\":") == out, "%s", out);
    snprintf(cmd, sizeof(cmd), "%s --socket %s/none.sock members 2>&1", RINGCTL_BIN, cl.dir);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 1));
    cr_assert(strstr(out, "cannot reach ringd at") != NULL, "%s", out);
    cr_assert(strstr(out, "no such file; is ringd running? see --socket") != NULL, "%s", out);
    snprintf(cmd, sizeof(cmd), "%s --socket %s bogus 2>&1", RINGCTL_BIN, sock);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 2));
}
