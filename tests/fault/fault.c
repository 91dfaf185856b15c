/* fault: see fault.h. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fault.h"

struct netns fault_net;

int fault_full(void)
{
    const char *v = getenv("RING_FAULT_FULL");
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

int fault_ms(int short_ms, int full_ms)
{
    return fault_full() ? full_ms : short_ms;
}

int64_t fault_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fault_setup(void)
{
    cr_assert(eq(int, netns_setup(&fault_net, FAULT_PREFIX, FAULT_SUBNET, FAULT_NODES), 0),
              "could not build the test network (needs root, iproute2, iptables)");
    cluster_init();
    cl.default_timing = 1;
    cl.ns = &fault_net;
}

void fault_teardown(void)
{
    cluster_stop();
    netns_teardown(&fault_net);
}

int fault_start_all(void)
{
    for (int i = 0; i < FAULT_NODES; i++) {
        cluster_start_node(i, i == 0 ? -1 : 0);
    }
    int64_t t0 = fault_now_ms();
    int ms = fault_wait_agree(FAULT_ALL, FAULT_ALL, t0, 15000);
    cr_assert(ge(int, ms, 0), "the %d nodes did not converge in 15 s", FAULT_NODES);
    return ms;
}

static char status_letter(const char *s)
{
    if (strcmp(s, "alive") == 0 || strcmp(s, "suspect") == 0 || strcmp(s, "faulty") == 0 ||
        strcmp(s, "left") == 0) {
        return s[0];
    }
    return '?';
}

/* Fills v->status from a members() answer. */
static void read_members(const msgpack_object *res, struct fault_view *v)
{
    const msgpack_object *list = ringc_get(res, "members");
    for (uint32_t k = 0; list != NULL && k < list->via.array.size; k++) {
        char id[32], status[16];
        int j;
        ringc_get_str(&list->via.array.ptr[k], "id", id, sizeof(id));
        ringc_get_str(&list->via.array.ptr[k], "status", status, sizeof(status));
        if (sscanf(id, "n%d", &j) == 1 && j >= 0 && j < CLUSTER_NODES_MAX) {
            v->status[j] = status_letter(status);
        }
    }
}

static void read_stats(const msgpack_object *res, struct fault_view *v)
{
    v->incarnation = ringc_get_u64(res, "incarnation", 0);
    v->checksum = ringc_get_u64(res, "checksum", 0);
    v->ring_checksum = ringc_get_u64(res, "ring_checksum", 0);
    v->alive = ringc_get_u64(ringc_get(res, "members"), "alive", 0);
    const msgpack_object *swim = ringc_get(res, "swim");
    v->suspicions = ringc_get_u64(swim, "suspicions", 0);
    v->faulty = ringc_get_u64(swim, "faulty", 0);
    v->refutations = ringc_get_u64(swim, "refutations", 0);
}

int fault_view(int i, struct fault_view *v)
{
    memset(v, 0, sizeof(*v));
    char sock[128], err[256];
    struct ringc *c;
    if (cl.pids[i] <= 0 ||
        ringc_connect(&c, cluster_socket(i, sock, sizeof(sock)), err, sizeof(err)) != 0) {
        return -1;
    }
    const msgpack_object *res;
    int ok = ringc_call(c, &res, 2000, "stats", "") == 0;
    if (ok) {
        read_stats(res, v);
        ok = ringc_call(c, &res, 2000, "members", "") == 0;
    }
    if (ok) {
        read_members(res, v);
    }
    ringc_close(c);
    v->ok = ok;
    return ok ? 0 : -1;
}

void fault_view_all(struct fault_view v[CLUSTER_NODES_MAX])
{
    for (int i = 0; i < CLUSTER_NODES_MAX; i++) {
        fault_view(i, &v[i]);
    }
}

static int popcount(fault_set s)
{
    return __builtin_popcount(s);
}

int fault_agree(const struct fault_view v[], fault_set observers, fault_set members)
{
    int first = -1;
    for (int i = 0; i < CLUSTER_NODES_MAX; i++) {
        if (!FAULT_IN(observers, i)) {
            continue;
        }
        if (!v[i].ok || v[i].alive != (uint64_t)popcount(members)) {
            return 0;
        }
        for (int j = 0; j < CLUSTER_NODES_MAX; j++) {
            if (FAULT_IN(members, j) && v[i].status[j] != 'a') {
                return 0;
            }
        }
        if (first < 0) {
            first = i;
        } else if (v[i].checksum != v[first].checksum ||
                   v[i].ring_checksum != v[first].ring_checksum) {
            return 0;
        }
    }
    return first >= 0;
}

int fault_all_see(const struct fault_view v[], fault_set observers, fault_set targets, char status)
{
    for (int i = 0; i < CLUSTER_NODES_MAX; i++) {
        if (!FAULT_IN(observers, i)) {
            continue;
        }
        if (!v[i].ok) {
            return 0;
        }
        for (int j = 0; j < CLUSTER_NODES_MAX; j++) {
            if (FAULT_IN(targets, j) && v[i].status[j] != status) {
                return 0;
            }
        }
    }
    return 1;
}

int fault_wait_agree(fault_set observers, fault_set members, int64_t t0, int timeout_ms)
{
    struct fault_view v[CLUSTER_NODES_MAX];
    while (fault_now_ms() - t0 < timeout_ms) {
        fault_view_all(v);
        if (fault_agree(v, observers, members)) {
            return (int)(fault_now_ms() - t0);
        }
        cluster_sleep_ms(FAULT_POLL_MS);
    }
    return -1;
}

int fault_wait_see(fault_set observers, fault_set targets, char status, int64_t t0, int timeout_ms)
{
    struct fault_view v[CLUSTER_NODES_MAX];
    while (fault_now_ms() - t0 < timeout_ms) {
        fault_view_all(v);
        if (fault_all_see(v, observers, targets, status)) {
            return (int)(fault_now_ms() - t0);
        }
        cluster_sleep_ms(FAULT_POLL_MS);
    }
    return -1;
}

void fault_report(const char *scenario, const char *fields_fmt, ...)
{
    char fields[1024];
    va_list ap;
    va_start(ap, fields_fmt);
    vsnprintf(fields, sizeof(fields), fields_fmt, ap);
    va_end(ap);
    fprintf(stderr, "{\"scenario\": \"%s\", \"full\": %s, %s}\n", scenario,
            fault_full() ? "true" : "false", fields);
    fflush(stderr);
}
