/*
 * view_pack: the view's msgpack forms, shared by whoever serves them: each ring member's
 * lookup answer packed once per rebuild (the local API copies its bytes), and members()'s
 * answer (the local API and the gossip port's peer query).
 */
#include <stdlib.h>
#include <string.h>

#include "ring/error.h"
#include "ring/rpc.h"
#include "view_pack.h"

void view_pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

void view_pack_key_str(msgpack_packer *pk, const char *k, const char *v, size_t len)
{
    view_pack_str(pk, k);
    msgpack_pack_str_with_body(pk, v, len);
}

void view_pack_key_u64(msgpack_packer *pk, const char *k, uint64_t v)
{
    view_pack_str(pk, k);
    msgpack_pack_uint64(pk, v);
}

int ringd_view_pack_owners(struct ringd_ring *r)
{
    size_t n = hashring_member_count(r->ring);
    struct rpc_buf b;
    msgpack_packer pk;
    rpc_buf_init(&b, NULL, 0);
    msgpack_packer_init(&pk, &b, rpc_buf_write);
    r->owner_offs = calloc(n + 1, sizeof(*r->owner_offs));
    for (uint32_t i = 0; i < n && r->owner_offs != NULL; i++) {
        const struct hashring_member *m = hashring_member(r->ring, i);
        char addr[RING_ADDR_STRLEN];
        r->owner_offs[i] = b.len;
        msgpack_pack_map(&pk, 2);
        view_pack_key_str(&pk, "id", m->id, m->id_len);
        ringd_addr_str(&r->addrs[i], addr);
        view_pack_key_str(&pk, "address", addr, strlen(addr));
    }
    if (r->owner_offs == NULL || b.error != 0) {
        rpc_buf_free(&b);
        return UV_ENOMEM;
    }
    r->owner_offs[n] = b.len;
    r->owners = b.data; /* NULL for an empty ring: nothing to look up */
    return 0;
}

static double member_share(const struct ringd *d, const char *id, size_t id_len)
{
    uint32_t idx;
    if (d->ring.ring == NULL || hashring_find(d->ring.ring, id, id_len, &idx) != 0) {
        return 0.0;
    }
    return d->ring.shares[idx];
}

static void pack_member(struct ringd *d, msgpack_packer *pk, const struct member *mb)
{
    char addr[RING_ADDR_STRLEN];
    ringd_addr_str(&mb->addr, addr);
    msgpack_pack_map(pk, 10);
    view_pack_key_str(pk, "id", mb->id, mb->id_len);
    view_pack_key_str(pk, "address", addr, strlen(addr));
    view_pack_str(pk, "status");
    view_pack_str(pk, member_status_name(mb->status));
    view_pack_str(pk, "draining");
    if (mb->flags & MEMBER_FLAG_DRAINING) {
        msgpack_pack_true(pk);
    } else {
        msgpack_pack_false(pk);
    }
    view_pack_str(pk, "restarting");
    if (mb->flags & MEMBER_FLAG_RESTARTING) {
        msgpack_pack_true(pk);
    } else {
        msgpack_pack_false(pk);
    }
    view_pack_key_u64(pk, "incarnation", mb->incarnation);
    view_pack_key_u64(pk, "weight", mb->weight);
    view_pack_key_str(pk, "group", mb->group, mb->group_len);
    view_pack_str(pk, "labels");
    msgpack_pack_map(pk, mb->label_count);
    for (size_t i = 0; i < mb->label_count; i++) {
        view_pack_key_str(pk, mb->labels[i].key, mb->labels[i].value, mb->labels[i].value_len);
    }
    view_pack_str(pk, "share");
    msgpack_pack_double(pk, member_share(d, mb->id, mb->id_len));
}

void ringd_view_pack_members(struct ringd *d, msgpack_packer *pk)
{
    const struct members *t = swim_members(d->swim);
    size_t n = members_count(t);
    msgpack_pack_map(pk, 1);
    view_pack_str(pk, "members");
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        struct member mb;
        members_get(t, i, &mb);
        pack_member(d, pk, &mb);
    }
}
