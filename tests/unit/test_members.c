/* Unit tests for the members module: records, precedence, the table and its checksums. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "members_int.h"
#include "ring/error.h"
#include "ring/hashring.h"
#include "ring/members.h"
#include "testmem.h"

static struct testmem tm;

static void setup(void)
{
    testmem_init(&tm);
}

static void teardown(void)
{
    cr_assert(eq(sz, tm.bytes, 0), "leaked %zu bytes in %zu blocks", tm.bytes, tm.blocks);
}

TestSuite(members, .init = setup, .fini = teardown);

/* A valid alive member "id" at 10.0.<i>:7946, incarnation 1, weight 1. */
static struct member mk(const char *id, uint32_t i)
{
    struct member m;
    memset(&m, 0, sizeof(m));
    cr_assert(eq(int, member_set_id(&m, id, strlen(id)), 0));
    m.status = MEMBER_ALIVE;
    m.weight = 1;
    m.incarnation = 1;
    m.addr.family = RING_ADDR_V4;
    m.addr.ip[0] = 10;
    m.addr.ip[2] = (uint8_t)(i >> 8);
    m.addr.ip[3] = (uint8_t)i;
    m.addr.port = 7946;
    return m;
}

static struct members *table(size_t capacity)
{
    struct members *t = NULL;
    cr_assert(eq(int, members_new(&t, capacity, &tm.mem), 0));
    return t;
}

static void put(struct members *t, const struct member *m)
{
    int rv = members_put(t, m);
    cr_assert(eq(int, rv, 0), "members_put %s: %s", m->id, ring_strerror(rv));
}

/* The checksums recomputed from scratch, to compare with the O(1) ones. */
static uint64_t slow_checksum(const struct members *t)
{
    uint64_t sum = 0;
    struct member m;
    for (size_t i = 0; i < members_count(t); i++) {
        members_get(t, i, &m);
        sum += member_digest(&m);
    }
    return sum;
}

static void check_index(const struct members *t)
{
    for (size_t i = 0; i < members_count(t); i++) {
        size_t len;
        const char *id = members_id(t, i, &len);
        cr_assert(eq(int, members_index(t, id, len), (int)i));
    }
}

Test(members, status_names)
{
    ASSERT_STR_EQ(member_status_name(MEMBER_ALIVE), "alive");
    ASSERT_STR_EQ(member_status_name(MEMBER_SUSPECT), "suspect");
    ASSERT_STR_EQ(member_status_name(MEMBER_FAULTY), "faulty");
    ASSERT_STR_EQ(member_status_name(MEMBER_LEFT), "left");
    ASSERT_STR_EQ(member_status_name(4), "unknown");
    ASSERT_STR_EQ(member_status_name(-1), "unknown");
}

Test(members, set_id_checks_length)
{
    struct member m;
    memset(&m, 0, sizeof(m));
    char long_id[MEMBER_ID_BYTES_MAX + 2];
    memset(long_id, 'x', sizeof(long_id));
    cr_assert(eq(int, member_set_id(&m, "", 0), RING_EINVAL));
    cr_assert(eq(int, member_set_id(&m, long_id, MEMBER_ID_BYTES_MAX + 1), RING_EINVAL));
    cr_assert(eq(int, member_set_id(&m, "a\0b", 3), RING_EINVAL));
    cr_assert(eq(int, member_set_id(&m, "a\x1b[2J", 5), RING_EINVAL));
    cr_assert(eq(int, member_set_id(&m, "a b", 3), RING_EINVAL));
    cr_assert(eq(int, member_set_id(&m, long_id, MEMBER_ID_BYTES_MAX), 0));
    cr_assert(eq(u8, m.id_len, MEMBER_ID_BYTES_MAX));
    cr_assert(eq(int, member_set_id(&m, "node-1", 6), 0));
    ASSERT_STR_EQ(m.id, "node-1");
}

/* The one rule for text fields (members.h, enum member_text): every bad input with its error
 * and the offset it points at. */
