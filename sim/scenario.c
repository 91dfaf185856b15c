/*
 * scenario: the eight scripted runs. Every scenario except a cold join starts from a
 * converged cluster (sim_node_start(..., warm)), disturbs it at t = DISTURB_AT_US, and
 * leaves the rest of the run quiet so the checkers can demand convergence at the end.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "groups.h"
#include "lease.h"
#include "scenario.h"
#include "sim.h"

/* When the disturbance starts: a few protocol periods into the run. */
#define DISTURB_AT_US 5000000
/* pause: how long the node stops. */
#define PAUSE_US 10000000
/* partition: how long the halves are apart. */
#define PARTITION_US 20000000
/* churn: a killed process comes back this much later. */
#define RESTART_AFTER_US 5000000
/* flap: each reachable or unreachable phase. */
#define FLAP_PHASE_US 3000000
/* churn and flap end this long before the run does, so the end is quiet. */
#define QUIET_TAIL_US 30000000
/* leave: the process exits this long after it started leaving (ringd's leave deadline). */
#define LEAVE_STOP_US 2000000
/* drain: the node leaves this long after it started draining (a SIGTERM drain that waited
 * for its draining record to spread and its requests to finish). */
#define DRAIN_LEAVE_US 3000000

static const char *const names[] = {
    [SIM_JOIN] = "join",           [SIM_KILL] = "kill",   [SIM_PAUSE] = "pause",
    [SIM_PARTITION] = "partition", [SIM_LOSS] = "loss",   [SIM_CHURN] = "churn",
    [SIM_FLAP] = "flap",           [SIM_LEAVE] = "leave", [SIM_DRAIN] = "drain",
};

int scenario_parse(const char *name)
{
    for (int i = 1; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
        if (strcmp(name, names[i]) == 0) {
            return i;
        }
    }
    return 0;
}

const char *scenario_name(int scenario)
{
    return scenario >= SIM_JOIN && scenario <= SIM_DRAIN ? names[scenario] : "?";
}

static int push_action(struct sim *w, uint64_t at_us, uint8_t type, uint32_t node, uint64_t arg)
{
    if (w->action_count == w->action_cap) {
        size_t cap = w->action_cap ? w->action_cap * 2 : 64;
        struct sim_action *a = realloc(w->actions, cap * sizeof(*a));
        if (a == NULL) {
            return -1;
        }
        w->actions = a;
        w->action_cap = cap;
    }
    struct sim_action *a = &w->actions[w->action_count];
    a->type = type;
    a->node = node;
    a->arg = arg;
    return heap_push(&w->heap, at_us, SIM_EV_ACTION, (uint32_t)w->action_count++, NULL);
}

/* How long after a disturbance a faulty verdict about the disturbed node is still its
 * fault: the longest Lifeguard suspicion (no confirmations) plus two periods. */
static uint64_t grace_us(const struct sim *w)
{
    struct swim_config c = { .probe_interval_ms = w->opts.probe_interval_ms,
                             .suspicion_mult = w->opts.suspicion_mult,
                             .suspicion_max_mult = w->opts.suspicion_max_mult };
    swim_config_defaults(&c);
    double interval = c.probe_interval_ms;
    double n = (double)w->n;
    double scale = n > 10.0 ? log10(n) : 1.0;
    return (uint64_t)(((double)c.suspicion_max_mult * c.suspicion_mult * scale + 2.0) * interval *
                      1000.0);
}

static uint32_t random_node(struct sim *w, uint32_t lo)
{
    return lo + (uint32_t)(sim_rand(&w->rng) % (w->n - lo));
}

/* A non-seed node when there is one, else any; with leases, one that the converged ring
 * gives a shard, if one of a few draws does (with 1,024 shards on 1,000 nodes a third own
 * none, and a run that disturbs one of those measures nothing about leases). */
static uint32_t random_victim(struct sim *w)
{
    uint32_t lo = w->n > w->seed_count ? (uint32_t)w->seed_count : 0;
    uint32_t i = random_node(w, lo);
    for (int tries = 0; tries < 16 && simlease_on(w) && simlease_owned(w, i) == 0; tries++) {
        i = random_node(w, lo);
    }
    return i;
}

static int start_warm(struct sim *w, uint32_t count)
{
    w->warm_count = count;
    for (uint32_t i = 0; i < count; i++) {
        if (sim_node_start(w, i, 1) != 0) {
            return -1;
        }
    }
    return 0;
}

