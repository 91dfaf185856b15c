/*
 * Logical shards with real processes (ringd --shards 64): the nodes own disjoint sets of
 * shards that cover all 64; a key's lookup names its shard and the shard's owner, through
 * the local API, the admin HTTP and ringctl alike, and a proxied request reaches the app of
 * its shard's owner; when an owner dies its shards go to the others, and a watcher hears of
 * it in a shards_changed notification.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "httpc.h"
#include "ring/shards.h"
#include "testapp.h"

#define NODES  3
#define SHARDS 64

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

TestSuite(shards, .init = setup, .fini = teardown, .timeout = 120);

/* owner[s] = the node that says it owns shard s (-1: none; -2: two do). */
static int owner[SHARDS];

/* Asks every running node for owned_shards(); 1 when each shard has exactly one owner. */
static int shards_partitioned(void *arg)
{
    (void)arg;
    for (int s = 0; s < SHARDS; s++) {
        owner[s] = -1;
    }
    for (int i = 0; i < cl.n; i++) {
        if (cl.pids[i] <= 0) {
            continue;
        }
        struct ringc *c = cluster_connect(i);
        const msgpack_object *res;
        int ok = c != NULL && ringc_call(c, &res, 2000, "owned_shards", "") == 0 &&
                 ringc_get_u64(res, "shards", 0) == SHARDS;
        const msgpack_object *owned = ok ? ringc_get(res, "owned") : NULL;
        for (uint32_t k = 0; owned != NULL && k < owned->via.array.size; k++) {
            uint64_t s = owned->via.array.ptr[k].via.u64;
            if (s < SHARDS) {
                owner[s] = owner[s] == -1 ? i : -2;
            }
        }
        ringc_close(c);
        if (!ok) {
            return 0;
        }
    }
    for (int s = 0; s < SHARDS; s++) {
        if (owner[s] < 0) {
            return 0;
        }
    }
    return 1;
}

/* Starts the nodes with --shards 64 and, with |proxies|, each a proxy in front of its own
 * ring_testapp. */
static void start_with(int proxies)
{
    for (int i = 0; i < NODES; i++) {
        cl.extra_args[i][0] = "--shards";
        cl.extra_args[i][1] = "64";
        if (proxies) {
            char id[8];
            snprintf(id, sizeof(id), "app%d", i);
            cr_assert(eq(int, testapp_start(&apps[i], testapp_port(i), id, NULL), 0));
            snprintf(proxy_addr[i], sizeof(proxy_addr[i]), "127.0.0.1:%d", cluster_proxy_port(i));
            snprintf(app_addr[i], sizeof(app_addr[i]), "127.0.0.1:%d", testapp_port(i));
            cl.extra_args[i][2] = "--proxy";
            cl.extra_args[i][3] = proxy_addr[i];
            cl.extra_args[i][4] = "--app";
            cl.extra_args[i][5] = app_addr[i];
        }
    }
    cluster_start(NODES);
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)NODES, 20000), 0),
              "no convergence");
    cr_assert(ge(int, cluster_wait(shards_partitioned, NULL, 10000), 0), "shards not partitioned");
}

static void start(void)
{
    start_with(0);
}

Test(shards, nodes_own_disjoint_shards_covering_all_and_lookups_follow_them)
{
    start();
    int per_node[NODES] = { 0 };
    for (int s = 0; s < SHARDS; s++) {
        per_node[owner[s]]++;
    }
    for (int i = 0; i < NODES; i++) {
        cr_assert(gt(int, per_node[i], 0), "n%d owns no shard", i);
    }
    struct ringc *c = cluster_connect(1);
    for (int k = 0; k < 200; k++) {
        char key[32], id[16], want[16];
        snprintf(key, sizeof(key), "user-%d", k);
        const msgpack_object *res;
        cr_assert(eq(int, ringc_call(c, &res, 2000, "lookup", "s", key), 0));
        uint32_t shard = shards_of(key, strlen(key), SHARDS);
        cr_assert(eq(u64, ringc_get_u64(res, "shard", UINT64_MAX), shard));
        ringc_get_str(res, "id", id, sizeof(id));
        snprintf(want, sizeof(want), "n%d", owner[shard]);
        cr_assert(eq(int, strcmp(id, want), 0), "%s: shard %u: %s, owned by %s", key, shard, id,
                  want);
    }
    ringc_close(c);

    /* The admin lookup and ringctl say the same. */
    const char *key = "user-7";
    uint32_t shard = shards_of(key, strlen(key), SHARDS);
    char body[512], want[64];
    cr_assert(eq(int,
                 cluster_http(0, "GET /v1/lookup?key=user-7 HTTP/1.0\r\n\r\n", body, sizeof(body)),
                 200));
    snprintf(want, sizeof(want), "\"shard\":%u,\"id\":\"n%d\"", shard, owner[shard]);
    cr_assert(strstr(body, want) != NULL, "%s", body);
    char cmd[256], out[512], sock[128];
    snprintf(cmd, sizeof(cmd), "%s --socket %s lookup user-7 2>&1", RINGCTL_BIN,
             cluster_socket(2, sock, sizeof(sock)));
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
    snprintf(want, sizeof(want), "user-7 -> shard %u -> n%d (", shard, owner[shard]);
    cr_assert(strstr(out, want) != NULL, "%s", out);
    snprintf(cmd, sizeof(cmd), "%s --socket %s shards 2>&1", RINGCTL_BIN,
             cluster_socket(owner[shard], sock, sizeof(sock)));
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
    snprintf(want, sizeof(want), "%d of 64 shards owned", per_node[owner[shard]]);
    cr_assert(strstr(out, want) != NULL, "%s", out);
}