Test(members, text_check_table)
{
    char long_id[MEMBER_ID_BYTES_MAX + 1];
    memset(long_id, 'x', sizeof(long_id));
    static const struct {
        const char *what;
        int kind;
        const char *s;
        size_t len; /* 0: strlen(s) */
        int want;
        size_t at;
    } cases[] = {
        { "id", MEMBER_TEXT_ID, "node-1", 0, 0, 0 },
        { "id host:port", MEMBER_TEXT_ID, "[::1]:7946", 0, 0, 0 },
        { "id every printable", MEMBER_TEXT_ID, "!~azAZ09=,\\\"'`{}", 0, 0, 0 },
        { "id empty", MEMBER_TEXT_ID, "", 0, RING_EINVAL, 0 },
        { "id escape sequence", MEMBER_TEXT_ID, "a\x1b[2J", 0, RING_EINVAL, 1 },
        { "id space", MEMBER_TEXT_ID, "a b", 0, RING_EINVAL, 1 },
        { "id tab", MEMBER_TEXT_ID, "\tab", 0, RING_EINVAL, 0 },
        { "id newline", MEMBER_TEXT_ID, "ab\n", 0, RING_EINVAL, 2 },
        { "id NUL", MEMBER_TEXT_ID, "ab\0c", 4, RING_EINVAL, 2 },
        { "id DEL", MEMBER_TEXT_ID, "ab\x7f", 0, RING_EINVAL, 2 },
        { "id C1 CSI", MEMBER_TEXT_ID, "a\xc2\x9b", 0, RING_EINVAL, 1 },
        { "id UTF-8", MEMBER_TEXT_ID, "caf\xc3\xa9", 0, RING_EINVAL, 3 },
        { "id invalid UTF-8", MEMBER_TEXT_ID, "\xff\xfe", 0, RING_EINVAL, 0 },
        { "id bidi override", MEMBER_TEXT_ID, "a\xe2\x80\xae", 0, RING_EINVAL, 1 },
        { "group empty is no group", MEMBER_TEXT_GROUP, "", 0, 0, 0 },
        { "group", MEMBER_TEXT_GROUP, "eu-west_1.a", 0, 0, 0 },
        { "group escape", MEMBER_TEXT_GROUP, "g\x1b", 0, RING_EINVAL, 1 },
        { "group space", MEMBER_TEXT_GROUP, "g 1", 0, RING_EINVAL, 1 },
        { "group 64 bytes", MEMBER_TEXT_GROUP,
          "0123456789012345678901234567890123456789012345678901234567890123", 0, RING_EMSGSIZE,
          MEMBER_GROUP_BYTES_MAX },
        { "label key", MEMBER_TEXT_LABEL_KEY, "zone", 0, 0, 0 },
        { "label key empty", MEMBER_TEXT_LABEL_KEY, "", 0, RING_EINVAL, 0 },
        { "label key '='", MEMBER_TEXT_LABEL_KEY, "a=b", 0, RING_EINVAL, 1 },
        { "label key ','", MEMBER_TEXT_LABEL_KEY, "a,b", 0, RING_EINVAL, 1 },
        { "label key 32 bytes", MEMBER_TEXT_LABEL_KEY, "01234567890123456789012345678901", 0,
          RING_EMSGSIZE, MEMBER_LABEL_KEY_BYTES_MAX },
        { "label value empty", MEMBER_TEXT_LABEL_VALUE, "", 0, 0, 0 },
        { "label value", MEMBER_TEXT_LABEL_VALUE, "eu-1:a/b", 0, 0, 0 },
        { "label value '='", MEMBER_TEXT_LABEL_VALUE, "x=y", 0, RING_EINVAL, 1 },
        { "label value ','", MEMBER_TEXT_LABEL_VALUE, "x,y", 0, RING_EINVAL, 1 },
        { "label value escape", MEMBER_TEXT_LABEL_VALUE, "\x1b]0;title\x07", 0, RING_EINVAL, 0 },
        { "label value CR", MEMBER_TEXT_LABEL_VALUE, "v\r", 0, RING_EINVAL, 1 },
        { "unknown kind", 4, "a", 0, RING_EINVAL, 0 },
        { "negative kind", -1, "a", 0, RING_EINVAL, 0 },
    };
    for (size_t i = 0; i < RING_ARRAY_LEN(cases); i++) {
        size_t len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].s);
        size_t at = 99;
        int rv = member_text_check(cases[i].kind, cases[i].s, len, &at);
        cr_assert(eq(int, rv, cases[i].want), "%s: got %s", cases[i].what, ring_err_name(rv));
        cr_assert(eq(sz, at, cases[i].at), "%s", cases[i].what);
        cr_assert(eq(int, member_text_check(cases[i].kind, cases[i].s, len, NULL), rv));
    }
    cr_assert(eq(int, member_text_check(MEMBER_TEXT_ID, long_id, MEMBER_ID_BYTES_MAX, NULL), 0));
    cr_assert(eq(int, member_text_check(MEMBER_TEXT_ID, long_id, MEMBER_ID_BYTES_MAX + 1, NULL),
                 RING_EMSGSIZE));
    cr_assert(eq(sz, member_text_bytes_max(MEMBER_TEXT_ID), MEMBER_ID_BYTES_MAX));
    cr_assert(eq(sz, member_text_bytes_max(MEMBER_TEXT_LABEL_VALUE), MEMBER_LABEL_VALUE_BYTES_MAX));
    cr_assert(eq(sz, member_text_bytes_max(7), 0));
}

