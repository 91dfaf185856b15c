/*
 * scenario: what happens to the cluster during a run. Each scenario builds its starting
 * cluster and schedules timed actions (kill, restart, pause, cut, heal); sim.c runs them as
 * heap events. Every choice (which nodes, when) comes from the world's scenario PRNG.
 */
#ifndef RINGSIM_SCENARIO_H
#define RINGSIM_SCENARIO_H

#include <stdint.h>

struct sim;

enum sim_action_type {
    SIM_ACT_START_COLD = 1, /* start |node| fresh; it joins through the seeds */
    SIM_ACT_KILL,           /* kill -9 |node| */
    SIM_ACT_RESTART,        /* start |node| again (new process, higher incarnation) */
    SIM_ACT_PAUSE,          /* SIGSTOP |node| for |arg| us */
    SIM_ACT_PARTITION,      /* split the cluster in two halves (|arg|: one-way) */
    SIM_ACT_HEAL,           /* end the partition */
    SIM_ACT_CUT,            /* |node| becomes unreachable (flap) */
    SIM_ACT_UNCUT,          /* |node| becomes reachable again */
    SIM_ACT_LEAVE,          /* |node| leaves gracefully (lease_leave, swim_leave) */
    SIM_ACT_STOP,           /* |node|'s process exits after its leave */
    SIM_ACT_DRAIN,          /* |node| drains (swim_drain): live, but out of the ring */
};

struct sim_action {
    uint8_t type; /* enum sim_action_type */
    uint32_t node;
    uint64_t arg;
};

/* Scenario names, for the command line: returns the enum sim_scenario or 0. */
int scenario_parse(const char *name);
const char *scenario_name(int scenario);

/* Starts the cluster and schedules the actions of w->opts.scenario. Returns 0 or -1 with a
 * message in |err|. */
int scenario_setup(struct sim *w, char *err, size_t cap);

/* Runs action |idx| now. */
void scenario_apply(struct sim *w, uint32_t idx);

#endif
