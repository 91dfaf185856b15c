/*
 * route: see route.h. The order of the checks is the order a key travels: not joined yet
 * (nothing else can be right), shard, group, owner.
 */
#include <errno.h>
#include <string.h>

#include "err.h"
#include "ring/error.h"
#include "route.h"
#include "subshard.h"

const char *ringd_route_strerror(int rv)
{
    switch (rv) {
    case UV_EAGAIN:
        return "not joined yet: no seed has answered, or no contact of the key's group is known";
    case -ENODATA:
        return "the ring is empty";
    default:
        return ringd_strerror(rv);
    }
}

static void set_owner(struct ringd *d, uint32_t idx, struct ringd_route *out)
{
    const struct hashring_member *m = hashring_member(d->ring.ring, idx);
    out->local = 1;
    out->owner = idx;
    out->id = m->id;
    out->id_len = m->id_len;
    out->addr = d->ring.addrs[idx];
}

/* The group step: 1 when the key is this node's group's (owner index in |*idx|), 0 when it
 * is another's (|out| names the contact), or a negative error. */
static int route_group(struct ringd *d, struct ringd_route *out, uint32_t *idx)
{
    struct groups_route gr;
    int rv = ringd_groups_route(d, out->placed.key, out->placed.len, &gr);
    if (rv != 0) {
        /* no group map yet (-ENODATA there) or every contact failed: not routable yet */
        return rv == -ENODATA ? UV_EAGAIN : rv;
    }
    out->group = gr.group;
    out->group_len = gr.group_len;
    if (gr.local) {
        *idx = gr.owner;
        return 1;
    }
    out->local = 0;
    out->id = gr.contact_id;
    out->id_len = gr.contact_id_len;
    out->addr = gr.contact_addr;
    return 0;
}

/* Shard and group steps shared by both lookups: 1 with the key in this node's ring (|*idx|
 * its owner when |idx_known|), 0 routed to a contact, or a negative error. */
static int route_begin(struct ringd *d, const void *key, size_t key_len, struct ringd_route *out,
                       uint32_t *idx, int *idx_known)
{
    memset(out, 0, sizeof(*out));
    *idx_known = 0;
    if (!d->joined) {
        return UV_EAGAIN;
    }
    if (d->ring.ring == NULL) {
        return -ENODATA;
    }
    ringd_place(d, key, key_len, &out->placed);
    if (!ringd_groups_on(d)) {
        return 1;
    }
    int rv = route_group(d, out, idx);
    *idx_known = rv == 1;
    return rv;
}

int ringd_route(struct ringd *d, const void *key, size_t key_len, struct ringd_route *out)
{
    uint32_t idx = 0;
    int known;
    int rv = route_begin(d, key, key_len, out, &idx, &known);
    if (rv != 1) {
        return rv;
    }
    if (!known) {
        rv = hashring_lookup(d->ring.ring, out->placed.key, out->placed.len, &idx);
        if (rv != 0) {
            return ringd_err_from_ring(rv);
        }
    }
    set_owner(d, idx, out);
    return 0;
}

int ringd_route_n(struct ringd *d, const void *key, size_t key_len, size_t n, uint32_t *idx,
                  struct ringd_route *out)
{
    uint32_t first = 0;
    int known;
    int rv = route_begin(d, key, key_len, out, &first, &known);
    if (rv != 1) {
        return rv == 0 ? 1 : rv;
    }
    int count = hashring_lookup_n(d->ring.ring, out->placed.key, out->placed.len, n, idx);
    if (count < 0) {
        return ringd_err_from_ring(count);
    }
    set_owner(d, idx[0], out);
    return count;
}