Test(members, set_label_adds_replaces_and_limits)
{
    struct member m = mk("a", 1);
    cr_assert(eq(int, member_set_label(&m, "zone", "eu-1"), 0));
    cr_assert(eq(int, member_set_label(&m, "zone", "eu-2"), 0));
    cr_assert(eq(u8, m.label_count, 1));
    ASSERT_STR_EQ(m.labels[0].value, "eu-2");
    cr_assert(eq(int, member_set_label(&m, "", "x"), RING_EINVAL));
    cr_assert(eq(int, member_set_label(&m, "12345678901234567890123456789012", "x"), RING_EINVAL));
    cr_assert(eq(int, member_set_label(&m, "k", "\x1b[31m"), RING_EINVAL));
    cr_assert(eq(int, member_set_label(&m, "k=", "v"), RING_EINVAL));
    cr_assert(eq(int, member_set_label(&m, "k", "a,b"), RING_EINVAL));
    char value[MEMBER_LABEL_VALUE_BYTES_MAX + 2];
    memset(value, 'v', sizeof(value));
    value[MEMBER_LABEL_VALUE_BYTES_MAX + 1] = '\0';
    cr_assert(eq(int, member_set_label(&m, "k", value), RING_EINVAL));
    value[MEMBER_LABEL_VALUE_BYTES_MAX] = '\0';
    cr_assert(eq(int, member_set_label(&m, "k", value), 0));
    for (int i = 2; i < MEMBER_LABELS_MAX; i++) {
        char key[8];
        snprintf(key, sizeof(key), "k%d", i);
        cr_assert(eq(int, member_set_label(&m, key, ""), 0));
    }
    cr_assert(eq(int, member_set_label(&m, "one-more", "x"), RING_E2BIG));
    cr_assert(eq(int, member_set_label(&m, "zone", "still-replaceable"), 0));
    cr_assert(eq(int, member_validate(&m), 0));
}