static int setup_join(struct sim *w)
{
    uint32_t k = w->opts.joiners == 0 || w->opts.joiners > w->n ? w->n : w->opts.joiners;
    uint32_t warm = w->n - k;
    if (start_warm(w, warm) != 0) {
        return -1;
    }
    /* A cold cluster: the seeds start at 0, everyone else within the first second. A warm
     * one: the joiners arrive at 1 s, all at once when one joins, else within a second
     * (with leases at 5 s, once the cluster's first leases are held). */
    uint64_t base = warm == 0 ? 0 : w->opts.exclusive ? DISTURB_AT_US : 1000000;
    uint64_t last = base;
    for (uint32_t i = warm; i < w->n; i++) {
        uint64_t at = base;
        if (k > 1 && !(warm == 0 && i < w->seed_count)) {
            at += sim_rand(&w->rng) % 1000000;
        }
        last = at > last ? at : last;
        if (push_action(w, at, SIM_ACT_START_COLD, i, 0) != 0) {
            return -1;
        }
    }
    w->m.join_start_us = base;
    w->m.disturb_us = last;
    return 0;
}

static int setup_kill(struct sim *w)
{
    uint32_t k = w->opts.kill == 0 ? 1 : w->opts.kill;
    if (k >= w->n || k > SIM_WATCH_MAX) {
        return -1;
    }
    if (start_warm(w, w->n) != 0) {
        return -1;
    }
    uint8_t *picked = calloc(w->n, 1);
    if (picked == NULL) {
        return -1;
    }
    int rv = 0;
    for (uint32_t j = 0; j < k && rv == 0; j++) {
        uint32_t i;
        do {
            i = k + w->seed_count < w->n ? random_victim(w) : random_node(w, 0);
        } while (picked[i]);
        picked[i] = 1;
        rv = push_action(w, DISTURB_AT_US, SIM_ACT_KILL, i, 1);
    }
    free(picked);
    w->m.disturb_us = DISTURB_AT_US;
    return rv;
}

/* K nodes (--kill) leave gracefully at 5 s and exit LEAVE_STOP_US later; with |drain|, they
 * drain at 5 s and leave DRAIN_LEAVE_US later, as ringd does on SIGTERM. */
static int setup_leave(struct sim *w, int drain)
{
    uint64_t leave_at = DISTURB_AT_US + (drain ? DRAIN_LEAVE_US : 0);
    uint32_t k = w->opts.kill == 0 ? 1 : w->opts.kill;
    if (k >= w->n || start_warm(w, w->n) != 0) {
        return -1;
    }
    uint8_t *picked = calloc(w->n, 1);
    if (picked == NULL) {
        return -1;
    }
    int rv = 0;
    for (uint32_t j = 0; j < k && rv == 0; j++) {
        uint32_t i;
        do {
            i = k + w->seed_count < w->n ? random_victim(w) : random_node(w, 0);
        } while (picked[i]);
        picked[i] = 1;
        rv = drain ? push_action(w, DISTURB_AT_US, SIM_ACT_DRAIN, i, 0) : 0;
        if (rv == 0) {
            rv = push_action(w, leave_at, SIM_ACT_LEAVE, i, 0);
        }
        if (rv == 0) {
            rv = push_action(w, leave_at + LEAVE_STOP_US, SIM_ACT_STOP, i, 0);
        }
    }
    free(picked);
    w->m.disturb_us = leave_at + LEAVE_STOP_US;
    return rv;
}

static int setup_pause(struct sim *w)
{
    if (start_warm(w, w->n) != 0) {
        return -1;
    }
    w->m.disturb_us = DISTURB_AT_US + PAUSE_US;
    return push_action(w, DISTURB_AT_US, SIM_ACT_PAUSE, random_victim(w), PAUSE_US);
}

static int setup_partition(struct sim *w)
{
    if (start_warm(w, w->n) != 0) {
        return -1;
    }
    w->m.disturb_us = DISTURB_AT_US + PARTITION_US;
    if (push_action(w, DISTURB_AT_US, SIM_ACT_PARTITION, 0, (uint64_t)w->opts.oneway) != 0) {
        return -1;
    }
    return push_action(w, DISTURB_AT_US + PARTITION_US, SIM_ACT_HEAL, 0, 0);
}

static uint64_t active_end(const struct sim *w)
{
    return w->end_us > QUIET_TAIL_US + DISTURB_AT_US ? w->end_us - QUIET_TAIL_US : DISTURB_AT_US;
}

static int setup_churn(struct sim *w)
{
    if (start_warm(w, w->n) != 0) {
        return -1;
    }
    double rate = w->opts.churn_per_min > 0 ? w->opts.churn_per_min : 0.1;
    uint64_t end = active_end(w);
    double minutes = (double)(end - DISTURB_AT_US) / 60e6;
    uint32_t restarts = (uint32_t)(rate * w->n * minutes + 0.5);
    uint64_t last = DISTURB_AT_US;
    for (uint32_t j = 0; j < restarts; j++) {
        uint64_t at = DISTURB_AT_US + sim_rand(&w->rng) % (end - DISTURB_AT_US + 1);
        uint32_t i = random_victim(w);
        if (push_action(w, at, SIM_ACT_KILL, i, 0) != 0 ||
            push_action(w, at + RESTART_AFTER_US, SIM_ACT_RESTART, i, 0) != 0) {
            return -1;
        }
        last = at + RESTART_AFTER_US > last ? at + RESTART_AFTER_US : last;
    }
    w->m.disturb_us = last;
    return 0;
}

