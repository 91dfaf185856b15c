/*
 * codec_encode: messages to msgpack bytes, and their exact sizes.
 *
 * Encoding goes through msgpack-c's packer with a write callback into the caller's fixed
 * buffer, so it never allocates. The packer always picks the shortest form of each integer,
 * string, bin, array and map header; the size functions below mirror that choice byte for
 * byte, which is what lets swim fill a datagram to its budget without trial encodes. The
 * encoder computes the size first, refuses with RING_EMSGSIZE when it does not fit, and
 * asserts afterwards that the packer wrote exactly that many bytes, so the two can never
 * drift apart silently.
 *
 * Maps are written with ascending keys and only the keys a type carries, so the encoding
 * of a message is unique: decode and re-encode gives the same bytes (the known-answer
 * vectors in proto/vectors/codec rely on it).
 */
#include <string.h>

#include <msgpack.h>

#include "ring/codec.h"
#include "ring/error.h"
#include "codec_int.h"
#include "members_int.h"

int codec__sink_write(void *data, const char *bytes, size_t len)
{
    struct sink *s = data;
    if (s->overflow || len > s->cap - s->len) {
        s->overflow = 1;
        return -1;
    }
    memcpy(s->buf + s->len, bytes, len);
    s->len += len;
    return 0;
}

/* Sizes of msgpack's shortest forms (the msgpack spec, "Formats"). */
size_t codec__uint_size(uint64_t v)
{
    return v < 128 ? 1 : v <= UINT8_MAX ? 2 : v <= UINT16_MAX ? 3 : v <= UINT32_MAX ? 5 : 9;
}

size_t codec__str_size(size_t n)
{
    return n + (n < 32 ? 1 : n <= UINT8_MAX ? 2 : n <= UINT16_MAX ? 3 : 5);
}

size_t codec__bin_size(size_t n)
{
    return n + (n <= UINT8_MAX ? 2 : n <= UINT16_MAX ? 3 : 5);
}

size_t codec__container_size(size_t n)
{
    return n < 16 ? 1 : n <= UINT16_MAX ? 3 : 5;
}

size_t codec__addr_size(const struct ring_addr *a)
{
    return codec__bin_size(a->family == RING_ADDR_V6 ? CODEC_ADDR_V6_BYTES : CODEC_ADDR_V4_BYTES);
}

size_t codec__popcount(uint32_t x)
{
    size_t n = 0;
    for (; x != 0; x &= x - 1) {
        n++;
    }
    return n;
}

/* The member map's keys: the five fixed ones, then group, labels and source if present. */
static size_t member_key_count(const struct member *m, size_t source_len)
{
    return 5 + (m->group_len > 0) + (m->label_count > 0) + (source_len > 0) + (m->flags != 0);
}

static size_t labels_size(const struct member *m)
{
    size_t n = codec__container_size(m->label_count);
    for (int i = 0; i < m->label_count; i++) {
        n += codec__str_size(m->labels[i].key_len) + codec__str_size(m->labels[i].value_len);
    }
    return n;
}

/* Keys are single-byte fixints, so every key costs 1. */
static size_t member_size(const struct member *m, size_t source_len)
{
    size_t keys = member_key_count(m, source_len);
    size_t n = codec__container_size(keys) + keys;
    n += codec__str_size(m->id_len) + codec__addr_size(&m->addr) + codec__uint_size(m->status) +
         codec__uint_size(m->incarnation) + codec__uint_size(m->weight);
    n += m->group_len > 0 ? codec__str_size(m->group_len) : 0;
    n += m->label_count > 0 ? labels_size(m) : 0;
    n += source_len > 0 ? codec__str_size(source_len) : 0;
    n += m->flags != 0 ? codec__uint_size(m->flags) : 0;
    return n;
}

size_t codec_update_size(const struct codec_update *u)
{
    return member_size(&u->m, u->source_len);
}

/* The body keys this message encodes: its type's, and updates only when it has some. */
static uint32_t msg_keys(const struct codec_msg *msg)
{
    uint32_t keys = codec__type_keys(msg->type);
    return msg->update_count > 0 ? keys : keys & ~KEY_BIT(KEY_UPDATES);
}

size_t codec_header_size(const struct codec_msg *msg)
{
    uint32_t keys = msg_keys(msg);
    /* fixarray(3), version, type, map header, one byte per key. */
    size_t n = 1 + codec__uint_size(CODEC_VERSION) + codec__uint_size(msg->type);
    n += codec__container_size(codec__popcount(keys)) + codec__popcount(keys);
    n += codec__uint_size(msg->seq) + codec__str_size(msg->from_len);
    n += keys & KEY_BIT(KEY_TARGET) ? codec__str_size(msg->target_len) : 0;
    n += keys & KEY_BIT(KEY_TARGET_ADDR) ? codec__addr_size(&msg->target_addr) : 0;
    n += keys & KEY_BIT(KEY_CHECKSUM) ? codec__uint_size(msg->checksum) : 0;
    n += keys & KEY_BIT(KEY_UPDATES) ? codec__container_size(msg->update_count) : 0;
    return n;
}