Test(members, validate_rejects_malformed_members)
{
    struct member good = mk("node", 1);
    cr_assert(eq(int, member_validate(&good), 0));
    struct member m;
#define BAD(mutation)                                                                              \
    do {                                                                                           \
        m = good;                                                                                  \
        mutation;                                                                                  \
        cr_assert(eq(int, member_validate(&m), RING_EPROTO), "accepted: %s", #mutation);           \
    } while (0)
    BAD(m.id_len = 0);
    BAD(m.id_len = 3);
    BAD(m.id_len = 5);
    BAD(m.id[1] = '\0');
    BAD(m.id[1] = '\x1b');
    BAD(m.id[1] = ' ');
    BAD(m.id[1] = (char)0xff);
    BAD((m.group[0] = 'g', m.group[1] = '\n', m.group_len = 2));
    BAD((member_set_label(&m, "k", "v"), m.labels[0].value[0] = '\x1b'));
    BAD((member_set_label(&m, "k", "v"), m.labels[0].key[0] = '='));
    BAD(m.status = 4);
    BAD(m.weight = 0);
    BAD(m.weight = HASHRING_WEIGHT_MAX + 1);
    BAD(m.addr.family = 0);
    BAD(m.addr.family = 5);
    BAD(m.addr.ip[4] = 1);
    BAD(m.group_len = 1);
    BAD((m.group[0] = 'g', m.group[1] = 'x', m.group_len = 1));
    BAD(m.label_count = MEMBER_LABELS_MAX + 1);
    BAD(m.label_count = 1);
    BAD((member_set_label(&m, "k", "v"), m.labels[0].value_len = 2));
    BAD((member_set_label(&m, "k", "v"), member_set_label(&m, "j", "v"), m.labels[1].key[0] = 'k'));
#undef BAD
    m = good;
    m.addr.family = RING_ADDR_V6;
    m.addr.ip[15] = 1;
    cr_assert(eq(int, member_validate(&m), 0));
}

Test(members, update_precedence)
{
    struct member cur = mk("n", 1);
    struct member upd = cur;
    struct {
        uint64_t cur_inc;
        uint8_t cur_status;
        uint64_t upd_inc;
        uint8_t upd_status;
        int want;
    } cases[] = {
        { 1, MEMBER_ALIVE, 2, MEMBER_ALIVE, 1 },         { 2, MEMBER_ALIVE, 1, MEMBER_LEFT, 0 },
        { 1, MEMBER_ALIVE, 1, MEMBER_ALIVE, 0 },         { 1, MEMBER_ALIVE, 1, MEMBER_SUSPECT, 1 },
        { 1, MEMBER_SUSPECT, 1, MEMBER_ALIVE, 0 },       { 1, MEMBER_SUSPECT, 1, MEMBER_FAULTY, 1 },
        { 1, MEMBER_FAULTY, 1, MEMBER_SUSPECT, 0 },      { 1, MEMBER_FAULTY, 1, MEMBER_LEFT, 1 },
        { 1, MEMBER_LEFT, 1, MEMBER_FAULTY, 0 },         { 1, MEMBER_LEFT, 2, MEMBER_ALIVE, 1 },
        { UINT64_MAX, MEMBER_ALIVE, 0, MEMBER_LEFT, 0 },
    };
    for (size_t i = 0; i < RING_ARRAY_LEN(cases); i++) {
        cur.incarnation = cases[i].cur_inc;
        cur.status = cases[i].cur_status;
        upd.incarnation = cases[i].upd_inc;
        upd.status = cases[i].upd_status;
        cr_assert(eq(int, members_update_overrides(&cur, &upd), cases[i].want), "case %zu", i);
    }
}

Test(members, draining_breaks_a_tie_and_leaves_the_ring_but_not_the_live_count)
{
    struct member cur = mk("n", 1);
    struct member upd = cur;
    upd.flags = MEMBER_FLAG_DRAINING;
    cr_assert(eq(int, members_update_overrides(&cur, &upd), 1), "same incarnation: flags win");
    cr_assert(eq(int, members_update_overrides(&upd, &cur), 0));
    cur.incarnation++;
    cr_assert(eq(int, members_update_overrides(&upd, &cur), 1), "undrain with a new incarnation");
    upd.status = MEMBER_SUSPECT;
    upd.incarnation = cur.incarnation;
    cr_assert(eq(int, members_update_overrides(&cur, &upd), 1), "status before flags");
    upd.flags = 0x04;
    cr_assert(eq(int, member_validate(&upd), RING_EPROTO), "unknown flag bit");

    struct members *t = table(4);
    struct member a = mk("a", 1), b = mk("b", 2);
    put(t, &a);
    put(t, &b);
    uint64_t ring_ab = members_ring_checksum(t, 0), sum_ab = members_checksum(t);
    uint64_t weight_ab = members_ring_weight(t), routes_ab = members_routes_checksum(t);
    b.flags = MEMBER_FLAG_DRAINING;
    b.incarnation++;
    put(t, &b);
    cr_assert(eq(sz, members_ring_count(t), 2));
    cr_assert(eq(sz, members_owner_count(t), 1));
    cr_assert(not(members_in_ring(t, (size_t)members_index(t, "b", 1))));
    cr_assert(eq(u64, members_ring_weight(t), weight_ab - b.weight));
    cr_assert(ne(u64, members_routes_checksum(t), routes_ab));
    cr_assert(eq(u64, members_checksum(t), slow_checksum(t)));
    struct members *only_a = table(4);
    put(only_a, &a);
    cr_assert(eq(u64, members_ring_checksum(t, 0), members_ring_checksum(only_a, 0)));
    b.flags = 0;
    b.incarnation++;
    put(t, &b);
    cr_assert(eq(u64, members_ring_checksum(t, 0), ring_ab));
    cr_assert(ne(u64, members_checksum(t), sum_ab), "a newer incarnation");
    cr_assert(eq(sz, members_owner_count(t), 2));
    b.status = MEMBER_FAULTY;
    b.flags = MEMBER_FLAG_DRAINING;
    put(t, &b);
    cr_assert(eq(sz, members_owner_count(t), 1), "a faulty draining member is counted once");
    members_del(only_a);
    members_del(t);
}

Test(members, digest_follows_the_specified_byte_layout)
{
    struct member m = mk("node-1", 0x0102);
    m.status = MEMBER_SUSPECT;
    m.incarnation = UINT64_C(0x1122334455667788);
    /* proto/PROTOCOL.md: le32(id_len) id u8(family) ip[16] le16(port) u8(status) le64(inc) */
    uint8_t buf[64] = { 6, 0, 0, 0, 'n', 'o', 'd', 'e', '-', '1', 4, 10, 0, 1, 2 };
    size_t p = 4 + 6 + 1 + 16;
    buf[p++] = 7946 & 0xff;
    buf[p++] = 7946 >> 8;
    buf[p++] = MEMBER_SUSPECT;
    for (int i = 0; i < 8; i++) {
        buf[p++] = (uint8_t)(m.incarnation >> (8 * i));
    }
    cr_assert(eq(u64, member_digest(&m), XXH3_64bits(buf, p)));
    /* Flags share the status byte, above bit 4. */
    struct member d = m;
    d.flags = MEMBER_FLAG_DRAINING;
    buf[4 + 6 + 1 + 16 + 2] = MEMBER_SUSPECT | MEMBER_FLAG_DRAINING << 4;
    cr_assert(eq(u64, member_digest(&d), XXH3_64bits(buf, p)));
    /* Weight, group and labels are not part of it. */
    struct member n = m;
    n.weight = 7;
    member_set_label(&n, "zone", "a");
    cr_assert(eq(u64, member_digest(&n), member_digest(&m)));
}

Test(members, new_rejects_bad_arguments)
{
    struct members *t = NULL;
    cr_assert(eq(int, members_new(&t, MEMBERS_MAX + 1, &tm.mem), RING_EINVAL));
    cr_assert(eq(int, members_new(NULL, 1, &tm.mem), RING_EINVAL));
    cr_assert(eq(int, members_new(&t, 0, NULL), 0));
    members_del(t);
    members_del(NULL);
}

Test(members, apply_inserts_and_follows_precedence)
{
    struct members *t = table(0);
    struct member m = mk("a", 1);
    int applied = -1;
    cr_assert(eq(int, members_apply(t, &m, &applied), 0));
    cr_assert(eq(int, applied, 1));
    cr_assert(eq(int, members_apply(t, &m, &applied), 0));
    cr_assert(eq(int, applied, 0), "a duplicate changes nothing");
    m.status = MEMBER_SUSPECT;
    cr_assert(eq(int, members_apply(t, &m, &applied), 0));
    cr_assert(eq(int, applied, 1));
    m.status = MEMBER_ALIVE;
    cr_assert(eq(int, members_apply(t, &m, &applied), 0));
    cr_assert(eq(int, applied, 0), "alive does not refute suspect at equal incarnation");
    m.incarnation = 2;
    m.addr.port = 1;
    cr_assert(eq(int, members_apply(t, &m, &applied), 0));
    cr_assert(eq(int, applied, 1));
    cr_assert(eq(int, members_status(t, 0), MEMBER_ALIVE));
    cr_assert(eq(u64, members_incarnation(t, 0), 2));
    cr_assert(eq(u16, members_addr(t, 0)->port, 1));
    m.id_len = 0;
    cr_assert(eq(int, members_apply(t, &m, &applied), RING_EPROTO));
    cr_assert(eq(int, applied, 0));
    cr_assert(eq(sz, members_count(t), 1));
    members_del(t);
}

Test(members, put_bypasses_precedence)
{
    struct members *t = table(4);
    struct member m = mk("self", 1);
    m.incarnation = 9;
    m.status = MEMBER_FAULTY;
    put(t, &m);
    m.incarnation = 3;
    m.status = MEMBER_ALIVE;
    put(t, &m);
    cr_assert(eq(u64, members_incarnation(t, 0), 3));
    cr_assert(eq(int, members_status(t, 0), MEMBER_ALIVE));
    cr_assert(eq(sz, members_count(t), 1));
    cr_assert(eq(u64, members_checksum(t), member_digest(&m)));
    members_del(t);
}

Test(members, get_returns_the_exact_record_inline_and_spilled)
{
    struct members *t = table(2);
    struct member small = mk("s", 1);
    struct member big = mk("a-rather-long-member-identifier-that-spills.example.svc", 2);
    memcpy(big.group, "group-a", 8);
    big.group_len = 7;
    member_set_label(&big, "zone", "eu-west-1a");
    member_set_label(&big, "v", "");
    big.weight = 1000;
    big.addr.family = RING_ADDR_V6;
    memset(big.addr.ip, 0xab, 16);
    put(t, &small);
    put(t, &big);
    struct member got;
    members_get(t, 0, &got);
    cr_assert(eq(int, memcmp(&got, &small, sizeof(got)), 0));
    members_get(t, 1, &got);
    cr_assert(eq(int, memcmp(&got, &big, sizeof(got)), 0));
    cr_assert(eq(u16, members_weight(t, 1), 1000));
    size_t len;
    const char *id = members_id(t, 1, &len);
    cr_assert(eq(sz, len, big.id_len));
    cr_assert(eq(int, memcmp(id, big.id, len), 0));
    members_del(t);
}

Test(members, remove_swaps_last_into_hole)
{
    struct members *t = table(0);
    char id[16];
    for (uint32_t i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "n%u", i);
        struct member m = mk(id, i);
        put(t, &m);
    }
    cr_assert(eq(int, members_remove(t, "n10", 3), 0));
    cr_assert(eq(sz, members_count(t), 99));
    size_t len;
    const char *moved = members_id(t, 10, &len);
    cr_assert(eq(int, memcmp(moved, "n99", 3), 0));
    cr_assert(eq(int, members_index(t, "n99", 3), 10));
    cr_assert(eq(int, members_index(t, "n10", 3), RING_ENOENT));
    cr_assert(eq(int, members_remove(t, "n10", 3), RING_ENOENT));
    cr_assert(eq(int, members_remove(t, "n98", 3), 0), "removing the last record");
    check_index(t);
    cr_assert(eq(u64, members_checksum(t), slow_checksum(t)));
    members_del(t);
}

