/*
 * Scenario 8, exclusive shards under faults: eight nodes with --shards 32 --exclusive and
 * 1 s leases, one per network namespace. A checker asks every node for its shards() every
 * few ms, as an app that acts while its node says it holds a shard would, and turns each
 * answer into the interval in which that node surely may act: from the moment the answer
 * left (held) to the earliest end of its lease (the instant asked plus expires_in_ms). The
 * nodes share the machine's monotonic clock, so intervals of different nodes compare
 * exactly. Each node also runs ring_testapp behind its proxy, and the checker sends a request
 * for one shard after another through the nodes' proxies (GET /headers: the app echoes the
 * X-Ring-Epoch its ringd added) and logs, per answer, the shard, the app that served it, the
 * epoch, and when it was sent and answered. The bar, in every scenario: no two nodes' lease
 * intervals for one shard overlap; an epoch is held by one node only; and no app serves a
 * shard at an epoch after another app has served it at a higher one (a request sent after a
 * higher epoch's answer came back, answered at a lower epoch).
 *
 *   partition  a 5|3 split: the three stop holding anything once their leases end, the five
 *              hold every shard; then the heal
 *   kill       kill -9 of a holder: its shards are held again, only after its leases end
 *   pause      SIGSTOP of a holder for three leases, then SIGCONT: it does not act again
 *   restart    a rolling restart (SIGTERM, restart; three nodes short, eight full)
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"
#include "httpc.h"
#include "ring/lease.h"
#include "ring/shards.h"

#define SHARDS   32
#define LEASE_MS 1000
/* Intervals kept per shard: (node, epoch) pairs over a scenario. */
#define HOLDS_MAX 64
#define POLL_MS   20

#define APP_PORT   8080
#define PROXY_PORT 8081
/* Answers logged per scenario. */
#define SERVED_MAX 8192

static pid_t apps[FAULT_NODES];
static char app_arg[FAULT_NODES][48], proxy_arg[FAULT_NODES][48];
static struct httpc *conns[FAULT_NODES];

/* One request the checker sent and an app answered. */
struct served {
    uint32_t shard;
    int app;
    uint64_t epoch;
    int64_t sent, answered;
};
static struct served served[SERVED_MAX];
static int served_count, refused_count, next_shard, next_node;
/* The nodes whose proxy answered 503 no_quorum, and when the first did. */
static fault_set no_quorum_from;
static int64_t no_quorum_first_ms;

static void teardown(void)
{
    for (int i = 0; i < FAULT_NODES; i++) {
        httpc_close(conns[i]);
        conns[i] = NULL;
        if (apps[i] > 0) {
            kill(apps[i], SIGKILL);
            waitpid(apps[i], NULL, 0);
            apps[i] = 0;
        }
    }
    fault_teardown();
}

TestSuite(fault_leases, .init = fault_setup, .fini = teardown, .timeout = 180);

static struct httpc *connect_to(int i, int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    char ip[NETNS_IP_STRLEN];
    inet_pton(AF_INET, netns_ip(&fault_net, i, ip, sizeof(ip)), &sa.sin_addr);
    int fd = netns_socket(&fault_net, i, AF_INET, SOCK_STREAM);
    if (fd < 0) {
        return NULL;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return NULL;
    }
    return httpc_wrap(fd);
}

static void start_app(int i)
{
    char ip[NETNS_IP_STRLEN], id[16], logf[160];
    netns_ip(&fault_net, i, ip, sizeof(ip));
    snprintf(app_arg[i], sizeof(app_arg[i]), "%s:%d", ip, APP_PORT);
    snprintf(proxy_arg[i], sizeof(proxy_arg[i]), "%s:%d", ip, PROXY_PORT);
    snprintf(id, sizeof(id), "app%d", i);
    snprintf(logf, sizeof(logf), "%s/app%d.log", cl.dir, i);
    char *argv[] = { RING_TESTAPP_BIN, "--listen", app_arg[i], "--id", id, NULL };
    char *envp[] = { NULL };
    apps[i] = netns_spawn(&fault_net, i, argv, envp, logf);
    cr_assert(gt(int, apps[i], 0));
    for (int t = 0; t < 500; t++) {
        struct httpc *h = connect_to(i, APP_PORT);
        if (h != NULL) {
            httpc_close(h);
            return;
        }
        cluster_sleep_ms(10);
    }
    cr_assert(0, "app %d did not start listening", i);
}

