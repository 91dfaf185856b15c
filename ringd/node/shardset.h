/*
 * shardset: ringd's glue for logical shards (--shards S; libring's shards.h). With S set, a
 * key is placed by its shard's placement key instead of itself, everywhere a key is looked
 * up (lookup, lookup_n, the admin lookup, the proxy), and the node keeps the set of shards
 * it owns: recomputed after each ring or group-map rebuild, answered by owned_shards(), and
 * announced to watchers as a shards_changed notification when it changes. Without --shards
 * nothing here does anything.
 */
#ifndef RINGD_SHARDSET_H
#define RINGD_SHARDSET_H

#include "daemon.h"
#include "ring/shards.h"

/* A key as the ring places it. */
struct ringd_placed {
    const void *key;
    size_t len;
    uint32_t shard; /* UINT32_MAX without --shards */
    char buf[SHARDS_KEY_BYTES_MAX + 1];
};

/* Fills |*p| for |key|: its shard's placement key with --shards, else |key| itself. */
static inline void ringd_place(const struct ringd *d, const void *key, size_t len,
                               struct ringd_placed *p)
{
    if (d->cfg.shards == 0) {
        p->key = key;
        p->len = len;
        p->shard = UINT32_MAX;
        return;
    }
    p->shard = shards_of(key, len, d->cfg.shards);
    p->len = shards_key(p->shard, p->buf);
    p->key = p->buf;
}

/* Recomputes the owned set from the current ring (and group map); logs and notifies the
 * watchers when it changed. */
void ringd_shards_refresh(struct ringd *d);
void ringd_shards_free(struct ringd *d);

#endif
