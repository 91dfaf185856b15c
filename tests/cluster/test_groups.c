/*
 * Sub-sharding with real processes: 2 groups of 3 ringd (--group a, --group b), each with a
 * proxy in front of its own ring_testapp. Every node learns the other group's summary
 * (size, ring checksum, contacts), and a request for a key of the other group, sent to any
 * node's proxy, reaches the app of the key's owner inside that group (through a contact:
 * at most two hops).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "httpc.h"
#include "testapp.h"

#define NODES 6
#define IO_MS 10000

static struct testapp apps[NODES];
static char proxy_addr[NODES][32], app_addr[NODES][32], seeds[64];
static struct httpc_resp resp;

static int group_of(int i)
{
    return i < NODES / 2 ? 'a' : 'b';
}

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

TestSuite(groups, .init = setup, .fini = teardown, .timeout = 120);

/* Node |i|'s view of the groups (groups()): how many it knows. */
static int groups_known(int i)
{
    struct ringc *c = cluster_connect(i);
    const msgpack_object *res;
    int n = -1;
    if (ringc_call(c, &res, 2000, "groups", "") == 0) {
        const msgpack_object *list = ringc_get(res, "groups");
        n = list != NULL && list->type == MSGPACK_OBJECT_ARRAY ? (int)list->via.array.size : -1;
    }
    ringc_close(c);
    return n;
}

static int all_know_both(void *arg)
{
    (void)arg;
    for (int i = 0; i < NODES; i++) {
        if (groups_known(i) != 2) {
            return 0;
        }
    }
    return 1;
}

static void start_groups(void)
{
    char group[NODES][2];
    snprintf(seeds, sizeof(seeds), "127.0.0.1:%d,127.0.0.1:%d", cluster_gossip_port(0),
             cluster_gossip_port(NODES / 2));
    for (int i = 0; i < NODES; i++) {
        char id[8];
        snprintf(id, sizeof(id), "app%d", i);
        cr_assert(eq(int, testapp_start(&apps[i], testapp_port(i), id, NULL), 0));
        snprintf(proxy_addr[i], sizeof(proxy_addr[i]), "127.0.0.1:%d", cluster_proxy_port(i));
        snprintf(app_addr[i], sizeof(app_addr[i]), "127.0.0.1:%d", testapp_port(i));
        group[i][0] = (char)group_of(i);
        group[i][1] = '\0';
        /* seeds of both groups: swim meets its own group, groups meet each other */
        const char *args[] = { "--group",   group[i], "--proxy", proxy_addr[i], "--app",
                               app_addr[i], "--join", seeds,     NULL };
        memcpy(cl.extra_args[i], args, sizeof(args));
    }
    cl.n = NODES;
    for (int i = 0; i < NODES; i++) {
        cluster_start_node(i, -1);
    }
    cr_assert(ge(int, cluster_wait(all_know_both, NULL, 30000), 0),
              "the nodes did not learn both groups");
}

/* Node |i|'s lookup of |key|: group, whether it is node i's own, and the id answered (the
 * owner, or the contact to route through). */
static void lookup(int i, const char *key, char *group, int *local, char *id)
{
    struct ringc *c = cluster_connect(i);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(c, &res, 2000, "lookup", "s", key), 0));
    ringc_get_str(res, "group", group, 8);
    ringc_get_str(res, "id", id, 16);
    const msgpack_object *l = ringc_get(res, "local");
    cr_assert(ne(ptr, (void *)l, NULL));
    *local = l->via.boolean;
    ringc_close(c);
}

/* ringctl groups on node 0 shows group b at its full size. The first summary of b may be
 * authored before every b node joined; the full size is then published only once b's view
 * has held for author_settle_ms (10 s, groups.h) and spreads within a bootstrap exchange:
 * so the wait is 20 s, not the few seconds a start usually takes. */
#define B_WHOLE_MS 20000
static char groups_out[8192];
static int b_known_whole(void *arg)
{
    (void)arg;
    char cmd[256], sock[128];
    snprintf(cmd, sizeof(cmd), "%s --socket %s --json groups", RINGCTL_BIN,
             cluster_socket(0, sock, sizeof(sock)));
    return cluster_sh(cmd, groups_out, sizeof(groups_out)) == 0 &&
           strstr(groups_out, "\"name\":\"b\"") != NULL && strstr(groups_out, "\"size\":3") != NULL;
}

Test(groups, every_node_learns_the_other_group)
{
    start_groups();
    char out[8192], cmd[256], sock[128];
    cr_assert(ge(int, cluster_wait(b_known_whole, NULL, B_WHOLE_MS), 0),
              "group b never showed with its 3 members: %s", groups_out);
    /* members --group of the other group: asked of a contact over its gossip port */
    snprintf(cmd, sizeof(cmd), "%s --socket %s members --group b", RINGCTL_BIN,
             cluster_socket(0, sock, sizeof(sock)));
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0));
    cr_assert(ne(ptr, strstr(out, "n3 "), NULL), "%s", out);
    cr_assert(ne(ptr, strstr(out, "n5 "), NULL), "%s", out);
    cr_assert(eq(ptr, strstr(out, "n0 "), NULL), "%s", out);
}