/* Sends one request, for the next shard, through the next running node's proxy, and logs
 * who served it at which epoch. */
static void send_one(void)
{
    static struct httpc_resp resp;
    int i = -1;
    for (int k = 0; k < FAULT_NODES && i < 0; k++) {
        int j = (next_node + k) % FAULT_NODES;
        i = cl.pids[j] > 0 && !((fault_unasked >> j) & 1u) ? j : -1;
    }
    if (i < 0) {
        return;
    }
    next_node = (i + 1) % FAULT_NODES;
    uint32_t s = (uint32_t)(next_shard++ % SHARDS);
    char key[32], req[256];
    for (int k = 0;; k++) {
        snprintf(key, sizeof(key), "k%d", k);
        if (shards_of(key, strlen(key), SHARDS) == s) {
            break;
        }
    }
    snprintf(req, sizeof(req), "GET /headers HTTP/1.1\r\nHost: t\r\nX-Ring-Key: %s\r\n\r\n", key);
    if (conns[i] == NULL && (conns[i] = connect_to(i, PROXY_PORT)) == NULL) {
        return;
    }
    int64_t sent = fault_now_ms();
    if (httpc_send_str(conns[i], req) != 0 || httpc_read(conns[i], &resp, 4000) != 0) {
        httpc_close(conns[i]);
        conns[i] = NULL;
        return;
    }
    int64_t answered = fault_now_ms();
    const char *app = httpc_header(&resp, "X-App-Id");
    const char *ep = strcasestr(resp.body, "x-ring-epoch: ");
    if (resp.status != 200 || app == NULL || ep == NULL || served_count == SERVED_MAX) {
        const char *cause = httpc_header(&resp, "X-Ring-Error");
        refused_count += resp.status == 503;
        if (resp.status == 503 && cause != NULL && strcmp(cause, "no_quorum") == 0) {
            no_quorum_first_ms = no_quorum_from == 0 ? answered : no_quorum_first_ms;
            no_quorum_from |= 1u << i;
        }
        return;
    }
    served[served_count++] =
        (struct served){ s, atoi(app + 3), strtoull(ep + 14, NULL, 10), sent, answered };
}

/* The apps' bar: per shard, an epoch is served by one app only, and nothing is served at a
 * lower epoch once a higher one was answered. Returns the answers checked. */
static int check_served(void)
{
    for (int a = 0; a < served_count; a++) {
        for (int b = 0; b < served_count; b++) {
            const struct served *x = &served[a], *y = &served[b];
            if (x->shard != y->shard) {
                continue;
            }
            cr_assert(not(x->epoch == y->epoch && x->app != y->app),
                      "shard %u: epoch %llu served by app%d and app%d", x->shard,
                      (unsigned long long)x->epoch, x->app, y->app);
            cr_assert(not(x->epoch < y->epoch && x->sent > y->answered),
                      "shard %u: app%d served epoch %llu at %lld ms, after app%d served epoch "
                      "%llu by %lld ms",
                      x->shard, x->app, (unsigned long long)x->epoch, (long long)x->sent, y->app,
                      (unsigned long long)y->epoch, (long long)y->answered);
        }
    }
    return served_count;
}

struct hold {
    int node;
    uint64_t epoch;
    int64_t lo, hi; /* surely acting in [lo, hi] */
};

static struct hold holds[SHARDS][HOLDS_MAX];
static int hold_count[SHARDS];
/* Per node and shard, from the last poll: 1 when it said held (or releasing). */
static int holding[FAULT_NODES][SHARDS];

