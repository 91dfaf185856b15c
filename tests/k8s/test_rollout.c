/*
 * The pod lifecycle under load, as a StatefulSet with ringd as a native sidecar lives it
 * (pod.h, pods.sidecar): ringd starts first and the app waits on `ringctl wait-ready`; a
 * deleted pod's app runs its preStop hook (GET /v1/drain?wait=1: its node gives its keys
 * away and finishes what it serves), then stops, and only then does ringd get SIGTERM.
 *
 * A client, standing for the apps, sends requests through the proxies of the pods in the
 * Service's endpoints (a deleted pod leaves them as its deletion starts, a new one joins
 * them when ready) the whole time: idempotent GETs and non-idempotent POSTs alternately, on
 * keys spread over the ring, and records every answer. A prober asks /readyz of every pod not
 * being restarted every 20 ms. Scenarios: a rolling restart of every pod, one at a time, and
 * a scale 5 -> 3. The table it prints is the one docs/operations.md quotes.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "client.h"
#include "pod.h"

#define PODS 5
/* Keys whose owners are compared before and after each step. */
#define KEYS 1000
/* A step converges in a few seconds on a loaded 2-core machine; this is slack. */
#define SETTLE_MS_MAX 20000
/* The proxy's port in a pod (k8s/ringd.env's RINGD_PROXY in pod.c). */
#define PROXY_PORT 7070

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

static void setup(void)
{
    pods_setup();
    pods.with_app = 1;
    pods.sidecar = 1;
}

static void teardown(void)
{
    pods_teardown();
}

TestSuite(k8s_rollout, .init = setup, .fini = teardown, .timeout = 300);

/* ---- the client and the prober ------------------------------------------------------------ */

/* Clients sending at once: a request held for a restarting owner holds only its client. */
#define CLIENTS 4

struct load {
    pthread_t client[CLIENTS], prober;
    atomic_uint endpoints;           /* bit s: slot s is in the Service's endpoints */
    atomic_uint left[POD_SLOTS + 1]; /* times slot s left the endpoints */
    atomic_int stop;
    atomic_long gets, posts, failed_get, failed_post, probes, unready;
    atomic_long slowest_ms; /* the longest a request took */
    pthread_mutex_t lock;   /* last_failure */
    char last_failure[160];
};

static struct load load;

/* One request through slot |s|'s proxy, from inside the pod: the HTTP status, -1 for none. */
static int request(int s, int post, int key)
{
    int fd = netns_socket(&pods.net, s, AF_INET, SOCK_STREAM);
    if (fd < 0) {
        return -1;
    }
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PROXY_PORT) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    char req[256], resp[1024];
    int len = post ? snprintf(req, sizeof(req),
                              "POST /orders HTTP/1.1\r\nHost: app\r\nX-Ring-Key: key:%d\r\n"
                              "Content-Length: 5\r\nConnection: close\r\n\r\norder",
                              key)
                   : snprintf(req, sizeof(req),
                              "GET / HTTP/1.1\r\nHost: app\r\nX-Ring-Key: key:%d\r\n"
                              "Connection: close\r\n\r\n",
                              key);
    size_t got = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        write(fd, req, (size_t)len) == len) {
        ssize_t n;
        while (got + 1 < sizeof(resp) && (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0) {
            got += (size_t)n;
        }
    }
    close(fd);
    resp[got] = '\0';
    int code = got > 12 && strncmp(resp, "HTTP/1.1 ", 9) == 0 ? atoi(resp + 9) : -1;
    if (code != 200) {
        pthread_mutex_lock(&load.lock);
        snprintf(load.last_failure, sizeof(load.last_failure), "%s key:%d via %s: %d %.80s",
                 post ? "POST" : "GET", key, pods.slot[s].name, code, resp);
        pthread_mutex_unlock(&load.lock);
    }
    return code;
}

static void *client(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg * 1013u; /* each client its own keys and pods */
    while (!atomic_load(&load.stop)) {
        unsigned ep = atomic_load(&load.endpoints);
        int s = 1 + (int)(n % POD_SLOTS);
        n++;
        if ((ep & (1u << s)) == 0) {
            continue;
        }
        int post = n % 2;
        int key = (int)((n * 7919u) % KEYS);
        int64_t t0 = now_ms();
        int ok = request(s, post, key) == 200;
        long took = (long)(now_ms() - t0);
        long was = atomic_load(&load.slowest_ms);
        while (took > was && !atomic_compare_exchange_weak(&load.slowest_ms, &was, took)) {
        }
        atomic_fetch_add(post ? &load.posts : &load.gets, 1);
        if (!ok) {
            atomic_fetch_add(post ? &load.failed_post : &load.failed_get, 1);
        }
        sleep_ms(2);
    }
    return NULL;
}