void codec__pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void codec__pack_addr(msgpack_packer *pk, const struct ring_addr *a)
{
    uint8_t b[CODEC_ADDR_V6_BYTES];
    size_t ip_len = a->family == RING_ADDR_V6 ? 16 : 4;
    memcpy(b, a->ip, ip_len);
    b[ip_len] = (uint8_t)(a->port >> 8);
    b[ip_len + 1] = (uint8_t)a->port;
    msgpack_pack_bin(pk, ip_len + 2);
    msgpack_pack_bin_body(pk, b, ip_len + 2);
}

static void pack_labels(msgpack_packer *pk, const struct member *m)
{
    msgpack_pack_map(pk, m->label_count);
    for (int i = 0; i < m->label_count; i++) {
        codec__pack_str(pk, m->labels[i].key, m->labels[i].key_len);
        codec__pack_str(pk, m->labels[i].value, m->labels[i].value_len);
    }
}

static void pack_member(msgpack_packer *pk, const struct member *m, const char *source,
                        size_t source_len)
{
    msgpack_pack_map(pk, member_key_count(m, source_len));
    msgpack_pack_uint8(pk, MKEY_ID);
    codec__pack_str(pk, m->id, m->id_len);
    msgpack_pack_uint8(pk, MKEY_ADDR);
    codec__pack_addr(pk, &m->addr);
    msgpack_pack_uint8(pk, MKEY_STATUS);
    msgpack_pack_uint8(pk, m->status);
    msgpack_pack_uint8(pk, MKEY_INCARNATION);
    msgpack_pack_uint64(pk, m->incarnation);
    msgpack_pack_uint8(pk, MKEY_WEIGHT);
    msgpack_pack_uint16(pk, m->weight);
    if (m->group_len > 0) {
        msgpack_pack_uint8(pk, MKEY_GROUP);
        codec__pack_str(pk, m->group, m->group_len);
    }
    if (m->label_count > 0) {
        msgpack_pack_uint8(pk, MKEY_LABELS);
        pack_labels(pk, m);
    }
    if (source_len > 0) {
        msgpack_pack_uint8(pk, MKEY_SOURCE);
        codec__pack_str(pk, source, source_len);
    }
    if (m->flags != 0) {
        msgpack_pack_uint8(pk, MKEY_FLAGS);
        msgpack_pack_uint8(pk, m->flags);
    }
}

void codec__pack_envelope(msgpack_packer *pk, int type, size_t body_keys)
{
    msgpack_pack_array(pk, 3);
    msgpack_pack_uint8(pk, CODEC_VERSION);
    msgpack_pack_uint8(pk, (uint8_t)type);
    msgpack_pack_map(pk, body_keys);
}

static void pack_msg(msgpack_packer *pk, const struct codec_msg *msg)
{
    uint32_t keys = msg_keys(msg);
    codec__pack_envelope(pk, msg->type, codec__popcount(keys));
    msgpack_pack_uint8(pk, KEY_SEQ);
    msgpack_pack_uint32(pk, msg->seq);
    msgpack_pack_uint8(pk, KEY_FROM);
    codec__pack_str(pk, msg->from, msg->from_len);
    if (keys & KEY_BIT(KEY_TARGET)) {
        msgpack_pack_uint8(pk, KEY_TARGET);
        codec__pack_str(pk, msg->target, msg->target_len);
    }
    if (keys & KEY_BIT(KEY_TARGET_ADDR)) {
        msgpack_pack_uint8(pk, KEY_TARGET_ADDR);
        codec__pack_addr(pk, &msg->target_addr);
    }
    if (keys & KEY_BIT(KEY_CHECKSUM)) {
        msgpack_pack_uint8(pk, KEY_CHECKSUM);
        msgpack_pack_uint64(pk, msg->checksum);
    }
    if (keys & KEY_BIT(KEY_UPDATES)) {
        msgpack_pack_uint8(pk, KEY_UPDATES);
        msgpack_pack_array(pk, msg->update_count);
        for (int i = 0; i < msg->update_count; i++) {
            const struct codec_update *u = &msg->updates[i];
            pack_member(pk, &u->m, u->source, u->source_len);
        }
    }
}

/* An id field: a MEMBER_TEXT_ID, or empty when |may_be_empty|. */
int codec__id_ok(const char *s, size_t len, int may_be_empty)
{
    return (len == 0 && may_be_empty) || member_text_check(MEMBER_TEXT_ID, s, len, NULL) == 0;
}

int codec__addr_ok(const struct ring_addr *a)
{
    return a->family == RING_ADDR_V4 || a->family == RING_ADDR_V6;
}

