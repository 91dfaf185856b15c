/*
 * way: where the proxy sends a request, decided from what the node's view says of its key
 * (route.h) and from the request itself. It is the proxy's one routing decision, kept apart
 * from the event loop so that unit tests walk every case.
 */
#ifndef RINGD_PROXY_WAY_H
#define RINGD_PROXY_WAY_H

#include <stdint.h>

enum px_way {
    PX_WAY_WAIT_JOIN,    /* not joined yet, or no usable contact of the key's group: wait */
    PX_WAY_NO_OWNER,     /* the ring is empty: 503 no_owner */
    PX_WAY_WAIT_RESTART, /* the owner is restarting (--delayed-rebalance), or this node is back
                            and holds its keys for its app: wait for it */
    PX_WAY_APP,          /* this node owns the key: its app (through the lease, --exclusive) */
    PX_WAY_FORWARD,      /* another member of this node's ring owns it */
    PX_WAY_CONTACT,      /* another group's key (--group): to a contact of that group */
    PX_WAY_HOP_LIMIT,    /* forwarded here, owned elsewhere, no hop left: 503 hop_limit */
};

/* What the decision looks at. */
struct px_way_facts {
    int route_rv;         /* ringd_route()'s result: 0, UV_EAGAIN, or another failure */
    int in_ring;          /* the route names an owner in this node's ring (not a contact) */
    int owner_is_self;    /* ... and that owner is this node */
    int owner_restarting; /* ... and the view marks it restarting */
    int holding_own_keys; /* this node started again and holds its keys until its app passes */
    int from_peer;        /* the request came from another node's proxy */
    uint32_t hops;        /* ... on this hop */
    uint32_t hops_max;    /* the hops a request may make */
};

enum px_way px_way_decide(const struct px_way_facts *f);

#endif
