/*
 * codec_decode: msgpack bytes from the network to messages, strictly and without
 * allocating (the reader is mpread.c; why not msgpack-c's unpacker is said there).
 *
 * The decoder walks the envelope [version, type, body], then the body map key by key. A key
 * the message type carries is decoded into its field; any other key (a newer peer's field,
 * or a field of another type) is skipped whole, with the nesting bound CODEC_DEPTH_MAX, so
 * old nodes keep working when new fields appear. A known key twice, a required key missing,
 * or bytes after the envelope are RING_EPROTO: there is one valid reading of a message.
 * Integers are accepted in any msgpack integer form (other encoders do not always pick the
 * shortest), but must fit their field.
 *
 * Depths: the envelope is at depth 1, the body map 2, the updates and members arrays 3, a
 * member map 4, its labels map 5; skipped values continue from the depth they sit at.
 *
 * Nothing here trusts a length before it is checked: strings against their field's limit
 * (RING_EMSGSIZE), counts against theirs (RING_E2BIG), both against the bytes that remain
 * (RING_ETRUNC). Every text field (ids, groups, labels) must hold what member_text_check()
 * allows, printable ASCII, or the message is RING_EPROTO. A decoded member must pass
 * member_validate(), exactly the rule members_apply() enforces, so a message that decodes
 * never carries a member the table would refuse.
 */
#include <string.h>

#include "ring/codec.h"
#include "ring/error.h"
#include "ring/hashring.h"
#include "codec_int.h"
#include "mpread.h"

#define DEPTH_BODY     2
#define DEPTH_MEMBER   4
#define ENVELOPE_ITEMS 3

_Static_assert(CODEC_DEPTH_MAX <= MPREAD_DEPTH_MAX, "mpread__skip() must reach our depth");

uint32_t codec__type_keys(int type)
{
    const uint32_t base = KEY_BIT(KEY_SEQ) | KEY_BIT(KEY_FROM) | KEY_BIT(KEY_UPDATES);
    switch (type) {
    case CODEC_PING:
        return base | KEY_BIT(KEY_TARGET) | KEY_BIT(KEY_CHECKSUM);
    case CODEC_ACK:
        return base | KEY_BIT(KEY_CHECKSUM);
    case CODEC_NACK:
    case CODEC_STREAM_ACK:
        return base;
    case CODEC_PING_REQ:
        return base | KEY_BIT(KEY_TARGET) | KEY_BIT(KEY_TARGET_ADDR);
    case CODEC_STREAM_PING:
        return base | KEY_BIT(KEY_TARGET);
    case CODEC_SYNC:
    case CODEC_SYNC_REPLY:
        return KEY_BIT(KEY_FROM) | KEY_BIT(KEY_CHECKSUM) | KEY_BIT(KEY_JOIN) | KEY_BIT(KEY_MEMBERS);
    case CODEC_GROUP_SYN:
    case CODEC_GROUP_ACK:
    case CODEC_GROUP_PUSH:
        return KEY_BIT(KEY_SEQ) | KEY_BIT(KEY_FROM) | KEY_BIT(KEY_GROUP) | KEY_BIT(KEY_DIGEST) |
               KEY_BIT(KEY_GROUP_COUNT) | KEY_BIT(KEY_BUCKETS) | KEY_BIT(KEY_SUMMARIES);
    case CODEC_LEASE_REQ:
        return KEY_BIT(KEY_SEQ) | KEY_BIT(KEY_FROM) | KEY_BIT(KEY_LEASE_MS) | KEY_BIT(KEY_ENTRIES);
    case CODEC_LEASE_ACK:
    case CODEC_LEASE_RELEASE:
        return KEY_BIT(KEY_SEQ) | KEY_BIT(KEY_FROM) | KEY_BIT(KEY_ENTRIES);
    default:
        return 0;
    }
}

