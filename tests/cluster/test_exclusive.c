/*
 * Exclusive shards with real processes (ringd --shards 16 --exclusive, 1 s leases): every
 * shard is held by exactly one node, and the app behind the holder's proxy gets the lease's
 * epoch; a killed holder's shards are taken only after its leases end; a holder paused past
 * its leases passes nothing to its app when it wakes; a node cut off from the majority
 * answers 503 no_quorum; a joining node gets its shards by hand-off once the old holders'
 * app releases them (a watcher acting on lease_changed notifications, as an app would), and
 * a request for a shard in hand-off waits for the new holder; a SIGTERM hands every held
 * shard off (the app releasing) before the node leaves.
 */
#define _GNU_SOURCE /* strcasestr */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "httpc.h"
#include "ring/lease.h"
#include "ring/shards.h"
#include "testapp.h"

#define NODES  3
#define SHARDS 16
/* --lease 1s: long enough to outlast the probes and rounds on a loaded 2-core machine. */
#define LEASE_MS 1000

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

TestSuite(exclusive, .init = setup, .fini = teardown, .timeout = 90);

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Per shard, from the last poll: the node that may act on it (-1: none; -2: two), its
 * state there, epoch and lease end (on this test's monotonic clock, a lower bound). */
static int holder[SHARDS];
static uint64_t epoch[SHARDS];
static int64_t ends_ms[SHARDS];
/* ... and when it surely held it: from its answer to the earliest end of its lease. */
static int64_t lo_ms[SHARDS];
/* Per node: the shards its ring gives it. */
static int owns[NODES][SHARDS];

/* Reads node |i|'s shards(); returns 0 or -1. */
static int poll_node(int i)
{
    struct ringc *c = cluster_connect(i);
    const msgpack_object *res;
    int64_t before = mono_ms();
    int ok = ringc_call(c, &res, 2000, "shards", "") == 0;
    int64_t after = mono_ms();
    const msgpack_object *leases = ok ? ringc_get(res, "leases") : NULL;
    const msgpack_object *owned = ok ? ringc_get(res, "owned") : NULL;
    memset(owns[i], 0, sizeof(owns[i]));
    for (uint32_t k = 0; owned != NULL && k < owned->via.array.size; k++) {
        uint64_t s = owned->via.array.ptr[k].via.u64;
        if (s < SHARDS) {
            owns[i][s] = 1;
        }
    }
    for (uint32_t k = 0; leases != NULL && k < leases->via.array.size; k++) {
        const msgpack_object *l = &leases->via.array.ptr[k];
        uint64_t s = ringc_get_u64(l, "shard", UINT64_MAX);
        uint64_t st = ringc_get_u64(l, "state", 0);
        if (s >= SHARDS || (st != LEASE_HELD && st != LEASE_RELEASING)) {
            continue;
        }
        int64_t end = before + (int64_t)ringc_get_u64(l, "expires_in_ms", 0);
        if (holder[s] >= 0) {
            /* two answers, at two instants, may both say held across a hand-off; two nodes
             * surely acting at one instant is the bug */
            cr_assert(not(lo_ms[s] <= end && after <= ends_ms[s]),
                      "shard %llu: n%d and n%d both hold it", (unsigned long long)s, holder[s], i);
            holder[s] = -2;
            continue;
        }
        holder[s] = holder[s] == -1 ? i : -2;
        epoch[s] = ringc_get_u64(l, "epoch", 0);
        ends_ms[s] = end;
        lo_ms[s] = after;
    }
    ringc_close(c);
    return ok ? 0 : -1;
}

/* Polls every running node; 1 when each shard has exactly one holder. */
static int all_held(void *arg)
{
    (void)arg;
    for (int s = 0; s < SHARDS; s++) {
        holder[s] = -1;
    }
    for (int i = 0; i < cl.n; i++) {
        if (cl.pids[i] > 0 && poll_node(i) != 0) {
            return 0;
        }
    }
    for (int s = 0; s < SHARDS; s++) {
        if (holder[s] < 0) {
            return 0; /* none, or moving */
        }
    }
    return 1;
}

/* Node |i|'s flags: --shards 16 --exclusive, short leases, a proxy before its own app when
 * |proxy|, and |release_timeout|. */
static void node_flags(int i, int proxy, const char *release_timeout)
{
    const char **a = cl.extra_args[i];
    int n = 0;
    a[n++] = "--shards";
    a[n++] = "16";
    a[n++] = "--exclusive";
    a[n++] = "--lease";
    a[n++] = "1s";
    a[n++] = "--handoff-wait";
    a[n++] = "1s";
    a[n++] = "--release-timeout";
    a[n++] = release_timeout;
    if (proxy) {
        char id[16];
        snprintf(id, sizeof(id), "app%d", i);
        cr_assert(eq(int, testapp_start(&apps[i], testapp_port(i), id, NULL), 0));
        snprintf(proxy_addr[i], sizeof(proxy_addr[i]), "127.0.0.1:%d", cluster_proxy_port(i));
        snprintf(app_addr[i], sizeof(app_addr[i]), "127.0.0.1:%d", testapp_port(i));
        a[n++] = "--proxy";
        a[n++] = proxy_addr[i];
        a[n++] = "--app";
        a[n++] = app_addr[i];
    }
    a[n] = NULL;
}

static void start(int nodes, int proxies)
{
    for (int i = 0; i < nodes; i++) {
        node_flags(i, proxies, "2s");
    }
    cluster_start(nodes);
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)nodes, 20000), 0),
              "no convergence");
    /* a node claims nothing for a lease after it starts (it may have promised before) */
    cr_assert(ge(int, cluster_wait(all_held, NULL, 15000), 0), "not every shard held");
}