static void record(int node, uint32_t s, uint64_t epoch, int64_t lo, int64_t hi)
{
    for (int k = 0; k < hold_count[s]; k++) {
        struct hold *h = &holds[s][k];
        if (h->epoch == epoch) {
            cr_assert(eq(int, h->node, node), "shard %u: epoch %llu held by n%d and n%d", s,
                      (unsigned long long)epoch, h->node, node);
            h->lo = lo < h->lo ? lo : h->lo;
            h->hi = hi > h->hi ? hi : h->hi;
            return;
        }
    }
    cr_assert(lt(int, hold_count[s], HOLDS_MAX));
    holds[s][hold_count[s]++] = (struct hold){ node, epoch, lo, hi };
}

/* Asks node |i| (unless unasked) for its shards and records what it surely holds. */
static void poll_node(int i)
{
    memset(holding[i], 0, sizeof(holding[i]));
    if (cl.pids[i] <= 0 || ((fault_unasked >> i) & 1u)) {
        return;
    }
    char sock[128], err[256];
    struct ringc *c;
    if (ringc_connect(&c, cluster_socket(i, sock, sizeof(sock)), err, sizeof(err)) != 0) {
        return;
    }
    const msgpack_object *res;
    int64_t before = fault_now_ms();
    if (ringc_call(c, &res, 2000, "shards", "") == 0) {
        int64_t after = fault_now_ms();
        const msgpack_object *l = ringc_get(res, "leases");
        for (uint32_t k = 0; l != NULL && k < l->via.array.size; k++) {
            const msgpack_object *e = &l->via.array.ptr[k];
            uint64_t s = ringc_get_u64(e, "shard", UINT64_MAX);
            uint64_t st = ringc_get_u64(e, "state", 0);
            int64_t left = (int64_t)ringc_get_u64(e, "expires_in_ms", 0);
            if (s >= SHARDS || (st != LEASE_HELD && st != LEASE_RELEASING) || left == 0) {
                continue;
            }
            holding[i][s] = 1;
            record(i, (uint32_t)s, ringc_get_u64(e, "epoch", 0), after, before + left);
        }
    }
    ringc_close(c);
}

static void poll_all(void)
{
    for (int i = 0; i < FAULT_NODES; i++) {
        poll_node(i);
    }
    send_one();
}

/* Shards held by a node of |set| at the last poll, and shards held by two nodes. */
static int held_by(fault_set set)
{
    int n = 0;
    for (int s = 0; s < SHARDS; s++) {
        int any = 0;
        for (int i = 0; i < FAULT_NODES; i++) {
            any |= FAULT_IN(set, i) && holding[i][s];
        }
        n += any;
    }
    return n;
}

/* Polls until every shard is held by a node of |set| (returns the ms from |t0|), or -1 after
 * |timeout_ms|. */
static int poll_until_held(fault_set set, int64_t t0, int timeout_ms)
{
    while (fault_now_ms() - t0 < timeout_ms) {
        poll_all();
        if (held_by(set) == SHARDS) {
            return (int)(fault_now_ms() - t0);
        }
        cluster_sleep_ms(POLL_MS);
    }
    return -1;
}

static void poll_for(int ms)
{
    int64_t end = fault_now_ms() + ms;
    while (fault_now_ms() < end) {
        poll_all();
        cluster_sleep_ms(POLL_MS);
    }
}

/* The bar: no overlap of two nodes' intervals on one shard. Returns the intervals seen. */
static int check_no_overlap(void)
{
    int seen = 0;
    for (int s = 0; s < SHARDS; s++) {
        seen += hold_count[s];
        for (int a = 0; a < hold_count[s]; a++) {
            for (int b = a + 1; b < hold_count[s]; b++) {
                const struct hold *x = &holds[s][a], *y = &holds[s][b];
                if (x->node == y->node) {
                    continue;
                }
                int overlap = x->lo <= y->hi && y->lo <= x->hi;
                cr_assert(not(overlap),
                          "shard %d: n%d (epoch %llu) in [%lld, %lld] and n%d (epoch %llu) in "
                          "[%lld, %lld] ms",
                          s, x->node, (unsigned long long)x->epoch, (long long)x->lo,
                          (long long)x->hi, y->node, (unsigned long long)y->epoch, (long long)y->lo,
                          (long long)y->hi);
            }
        }
    }
    return seen;
}

