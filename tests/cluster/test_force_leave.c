/*
 * `ringctl force-leave ID` against real ringd processes: a killed node forced out is left
 * at every node and out of the ring; an alive node, the node itself and an unknown id are
 * refused (exit 1 with the reason) and change nothing; what a local client may send as the
 * id (no id, the wrong type, empty, too long, bytes that are no id) is an error answer.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

static void setup(void)
{
    cluster_init();
}

static void teardown(void)
{
    cluster_stop();
}

TestSuite(force_leave, .init = setup, .fini = teardown, .timeout = 40);

static void converge(int n)
{
    int ms = cluster_wait(cluster_converged, (void *)(intptr_t)n, 10000);
    cr_assert(ge(int, ms, 0), "%d nodes did not converge in 10 s", n);
}

/* Runs `ringctl --socket <node i's> ARGS 2>&1`; returns its exit status. */
static int ctl(int i, const char *args, char *out, size_t cap)
{
    char cmd[1024], sock[128];
    snprintf(cmd, sizeof(cmd), "%s --socket %s %s 2>&1", RINGCTL_BIN,
             cluster_socket(i, sock, sizeof(sock)), args);
    return cluster_sh(cmd, out, cap);
}

static int status_is(int i, const char *id, const char *want)
{
    char status[16];
    uint64_t inc;
    return cluster_member(i, id, status, sizeof(status), &inc) == 0 && strcmp(status, want) == 0;
}

/* Nodes 0 and 1 no longer hold n2 alive (suspect or faulty). */
static int n2_failed(void *arg)
{
    (void)arg;
    return !status_is(0, "n2", "alive") && !status_is(1, "n2", "alive");
}

static int n2_left(void *arg)
{
    (void)arg;
    return status_is(0, "n2", "left") && status_is(1, "n2", "left");
}

Test(force_leave, a_killed_node_is_forced_out_everywhere_and_an_alive_one_is_refused)
{
    cluster_start(3);
    converge(3);
    char out[4096];
    cr_assert(eq(int, ctl(0, "force-leave n1", out, sizeof(out)), 1), "%s", out);
    cr_assert(not(eq(ptr, strstr(out, "n1 is alive: force-leave takes a failed member"), NULL)),
              "%s", out);
    cr_assert(eq(int, ctl(0, "force-leave n0", out, sizeof(out)), 1), "%s", out);
    cr_assert(not(eq(ptr, strstr(out, "n0 is this node"), NULL)), "%s", out);
    cr_assert(eq(int, ctl(0, "force-leave nobody", out, sizeof(out)), 1), "%s", out);
    cr_assert(not(eq(ptr, strstr(out, "ENOENT: no member \"nobody\""), NULL)), "%s", out);
    /* Nothing changed: the three are alive everywhere, one ring of three. */
    for (int i = 0; i < 3; i++) {
        cr_assert(status_is(i, "n1", "alive"), "n%d", i);
    }
    converge(3);

    cluster_signal(2, SIGKILL);
    cr_assert(ne(int, cluster_wait_exit(2, 2000), -1));
    cl.pids[2] = 0;
    cr_assert(ge(int, cluster_wait(n2_failed, NULL, 8000), 0), "n2 was never suspected");
    cr_assert(eq(int, ctl(0, "force-leave n2 -o json", out, sizeof(out)), 0), "%s", out);
    cr_assert(not(eq(ptr, strstr(out, "{\"id\":\"n2\",\"status\":\"left\"}"), NULL)), "%s", out);
    /* By gossip, well before the 30 s a faulty record is kept anyway. */
    int ms = cluster_wait(n2_left, NULL, 3000);
    cr_assert(ge(int, ms, 0), "n2 is not left at both nodes");
    converge(2);
    cr_assert(eq(int, ctl(1, "members --status left", out, sizeof(out)), 0), "%s", out);
    cr_assert(not(eq(ptr, strstr(out, "n2 "), NULL)), "%s", out);
}

/* A force_leave call answered |rv| on |c|: an error |code|, its message free of raw bytes. */
static void assert_refused(struct ringc *c, int rv, const char *code, const char *what)
{
    cr_assert(eq(int, rv, RINGC_ERESPONSE), "force_leave(%s) answered %d", what, rv);
    cr_assert(eq(str, (char *)ringc_error_code(c), (char *)code), "force_leave(%s)", what);
    for (const char *p = ringc_error_message(c); *p != '\0'; p++) {
        cr_assert(ge(int, (unsigned char)*p, 0x20), "a raw byte in %s", ringc_error_message(c));
    }
}

Test(force_leave, hostile_ids_are_error_answers)
{
    cluster_start(2);
    converge(2);
    struct ringc *c = cluster_connect(0);
    const msgpack_object *res;
    static char huge[4001];
    memset(huge, 'x', sizeof(huge) - 1);
    assert_refused(c, ringc_call(c, &res, 2000, "force_leave", ""), "EINVAL", "");
    assert_refused(c, ringc_call(c, &res, 2000, "force_leave", "u", (uint64_t)7), "EINVAL", "7");
    assert_refused(c, ringc_call(c, &res, 2000, "force_leave", "s", ""), "EINVAL", "\"\"");
    assert_refused(c, ringc_call(c, &res, 2000, "force_leave", "ss", "n1", "n1"), "EINVAL",
                   "n1, n1");
    assert_refused(c, ringc_call(c, &res, 2000, "force_leave", "s", huge), "ENOENT", "4000 B");
    assert_refused(c, ringc_call(c, &res, 2000, "force_leave", "b", "n1\0\x1b[2J", (size_t)7),
                   "ENOENT", "bin");
    assert_refused(c, ringc_call(c, &res, 2000, "force_leave", "s", "\x1b]0;owned\x07"), "ENOENT",
                   "escapes");
    ringc_close(c);
    /* n1 untouched, n0 still answering */
    cr_assert(status_is(0, "n1", "alive"));
    converge(2);
}
