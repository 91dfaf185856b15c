/*
 * route: the one answer to "who serves this key", read from the node's current ring and
 * group map. Every consumer (the local API's lookup and lookup_n, admin /v1/lookup, the
 * forwarding proxy) asks here, so they cannot disagree: a key goes to its logical shard's
 * placement key (--shards), then to its group (--group), then to its owner in this node's
 * ring when the group is this node's own, or to a live contact of the other group.
 */
#ifndef RINGD_ROUTE_H
#define RINGD_ROUTE_H

#include "daemon.h"
#include "shardset.h"

struct ringd_route {
    struct ringd_placed placed; /* the key as the ring places it (and its shard) */
    const char *group;          /* the key's group; NULL without --group */
    size_t group_len;
    /* 1: the owner is in this node's ring, at index |owner|. 0: |id| is a contact of
     * another group, to route through. */
    int local;
    uint32_t owner;
    const char *id;
    size_t id_len;
    struct ring_addr addr; /* the owner's, or the contact's */
};

/* Why ringd_route() found no one, for error messages and X-Ring-Error. */
const char *ringd_route_strerror(int rv);

/* Routes |key|. Returns 0, or: UV_EAGAIN before this node has joined its cluster (its
 * seeds have not answered: a ring of one would answer every key with itself) or while no
 * contact of the key's group is known or usable; -ENODATA when the ring is empty. The
 * pointers in |*out| stay valid until the next ring or group-map rebuild. */
int ringd_route(struct ringd *d, const void *key, size_t key_len, struct ringd_route *out);

/* The |n| distinct owners of |key| in ring order (replicas), into |idx|, routed like
 * ringd_route(); a key of another group has one answer, its contact, in |out|. Returns the
 * count (1..n) or ringd_route()'s errors. */
int ringd_route_n(struct ringd *d, const void *key, size_t key_len, size_t n, uint32_t *idx,
                  struct ringd_route *out);

#endif