static void *prober(void *arg)
{
    (void)arg;
    while (!atomic_load(&load.stop)) {
        unsigned ep = atomic_load(&load.endpoints);
        for (int s = 1; s <= POD_SLOTS; s++) {
            if (ep & (1u << s)) {
                /* A pod that left the endpoints while its probe was out (its stop began) was
                 * probed as it stopped: that answer is not about a pod in service. Read in
                 * the opposite order of endpoints_leave()'s writes: a count read after the
                 * leave comes with an endpoints mask read after it too. */
                unsigned left = atomic_load(&load.left[s]);
                if ((atomic_load(&load.endpoints) & (1u << s)) == 0) {
                    continue;
                }
                int code = pod_probe(s, "/readyz");
                if (atomic_load(&load.left[s]) != left) {
                    continue;
                }
                atomic_fetch_add(&load.probes, 1);
                atomic_fetch_add(&load.unready, code != 200);
            }
        }
        sleep_ms(20);
    }
    return NULL;
}

/* Slot |s| leaves the Service's endpoints: out of the mask first, then counted (prober()
 * reads them the other way round). */
static void endpoints_leave(int s)
{
    atomic_fetch_and(&load.endpoints, ~(1u << s));
    atomic_fetch_add(&load.left[s], 1);
}

static void load_start(unsigned endpoints)
{
    memset(&load, 0, sizeof(load));
    pthread_mutex_init(&load.lock, NULL);
    atomic_store(&load.endpoints, endpoints);
    for (uintptr_t c = 0; c < CLIENTS; c++) {
        cr_assert(eq(int, pthread_create(&load.client[c], NULL, client, (void *)c), 0));
    }
    cr_assert(eq(int, pthread_create(&load.prober, NULL, prober, NULL), 0));
}

static void load_stop(void)
{
    atomic_store(&load.stop, 1);
    for (int c = 0; c < CLIENTS; c++) {
        pthread_join(load.client[c], NULL);
    }
    pthread_join(load.prober, NULL);
}

/* ---- ring views ---------------------------------------------------------------------------- */

static struct ringc *connect_pod(int slot)
{
    char sock[192], err[256];
    struct ringc *c = NULL;
    return ringc_connect(&c, pod_socket(slot, sock, sizeof(sock)), err, sizeof(err)) == 0 ? c
                                                                                          : NULL;
}

/* Slot |s|'s owner of every key. */
static void owners(int s, char (*ids)[32])
{
    struct ringc *c = connect_pod(s);
    cr_assert(ne(ptr, c, NULL));
    for (int k = 0; k < KEYS; k++) {
        char key[32];
        snprintf(key, sizeof(key), "key:%d", k);
        const msgpack_object *res;
        cr_assert(eq(int, ringc_call(c, &res, 2000, "lookup", "s", key), 0));
        ringc_get_str(res, "id", ids[k], 32);
    }
    ringc_close(c);
}

static int moved(char (*a)[32], char (*b)[32])
{
    int n = 0;
    for (int k = 0; k < KEYS; k++) {
        n += strcmp(a[k], b[k]) != 0;
    }
    return n;
}

static uint64_t ring_checksum(int s)
{
    struct ringc *c = connect_pod(s);
    const msgpack_object *res;
    uint64_t sum = 0;
    if (c != NULL && ringc_call(c, &res, 2000, "stats", "") == 0) {
        sum = ringc_get_u64(res, "ring_checksum", 0);
    }
    if (c != NULL) {
        ringc_close(c);
    }
    return sum;
}

/* Every pod of |slots| is ready and they all route alike. */
static void settle(const char *step, const int *slots, int n)
{
    int64_t start = now_ms();
    for (;;) {
        int ok = 1;
        uint64_t sum0 = ring_checksum(slots[0]);
        for (int i = 0; i < n && ok; i++) {
            ok = pod_probe(slots[i], "/readyz") == 200 && ring_checksum(slots[i]) == sum0 &&
                 sum0 != 0;
        }
        if (ok) {
            return;
        }
        cr_assert(lt(long, (long)(now_ms() - start), SETTLE_MS_MAX), "%s: not settled", step);
        sleep_ms(50);
    }
}

static void start_pods(const int *slots, int n)
{
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof(name), "ring-%d", i);
        pod_start(slots[i], name);
    }
    settle("start", slots, n);
}

struct row {
    const char *scenario;
    long requests, failed_get, failed_post, unready, slowest_ms;
    int keys_moved, steps;
};

static void row_print(const struct row *r)
{
    fprintf(stderr, "k8s rollout: | %-32s | %8ld | %10ld | %11ld | %12ld ms | %17ld | %10d |\n",
            r->scenario, r->requests, r->failed_get, r->failed_post, r->slowest_ms, r->unready,
            r->keys_moved);
}