/* A key of shard |s|. */
static void key_of(uint32_t s, char *key, size_t cap)
{
    for (int k = 0;; k++) {
        snprintf(key, cap, "k%d", k);
        if (shards_of(key, strlen(key), SHARDS) == s) {
            return;
        }
    }
}

/* Sends GET |path| for shard |s| to node |via|'s proxy and reads the answer into |resp|. */
static void request(int via, uint32_t s, const char *path, const char *extra)
{
    char key[32], req[512];
    key_of(s, key, sizeof(key));
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n%s\r\n", path, key,
             extra != NULL ? extra : "");
    struct httpc *h = httpc_connect(cluster_proxy_port(via));
    cr_assert(ne(ptr, h, NULL));
    cr_assert(eq(int, httpc_send_str(h, req), 0));
    cr_assert(eq(int, httpc_read(h, &resp, 15000), 0), "no answer from n%d's proxy", via);
    httpc_close(h);
}

Test(exclusive, every_shard_has_one_holder_and_its_app_gets_the_epoch)
{
    start(NODES, 1);
    for (int s = 0; s < SHARDS; s++) {
        cr_assert(ge(u64, epoch[s], 1), "shard %d epoch %llu", s, (unsigned long long)epoch[s]);
    }
    for (uint32_t s = 0; s < SHARDS; s++) {
        /* through another node's proxy; a client's own X-Ring-Epoch never reaches the app */
        int via = (holder[s] + 1) % NODES;
        request(via, s, "/headers", "X-Ring-Epoch: 99999\r\n");
        cr_assert(eq(int, resp.status, 200), "shard %u: %d %s", s, resp.status, resp.body);
        char want[32], owner[8];
        snprintf(owner, sizeof(owner), "n%d", holder[s]);
        cr_assert(eq(str, (char *)httpc_header(&resp, "X-Ring-Owner"), owner));
        snprintf(want, sizeof(want), "x-ring-epoch: %llu\n", (unsigned long long)epoch[s]);
        char *body = resp.body;
        for (char *p = body; *p != '\0'; p++) {
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        }
        cr_assert(ne(ptr, strstr(body, want), NULL), "shard %u: want %s in:\n%s", s, want, body);
        cr_assert(eq(ptr, strstr(body, "99999"), NULL), "the client's epoch passed:\n%s", body);
    }
    /* ringctl shows the states and epochs */
    char cmd[256], out[4096], sock[128];
    snprintf(cmd, sizeof(cmd), "%s --socket %s shards 2>&1", RINGCTL_BIN,
             cluster_socket(holder[0], sock, sizeof(sock)));
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
    cr_assert(ne(ptr, strstr(out, "held"), NULL), "%s", out);
    cr_assert(ne(ptr, strstr(out, "EPOCH"), NULL), "%s", out);
    snprintf(cmd, sizeof(cmd), "%s --socket %s --json shards 2>&1", RINGCTL_BIN,
             cluster_socket(holder[0], sock, sizeof(sock)));
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
    char want[64];
    snprintf(want, sizeof(want), "{\"shard\":0,\"state\":2,\"epoch\":%llu,",
             (unsigned long long)epoch[0]);
    cr_assert(ne(ptr, strstr(out, "\"exclusive\":true"), NULL), "%s", out);
    cr_assert(ne(ptr, strstr(out, want), NULL), "want %s in %s", want, out);
}