Test(groups, requests_for_the_other_group_reach_the_owners_app)
{
    start_groups();
    struct httpc *h[NODES];
    for (int i = 0; i < NODES; i++) {
        h[i] = httpc_connect(cluster_proxy_port(i));
        cr_assert(ne(ptr, h[i], NULL));
    }
    int crossed = 0;
    for (int r = 0; r < 200; r++) {
        char key[32], group[8], id[16], req[256];
        int local;
        snprintf(key, sizeof(key), "acct-%d", r * 7919);
        int via = r % NODES;
        lookup(via, key, group, &local, id);
        /* the owner, as a node of the key's group sees it */
        int inside = group[0] == 'a' ? 0 : NODES / 2;
        char g2[8], owner[16];
        int local2;
        lookup(inside, key, g2, &local2, owner);
        cr_assert(eq(int, local2, 1));
        cr_assert(eq(int, strcmp(g2, group), 0));
        crossed += !local;
        snprintf(req, sizeof(req), "GET /g%d HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", r,
                 key);
        cr_assert(eq(int, httpc_send_str(h[via], req), 0));
        cr_assert(eq(int, httpc_read(h[via], &resp, IO_MS), 0));
        cr_assert(eq(int, resp.status, 200), "status %d: %s", resp.status, resp.body);
        const char *app = httpc_header(&resp, "X-App-Id");
        const char *by = httpc_header(&resp, "X-Ring-Owner");
        cr_assert(app != NULL && by != NULL);
        cr_assert(eq(int, strcmp(by, owner), 0), "key %s: owner %s, answered by %s", key, owner,
                  by);
        cr_assert(eq(int, app[3], owner[1]), "owner %s, app %s", owner, app);
    }
    cr_assert(gt(int, crossed, 50), "only %d of 200 keys crossed groups", crossed);
    for (int i = 0; i < NODES; i++) {
        httpc_close(h[i]);
    }
}

/* The answer one path gave for a key: group, local, id. */
struct answer {
    char group[8];
    int local;
    char id[16];
};

static void get_answer(const msgpack_object *o, struct answer *a)
{
    ringc_get_str(o, "group", a->group, sizeof(a->group));
    ringc_get_str(o, "id", a->id, sizeof(a->id));
    const msgpack_object *l = ringc_get(o, "local");
    cr_assert(ne(ptr, (void *)l, NULL), "no \"local\" in the answer");
    a->local = l->via.boolean;
}

/* |json| holds "name":"value" (or "name":value for a literal), exactly. */
static int json_has(const char *json, const char *name, const char *value, int quoted)
{
    char want[64];
    snprintf(want, sizeof(want), quoted ? "\"%s\":\"%s\"" : "\"%s\":%s", name, value);
    return strstr(json, want) != NULL;
}

static void expect_json(const char *what, const char *json, const struct answer *a)
{
    cr_assert(json_has(json, "group", a->group, 1) && json_has(json, "id", a->id, 1) &&
                  json_has(json, "local", a->local ? "true" : "false", 0),
              "%s disagrees with lookup (group %s, local %d, id %s): %s", what, a->group, a->local,
              a->id, json);
}

/* Every way to ask who serves a key (the local API's lookup and lookup_n, admin /v1/lookup,
 * ringctl lookup with and without -n) gives the same group and the same owner or contact,
 * from every node; a key of the node's own group names the owner its group sees. */
Test(groups, every_lookup_path_agrees_on_group_and_owner)
{
    start_groups();
    int crossed = 0;
    for (int r = 0; r < 24; r++) {
        char key[32];
        snprintf(key, sizeof(key), "acct-%d", r * 7919);
        int via = r % NODES;
        struct ringc *c = cluster_connect(via);
        const msgpack_object *res;
        struct answer one, first, inside;
        cr_assert(eq(int, ringc_call(c, &res, 2000, "lookup", "s", key), 0));
        get_answer(res, &one);
        for (uint64_t n = 1; n <= 3; n += 2) {
            cr_assert(eq(int, ringc_call(c, &res, 2000, "lookup_n", "su", key, n), 0));
            cr_assert(eq(int, res->type, MSGPACK_OBJECT_ARRAY));
            cr_assert(ge(u32, res->via.array.size, 1));
            get_answer(&res->via.array.ptr[0], &first);
            cr_assert(eq(int, strcmp(first.group, one.group), 0), "lookup_n group %s vs %s",
                      first.group, one.group);
            cr_assert(eq(int, strcmp(first.id, one.id), 0), "lookup_n(%s, %llu) %s vs lookup %s",
                      key, (unsigned long long)n, first.id, one.id);
            cr_assert(eq(int, first.local, one.local));
            for (uint32_t k = 0; k < res->via.array.size; k++) {
                get_answer(&res->via.array.ptr[k], &first);
                cr_assert(eq(int, strcmp(first.group, one.group), 0),
                          "replica %u of %s is in group %s, not %s", k, key, first.group,
                          one.group);
            }
        }
        ringc_close(c);
        /* the owner, as a node of the key's group sees it */
        int home = one.group[0] == 'a' ? 0 : NODES / 2;
        c = cluster_connect(home);
        cr_assert(eq(int, ringc_call(c, &res, 2000, "lookup", "s", key), 0));
        get_answer(res, &inside);
        ringc_close(c);
        cr_assert(eq(int, inside.local, 1));
        if (one.local) {
            cr_assert(eq(int, strcmp(one.id, inside.id), 0), "node %d: owner %s, its group: %s",
                      via, one.id, inside.id);
        }
        crossed += !one.local;

        char req[128], body[1024], cmd[320], sock[128], out[1024];
        snprintf(req, sizeof(req), "GET /v1/lookup?key=%s HTTP/1.0\r\n\r\n", key);
        cr_assert(eq(int, cluster_http(via, req, body, sizeof(body)), 200), "%s", body);
        expect_json("/v1/lookup", body, &one);
        cluster_socket(via, sock, sizeof(sock));
        snprintf(cmd, sizeof(cmd), "%s --socket %s --json lookup %s", RINGCTL_BIN, sock, key);
        cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
        expect_json("ringctl lookup", out, &one);
        snprintf(cmd, sizeof(cmd), "%s --socket %s --json lookup %s -n 2", RINGCTL_BIN, sock, key);
        cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
        expect_json("ringctl lookup -n 2", out, &one);
    }
    cr_assert(gt(int, crossed, 4), "only %d of 24 keys crossed groups", crossed);
}

