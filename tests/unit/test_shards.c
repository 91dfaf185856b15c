/* Unit tests for logical shards (shards): key -> shard, placement keys, owned sets. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "ring/error.h"
#include "ring/groupmap.h"
#include "ring/hashring.h"
#include "ring/shards.h"
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

TestSuite(shards, .init = setup, .fini = teardown);

#define MEMBERS_MAX 16
static char id_buf[MEMBERS_MAX][32];

static struct hashring *ring_of(size_t n, const char *prefix)
{
    struct hashring_member m[MEMBERS_MAX];
    for (size_t i = 0; i < n; i++) {
        snprintf(id_buf[i], sizeof(id_buf[i]), "%s%zu", prefix, i);
        m[i] =
            (struct hashring_member){ .id = id_buf[i], .id_len = strlen(id_buf[i]), .weight = 1 };
    }
    struct hashring *r = NULL;
    cr_assert(eq(int, hashring_new(&r, m, n, NULL, &tm.mem), 0));
    return r;
}

static uint32_t member_index(const struct hashring *r, const char *id)
{
    uint32_t idx;
    cr_assert(eq(int, hashring_find(r, id, strlen(id), &idx), 0));
    return idx;
}

Test(shards, keys_spread_evenly_and_stay_put)
{
    enum { S = 64, KEYS = 128000 };
    static uint32_t hits[S];
    for (uint32_t k = 0; k < KEYS; k++) {
        char key[16];
        int len = snprintf(key, sizeof(key), "user-%u", k);
        uint32_t s = shards_of(key, (size_t)len, S);
        cr_assert(lt(u32, s, S));
        cr_assert(eq(u32, s, shards_of(key, (size_t)len, S)));
        hits[s]++;
    }
    for (uint32_t s = 0; s < S; s++) {
        /* 2,000 expected; 5 standard deviations is 224. */
        cr_assert(gt(u32, hits[s], 1776), "shard %u: %u keys", s, hits[s]);
        cr_assert(lt(u32, hits[s], 2224), "shard %u: %u keys", s, hits[s]);
    }
    cr_assert(eq(u32, shards_of("x", 1, 1), 0));
    cr_assert(eq(u32, shards_of("x", 1, 0), 0));
}

Test(shards, placement_keys_are_decimal)
{
    char key[SHARDS_KEY_BYTES_MAX + 1];
    cr_assert(eq(sz, shards_key(0, key), 1));
    cr_assert(eq(int, strcmp(key, "0"), 0));
    cr_assert(eq(sz, shards_key(1024, key), 4));
    cr_assert(eq(int, strcmp(key, "1024"), 0));
    cr_assert(eq(sz, shards_key(SHARDS_MAX - 1, key), 5));
    cr_assert(eq(int, strcmp(key, "65535"), 0));
}

/* Every shard has exactly one owner, the one the ring gives its placement key. */
Test(shards, members_own_disjoint_sets_that_cover_every_shard)
{
    enum { S = 256, N = 5 };
    struct hashring *r = ring_of(N, "node-");
    static uint8_t owners[S];
    static uint32_t out[S];
    memset(owners, 0, sizeof(owners));
    size_t total = 0;
    for (uint32_t m = 0; m < N; m++) {
        ssize_t got = shards_owned(r, m, NULL, 0, S, out);
        cr_assert(gt(i64, (int64_t)got, 0));
        for (ssize_t i = 0; i < got; i++) {
            cr_assert(i == 0 || out[i - 1] < out[i], "not ascending");
            cr_assert(eq(u8, owners[out[i]], 0), "shard %u owned twice", out[i]);
            owners[out[i]] = (uint8_t)(m + 1);
            char key[SHARDS_KEY_BYTES_MAX + 1];
            size_t len = shards_key(out[i], key);
            uint32_t idx;
            cr_assert(eq(int, hashring_lookup(r, key, len, &idx), 0));
            cr_assert(eq(u32, idx, m));
        }
        total += (size_t)got;
    }
    cr_assert(eq(sz, total, (size_t)S));
    hashring_del(r);
}