Test(exclusive, a_killed_holder_s_shards_are_taken_only_after_its_leases_end)
{
    start(NODES, 0);
    int had[SHARDS];
    uint64_t old_epoch[SHARDS];
    memcpy(had, holder, sizeof(had));
    memcpy(old_epoch, epoch, sizeof(old_epoch));
    /* n2's lease ends, at the earliest, where it said just before the kill */
    for (int s = 0; s < SHARDS; s++) {
        holder[s] = -1;
    }
    cr_assert(eq(int, poll_node(2), 0));
    int64_t n2_ends[SHARDS];
    memcpy(n2_ends, ends_ms, sizeof(n2_ends));
    cluster_signal(2, SIGKILL);
    cl.pids[2] = 0;
    int64_t killed = mono_ms();
    int moved = 0, want = 0;
    int64_t first_held[SHARDS] = { 0 };
    for (int s = 0; s < SHARDS; s++) {
        want += had[s] == 2;
    }
    cr_assert(gt(int, want, 0), "n2 held nothing");
    while (moved < want && mono_ms() - killed < 20000) {
        all_held(NULL);
        int64_t now = mono_ms();
        for (int s = 0; s < SHARDS; s++) {
            if (had[s] == 2 && first_held[s] == 0 && holder[s] >= 0) {
                first_held[s] = now;
                moved++;
                cr_assert(gt(u64, epoch[s], old_epoch[s]), "shard %d: epoch did not grow", s);
                cr_assert(ge(i64, now, n2_ends[s]),
                          "shard %d held by n%d %lld ms before n2's lease ended", s, holder[s],
                          (long long)(n2_ends[s] - now));
            }
        }
        cluster_sleep_ms(10);
    }
    cr_assert(eq(int, moved, want), "only %d of n2's %d shards were taken", moved, want);
    for (int s = 0; s < SHARDS; s++) {
        if (had[s] != 2) {
            cr_assert(eq(int, holder[s], had[s]), "shard %d moved from n%d", s, had[s]);
        }
    }
}

Test(exclusive, a_holder_paused_past_its_leases_passes_nothing_to_its_app)
{
    start(NODES, 1);
    uint32_t s2 = SHARDS;
    for (uint32_t s = 0; s < SHARDS && s2 == SHARDS; s++) {
        s2 = holder[s] == 2 ? s : s2;
    }
    cr_assert(lt(u32, s2, SHARDS), "n2 held nothing");
    cluster_signal(2, SIGSTOP);
    /* the others take n2's shards once its leases end */
    int64_t stopped = mono_ms();
    while (holder[s2] == 2 || holder[s2] < 0) {
        cr_assert(lt(i64, mono_ms() - stopped, 20000), "shard %u not taken", s2);
        cluster_sleep_ms(50);
        for (int s = 0; s < SHARDS; s++) {
            holder[s] = -1;
        }
        poll_node(0);
        poll_node(1);
    }
    /* a request waits in n2's listen queue while it sleeps, and reaches it as it wakes */
    char key[32], req[256];
    key_of(s2, key, sizeof(key));
    snprintf(req, sizeof(req), "GET /headers HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", key);
    struct httpc *h = httpc_connect(cluster_proxy_port(2));
    cr_assert(ne(ptr, h, NULL));
    cr_assert(eq(int, httpc_send_str(h, req), 0));
    cluster_signal(2, SIGCONT);
    cr_assert(eq(int, httpc_read(h, &resp, 15000), 0));
    httpc_close(h);
    const char *app = httpc_header(&resp, "X-App-Id");
    if (resp.status == 200) {
        /* forwarded to the new holder once n2 saw the ring change */
        cr_assert(ne(str, (char *)app, "app2"), "n2 passed a request it no longer held");
    } else {
        cr_assert(eq(int, resp.status, 503), "%d %s", resp.status, resp.body);
        cr_assert(eq(ptr, (void *)app, NULL));
        const char *cause = httpc_header(&resp, "X-Ring-Error");
        cr_assert(cause != NULL &&
                      (strcmp(cause, "no_lease") == 0 || strcmp(cause, "no_quorum") == 0),
                  "cause %s", cause != NULL ? cause : "(none)");
    }
}

/* Node 2 sees only itself alive. */
static int alone(void *arg)
{
    (void)arg;
    uint64_t alive = 0, ring = 0, sum = 0;
    return cluster_stats(2, &alive, &ring, &sum) == 0 && alive == 1;
}

