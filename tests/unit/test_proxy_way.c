/*
 * The proxy's routing decision (ringd/proxy/way.h): every combination of what the view says
 * of a key and of the request, against the way a request must go.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>

#include "way.h"

#define HOPS_MAX 2

static enum px_way decide(int rv, int in_ring, int self, int restarting, int holding, int peer,
                          uint32_t hops)
{
    struct px_way_facts f = { rv, in_ring, self, restarting, holding, peer, hops, HOPS_MAX };
    return px_way_decide(&f);
}

Test(proxy_way, a_key_nobody_can_own_waits_or_is_refused)
{
    /* not joined, or no contact of the key's group: wait for a change, whatever else */
    cr_assert(eq(int, decide(-EAGAIN, 0, 0, 0, 0, 0, 0), PX_WAY_WAIT_JOIN));
    cr_assert(eq(int, decide(-EAGAIN, 1, 1, 1, 1, 1, 9), PX_WAY_WAIT_JOIN));
    /* an empty ring, or any other routing failure */
    cr_assert(eq(int, decide(-ENODATA, 0, 0, 0, 0, 0, 0), PX_WAY_NO_OWNER));
    cr_assert(eq(int, decide(-ENOMEM, 1, 1, 0, 0, 1, 0), PX_WAY_NO_OWNER));
}

Test(proxy_way, this_nodes_keys_go_to_its_app_and_others_are_forwarded)
{
    cr_assert(eq(int, decide(0, 1, 1, 0, 0, 0, 0), PX_WAY_APP));
    cr_assert(eq(int, decide(0, 1, 0, 0, 0, 0, 0), PX_WAY_FORWARD));
    cr_assert(eq(int, decide(0, 0, 0, 0, 0, 0, 0), PX_WAY_CONTACT));
    /* a request forwarded here for a key this node owns is served, even on the last hop */
    cr_assert(eq(int, decide(0, 1, 1, 0, 0, 1, HOPS_MAX), PX_WAY_APP));
}

Test(proxy_way, the_hop_limit_stops_only_requests_that_would_leave_again)
{
    cr_assert(eq(int, decide(0, 1, 0, 0, 0, 1, HOPS_MAX - 1), PX_WAY_FORWARD));
    cr_assert(eq(int, decide(0, 1, 0, 0, 0, 1, HOPS_MAX), PX_WAY_HOP_LIMIT));
    cr_assert(eq(int, decide(0, 0, 0, 0, 0, 1, HOPS_MAX), PX_WAY_HOP_LIMIT));
    cr_assert(eq(int, decide(0, 0, 0, 0, 0, 1, UINT32_MAX), PX_WAY_HOP_LIMIT));
    /* an app's own request has made no hop, whatever the field says */
    cr_assert(eq(int, decide(0, 1, 0, 0, 0, 0, UINT32_MAX), PX_WAY_FORWARD));
}

Test(proxy_way, a_restarting_owner_keeps_its_keys)
{
    /* another node restarting: its keys wait for it, from an app or a peer, hops or not */
    cr_assert(eq(int, decide(0, 1, 0, 1, 0, 0, 0), PX_WAY_WAIT_RESTART));
    cr_assert(eq(int, decide(0, 1, 0, 1, 0, 1, HOPS_MAX), PX_WAY_WAIT_RESTART));
    /* this node announced its restart but still runs: it serves until it stops */
    cr_assert(eq(int, decide(0, 1, 1, 1, 0, 0, 0), PX_WAY_APP));
    /* this node is back and holds its keys until its app passes: they wait here too */
    cr_assert(eq(int, decide(0, 1, 1, 1, 1, 0, 0), PX_WAY_WAIT_RESTART));
    /* holding its own keys says nothing of another owner's that is not restarting */
    cr_assert(eq(int, decide(0, 1, 0, 0, 1, 0, 0), PX_WAY_FORWARD));
    /* a contact is never held for a restart: the flag belongs to this ring's members */
    cr_assert(eq(int, decide(0, 0, 0, 1, 1, 0, 0), PX_WAY_CONTACT));
}
