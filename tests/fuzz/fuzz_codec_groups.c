/*
 * libFuzzer target: codec_decode_groups() on arbitrary datagrams (the cross-group exchange).
 *
 * Beyond "no crash, no leak, no UB" (ASan/UBSan), every accepted input must:
 * - be valid msgpack to msgpack-c too, as one whole object;
 * - re-encode, at exactly codec_groups_header_size() + the codec_summary_size()s, and decode
 *   again to the same fields; a second re-encode gives the same bytes (the encoding is unique);
 * - agree with codec_peek_type(), and be refused by codec_decode() (swim's decoder).
 */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "ring/codec.h"

#include "fuzz_util.h"

static struct codec_groups first;
static struct codec_groups second;
static struct codec_msg other;
static uint8_t enc1[CODEC_DATAGRAM_BYTES_MAX];
static uint8_t enc2[CODEC_DATAGRAM_BYTES_MAX];

static void check_same(const struct codec_groups *a, const struct codec_groups *b)
{
    CHECK(a->type == b->type && a->seq == b->seq && a->digest == b->digest);
    CHECK(a->group_count == b->group_count && a->has_buckets == b->has_buckets);
    CHECK(!a->has_buckets || memcmp(a->buckets, b->buckets, sizeof(a->buckets)) == 0);
    CHECK(a->from_len == b->from_len && strcmp(a->from, b->from) == 0);
    CHECK(a->group_len == b->group_len && strcmp(a->group, b->group) == 0);
    CHECK(a->summary_count == b->summary_count);
    for (int i = 0; i < a->summary_count; i++) {
        const struct codec_summary *x = &a->summaries[i], *y = &b->summaries[i];
        CHECK(x->name_len == y->name_len && strcmp(x->name, y->name) == 0);
        CHECK(x->version == y->version && x->size == y->size);
        CHECK(x->ring_checksum == y->ring_checksum && x->contact_count == y->contact_count);
        for (int k = 0; k < x->contact_count; k++) {
            CHECK(strcmp(x->contacts[k].id, y->contacts[k].id) == 0);
            CHECK(ring_addr_equal(&x->contacts[k].addr, &y->contacts[k].addr));
        }
    }
}

static size_t expected_size(const struct codec_groups *m)
{
    size_t n = codec_groups_header_size(m);
    for (int i = 0; i < m->summary_count; i++) {
        n += codec_summary_size(&m->summaries[i]);
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > CODEC_DATAGRAM_BYTES_MAX) {
        return 0;
    }
    int rv = codec_decode_groups(data, size, &first);
    if (rv != 0) {
        CHECK(rv < 0);
        return 0;
    }
    CHECK(codec_peek_type(data, size) == first.type && codec_is_groups_type(first.type));
    CHECK(codec_decode(data, size, &other) != 0);
    check_msgpack_c_accepts(data, size);
    ssize_t n1 = codec_encode_groups(enc1, sizeof(enc1), &first);
    CHECK(n1 > 0 && (size_t)n1 == expected_size(&first));
    CHECK(codec_decode_groups(enc1, (size_t)n1, &second) == 0);
    check_same(&first, &second);
    ssize_t n2 = codec_encode_groups(enc2, sizeof(enc2), &second);
    CHECK(n2 == n1 && memcmp(enc1, enc2, (size_t)n1) == 0);
    return 0;
}
