/* subshard: see subshard.h. */
#include "subshard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "ring/error.h"
#include "shardset.h"

int ringd_groups_start(struct ringd *d)
{
    const struct ringd_config *c = &d->cfg;
    if (c->group_len == 0) {
        return 0;
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    struct groups_config gc = {
        .id = c->id,
        .id_len = c->id_len,
        .addr = d->self,
        .group = c->group,
        .group_len = c->group_len,
        .seed = (uint64_t)wall.tv_nsec * 2654435761u ^ ((uint64_t)getpid() << 20) ^ 0x9e37u,
        .datagram_bytes_max = ringd_encrypting(d) ? 1400 - SEAL_OVERHEAD_BYTES : 0,
    };
    int rv = groups_new(&d->groups, &gc, NULL, uv_now(d->loop));
    if (rv != 0) {
        ringd_log(&d->log, RINGD_LOG_ERROR, "groups_new", "error", ring_strerror(rv), NULL);
        return UV_EINVAL;
    }
    return 0;
}

void ringd_groups_free(struct ringd *d)
{
    groupmap_del(d->gmap);
    d->gmap = NULL;
    groups_del(d->groups);
    d->groups = NULL;
}

int ringd_groups_recv(struct ringd *d, const struct ring_addr *from, const uint8_t *buf, size_t len)
{
    if (d->groups == NULL || !codec_is_groups_type(codec_peek_type(buf, len))) {
        return 0;
    }
    /* decode errors are counted by groups (groups_stats) */
    (void)groups_recv(d->groups, from, buf, len, uv_now(d->loop));
    return 1;
}

/* The set of known groups changed: a new map (the old one serves until it is built). */
static void rebuild_map(struct ringd *d)
{
    if (groups_map_refresh(d->groups, &d->gmap, NULL) != 1) {
        return; /* current, or out of memory: the next pump tries again */
    }
    ringd_shards_refresh(d); /* shards move between groups with the map */
    char n[12];
    snprintf(n, sizeof(n), "%zu", groups_count(d->groups));
    ringd_log(&d->log, RINGD_LOG_INFO, "groups_changed", "groups", n, NULL);
}

void ringd_groups_pump(struct ringd *d, uint64_t now_ms)
{
    if (d->groups == NULL) {
        return;
    }
    (void)groups_drive(d->groups, d->swim, now_ms); /* out of memory: the next pump retries */
    struct ring_addr to;
    ssize_t n;
    while ((n = groups_send_next(d->groups, &to, d->dgram, CODEC_DATAGRAM_BYTES_MAX, now_ms)) > 0) {
        ringd_udp_send(d, &to, d->dgram, (size_t)n);
    }
    rebuild_map(d);
    if (!d->joined && groups_alone_in_group(d->groups)) {
        d->joined = 1; /* the only member of its group: its ring of one is the group's */
    }
}

void ringd_groups_join(struct ringd *d, const struct ring_addr *seeds, size_t n)
{
    if (d->groups != NULL) {
        (void)groups_join(d->groups, seeds, n < GROUPS_SEEDS_MAX ? n : GROUPS_SEEDS_MAX);
    }
}

int ringd_groups_route(struct ringd *d, const void *key, size_t key_len, struct groups_route *out)
{
    if (d->groups == NULL || d->gmap == NULL) {
        return -ENODATA;
    }
    /* d->gmap is built from d->groups' own set (groups_map_refresh()), so it names no group
     * the node lacks: no retry on RING_ENOENT is needed (groups_route()). */
    return ringd_err_from_ring(groups_route(d->groups, d->gmap, d->ring.ring, key, key_len, out));
}
