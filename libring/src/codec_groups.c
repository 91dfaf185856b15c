/*
 * codec_groups: the three datagrams of the cross-group exchange (group syn, ack and push,
 * proto/PROTOCOL.md section 12), encoded and decoded by the same rules as every other
 * message: ascending integer keys, exact sizes computed without a trial encode, a strict
 * bounded reader that skips unknown keys and never allocates.
 *
 * A group message is a header (sender id and group, the digest of its summary table, how many
 * groups it knows, optionally 64 bucket digests) and a list of group summaries, each with a
 * few contacts. Depths: envelope 1, body 2, summaries array 3, a summary map 4, its contacts
 * array 5, a contact map 6 (under CODEC_DEPTH_MAX).
 */
#include <string.h>

#include <msgpack.h>

#include "ring/codec.h"
#include "ring/error.h"
#include "codec_int.h"
#include "mpread.h"

#define DEPTH_BODY    2
#define DEPTH_SUMMARY 4
#define DEPTH_CONTACT 6

#define GROUP_REQUIRED                                                                             \
    (KEY_BIT(KEY_SEQ) | KEY_BIT(KEY_FROM) | KEY_BIT(KEY_GROUP) | KEY_BIT(KEY_DIGEST) |             \
     KEY_BIT(KEY_GROUP_COUNT))
#define SUMMARY_REQUIRED                                                                           \
    (KEY_BIT(SKEY_NAME) | KEY_BIT(SKEY_VERSION) | KEY_BIT(SKEY_SIZE) | KEY_BIT(SKEY_RING_CHECKSUM))
#define CONTACT_REQUIRED (KEY_BIT(CKEY_ID) | KEY_BIT(CKEY_ADDR))

int codec_is_groups_type(int type)
{
    return type == CODEC_GROUP_SYN || type == CODEC_GROUP_ACK || type == CODEC_GROUP_PUSH;
}

/* ---- sizes ---- */

static size_t contact_size(const struct codec_contact *c)
{
    return 1 + 2 + codec__str_size(c->id_len) + codec__addr_size(&c->addr);
}

size_t codec_summary_size(const struct codec_summary *s)
{
    size_t keys = 4 + (s->contact_count > 0);
    size_t n = codec__container_size(keys) + keys;
    n += codec__str_size(s->name_len) + codec__uint_size(s->version) + codec__uint_size(s->size) +
         codec__uint_size(s->ring_checksum);
    if (s->contact_count > 0) {
        n += codec__container_size(s->contact_count);
        for (int i = 0; i < s->contact_count; i++) {
            n += contact_size(&s->contacts[i]);
        }
    }
    return n;
}

static uint32_t groups_keys(const struct codec_groups *m)
{
    return GROUP_REQUIRED | (m->has_buckets ? KEY_BIT(KEY_BUCKETS) : 0) |
           (m->summary_count > 0 ? KEY_BIT(KEY_SUMMARIES) : 0);
}

size_t codec_groups_header_size(const struct codec_groups *m)
{
    uint32_t keys = groups_keys(m);
    size_t n = 1 + codec__uint_size(CODEC_VERSION) + codec__uint_size(m->type);
    n += codec__container_size(codec__popcount(keys)) + codec__popcount(keys);
    n += codec__uint_size(m->seq) + codec__str_size(m->from_len) + codec__str_size(m->group_len);
    n += codec__uint_size(m->digest) + codec__uint_size(m->group_count);
    n += m->has_buckets ? codec__bin_size(CODEC_BUCKETS_BYTES) : 0;
    n += m->summary_count > 0 ? codec__container_size(m->summary_count) : 0;
    return n;
}

/* ---- encoding ---- */

static void pack_summary(msgpack_packer *pk, const struct codec_summary *s)
{
    msgpack_pack_map(pk, 4 + (s->contact_count > 0));
    msgpack_pack_uint8(pk, SKEY_NAME);
    codec__pack_str(pk, s->name, s->name_len);
    msgpack_pack_uint8(pk, SKEY_VERSION);
    msgpack_pack_uint64(pk, s->version);
    msgpack_pack_uint8(pk, SKEY_SIZE);
    msgpack_pack_uint32(pk, s->size);
    msgpack_pack_uint8(pk, SKEY_RING_CHECKSUM);
    msgpack_pack_uint64(pk, s->ring_checksum);
    if (s->contact_count == 0) {
        return;
    }
    msgpack_pack_uint8(pk, SKEY_CONTACTS);
    msgpack_pack_array(pk, s->contact_count);
    for (int i = 0; i < s->contact_count; i++) {
        msgpack_pack_map(pk, 2);
        msgpack_pack_uint8(pk, CKEY_ID);
        codec__pack_str(pk, s->contacts[i].id, s->contacts[i].id_len);
        msgpack_pack_uint8(pk, CKEY_ADDR);
        codec__pack_addr(pk, &s->contacts[i].addr);
    }
}

