/*
 * Membership timing with real processes and DEFAULT timings: 8 ringd on loopback,
 * started with no timing flags, measured through the C client polling every 20 ms.
 *   - join: every node sees 8 alive (and all agree on the checksums) <= 1 s after the last
 *     node started;
 *   - kill -9: every other node marks the victim faulty <= 2.5 s after the kill;
 *   - SIGTERM: every other node sees the leave <= 0.5 s after the signal.
 * Also prints the steady-state gossip traffic per node (bytes/s in and out, datagrams and
 * streams), which the issue asks to report. The bounds are the issue's, asserted as written
 * in the normal build (proto/SWIM.md "Defaults" has the measured margins). The ASan/UBSan
 * build runs the same checks with the bounds stretched by half: instrumentation slows every
 * ringd several times over, and there the test is about behaviour, not about the targets.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cluster.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLACK(ms) ((ms)*3 / 2)
#else
#define SLACK(ms) (ms)
#endif

#define NODES         8
#define JOIN_MS_MAX   SLACK(1000)
#define FAULTY_MS_MAX SLACK(2500)
#define LEAVE_MS_MAX  SLACK(500)
#define POLL_MS       20
#define STEADY_MS     3000

static void setup(void)
{
    cluster_init();
    cl.default_timing = 1;
}

static void teardown(void)
{
    cluster_stop();
}

/* The measured figures go to stderr, so every run shows them: Criterion 2.4 exits 1 when a
 * test logs a warning, and hides info logs unless --verbose. */
#define REPORT(...)                                                                                \
    do {                                                                                           \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
    } while (0)

TestSuite(cluster_timing, .init = setup, .fini = teardown, .timeout = 40);

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts NODES nodes joining node 0 and returns the ms from the last start until all of them
 * see NODES alive and agree on the checksums (or -1 after |timeout_ms|). */
static int start_and_converge(int timeout_ms)
{
    cluster_start(NODES);
    return cluster_wait(cluster_converged, (void *)(intptr_t)NODES, timeout_ms);
}

/* Polls every node but |victim| and |skip| until each reports |status| for the victim's id;
 * returns the ms from |t0| until the last of them did, or -1 when |timeout_ms| passes. */
static int wait_status(int victim, int skip, const char *status, int64_t t0, int timeout_ms)
{
    char id[16];
    snprintf(id, sizeof(id), "n%d", victim);
    int seen[NODES] = { 0 };
    int last = 0;
    while (mono_ms() - t0 < timeout_ms) {
        int all = 1;
        for (int i = 0; i < NODES; i++) {
            if (i == victim || i == skip || seen[i]) {
                continue;
            }
            char st[32] = "";
            uint64_t inc;
            if (cluster_member(i, id, st, sizeof(st), &inc) == 0 && strcmp(st, status) == 0) {
                seen[i] = 1;
                last = (int)(mono_ms() - t0);
            } else {
                all = 0;
            }
        }
        if (all) {
            return last;
        }
        cluster_sleep_ms(POLL_MS);
    }
    return -1;
}

static uint64_t stat_u64(int i, const char *key)
{
    struct ringc *c = cluster_connect(i);
    const msgpack_object *res;
    uint64_t v = 0;
    if (ringc_call(c, &res, 2000, "stats", "") == 0) {
        v = ringc_get_u64(ringc_get(res, "swim"), key, 0);
    }
    ringc_close(c);
    return v;
}

static uint64_t node_bytes(int i)
{
    return stat_u64(i, "bytes_out") + stat_u64(i, "stream_bytes_out");
}

Test(cluster_timing, eight_nodes_join_detect_a_kill_and_see_a_leave_with_default_timings)
{
    int join_ms = start_and_converge(5000);
    REPORT("timing: join converged %d ms after the last start (bound %d)", join_ms, JOIN_MS_MAX);
    cr_assert(ge(int, join_ms, 0), "8 nodes did not converge in 5 s");
    cr_expect(le(int, join_ms, JOIN_MS_MAX), "join took %d ms", join_ms);

    /* Steady state: what every node sends per second with nothing changing. */
    uint64_t before[NODES], msgs_before[NODES];
    for (int i = 0; i < NODES; i++) {
        before[i] = node_bytes(i);
        msgs_before[i] = stat_u64(i, "msgs_out");
    }
    int64_t t = mono_ms();
    cluster_sleep_ms(STEADY_MS);
    double secs = (double)(mono_ms() - t) / 1e3;
    uint64_t total = 0, most = 0, msgs = 0;
    for (int i = 0; i < NODES; i++) {
        uint64_t d = node_bytes(i) - before[i];
        total += d;
        most = d > most ? d : most;
        msgs += stat_u64(i, "msgs_out") - msgs_before[i];
    }
    REPORT("timing: steady state sent %.0f B/s per node on average (%.0f at most), "
           "%.1f datagrams/s",
           (double)total / NODES / secs, (double)most / secs, (double)msgs / NODES / secs);

    int64_t t0 = mono_ms();
    cluster_signal(NODES - 1, SIGKILL);
    int faulty_ms = wait_status(NODES - 1, -1, "faulty", t0, 10000);
    REPORT("timing: kill -9 -> faulty at every other node after %d ms (bound %d)", faulty_ms,
           FAULTY_MS_MAX);
    cr_assert(ge(int, faulty_ms, 0), "the killed node was not faulty everywhere in 10 s");
    cr_expect(le(int, faulty_ms, FAULTY_MS_MAX), "kill -> faulty took %d ms", faulty_ms);

    t0 = mono_ms();
    cluster_signal(NODES - 2, SIGTERM);
    int left_ms = wait_status(NODES - 2, NODES - 1, "left", t0, 5000);
    REPORT("timing: SIGTERM -> left at every other node after %d ms (bound %d)", left_ms,
           LEAVE_MS_MAX);
    cr_assert(ge(int, left_ms, 0), "the leave was not seen everywhere in 5 s");
    cr_expect(le(int, left_ms, LEAVE_MS_MAX), "SIGTERM -> left took %d ms", left_ms);
}

/* "No slow tail": the join bound holds in every run, not just once. */
Test(cluster_timing, eight_node_join_converges_within_a_second_every_time)
{
    for (int run = 0; run < 3; run++) {
        if (run > 0) {
            cluster_stop();
            cluster_init();
            cl.default_timing = 1;
        }
        int join_ms = start_and_converge(5000);
        REPORT("timing: join run %d converged %d ms after the last start", run, join_ms);
        cr_assert(ge(int, join_ms, 0), "run %d: 8 nodes did not converge in 5 s", run);
        cr_expect(le(int, join_ms, JOIN_MS_MAX), "run %d: join took %d ms", run, join_ms);
    }
}
