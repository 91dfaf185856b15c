/*
 * subshard: ringd's glue for sub-sharding (--group; libring's groups.h and groupmap.h).
 * Without --group nothing here runs and ringd is one flat cluster. With it, swim gossips
 * with this node's group only, and libring's groups module keeps one summary per other
 * group (size, ring checksum, a few contacts) by a slow exchange over the same UDP port.
 * A key maps to a group first; keys of this node's group go to their owner in its ring, keys
 * of other groups to a contact there, which routes them inside its group.
 */
#ifndef RINGD_SUBSHARD_H
#define RINGD_SUBSHARD_H

#include "daemon.h"
#include "ring/groups.h"

/* Creates the cross-group view when --group is set. Returns 0 or a uv error. */
int ringd_groups_start(struct ringd *d);
void ringd_groups_free(struct ringd *d);
static inline int ringd_groups_on(const struct ringd *d)
{
    return d->groups != NULL;
}
/* A datagram from |from|: 1 if it was a group exchange message (fed to groups), else 0. */
int ringd_groups_recv(struct ringd *d, const struct ring_addr *from, const uint8_t *buf,
                      size_t len);
/* Joins a node alone in its group through its group's contacts, ticks groups, sends its
 * datagrams, rebuilds the group map when the set of groups changed. */
void ringd_groups_pump(struct ringd *d, uint64_t now_ms);
/* The join seeds (any group's nodes) for meeting the other groups. */
void ringd_groups_join(struct ringd *d, const struct ring_addr *seeds, size_t n);
/* Routes |key|: see groups_route(). Returns 0, -ENODATA before the group map exists, or
 * groups_route()'s errors as errno (ringd_err_from_ring()). */
int ringd_groups_route(struct ringd *d, const void *key, size_t key_len, struct groups_route *out);

#endif
