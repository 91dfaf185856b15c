/*
 * The pod-like end-to-end test: the StatefulSet of k8s/ scaled 3 -> 5 -> 2 and a pod
 * replaced, with network namespaces as pods, dnsmasq as the cluster DNS serving the headless
 * Service, and the static ringd of the image run as the manifest runs it (pod.h). Each step
 * waits until every running pod sees exactly the pods that should be there, alive at their
 * IPs, with one ring checksum.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "pod.h"

/* Seeds re-resolve every 2 s while the name does not resolve (ringd/node/seeds.c), then joining
 * and gossip at the 300 ms default probe interval take about a second: 10 s is slack for a
 * loaded 2-core machine, not the expected time (the test prints what it saw). */
#define CONVERGE_MS_MAX 10000
/* Lookups compared before and after a replacement. */
#define KEYS 1000
/* Ring changes a survivor may see for one replaced pod: the old one leaves, the new one comes
 * (an address change may rebuild once more). A flapping member would add one per flap. */
#define REPLACE_RING_CHANGES_MAX 3
/* Suspicions a survivor may raise around a replacement: none are expected (0 in every run
 * seen); one is allowed for a probe that a loaded machine delays past its timeout. */
#define REPLACE_SUSPICIONS_MAX 1
/* How long a replacement is watched for flapping after it converged. */
#define SETTLE_MS 3000

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

static struct ringc *connect_pod(int slot)
{
    char sock[192], err[256];
    struct ringc *c = NULL;
    return ringc_connect(&c, pod_socket(slot, sock, sizeof(sock)), err, sizeof(err)) == 0 ? c
                                                                                          : NULL;
}

struct counters {
    uint64_t ring_checksum, ring_changes, suspicions, refutations;
};

static int counters(int slot, struct counters *out)
{
    struct ringc *c = connect_pod(slot);
    const msgpack_object *res;
    int rv = -1;
    if (c != NULL && ringc_call(c, &res, 2000, "stats", "") == 0) {
        const msgpack_object *swim = ringc_get(res, "swim");
        out->ring_checksum = ringc_get_u64(res, "ring_checksum", 0);
        out->ring_changes = ringc_get_u64(res, "ring_changes", 0);
        out->suspicions = swim != NULL ? ringc_get_u64(swim, "suspicions", 0) : 0;
        out->refutations = swim != NULL ? ringc_get_u64(swim, "refutations", 0) : 0;
        rv = 0;
    }
    if (c != NULL) {
        ringc_close(c);
    }
    return rv;
}

/* Slot |s|'s pod sees exactly the pods of |slots| alive, each at its own IP. */
static int sees_exactly(int s, const int *slots, int n)
{
    struct ringc *c = connect_pod(s);
    const msgpack_object *res;
    int alive = 0, right = 0;
    if (c == NULL) {
        return -1;
    }
    int rv = ringc_call(c, &res, 2000, "members", "");
    if (rv == 0) {
        const msgpack_object *list = ringc_get(res, "members");
        for (uint32_t k = 0; list != NULL && k < list->via.array.size; k++) {
            const msgpack_object *m = &list->via.array.ptr[k];
            char id[130], status[16], addr[64], want[64];
            ringc_get_str(m, "id", id, sizeof(id));
            ringc_get_str(m, "status", status, sizeof(status));
            ringc_get_str(m, "address", addr, sizeof(addr));
            if (strcmp(status, "alive") != 0) {
                continue;
            }
            alive++;
            for (int i = 0; i < n; i++) {
                snprintf(want, sizeof(want), "%s:7946", pods.slot[slots[i]].ip);
                right += strcmp(id, pods.slot[slots[i]].name) == 0 && strcmp(addr, want) == 0;
            }
        }
    }
    ringc_close(c);
    if (rv != 0) {
        return -1;
    }
    return alive == n && right == n;
}

/* Prints every pod's view of the membership (why agree() said no). */
static void dump_views(const int *slots, int n)
{
    for (int i = 0; i < n; i++) {
        struct ringc *c = connect_pod(slots[i]);
        const msgpack_object *res;
        fprintf(stderr, "k8s pods: %s sees:", pods.slot[slots[i]].name);
        if (c != NULL && ringc_call(c, &res, 2000, "members", "") == 0) {
            const msgpack_object *list = ringc_get(res, "members");
            for (uint32_t k = 0; list != NULL && k < list->via.array.size; k++) {
                char id[130], status[16], addr[64];
                ringc_get_str(&list->via.array.ptr[k], "id", id, sizeof(id));
                ringc_get_str(&list->via.array.ptr[k], "status", status, sizeof(status));
                ringc_get_str(&list->via.array.ptr[k], "address", addr, sizeof(addr));
                fprintf(stderr, " %s/%s/%s", id, status, addr);
            }
        }
        fprintf(stderr, "\n");
        if (c != NULL) {
            ringc_close(c);
        }
    }
}

/* 1 when every pod of |slots| sees exactly |slots| and they report one ring checksum, 0 when
 * one sees otherwise, -1 when one could not be asked (a busy machine: not a disagreement). */
