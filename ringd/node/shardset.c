/* shardset: the shards this node owns, kept current (see shardset.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ring/error.h"
#include "shardset.h"

/* The shards the current ring gives this node into |out| (room for cfg.shards): none while
 * it is not on the ring or, sub-sharded, before the group map exists. */
static size_t owned_now(struct ringd *d, uint32_t *out)
{
    const struct hashring *r = d->ring.ring;
    uint32_t idx;
    if (r == NULL || hashring_find(r, d->cfg.id, d->cfg.id_len, &idx) != 0) {
        return 0;
    }
    const struct groupmap *map = NULL;
    uint32_t group = 0;
    if (d->groups != NULL) {
        int g = d->gmap != NULL ? groupmap_find(d->gmap, d->cfg.group, d->cfg.group_len) : -1;
        if (g < 0) {
            return 0;
        }
        map = d->gmap;
        group = (uint32_t)g;
    }
    ssize_t n = shards_owned(r, idx, map, group, d->cfg.shards, out);
    return n > 0 ? (size_t)n : 0;
}

void ringd_shards_refresh(struct ringd *d)
{
    if (d->cfg.shards == 0) {
        return;
    }
    uint32_t *fresh = malloc(d->cfg.shards * sizeof(*fresh));
    if (fresh == NULL) {
        return; /* the old set stands until the next rebuild */
    }
    size_t n = owned_now(d, fresh);
    if (d->shards_owned != NULL && n == d->shards_owned_count &&
        memcmp(fresh, d->shards_owned, n * sizeof(*fresh)) == 0) {
        free(fresh);
        return;
    }
    uint32_t *old = d->shards_owned;
    size_t old_n = d->shards_owned_count;
    d->shards_owned = fresh;
    d->shards_owned_count = n;
    d->m.shard_changes += old != NULL;
    char owned[24], total[12];
    snprintf(owned, sizeof(owned), "%zu", n);
    snprintf(total, sizeof(total), "%u", d->cfg.shards);
    ringd_log(&d->log, RINGD_LOG_INFO, "shards_changed", "owned", owned, "shards", total, NULL);
    for (size_t i = 0; i < d->sub_count; i++) {
        if (d->subs[i].cbs.shards_changed != NULL) {
            d->subs[i].cbs.shards_changed(d->subs[i].ctx, old, old_n);
        }
    }
    free(old);
}

void ringd_shards_free(struct ringd *d)
{
    free(d->shards_owned);
    d->shards_owned = NULL;
    d->shards_owned_count = 0;
}