static void row_end(struct row *r)
{
    load_stop();
    r->requests = atomic_load(&load.gets) + atomic_load(&load.posts);
    r->failed_get = atomic_load(&load.failed_get);
    r->failed_post = atomic_load(&load.failed_post);
    r->unready = atomic_load(&load.unready);
    r->slowest_ms = atomic_load(&load.slowest_ms);
    fprintf(stderr, "k8s rollout: %s: %ld requests, %ld probes%s%s\n", r->scenario, r->requests,
            atomic_load(&load.probes), load.last_failure[0] != '\0' ? "; last failure: " : "",
            load.last_failure);
}

static unsigned mask_of(const int *slots, int n)
{
    unsigned m = 0;
    for (int i = 0; i < n; i++) {
        m |= 1u << slots[i];
    }
    return m;
}

/* A rolling restart of |five| under load, highest ordinal first as a StatefulSet does: each
 * pod's keys are compared before its stop, while it is away and once it is back. */
static void rolling_restart(struct row *roll, const int *five)
{
    static char before[KEYS][32], mid[KEYS][32], after[KEYS][32];
    load_start(mask_of(five, PODS));
    for (int i = PODS - 1; i >= 0; i--) {
        int s = five[i], observer = five[i == 0 ? 1 : 0];
        char name[16];
        snprintf(name, sizeof(name), "%s", pods.slot[s].name);
        owners(observer, before);
        endpoints_leave(s); /* terminating: out of the endpoints */
        int prestop = 0;
        int rv = pod_stop_native(s, &prestop);
        cr_assert(eq(int, prestop, 200), "%s: preStop drain answered %d", name, prestop);
        cr_assert(eq(int, rv, 0), "%s: ringd exit %d after SIGTERM", name, rv);
        owners(observer, mid);
        pod_start(s, name);
        settle(name, five, PODS);
        owners(observer, after);
        roll->keys_moved += moved(before, mid) + moved(mid, after);
        roll->steps++;
        atomic_fetch_or(&load.endpoints, 1u << s);
    }
    row_end(roll);
}

static void header_print(void)
{
    fprintf(stderr, "k8s rollout: | %-32s | %8s | %10s | %11s | %15s | %17s | %10s |\n", "scenario",
            "requests", "failed GET", "failed POST", "slowest request", "readyz non-200",
            "keys moved");
}

Test(k8s_rollout, rolling_restart_and_scale_down_under_load_fail_no_request)
{
    int64_t t0 = now_ms();
    int five[] = { 1, 2, 3, 4, 5 };
    start_pods(five, PODS);
    static char before[KEYS][32], after[KEYS][32];

    /* A rolling restart, highest ordinal first as a StatefulSet does. */
    struct row roll = { .scenario = "rolling restart, 5 pods" };
    rolling_restart(&roll, five);

    /* Scale 5 -> 3: the highest ordinals, one at a time. */
    struct row scale = { .scenario = "scale 5 -> 3" };
    int three[] = { 1, 2, 3 };
    load_start(mask_of(five, PODS));
    owners(1, before);
    for (int s = 5; s >= 4; s--) {
        endpoints_leave(s);
        pod_publish(s, 0);
        int prestop = 0;
        int rv = pod_stop_native(s, &prestop);
        cr_assert(eq(int, prestop, 200));
        cr_assert(eq(int, rv, 0));
        owners(1, after);
        scale.keys_moved += moved(before, after);
        memcpy(before, after, sizeof(before));
        scale.steps++;
    }
    settle("scale 5 -> 3", three, 3);
    row_end(&scale);

    header_print();
    row_print(&roll);
    row_print(&scale);
    fprintf(stderr,
            "k8s rollout: keys moved per restarted pod: %.0f of %d (%d restarts); whole test "
            "%lld ms\n",
            (double)roll.keys_moved / roll.steps, KEYS, roll.steps, (long long)(now_ms() - t0));
    cr_assert(eq(long, roll.failed_get + roll.failed_post, 0), "%s", load.last_failure);
    cr_assert(eq(long, scale.failed_get + scale.failed_post, 0), "%s", load.last_failure);
    cr_assert(eq(long, roll.unready + scale.unready, 0), "a pod not being restarted was unready");
    cr_assert(gt(long, roll.requests, 100));
}

/* The same rolling restart with delayed rebalance (k8s/components/ringd-delayed-rebalance):
 * each pod's preStop announces a restart, so its keys stay with it while it is away and the
 * requests for them wait at the other pods until it is back. Its keys move 0 times, not 2. */