Test(shards, a_dead_owner_s_shards_move_and_watchers_hear_of_it)
{
    start();
    int had[SHARDS];
    memcpy(had, owner, sizeof(had));
    int lost = 0;
    for (int s = 0; s < SHARDS; s++) {
        lost += had[s] == 2;
    }
    struct ringc *w = cluster_connect(0);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(w, &res, 2000, "watch", ""), 0));
    cluster_signal(2, SIGKILL);
    cl.pids[2] = 0;

    /* Node 0's notification lists what it acquired: shards of n2, nothing else. */
    int acquired = 0;
    for (int tries = 0; acquired == 0 && tries < 10; tries++) {
        struct rpc_msg msg;
        cr_assert(eq(int, ringc_read(w, &msg, 15000), 0), "no notification");
        if (msg.kind != RPC_NOTIFICATION || !rpc_method_is(&msg, "shards_changed")) {
            continue;
        }
        const msgpack_object *params;
        cr_assert(eq(int, ringc_unpack(w, &msg, &params), 0));
        cr_assert(eq(u32, params->via.array.size, 5));
        const msgpack_object *p = params->via.array.ptr;
        cr_assert(eq(u32, p[3].via.array.size, 0), "node 0 released nothing");
        for (uint32_t k = 0; k < p[2].via.array.size; k++) {
            /* shard numbers are integers, as in owned_shards() */
            cr_assert(eq(int, p[2].via.array.ptr[k].type, MSGPACK_OBJECT_POSITIVE_INTEGER));
            cr_assert(lt(u64, p[2].via.array.ptr[k].via.u64, SHARDS));
            int s = (int)p[2].via.array.ptr[k].via.u64;
            cr_assert(eq(int, had[s], 2), "shard %d came from n%d, not n2", s, had[s]);
            acquired++;
        }
    }
    ringc_close(w);
    cr_assert(gt(int, acquired, 0));
    /* The survivors split every shard between them; only n2's moved. */
    cr_assert(ge(int, cluster_wait(shards_partitioned, NULL, 15000), 0), "shards not partitioned");
    int moved = 0;
    for (int s = 0; s < SHARDS; s++) {
        cr_assert(lt(int, owner[s], 2));
        if (had[s] != 2) {
            cr_assert(eq(int, owner[s], had[s]), "shard %d moved from n%d", s, had[s]);
        } else {
            moved++;
        }
    }
    cr_assert(eq(int, moved, lost));
}

Test(shards, proxied_requests_reach_the_app_of_their_shard_s_owner)
{
    start_with(1);
    struct httpc *h[NODES];
    for (int i = 0; i < NODES; i++) {
        h[i] = httpc_connect(cluster_proxy_port(i));
        cr_assert(ne(ptr, h[i], NULL));
    }
    for (int r = 0; r < 150; r++) {
        char key[32], req[256], want[16];
        snprintf(key, sizeof(key), "order-%d", r * 104729);
        int owner_node = owner[shards_of(key, strlen(key), SHARDS)];
        snprintf(want, sizeof(want), "n%d", owner_node);
        snprintf(req, sizeof(req), "GET /s%d HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", r,
                 key);
        int via = r % NODES;
        cr_assert(eq(int, httpc_send_str(h[via], req), 0));
        cr_assert(eq(int, httpc_read(h[via], &resp, 10000), 0));
        cr_assert(eq(int, resp.status, 200), "status %d: %s", resp.status, resp.body);
        const char *app = httpc_header(&resp, "X-App-Id");
        const char *by = httpc_header(&resp, "X-Ring-Owner");
        cr_assert(app != NULL && by != NULL);
        cr_assert(eq(int, strcmp(by, want), 0), "key %s: shard owner %s, answered by %s", key, want,
                  by);
        cr_assert(eq(int, app[3], '0' + owner_node), "owner %s, app %s", want, app);
    }
    for (int i = 0; i < NODES; i++) {
        httpc_close(h[i]);
    }
}