/* A group's only member, whose seeds are all of other groups: it never meets a member of its
 * own group, yet once it has met the cluster it counts as joined, answers for its group's
 * keys, and the other groups' requests for them reach its app. */
Test(groups, the_only_member_of_a_group_serves_its_keys)
{
    static char grp[5][2];
    snprintf(seeds, sizeof(seeds), "127.0.0.1:%d,127.0.0.1:%d", cluster_gossip_port(0),
             cluster_gossip_port(2));
    for (int i = 0; i < 5; i++) {
        char id[8];
        snprintf(id, sizeof(id), "app%d", i);
        cr_assert(eq(int, testapp_start(&apps[i], testapp_port(i), id, NULL), 0));
        snprintf(proxy_addr[i], sizeof(proxy_addr[i]), "127.0.0.1:%d", cluster_proxy_port(i));
        snprintf(app_addr[i], sizeof(app_addr[i]), "127.0.0.1:%d", testapp_port(i));
        grp[i][0] = (char)(i < 2 ? 'a' : i < 4 ? 'b' : 'c');
        const char *args[] = { "--group",   grp[i],   "--proxy", proxy_addr[i], "--app",
                               app_addr[i], "--join", seeds,     NULL };
        memcpy(cl.extra_args[i], args, sizeof(args));
    }
    cl.n = 5;
    for (int i = 0; i < 5; i++) {
        cluster_start_node(i, -1);
    }
    for (int t = 0; t < 600 && groups_known(0) != 3; t++) {
        cluster_sleep_ms(50);
    }
    cr_assert(eq(int, groups_known(0), 3), "node 0 never learned group c");
    /* a key of group c, as node 0 routes it */
    char key[32] = "", group[8], id[16];
    int local = 0, found = 0;
    for (int k = 0; k < 400 && !found; k++) {
        snprintf(key, sizeof(key), "acct-%d", k);
        struct ringc *c = cluster_connect(0);
        const msgpack_object *res;
        if (ringc_call(c, &res, 2000, "lookup", "s", key) == 0) {
            ringc_get_str(res, "group", group, sizeof(group));
            found = strcmp(group, "c") == 0;
        } else {
            k--; /* not joined or no contact of c yet */
            cluster_sleep_ms(50);
        }
        ringc_close(c);
    }
    cr_assert(found, "no key of group c");
    int ok = 0;
    for (int t = 0; t < 200 && !ok; t++) {
        struct ringc *c = cluster_connect(4);
        const msgpack_object *res;
        if (ringc_call(c, &res, 2000, "lookup", "s", key) == 0) {
            ringc_get_str(res, "id", id, sizeof(id));
            const msgpack_object *l = ringc_get(res, "local");
            local = l != NULL && l->via.boolean;
            ok = 1;
        } else {
            cluster_sleep_ms(50);
        }
        ringc_close(c);
    }
    cr_assert(ok, "the only member of group c never answered a lookup (not joined)");
    cr_assert(eq(int, local, 1));
    cr_assert(eq(str, id, "n4"));
    struct httpc *h = httpc_connect(cluster_proxy_port(0));
    cr_assert(ne(ptr, h, NULL));
    char req[128];
    snprintf(req, sizeof(req), "GET /c HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", key);
    cr_assert(eq(int, httpc_send_str(h, req), 0));
    cr_assert(eq(int, httpc_read(h, &resp, IO_MS), 0));
    cr_assert(eq(int, resp.status, 200), "status %d: %s", resp.status, resp.body);
    const char *app = httpc_header(&resp, "X-App-Id");
    cr_assert(app != NULL && strcmp(app, "app4") == 0, "answered by %s", app ? app : "(none)");
    httpc_close(h);
}