static int agree(const int *slots, int n)
{
    uint64_t checksum = 0;
    for (int i = 0; i < n; i++) {
        struct counters k;
        int sees = sees_exactly(slots[i], slots, n);
        if (sees <= 0) {
            return sees;
        }
        if (counters(slots[i], &k) != 0) {
            return -1;
        }
        if (i > 0 && k.ring_checksum != checksum) {
            return 0;
        }
        checksum = k.ring_checksum;
    }
    return 1;
}

/* Waits until agree(); returns the ms it took (asserts it happens). */
static int converge(const char *step, const int *slots, int n)
{
    int64_t start = now_ms();
    while (agree(slots, n) != 1) {
        cr_assert(lt(i64, now_ms() - start, CONVERGE_MS_MAX),
                  "%s: %d pods did not converge in %d ms (logs: RING_K8S_KEEP=1, %s)", step, n,
                  CONVERGE_MS_MAX, pods.dir);
        sleep_ms(50);
    }
    int ms = (int)(now_ms() - start);
    fprintf(stderr, "k8s pods: %-52s %d pods agree after %5d ms\n", step, n, ms);
    return ms;
}

/* The kubelet's readiness probe passes on every pod of |slots| (asserts, within 5 s). */
static void ready(const int *slots, int n)
{
    for (int i = 0; i < n; i++) {
        int64_t start = now_ms();
        int code;
        while ((code = pod_probe(slots[i], "/readyz")) != 200) {
            cr_assert(lt(i64, now_ms() - start, 5000), "%s: /readyz answers %d",
                      pods.slot[slots[i]].name, code);
            sleep_ms(100);
        }
        cr_assert(eq(int, pod_probe(slots[i], "/healthz"), 200));
    }
}

/* The owner of each of KEYS keys according to slot |s|. */
static void owners(int s, char (*ids)[32])
{
    struct ringc *c = connect_pod(s);
    cr_assert(c != NULL);
    for (int k = 0; k < KEYS; k++) {
        char key[32];
        const msgpack_object *res;
        snprintf(key, sizeof(key), "key:%d", k);
        cr_assert(eq(int, ringc_call(c, &res, 2000, "lookup", "s", key), 0));
        cr_assert(gt(int, ringc_get_str(res, "id", ids[k], 32), 0));
    }
    ringc_close(c);
}

static void setup(void)
{
    pods_setup();
}

static void teardown(void)
{
    pods_teardown();
}

TestSuite(k8s, .init = setup, .fini = teardown, .timeout = 120);

Test(k8s, statefulset_scales_3_5_2_and_a_replaced_pod_keeps_its_place)
{
    int64_t start = now_ms();
    /* 3 replicas. The pods start before any record exists (the DNS lags the pods), so
     * their first resolutions fail; they retry and join once the records appear. */
    int three[] = { 1, 2, 3 };
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "ring-%d", i);
        pod_start(three[i], name);
    }
    sleep_ms(500);
    for (int i = 0; i < 3; i++) {
        pod_publish(three[i], 1);
    }
    converge("3 replicas, records published after the pods start", three, 3);
    ready(three, 3);

    /* `kubectl exec ring-0 -c ringd -- ringctl members`, as the README shows it. */
    char out[4096];
    char *members[] = { "/usr/local/bin/ringctl", "members", NULL };
    cr_assert(eq(int, pod_exec(1, members, out, sizeof(out)), 0), "%s", out);
    cr_assert(strstr(out, "ring-0") && strstr(out, "ring-1") && strstr(out, "ring-2"), "%s", out);

    /* Scale to 5: ring-3 and ring-4 start before their own records exist; they join through
     * the three that DNS already names. */
    int five[] = { 1, 2, 3, 4, 5 };
    pod_start(4, "ring-3");
    pod_start(5, "ring-4");
    converge("scale 3 -> 5, new pods not yet in DNS", five, 5);
    pod_publish(4, 1);
    pod_publish(5, 1);
    ready(five, 5);

    /* Scale to 2: the StatefulSet deletes the highest ordinals; their records go and each
     * gets SIGTERM (it drains, then leaves). */
    int gone[] = { 5, 4, 3 };
    for (int i = 0; i < 3; i++) {
        pod_publish(gone[i], 0);
    }
    cr_assert(eq(int, pod_delete_all(gone, 3), 3), "every deleted ringd exits 0 after leaving");
    int two[] = { 1, 2 };
    converge("scale 5 -> 2, graceful leaves", two, 2);
    ready(two, 2);

    /* Replace ring-1: deleted, then recreated under the same name in another slot, so at a
     * new IP. It must take its old place (the same keys) without the survivors flapping. */
    static char before[KEYS][32], after[KEYS][32];
    owners(1, before);
    struct counters k0, k1;
    cr_assert(eq(int, counters(1, &k0), 0));
    pod_publish(2, 0);
    cr_assert(eq(int, pod_delete(2), 0));
    pod_start(6, "ring-1");
    pod_publish(6, 1);
    int replaced[] = { 1, 6 };
    converge("ring-1 replaced at a new IP", replaced, 2);
    ready(replaced, 2);
    int64_t watch = now_ms();
    while (now_ms() - watch < SETTLE_MS) {
        int ok = agree(replaced, 2);
        if (ok == 0) {
            dump_views(replaced, 2);
        }
        cr_assert(ne(int, ok, 0), "the replaced pod's membership flapped");
        sleep_ms(100);
    }
    cr_assert(eq(int, counters(1, &k1), 0));
    owners(1, after);
    int same = 0;
    for (int k = 0; k < KEYS; k++) {
        same += strcmp(before[k], after[k]) == 0;
    }
    fprintf(stderr,
            "k8s pods: replacement seen by ring-0: %llu ring changes, %llu suspicions, "
            "%llu refutations; %d/%d keys kept their owner\n",
            (unsigned long long)(k1.ring_changes - k0.ring_changes),
            (unsigned long long)(k1.suspicions - k0.suspicions),
            (unsigned long long)(k1.refutations - k0.refutations), same, KEYS);
    cr_assert(eq(int, same, KEYS), "the replaced pod owns the same keys as before");
    cr_assert(le(u64, k1.ring_changes - k0.ring_changes, REPLACE_RING_CHANGES_MAX));
    cr_assert(le(u64, k1.suspicions - k0.suspicions, REPLACE_SUSPICIONS_MAX));
    fprintf(stderr, "k8s pods: whole scenario %lld ms\n", (long long)(now_ms() - start));
}

