/* hashring internals that tests may look at (never part of the public API). */
#ifndef RING_HASHRING_INT_H
#define RING_HASHRING_INT_H

#include "ring/hashring.h"

/* The sorted point array ((position << 16) | member index) and its length. Valid until
 * hashring_del(r). For tests that check the array is byte-identical across nodes. */
const uint64_t *hashring__points(const struct hashring *r, size_t *count);

#endif
