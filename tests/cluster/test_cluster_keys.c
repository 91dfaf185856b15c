/*
 * Cluster tests of gossip encryption (--keyfile): sealed nodes converge, a node with the
 * wrong key or with no key never gets in and is counted, and keys rotate with SIGHUP
 * without the membership noticing.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cluster.h"
#include "ring/error.h"

#define KEY_A "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
#define KEY_B "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="

static void setup(void)
{
    cluster_init();
}

static void teardown(void)
{
    cluster_stop();
}

TestSuite(cluster_keys, .init = setup, .fini = teardown, .timeout = 40);

/* Writes |text| as node |i|'s key file (mode 0600) and points the node at it. */
static void write_keyfile(int i, const char *text)
{
    snprintf(cl.keyfile[i], sizeof(cl.keyfile[i]), "%s/keys-n%d", cl.dir, i);
    FILE *f = fopen(cl.keyfile[i], "w");
    cr_assert(ne(ptr, f, NULL));
    fputs(text, f);
    fclose(f);
}

struct keys_view {
    int encrypted;
    char primary[32];
    uint64_t auth_failures, plaintext_refused, sealed_refused;
};

static void keys_of(int i, struct keys_view *v)
{
    struct ringc *c = cluster_connect(i);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(c, &res, 3000, "keys", ""), 0));
    memset(v, 0, sizeof(*v));
    const msgpack_object *enc = ringc_get(res, "encrypted");
    v->encrypted = enc != NULL && enc->type == MSGPACK_OBJECT_BOOLEAN && enc->via.boolean;
    const msgpack_object *fps = ringc_get(res, "fingerprints");
    if (fps != NULL && fps->type == MSGPACK_OBJECT_ARRAY && fps->via.array.size > 0 &&
        fps->via.array.ptr[0].type == MSGPACK_OBJECT_STR) {
        snprintf(v->primary, sizeof(v->primary), "%.*s", (int)fps->via.array.ptr[0].via.str.size,
                 fps->via.array.ptr[0].via.str.ptr);
    }
    v->auth_failures = ringc_get_u64(res, "auth_failures", 0);
    v->plaintext_refused = ringc_get_u64(res, "plaintext_refused", 0);
    v->sealed_refused = ringc_get_u64(res, "sealed_refused", 0);
    ringc_close(c);
}

static void converge(int n)
{
    int ms = cluster_wait(cluster_converged, (void *)(intptr_t)n, 10000);
    cr_assert(ge(int, ms, 0), "%d nodes did not converge in 10 s", n);
}

static int knows(int i, const char *id)
{
    char status[16];
    uint64_t inc;
    return cluster_member(i, id, status, sizeof(status), &inc) == 0;
}

static int refused_count(void *arg)
{
    struct keys_view v;
    keys_of(0, &v);
    return *(const char *)arg == 'a' ? v.auth_failures > 0 : v.plaintext_refused > 0;
}

Test(cluster_keys, sealed_nodes_converge_and_outsiders_never_get_in)
{
    for (int i = 0; i < 3; i++) {
        write_keyfile(i, "# the cluster key\n" KEY_A "\n");
        cluster_start_node(i, i == 0 ? -1 : 0);
    }
    converge(3);
    struct keys_view v;
    keys_of(1, &v);
    cr_assert(eq(int, v.encrypted, 1));
    cr_assert(eq(sz, strlen(v.primary), 16));

    write_keyfile(3, KEY_B "\n"); /* the wrong key */
    cluster_start_node(3, 0);
    cl.insecure[4] = 1; /* no key at all */
    cluster_start_node(4, 0);
    cr_assert(ge(int, cluster_wait(refused_count, "auth", 5000), 0),
              "node 0 never counted a packet it could not open");
    cr_assert(ge(int, cluster_wait(refused_count, "plaintext", 5000), 0),
              "node 0 never counted a plaintext packet");
    cluster_sleep_ms(1500);
    for (int i = 0; i < 3; i++) {
        cr_assert(not(knows(i, "n3")), "node %d learned of the node with the wrong key", i);
        cr_assert(not(knows(i, "n4")), "node %d learned of the node without a key", i);
    }
    cr_assert(not(knows(3, "n0")), "the node with the wrong key learned the membership");
    cr_assert(not(knows(4, "n0")), "the node without a key learned the membership");
    keys_of(4, &v);
    cr_assert(eq(int, v.encrypted, 0));
}

/* Both nodes see both alive and agree on the ring. */
static int healthy_pair(void *arg)
{
    uint64_t alive0 = 0, alive1 = 0, ring0 = 0, ring1 = 0, sum;
    if (cluster_stats(0, &alive0, &ring0, &sum) != 0 ||
        cluster_stats(1, &alive1, &ring1, &sum) != 0) {
        return 0;
    }
    (void)arg;
    return alive0 == 2 && alive1 == 2 && ring0 == ring1;
}

static void rotate_step(const char *text, struct keys_view *after)
{
    for (int i = 0; i < 2; i++) {
        write_keyfile(i, text);
        cluster_signal(i, SIGHUP);
        /* Between the two reloads the nodes disagree on the primary: the one with the new
         * primary must still be understood, which is why a key is added as a secondary
         * everywhere first. */
        cluster_sleep_ms(400);
        cr_assert(ge(int, cluster_wait(healthy_pair, NULL, 3000), 0));
    }
    keys_of(0, &after[0]);
    keys_of(1, &after[1]);
}

Test(cluster_keys, keys_rotate_with_sighup_without_a_glitch)
{
    write_keyfile(0, KEY_A "\n");
    write_keyfile(1, KEY_A "\n");
    cluster_start_node(0, -1);
    cluster_start_node(1, 0);
    converge(2);
    struct keys_view first[2], v[2];
    keys_of(0, &first[0]);
    rotate_step(KEY_A "\n" KEY_B "\n", v); /* add B as a secondary */
    cr_assert(eq(int, strcmp(v[0].primary, first[0].primary), 0));
    rotate_step(KEY_B "\n" KEY_A "\n", v); /* make B the primary */
    cr_assert(ne(int, strcmp(v[0].primary, first[0].primary), 0));
    cr_assert(eq(int, strcmp(v[0].primary, v[1].primary), 0));
    rotate_step(KEY_B "\n", v); /* drop A */
    cluster_sleep_ms(500);
    cr_assert(ge(int, cluster_wait(healthy_pair, NULL, 3000), 0));
    keys_of(0, &v[0]);
    keys_of(1, &v[1]);
    cr_assert(eq(u64, v[0].auth_failures + v[1].auth_failures, 0),
              "a packet failed authentication during the rotation");
    char status[16];
    uint64_t inc;
    cr_assert(eq(int, cluster_member(0, "n1", status, sizeof(status), &inc), 0));
    cr_assert(eq(int, strcmp(status, "alive"), 0), "n1 is %s", status);
}