/* A node crash: ring-1 is killed (no leave) and the StatefulSet recreates it at once at a new
 * IP, before the survivors have declared the old one faulty. The new one must take over the
 * old one's record (same id, higher incarnation, new address) without a suspicion storm or
 * the old address coming back. */
Test(k8s, a_crashed_pod_recreated_at_a_new_ip_takes_over_its_record)
{
    pods.with_app = 1;
    int three[] = { 1, 2, 3 };
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "ring-%d", i);
        pod_start(three[i], name);
        pod_publish(three[i], 1);
    }
    converge("3 replicas", three, 3);
    static char before[KEYS][32], after[KEYS][32];
    owners(1, before);
    struct counters a0, a1, b0, b1;
    cr_assert(eq(int, counters(1, &a0), 0));
    cr_assert(eq(int, counters(3, &b0), 0));
    /* Incarnations start at the start time in seconds: make the new life start in a later
     * second than the old one, as a real restart (image pull, scheduling) would. */
    sleep_ms(1000);
    pod_kill(2);
    pod_publish(2, 0);
    pod_start(4, "ring-1");
    pod_publish(4, 1);
    int replaced[] = { 1, 4, 3 };
    converge("ring-1 killed and recreated at a new IP", replaced, 3);
    int64_t watch = now_ms();
    while (now_ms() - watch < SETTLE_MS) {
        int ok = agree(replaced, 3);
        if (ok == 0) {
            dump_views(replaced, 3);
        }
        cr_assert(ne(int, ok, 0), "the recreated pod's membership flapped");
        sleep_ms(100);
    }
    cr_assert(eq(int, counters(1, &a1), 0));
    cr_assert(eq(int, counters(3, &b1), 0));
    owners(1, after);
    int same = 0;
    for (int k = 0; k < KEYS; k++) {
        same += strcmp(before[k], after[k]) == 0;
    }
    fprintf(stderr,
            "k8s pods: crash + recreate seen by ring-0: %llu ring changes, %llu suspicions; "
            "by ring-2: %llu ring changes, %llu suspicions; %d/%d keys kept their owner\n",
            (unsigned long long)(a1.ring_changes - a0.ring_changes),
            (unsigned long long)(a1.suspicions - a0.suspicions),
            (unsigned long long)(b1.ring_changes - b0.ring_changes),
            (unsigned long long)(b1.suspicions - b0.suspicions), same, KEYS);
    cr_assert(eq(int, same, KEYS), "the recreated pod owns the same keys as before");
    /* Its keys reach its app at the new IP, through every pod's proxy. */
    int sent = 0;
    for (int k = 0; k < KEYS && sent < 30; k++) {
        if (strcmp(after[k], "ring-1") != 0) {
            continue;
        }
        char key[32], app[32];
        snprintf(key, sizeof(key), "key:%d", k);
        int via = replaced[sent % 3];
        int code = pod_request(via, key, app, sizeof(app));
        cr_assert(eq(int, code, 200), "%s via %s's proxy: HTTP %d", key, pods.slot[via].name, code);
        cr_assert(eq(int, strcmp(app, "ring-1"), 0), "%s answered by app \"%s\"", key, app);
        sent++;
    }
    cr_assert(eq(int, sent, 30), "ring-1 owns too few keys to test (%d)", sent);
    cr_assert(le(u64, a1.ring_changes - a0.ring_changes, REPLACE_RING_CHANGES_MAX));
    cr_assert(le(u64, b1.ring_changes - b0.ring_changes, REPLACE_RING_CHANGES_MAX));
    cr_assert(le(u64, a1.suspicions - a0.suspicions, REPLACE_SUSPICIONS_MAX));
    cr_assert(le(u64, b1.suspicions - b0.suspicions, REPLACE_SUSPICIONS_MAX));
}
