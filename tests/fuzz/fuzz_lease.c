/*
 * libFuzzer target: codec_decode_lease() and lease_recv() on arbitrary datagrams (exclusive
 * shard leases).
 *
 * Beyond "no crash, no leak, no UB" (ASan/UBSan), every accepted input must:
 * - be valid msgpack to msgpack-c too, as one whole object;
 * - re-encode, at exactly codec_lease_header_size() + the codec_lease_entry_size()s, and
 *   decode again to the same fields; a second re-encode gives the same bytes (the encoding
 *   is unique);
 * - agree with codec_peek_type(), and be refused by swim's and the group exchange's
 *   decoders.
 * Then the bytes go to a lease state machine (a node of a 3-member view that already holds
 * and wants shards) as if from a member, and whatever it answers must decode: a lease never
 * sends a message it would refuse, and no input reaches an assertion.
 */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "ring/codec.h"
#include "ring/hashring.h"
#include "ring/lease.h"
#include "ring/members.h"

#include "fuzz_util.h"

static struct codec_lease first;
static struct codec_lease second;
static struct codec_msg other;
static struct codec_groups other_groups;
static uint8_t enc1[CODEC_DATAGRAM_BYTES_MAX];
static uint8_t enc2[CODEC_DATAGRAM_BYTES_MAX];

static void check_same(const struct codec_lease *a, const struct codec_lease *b)
{
    CHECK(a->type == b->type && a->seq == b->seq && a->lease_ms == b->lease_ms);
    CHECK(a->from_len == b->from_len && strcmp(a->from, b->from) == 0);
    CHECK(a->entry_count == b->entry_count);
    for (int i = 0; i < a->entry_count; i++) {
        CHECK(a->entries[i].shard == b->entries[i].shard);
        CHECK(a->entries[i].epoch == b->entries[i].epoch);
        CHECK(a->entries[i].extra == b->entries[i].extra);
    }
}

static size_t expected_size(const struct codec_lease *m)
{
    size_t n = codec_lease_header_size(m);
    for (int i = 0; i < m->entry_count; i++) {
        n += codec_lease_entry_size(&m->entries[i]);
    }
    return n;
}

/* A node "b" of members a, b, c (its view), 64 shards, past its first lease. */
static struct lease *node;
static struct members *view;
static struct hashring *ring;

static void addr_of(int i, struct ring_addr *a)
{
    memset(a, 0, sizeof(*a));
    a->family = RING_ADDR_V4;
    a->ip[0] = 10;
    a->ip[3] = (uint8_t)(i + 1);
    a->port = 7946;
}

static void setup(void)
{
    static const char *ids[] = { "a", "b", "c" };
    struct hashring_member hm[3];
    CHECK(members_new(&view, 0, NULL) == 0);
    for (int i = 0; i < 3; i++) {
        struct member m;
        memset(&m, 0, sizeof(m));
        CHECK(member_set_id(&m, ids[i], 1) == 0);
        addr_of(i, &m.addr);
        m.incarnation = 1;
        m.weight = 1;
        CHECK(members_put(view, &m) == 0);
        hm[i] = (struct hashring_member){ ids[i], 1, 1 };
    }
    CHECK(hashring_new(&ring, hm, 3, NULL, NULL) == 0);
}

static void drain(uint64_t now)
{
    struct ring_addr to;
    ssize_t n;
    while ((n = lease_send_next(node, &to, enc2, sizeof(enc2), now)) > 0) {
        CHECK(codec_decode_lease(enc2, (size_t)n, &second) == 0);
    }
    CHECK(n == 0);
    struct lease_event ev;
    while (lease_next_event(node, &ev) == 1) {
        if (ev.state == LEASE_RELEASING) {
            CHECK(lease_release(node, ev.shard, now) == 0);
        }
    }
}

static void feed(const uint8_t *data, size_t size)
{
    if (view == NULL) {
        setup();
    }
    struct lease_config c = { .id = "b", .id_len = 1, .shards = 64, .seed = 1 };
    CHECK(lease_new(&node, &c, NULL, 0) == 0);
    CHECK(lease_update(node, view, ring, 0) == 0);
    uint64_t now = 0;
    for (; now <= 3200; now += 50) { /* acquire its shards (alone it has no majority) */
        CHECK(lease_tick(node, now) == 0);
        drain(now);
    }
    struct ring_addr from;
    addr_of((int)(size % 3), &from);
    int rv = lease_recv(node, &from, data, size, now);
    CHECK(rv <= 0);
    drain(now);
    for (int k = 0; k < 4; k++) {
        now += 1000;
        CHECK(lease_tick(node, now) == 0);
        drain(now);
    }
    lease_del(node);
    node = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > CODEC_DATAGRAM_BYTES_MAX) {
        return 0;
    }
    int rv = codec_decode_lease(data, size, &first);
    if (rv == 0) {
        CHECK(codec_peek_type(data, size) == first.type && codec_is_lease_type(first.type));
        CHECK(codec_decode(data, size, &other) != 0);
        CHECK(codec_decode_groups(data, size, &other_groups) != 0);
        check_msgpack_c_accepts(data, size);
        ssize_t n1 = codec_encode_lease(enc1, sizeof(enc1), &first);
        CHECK(n1 > 0 && (size_t)n1 == expected_size(&first));
        CHECK(codec_decode_lease(enc1, (size_t)n1, &second) == 0);
        check_same(&first, &second);
        ssize_t n2 = codec_encode_lease(enc2, sizeof(enc2), &second);
        CHECK(n2 == n1 && memcmp(enc1, enc2, (size_t)n1) == 0);
    } else {
        CHECK(rv < 0);
    }
    feed(data, size);
    return 0;
}