static void pack_buckets(msgpack_packer *pk, const uint16_t *buckets)
{
    uint8_t b[CODEC_BUCKETS_BYTES];
    for (int i = 0; i < CODEC_GROUP_BUCKETS; i++) {
        b[2 * i] = (uint8_t)(buckets[i] >> 8);
        b[2 * i + 1] = (uint8_t)buckets[i];
    }
    msgpack_pack_bin(pk, sizeof(b));
    msgpack_pack_bin_body(pk, b, sizeof(b));
}

static void pack_groups(msgpack_packer *pk, const struct codec_groups *m)
{
    uint32_t keys = groups_keys(m);
    codec__pack_envelope(pk, m->type, codec__popcount(keys));
    msgpack_pack_uint8(pk, KEY_SEQ);
    msgpack_pack_uint32(pk, m->seq);
    msgpack_pack_uint8(pk, KEY_FROM);
    codec__pack_str(pk, m->from, m->from_len);
    msgpack_pack_uint8(pk, KEY_GROUP);
    codec__pack_str(pk, m->group, m->group_len);
    msgpack_pack_uint8(pk, KEY_DIGEST);
    msgpack_pack_uint64(pk, m->digest);
    msgpack_pack_uint8(pk, KEY_GROUP_COUNT);
    msgpack_pack_uint32(pk, m->group_count);
    if (m->has_buckets) {
        msgpack_pack_uint8(pk, KEY_BUCKETS);
        pack_buckets(pk, m->buckets);
    }
    if (m->summary_count > 0) {
        msgpack_pack_uint8(pk, KEY_SUMMARIES);
        msgpack_pack_array(pk, m->summary_count);
        for (int i = 0; i < m->summary_count; i++) {
            pack_summary(pk, &m->summaries[i]);
        }
    }
}

/* A group name: a non-empty MEMBER_TEXT_GROUP. */
static int name_ok(const char *s, size_t len)
{
    return len > 0 && member_text_check(MEMBER_TEXT_GROUP, s, len, NULL) == 0;
}

static int summary_ok(const struct codec_summary *s)
{
    if (!name_ok(s->name, s->name_len) || s->contact_count > CODEC_CONTACTS_MAX) {
        return 0;
    }
    for (int i = 0; i < s->contact_count; i++) {
        const struct codec_contact *c = &s->contacts[i];
        if (!codec__id_ok(c->id, c->id_len, 0) || !codec__addr_ok(&c->addr)) {
            return 0;
        }
    }
    return 1;
}

static int groups_ok(const struct codec_groups *m)
{
    if (!codec_is_groups_type(m->type) || !codec__id_ok(m->from, m->from_len, 0) ||
        !name_ok(m->group, m->group_len) || m->has_buckets > 1 ||
        m->summary_count > CODEC_SUMMARIES_MAX) {
        return 0;
    }
    for (int i = 0; i < m->summary_count; i++) {
        if (!summary_ok(&m->summaries[i])) {
            return 0;
        }
    }
    return 1;
}

ssize_t codec_encode_groups(uint8_t *buf, size_t cap, const struct codec_groups *m)
{
    if (!groups_ok(m)) {
        return RING_EINVAL;
    }
    size_t size = codec_groups_header_size(m);
    for (int i = 0; i < m->summary_count; i++) {
        size += codec_summary_size(&m->summaries[i]);
    }
    if (size > cap) {
        return RING_EMSGSIZE;
    }
    struct sink s = { buf, cap, 0, 0 };
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, codec__sink_write);
    pack_groups(&pk, m);
    RING_ASSERT(!s.overflow && s.len == size);
    return (ssize_t)s.len;
}

/* ---- decoding ---- */

/* A group name: non-empty (read_text already refused excluded bytes and overlong ones). */
static int read_name(struct mpread__cur *r, char *dst, uint8_t *dst_len)
{
    int rv = codec__read_text(r, MEMBER_TEXT_GROUP, dst, dst_len);
    return rv == 0 && *dst_len == 0 ? RING_EPROTO : rv;
}

static int read_contact(struct mpread__cur *r, struct codec_contact *c)
{
    uint32_t seen = 0;
    size_t n;
    memset(c, 0, sizeof(*c));
    int rv = mpread__map(r, CODEC_MAP_KEYS_MAX, &n);
    for (size_t i = 0; i < n && rv == 0; i++) {
        uint64_t key;
        rv = codec__read_key(r, CONTACT_REQUIRED, &seen, &key);
        if (rv != 0) {
            break;
        }
        if (!codec__is_known(CONTACT_REQUIRED, key)) {
            rv = codec__skip_unknown(r, DEPTH_CONTACT + 1);
        } else if (key == CKEY_ID) {
            rv = codec__read_text(r, MEMBER_TEXT_ID, c->id, &c->id_len);
        } else {
            rv = codec__read_addr(r, &c->addr);
        }
    }
    if (rv == 0 && (seen != CONTACT_REQUIRED || c->id_len == 0)) {
        rv = RING_EPROTO;
    }
    return rv;
}

