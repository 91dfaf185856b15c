/*
 * way: see way.h. The order of the checks is the order of precedence: a key nobody can own
 * yet, then a restarting owner (its keys stay with it, whoever asks), then this node's own
 * keys, then the hop limit for everything that would leave this node again.
 */
#include <errno.h>

#include "way.h"

enum px_way px_way_decide(const struct px_way_facts *f)
{
    if (f->route_rv == -EAGAIN) {
        return PX_WAY_WAIT_JOIN;
    }
    if (f->route_rv != 0) {
        return PX_WAY_NO_OWNER;
    }
    if (f->in_ring && f->owner_restarting && (!f->owner_is_self || f->holding_own_keys)) {
        return PX_WAY_WAIT_RESTART;
    }
    if (f->in_ring && f->owner_is_self) {
        return PX_WAY_APP;
    }
    if (f->from_peer && f->hops >= f->hops_max) {
        return PX_WAY_HOP_LIMIT;
    }
    return f->in_ring ? PX_WAY_FORWARD : PX_WAY_CONTACT;
}