static void start(const char *release_timeout)
{
    cl.default_timing = 0; /* 100 ms probes: the scenarios stay short */
    for (int i = 0; i < FAULT_NODES; i++) {
        const char **a = cl.extra_args[i];
        int n = 0;
        a[n++] = "--shards";
        a[n++] = "32";
        a[n++] = "--exclusive";
        a[n++] = "--lease";
        a[n++] = "1s";
        a[n++] = "--release-timeout";
        a[n++] = release_timeout;
        a[n++] = "--handoff-wait";
        a[n++] = "300ms";
        a[n++] = "--request-timeout";
        a[n++] = "2s";
        a[n++] = "--proxy";
        start_app(i);
        a[n++] = proxy_arg[i];
        a[n++] = "--app";
        a[n++] = app_arg[i];
        a[n] = NULL;
    }
    memset(hold_count, 0, sizeof(hold_count));
    served_count = refused_count = 0;
    no_quorum_from = 0;
    no_quorum_first_ms = 0;
    fault_start_all();
    cr_assert(ge(int, poll_until_held(FAULT_ALL, fault_now_ms(), 15000), 0),
              "not every shard held after the start");
}

/* A node that holds a shard at the last poll, other than |not|. */
static int a_holder(int not )
{
    for (int i = 0; i < FAULT_NODES; i++) {
        for (int s = 0; i != not &&s < SHARDS; s++) {
            if (holding[i][s]) {
                return i;
            }
        }
    }
    return -1;
}

Test(fault_leases, partition_5_3_minority_stops_majority_takes_over)
{
    static const fault_set major = 0x1f, minor = 0xe0;
    start("2s");
    int64_t t0 = fault_now_ms();
    for (int i = 0; i < FAULT_NODES; i++) {
        cr_assert(eq(int, netns_isolate(&fault_net, i, FAULT_IN(major, i) ? minor : major), 0));
    }
    int taken_ms = poll_until_held(major, t0, 20000);
    cr_assert(ge(int, taken_ms, 0), "the majority did not take every shard");
    /* the minority lets go once its leases end: after a lease (and the drift), it holds
     * nothing, and keeps holding nothing */
    int64_t quiet = t0 + LEASE_MS + LEASE_MS / 50 + 100;
    while (fault_now_ms() < quiet) {
        poll_all();
        cluster_sleep_ms(POLL_MS);
    }
    /* for 3 s at least, and until a minority proxy has answered 503 no_quorum: that takes
     * a request sent to a minority node for a shard its own ring gives to a minority node,
     * and until the minority declares the majority faulty most of its requests go to a
     * majority owner, each held up to --request-timeout (the checker is one thread) */
    int64_t t1 = fault_now_ms();
    int minority_held = 0;
    while (fault_now_ms() - t1 < 3000 ||
           ((no_quorum_from & minor) == 0 && fault_now_ms() - t1 < 15000)) {
        poll_all();
        minority_held += held_by(minor);
        cluster_sleep_ms(POLL_MS);
    }
    cr_assert(eq(int, minority_held, 0), "the minority still held shards after its leases");
    cr_assert(ne(u32, no_quorum_from & minor, 0),
              "no minority proxy answered 503 no_quorum in %lld ms",
              (long long)(fault_now_ms() - t0));
    cr_assert(eq(u32, no_quorum_from & major, 0), "a majority proxy answered 503 no_quorum");
    for (int i = 0; i < FAULT_NODES; i++) {
        cr_assert(eq(int, netns_iptables_flush(&fault_net, i), 0));
    }
    int healed_ms = poll_until_held(FAULT_ALL, fault_now_ms(), 20000);
    poll_for(1000);
    int intervals = check_no_overlap();
    int answers = check_served();
    fault_report("leases_partition",
                 "\"nodes\": %d, \"shards\": %d, \"lease_ms\": %d, \"majority_took_ms\": %d, "
                 "\"first_no_quorum_ms\": %lld, \"after_heal_all_held_ms\": %d, \"intervals\": "
                 "%d, \"overlaps\": 0, \"answers\": %d, \"refused_503\": %d",
                 FAULT_NODES, SHARDS, LEASE_MS, taken_ms, (long long)(no_quorum_first_ms - t0),
                 healed_ms, intervals, answers, refused_count);
    cr_assert(ge(int, healed_ms, 0), "not every shard held after the heal");
}

