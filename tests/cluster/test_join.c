/*
 * Before a node has joined, it does not know who owns anything: a ring of one would answer
 * every key with itself. Lookups on every path are refused with a clear error until it joins,
 * and the log says why (its seeds do not answer).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
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

TestSuite(join, .init = setup, .fini = teardown, .timeout = 40);

/* Node 0's log names the seed warning. */
static int warned(void *arg)
{
    (void)arg;
    char cmd[200], out[4096];
    snprintf(cmd, sizeof(cmd), "grep -c 'not_joined' '%s/n0.log'", cl.dir);
    return cluster_sh(cmd, out, sizeof(out)) == 0;
}

static int lookup_answers(void *arg)
{
    (void)arg;
    struct ringc *c = cluster_connect(0);
    const msgpack_object *res;
    int ok = ringc_call(c, &res, 2000, "lookup", "s", "k") == 0;
    ringc_close(c);
    return ok;
}

Test(join, lookups_before_joining_are_refused_and_unanswered_seeds_are_logged)
{
    /* node 0 joins through node 1's address, where nothing runs yet */
    cluster_start_node(0, 1);
    struct ringc *c = cluster_connect(0);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(c, &res, 2000, "lookup", "s", "k"), RINGC_ERESPONSE),
              "a node that has not joined must not answer lookups");
    cr_assert(eq(int, ringc_error(c), -EAGAIN), "code %s", ringc_error_code(c));
    cr_assert(ne(ptr, strstr(ringc_error_message(c), "not joined"), NULL), "message: %s",
              ringc_error_message(c));
    cr_assert(
        eq(int, ringc_call(c, &res, 2000, "lookup_n", "su", "k", (uint64_t)2), RINGC_ERESPONSE));
    cr_assert(eq(int, ringc_error(c), -EAGAIN), "code %s", ringc_error_code(c));
    ringc_close(c);
    char body[1024];
    cr_assert(
        eq(int, cluster_http(0, "GET /v1/lookup?key=k HTTP/1.0\r\n\r\n", body, sizeof(body)), 503),
        "%s", body);
    cr_assert(ne(ptr, strstr(body, "not joined"), NULL), "%s", body);
    cr_assert(ge(int, cluster_wait(warned, NULL, 10000), 0), "no not_joined warning in the log");

    /* the seed comes up: node 0 joins and answers */
    cluster_start_node(1, -1);
    cr_assert(ge(int, cluster_wait(lookup_answers, NULL, 10000), 0), "node 0 never answered");
}

/* A node with no seeds at all is a cluster of one, joined from the start. */
Test(join, a_node_without_seeds_answers_at_once)
{
    cluster_start_node(0, -1);
    cr_assert(ge(int, cluster_wait(lookup_answers, NULL, 2000), 0));
}

/* Node 0's log shows a round of seeds ended (its join). */
static int seeds_round_ran(void *arg)
{
    (void)arg;
    char cmd[200], out[256];
    snprintf(cmd, sizeof(cmd), "grep -q 'msg=join\\|\"msg\":\"join\"' '%s/n0.log'", cl.dir);
    return cluster_sh(cmd, out, sizeof(out)) == 0;
}

/* Seeds that were configured but resolve to nothing (a join file that cannot be read, a name
 * not in DNS yet) leave the node unjoined: it is not a cluster of one. */
Test(join, configured_seeds_that_resolve_to_nothing_do_not_make_a_cluster_of_one)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/no-such-join-file", cl.dir);
    const char *args[] = { "--join-file", path, NULL };
    memcpy(cl.extra_args[0], args, sizeof(args));
    cluster_start_node(0, -1);
    struct ringc *c = cluster_connect(0);
    const msgpack_object *res;
    cr_assert(ge(int, cluster_wait(seeds_round_ran, NULL, 5000), 0), "no round of seeds ran");
    cr_assert(eq(int, ringc_call(c, &res, 2000, "lookup", "s", "k"), RINGC_ERESPONSE),
              "a node with unreadable seeds answered a lookup");
    cr_assert(eq(int, ringc_error(c), -EAGAIN));
    ringc_close(c);
}