/* Random puts, applies and removes: the index always finds every record, and the O(1)
 * checksums always equal the ones recomputed from scratch. */
Test(members, churn_keeps_index_and_checksums_exact)
{
    struct members *t = table(0);
    uint64_t seed = 42;
    char id[16];
    for (int step = 0; step < 20000; step++) {
        uint64_t r = test_rand(&seed);
        snprintf(id, sizeof(id), "m%u", (unsigned)(r % 300));
        if (r % 7 == 0) {
            int rv = members_remove(t, id, strlen(id));
            cr_assert(rv == 0 || rv == RING_ENOENT);
            continue;
        }
        struct member m = mk(id, (uint32_t)(r % 300));
        m.status = (uint8_t)((r >> 16) % 4);
        m.incarnation = (r >> 20) % 5;
        m.weight = (uint16_t)(1 + (r >> 24) % 3);
        int applied;
        cr_assert(eq(int, members_apply(t, &m, &applied), 0));
        if (step % 1000 == 0) {
            check_index(t);
        }
    }
    check_index(t);
    cr_assert(eq(u64, members_checksum(t), slow_checksum(t)));
    size_t by_status = 0;
    for (int s = 0; s <= MEMBER_LEFT; s++) {
        size_t n = 0;
        for (size_t i = 0; i < members_count(t); i++) {
            n += members_status(t, i) == s;
        }
        cr_assert(eq(sz, members_count_status(t, s), n));
        by_status += n;
    }
    cr_assert(eq(sz, by_status, members_count(t)));
    cr_assert(eq(sz, members_count_status(t, 9), 0));
    members_del(t);
}

