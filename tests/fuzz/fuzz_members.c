/*
 * libFuzzer target: random sequences of members_apply / members_put / members_remove.
 *
 * Each 4-byte step is (op, id, status/incarnation, weight/port). After every step
 * members_apply() has obeyed precedence and the touched id is found (or not) as it should
 * be; at the end the index finds every record, the O(1) membership checksum equals the sum
 * recomputed from scratch, and the O(1) ring checksum equals hashring_checksum() of a ring
 * built from the alive and suspect records. (Recomputing after every step made the target
 * twenty times slower for no new coverage.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring/error.h"
#include "ring/hashring.h"
#include "ring/members.h"

#include "fuzz_util.h"

/* 64 distinct ids keep collisions (the interesting case) frequent; some spill the inline
 * blob so heap blobs churn too. */
#define IDS         64
#define STEPS_MAX   4096
#define RING_VNODES 4

static void make_member(const uint8_t *step, struct member *m)
{
    char id[64];
    int idx = step[1] % IDS;
    snprintf(id, sizeof(id), idx % 4 ? "n%d" : "a-long-id-that-spills-to-the-heap-%d", idx);
    memset(m, 0, sizeof(*m));
    member_set_id(m, id, strlen(id));
    m->status = step[2] & 3;
    m->incarnation = step[2] >> 2;
    m->weight = (uint16_t)(1 + (step[3] & 7));
    m->addr.family = RING_ADDR_V4;
    m->addr.ip[0] = 10;
    m->addr.port = step[3] >> 3;
    if (step[3] & 0x80) {
        member_set_label(m, "zone", "z");
    }
}

static uint64_t slow_checksum(const struct members *t)
{
    uint64_t sum = 0;
    struct member m;
    for (size_t i = 0; i < members_count(t); i++) {
        members_get(t, i, &m);
        sum += member_digest(&m);
        size_t len;
        const char *id = members_id(t, i, &len);
        CHECK(members_index(t, id, len) == (int)i);
    }
    return sum;
}

static void check_ring(const struct members *t)
{
    static struct hashring_member hm[IDS];
    static char ids[IDS][MEMBER_ID_BYTES_MAX + 1];
    size_t n = 0;
    struct member m;
    for (size_t i = 0; i < members_count(t); i++) {
        members_get(t, i, &m);
        if (m.status == MEMBER_ALIVE || m.status == MEMBER_SUSPECT) {
            memcpy(ids[n], m.id, m.id_len + 1);
            hm[n] = (struct hashring_member){ ids[n], m.id_len, m.weight };
            n++;
        }
    }
    CHECK(n == members_ring_count(t));
    struct hashring_config cfg = { .vnodes = RING_VNODES };
    struct hashring *r = NULL;
    CHECK(hashring_new(&r, hm, n, &cfg, NULL) == 0);
    CHECK(hashring_checksum(r) == members_ring_checksum(t, RING_VNODES));
    hashring_del(r);
}

static void apply_step(struct members *t, const uint8_t *step)
{
    struct member m;
    make_member(step, &m);
    int idx = members_index(t, m.id, m.id_len);
    struct member before;
    if (idx >= 0) {
        members_get(t, (size_t)idx, &before);
    }
    int applied = 0;
    switch (step[0] % 4) {
    case 0:
    case 1:
        CHECK(members_apply(t, &m, &applied) == 0);
        CHECK(applied == (idx < 0 || members_update_overrides(&before, &m)));
        break;
    case 2:
        CHECK(members_put(t, &m) == 0);
        break;
    default:
        CHECK(members_remove(t, m.id, m.id_len) == (idx >= 0 ? 0 : RING_ENOENT));
        CHECK(members_index(t, m.id, m.id_len) == RING_ENOENT);
        return;
    }
    idx = members_index(t, m.id, m.id_len);
    CHECK(idx >= 0);
    uint64_t inc = members_incarnation(t, (size_t)idx);
    CHECK(step[0] % 4 == 2 ? inc == m.incarnation : inc >= m.incarnation);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct members *t = NULL;
    CHECK(members_new(&t, size > 0 && data[0] % 2 ? IDS : 0, NULL) == 0);
    for (size_t k = 0; k + 4 <= size && k / 4 < STEPS_MAX; k += 4) {
        apply_step(t, data + k);
    }
    CHECK(members_checksum(t) == slow_checksum(t));
    check_ring(t);
    members_del(t);
    return 0;
}