int codec__is_msg_type(int type)
{
    return codec__type_keys(type) != 0 && !codec__is_sync_type(type) &&
           !codec_is_groups_type(type) && !codec_is_lease_type(type);
}

int codec__is_sync_type(int type)
{
    return type == CODEC_SYNC || type == CODEC_SYNC_REPLY;
}

/* Reads [version, type, and leaves the cursor at the body. */
int codec__read_envelope(struct mpread__cur *r, int *type)
{
    size_t n;
    uint64_t version;
    uint64_t t;
    int rv = mpread__array(r, ENVELOPE_ITEMS, &n);
    if (rv == RING_E2BIG) {
        rv = 0; /* a later version may have more items: report the version instead */
    }
    if (rv == 0) {
        rv = mpread__uint(r, &version);
    }
    if (rv != 0) {
        return rv;
    }
    if (version != CODEC_VERSION) {
        return RING_EVERSION;
    }
    if (n != ENVELOPE_ITEMS) {
        return RING_EPROTO;
    }
    rv = mpread__uint(r, &t);
    if (rv == 0 && codec__type_keys(t <= INT16_MAX ? (int)t : 0) == 0) {
        rv = RING_EPROTO;
    }
    *type = (int)t;
    return rv;
}

int codec_peek_type(const uint8_t *buf, size_t len)
{
    struct mpread__cur r;
    int type = 0;
    mpread__init(&r, buf, len);
    int rv = codec__read_envelope(&r, &type);
    return rv != 0 ? rv : type;
}

