/*
 * groups_swim: the one way a node drives its groups beside its swim, so ringd and ringsim
 * run the same steps in the same order (groups.h says why the order matters).
 *
 * A node alone in its group's membership (its join seeds may all be of other groups, whose
 * memberships ignore it) first joins its group through the contacts the summaries name
 * (groups_own_seeds(), which also paces the retries); only then does groups_tick() look at
 * swim's table, so a lone node does not author a summary of a group of one over the one
 * that names the rest of its group.
 */
#include "ring/groups.h"
#include "ring/swim.h"

int groups_drive(struct groups *g, struct swim *s, uint64_t now_ms)
{
    struct ring_addr seeds[CODEC_CONTACTS_MAX];
    size_t own = groups_own_seeds(g, swim_members(s), now_ms, seeds);
    if (own > 0) {
        /* A join that cannot start now (no memory) is tried again after the retry delay. */
        (void)swim_join(s, seeds, own, now_ms);
    }
    return groups_tick(g, swim_members(s), swim_ring_checksum(s), now_ms);
}