/* A join only takes shards for the newcomer: nobody else gains one. */
Test(shards, a_join_moves_shards_only_to_the_new_member)
{
    enum { S = 512, N = 6 };
    struct hashring *before = ring_of(N, "node-");
    struct hashring *after = ring_of(N + 1, "node-");
    static uint32_t a[S], b[S];
    size_t moved = 0;
    for (uint32_t m = 0; m < N; m++) {
        uint32_t ia = member_index(after, id_buf[m]);
        ssize_t na = shards_owned(before, member_index(before, id_buf[m]), NULL, 0, S, a);
        ssize_t nb = shards_owned(after, ia, NULL, 0, S, b);
        cr_assert(le(i64, (int64_t)nb, (int64_t)na));
        for (ssize_t i = 0, j = 0; i < nb; i++) {
            while (j < na && a[j] < b[i]) {
                j++;
            }
            cr_assert(j < na && a[j] == b[i], "member %u gained shard %u", m, b[i]);
        }
        moved += (size_t)(na - nb);
    }
    ssize_t fresh = shards_owned(after, member_index(after, id_buf[N]), NULL, 0, S, b);
    cr_assert(eq(sz, moved, (size_t)fresh));
    /* About 1/(N+1) of them: 73 expected. */
    cr_assert(gt(i64, (int64_t)fresh, 40));
    cr_assert(lt(i64, (int64_t)fresh, 110));
    hashring_del(before);
    hashring_del(after);
}

/* Sub-sharded: a shard belongs to one member of the group the map gives it. */
Test(shards, with_groups_each_shard_has_one_owner_in_its_group)
{
    enum { S = 128 };
    struct groupmap_name names[2] = { { "a", 1 }, { "b", 1 } };
    struct groupmap *map = NULL;
    cr_assert(eq(int, groupmap_new(&map, names, 2, 0, &tm.mem), 0));
    struct hashring *rings[2] = { ring_of(3, "a-"), NULL };
    static uint32_t out[S];
    static uint8_t owned[S];
    memset(owned, 0, sizeof(owned));
    size_t total = 0;
    for (uint32_t g = 0; g < 2; g++) {
        if (g == 1) {
            rings[1] = ring_of(3, "b-");
        }
        int gi = groupmap_find(map, names[g].name, 1);
        cr_assert(ge(int, gi, 0));
        for (uint32_t m = 0; m < 3; m++) {
            ssize_t got = shards_owned(rings[g], m, map, (uint32_t)gi, S, out);
            cr_assert(ge(i64, (int64_t)got, 0));
            for (ssize_t i = 0; i < got; i++) {
                char key[SHARDS_KEY_BYTES_MAX + 1];
                size_t len = shards_key(out[i], key);
                uint32_t idx;
                cr_assert(eq(int, groupmap_lookup(map, key, len, &idx), 0));
                cr_assert(eq(u32, idx, (uint32_t)gi));
                cr_assert(eq(u8, owned[out[i]], 0));
                owned[out[i]] = 1;
            }
            total += (size_t)got;
        }
    }
    cr_assert(eq(sz, total, (size_t)S));
    hashring_del(rings[0]);
    hashring_del(rings[1]);
    groupmap_del(map);
}

Test(shards, bad_arguments_are_errors)
{
    struct hashring *r = ring_of(2, "node-");
    uint32_t out[4];
    cr_assert(eq(i64, (int64_t)shards_owned(r, 0, NULL, 0, 0, out), RING_EINVAL));
    cr_assert(eq(i64, (int64_t)shards_owned(r, 0, NULL, 0, SHARDS_MAX + 1, out), RING_EINVAL));
    cr_assert(eq(i64, (int64_t)shards_owned(r, 2, NULL, 0, 4, out), RING_EINVAL));
    cr_assert(eq(i64, (int64_t)shards_owned(NULL, 0, NULL, 0, 4, out), RING_EINVAL));
    hashring_del(r);
}