/* Copies a text field of |kind|; see codec_int.h. */
int codec__read_text(struct mpread__cur *r, int kind, char *dst, uint8_t *dst_len)
{
    const uint8_t *s;
    size_t len;
    int rv = mpread__str(r, member_text_bytes_max(kind), &s, &len);
    if (rv != 0) {
        return rv;
    }
    if (len > 0 && member_text_check(kind, (const char *)s, len, NULL) != 0) {
        return RING_EPROTO;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
    *dst_len = (uint8_t)len;
    return 0;
}

int codec__read_addr(struct mpread__cur *r, struct ring_addr *a)
{
    const uint8_t *b;
    size_t len;
    int rv = mpread__bin(r, CODEC_ADDR_V6_BYTES, &b, &len);
    if (rv != 0) {
        return rv;
    }
    if (len != CODEC_ADDR_V4_BYTES && len != CODEC_ADDR_V6_BYTES) {
        return RING_EPROTO;
    }
    size_t ip_len = len - 2;
    memset(a, 0, sizeof(*a));
    a->family = ip_len == 4 ? RING_ADDR_V4 : RING_ADDR_V6;
    memcpy(a->ip, b, ip_len);
    a->port = (uint16_t)((b[ip_len] << 8) | b[ip_len + 1]);
    return 0;
}

/* Reads a map key (a non-negative integer) and checks it is not a repeat of a known key. */
int codec__read_key(struct mpread__cur *r, uint32_t known, uint32_t *seen, uint64_t *key)
{
    int rv = mpread__uint(r, key);
    if (rv != 0 || *key >= 32 || !(known & KEY_BIT(*key))) {
        return rv;
    }
    if (*seen & KEY_BIT(*key)) {
        return RING_EPROTO;
    }
    *seen |= KEY_BIT(*key);
    return 0;
}

/* Skips the value of a key this version does not know; too deep is RING_EPROTO (codec.h). */
int codec__skip_unknown(struct mpread__cur *r, int depth)
{
    int rv = mpread__skip(r, depth, CODEC_DEPTH_MAX, MPREAD__DEPTH_ALL);
    return rv == RING_E2BIG ? RING_EPROTO : rv;
}

int codec__is_known(uint32_t known, uint64_t key)
{
    return key < 32 && (known & KEY_BIT(key));
}

static int read_labels(struct mpread__cur *r, struct member *m)
{
    size_t n;
    int rv = mpread__map(r, MEMBER_LABELS_MAX, &n);
    for (size_t i = 0; i < n && rv == 0; i++) {
        struct member_label *l = &m->labels[i];
        rv = codec__read_text(r, MEMBER_TEXT_LABEL_KEY, l->key, &l->key_len);
        if (rv == 0) {
            rv = codec__read_text(r, MEMBER_TEXT_LABEL_VALUE, l->value, &l->value_len);
        }
    }
    m->label_count = (uint8_t)n;
    return rv;
}

/* Decodes the value of member key |key| into |m| (or |source|). */
static int read_member_field(struct mpread__cur *r, uint64_t key, struct member *m,
                             struct codec_update *source)
{
    uint64_t v = 0;
    int rv;
    switch (key) {
    case MKEY_ID:
        return codec__read_text(r, MEMBER_TEXT_ID, m->id, &m->id_len);
    case MKEY_ADDR:
        return codec__read_addr(r, &m->addr);
    case MKEY_STATUS:
        rv = mpread__uint_max(r, MEMBER_LEFT, &v);
        m->status = (uint8_t)v;
        return rv;
    case MKEY_INCARNATION:
        return mpread__uint(r, &m->incarnation);
    case MKEY_WEIGHT:
        rv = mpread__uint_max(r, HASHRING_WEIGHT_MAX, &v);
        m->weight = (uint16_t)v;
        return rv;
    case MKEY_GROUP:
        return codec__read_text(r, MEMBER_TEXT_GROUP, m->group, &m->group_len);
    case MKEY_LABELS:
        return read_labels(r, m);
    case MKEY_FLAGS:
        /* Unknown bits fail member_validate(): a flag we cannot honour is not stored. */
        rv = mpread__uint_max(r, UINT8_MAX, &v);
        m->flags = (uint8_t)v;
        return rv;
    default:
        return codec__read_text(r, MEMBER_TEXT_ID, source->source, &source->source_len);
    }
}

#define MEMBER_REQUIRED                                                                            \
    (KEY_BIT(MKEY_ID) | KEY_BIT(MKEY_ADDR) | KEY_BIT(MKEY_STATUS) | KEY_BIT(MKEY_INCARNATION) |    \
     KEY_BIT(MKEY_WEIGHT))

/* Decodes one member map into |m|; |u| (NULL in a sync) also takes the source key. */
static int read_member(struct mpread__cur *r, struct member *m, struct codec_update *u)
{
    uint32_t known = MEMBER_REQUIRED | KEY_BIT(MKEY_GROUP) | KEY_BIT(MKEY_LABELS) |
                     KEY_BIT(MKEY_FLAGS) | (u != NULL ? KEY_BIT(MKEY_SOURCE) : 0);
    uint32_t seen = 0;
    size_t n;
    memset(m, 0, sizeof(*m));
    int rv = mpread__map(r, CODEC_MAP_KEYS_MAX, &n);
    for (size_t i = 0; i < n && rv == 0; i++) {
        uint64_t key;
        rv = codec__read_key(r, known, &seen, &key);
        if (rv == 0) {
            rv = codec__is_known(known, key) ? read_member_field(r, key, m, u)
                                             : codec__skip_unknown(r, DEPTH_MEMBER + 1);
        }
    }
    if (rv == 0 && (seen & MEMBER_REQUIRED) != MEMBER_REQUIRED) {
        rv = RING_EPROTO;
    }
    return rv != 0 ? rv : member_validate(m);
}

static int read_updates(struct mpread__cur *r, struct codec_msg *out)
{
    size_t n;
    int rv = mpread__array(r, CODEC_UPDATES_MAX, &n);
    for (size_t i = 0; i < n && rv == 0; i++) {
        struct codec_update *u = &out->updates[i];
        u->source[0] = '\0';
        u->source_len = 0;
        rv = read_member(r, &u->m, u);
    }
    out->update_count = (uint16_t)n;
    return rv;
}

static int read_msg_field(struct mpread__cur *r, uint64_t key, struct codec_msg *out)
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
    case KEY_TARGET:
        return codec__read_text(r, MEMBER_TEXT_ID, out->target, &out->target_len);
    case KEY_TARGET_ADDR:
        return codec__read_addr(r, &out->target_addr);
    case KEY_CHECKSUM:
        return mpread__uint(r, &out->checksum);
    default:
        return read_updates(r, out);
    }
}