Test(fault_leases, kill_9_shards_held_again_only_after_the_leases)
{
    start("2s");
    int victim = a_holder(-1);
    cr_assert(ge(int, victim, 0));
    poll_all();
    int64_t t0 = fault_now_ms();
    cluster_signal(victim, SIGKILL);
    cl.pids[victim] = 0;
    int ms = poll_until_held(FAULT_ALL & ~(1u << victim), t0, 20000);
    poll_for(500);
    int intervals = check_no_overlap();
    int answers = check_served();
    fault_report("leases_kill",
                 "\"victim\": %d, \"all_held_again_ms\": %d, \"intervals\": %d, \"answers\": %d, "
                 "\"refused_503\": %d",
                 victim, ms, intervals, answers, refused_count);
    cr_assert(ge(int, ms, 0), "the killed node's shards were not taken");
}

Test(fault_leases, sigstop_past_the_lease_then_sigcont_does_not_act_again)
{
    start("2s");
    int victim = a_holder(-1);
    cr_assert(ge(int, victim, 0));
    poll_all();
    int64_t t0 = fault_now_ms();
    cluster_signal(victim, SIGSTOP);
    fault_unasked = 1u << victim;
    int ms = poll_until_held(FAULT_ALL & ~(1u << victim), t0, 20000);
    int64_t rest = 3 * LEASE_MS - (fault_now_ms() - t0);
    poll_for(rest > 0 ? (int)rest : 0);
    cluster_signal(victim, SIGCONT);
    fault_unasked = 0;
    int64_t t1 = fault_now_ms();
    /* right after it wakes, and while it rejoins */
    poll_for(3000);
    int intervals = check_no_overlap();
    int answers = check_served();
    int again = poll_until_held(FAULT_ALL, t1, 20000);
    fault_report("leases_pause",
                 "\"victim\": %d, \"taken_ms\": %d, \"stopped_ms\": %lld, \"intervals\": %d, "
                 "\"all_held_after_ms\": %d, \"answers\": %d, \"refused_503\": %d",
                 victim, ms, (long long)(t1 - t0), intervals, again, answers, refused_count);
    cr_assert(ge(int, ms, 0), "the paused node's shards were not taken");
    cr_assert(ge(int, again, 0), "not every shard held after SIGCONT");
    check_no_overlap();
}

Test(fault_leases, rolling_restart_hands_shards_off)
{
    start("1s");
    int nodes = fault_full() ? FAULT_NODES : 3;
    int64_t t0 = fault_now_ms();
    for (int k = 0; k < nodes; k++) {
        int i = FAULT_NODES - 1 - k;
        cluster_signal(i, SIGTERM);
        int64_t stop = fault_now_ms();
        while (cluster_wait_exit(i, 50) == -1) {
            poll_all();
            cr_assert(lt(i64, fault_now_ms() - stop, 10000), "n%d did not exit", i);
        }
        cl.pids[i] = 0;
        cluster_start_node(i, 0);
        cr_assert(ge(int, poll_until_held(FAULT_ALL, fault_now_ms(), 20000), 0),
                  "not every shard held after n%d restarted", i);
    }
    int intervals = check_no_overlap();
    int answers = check_served();
    fault_report(
        "leases_restart",
        "\"restarted\": %d, \"ms\": %lld, \"intervals\": %d, \"answers\": %d, \"refused_503\": %d",
        nodes, (long long)(fault_now_ms() - t0), intervals, answers, refused_count);
}