Test(members, checksum_is_independent_of_order)
{
    struct members *a = table(0);
    struct members *b = table(0);
    char id[16];
    for (uint32_t i = 0; i < 50; i++) {
        snprintf(id, sizeof(id), "x%u", i);
        struct member m = mk(id, i);
        put(a, &m);
        snprintf(id, sizeof(id), "x%u", 49 - i);
        m = mk(id, 49 - i);
        put(b, &m);
    }
    cr_assert(eq(u64, members_checksum(a), members_checksum(b)));
    struct member m = mk("x3", 3);
    m.incarnation = 2;
    put(a, &m);
    cr_assert(ne(u64, members_checksum(a), members_checksum(b)));
    put(b, &m);
    cr_assert(eq(u64, members_checksum(a), members_checksum(b)));
    members_del(a);
    members_del(b);
}

/* members_ring_checksum() equals the checksum of a real ring of the alive+suspect members. */
Test(members, ring_checksum_matches_a_built_ring)
{
    struct members *t = table(0);
    char ids[40][16];
    struct hashring_member hm[40];
    size_t n = 0;
    for (uint32_t i = 0; i < 40; i++) {
        snprintf(ids[i], sizeof(ids[i]), "r%u", i);
        struct member m = mk(ids[i], i);
        m.status = (uint8_t)(i % 4);
        m.weight = (uint16_t)(1 + i % 5);
        put(t, &m);
        if (m.status == MEMBER_ALIVE || m.status == MEMBER_SUSPECT) {
            hm[n++] = (struct hashring_member){ ids[i], strlen(ids[i]), m.weight };
        }
    }
    cr_assert(eq(sz, members_ring_count(t), n));
    uint32_t vnodes_list[] = { 0, 1, 16, 1024 };
    for (size_t v = 0; v < RING_ARRAY_LEN(vnodes_list); v++) {
        struct hashring_config cfg = { .vnodes = vnodes_list[v] };
        struct hashring *r = NULL;
        cr_assert(eq(int, hashring_new(&r, hm, n, &cfg, &tm.mem), 0));
        cr_assert(eq(u64, members_ring_checksum(t, vnodes_list[v]), hashring_checksum(r)));
        hashring_del(r);
    }
    members_del(t);
}

/* A member that owns keys and moves to a new address keeps the ring checksum (no key changes
 * owner) but changes the routes checksum (keys go elsewhere); a dead member's move changes
 * neither; the routes checksum is exact after churn (a table rebuilt from scratch agrees). */