/* Zeroes everything but the updates array (each update is zeroed as it is decoded). */
static void msg_clear(struct codec_msg *out)
{
    memset(out, 0, offsetof(struct codec_msg, updates));
}

static int read_msg_body(struct mpread__cur *r, struct codec_msg *out)
{
    uint32_t known = codec__type_keys(out->type);
    uint32_t required = known & ~KEY_BIT(KEY_UPDATES);
    uint32_t seen = 0;
    size_t n;
    int rv = mpread__map(r, CODEC_MAP_KEYS_MAX, &n);
    for (size_t i = 0; i < n && rv == 0; i++) {
        uint64_t key;
        rv = codec__read_key(r, known, &seen, &key);
        if (rv == 0) {
            rv = codec__is_known(known, key) ? read_msg_field(r, key, out)
                                             : codec__skip_unknown(r, DEPTH_BODY + 1);
        }
    }
    if (rv == 0 && (seen & required) != required) {
        return RING_EPROTO;
    }
    return rv;
}

/* Field rules the msgpack types cannot say: a sender id, and a ping-req's target. */
static int msg_check(const struct codec_msg *m)
{
    if (m->from_len == 0) {
        return RING_EPROTO;
    }
    return m->type == CODEC_PING_REQ && m->target_len == 0 ? RING_EPROTO : 0;
}

int codec_decode(const uint8_t *buf, size_t len, struct codec_msg *out)
{
    struct mpread__cur r;
    int type;
    mpread__init(&r, buf, len);
    msg_clear(out);
    int rv = codec__read_envelope(&r, &type);
    if (rv != 0) {
        return rv;
    }
    if (!codec__is_msg_type(type)) {
        return RING_EPROTO; /* a sync: codec_decode_sync() reads those */
    }
    out->type = (uint8_t)type;
    rv = read_msg_body(&r, out);
    if (rv == 0 && mpread__remaining(&r) != 0) {
        rv = RING_EPROTO;
    }
    return rv != 0 ? rv : msg_check(out);
}

/* Reads the members array, calling |cb| (when not NULL) for each. */
static int read_sync_members(struct mpread__cur *r, struct codec_sync *hdr, codec_member_cb cb,
                             void *arg)
{
    size_t n;
    struct member m;
    int rv = mpread__array(r, MEMBERS_MAX, &n);
    for (size_t i = 0; i < n && rv == 0; i++) {
        rv = read_member(r, &m, NULL);
        if (rv == 0 && cb != NULL) {
            cb(&m, arg);
        }
    }
    hdr->member_count = (uint32_t)n;
    return rv;
}

/* Reads a have: whole 4-byte terms, ascending (equal terms may repeat: two records of the
 * sender's table can share their high 32 bits), so that the receiver can search it as it
 * is. */
static int read_have(struct mpread__cur *r, struct codec_sync *hdr)
{
    const uint8_t *p;
    size_t len;
    int rv = mpread__bin(r, CODEC_HAVE_BYTES_MAX, &p, &len);
    if (rv != 0) {
        return rv;
    }
    if (len % 4 != 0) {
        return RING_EPROTO;
    }
    for (size_t i = 4; i < len; i += 4) {
        if (memcmp(p + i - 4, p + i, 4) > 0) {
            return RING_EPROTO;
        }
    }
    hdr->has_have = 1;
    hdr->have_count = (uint32_t)(len / 4);
    hdr->have = p;
    return 0;
}

