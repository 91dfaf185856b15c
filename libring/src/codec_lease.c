/*
 * codec_lease: the three datagrams of exclusive shard leases (lease request, ack and release,
 * proto/PROTOCOL.md section 14), by the same rules as every other message: ascending integer
 * keys, exact sizes computed without a trial encode, a strict bounded reader that skips
 * unknown keys and never allocates.
 *
 * A lease message is a small header (round and part, sender id, and in a request the lease
 * asked for) and an array of entries, each a fixed array [shard, epoch, extra] of three
 * unsigned integers: a renewing node names every shard it holds in one message, so entries
 * are as short as msgpack allows (4 to 14 bytes). Depths: envelope 1, body 2, entries array 3,
 * an entry 4.
 */
#include <string.h>

#include <msgpack.h>

#include "ring/codec.h"
#include "ring/error.h"
#include "codec_int.h"
#include "mpread.h"

#define DEPTH_BODY    2
#define ENTRY_ITEMS   3
#define LEASE_COMMON  (KEY_BIT(KEY_SEQ) | KEY_BIT(KEY_FROM) | KEY_BIT(KEY_ENTRIES))
#define LEASE_REQUEST (LEASE_COMMON | KEY_BIT(KEY_LEASE_MS))

int codec_is_lease_type(int type)
{
    return type == CODEC_LEASE_REQ || type == CODEC_LEASE_ACK || type == CODEC_LEASE_RELEASE;
}

static uint32_t lease_keys(int type)
{
    return type == CODEC_LEASE_REQ ? LEASE_REQUEST : LEASE_COMMON;
}

/* ---- sizes ---- */

size_t codec_lease_entry_size(const struct codec_lease_entry *e)
{
    return 1 + codec__uint_size(e->shard) + codec__uint_size(e->epoch) + codec__uint_size(e->extra);
}

size_t codec_lease_header_size(const struct codec_lease *m)
{
    uint32_t keys = lease_keys(m->type);
    size_t n = 1 + codec__uint_size(CODEC_VERSION) + codec__uint_size(m->type);
    n += codec__container_size(codec__popcount(keys)) + codec__popcount(keys);
    n += codec__uint_size(m->seq) + codec__str_size(m->from_len);
    n += m->type == CODEC_LEASE_REQ ? codec__uint_size(m->lease_ms) : 0;
    return n + codec__container_size(m->entry_count);
}

/* ---- the rules both directions check ---- */

static int entry_ok(int type, const struct codec_lease_entry *e)
{
    if (e->shard > CODEC_LEASE_SHARD_MAX) {
        return 0;
    }
    switch (type) {
    case CODEC_LEASE_REQ:
        return e->epoch > 0;
    case CODEC_LEASE_ACK:
        return e->extra <= CODEC_LEASE_RESULT_MAX;
    default:
        return e->epoch > 0 && e->extra <= CODEC_LEASE_RELEASE_FLAGS_MAX;
    }
}

static int header_ok(const struct codec_lease *m)
{
    return codec_is_lease_type(m->type) && codec__id_ok(m->from, m->from_len, 0) &&
           m->entry_count <= CODEC_LEASE_ENTRIES_MAX &&
           (m->type != CODEC_LEASE_REQ || (m->lease_ms > 0 && m->lease_ms <= CODEC_LEASE_MS_MAX));
}

/* ---- encoding ---- */

static void pack_lease(msgpack_packer *pk, const struct codec_lease *m)
{
    uint32_t keys = lease_keys(m->type);
    codec__pack_envelope(pk, m->type, codec__popcount(keys));
    msgpack_pack_uint8(pk, KEY_SEQ);
    msgpack_pack_uint32(pk, m->seq);
    msgpack_pack_uint8(pk, KEY_FROM);
    codec__pack_str(pk, m->from, m->from_len);
    if (m->type == CODEC_LEASE_REQ) {
        msgpack_pack_uint8(pk, KEY_LEASE_MS);
        msgpack_pack_uint32(pk, m->lease_ms);
    }
    msgpack_pack_uint8(pk, KEY_ENTRIES);
    msgpack_pack_array(pk, m->entry_count);
    for (int i = 0; i < m->entry_count; i++) {
        const struct codec_lease_entry *e = &m->entries[i];
        msgpack_pack_array(pk, ENTRY_ITEMS);
        msgpack_pack_uint32(pk, e->shard);
        msgpack_pack_uint64(pk, e->epoch);
        msgpack_pack_uint64(pk, e->extra);
    }
}