static int setup_flap(struct sim *w)
{
    if (start_warm(w, w->n) != 0) {
        return -1;
    }
    uint32_t i = random_victim(w);
    uint64_t t = DISTURB_AT_US;
    uint64_t end = active_end(w);
    while (t < end) {
        if (push_action(w, t, SIM_ACT_CUT, i, 0) != 0 ||
            push_action(w, t + FLAP_PHASE_US, SIM_ACT_UNCUT, i, 0) != 0) {
            return -1;
        }
        w->m.disturb_us = t + FLAP_PHASE_US;
        t += 2 * FLAP_PHASE_US;
    }
    return 0;
}

int scenario_setup(struct sim *w, char *err, size_t cap)
{
    int rv;
    switch (w->opts.scenario) {
    case SIM_JOIN:
        rv = setup_join(w);
        break;
    case SIM_KILL:
        rv = setup_kill(w);
        break;
    case SIM_PAUSE:
        rv = setup_pause(w);
        break;
    case SIM_PARTITION:
        rv = setup_partition(w);
        break;
    case SIM_LOSS:
        rv = start_warm(w, w->n);
        break;
    case SIM_CHURN:
        rv = setup_churn(w);
        break;
    case SIM_LEAVE:
    case SIM_DRAIN:
        rv = setup_leave(w, w->opts.scenario == SIM_DRAIN);
        break;
    default:
        rv = setup_flap(w);
        break;
    }
    if (rv != 0) {
        snprintf(err, cap, "cannot set up scenario %s with %u nodes",
                 scenario_name(w->opts.scenario), w->n);
    }
    return rv;
}

/* ---- actions ---- */

static void disturbed(struct sim *w, uint32_t i, uint64_t until_us)
{
    struct sim_node *nd = &w->nodes[i];
    nd->disturbed_until_us = until_us > nd->disturbed_until_us ? until_us : nd->disturbed_until_us;
}

static void partition(struct sim *w, int on, int oneway)
{
    memset(w->net.dgram_cut, 0, sizeof(w->net.dgram_cut));
    memset(w->net.stream_cut, 0, sizeof(w->net.stream_cut));
    for (uint32_t i = 0; i < w->n; i++) {
        w->nodes[i].side = on && i >= w->n / 2;
        w->nodes[i].disturbed_until_us = on ? UINT64_MAX : w->now_us + grace_us(w);
    }
    if (on) {
        w->net.dgram_cut[0][1] = w->net.stream_cut[0][1] = 1;
        w->net.dgram_cut[1][0] = w->net.stream_cut[1][0] = (uint8_t)!oneway;
    }
}

void scenario_apply(struct sim *w, uint32_t idx)
{
    const struct sim_action *a = &w->actions[idx];
    struct sim_node *nd = &w->nodes[a->node];
    uint64_t words[3] = { w->now_us, a->type, a->node };
    sim_trace(w, words, sizeof(words));
    switch (a->type) {
    case SIM_ACT_START_COLD:
    case SIM_ACT_RESTART:
        if (!nd->up) {
            nd->disturbed_until_us = w->now_us + grace_us(w);
            (void)sim_node_start(w, a->node, 0);
            simgroups_on_restart(w, a->node);
        }
        break;
    case SIM_ACT_KILL:
        if (nd->up) {
            simgroups_on_kill(w, a->node);
            sim_node_kill(w, a->node);
            nd->disturbed_until_us = UINT64_MAX;
            if (a->arg) {
                metrics_watch(w, a->node);
            }
        }
        break;
    case SIM_ACT_PAUSE:
        nd->paused_until_us = w->now_us + a->arg;
        disturbed(w, a->node, nd->paused_until_us + grace_us(w));
        break;
    case SIM_ACT_PARTITION:
    case SIM_ACT_HEAL:
        if (a->type == SIM_ACT_HEAL) {
            simlease_partition_snapshot(w);
        }
        partition(w, a->type == SIM_ACT_PARTITION, (int)a->arg);
        break;
    case SIM_ACT_LEAVE:
        if (nd->up) {
            nd->disturbed_until_us = UINT64_MAX;
            simlease_node_leave(w, a->node);
            (void)swim_leave(nd->s, sim_node_ms(w, a->node));
            sim_node_drain(w, a->node);
        }
        break;
    case SIM_ACT_DRAIN:
        if (nd->up) {
            nd->disturbed_until_us = UINT64_MAX;
            (void)swim_drain(nd->s, 1, sim_node_ms(w, a->node));
            sim_node_drain(w, a->node);
        }
        break;
    case SIM_ACT_STOP:
        if (nd->up) {
            simgroups_on_kill(w, a->node);
            sim_node_kill(w, a->node);
        }
        break;
    case SIM_ACT_CUT:
        nd->cut = 1;
        disturbed(w, a->node, UINT64_MAX);
        break;
    default:
        nd->cut = 0;
        nd->disturbed_until_us = w->now_us + grace_us(w);
        break;
    }
}