Test(members, routes_checksum_follows_a_ring_member_to_a_new_address)
{
    struct members *t = table(0);
    struct member a = mk("n10", 1), b = mk("n11", 2), c = mk("n12", 3);
    c.status = MEMBER_FAULTY;
    put(t, &a);
    put(t, &b);
    put(t, &c);
    uint64_t ring0 = members_ring_checksum(t, 0), routes0 = members_routes_checksum(t);

    b.addr.ip[3] = 200; /* rescheduled: same id, new IP */
    b.incarnation++;
    put(t, &b);
    cr_assert(eq(u64, members_ring_checksum(t, 0), ring0), "no key changes owner");
    uint64_t routes1 = members_routes_checksum(t);
    cr_assert(ne(u64, routes1, routes0), "but n11's keys now go to another address");

    c.addr.ip[3] = 201;
    put(t, &c);
    cr_assert(eq(u64, members_routes_checksum(t), routes1), "a faulty member routes nothing");

    b.weight = 2;
    put(t, &b);
    cr_assert(ne(u64, members_routes_checksum(t), routes1), "a weight change is a ring change");

    struct members *fresh = table(0);
    put(fresh, &c);
    put(fresh, &b);
    put(fresh, &a);
    cr_assert(eq(u64, members_routes_checksum(fresh), members_routes_checksum(t)));
    members_del(fresh);
    members_del(t);
}

Test(members, ring_checksum_of_empty_table_matches_empty_ring)
{
    struct members *t = table(0);
    struct hashring *r = NULL;
    cr_assert(eq(int, hashring_new(&r, NULL, 0, NULL, &tm.mem), 0));
    cr_assert(eq(u64, members_ring_checksum(t, 0), hashring_checksum(r)));
    hashring_del(r);
    members_del(t);
}

Test(members, full_table_is_e2big)
{
    struct members *t = table(MEMBERS_MAX);
    char id[16];
    for (uint32_t i = 0; i < MEMBERS_MAX; i++) {
        snprintf(id, sizeof(id), "f%u", i);
        struct member m = mk(id, i);
        put(t, &m);
    }
    struct member extra = mk("one-too-many", 1);
    int applied = -1;
    cr_assert(eq(int, members_apply(t, &extra, &applied), RING_E2BIG));
    cr_assert(eq(int, applied, 0));
    cr_assert(eq(int, members_put(t, &extra), RING_E2BIG));
    struct member again = mk("f7", 7);
    again.incarnation = 5;
    cr_assert(eq(int, members_put(t, &again), 0), "updates still work when full");
    cr_assert(eq(sz, members_count(t), MEMBERS_MAX));
    members_del(t);
}

/* The simulator's budget: 10,000 short-id members in well under 100 bytes each. */
Test(members, short_id_records_are_compact)
{
    cr_assert(eq(sz, members__record_bytes(), 64));
    /* The simulator knows its cluster size and passes it as the capacity. */
    struct members *t = table(10000);
    char id[32];
    for (uint32_t i = 0; i < 10000; i++) {
        snprintf(id, sizeof(id), "10.0.%u.%u:7946", i / 256, i % 256);
        struct member m = mk(id, i);
        put(t, &m);
    }
    size_t per = members_memory_bytes(t) / members_count(t);
    cr_assert(lt(sz, per, 80), "%zu bytes per member", per);
    cr_assert(eq(sz, tm.blocks, 3), "one block each for table, records and index");
    members_del(t);
    /* Grown by doubling from nothing, at worst half the array is spare. */
    t = table(0);
    for (uint32_t i = 0; i < 10000; i++) {
        snprintf(id, sizeof(id), "10.0.%u.%u:7946", i / 256, i % 256);
        struct member m = mk(id, i);
        put(t, &m);
    }
    per = members_memory_bytes(t) / members_count(t);
    cr_assert(lt(sz, per, 128), "%zu bytes per member", per);
    members_del(t);
}

/* Fails every allocation in turn: each failing call returns ENOMEM and leaves the table
 * exactly as it was (same records, same checksums). */
Test(members, allocation_failures_leave_the_table_unchanged)
{
    for (uint64_t fail_at = 1; fail_at <= 3; fail_at++) {
        struct members *t = (struct members *)1;
        tm.calls = 0;
        tm.fail_at = fail_at;
        cr_assert(eq(int, members_new(&t, 0, &tm.mem), RING_ENOMEM));
        cr_assert(eq(ptr, t, NULL));
        cr_assert(eq(sz, tm.bytes, 0));
    }
    tm.fail_at = 0;
    struct members *t = table(0);
    char id[96];
    int failures = 0;
    for (uint32_t i = 0; i < 200; i++) {
        /* Every third id spills to the heap, so blob allocations are exercised too. */
        snprintf(id, sizeof(id), i % 3 ? "p%u" : "a-long-id-that-does-not-fit-inline-%u", i);
        struct member m = mk(id, i);
        uint64_t sum = members_checksum(t);
        size_t count = members_count(t);
        tm.calls = 0;
        tm.fail_at = 1;
        int rv = members_put(t, &m);
        tm.fail_at = 0;
        if (rv != 0) {
            cr_assert(eq(int, rv, RING_ENOMEM));
            cr_assert(eq(sz, members_count(t), count));
            cr_assert(eq(u64, members_checksum(t), sum));
            cr_assert(eq(int, members_index(t, id, strlen(id)), RING_ENOENT));
            failures++;
            put(t, &m);
        }
        if (i % 3 == 0 && i > 0) {
            m.incarnation = 2;
            uint64_t before = members_checksum(t);
            tm.calls = 0;
            tm.fail_at = 1;
            cr_assert(eq(int, members_put(t, &m), RING_ENOMEM), "replace needs a new blob");
            tm.fail_at = 0;
            cr_assert(eq(u64, members_checksum(t), before));
        }
    }
    cr_assert(ge(int, failures, 67), "%d failing allocations seen", failures);
    check_index(t);
    cr_assert(eq(u64, members_checksum(t), slow_checksum(t)));
    members_del(t);
}