Test(exclusive, a_node_without_a_majority_answers_503_no_quorum)
{
    start(NODES, 1);
    cluster_signal(0, SIGKILL);
    cl.pids[0] = 0;
    cluster_signal(1, SIGKILL);
    cl.pids[1] = 0;
    cr_assert(ge(int, cluster_wait(alone, NULL, 15000), 0), "n2 still sees others alive");
    /* every shard, its own included, once its leases ran out */
    cluster_sleep_ms(LEASE_MS + 200);
    for (uint32_t s = 0; s < SHARDS; s++) {
        request(2, s, "/headers", NULL);
        cr_assert(eq(int, resp.status, 503), "shard %u: %d", s, resp.status);
        cr_assert(eq(str, (char *)httpc_header(&resp, "X-Ring-Error"), "no_quorum"));
        cr_assert(ne(ptr, strstr(resp.body, "no quorum"), NULL), "%s", resp.body);
    }
    static char body[1 << 20]; /* /metrics, whole */
    cr_assert(eq(int, cluster_http(2, "GET /metrics HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    cr_assert(ne(ptr, strstr(body, "ringd_proxy_errors_total{cause=\"no_quorum\"} 16"), NULL),
              "no_quorum not counted");
    cr_assert(ne(ptr, strstr(body, "ringd_lease_shards{state=\"held\"} 0"), NULL));
}

/* Reads lease_changed notifications on |w| for |ms|; releases each shard that becomes
 * RELEASING through |c| (the same node; a call on |w| would skip notifications), as an app
 * that finished its work would, except the first one when |*keep| is -1: that one is kept
 * in |*keep|, not released. Returns the releases made. */
static int release_on_notice(struct ringc *w, struct ringc *c, int ms, int *keep)
{
    int released = 0;
    int64_t end = mono_ms() + ms;
    while (mono_ms() < end) {
        struct rpc_msg msg;
        if (ringc_read(w, &msg, 20) != 0) {
            continue;
        }
        const msgpack_object *p;
        if (msg.kind != RPC_NOTIFICATION || !rpc_method_is(&msg, "lease_changed") ||
            ringc_unpack(w, &msg, &p) != 0) {
            continue;
        }
        cr_assert(eq(u32, p->via.array.size, 5));
        uint64_t shard = p->via.array.ptr[0].via.u64;
        if (p->via.array.ptr[1].via.u64 != LEASE_RELEASING) {
            continue;
        }
        if (*keep == -1) {
            *keep = (int)shard;
            continue;
        }
        const msgpack_object *res;
        cr_assert(eq(int, ringc_call(c, &res, 2000, "release", "u", shard), 0));
        cr_assert(eq(u64, ringc_get_u64(res, "shard", UINT64_MAX), shard));
        released++;
    }
    return released;
}

static uint64_t metric(int i, const char *name)
{
    static char body[1 << 20];
    cr_assert(eq(int, cluster_http(i, "GET /metrics HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    const char *p = strstr(body, name);
    while (p != NULL && (p == body || p[-1] != '\n')) {
        p = strstr(p + 1, name);
    }
    return p != NULL ? strtoull(p + strlen(name), NULL, 10) : UINT64_MAX;
}

Test(exclusive, a_joining_node_gets_its_shards_by_hand_off)
{
    /* the old holders' leases would lapse after 30 s: only a release hands off in time */
    for (int i = 0; i < NODES; i++) {
        node_flags(i, 1, "30s");
    }
    cluster_start(2);
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)2, 20000), 0));
    cr_assert(ge(int, cluster_wait(all_held, NULL, 15000), 0), "not every shard held");
    uint64_t before[SHARDS];
    memcpy(before, epoch, sizeof(before));
    struct ringc *w[2], *c[2];
    for (int i = 0; i < 2; i++) {
        const msgpack_object *res;
        c[i] = cluster_connect(i);
        w[i] = cluster_connect(i);
        cr_assert(eq(int, ringc_call(w[i], &res, 2000, "watch", ""), 0));
    }
    cluster_start_node(2, 0);
    /* every shard moving to n2 is released as its holder's app hears of it, but one: kept
     * (its app is still busy) until a request for it waits at n2 */
    int released = 0, kept[2] = { -1, -1 }, kept_by = -1;
    int64_t start = mono_ms();
    for (;;) {
        released += release_on_notice(w[0], c[0], 100, &kept[0]);
        if (kept[0] >= 0 && kept[1] == -1) {
            kept[1] = -2; /* one kept shard: n1 releases everything */
        }
        released += release_on_notice(w[1], c[1], 100, &kept[1]);
        if (kept[1] >= 0 && kept[0] == -1) {
            kept[0] = -2;
        }
        kept_by = kept[0] >= 0 ? 0 : 1;
        if (all_held(NULL) && kept[kept_by] >= 0) {
            int done = 1;
            for (int s = 0; s < SHARDS; s++) {
                done &= !owns[2][s] || holder[s] == 2 || s == kept[kept_by];
            }
            if (done && released > 0) {
                break;
            }
        }
        if (mono_ms() - start > 20000) {
            char why[256] = "";
            for (int s = 0; s < SHARDS; s++) {
                snprintf(why + strlen(why), sizeof(why) - strlen(why), " %d:%d/%d", s, holder[s],
                         owns[2][s]);
            }
            cr_assert(0, "n2 did not get its shards (%d released; shard:holder/n2 owns):%s",
                      released, why);
        }
    }
    for (int s = 0; s < SHARDS; s++) {
        if (holder[s] == 2) {
            cr_assert(gt(u64, epoch[s], before[s]), "shard %d: epoch did not grow", s);
        }
    }
    /* A request for the kept shard at n2 waits for its lease (--handoff-wait 1s) and is
     * served by n2's app at the new epoch as soon as the old holder's app releases it. */
    uint32_t s = (uint32_t)kept[kept_by];
    cr_assert(eq(int, holder[s], kept_by), "the kept shard %u moved without a release", s);
    char key[32], req[256];
    key_of(s, key, sizeof(key));
    snprintf(req, sizeof(req), "GET /headers HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", key);
    struct httpc *h = httpc_connect(cluster_proxy_port(2));
    cr_assert(ne(ptr, h, NULL));
    int64_t sent = mono_ms();
    cr_assert(eq(int, httpc_send_str(h, req), 0));
    cluster_sleep_ms(300);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(c[kept_by], &res, 2000, "release", "u", (uint64_t)s), 0));
    cr_assert(eq(int, httpc_read(h, &resp, 5000), 0));
    int64_t waited = mono_ms() - sent;
    httpc_close(h);
    cr_assert(eq(int, resp.status, 200), "%d %s", resp.status, resp.body);
    cr_assert(eq(str, (char *)httpc_header(&resp, "X-App-Id"), "app2"));
    cr_assert(ge(i64, waited, 300), "answered before the release");
    cr_assert(lt(i64, waited, 1000), "waited %lld ms: the hand-off took --handoff-wait", waited);
    char *ep = strcasestr(resp.body, "x-ring-epoch: ");
    cr_assert(ne(ptr, ep, NULL), "%s", resp.body);
    cr_assert(gt(u64, strtoull(ep + 14, NULL, 10), before[s]));

    cr_assert(gt(u64, metric(2, "ringd_lease_handoffs_total "), 0));
    cr_assert(eq(
        u64, metric(0, "ringd_lease_lapsed_total ") + metric(1, "ringd_lease_lapsed_total "), 0));
    for (int i = 0; i < 2; i++) {
        ringc_close(w[i]);
        ringc_close(c[i]);
    }
}

