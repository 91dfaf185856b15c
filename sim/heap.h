/*
 * heap: the simulator's event queue, a binary min-heap ordered by (time, sequence).
 *
 * The sequence number is the order of scheduling, so two events due at the same virtual
 * microsecond run in the order they were scheduled: ties never depend on heap layout, and a
 * run replays exactly from its seed.
 */
#ifndef RINGSIM_HEAP_H
#define RINGSIM_HEAP_H

#include <stddef.h>
#include <stdint.h>

enum sim_ev_kind {
    SIM_EV_TIMER = 1,   /* a node's swim_next_deadline() is due; |node| */
    SIM_EV_DELIVER = 2, /* a message arrives; |ptr| is its struct sim_msg */
    SIM_EV_ACTION = 3,  /* a scenario step; |ptr| is its struct sim_action */
    SIM_EV_SAMPLE = 4,  /* the metrics sampler */
};

struct sim_ev {
    uint64_t at_us;
    uint64_t seq;
    uint32_t kind; /* enum sim_ev_kind */
    uint32_t node;
    void *ptr;
};

struct sim_heap {
    struct sim_ev *v;
    size_t len, cap;
    uint64_t seq_next;
};

/* Pushes an event at |at_us|. Returns 0, or -1 when out of memory. */
int heap_push(struct sim_heap *h, uint64_t at_us, uint32_t kind, uint32_t node, void *ptr);

/* Pops the earliest event into |*out|. Returns 1, or 0 when empty. */
int heap_pop(struct sim_heap *h, struct sim_ev *out);

/* The time of the earliest event, or UINT64_MAX when empty. */
uint64_t heap_next_us(const struct sim_heap *h);

/* Frees the array; events' |ptr|s are the caller's. */
void heap_free(struct sim_heap *h);

#endif
