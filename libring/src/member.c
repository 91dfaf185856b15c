/*
 * member: one member record as gossip exchanges it (struct member), its validation, the
 * precedence rule that merges two views of it, and its term of the membership checksum.
 *
 * These are the pure functions of members.h; the table itself is in members.c.
 *
 * Text fields (id, group, labels) hold printable ASCII only (member_text_check()): what
 * gossip brings is printed by ringctl and written into logs and JSON, so a peer must not be
 * able to put a terminal escape or invalid UTF-8 there. The rule is checked once, here, for
 * the flags, the decoders and the table alike.
 *
 * Precedence follows SWIM with one addition: a higher incarnation always wins, and at equal
 * incarnation the "worse" status wins, with left above faulty (memberlist's order), because
 * a node that announced its own leave must never be resurrected by a stale faulty rumour.
 *
 * The digest covers exactly what the DESIGN says two nodes must agree on (id, address,
 * status, incarnation) in a fixed byte layout (proto/PROTOCOL.md, "Checksums"), hashed with
 * xxHash3-64 in one call over a stack buffer: no allocation, no streaming state.
 */
#include <string.h>

#include <xxhash.h>

#include "ring/error.h"
#include "ring/hashring.h"
#include "ring/members.h"
#include "members_int.h"

static const char *const status_names[] = { "alive", "suspect", "faulty", "left" };

const char *member_status_name(int status)
{
    if (status < 0 || (size_t)status >= RING_ARRAY_LEN(status_names)) {
        return "unknown";
    }
    return status_names[status];
}

/* Bytes and lengths per kind of text (members.h, enum member_text). Printable ASCII and
 * nothing else: these strings end up in terminals, logs and JSON, and ASCII is what ids from
 * pod names and host:port, DNS-label groups and zone=... labels need. */
static const struct {
    size_t min, max;
    int no_separators; /* '=' and ',' are excluded too */
} text_rules[] = {
    [MEMBER_TEXT_ID] = { 1, MEMBER_ID_BYTES_MAX, 0 },
    [MEMBER_TEXT_GROUP] = { 0, MEMBER_GROUP_BYTES_MAX, 0 },
    [MEMBER_TEXT_LABEL_KEY] = { 1, MEMBER_LABEL_KEY_BYTES_MAX, 1 },
    [MEMBER_TEXT_LABEL_VALUE] = { 0, MEMBER_LABEL_VALUE_BYTES_MAX, 1 },
};

size_t member_text_bytes_max(int kind)
{
    if (kind < 0 || (size_t)kind >= RING_ARRAY_LEN(text_rules)) {
        return 0;
    }
    return text_rules[kind].max;
}

int member_text_check(int kind, const char *s, size_t len, size_t *bad_at)
{
    size_t at_storage;
    size_t *at = bad_at != NULL ? bad_at : &at_storage;
    *at = 0;
    if (kind < 0 || (size_t)kind >= RING_ARRAY_LEN(text_rules) || len < text_rules[kind].min) {
        return RING_EINVAL;
    }
    if (len > text_rules[kind].max) {
        *at = text_rules[kind].max;
        return RING_EMSGSIZE;
    }
    int no_separators = text_rules[kind].no_separators;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x21 || ch > 0x7e || (no_separators && (ch == '=' || ch == ','))) {
            *at = i;
            return RING_EINVAL;
        }
    }
    return 0;
}

int member_set_id(struct member *m, const char *id, size_t id_len)
{
    if (member_text_check(MEMBER_TEXT_ID, id, id_len, NULL) != 0) {
        return RING_EINVAL;
    }
    memcpy(m->id, id, id_len);
    m->id[id_len] = '\0';
    m->id_len = (uint8_t)id_len;
    return 0;
}

static int label_find(const struct member *m, const char *key, size_t key_len)
{
    for (int i = 0; i < m->label_count; i++) {
        if (m->labels[i].key_len == key_len && memcmp(m->labels[i].key, key, key_len) == 0) {
            return i;
        }
    }
    return -1;
}

int member_set_label(struct member *m, const char *key, const char *value)
{
    size_t key_len = strlen(key);
    size_t value_len = strlen(value);
    if (member_text_check(MEMBER_TEXT_LABEL_KEY, key, key_len, NULL) != 0 ||
        member_text_check(MEMBER_TEXT_LABEL_VALUE, value, value_len, NULL) != 0) {
        return RING_EINVAL;
    }
    int i = label_find(m, key, key_len);
    if (i < 0) {
        if (m->label_count >= MEMBER_LABELS_MAX) {
            return RING_E2BIG;
        }
        i = m->label_count++;
    }
    struct member_label *l = &m->labels[i];
    memset(l, 0, sizeof(*l));
    memcpy(l->key, key, key_len);
    memcpy(l->value, value, value_len);
    l->key_len = (uint8_t)key_len;
    l->value_len = (uint8_t)value_len;
    return 0;
}

