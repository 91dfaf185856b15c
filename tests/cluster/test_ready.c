/*
 * Readiness means "this pod can serve": joined, not leaving. It does not depend on the rest
 * of the ring being quiet, so a membership change elsewhere never makes every pod unready at
 * once (Kubernetes would take the whole StatefulSet out of its Services).
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

TestSuite(ready, .init = setup, .fini = teardown, .timeout = 60);

/* Polls /readyz of nodes 0 and 1 every 10 ms for |ms|; returns how many answers were not 200. */
static int unready_answers(int ms)
{
    char body[256];
    int bad = 0;
    for (int t = 0; t < ms / 10; t++) {
        for (int i = 0; i < 2; i++) {
            bad += cluster_http(i, "GET /readyz HTTP/1.0\r\n\r\n", body, sizeof(body)) != 200;
        }
        cluster_sleep_ms(10);
    }
    return bad;
}

Test(ready, readiness_of_others_holds_while_a_member_joins_and_dies)
{
    cluster_start(2);
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)2, 10000), 0));
    cr_assert(eq(int, unready_answers(500), 0), "ready before any change");
    cluster_start_node(2, 0);
    int bad = unready_answers(1500);
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)3, 10000), 0));
    cr_assert(eq(int, bad, 0), "%d /readyz answers were not 200 while n2 joined", bad);
    cluster_signal(2, SIGKILL);
    bad = unready_answers(2500);
    cr_assert(eq(int, bad, 0), "%d /readyz answers were not 200 while n2 died", bad);
}