Test(k8s_rollout, rolling_restart_with_delayed_rebalance_moves_no_key)
{
    int64_t t0 = now_ms();
    pods.delayed_rebalance = "30s";
    int five[] = { 1, 2, 3, 4, 5 };
    start_pods(five, PODS);
    struct row roll = { .scenario = "rolling restart, delayed rebal." };
    rolling_restart(&roll, five);
    header_print();
    row_print(&roll);
    fprintf(stderr,
            "k8s rollout: delayed rebalance: keys moved %d (%d restarts); whole test %lld ms\n",
            roll.keys_moved, roll.steps, (long long)(now_ms() - t0));
    cr_assert(eq(long, roll.failed_get + roll.failed_post, 0), "%s", load.last_failure);
    cr_assert(eq(long, roll.unready, 0), "a pod not being restarted was unready");
    cr_assert(eq(int, roll.keys_moved, 0));
    /* Requests for a restarting pod's keys wait for it: fewer get through in the same time. */
    cr_assert(gt(long, roll.requests, 40));
}

static int owned_by(char (*own)[32], const char *id)
{
    int n = 0;
    for (int k = 0; k < KEYS; k++) {
        n += strcmp(own[k], id) == 0;
    }
    return n;
}

/* An app that starts failing its health check under load (killed: ringd stays up): its pod
 * leaves the Service's endpoints as its readiness fails, and its keys move to the other pods
 * within the check's threshold (3 failures, a check every POD_APP_HEALTH_INTERVAL) and the
 * drain's spread; when the app is back they return once it has passed for the hold-down. The
 * requests its keys got between the crash and the move fail (the app is gone): reported. */
Test(k8s_rollout, a_failing_app_loses_its_keys_then_takes_them_back)
{
    pods.app_health_holddown = "2s";
    int three[] = { 1, 2, 3 };
    start_pods(three, 3);
    static char before[KEYS][32], now[KEYS][32];
    const char *sick = pods.slot[3].name;
    /* A started pod is ready once its app passes, and its keys follow within a second (its
     * undrain waits out the drain change its start made): wait until every pod owns keys, in
     * two scans in a row that agree (a scan of 1,000 lookups may straddle a ring change). */
    int had = 0, all = 0;
    for (int64_t t = now_ms(); !all && now_ms() - t < SETTLE_MS_MAX; sleep_ms(50)) {
        owners(1, before);
        owners(1, now);
        had = owned_by(before, sick);
        all = had > 0 && owned_by(before, pods.slot[1].name) > 0 &&
              owned_by(before, pods.slot[2].name) > 0 && moved(before, now) == 0;
    }
    cr_assert(all, "not every pod got keys");
    struct row row = { .scenario = "app fails, then recovers" };
    load_start(mask_of(three, 2)); /* the sick pod leaves the endpoints as it turns unready */
    int64_t t0 = now_ms();
    pod_app_kill(3);
    int64_t off_ms = -1;
    while (now_ms() - t0 < SETTLE_MS_MAX) {
        owners(1, now);
        if (owned_by(now, sick) == 0) {
            off_ms = now_ms() - t0;
            break;
        }
        sleep_ms(50);
    }
    cr_assert(ge(long, (long)off_ms, 0L), "%s kept its keys with its app dead", sick);
    row.keys_moved += moved(before, now);
    int64_t t1 = now_ms();
    pod_app_start(3);
    int64_t back_ms = -1;
    while (now_ms() - t1 < SETTLE_MS_MAX) {
        owners(1, now);
        if (moved(before, now) == 0) {
            back_ms = now_ms() - t1;
            break;
        }
        sleep_ms(50);
    }
    cr_assert(ge(long, (long)back_ms, 0L),
              "%s never took its keys back: before %d/%d/%d keys, now %d/%d/%d (%d moved)", sick,
              owned_by(before, pods.slot[1].name), owned_by(before, pods.slot[2].name),
              owned_by(before, sick), owned_by(now, pods.slot[1].name),
              owned_by(now, pods.slot[2].name), owned_by(now, sick), moved(before, now));
    row.keys_moved += had;
    row_end(&row);
    header_print();
    row_print(&row);
    fprintf(stderr,
            "k8s rollout: app health: %s's %d keys moved %lld ms after its app died (3 checks "
            "every %s), back %lld ms after it recovered (hold-down 2 s)\n",
            sick, had, (long long)off_ms, POD_APP_HEALTH_INTERVAL, (long long)back_ms);
    /* 3 failed checks (every 300 ms, each failing at once: the port is closed), a drain
     * change at most a second after the last one, then gossip: ~2 s; 4 s is slack. */
    cr_assert(le(long, (long)off_ms, 4000L));
    cr_assert(ge(long, (long)back_ms, 2000L - 300L), "keys back before the hold-down");
    cr_assert(eq(long, row.unready, 0), "a pod other than the sick one was unready");
}
