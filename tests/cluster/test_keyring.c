/*
 * The runtime keyring across a cluster (ringctl keys, node/keyring.c): install, use and
 * remove reach every alive member with gossip intact at every step, keys never show up in
 * the answers or the logs, the primary cannot be removed, and a member that missed the
 * rotation is cut off once the old key is removed.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdio.h>
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

TestSuite(keyring, .init = setup, .fini = teardown, .timeout = 60);

/* `ringctl keys ARGS` against node |i|: its exit status, and its output in |out|. */
static int ctl_keys(int i, const char *args, char *out, size_t cap)
{
    char sock[128], cmd[512];
    snprintf(cmd, sizeof(cmd), "%s --socket '%s' keys %s 2>&1", RINGCTL_BIN,
             cluster_socket(i, sock, sizeof(sock)), args);
    return cluster_sh(cmd, out, cap);
}

/* Nodes 0..2 each see exactly 3 alive members and agree on the ring. */
static int three_agree(void *arg)
{
    (void)arg;
    uint64_t first = 0;
    for (int i = 0; i < 3; i++) {
        uint64_t alive, ring, sum;
        if (cluster_stats(i, &alive, &ring, &sum) != 0 || alive != 3 || (i > 0 && ring != first)) {
            return 0;
        }
        first = ring;
    }
    return 1;
}

static void assert_three_agree(const char *when)
{
    cr_assert(ge(int, cluster_wait(three_agree, NULL, 10000), 0), "gossip broke %s", when);
}

static int n3_not_alive(void *arg)
{
    (void)arg;
    char status[16];
    uint64_t inc;
    return cluster_member(0, "n3", status, sizeof(status), &inc) == 0 &&
           strcmp(status, "alive") != 0;
}

static uint64_t auth_failures(int i)
{
    struct ringc *c = cluster_connect(i);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(c, &res, 3000, "keys", ""), 0));
    uint64_t n = ringc_get_u64(res, "auth_failures", 0);
    ringc_close(c);
    return n;
}

static int node0_refused(void *arg)
{
    (void)arg;
    return auth_failures(0) > 0;
}

Test(keyring, install_use_remove_across_the_cluster_cuts_off_a_node_that_missed_it)
{
    cluster_start(4);
    int ms = cluster_wait(cluster_converged, (void *)(intptr_t)4, 10000);
    cr_assert(ge(int, ms, 0), "4 nodes did not converge");
    /* n3 misses the rotation: paused until the others see it as not alive. */
    cluster_signal(3, SIGSTOP);
    cr_assert(ge(int, cluster_wait(n3_not_alive, NULL, 10000), 0));
    assert_three_agree("after the pause");

    char out[4096], args[128], key_b[64];
    cr_assert(eq(int, cluster_sh(RINGCTL_BIN " keygen", key_b, sizeof(key_b)), 0));
    key_b[strcspn(key_b, "\n")] = '\0';

    snprintf(args, sizeof(args), "install '%s'", key_b);
    cr_assert(eq(int, ctl_keys(0, args, out, sizeof(out)), 0), "%s", out);
    cr_assert(ne(ptr, strstr(out, "3/3 nodes ok"), NULL), "%s", out);
    cr_assert(eq(int, ctl_keys(1, "list", out, sizeof(out)), 0), "%s", out);
    cr_assert(ne(ptr, strstr(out, "3/3 nodes  (primary on 3)"), NULL), "old key: %s", out);
    cr_assert(ne(ptr, strstr(out, "3/3 nodes  (primary on 0)"), NULL), "new key: %s", out);
    cr_assert(eq(ptr, strstr(out, key_b), NULL), "list shows a key: %s", out);
    assert_three_agree("after install");

    snprintf(args, sizeof(args), "use '%s'", key_b);
    cr_assert(eq(int, ctl_keys(1, args, out, sizeof(out)), 0), "%s", out);
    cr_assert(ne(ptr, strstr(out, "3/3 nodes ok"), NULL), "%s", out);
    assert_three_agree("after use");

    snprintf(args, sizeof(args), "remove '%s'", key_b);
    cr_assert(eq(int, ctl_keys(2, args, out, sizeof(out)), 1), "%s", out);
    cr_assert(ne(ptr, strstr(out, "refusing to remove the primary"), NULL), "%s", out);

    snprintf(args, sizeof(args), "remove '%s'", cl.key_b64);
    cr_assert(eq(int, ctl_keys(2, args, out, sizeof(out)), 0), "%s", out);
    cr_assert(ne(ptr, strstr(out, "3/3 nodes ok"), NULL), "%s", out);
    assert_three_agree("after remove");
    for (int i = 0; i < 3; i++) {
        cr_assert(eq(u64, auth_failures(i), 0), "node %d refused a peer during the rotation", i);
    }

    /* n3 wakes up holding only the removed key: its packets no longer open anywhere. */
    cluster_signal(3, SIGCONT);
    cr_assert(ge(int, cluster_wait(node0_refused, NULL, 5000), 0),
              "node 0 never refused n3's packets");
    cluster_sleep_ms(1000);
    cr_assert(n3_not_alive(NULL), "n3 came back with the removed key");
    assert_three_agree("with n3 cut off");

    char cmd[256];
    snprintf(cmd, sizeof(cmd), "cat '%s'/n*.log | grep -c -F '%s'", cl.dir, key_b);
    cr_assert(ne(int, cluster_sh(cmd, out, sizeof(out)), 0), "a key is in a log");
}
