/*
 * view_pack: the published view's msgpack forms (view_pack.c).
 */
#ifndef RINGD_VIEW_PACK_H
#define RINGD_VIEW_PACK_H

#include <msgpack.h>

#include "daemon.h"

void view_pack_str(msgpack_packer *pk, const char *s);
void view_pack_key_str(msgpack_packer *pk, const char *k, const char *v, size_t len);
void view_pack_key_u64(msgpack_packer *pk, const char *k, uint64_t v);

/* Packs every ring member's lookup answer, the map {"id", "address"}, into r->owners (with
 * r->owner_offs). Returns 0 or UV_ENOMEM. */
int ringd_view_pack_owners(struct ringd_ring *r);

/* members()'s answer, {"members": [{id, address, status, incarnation, weight, group, labels,
 * share}]}: the local API's members() and the gossip port's peer query of that name. */
void ringd_view_pack_members(struct ringd *d, msgpack_packer *pk);

#endif
