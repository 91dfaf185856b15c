/*
 * Scenario 7, a node with the wrong gossip key: seven nodes share key A, an eighth with key
 * B joins one of them. For the whole window it never appears in anyone's membership (polled
 * every FAULT_POLL_MS at all seven), it learns none of them, and the seven stay one ring; the
 * seed counts the packets it could not open, so the test knows they did arrive. Full: 30 s,
 * short: 5 s.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>

#include "fault.h"

#define KEY_A           "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
#define KEY_B           "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
#define WINDOW_MS_FULL  30000
#define WINDOW_MS_SHORT 5000
#define OUTSIDER        (FAULT_NODES - 1)

TestSuite(fault_wrongkey, .init = fault_setup, .fini = fault_teardown, .timeout = 120);

static void write_keyfile(int i, const char *key)
{
    snprintf(cl.keyfile[i], sizeof(cl.keyfile[i]), "%s/keys-n%d", cl.dir, i);
    FILE *f = fopen(cl.keyfile[i], "w");
    cr_assert(ne(ptr, f, NULL));
    fprintf(f, "%s\n", key);
    fclose(f);
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

Test(fault_wrongkey, node_with_the_wrong_key_never_gets_in)
{
    int window_ms = fault_ms(WINDOW_MS_SHORT, WINDOW_MS_FULL);
    fault_set insiders = FAULT_ALL & ~(1u << OUTSIDER);
    for (int i = 0; i < FAULT_NODES; i++) {
        write_keyfile(i, i == OUTSIDER ? KEY_B : KEY_A);
        if (i != OUTSIDER) {
            cluster_start_node(i, i == 0 ? -1 : 0);
        }
    }
    cr_assert(ge(int, fault_wait_agree(insiders, insiders, fault_now_ms(), 15000), 0));
    cluster_start_node(OUTSIDER, 0);
    int64_t t0 = fault_now_ms();
    int polls = 0, sightings = 0, outsider_knows = 0, split = 0;
    while (fault_now_ms() - t0 < window_ms) {
        struct fault_view v[CLUSTER_NODES_MAX];
        fault_view_all(v);
        cr_assert(v[OUTSIDER].ok, "the node with the wrong key could not be asked");
        for (int i = 0; i < FAULT_NODES; i++) {
            sightings += i != OUTSIDER && v[i].status[OUTSIDER] != 0;
            outsider_knows += i != OUTSIDER && v[OUTSIDER].status[i] != 0;
        }
        split += !fault_agree(v, insiders, insiders);
        polls++;
        cluster_sleep_ms(FAULT_POLL_MS);
    }
    uint64_t refused = auth_failures(0);
    fault_report("wrongkey",
                 "\"nodes\": %d, \"window_ms\": %d, \"polls\": %d, "
                 "\"sightings_of_outsider\": %d, \"members_outsider_learned\": %d, "
                 "\"insider_polls_not_agreed\": %d, \"seed_auth_failures\": %llu",
                 FAULT_NODES, window_ms, polls, sightings, outsider_knows, split,
                 (unsigned long long)refused);
    cr_assert(gt(u64, refused, 0), "the seed never received a packet sealed with the wrong key");
    cr_assert(eq(int, sightings, 0), "the outsider appeared in a membership %d times", sightings);
    cr_assert(eq(int, outsider_knows, 0), "the outsider learned %d members", outsider_knows);
    cr_assert(eq(int, split, 0), "the seven disagreed in %d polls", split);
}