Test(exclusive, sigterm_hands_the_shards_off_before_leaving)
{
    /* leases lapse after 30 s: a leave that did not wait for the releases would take that long
     * to hand off, one that did not wait at all would leave the shards unheld for a lease */
    for (int i = 0; i < NODES; i++) {
        node_flags(i, 0, "30s");
    }
    cluster_start(NODES);
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)NODES, 20000), 0));
    cr_assert(ge(int, cluster_wait(all_held, NULL, 15000), 0), "not every shard held");
    int had = 0;
    for (int s = 0; s < SHARDS; s++) {
        had += holder[s] == 2;
    }
    cr_assert(gt(int, had, 0), "n2 held nothing");
    const msgpack_object *res;
    struct ringc *w = cluster_connect(2), *c = cluster_connect(2);
    cr_assert(eq(int, ringc_call(w, &res, 2000, "watch", ""), 0));
    int64_t t0 = mono_ms();
    cluster_signal(2, SIGTERM);
    int keep = -2, released = 0;
    while (released < had && mono_ms() - t0 < 5000) {
        released += release_on_notice(w, c, 50, &keep);
    }
    cr_assert(eq(int, released, had), "n2's app was told to release %d of its %d shards", released,
              had);
    ringc_close(w);
    ringc_close(c);
    cr_assert(ne(int, cluster_wait_exit(2, 10000), -1), "n2 did not exit");
    int64_t exited = mono_ms() - t0;
    cl.pids[2] = 0;
    cr_assert(lt(i64, exited, 10000), "the leave took %lld ms", (long long)exited);
    cr_assert(ge(int, cluster_wait(all_held, NULL, 5000), 0), "n2's shards not held after it left");
    cr_assert(
        eq(u64, metric(0, "ringd_lease_handoffs_total ") + metric(1, "ringd_lease_handoffs_total "),
           (uint64_t)had),
        "every shard of n2 went by hand-off");
}