Test(members, clone_is_an_equal_independent_copy)
{
    struct members *t = table(0);
    char id[96];
    for (uint32_t i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), i % 3 ? "p%u" : "a-long-id-that-does-not-fit-inline-%u", i);
        struct member m = mk(id, i);
        m.status = (uint8_t)(i % 7 == 0 ? MEMBER_SUSPECT : MEMBER_ALIVE);
        put(t, &m);
    }
    struct members *c = NULL;
    cr_assert(eq(int, members__clone(&c, t, &tm.mem), 0));
    cr_assert(eq(sz, members_count(c), members_count(t)));
    cr_assert(eq(u64, members_checksum(c), members_checksum(t)));
    cr_assert(eq(u64, members_ring_checksum(c, 8), members_ring_checksum(t, 8)));
    cr_assert(eq(sz, members_count_status(c, MEMBER_SUSPECT), 15));
    struct member a, b;
    for (size_t i = 0; i < members_count(t); i++) {
        members_get(t, i, &a);
        members_get(c, i, &b);
        cr_assert(eq(int, memcmp(&a, &b, sizeof(a)), 0), "record %zu differs", i);
    }
    check_index(c);
    /* Independent: changing one leaves the other (and its spilled blobs) alone. */
    cr_assert(eq(int, members_remove(t, "a-long-id-that-does-not-fit-inline-0", 36), 0));
    struct member m = mk("p1", 1);
    m.incarnation = 9;
    put(c, &m);
    members_del(t);
    cr_assert(eq(u64, members_checksum(c), slow_checksum(c)));
    cr_assert(ge(int, members_index(c, "a-long-id-that-does-not-fit-inline-0", 36), 0));
    check_index(c);
    members_del(c);
}

Test(members, clone_allocation_failures_leak_nothing)
{
    struct members *t = table(0);
    char id[96];
    for (uint32_t i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), i % 2 ? "p%u" : "a-long-id-that-does-not-fit-inline-%u", i);
        struct member m = mk(id, i);
        put(t, &m);
    }
    size_t before = tm.bytes;
    /* The struct, the records, the slots and five spilled blobs: 8 allocations. */
    for (uint64_t fail_at = 1; fail_at <= 8; fail_at++) {
        struct members *c = (struct members *)1;
        tm.calls = 0;
        tm.fail_at = fail_at;
        cr_assert(eq(int, members__clone(&c, t, &tm.mem), RING_ENOMEM));
        cr_assert(eq(ptr, c, NULL));
        cr_assert(eq(sz, tm.bytes, before));
    }
    tm.fail_at = 0;
    members_del(t);
}

/* The ring's weight (its points are this x vnodes) follows every change in O(1): only alive
 * and suspect members hold points. swim refuses a new member that would take it past what
 * hashring_new() can build. */
Test(members, ring_weight_sums_the_weights_of_alive_and_suspect_members)
{
    struct members *t = table(0);
    cr_assert(eq(u64, members_ring_weight(t), 0));
    struct member a = mk("a", 1), b = mk("b", 2), c = mk("c", 3);
    a.weight = 3;
    b.weight = 10;
    b.status = MEMBER_SUSPECT;
    c.weight = 1000;
    put(t, &a);
    put(t, &b);
    put(t, &c);
    cr_assert(eq(u64, members_ring_weight(t), 1013));
    c.status = MEMBER_FAULTY;
    put(t, &c);
    cr_assert(eq(u64, members_ring_weight(t), 13));
    a.weight = 5;
    put(t, &a);
    cr_assert(eq(u64, members_ring_weight(t), 15));
    cr_assert(eq(int, members_remove(t, "b", 1), 0));
    cr_assert(eq(u64, members_ring_weight(t), 5));
    members_del(t);
}
