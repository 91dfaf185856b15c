/*
 * api_groups: the local API's sub-sharding answers (--group): groups() lists the groups this
 * node knows: size, ring checksum, version and contacts (with the ones that failed from here
 * marked). lookup's group routing is route.c's, as for every consumer.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "subshard.h"

static void pack_addr(msgpack_packer *pk, const struct ring_addr *a)
{
    char addr[RING_ADDR_STRLEN];
    ringd_addr_str(a, addr);
    api_pack_str(pk, "address");
    api_pack_str(pk, addr);
}

static void pack_summary(struct ringd *d, msgpack_packer *pk, size_t idx)
{
    struct codec_summary s;
    groups_get(d->groups, idx, &s);
    uint32_t failed = groups_failed_contacts(d->groups, idx);
    msgpack_pack_map(pk, 6);
    api_pack_str(pk, "name");
    msgpack_pack_str_with_body(pk, s.name, s.name_len);
    api_pack_str(pk, "local");
    s.name_len == d->cfg.group_len &&memcmp(s.name, d->cfg.group, s.name_len) == 0
        ? msgpack_pack_true(pk)
        : msgpack_pack_false(pk);
    api_pack_str(pk, "size");
    msgpack_pack_uint32(pk, s.size);
    api_pack_str(pk, "ring_checksum");
    msgpack_pack_uint64(pk, s.ring_checksum);
    api_pack_str(pk, "version");
    msgpack_pack_uint64(pk, s.version);
    api_pack_str(pk, "contacts");
    msgpack_pack_array(pk, s.contact_count);
    for (uint8_t c = 0; c < s.contact_count; c++) {
        msgpack_pack_map(pk, 3);
        api_pack_str(pk, "id");
        msgpack_pack_str_with_body(pk, s.contacts[c].id, s.contacts[c].id_len);
        pack_addr(pk, &s.contacts[c].addr);
        api_pack_str(pk, "failed");
        (failed >> c) & 1 ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    }
}

int ringd_api_groups(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk)
{
    if (!ringd_groups_on(d)) {
        return UV_ENOENT;
    }
    size_t n = groups_count(d->groups);
    rpc_pack_result_begin(pk, m->msgid);
    msgpack_pack_map(pk, 3);
    api_pack_str(pk, "group");
    msgpack_pack_str_with_body(pk, d->cfg.group, d->cfg.group_len);
    api_pack_str(pk, "ready");
    groups_ready(d->groups) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    api_pack_str(pk, "groups");
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        pack_summary(d, pk, i);
    }
    return 0;
}

void ringd_api_pack_groups_stats(struct ringd *d, msgpack_packer *pk)
{
    const struct groups_stats *st = groups_stats(d->groups);
    const struct {
        const char *name;
        uint64_t v;
    } f[] = {
        { "known", groups_count(d->groups) },
        { "exchanges", st->exchanges },
        { "exchange_timeouts", st->exchange_timeouts },
        { "authored", st->authored },
        { "merged", st->merged },
        { "msgs_in", st->msgs_in },
        { "msgs_out", st->msgs_out },
        { "bytes_in", st->bytes_in },
        { "bytes_out", st->bytes_out },
        { "decode_errors", st->decode_errors },
        { "msgs_dropped", st->msgs_dropped },
    };
    msgpack_pack_map(pk, sizeof(f) / sizeof(f[0]));
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        api_pack_str(pk, f[i].name);
        msgpack_pack_uint64(pk, f[i].v);
    }
}