/* |len| bytes of |s| are a text of |kind| and |s|[len] is the terminator. */
static int str_ok(int kind, const char *s, size_t len)
{
    return member_text_check(kind, s, len, NULL) == 0 && s[len] == '\0';
}

/* A member has a real v4 or v6 address; the unused ip bytes of a v4 address are zero, so
 * the digest (which hashes all 16) cannot differ between equal addresses. */
static int addr_ok(const struct ring_addr *a)
{
    static const uint8_t zero[12];
    if (a->family == RING_ADDR_V4) {
        return memcmp(a->ip + 4, zero, sizeof(zero)) == 0;
    }
    return a->family == RING_ADDR_V6;
}

static int labels_ok(const struct member *m)
{
    if (m->label_count > MEMBER_LABELS_MAX) {
        return 0;
    }
    for (int i = 0; i < m->label_count; i++) {
        const struct member_label *l = &m->labels[i];
        if (!str_ok(MEMBER_TEXT_LABEL_KEY, l->key, l->key_len) ||
            !str_ok(MEMBER_TEXT_LABEL_VALUE, l->value, l->value_len)) {
            return 0;
        }
        if (label_find(m, l->key, l->key_len) != i) {
            return 0; /* duplicate key: labels are a map */
        }
    }
    return 1;
}

int member_validate(const struct member *m)
{
    if (!str_ok(MEMBER_TEXT_ID, m->id, m->id_len)) {
        return RING_EPROTO;
    }
    if (m->status > MEMBER_LEFT || (m->flags & ~MEMBER_FLAGS_KNOWN) != 0 || m->weight == 0 ||
        m->weight > HASHRING_WEIGHT_MAX) {
        return RING_EPROTO;
    }
    if (!addr_ok(&m->addr) || !str_ok(MEMBER_TEXT_GROUP, m->group, m->group_len)) {
        return RING_EPROTO;
    }
    return labels_ok(m) ? 0 : RING_EPROTO;
}

int members__overrides(uint64_t cur_incarnation, uint8_t cur_status, uint8_t cur_flags,
                       const struct member *upd)
{
    if (upd->incarnation != cur_incarnation) {
        return upd->incarnation > cur_incarnation;
    }
    if (upd->status != cur_status) {
        return upd->status > cur_status;
    }
    return upd->flags > cur_flags;
}

int members_update_overrides(const struct member *cur, const struct member *upd)
{
    return members__overrides(cur->incarnation, cur->status, cur->flags, upd);
}

int member_in_ring(int status, unsigned flags)
{
    return (status == MEMBER_ALIVE || status == MEMBER_SUSPECT) &&
           (flags & MEMBER_FLAG_DRAINING) == 0;
}

static void le16_put(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void le32_put(uint8_t *p, uint32_t v)
{
    le16_put(p, (uint16_t)v);
    le16_put(p + 2, (uint16_t)(v >> 16));
}

static void le64_put(uint8_t *p, uint64_t v)
{
    le32_put(p, (uint32_t)v);
    le32_put(p + 4, (uint32_t)(v >> 32));
}

/* The layout of proto/PROTOCOL.md "Checksums": le32(id_len) || id || u8(family) || ip[16]
 * || le16(port) || u8(status | flags << 4) || le64(incarnation). A member without flags
 * hashes as it did before flags existed, so the known-answer vectors stand. */
#define DIGEST_FIXED_BYTES (4 + 1 + 16 + 2 + 1 + 8)

uint64_t members__digest(const char *id, size_t id_len, const struct ring_addr *addr,
                         uint8_t status, uint8_t flags, uint64_t incarnation)
{
    uint8_t buf[DIGEST_FIXED_BYTES + MEMBER_ID_BYTES_MAX];
    RING_ASSERT(id_len <= MEMBER_ID_BYTES_MAX);
    uint8_t *p = buf;
    le32_put(p, (uint32_t)id_len);
    memcpy(p + 4, id, id_len);
    p += 4 + id_len;
    p[0] = addr->family;
    memcpy(p + 1, addr->ip, 16);
    le16_put(p + 17, addr->port);
    p[19] = (uint8_t)(status | flags << 4);
    le64_put(p + 20, incarnation);
    return XXH3_64bits(buf, DIGEST_FIXED_BYTES + id_len);
}

/* Not a status: a route digest never equals a membership digest of the same id and address. */
#define ROUTE_DIGEST_TAG 0xff

uint64_t members__route_digest(const char *id, size_t id_len, const struct ring_addr *addr)
{
    return members__digest(id, id_len, addr, ROUTE_DIGEST_TAG, 0, 0);
}

uint64_t member_digest(const struct member *m)
{
    return members__digest(m->id, m->id_len, &m->addr, m->status, m->flags, m->incarnation);
}
