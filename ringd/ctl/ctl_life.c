/*
 * ctl_life: `ringctl drain` and `ringctl wait-ready`, the commands a pod's lifecycle runs
 * (a preStop hook, an app's start). Both poll the local API: its calls answer at once
 * (ringd/api/api_life.c), and a short poll keeps them simple and bounded by --timeout.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

/* How often drain and wait-ready ask again. */
#define POLL_MS 50
/* Their --timeout when none is given: ringd's default --drain-timeout, and a pod's start-up
 * (image pull aside, ringd joins within seconds; a minute is slack, not the expected time). */
#define DRAIN_TIMEOUT_MS_DEFAULT      20000
#define WAIT_READY_TIMEOUT_MS_DEFAULT 60000

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

static int get_bool(const msgpack_object *o, const char *key)
{
    const msgpack_object *v = ringc_get(o, key);
    return v != NULL && v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
}

int ctl_drain(struct ctl *ctl, const struct ctl_args *a)
{
    int timeout_ms = ctl->timeout_given ? ctl->timeout_ms : DRAIN_TIMEOUT_MS_DEFAULT;
    int64_t deadline = now_ms() + timeout_ms;
    const char *method = a->cancel ? "undrain" : "drain";
    const msgpack_object *res;
    for (;;) {
        int call_ms = (int)(deadline - now_ms());
        int rv = a->restart
                     ? ringc_call(ctl->c, &res, call_ms > 0 ? call_ms : 1, method, "s", "restart")
                     : ringc_call(ctl->c, &res, call_ms > 0 ? call_ms : 1, method, "");
        if (rv != 0) {
            return ctl_report(ctl, method, rv);
        }
        int done = a->cancel || get_bool(res, "drained");
        if (done || now_ms() >= deadline) {
            if (ctl->json) {
                ctl_print_json(res);
            } else if (a->cancel) {
                printf("drain cancelled%s\n",
                       get_bool(res, "draining") || get_bool(res, "restarting")
                           ? " (still draining: app health or shutdown)"
                           : "");
            } else {
                int held = a->restart && get_bool(res, "restarting") && !get_bool(res, "draining");
                printf(done && held ? "ready to restart: every node holds this node's "
                                      "keys for it\n"
                       : done       ? "drained: this node owns no keys\n"
                                    : "not drained after --timeout (%llu requests in flight)\n",
                       (unsigned long long)ringc_get_u64(res, "in_flight", 0));
            }
            return done ? 0 : CTL_EXIT_FAIL;
        }
        sleep_ms(POLL_MS);
    }
}

/* One look: 1 ready, 0 not yet, or the negative errno of why ringd could not be asked (not
 * running yet, restarting, not answering). */
static int ready_once(struct ctl *ctl, const struct ctl_args *a, int call_ms)
{
    char err[512];
    int rv = ctl->c == NULL ? ringc_connect(&ctl->c, ctl->socket, err, sizeof(err)) : 0;
    if (rv != 0) {
        return rv;
    }
    const msgpack_object *res;
    rv = ringc_call(ctl->c, &res, call_ms, "ready", "");
    if (rv != 0) {
        ringc_close(ctl->c); /* ringd restarting: a new connection next time */
        ctl->c = NULL;
        return rv;
    }
    return get_bool(res, a->serving ? "ready" : "member_ready");
}

int ctl_wait_ready(struct ctl *ctl, const struct ctl_args *a)
{
    int timeout_ms = ctl->timeout_given ? ctl->timeout_ms : WAIT_READY_TIMEOUT_MS_DEFAULT;
    int64_t deadline = now_ms() + timeout_ms;
    int last;
    for (;;) {
        int call_ms = (int)(deadline - now_ms());
        last = ready_once(ctl, a, call_ms > 0 ? call_ms : 1);
        if (last == 1 || now_ms() >= deadline) {
            break;
        }
        sleep_ms(POLL_MS);
    }
    if (ctl->json) {
        printf("{\"ready\":%s}\n", last == 1 ? "true" : "false");
    } else {
        printf("%s\n", last == 1   ? "ready"
                       : last == 0 ? "not ready after --timeout"
                                   : "ringd did not answer before --timeout");
    }
    return last == 1 ? 0 : CTL_EXIT_FAIL;
}