static int read_contacts(struct mpread__cur *r, struct codec_summary *s)
{
    size_t n;
    int rv = mpread__array(r, CODEC_CONTACTS_MAX, &n);
    for (size_t i = 0; i < n && rv == 0; i++) {
        rv = read_contact(r, &s->contacts[i]);
    }
    s->contact_count = (uint8_t)n;
    return rv;
}

static int read_summary_field(struct mpread__cur *r, uint64_t key, struct codec_summary *s)
{
    uint64_t v = 0;
    int rv;
    switch (key) {
    case SKEY_NAME:
        return read_name(r, s->name, &s->name_len);
    case SKEY_VERSION:
        return mpread__uint(r, &s->version);
    case SKEY_SIZE:
        rv = mpread__uint_max(r, UINT32_MAX, &v);
        s->size = (uint32_t)v;
        return rv;
    case SKEY_RING_CHECKSUM:
        return mpread__uint(r, &s->ring_checksum);
    default:
        return read_contacts(r, s);
    }
}

static int read_summary(struct mpread__cur *r, struct codec_summary *s)
{
    const uint32_t known = SUMMARY_REQUIRED | KEY_BIT(SKEY_CONTACTS);
    uint32_t seen = 0;
    size_t n;
    memset(s, 0, offsetof(struct codec_summary, contacts));
    int rv = mpread__map(r, CODEC_MAP_KEYS_MAX, &n);
    for (size_t i = 0; i < n && rv == 0; i++) {
        uint64_t key;
        rv = codec__read_key(r, known, &seen, &key);
        if (rv == 0) {
            rv = codec__is_known(known, key) ? read_summary_field(r, key, s)
                                             : codec__skip_unknown(r, DEPTH_SUMMARY + 1);
        }
    }
    if (rv == 0 && (seen & SUMMARY_REQUIRED) != SUMMARY_REQUIRED) {
        rv = RING_EPROTO;
    }
    return rv;
}

static int read_summaries(struct mpread__cur *r, struct codec_groups *out)
{
    size_t n;
    int rv = mpread__array(r, CODEC_SUMMARIES_MAX, &n);
    for (size_t i = 0; i < n && rv == 0; i++) {
        rv = read_summary(r, &out->summaries[i]);
    }
    out->summary_count = (uint16_t)n;
    return rv;
}

static int read_buckets(struct mpread__cur *r, struct codec_groups *out)
{
    const uint8_t *b;
    size_t len;
    int rv = mpread__bin(r, CODEC_BUCKETS_BYTES, &b, &len);
    if (rv != 0) {
        return rv;
    }
    if (len != CODEC_BUCKETS_BYTES) {
        return RING_EPROTO;
    }
    for (int i = 0; i < CODEC_GROUP_BUCKETS; i++) {
        out->buckets[i] = (uint16_t)(b[2 * i] << 8 | b[2 * i + 1]);
    }
    out->has_buckets = 1;
    return 0;
}

static int read_groups_field(struct mpread__cur *r, uint64_t key, struct codec_groups *out)
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
    case KEY_GROUP:
        return read_name(r, out->group, &out->group_len);
    case KEY_DIGEST:
        return mpread__uint(r, &out->digest);
    case KEY_GROUP_COUNT:
        rv = mpread__uint_max(r, UINT32_MAX, &v);
        out->group_count = (uint32_t)v;
        return rv;
    case KEY_BUCKETS:
        return read_buckets(r, out);
    default:
        return read_summaries(r, out);
    }
}

int codec_decode_groups(const uint8_t *buf, size_t len, struct codec_groups *out)
{
    struct mpread__cur r;
    int type;
    mpread__init(&r, buf, len);
    memset(out, 0, offsetof(struct codec_groups, summaries));
    int rv = codec__read_envelope(&r, &type);
    if (rv != 0) {
        return rv;
    }
    if (!codec_is_groups_type(type)) {
        return RING_EPROTO;
    }
    out->type = (uint8_t)type;
    uint32_t known = codec__type_keys(type);
    uint32_t seen = 0;
    size_t n;
    rv = mpread__map(&r, CODEC_MAP_KEYS_MAX, &n);
    for (size_t i = 0; i < n && rv == 0; i++) {
        uint64_t key;
        rv = codec__read_key(&r, known, &seen, &key);
        if (rv == 0) {
            rv = codec__is_known(known, key) ? read_groups_field(&r, key, out)
                                             : codec__skip_unknown(&r, DEPTH_BODY + 1);
        }
    }
    if (rv == 0 && ((seen & GROUP_REQUIRED) != GROUP_REQUIRED || out->from_len == 0 ||
                    mpread__remaining(&r) != 0)) {
        rv = RING_EPROTO;
    }
    return rv;
}
