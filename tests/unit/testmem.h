/* A counting ring_mem for tests: every fixture checks at teardown that nothing leaked. */
#ifndef RING_TESTMEM_H
#define RING_TESTMEM_H

#include <stddef.h>
#include <stdint.h>

#include "ring/mem.h"

struct testmem {
    struct ring_mem mem;
    /* Bytes and blocks currently allocated. */
    size_t bytes;
    size_t blocks;
    /* When nonzero, the allocation with this 1-based sequence number fails. */
    uint64_t fail_at;
    uint64_t calls;
};

/* Criterion's str tag drops const, so strings are compared through strcmp. */
#define ASSERT_STR_EQ(got, want)                                                                   \
    cr_assert(eq(int, strcmp((got), (want)), 0), "got \"%s\", want \"%s\"", (got), (want))

void testmem_init(struct testmem *t);

/* A tiny deterministic PRNG (splitmix64) so tests never call rand(). */
uint64_t test_rand(uint64_t *state);

#endif