static int msg_ok(const struct codec_msg *msg)
{
    if (!codec__is_msg_type(msg->type) || !codec__id_ok(msg->from, msg->from_len, 0) ||
        msg->update_count > CODEC_UPDATES_MAX) {
        return 0;
    }
    int is_req = msg->type == CODEC_PING_REQ;
    if (!codec__id_ok(msg->target, msg->target_len, !is_req) ||
        (is_req && !codec__addr_ok(&msg->target_addr))) {
        return 0;
    }
    for (int i = 0; i < msg->update_count; i++) {
        const struct codec_update *u = &msg->updates[i];
        if (member_validate(&u->m) != 0 || !codec__id_ok(u->source, u->source_len, 1)) {
            return 0;
        }
    }
    return 1;
}

ssize_t codec_encode(uint8_t *buf, size_t cap, const struct codec_msg *msg)
{
    if (!msg_ok(msg)) {
        return RING_EINVAL;
    }
    size_t size = codec_header_size(msg);
    for (int i = 0; i < msg->update_count; i++) {
        size += codec_update_size(&msg->updates[i]);
    }
    if (size > cap) {
        return RING_EMSGSIZE;
    }
    struct sink s = { buf, cap, 0, 0 };
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, codec__sink_write);
    pack_msg(&pk, msg);
    RING_ASSERT(!s.overflow && s.len == size);
    return (ssize_t)s.len;
}

static void pack_sync(msgpack_packer *pk, const struct codec_sync *hdr, const struct members *t)
{
    codec__pack_envelope(pk, hdr->type, 4 + (hdr->has_have != 0));
    msgpack_pack_uint8(pk, KEY_FROM);
    codec__pack_str(pk, hdr->from, hdr->from_len);
    msgpack_pack_uint8(pk, KEY_CHECKSUM);
    msgpack_pack_uint64(pk, hdr->checksum);
    msgpack_pack_uint8(pk, KEY_JOIN);
    if (hdr->join) {
        msgpack_pack_true(pk);
    } else {
        msgpack_pack_false(pk);
    }
    msgpack_pack_uint8(pk, KEY_MEMBERS);
    size_t n = members_count(t);
    msgpack_pack_array(pk, n);
    struct member m;
    for (size_t i = 0; i < n; i++) {
        members__get_fields(t, i, &m);
        pack_member(pk, &m, NULL, 0);
    }
    if (hdr->has_have) {
        msgpack_pack_uint8(pk, KEY_HAVE);
        msgpack_pack_bin(pk, 4 * (size_t)hdr->have_count);
        if (hdr->have_count > 0) {
            msgpack_pack_bin_body(pk, hdr->have, 4 * (size_t)hdr->have_count);
        }
    }
}

/* A have the decoder would take: within its limit, and ascending. */
static int have_ok(const struct codec_sync *hdr)
{
    if (!hdr->has_have) {
        return 1;
    }
    if (hdr->type != CODEC_SYNC || hdr->have_count > CODEC_HAVE_BYTES_MAX / 4 ||
        (hdr->have == NULL && hdr->have_count > 0)) {
        return 0;
    }
    for (size_t i = 1; i < hdr->have_count; i++) {
        if (memcmp(hdr->have + 4 * (i - 1), hdr->have + 4 * i, 4) > 0) {
            return 0;
        }
    }
    return 1;
}

size_t codec_sync_size(const struct codec_sync *hdr, const struct members *t)
{
    /* fixarray(3), version, type, fixmap(4), four one-byte keys, join (a bool). */
    size_t n = 1 + codec__uint_size(CODEC_VERSION) + codec__uint_size(hdr->type) + 1 + 4 + 1;
    n += codec__str_size(hdr->from_len) + codec__uint_size(hdr->checksum);
    n += codec__container_size(members_count(t));
    n += hdr->has_have ? 1 + codec__bin_size(4 * (size_t)hdr->have_count) : 0;
    struct member m;
    for (size_t i = 0; i < members_count(t); i++) {
        members__get_fields(t, i, &m);
        n += member_size(&m, 0);
    }
    return n;
}

/* Packs straight away rather than sizing first: a sync is one pass over the table, and the
 * sink's overflow flag detects a buffer that is too small just as well. */
ssize_t codec_encode_sync(uint8_t *buf, size_t cap, const struct codec_sync *hdr,
                          const struct members *t)
{
    if (!codec__is_sync_type(hdr->type) || !codec__id_ok(hdr->from, hdr->from_len, 0) ||
        hdr->join > 1 || !have_ok(hdr)) {
        return RING_EINVAL;
    }
    struct sink s = { buf, cap, 0, 0 };
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, codec__sink_write);
    pack_sync(&pk, hdr, t);
    return s.overflow ? RING_EMSGSIZE : (ssize_t)s.len;
}
