/*
 * libFuzzer target: codec_decode() on arbitrary datagrams.
 *
 * Beyond "no crash, no leak, no UB" (ASan/UBSan), every accepted input must:
 * - be valid msgpack to msgpack-c too, as one whole object (differential check: our strict
 *   reader never accepts what the reference unpacker rejects);
 * - re-encode, at exactly codec_header_size() + the codec_update_size()s, and decode again
 *   to the same fields; a second re-encode gives the same bytes (the encoding is unique);
 * - agree with codec_peek_type();
 * - hold only the text member_text_check() allows, in every id, group and label.
 */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "ring/codec.h"

#include "fuzz_util.h"

static struct codec_msg first;
static struct codec_msg second;
static uint8_t enc1[CODEC_DATAGRAM_BYTES_MAX];
static uint8_t enc2[CODEC_DATAGRAM_BYTES_MAX];

static void check_same(const struct codec_msg *a, const struct codec_msg *b)
{
    CHECK(a->type == b->type && a->seq == b->seq && a->checksum == b->checksum);
    CHECK(a->from_len == b->from_len && strcmp(a->from, b->from) == 0);
    CHECK(a->target_len == b->target_len && strcmp(a->target, b->target) == 0);
    CHECK(ring_addr_equal(&a->target_addr, &b->target_addr));
    CHECK(a->update_count == b->update_count);
    for (int i = 0; i < a->update_count; i++) {
        CHECK(memcmp(&a->updates[i].m, &b->updates[i].m, sizeof(struct member)) == 0);
        CHECK(strcmp(a->updates[i].source, b->updates[i].source) == 0);
    }
}

/* Whatever decodes holds only the text the rule allows (PROTOCOL.md section 6). */
static void check_text(const struct codec_msg *m)
{
    CHECK(member_text_check(MEMBER_TEXT_ID, m->from, m->from_len, NULL) == 0);
    CHECK(m->target_len == 0 ||
          member_text_check(MEMBER_TEXT_ID, m->target, m->target_len, NULL) == 0);
    for (int i = 0; i < m->update_count; i++) {
        const struct codec_update *u = &m->updates[i];
        CHECK(member_validate(&u->m) == 0);
        CHECK(u->source_len == 0 ||
              member_text_check(MEMBER_TEXT_ID, u->source, u->source_len, NULL) == 0);
    }
}

static size_t expected_size(const struct codec_msg *m)
{
    size_t n = codec_header_size(m);
    for (int i = 0; i < m->update_count; i++) {
        n += codec_update_size(&m->updates[i]);
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > CODEC_DATAGRAM_BYTES_MAX) {
        return 0;
    }
    int rv = codec_decode(data, size, &first);
    int peek = codec_peek_type(data, size);
    if (rv != 0) {
        CHECK(rv < 0);
        return 0;
    }
    CHECK(peek == first.type);
    check_text(&first);
    check_msgpack_c_accepts(data, size);
    ssize_t n1 = codec_encode(enc1, sizeof(enc1), &first);
    CHECK(n1 > 0 && (size_t)n1 == expected_size(&first));
    CHECK(codec_decode(enc1, (size_t)n1, &second) == 0);
    check_same(&first, &second);
    ssize_t n2 = codec_encode(enc2, sizeof(enc2), &second);
    CHECK(n2 == n1 && memcmp(enc1, enc2, (size_t)n1) == 0);
    return 0;
}