ssize_t codec_encode_lease(uint8_t *buf, size_t cap, const struct codec_lease *m)
{
    if (!header_ok(m)) {
        return RING_EINVAL;
    }
    size_t size = codec_lease_header_size(m);
    for (int i = 0; i < m->entry_count; i++) {
        if (!entry_ok(m->type, &m->entries[i])) {
            return RING_EINVAL;
        }
        size += codec_lease_entry_size(&m->entries[i]);
    }
    if (size > cap) {
        return RING_EMSGSIZE;
    }
    struct sink s = { buf, cap, 0, 0 };
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, codec__sink_write);
    pack_lease(&pk, m);
    RING_ASSERT(!s.overflow && s.len == size);
    return (ssize_t)s.len;
}

/* ---- decoding ---- */

static int read_entry(struct mpread__cur *r, int type, struct codec_lease_entry *e)
{
    size_t n;
    uint64_t shard = 0;
    int rv = mpread__array(r, ENTRY_ITEMS, &n);
    if (rv == 0 && n != ENTRY_ITEMS) {
        rv = RING_EPROTO;
    }
    if (rv == 0) {
        rv = mpread__uint_max(r, CODEC_LEASE_SHARD_MAX, &shard);
    }
    if (rv == 0) {
        rv = mpread__uint(r, &e->epoch);
    }
    if (rv == 0) {
        rv = mpread__uint(r, &e->extra);
    }
    e->shard = (uint32_t)shard;
    if (rv == 0 && !entry_ok(type, e)) {
        rv = RING_EPROTO;
    }
    return rv;
}

static int read_entries(struct mpread__cur *r, struct codec_lease *out)
{
    size_t n;
    int rv = mpread__array(r, CODEC_LEASE_ENTRIES_MAX, &n);
    for (size_t i = 0; i < n && rv == 0; i++) {
        rv = read_entry(r, out->type, &out->entries[i]);
    }
    out->entry_count = (uint16_t)n;
    return rv;
}

static int read_lease_field(struct mpread__cur *r, uint64_t key, struct codec_lease *out)
{
    uint64_t v = 0;
    int rv;
    switch (key) {
    case KEY_SEQ:
        rv = mpread__uint_max(r, UINT32_MAX, &v);
        out->seq = (uint32_t)v;
        return rv;
    case KEY_FROM:
        return codec__read_text(r, MEMBER_TEXT_ID, out->from, &out->from_len);
    case KEY_LEASE_MS:
        rv = mpread__uint_max(r, CODEC_LEASE_MS_MAX, &v);
        out->lease_ms = (uint32_t)v;
        return rv == 0 && v == 0 ? RING_EPROTO : rv;
    default:
        return read_entries(r, out);
    }
}

int codec_decode_lease(const uint8_t *buf, size_t len, struct codec_lease *out)
{
    struct mpread__cur r;
    int type;
    mpread__init(&r, buf, len);
    memset(out, 0, offsetof(struct codec_lease, entries));
    int rv = codec__read_envelope(&r, &type);
    if (rv != 0) {
        return rv;
    }
    if (!codec_is_lease_type(type)) {
        return RING_EPROTO;
    }
    out->type = (uint8_t)type;
    uint32_t known = lease_keys(type);
    uint32_t seen = 0;
    size_t n;
    rv = mpread__map(&r, CODEC_MAP_KEYS_MAX, &n);
    for (size_t i = 0; i < n && rv == 0; i++) {
        uint64_t key;
        rv = codec__read_key(&r, known, &seen, &key);
        if (rv == 0) {
            rv = codec__is_known(known, key) ? read_lease_field(&r, key, out)
                                             : codec__skip_unknown(&r, DEPTH_BODY + 1);
        }
    }
    if (rv == 0 && (seen != known || out->from_len == 0 || mpread__remaining(&r) != 0)) {
        rv = RING_EPROTO;
    }
    return rv;
}