static uint32_t be32_at(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int codec_sync_have_has(const struct codec_sync *hdr, uint32_t term)
{
    size_t lo = 0;
    size_t hi = hdr->has_have ? hdr->have_count : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t v = be32_at(hdr->have + 4 * mid);
        if (v == term) {
            return 1;
        }
        if (v < term) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return 0;
}

static int read_sync_field(struct mpread__cur *r, uint64_t key, struct codec_sync *hdr,
                           codec_member_cb cb, void *arg)
{
    int join = 0;
    int rv;
    switch (key) {
    case KEY_HAVE:
        return read_have(r, hdr);
    case KEY_FROM:
        return codec__read_text(r, MEMBER_TEXT_ID, hdr->from, &hdr->from_len);
    case KEY_CHECKSUM:
        return mpread__uint(r, &hdr->checksum);
    case KEY_JOIN:
        rv = mpread__bool(r, &join);
        hdr->join = (uint8_t)join;
        return rv;
    default:
        return read_sync_members(r, hdr, cb, arg);
    }
}

/* One full pass over a sync message; |cb| NULL only validates. */
static int read_sync(const uint8_t *buf, size_t len, struct codec_sync *hdr, codec_member_cb cb,
                     void *arg)
{
    struct mpread__cur r;
    int type;
    mpread__init(&r, buf, len);
    memset(hdr, 0, sizeof(*hdr));
    int rv = codec__read_envelope(&r, &type);
    if (rv != 0) {
        return rv;
    }
    if (!codec__is_sync_type(type)) {
        return RING_EPROTO;
    }
    hdr->type = (uint8_t)type;
    uint32_t required = codec__type_keys(type);
    /* have is optional, and only a request carries it (in a reply it is an unknown key). */
    uint32_t known = required | (type == CODEC_SYNC ? KEY_BIT(KEY_HAVE) : 0);
    uint32_t seen = 0;
    size_t n;
    rv = mpread__map(&r, CODEC_MAP_KEYS_MAX, &n);
    for (size_t i = 0; i < n && rv == 0; i++) {
        uint64_t key;
        rv = codec__read_key(&r, known, &seen, &key);
        if (rv == 0) {
            rv = codec__is_known(known, key) ? read_sync_field(&r, key, hdr, cb, arg)
                                             : codec__skip_unknown(&r, DEPTH_BODY + 1);
        }
    }
    if (rv == 0 &&
        ((seen & required) != required || hdr->from_len == 0 || mpread__remaining(&r) != 0)) {
        rv = RING_EPROTO;
    }
    return rv;
}

int codec_decode_sync(const uint8_t *buf, size_t len, struct codec_sync *hdr, codec_member_cb cb,
                      void *arg)
{
    /* Validate everything first, so that on error |cb| has never been called. */
    int rv = read_sync(buf, len, hdr, NULL, NULL);
    if (rv != 0 || cb == NULL) {
        return rv;
    }
    rv = read_sync(buf, len, hdr, cb, arg);
    RING_ASSERT(rv == 0);
    return rv;
}

void codec_frame_header(uint8_t hdr[CODEC_FRAME_HEADER_BYTES], uint32_t len)
{
    RING_ASSERT(len <= CODEC_FRAME_BYTES_MAX);
    hdr[0] = (uint8_t)(len >> 24);
    hdr[1] = (uint8_t)(len >> 16);
    hdr[2] = (uint8_t)(len >> 8);
    hdr[3] = (uint8_t)len;
}

int codec_frame_length(const uint8_t hdr[CODEC_FRAME_HEADER_BYTES], uint32_t *len)
{
    uint32_t n = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) | ((uint32_t)hdr[2] << 8) |
                 (uint32_t)hdr[3];
    if (n > CODEC_FRAME_BYTES_MAX) {
        return RING_EMSGSIZE;
    }
    *len = n;
    return 0;
}
