/*
 * libFuzzer target: codec_decode_sync() on arbitrary stream frames.
 *
 * Checks: the callback is never called when the decode fails; every accepted input is valid
 * msgpack to msgpack-c; its members all go into a table (they passed member_validate(), so
 * members_put() must take them), and the table re-encodes (at exactly codec_sync_size())
 * and decodes into a table with the same membership checksum and the same have; every term
 * of an accepted have is found by codec_sync_have_has().
 */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "ring/codec.h"
#include "ring/members.h"

#include "fuzz_util.h"

/* Inputs are capped below the frame limit to keep each run fast. */
#define INPUT_BYTES_MAX (1u << 20)

static uint8_t enc[2 * INPUT_BYTES_MAX];

struct sink {
    struct members *t;
    size_t calls;
};

static void on_member(const struct member *m, void *arg)
{
    struct sink *s = arg;
    s->calls++;
    CHECK(member_validate(m) == 0);
    CHECK(members_put(s->t, m) == 0);
}

static void check_reencode(const struct codec_sync *hdr, const struct members *t)
{
    struct sink again = { NULL, 0 };
    struct codec_sync hdr2;
    CHECK(members_new(&again.t, 0, NULL) == 0);
    ssize_t n = codec_encode_sync(enc, sizeof(enc), hdr, t);
    CHECK(n > 0 && (size_t)n == codec_sync_size(hdr, t));
    CHECK(codec_decode_sync(enc, (size_t)n, &hdr2, on_member, &again) == 0);
    CHECK(hdr2.type == hdr->type && hdr2.join == hdr->join && hdr2.checksum == hdr->checksum);
    CHECK(strcmp(hdr2.from, hdr->from) == 0 && hdr2.member_count == members_count(t));
    CHECK(members_checksum(again.t) == members_checksum(t));
    CHECK(members_count(again.t) == members_count(t));
    CHECK(hdr2.has_have == hdr->has_have && hdr2.have_count == hdr->have_count);
    CHECK(hdr->have_count == 0 || memcmp(hdr2.have, hdr->have, 4 * (size_t)hdr->have_count) == 0);
    members_del(again.t);
}

/* An accepted have is a request's, ascending, and finds each of its terms. */
static void check_have(const struct codec_sync *hdr)
{
    CHECK(!hdr->has_have || hdr->type == CODEC_SYNC);
    for (uint32_t i = 0; i < hdr->have_count; i++) {
        const uint8_t *p = hdr->have + 4 * i;
        uint32_t term = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        CHECK(codec_sync_have_has(hdr, term));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > INPUT_BYTES_MAX) {
        return 0;
    }
    struct sink s = { NULL, 0 };
    struct codec_sync hdr;
    CHECK(members_new(&s.t, 0, NULL) == 0);
    int rv = codec_decode_sync(data, size, &hdr, on_member, &s);
    if (rv != 0) {
        CHECK(rv < 0 && s.calls == 0 && members_count(s.t) == 0);
    } else {
        CHECK(s.calls == hdr.member_count);
        check_msgpack_c_accepts(data, size);
        check_have(&hdr);
        check_reencode(&hdr, s.t);
    }
    members_del(s.t);
    return 0;
}
