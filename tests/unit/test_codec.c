/* Unit tests for the codec module: round trips, exact sizes, vectors, malformed input. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_vectors.h"
#include "ring/codec.h"
#include "ring/error.h"
#include "ring/hashring.h"
#include "ring/members.h"
#include "testmem.h"

static struct testmem tm;
/* Messages are ~75 KB: keep them out of the stack. */
static struct codec_msg msg_a;
static struct codec_msg msg_b;
static uint8_t buf[1 << 20];

static void setup(void)
{
    testmem_init(&tm);
}

static void teardown(void)
{
    cr_assert(eq(sz, tm.bytes, 0), "leaked %zu bytes in %zu blocks", tm.bytes, tm.blocks);
}

TestSuite(codec, .init = setup, .fini = teardown);

/* Hex (whitespace ignored) to bytes; returns the length. */
static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    int hi = -1;
    for (; *hex != '\0'; hex++) {
        if (*hex == ' ' || *hex == '\n') {
            continue;
        }
        int v = (*hex >= 'a') ? *hex - 'a' + 10 : *hex - '0';
        if (hi < 0) {
            hi = v;
        } else {
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    cr_assert(eq(int, hi, -1), "odd hex digits");
    return n;
}

static void assert_member_eq(const struct member *a, const struct member *b)
{
    cr_assert(eq(int, memcmp(a, b, sizeof(*a)), 0), "member %s differs from %s", a->id, b->id);
}

/* Field-wise comparison: fields a type does not carry are not compared. */
static void assert_msg_eq(const struct codec_msg *a, const struct codec_msg *b)
{
    cr_assert(eq(u8, a->type, b->type));
    cr_assert(eq(u32, a->seq, b->seq));
    ASSERT_STR_EQ(a->from, b->from);
    cr_assert(eq(u8, a->from_len, b->from_len));
    if (a->type == CODEC_PING || a->type == CODEC_PING_REQ || a->type == CODEC_STREAM_PING) {
        ASSERT_STR_EQ(a->target, b->target);
    }
    if (a->type == CODEC_PING_REQ) {
        cr_assert(eq(int, ring_addr_equal(&a->target_addr, &b->target_addr), 1));
    }
    if (a->type == CODEC_PING || a->type == CODEC_ACK) {
        cr_assert(eq(u64, a->checksum, b->checksum));
    }
    cr_assert(eq(u16, a->update_count, b->update_count));
    for (int i = 0; i < a->update_count; i++) {
        assert_member_eq(&a->updates[i].m, &b->updates[i].m);
        ASSERT_STR_EQ(a->updates[i].source, b->updates[i].source);
    }
}

static size_t encode_ok(const struct codec_msg *msg)
{
    ssize_t n = codec_encode(buf, sizeof(buf), msg);
    cr_assert(gt(sz, (size_t)(n < 0 ? 0 : n), 0), "encode: %s", ring_strerror((int)n));
    return (size_t)n;
}

Test(codec, every_message_type_round_trips)
{
    for (size_t i = 0; i < RING_ARRAY_LEN(vec_msg_names); i++) {
        vec_msg(vec_msg_names[i], &msg_a);
        size_t n = encode_ok(&msg_a);
        cr_assert(eq(int, codec_peek_type(buf, n), msg_a.type));
        cr_assert(eq(int, codec_decode(buf, n, &msg_b), 0), "%s", vec_msg_names[i]);
        assert_msg_eq(&msg_a, &msg_b);
        /* And any updates on any type: swim piggybacks on everything. */
        vec_updates(&msg_a);
        n = encode_ok(&msg_a);
        cr_assert(eq(int, codec_decode(buf, n, &msg_b), 0), "%s", vec_msg_names[i]);
        assert_msg_eq(&msg_a, &msg_b);
    }
}

/* Random strings of random lengths, so every str/uint size class shows up. */
static void rand_text(uint64_t *seed, char *dst, uint8_t *len, size_t min, size_t max)
{
    size_t classes[] = { 0, 1, 31, 32, 127, 128, 255 };
    size_t n = test_rand(seed) % 2 ? classes[test_rand(seed) % RING_ARRAY_LEN(classes)]
                                   : test_rand(seed) % (max + 1);
    n = n < min ? min : n > max ? max : n;
    for (size_t i = 0; i < n; i++) {
        dst[i] = (char)('a' + test_rand(seed) % 26);
    }
    dst[n] = '\0';
    *len = (uint8_t)n;
}

static uint64_t rand_uint(uint64_t *seed)
{
    /* Values near every msgpack integer size boundary. */
    uint64_t edges[] = { 0,         127, 128, 255, 256, 65535, 65536, UINT32_MAX, UINT64_C(1) << 32,
                         UINT64_MAX };
    uint64_t r = test_rand(seed);
    return r % 3 == 0 ? edges[test_rand(seed) % RING_ARRAY_LEN(edges)] : r >> (r % 64);
}

static void rand_member(uint64_t *seed, struct member *m)
{
    memset(m, 0, sizeof(*m));
    rand_text(seed, m->id, &m->id_len, 1, MEMBER_ID_BYTES_MAX);
    m->status = (uint8_t)(test_rand(seed) % 4);
    m->incarnation = rand_uint(seed);
    m->weight = (uint16_t)(1 + test_rand(seed) % HASHRING_WEIGHT_MAX);
    m->addr.family = test_rand(seed) % 2 ? RING_ADDR_V4 : RING_ADDR_V6;
    for (int i = 0; i < (m->addr.family == RING_ADDR_V4 ? 4 : 16); i++) {
        m->addr.ip[i] = (uint8_t)test_rand(seed);
    }
    m->addr.port = (uint16_t)test_rand(seed);
    if (test_rand(seed) % 2) {
        rand_text(seed, m->group, &m->group_len, 0, MEMBER_GROUP_BYTES_MAX);
    }
    int labels = (int)(test_rand(seed) % (MEMBER_LABELS_MAX + 1));
    for (int i = 0; i < labels; i++) {
        char key[MEMBER_LABEL_KEY_BYTES_MAX + 1];
        char value[MEMBER_LABEL_VALUE_BYTES_MAX + 1];
        uint8_t len;
        rand_text(seed, key, &len, 1, MEMBER_LABEL_KEY_BYTES_MAX);
        rand_text(seed, value, &len, 0, MEMBER_LABEL_VALUE_BYTES_MAX);
        member_set_label(m, key, value);
    }
}

static void rand_msg(uint64_t *seed, struct codec_msg *msg)
{
    static const uint8_t types[] = { CODEC_PING,     CODEC_ACK,         CODEC_NACK,
                                     CODEC_PING_REQ, CODEC_STREAM_PING, CODEC_STREAM_ACK };
    memset(msg, 0, sizeof(*msg));
    msg->type = types[test_rand(seed) % RING_ARRAY_LEN(types)];
    msg->seq = (uint32_t)rand_uint(seed);
    msg->checksum = rand_uint(seed);
    rand_text(seed, msg->from, &msg->from_len, 1, MEMBER_ID_BYTES_MAX);
    rand_text(seed, msg->target, &msg->target_len, 1, MEMBER_ID_BYTES_MAX);
    msg->target_addr.family = RING_ADDR_V6;
    msg->target_addr.port = (uint16_t)test_rand(seed);
    size_t counts[] = { 0, 1, 15, 16, CODEC_UPDATES_MAX };
    msg->update_count = (uint16_t)(test_rand(seed) % 2 ? counts[test_rand(seed) % 5]
                                                       : test_rand(seed) % CODEC_UPDATES_MAX);
    for (int i = 0; i < msg->update_count; i++) {
        struct codec_update *u = &msg->updates[i];
        rand_member(seed, &u->m);
        if (test_rand(seed) % 2) {
            rand_text(seed, u->source, &u->source_len, 1, MEMBER_ID_BYTES_MAX);
        }
    }
}

/* codec_header_size() + the update sizes is exactly the encoded length, for every size
 * class of every field. */
Test(codec, sizes_are_exact_on_random_messages)
{
    uint64_t seed = 7;
    for (int i = 0; i < 2000; i++) {
        rand_msg(&seed, &msg_a);
        size_t want = codec_header_size(&msg_a);
        for (int k = 0; k < msg_a.update_count; k++) {
            want += codec_update_size(&msg_a.updates[k]);
        }
        size_t n = encode_ok(&msg_a);
        cr_assert(eq(sz, n, want), "message %d type %u updates %u", i, msg_a.type,
                  msg_a.update_count);
        cr_assert(eq(int, codec_decode(buf, n, &msg_b), 0));
        assert_msg_eq(&msg_a, &msg_b);
        /* One byte short does not fit; the exact size does. */
        cr_assert(eq(long, (long)codec_encode(buf, n - 1, &msg_a), RING_EMSGSIZE));
        cr_assert(eq(long, (long)codec_encode(buf, n, &msg_a), (long)n));
    }
}

Test(codec, encode_rejects_bad_messages)
{
    vec_msg("ping", &msg_a);
    msg_b = msg_a;
    msg_b.type = 99;
    cr_assert(eq(long, (long)codec_encode(buf, sizeof(buf), &msg_b), RING_EINVAL));
    msg_b.type = CODEC_SYNC;
    cr_assert(eq(long, (long)codec_encode(buf, sizeof(buf), &msg_b), RING_EINVAL));
    msg_b = msg_a;
    msg_b.from_len = 0;
    cr_assert(eq(long, (long)codec_encode(buf, sizeof(buf), &msg_b), RING_EINVAL));
    msg_b = msg_a;
    msg_b.update_count = CODEC_UPDATES_MAX + 1;
    cr_assert(eq(long, (long)codec_encode(buf, sizeof(buf), &msg_b), RING_EINVAL));
    msg_b = msg_a;
    msg_b.updates[1].m.weight = 0;
    cr_assert(eq(long, (long)codec_encode(buf, sizeof(buf), &msg_b), RING_EINVAL));
    msg_b = msg_a;
    msg_b.updates[0].source[1] = '\0';
    cr_assert(eq(long, (long)codec_encode(buf, sizeof(buf), &msg_b), RING_EINVAL));
    vec_msg("ping_req", &msg_b);
    msg_b.target_len = 0;
    cr_assert(eq(long, (long)codec_encode(buf, sizeof(buf), &msg_b), RING_EINVAL));
    vec_msg("ping_req", &msg_b);
    msg_b.target_addr.family = 0;
    cr_assert(eq(long, (long)codec_encode(buf, sizeof(buf), &msg_b), RING_EINVAL));
}

struct collected {
    size_t n;
    struct member m[64];
};

static void collect(const struct member *m, void *arg)
{
    struct collected *c = arg;
    cr_assert(lt(sz, c->n, RING_ARRAY_LEN(c->m)));
    c->m[c->n++] = *m;
}

static struct members *random_table(uint64_t *seed, size_t n)
{
    struct members *t = NULL;
    cr_assert(eq(int, members_new(&t, 0, &tm.mem), 0));
    for (size_t i = 0; i < n; i++) {
        struct member m;
        rand_member(seed, &m);
        cr_assert(eq(int, members_put(t, &m), 0));
    }
    return t;
}

Test(codec, sync_round_trips_every_record)
{
    uint64_t seed = 3;
    static struct collected got;
    for (size_t n = 0; n < 64; n += 9) {
        struct members *t = random_table(&seed, n);
        struct codec_sync hdr = { .type = CODEC_SYNC_REPLY, .checksum = members_checksum(t) };
        vec_text(hdr.from, &hdr.from_len, "me");
        ssize_t len = codec_encode_sync(buf, sizeof(buf), &hdr, t);
        cr_assert(gt(long, (long)len, 0));
        cr_assert(eq(sz, codec_sync_size(&hdr, t), (size_t)len));
        cr_assert(eq(int, codec_peek_type(buf, (size_t)len), CODEC_SYNC_REPLY));
        struct codec_sync out;
        got.n = 0;
        cr_assert(eq(int, codec_decode_sync(buf, (size_t)len, &out, collect, &got), 0));
        cr_assert(eq(u8, out.type, CODEC_SYNC_REPLY));
        cr_assert(eq(u8, out.join, 0));
        ASSERT_STR_EQ(out.from, "me");
        cr_assert(eq(u64, out.checksum, members_checksum(t)));
        /* Random ids may repeat: the table holds each once. */
        size_t count = members_count(t);
        cr_assert(eq(u32, out.member_count, (uint32_t)count));
        cr_assert(eq(sz, got.n, count));
        for (size_t i = 0; i < count; i++) {
            struct member want;
            members_get(t, i, &want);
            assert_member_eq(&got.m[i], &want);
        }
        cr_assert(eq(long, (long)codec_encode_sync(buf, (size_t)len - 1, &hdr, t), RING_EMSGSIZE));
        members_del(t);
    }
}

Test(codec, sync_errors_never_call_back)
{
    uint64_t seed = 5;
    static struct collected got;
    struct members *t = random_table(&seed, 10);
    struct codec_sync hdr = { .type = CODEC_SYNC, .join = 1 };
    vec_text(hdr.from, &hdr.from_len, "me");
    ssize_t len = codec_encode_sync(buf, sizeof(buf), &hdr, t);
    cr_assert(gt(long, (long)len, 0));
    struct codec_sync out;
    got.n = 0;
    /* Truncated inside the last member, and trailing garbage after a valid message. */
    cr_assert(eq(int, codec_decode_sync(buf, (size_t)len - 1, &out, collect, &got), RING_ETRUNC));
    buf[len] = 0xc0;
    cr_assert(eq(int, codec_decode_sync(buf, (size_t)len + 1, &out, collect, &got), RING_EPROTO));
    cr_assert(eq(sz, got.n, 0));
    /* A datagram is not a sync, and a sync is not a datagram. */
    cr_assert(eq(int, codec_decode(buf, (size_t)len, &msg_a), RING_EPROTO));
    vec_msg("ack", &msg_a);
    size_t n = encode_ok(&msg_a);
    cr_assert(eq(int, codec_decode_sync(buf, n, &out, collect, &got), RING_EPROTO));
    cr_assert(eq(sz, got.n, 0));
    hdr.type = CODEC_PING;
    cr_assert(eq(long, (long)codec_encode_sync(buf, sizeof(buf), &hdr, t), RING_EINVAL));
    members_del(t);
}

/* Every proper prefix of every valid message is RING_ETRUNC: the decoder never reads past
 * the end and never mistakes a cut message for another error. */
Test(codec, truncation_at_every_offset_is_etrunc)
{
    uint64_t seed = 11;
    for (int i = 0; i < 200; i++) {
        rand_msg(&seed, &msg_a);
        size_t n = encode_ok(&msg_a);
        for (size_t cut = 0; cut < n; cut++) {
            int rv = codec_decode(buf, cut, &msg_b);
            cr_assert(eq(int, rv, RING_ETRUNC), "message %d cut at %zu of %zu", i, cut, n);
        }
    }
    struct members *t = random_table(&seed, 20);
    struct codec_sync hdr = { .type = CODEC_SYNC };
    vec_text(hdr.from, &hdr.from_len, "me");
    ssize_t len = codec_encode_sync(buf, sizeof(buf), &hdr, t);
    struct codec_sync out;
    for (size_t cut = 0; cut < (size_t)len; cut++) {
        cr_assert(eq(int, codec_decode_sync(buf, cut, &out, NULL, NULL), RING_ETRUNC));
    }
    members_del(t);
}

/* Hand-written messages. NACK is [1, 3, {0: 5, 1: "a"}]; NACK3 is its head with room for a
 * third key, NACK_U that key as 31 (unknown), NACK1 as 5 (updates) with one update,
 * and UPD is a valid update map {0: "b", 1: bin(10.0.0.1:7946), 2: 0, 3: 1, 4: 1}. */
#define NACK     "93 01 03 82 00 05 01 a1 61"
#define NACK3    "93 01 03 83 00 05 01 a1 61"
#define NACK_U   NACK3 " 1f"
#define NACK1    NACK3 " 05 91"
#define UPD_HEAD "00 a1 62 01 c4 06 0a 00 00 01 1f 0a 02 00 03 01"
#define UPD      "85 " UPD_HEAD " 04 01"

struct bad_case {
    const char *name;
    const char *hex;
    int want;
};

static const struct bad_case bad_cases[] = {
    { "empty", "", RING_ETRUNC },
    { "trailing byte", NACK " c0", RING_EPROTO },
    { "trailing message", NACK NACK, RING_EPROTO },
    { "version 2", "93 02 03 82 00 05 01 a1 61", RING_EVERSION },
    { "version 0", "93 00 03 80", RING_EVERSION },
    { "version 2 with more items", "94 02 03 80 c0", RING_EVERSION },
    { "version 1 with 4 items", "94 01 03 82 00 05 01 a1 61 c0", RING_EPROTO },
    { "version 1 with 2 items", "92 01 03", RING_EPROTO },
    { "version as str", "93 a1 31 03 80", RING_ETYPE },
    { "version negative", "93 ff 03 80", RING_EPROTO },
    { "envelope is a map", "83 01 03 80", RING_ETYPE },
    { "envelope is nil", "c0", RING_ETYPE },
    { "unknown type", "93 01 63 82 00 05 01 a1 61", RING_EPROTO },
    { "huge type", "93 01 cf ff ff ff ff ff ff ff ff 80", RING_EPROTO },
    { "sync type to codec_decode", "93 01 10 80", RING_EPROTO },
    { "type as bool", "93 01 c3 80", RING_ETYPE },
    { "body is an array", "93 01 03 90", RING_ETYPE },
    { "body map32 huge", "93 01 03 df ff ff ff ff", RING_E2BIG },
    { "body map over key limit", "93 01 03 de 00 21", RING_E2BIG },
    { "body map count past end", "93 01 03 8f 00 05", RING_ETRUNC },
    { "missing from", "93 01 03 81 00 05", RING_EPROTO },
    { "missing seq", "93 01 03 81 01 a1 61", RING_EPROTO },
    { "empty from", "93 01 03 82 00 05 01 a0", RING_EPROTO },
    { "from with NUL", "93 01 03 82 00 05 01 a2 61 00", RING_EPROTO },
    { "from is bin", "93 01 03 82 00 05 01 c4 01 61", RING_ETYPE },
    { "from over limit", "93 01 03 82 00 05 01 d9 81", RING_EMSGSIZE },
    { "from str32 0xffffffff", "93 01 03 82 00 05 01 db ff ff ff ff", RING_EMSGSIZE },
    { "from str8 past end", "93 01 03 82 00 05 01 d9 10 61", RING_ETRUNC },
    { "duplicate seq", "93 01 03 83 00 05 00 05 01 a1 61", RING_EPROTO },
    { "seq is str", "93 01 03 82 00 a1 35 01 a1 61", RING_ETYPE },
    { "seq negative", "93 01 03 82 00 ff 01 a1 61", RING_EPROTO },
    { "seq int64 negative", "93 01 03 82 00 d3 ff ff ff ff ff ff ff fe 01 a1 61", RING_EPROTO },
    { "seq over 32 bits", "93 01 03 82 00 cf 00 00 00 01 00 00 00 00 01 a1 61", RING_EPROTO },
    { "seq is float", "93 01 03 82 00 cb 00 00 00 00 00 00 00 00 01 a1 61", RING_ETYPE },
    { "key is str", "93 01 03 82 a1 30 05 01 a1 61", RING_ETYPE },
    { "key is nil", "93 01 03 82 c0 05 01 a1 61", RING_ETYPE },
    { "key negative", "93 01 03 83 e0 05 00 05 01 a1 61", RING_EPROTO },
    { "reserved byte 0xc1", NACK_U " c1", RING_EPROTO },
    { "unknown str32 0xffffffff", NACK_U " db ff ff ff ff", RING_ETRUNC },
    { "unknown bin32 0xffffffff", NACK_U " c6 ff ff ff ff", RING_ETRUNC },
    { "unknown ext32 0xffffffff", NACK_U " c9 ff ff ff ff 01", RING_ETRUNC },
    { "unknown array32 0xffffffff", NACK_U " dd ff ff ff ff", RING_ETRUNC },
    { "unknown map32 0xffffffff", NACK_U " df ff ff ff ff", RING_ETRUNC },
    { "unknown nested 7 deep", NACK_U " 91 91 91 91 91 91 91 c0", RING_EPROTO },
    { "unknown nested maps too deep", NACK_U " 81 00 81 00 81 00 81 00 81 00 81 00 81 00 c0",
      RING_EPROTO },
    { "unknown float32 cut", NACK_U " ca 00 00", RING_ETRUNC },
    { "updates not an array", NACK3 " 05 80", RING_ETYPE },
    { "updates over limit", "93 01 03 83 00 05 01 a1 61 05 dc 00 41", RING_E2BIG },
    { "updates array32 0xffffffff", "93 01 03 83 00 05 01 a1 61 05 dd ff ff ff ff", RING_E2BIG },
    { "update not a map", NACK1 " 90", RING_ETYPE },
    { "update empty", NACK1 " 80", RING_EPROTO },
    { "update missing weight", NACK1 " 84 " UPD_HEAD, RING_EPROTO },
    { "update status 4", NACK1 " 85 00 a1 62 01 c4 06 0a 00 00 01 1f 0a 02 04 03 01 04 01",
      RING_EPROTO },
    { "update weight 0", NACK1 " 85 " UPD_HEAD " 04 00", RING_EPROTO },
    { "update flags with an unknown bit", NACK1 " 86 " UPD_HEAD " 04 01 08 04", RING_EPROTO },
    { "update flags 256", NACK1 " 86 " UPD_HEAD " 04 01 08 cd 01 00", RING_EPROTO },
    { "update flags not a uint", NACK1 " 86 " UPD_HEAD " 04 01 08 a1 61", RING_ETYPE },
    { "update weight 1001", NACK1 " 85 " UPD_HEAD " 04 cd 03 e9", RING_EPROTO },
    { "update incarnation negative",
      NACK1 " 85 00 a1 62 01 c4 06 0a 00 00 01 1f 0a 02 00 03 ff 04 01", RING_EPROTO },
    { "update incarnation float",
      NACK1 " 85 00 a1 62 01 c4 06 0a 00 00 01 1f 0a 02 00 03 ca 00 00 00 00 04 01", RING_ETYPE },
    { "update empty id", NACK1 " 85 00 a0 01 c4 06 0a 00 00 01 1f 0a 02 00 03 01 04 01",
      RING_EPROTO },
    { "update id over limit", NACK1 " 81 00 d9 81", RING_EMSGSIZE },
    { "update addr 5 bytes", NACK1 " 85 00 a1 62 01 c4 05 0a 00 00 01 1f 02 00 03 01 04 01",
      RING_EPROTO },
    { "update addr 19 bytes", NACK1 " 82 00 a1 62 01 c4 13", RING_EMSGSIZE },
    { "update addr is str", NACK1 " 85 00 a1 62 01 a6 0a 00 00 01 1f 0a 02 00 03 01 04 01",
      RING_ETYPE },
    { "update duplicate id", NACK1 " 86 " UPD_HEAD " 04 01 00 a1 62", RING_EPROTO },
    { "update group over limit", NACK1 " 86 " UPD_HEAD " 04 01 05 d9 40", RING_EMSGSIZE },
    { "update labels over limit", NACK1 " 86 " UPD_HEAD " 04 01 06 89", RING_E2BIG },
    { "update labels not a map", NACK1 " 86 " UPD_HEAD " 04 01 06 90", RING_ETYPE },
    { "update label key empty", NACK1 " 86 " UPD_HEAD " 04 01 06 81 a0 a1 76", RING_EPROTO },
    { "update label key over limit", NACK1 " 86 " UPD_HEAD " 04 01 06 81 d9 20", RING_EMSGSIZE },
    { "update label value not str", NACK1 " 86 " UPD_HEAD " 04 01 06 81 a1 6b 01", RING_ETYPE },
    { "update duplicate label", NACK1 " 86 " UPD_HEAD " 04 01 06 82 a1 6b a0 a1 6b a0",
      RING_EPROTO },
    { "update source over limit", NACK1 " 86 " UPD_HEAD " 04 01 07 d9 81", RING_EMSGSIZE },
    { "update unknown too deep", NACK1 " 86 " UPD_HEAD " 04 01 1f 91 91 91 91 91 c0", RING_EPROTO },
    { "ping-req missing target_addr", "93 01 04 83 00 05 01 a1 61 02 a1 62", RING_EPROTO },
    { "ping-req empty target", "93 01 04 84 00 05 01 a1 61 02 a0 03 c4 06 0a 00 00 01 1f 0a",
      RING_EPROTO },
    { "ping-req addr 5 bytes", "93 01 04 84 00 05 01 a1 61 02 a1 62 03 c4 05 0a 00 00 01 1f",
      RING_EPROTO },
    { "ping missing checksum", "93 01 01 83 00 05 01 a1 61 02 a0", RING_EPROTO },
    { "ping checksum negative", "93 01 01 84 00 05 01 a1 61 02 a0 04 ff", RING_EPROTO },
    /* Text fields hold printable ASCII only (PROTOCOL.md section 6, "Text fields"). */
    { "from with ESC", "93 01 03 82 00 05 01 a2 61 1b", RING_EPROTO },
    { "from with a space", "93 01 03 82 00 05 01 a3 61 20 62", RING_EPROTO },
    { "from with 0xff", "93 01 03 82 00 05 01 a2 61 ff", RING_EPROTO },
    { "from in UTF-8", "93 01 03 82 00 05 01 a2 c3 a9", RING_EPROTO },
    { "ping target with ESC", "93 01 01 84 00 05 01 a1 61 02 a2 62 1b 04 00", RING_EPROTO },
    { "update id with an escape sequence",
      NACK1 " 85 00 a5 1b 5b 32 4a 78 01 c4 06 0a 00 00 01 1f 0a 02 00 03 01 04 01", RING_EPROTO },
    { "update id with C1 CSI",
      NACK1 " 85 00 a3 62 c2 9b 01 c4 06 0a 00 00 01 1f 0a 02 00 03 01 04 01", RING_EPROTO },
    { "update id with DEL", NACK1 " 85 00 a2 62 7f 01 c4 06 0a 00 00 01 1f 0a 02 00 03 01 04 01",
      RING_EPROTO },
    { "update group with a newline", NACK1 " 86 " UPD_HEAD " 04 01 05 a2 67 0a", RING_EPROTO },
    { "update label key with '='", NACK1 " 86 " UPD_HEAD " 04 01 06 81 a3 6b 3d 6b a1 76",
      RING_EPROTO },
    { "update label value with ESC", NACK1 " 86 " UPD_HEAD " 04 01 06 81 a1 6b a2 1b 63",
      RING_EPROTO },
    { "update label value with ','", NACK1 " 86 " UPD_HEAD " 04 01 06 81 a1 6b a3 61 2c 62",
      RING_EPROTO },
    { "update label value invalid UTF-8", NACK1 " 86 " UPD_HEAD " 04 01 06 81 a1 6b a2 ed a0",
      RING_EPROTO },
    { "update source with BEL", NACK1 " 86 " UPD_HEAD " 04 01 07 a2 61 07", RING_EPROTO },
};

Test(codec, malformed_inputs_give_their_specific_error)
{
    static uint8_t in[4096];
    for (size_t i = 0; i < RING_ARRAY_LEN(bad_cases); i++) {
        size_t n = unhex(bad_cases[i].hex, in);
        int rv = codec_decode(in, n, &msg_a);
        cr_assert(eq(int, rv, bad_cases[i].want), "%s: got %s, want %s", bad_cases[i].name,
                  ring_err_name(rv), ring_err_name(bad_cases[i].want));
    }
}

static const struct {
    const char *name;
    const char *hex;
} good_cases[] = {
    { "minimal nack", NACK },
    { "nack with an update", NACK1 " " UPD },
    { "seq as int8", "93 01 03 82 00 d0 05 01 a1 61" },
    { "seq as uint64", "93 01 03 82 00 cf 00 00 00 00 00 00 00 05 01 a1 61" },
    { "keys in any order", "93 01 03 82 01 a1 61 00 05" },
    { "unknown scalar keys", NACK_U " c0" },
    { "unknown key 2^64-1", "93 01 03 83 00 05 cf ff ff ff ff ff ff ff ff c3 01 a1 61" },
    { "unknown nested 6 deep", NACK_U " 91 91 91 91 91 91 c0" },
    { "unknown ext and float",
      "93 01 03 84 00 05 01 a1 61 1e d4 01 02 1f cb 00 00 00 00 00 00 00 00" },
    { "a ping field on a nack is skipped", "93 01 03 83 00 05 01 a1 61 02 a1 62" },
    { "unknown member key", NACK1 " 86 " UPD_HEAD " 04 01 1f 91 91 91 c0" },
    { "source on an update", NACK1 " 86 " UPD_HEAD " 04 01 07 a1 61" },
    { "draining flag on an update", NACK1 " 86 " UPD_HEAD " 04 01 08 01" },
    { "empty updates", NACK3 " 05 90" },
};

Test(codec, tolerated_inputs_decode)
{
    static uint8_t in[4096];
    for (size_t i = 0; i < RING_ARRAY_LEN(good_cases); i++) {
        size_t n = unhex(good_cases[i].hex, in);
        int rv = codec_decode(in, n, &msg_a);
        cr_assert(eq(int, rv, 0), "%s: %s", good_cases[i].name, ring_err_name(rv));
        cr_assert(eq(u8, msg_a.type, CODEC_NACK));
        cr_assert(eq(u32, msg_a.seq, 5), "%s", good_cases[i].name);
        ASSERT_STR_EQ(msg_a.from, "a");
    }
    size_t n = unhex(NACK1 " " UPD, in);
    cr_assert(eq(int, codec_decode(in, n, &msg_a), 0));
    cr_assert(eq(u16, msg_a.update_count, 1));
    ASSERT_STR_EQ(msg_a.updates[0].m.id, "b");
    cr_assert(eq(u16, msg_a.updates[0].m.addr.port, 7946));
}

static const struct bad_case bad_sync_cases[] = {
    { "missing members", "93 01 10 83 01 a1 61 04 00 06 c3", RING_EPROTO },
    { "join is uint", "93 01 10 84 01 a1 61 04 00 06 01 07 90", RING_ETYPE },
    { "members over limit", "93 01 10 84 01 a1 61 04 00 06 c3 07 dd 00 01 00 00", RING_E2BIG },
    { "members past end", "93 01 10 84 01 a1 61 04 00 06 c3 07 dc 00 10", RING_ETRUNC },
    { "empty from", "93 01 10 84 01 a0 04 00 06 c3 07 90", RING_EPROTO },
    { "bad member", "93 01 10 84 01 a1 61 04 00 06 c3 07 91 80", RING_EPROTO },
    { "from with ESC", "93 01 10 84 01 a2 61 1b 04 00 06 c3 07 90", RING_EPROTO },
    { "second member's id with an escape sequence",
      "93 01 10 84 01 a1 61 04 00 06 c3 07 92 " UPD
      " 85 00 a5 1b 5b 32 4a 78 01 c4 06 0a 00 00 01 1f 0a 02 00 03 01 04 01",
      RING_EPROTO },
    { "member label value with ESC",
      "93 01 10 84 01 a1 61 04 00 06 c3 07 91 86 " UPD_HEAD " 04 01 06 81 a1 6b a2 1b 63",
      RING_EPROTO },
    { "ping to the sync decoder", "93 01 01 80", RING_EPROTO },
    { "version 9", "93 09 10 80", RING_EVERSION },
    /* have (key 15): whole 4-byte terms, ascending, within its limit, once. */
    { "have not whole terms", "93 01 10 85 01 a1 61 04 00 06 c3 07 90 0f c4 03 00 00 01",
      RING_EPROTO },
    { "have descending", "93 01 10 85 01 a1 61 04 00 06 c3 07 90 0f c4 08 00 00 00 02 00 00 00 01",
      RING_EPROTO },
    { "have is a str", "93 01 10 85 01 a1 61 04 00 06 c3 07 90 0f a0", RING_ETYPE },
    { "have is an array", "93 01 10 85 01 a1 61 04 00 06 c3 07 90 0f 90", RING_ETYPE },
    { "have over 4 x 65,535 bytes", "93 01 10 85 01 a1 61 04 00 06 c3 07 90 0f c6 00 04 00 00",
      RING_EMSGSIZE },
    { "have past end", "93 01 10 85 01 a1 61 04 00 06 c3 07 90 0f c4 08 00 00 00 01", RING_ETRUNC },
    { "have twice", "93 01 10 86 01 a1 61 04 00 06 c3 07 90 0f c4 00 0f c4 00", RING_EPROTO },
    { "a bad member after a have", "93 01 10 85 01 a1 61 04 00 06 c3 0f c4 00 07 91 80",
      RING_EPROTO },
};

Test(codec, sync_have_is_optional_and_only_a_request_reads_it)
{
    static uint8_t in[256];
    static struct collected got;
    struct codec_sync hdr;
    /* Equal terms may repeat (two records may share their high 32 bits). */
    size_t n = unhex("93 01 10 85 01 a1 61 04 00 06 c3 07 90 0f c4 0c 00 00 00 01 00 00 00 07 "
                     "00 00 00 07",
                     in);
    cr_assert(eq(int, codec_decode_sync(in, n, &hdr, collect, &got), 0));
    cr_assert(eq(u8, hdr.has_have, 1));
    cr_assert(eq(u32, hdr.have_count, 3));
    cr_assert(eq(int, codec_sync_have_has(&hdr, 1), 1));
    cr_assert(eq(int, codec_sync_have_has(&hdr, 7), 1));
    cr_assert(eq(int, codec_sync_have_has(&hdr, 0), 0));
    cr_assert(eq(int, codec_sync_have_has(&hdr, 2), 0));
    cr_assert(eq(int, codec_sync_have_has(&hdr, UINT32_MAX), 0));
    /* An empty have is a have: the sender holds nothing. */
    n = unhex("93 01 10 85 01 a1 61 04 00 06 c3 07 90 0f c4 00", in);
    cr_assert(eq(int, codec_decode_sync(in, n, &hdr, collect, &got), 0));
    cr_assert(eq(u8, hdr.has_have, 1));
    cr_assert(eq(u32, hdr.have_count, 0));
    cr_assert(eq(int, codec_sync_have_has(&hdr, 0), 0));
    /* In a reply key 15 is unknown: skipped whatever it holds. */
    n = unhex("93 01 11 85 01 a1 61 04 00 06 c2 07 90 0f c4 03 01 02 03", in);
    cr_assert(eq(int, codec_decode_sync(in, n, &hdr, collect, &got), 0));
    cr_assert(eq(u8, hdr.has_have, 0));
    cr_assert(eq(int, codec_sync_have_has(&hdr, 0x01020300), 0));
}

Test(codec, sync_have_round_trips_and_the_encoder_refuses_a_bad_one)
{
    static struct collected got;
    const uint8_t have[8] = { 0, 0, 0, 5, 0xff, 0, 0, 0 };
    const uint8_t unsorted[8] = { 0xff, 0, 0, 0, 0, 0, 0, 5 };
    struct members *t = NULL;
    cr_assert(eq(int, members_new(&t, 0, &tm.mem), 0));
    struct codec_sync hdr = { .type = CODEC_SYNC, .join = 1, .has_have = 1, .have_count = 2 };
    hdr.have = have;
    vec_text(hdr.from, &hdr.from_len, "node-a");
    ssize_t len = codec_encode_sync(buf, sizeof(buf), &hdr, t);
    cr_assert(gt(long, (long)len, 0));
    cr_assert(eq(sz, codec_sync_size(&hdr, t), (size_t)len));
    struct codec_sync out;
    got.n = 0;
    cr_assert(eq(int, codec_decode_sync(buf, (size_t)len, &out, collect, &got), 0));
    cr_assert(eq(u32, out.have_count, 2));
    cr_assert(eq(int, memcmp(out.have, have, sizeof(have)), 0));
    cr_assert(eq(int, codec_sync_have_has(&out, 0xff000000u), 1));
    hdr.have = unsorted;
    cr_assert(eq(long, (long)codec_encode_sync(buf, sizeof(buf), &hdr, t), RING_EINVAL));
    hdr.have = have;
    hdr.type = CODEC_SYNC_REPLY; /* a reply carries no have */
    cr_assert(eq(long, (long)codec_encode_sync(buf, sizeof(buf), &hdr, t), RING_EINVAL));
    members_del(t);
}

Test(codec, malformed_syncs_give_their_specific_error)
{
    static uint8_t in[4096];
    static struct collected got;
    struct codec_sync hdr;
    for (size_t i = 0; i < RING_ARRAY_LEN(bad_sync_cases); i++) {
        size_t n = unhex(bad_sync_cases[i].hex, in);
        got.n = 0;
        int rv = codec_decode_sync(in, n, &hdr, collect, &got);
        cr_assert(eq(int, rv, bad_sync_cases[i].want), "%s: got %s", bad_sync_cases[i].name,
                  ring_err_name(rv));
        cr_assert(eq(sz, got.n, 0));
    }
    size_t n = unhex("93 01 11 85 01 a1 61 04 00 06 c2 07 91 " UPD " 1f 80", in);
    got.n = 0;
    cr_assert(eq(int, codec_decode_sync(in, n, &hdr, collect, &got), 0));
    cr_assert(eq(sz, got.n, 1));
    cr_assert(eq(u8, hdr.type, CODEC_SYNC_REPLY));
}

Test(codec, peek_type)
{
    static uint8_t in[64];
    cr_assert(eq(int, codec_peek_type(in, unhex(NACK, in)), CODEC_NACK));
    cr_assert(eq(int, codec_peek_type(in, unhex("93 01 10 80", in)), CODEC_SYNC));
    cr_assert(eq(int, codec_peek_type(in, unhex("93 02 10 80", in)), RING_EVERSION));
    cr_assert(eq(int, codec_peek_type(in, unhex("93 01 63 80", in)), RING_EPROTO));
    cr_assert(eq(int, codec_peek_type(in, 0), RING_ETRUNC));
}

Test(codec, frame_header)
{
    uint8_t hdr[CODEC_FRAME_HEADER_BYTES];
    uint32_t len = 0;
    codec_frame_header(hdr, 0x00f1f2f3);
    cr_assert(eq(int, memcmp(hdr, "\x00\xf1\xf2\xf3", 4), 0));
    cr_assert(eq(int, codec_frame_length(hdr, &len), 0));
    cr_assert(eq(u32, len, 0x00f1f2f3));
    codec_frame_header(hdr, CODEC_FRAME_BYTES_MAX);
    cr_assert(eq(int, codec_frame_length(hdr, &len), 0));
    cr_assert(eq(u32, len, CODEC_FRAME_BYTES_MAX));
    memcpy(hdr, "\x01\x00\x00\x01", 4);
    cr_assert(eq(int, codec_frame_length(hdr, &len), RING_EMSGSIZE));
    memcpy(hdr, "\xff\xff\xff\xff", 4);
    cr_assert(eq(int, codec_frame_length(hdr, &len), RING_EMSGSIZE));
}

/* Reads proto/vectors/codec/<name>.hex into |out|. */
static size_t read_vector(const char *name, uint8_t *out)
{
    char path[512];
    static char text[1 << 16];
    snprintf(path, sizeof(path), "%s/proto/vectors/codec/%s.hex", RING_SOURCE_DIR, name);
    FILE *f = fopen(path, "r");
    cr_assert(ne(ptr, f, NULL), "cannot open %s", path);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    return unhex(text, out);
}

/* Decoding each vector gives the fields of tests/unit/codec_vectors.h (also written out in
 * proto/vectors/codec/<name>.txt), and encoding those fields gives the vector's bytes. */
Test(codec, known_answer_vectors)
{
    static uint8_t want[1 << 15];
    for (size_t i = 0; i < RING_ARRAY_LEN(vec_msg_names); i++) {
        size_t n = read_vector(vec_msg_names[i], want);
        cr_assert(eq(int, vec_msg(vec_msg_names[i], &msg_a), 1));
        cr_assert(eq(int, codec_decode(want, n, &msg_b), 0), "%s", vec_msg_names[i]);
        assert_msg_eq(&msg_b, &msg_a);
        ssize_t len = codec_encode(buf, sizeof(buf), &msg_b);
        cr_assert(eq(long, (long)len, (long)n), "%s", vec_msg_names[i]);
        cr_assert(eq(int, memcmp(buf, want, n), 0), "%s re-encodes differently", vec_msg_names[i]);
    }
}

Test(codec, known_answer_sync_vectors)
{
    static uint8_t want[1 << 15];
    static struct collected got;
    const char *names[] = { "sync", "sync_reply" };
    const int types[] = { CODEC_SYNC, CODEC_SYNC_REPLY };
    for (size_t v = 0; v < 2; v++) {
        struct members *t = NULL;
        struct codec_sync hdr;
        struct codec_sync out;
        cr_assert(eq(int, members_new(&t, 0, &tm.mem), 0));
        vec_sync(&hdr, t, types[v]);
        size_t n = read_vector(names[v], want);
        got.n = 0;
        cr_assert(eq(int, codec_decode_sync(want, n, &out, collect, &got), 0));
        cr_assert(eq(u8, out.type, types[v]));
        cr_assert(eq(u8, out.join, hdr.join));
        ASSERT_STR_EQ(out.from, "node-a");
        cr_assert(eq(u64, out.checksum, hdr.checksum));
        cr_assert(eq(sz, got.n, 2));
        struct member m;
        for (size_t i = 0; i < 2; i++) {
            members_get(t, i, &m);
            assert_member_eq(&got.m[i], &m);
        }
        /* Re-encode from the decoded members. */
        struct members *back = NULL;
        cr_assert(eq(int, members_new(&back, 0, &tm.mem), 0));
        for (size_t i = 0; i < got.n; i++) {
            cr_assert(eq(int, members_put(back, &got.m[i]), 0));
        }
        ssize_t len = codec_encode_sync(buf, sizeof(buf), &out, back);
        cr_assert(eq(long, (long)len, (long)n));
        cr_assert(eq(int, memcmp(buf, want, n), 0));
        members_del(back);
        members_del(t);
    }
}

Test(codec, known_answer_sync_have_vector)
{
    static uint8_t want[1 << 12];
    static struct collected got;
    uint8_t have[12];
    struct members *t = NULL;
    struct codec_sync hdr;
    struct codec_sync out;
    cr_assert(eq(int, members_new(&t, 0, &tm.mem), 0));
    vec_sync_have(&hdr, t, have);
    size_t n = read_vector("sync_have", want);
    got.n = 0;
    cr_assert(eq(int, codec_decode_sync(want, n, &out, collect, &got), 0));
    cr_assert(eq(u8, out.join, 1));
    ASSERT_STR_EQ(out.from, "node-c");
    cr_assert(eq(sz, got.n, 1));
    cr_assert(eq(u8, out.has_have, 1));
    cr_assert(eq(u32, out.have_count, 3));
    cr_assert(eq(int, memcmp(out.have, have, sizeof(have)), 0));
    ssize_t len = codec_encode_sync(buf, sizeof(buf), &out, t);
    cr_assert(eq(long, (long)len, (long)n));
    cr_assert(eq(int, memcmp(buf, want, n), 0));
    members_del(t);
}

/* What codec.h promises swim about the header's dependence on the update count. */
Test(codec, header_size_depends_on_update_count_as_documented)
{
    vec_msg("ack", &msg_a);
    size_t base = codec_header_size(&msg_a);
    size_t want[] = { 0, 2, 2, 4, 4 };
    uint16_t counts[] = { 0, 1, 15, 16, CODEC_UPDATES_MAX };
    for (size_t i = 0; i < RING_ARRAY_LEN(counts); i++) {
        msg_a.update_count = counts[i];
        cr_assert(eq(sz, codec_header_size(&msg_a) - base, want[i]), "count %u", counts[i]);
    }
}

Test(codec, a_draining_member_round_trips_and_costs_two_bytes)
{
    vec_msg(vec_msg_names[0], &msg_a);
    vec_updates(&msg_a);
    size_t plain = encode_ok(&msg_a);
    msg_a.updates[0].m.flags = MEMBER_FLAG_DRAINING;
    size_t n = encode_ok(&msg_a);
    cr_assert(eq(sz, n, plain + 2), "key 8 and a fixint");
    cr_assert(eq(int, codec_decode(buf, n, &msg_b), 0));
    assert_msg_eq(&msg_a, &msg_b);
    cr_assert(eq(u8, msg_b.updates[0].m.flags, MEMBER_FLAG_DRAINING));
    msg_a.updates[0].m.flags = 0x80;
    cr_assert(eq(long, (long)codec_encode(buf, sizeof(buf), &msg_a), (long)RING_EINVAL));
}
