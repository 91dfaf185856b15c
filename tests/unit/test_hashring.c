/* Unit tests for the hashring module. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "hashring_int.h"
#include "ring/error.h"
#include "ring/hashring.h"
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

TestSuite(hashring, .init = setup, .fini = teardown);

/* Ids live in one static table so member arrays can point at them. */
#define IDS_MAX 10001
static char ids[IDS_MAX][32];

static struct hashring_member *make_members(size_t n, const char *prefix)
{
    struct hashring_member *m = calloc(n, sizeof(*m));
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof(ids[i]), "%s-%05zu", prefix, i);
        m[i].id = ids[i];
        m[i].id_len = strlen(ids[i]);
        m[i].weight = 1;
    }
    return m;
}

static struct hashring *build(const struct hashring_member *m, size_t n, uint32_t vnodes)
{
    struct hashring_config cfg = { .vnodes = vnodes };
    struct hashring *r = NULL;
    int rv = hashring_new(&r, m, n, &cfg, &tm.mem);
    cr_assert(eq(int, rv, 0), "hashring_new: %s", ring_strerror(rv));
    return r;
}

static uint32_t owner_of(const struct hashring *r, const char *key)
{
    uint32_t owner = HASHRING_NONE;
    cr_assert(eq(int, hashring_lookup(r, key, strlen(key), &owner), 0));
    return owner;
}

static const char *owner_id(const struct hashring *r, uint32_t idx, char *buf, size_t len)
{
    const struct hashring_member *m = hashring_member(r, idx);
    snprintf(buf, len, "%.*s", (int)m->id_len, m->id);
    return buf;
}

/* hashring_shares() (from the arcs the ring keeps) must equal the walk over every boundary,
 * to the last bit. */
static void check_shares(const struct hashring *r)
{
    size_t n = hashring_member_count(r);
    double *kept = calloc(n + 1, sizeof(double)), *walked = calloc(n + 1, sizeof(double));
    hashring_shares(r, kept);
    hashring__shares_walk(r, walked);
    for (size_t i = 0; i < n; i++) {
        cr_assert(eq(dbl, kept[i], walked[i]), "member %zu", i);
    }
    free(kept);
    free(walked);
}

Test(hashring, empty_ring_lookup_fails_with_eempty)
{
    struct hashring *r = build(NULL, 0, 0);
    uint32_t owner;
    uint32_t owners[3];
    cr_assert(eq(int, hashring_lookup(r, "k", 1, &owner), RING_EEMPTY));
    cr_assert(eq(int, hashring_lookup_n(r, "k", 1, 3, owners), RING_EEMPTY));
    cr_assert(eq(sz, hashring_member_count(r), 0));
    hashring_del(r);
}

Test(hashring, rejects_bad_member_sets)
{
    struct hashring *r = NULL;
    struct hashring_member dup[2] = { { "a", 1, 1 }, { "a", 1, 1 } };
    struct hashring_member zero_weight[1] = { { "a", 1, 0 } };
    struct hashring_member heavy[1] = { { "a", 1, HASHRING_WEIGHT_MAX + 1 } };
    struct hashring_member empty_id[1] = { { "", 0, 1 } };
    struct hashring_config big = { .vnodes = HASHRING_VNODES_MAX + 1 };
    cr_assert(eq(int, hashring_new(&r, dup, 2, NULL, &tm.mem), RING_EEXIST));
    cr_assert(eq(int, hashring_new(&r, zero_weight, 1, NULL, &tm.mem), RING_EINVAL));
    cr_assert(eq(int, hashring_new(&r, heavy, 1, NULL, &tm.mem), RING_ERANGE));
    cr_assert(eq(int, hashring_new(&r, empty_id, 1, NULL, &tm.mem), RING_EINVAL));
    cr_assert(eq(int, hashring_new(&r, zero_weight, 1, &big, &tm.mem), RING_ERANGE));
    cr_assert(eq(int, hashring_new(NULL, dup, 1, NULL, &tm.mem), RING_EINVAL));
    cr_assert(eq(int, hashring_new(&r, NULL, 1, NULL, &tm.mem), RING_EINVAL));
    cr_assert(eq(ptr, r, NULL));
}

Test(hashring, rejects_more_members_than_max)
{
    size_t n = HASHRING_MEMBERS_MAX + 1;
    struct hashring_member *m = calloc(n, sizeof(*m));
    for (size_t i = 0; i < n; i++) {
        m[i] = (struct hashring_member){ "x", 1, 1 };
    }
    struct hashring *r = NULL;
    cr_assert(eq(int, hashring_new(&r, m, n, NULL, &tm.mem), RING_E2BIG));
    free(m);
}

Test(hashring, allocation_failure_returns_enomem_without_leaking)
{
    struct hashring_member *m = make_members(5, "node");
    for (uint64_t fail_at = 1; fail_at <= 6; fail_at++) {
        tm.calls = 0;
        tm.fail_at = fail_at;
        struct hashring *r = NULL;
        int rv = hashring_new(&r, m, 5, NULL, &tm.mem);
        if (rv == 0) {
            hashring_del(r);
            continue;
        }
        cr_assert(eq(int, rv, RING_ENOMEM));
        cr_assert(eq(sz, tm.bytes, 0));
    }
    tm.fail_at = 0;
    free(m);
}

Test(hashring, same_members_in_any_order_build_identical_rings)
{
    size_t n = 50;
    struct hashring_member *m = make_members(n, "node");
    struct hashring *a = build(m, n, 64);
    uint64_t seed = 7;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = test_rand(&seed) % (i + 1);
        struct hashring_member t = m[i];
        m[i] = m[j];
        m[j] = t;
    }
    struct hashring *b = build(m, n, 64);
    cr_assert(hashring__equal(a, b));
    cr_assert(eq(u64, hashring_checksum(a), hashring_checksum(b)));
    hashring_del(a);
    hashring_del(b);
    free(m);
}

Test(hashring, boundaries_are_sorted_and_counted)
{
    struct hashring_member m[3] = { { "a", 1, 1 }, { "b", 1, 2 }, { "c", 1, 3 } };
    struct hashring *r = build(m, 3, 10);
    cr_assert(eq(sz, hashring_point_count(r), 60));
    struct hashring_cursor c = hashring__first(r);
    uint32_t prev = hashring__cursor_position(r, &c);
    size_t n = 1;
    while (!hashring__next(r, &c)) {
        uint32_t pos = hashring__cursor_position(r, &c);
        cr_assert(ge(u32, pos, prev));
        prev = pos;
        n++;
    }
    cr_assert(eq(sz, n, 60));
    hashring_del(r);
}

/* Points by definition (proto/RING.md, "Points"), written as the stream it is rather than
 * libring's closed form: the 64-bit hashes of points 0, 1, ... of |id| are the outputs of
 * SplitMix64 (test_rand) seeded with XXH3_64bits(id). Fills |out| with the first |n|. */
static void points_by_definition(const char *id, size_t id_len, uint32_t n, uint64_t *out)
{
    uint64_t state = XXH3_64bits(id, id_len);
    for (uint32_t i = 0; i < n; i++) {
        out[i] = test_rand(&state);
    }
}

/* The ring by definition, with none of hashring's structures: every point's position from
 * points_by_definition(), sorted, ties kept only for the smallest member. */
struct brute {
    uint32_t pos[4096];
    uint32_t member[4096];
    size_t n;
};

static int brute_cmp(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void brute_init(struct brute *bf, const struct hashring *r)
{
    uint64_t all[4096];
    size_t n = 0;
    uint64_t hashes[4096];
    for (uint32_t m = 0; m < hashring_member_count(r); m++) {
        const struct hashring_member *mm = hashring_member(r, m);
        uint32_t count = hashring_vnodes(r) * mm->weight;
        cr_assert(le(sz, n + count, 4096));
        points_by_definition(mm->id, mm->id_len, count, hashes);
        for (uint32_t i = 0; i < count; i++) {
            all[n++] = ((hashes[i] >> 32) << 16) | m;
        }
    }
    qsort(all, n, sizeof(all[0]), brute_cmp);
    bf->n = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t pos = (uint32_t)(all[i] >> 16);
        if (bf->n == 0 || bf->pos[bf->n - 1] != pos) {
            bf->pos[bf->n] = pos;
            bf->member[bf->n++] = (uint32_t)(all[i] & 0xffff);
        }
    }
}

/* Index of the point nearest to key position |x|: smallest distance either way; at a tie,
 * the point before the key (counterclockwise). */
static size_t brute_nearest(const struct brute *bf, uint32_t x)
{
    size_t best = 0;
    uint64_t best_score = UINT64_MAX;
    for (size_t i = 0; i < bf->n; i++) {
        uint32_t cw = bf->pos[i] - x, ccw = x - bf->pos[i];
        uint32_t d = cw < ccw ? cw : ccw;
        uint64_t score = ((uint64_t)d << 1) | (ccw == d ? 0 : 1);
        if (score < best_score) {
            best_score = score;
            best = i;
        }
    }
    return best;
}

static uint32_t brute_force_owner(const struct hashring *r, uint64_t key_hash)
{
    static struct brute bf;
    brute_init(&bf, r);
    return bf.member[brute_nearest(&bf, (uint32_t)(key_hash >> 32))];
}

Test(hashring, lookup_matches_the_definition)
{
    struct hashring_member m[4] = {
        { "10.0.0.1:7946", 13, 1 },
        { "10.0.0.2:7946", 13, 2 },
        { "host:2100", 9, 1 },
        { "host:21001", 10, 1 },
    };
    struct hashring *r = build(m, 4, 16);
    uint64_t seed = 42;
    for (int k = 0; k < 2000; k++) {
        uint64_t h = test_rand(&seed);
        uint32_t got;
        cr_assert(eq(int, hashring_lookup_hash(r, h, &got), 0));
        cr_assert(eq(u32, got, brute_force_owner(r, h)), "key hash %016llx", (unsigned long long)h);
    }
    hashring_del(r);
}

Test(hashring, lookup_at_the_edges_matches_the_definition)
{
    struct hashring_member m[3] = { { "a", 1, 1 }, { "b", 1, 1 }, { "c", 1, 1 } };
    struct hashring *r = build(m, 3, 4);
    static struct brute bf;
    brute_init(&bf, r);
    uint64_t edges[64];
    size_t n = 0;
    edges[n++] = 0;
    edges[n++] = UINT64_MAX;
    for (size_t i = 0; i < bf.n; i++) {
        uint64_t p = bf.pos[i], q = bf.pos[(i + 1) % bf.n] + (i + 1 == bf.n ? (1ull << 32) : 0);
        uint64_t mid = ((p + q) / 2) & 0xffffffffu;
        edges[n++] = p << 32;                         /* exactly at a point */
        edges[n++] = mid << 32;                       /* exactly halfway (or just below it) */
        edges[n++] = ((mid + 1) & 0xffffffffu) << 32; /* just past halfway */
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t got;
        cr_assert(eq(int, hashring_lookup_hash(r, edges[i], &got), 0));
        cr_assert(eq(u32, got, bf.member[brute_nearest(&bf, (uint32_t)(edges[i] >> 32))]),
                  "key hash %016llx", (unsigned long long)edges[i]);
    }
    hashring_del(r);
}

/* One point: its only boundary is the midpoint across the top, half a turn away, and it
 * wraps past zero for about half of the ids. */
Test(hashring, a_single_point_ring_has_one_boundary_half_a_turn_away)
{
    int wrapped = 0, unwrapped = 0;
    for (int i = 0; i < 16; i++) {
        char id[16];
        snprintf(id, sizeof(id), "solo-%d", i);
        struct hashring_member m = { id, strlen(id), 1 };
        struct hashring *r = build(&m, 1, 1);
        uint64_t h;
        points_by_definition(id, strlen(id), 1, &h);
        uint32_t p = (uint32_t)(h >> 32);
        struct hashring_cursor c = hashring__first(r);
        cr_assert(eq(u32, hashring__cursor_position(r, &c), p + (UINT32_C(1) << 31)));
        cr_assert(eq(int, hashring__next(r, &c), 1), "one boundary, then the wrap");
        uint32_t owner = HASHRING_NONE;
        cr_assert(eq(int, hashring_lookup_hash(r, (uint64_t)p << 32, &owner), 0));
        cr_assert(eq(u32, owner, 0));
        double share;
        hashring_shares(r, &share);
        cr_assert(eq(dbl, share, 1.0));
        wrapped += p >= (UINT32_C(1) << 31);
        unwrapped += p < (UINT32_C(1) << 31);
        hashring_del(r);
    }
    cr_assert(gt(int, wrapped, 0));
    cr_assert(gt(int, unwrapped, 0));
}

/* The definition again, for rings too big for struct brute: distinct positions sorted on
 * the heap, the nearest point found by binary search. */
struct big_brute {
    uint32_t *pos;
    uint32_t *member;
    size_t n;
};

static void big_brute_init(struct big_brute *bf, const struct hashring *r)
{
    size_t points = hashring_point_count(r);
    uint64_t *all = malloc(points * sizeof(*all));
    size_t n = 0;
    for (uint32_t m = 0; m < hashring_member_count(r); m++) {
        const struct hashring_member *mm = hashring_member(r, m);
        uint32_t count = hashring_vnodes(r) * mm->weight;
        uint64_t *hashes = malloc(count * sizeof(*hashes));
        points_by_definition(mm->id, mm->id_len, count, hashes);
        for (uint32_t i = 0; i < count; i++) {
            all[n++] = ((hashes[i] >> 32) << 16) | m;
        }
        free(hashes);
    }
    qsort(all, n, sizeof(all[0]), brute_cmp);
    bf->pos = malloc(n * sizeof(*bf->pos));
    bf->member = malloc(n * sizeof(*bf->member));
    bf->n = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t pos = (uint32_t)(all[i] >> 16);
        if (bf->n == 0 || bf->pos[bf->n - 1] != pos) {
            bf->pos[bf->n] = pos;
            bf->member[bf->n++] = (uint32_t)(all[i] & 0xffff);
        }
    }
    free(all);
}

static uint32_t big_brute_owner(const struct big_brute *bf, uint32_t x)
{
    size_t lo = 0, hi = bf->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (bf->pos[mid] < x) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    size_t succ = lo % bf->n, pred = (lo + bf->n - 1) % bf->n;
    uint32_t cw = bf->pos[succ] - x, ccw = x - bf->pos[pred];
    return bf->member[ccw <= cw ? pred : succ];
}

/* 102,400 points make 81,920 buckets, past HASHRING__LANES_EXACT_MIN: lookups take the
 * compare-the-lanes path, checked here at random keys and at every kind of edge. */
Test(hashring, lookup_on_a_large_ring_matches_the_definition)
{
    size_t n = 100;
    struct hashring_member *m = make_members(n, "big");
    struct hashring *r = build(m, n, 0);
    struct big_brute bf;
    big_brute_init(&bf, r);
    uint64_t seed = 7;
    for (int k = 0; k < 20000; k++) {
        uint8_t key[16];
        uint64_t a = test_rand(&seed), b = test_rand(&seed);
        memcpy(key, &a, 8);
        memcpy(key + 8, &b, 8);
        uint32_t got;
        cr_assert(eq(int, hashring_lookup(r, key, sizeof(key), &got), 0));
        uint64_t h = XXH3_64bits(key, sizeof(key));
        cr_assert(eq(u32, got, big_brute_owner(&bf, (uint32_t)(h >> 32))));
        /* The scalar path, which other CPUs take for every lookup, agrees too. */
        cr_assert(eq(u32, hashring__owner_at(r, (uint32_t)(h >> 32)), got));
    }
    for (size_t i = 0; i < bf.n; i += 7) {
        uint64_t p = bf.pos[i], q = bf.pos[(i + 1) % bf.n] + (i + 1 == bf.n ? (1ull << 32) : 0);
        uint32_t mid = (uint32_t)((p + q) / 2);
        uint32_t edges[] = { (uint32_t)p, mid, mid + 1, (uint32_t)p - 1, (uint32_t)p + 1 };
        for (size_t e = 0; e < sizeof(edges) / sizeof(edges[0]); e++) {
            uint32_t got;
            cr_assert(eq(int, hashring_lookup_hash(r, (uint64_t)edges[e] << 32, &got), 0));
            cr_assert(eq(u32, got, big_brute_owner(&bf, edges[e])), "position %08x", edges[e]);
            cr_assert(eq(u32, hashring__owner_at(r, edges[e]), got));
        }
    }
    free(bf.pos);
    free(bf.member);
    hashring_del(r);
    free(m);
}

/* Found by a birthday search: point 0 of these two ids sits at the same position,
 * 0x22be83a7. Only the smaller id ("tie-198021" < "tie-52829" bytewise) owns it. */
Test(hashring, a_tied_position_belongs_to_the_smallest_id)
{
    struct hashring_member m[3] = { { "tie-52829", 9, 1 }, { "tie-198021", 10, 1 }, { "c", 1, 1 } };
    struct hashring *r = build(m, 3, 1);
    uint32_t winner, loser, owner;
    check_shares(r);
    cr_assert(eq(int, hashring_find(r, "tie-198021", 10, &winner), 0));
    cr_assert(eq(int, hashring_find(r, "tie-52829", 9, &loser), 0));
    cr_assert(eq(int, hashring_lookup_hash(r, UINT64_C(0x22be83a7) << 32, &owner), 0));
    cr_assert(eq(u32, owner, winner));
    double shares[3];
    hashring_shares(r, shares);
    cr_assert(eq(dbl, shares[loser], 0.0));
    cr_assert(gt(dbl, shares[winner], 0.0));
    uint32_t owners[3];
    cr_assert(eq(int, hashring_lookup_n(r, "k", 1, 3, owners), 2));
    static struct brute bf;
    brute_init(&bf, r);
    uint64_t seed = 9;
    for (int k = 0; k < 1000; k++) {
        uint64_t h = test_rand(&seed);
        cr_assert(eq(int, hashring_lookup_hash(r, h, &owner), 0));
        cr_assert(eq(u32, owner, bf.member[brute_nearest(&bf, (uint32_t)(h >> 32))]));
    }
    hashring_del(r);
}

Test(hashring, point_keys_do_not_collide_like_ringpop)
{
    /* ringpop hashes id + decimal(i): "host:2100"+"11" == "host:21001"+"1". */
    struct hashring_member m[2] = { { "host:2100", 9, 1 }, { "host:21001", 10, 1 } };
    struct hashring *r = build(m, 2, 16);
    static struct brute bf;
    brute_init(&bf, r);
    cr_assert(eq(sz, bf.n, 32));
    hashring_del(r);
}

Test(hashring, lookup_n_gives_distinct_owners_in_ring_order)
{
    size_t n = 20;
    struct hashring_member *m = make_members(n, "node");
    struct hashring *r = build(m, n, 32);
    static struct brute bf;
    brute_init(&bf, r);
    for (int k = 0; k < 500; k++) {
        char key[32];
        snprintf(key, sizeof(key), "key-%d", k);
        uint32_t owners[5];
        cr_assert(eq(int, hashring_lookup_n(r, key, strlen(key), 5, owners), 5));
        cr_assert(eq(u32, owners[0], owner_of(r, key)));
        /* From the nearest point, walk clockwise: owners appear in first-seen order. */
        size_t i = brute_nearest(&bf, (uint32_t)(XXH3_64bits(key, strlen(key)) >> 32));
        uint32_t seen[5];
        size_t found = 0;
        for (size_t step = 0; step < bf.n && found < 5; step++) {
            uint32_t o = bf.member[(i + step) % bf.n];
            int dup = 0;
            for (size_t j = 0; j < found; j++) {
                dup |= seen[j] == o;
            }
            if (!dup) {
                seen[found++] = o;
            }
        }
        for (size_t j = 0; j < 5; j++) {
            cr_assert(eq(u32, owners[j], seen[j]));
        }
    }
    hashring_del(r);
    free(m);
}

Test(hashring, lookup_n_returns_every_member_when_n_exceeds_size)
{
    struct hashring_member m[3] = { { "a", 1, 1 }, { "b", 1, 1 }, { "c", 1, 1 } };
    struct hashring *r = build(m, 3, 8);
    uint32_t owners[10];
    cr_assert(eq(int, hashring_lookup_n(r, "k", 1, 10, owners), 3));
    cr_assert(ne(u32, owners[0], owners[1]));
    cr_assert(ne(u32, owners[1], owners[2]));
    cr_assert(ne(u32, owners[0], owners[2]));
    cr_assert(eq(int, hashring_lookup_n(r, "k", 1, 0, owners), RING_ERANGE));
    cr_assert(
        eq(int, hashring_lookup_n(r, "k", 1, HASHRING_REPLICAS_MAX + 1, owners), RING_ERANGE));
    hashring_del(r);
}

Test(hashring, weights_give_proportional_shares)
{
    struct hashring_member m[3] = { { "a", 1, 1 }, { "b", 1, 2 }, { "c", 1, 4 } };
    struct hashring *r = build(m, 3, 2048);
    double shares[3];
    hashring_shares(r, shares);
    double a = shares[0], b = shares[1], c = shares[2];
    cr_assert(gt(dbl, a + b + c, 0.999999));
    cr_assert(lt(dbl, a + b + c, 1.000001));
    cr_assert(gt(dbl, b / a, 1.8));
    cr_assert(lt(dbl, b / a, 2.2));
    cr_assert(gt(dbl, c / a, 3.6));
    cr_assert(lt(dbl, c / a, 4.4));
    hashring_del(r);
}

struct diff_tally {
    uint64_t ranges;
    double moved;
    uint32_t only_from;
    uint32_t only_to;
    int all_from_same;
    int all_to_same;
    uint64_t prev_last;
};

static void tally_cb(const struct hashring_range *range, void *arg)
{
    struct diff_tally *t = arg;
    cr_assert(le(u64, range->first, range->last));
    if (t->ranges > 0) {
        cr_assert(gt(u64, range->first, t->prev_last));
    }
    t->prev_last = range->last;
    t->moved += ((double)(range->last - range->first) + 1.0) / 18446744073709551616.0;
    t->all_from_same &= range->from == t->only_from;
    t->all_to_same &= range->to == t->only_to;
    t->ranges++;
}

Test(hashring, join_moves_only_keys_to_the_joiner_about_one_in_n_plus_one)
{
    size_t n = 100;
    struct hashring_member *m = make_members(n + 1, "node");
    struct hashring *before = build(m, n, 0);
    struct hashring *after = build(m, n + 1, 0);
    uint32_t joiner;
    cr_assert(eq(int, hashring_find(after, ids[n], strlen(ids[n]), &joiner), 0));
    struct diff_tally t = { .only_to = joiner, .all_from_same = 1, .all_to_same = 1 };
    cr_assert(eq(int, hashring_diff(before, after, tally_cb, &t), 0));
    cr_assert(t.all_to_same, "a join moved keys to someone other than the joiner");
    double ideal = 1.0 / (double)(n + 1);
    cr_assert(gt(dbl, t.moved, ideal * 0.9));
    cr_assert(lt(dbl, t.moved, ideal * 1.1));
    /* The same seen through keys: a key that changed owner went to the joiner. */
    char b1[32], b2[32];
    int moved = 0;
    for (int k = 0; k < 20000; k++) {
        char key[32];
        snprintf(key, sizeof(key), "user:%d", k);
        const char *was = owner_id(before, owner_of(before, key), b1, sizeof(b1));
        const char *now = owner_id(after, owner_of(after, key), b2, sizeof(b2));
        if (strcmp(was, now) != 0) {
            ASSERT_STR_EQ(now, ids[n]);
            moved++;
        }
    }
    cr_assert(gt(int, moved, 20000 / 101 / 2));
    hashring_del(before);
    hashring_del(after);
    free(m);
}

Test(hashring, leave_moves_only_the_leavers_keys)
{
    size_t n = 50;
    struct hashring_member *m = make_members(n, "node");
    struct hashring *before = build(m, n, 256);
    /* Drop member 17 by swapping the last one into its place. */
    uint32_t leaver;
    cr_assert(eq(int, hashring_find(before, ids[17], strlen(ids[17]), &leaver), 0));
    double shares[50];
    hashring_shares(before, shares);
    double leaver_share = shares[leaver];
    m[17] = m[n - 1];
    struct hashring *after = build(m, n - 1, 256);
    struct diff_tally t = { .only_from = leaver, .all_from_same = 1, .all_to_same = 1 };
    cr_assert(eq(int, hashring_diff(before, after, tally_cb, &t), 0));
    cr_assert(t.all_from_same, "a leave moved keys of members that stayed");
    cr_assert(gt(dbl, t.moved, leaver_share * 0.999999));
    cr_assert(lt(dbl, t.moved, leaver_share * 1.000001));
    hashring_del(before);
    hashring_del(after);
    free(m);
}

Test(hashring, diff_of_equal_rings_is_empty_and_from_empty_is_everything)
{
    struct hashring_member m[3] = { { "a", 1, 1 }, { "b", 1, 1 }, { "c", 1, 1 } };
    struct hashring *r1 = build(m, 3, 16);
    struct hashring *r2 = build(m, 3, 16);
    struct hashring *empty = build(NULL, 0, 16);
    struct diff_tally t = { .all_from_same = 1, .all_to_same = 1 };
    cr_assert(eq(int, hashring_diff(r1, r2, tally_cb, &t), 0));
    cr_assert(eq(u64, t.ranges, 0));
    struct diff_tally all = { .only_from = HASHRING_NONE, .all_from_same = 1, .all_to_same = 1 };
    cr_assert(eq(int, hashring_diff(empty, r1, tally_cb, &all), 0));
    cr_assert(all.all_from_same);
    cr_assert(gt(dbl, all.moved, 0.999999));
    struct diff_tally none = { .only_to = HASHRING_NONE, .all_from_same = 1, .all_to_same = 1 };
    cr_assert(eq(int, hashring_diff(r1, empty, tally_cb, &none), 0));
    cr_assert(none.all_to_same);
    cr_assert(gt(dbl, none.moved, 0.999999));
    hashring_del(r1);
    hashring_del(r2);
    hashring_del(empty);
}

Test(hashring, checksum_tracks_members_weights_and_vnodes)
{
    struct hashring_member m[2] = { { "a", 1, 1 }, { "b", 1, 1 } };
    struct hashring_member heavier[2] = { { "a", 1, 1 }, { "b", 1, 2 } };
    struct hashring *r1 = build(m, 2, 16);
    struct hashring *r2 = build(m, 2, 16);
    struct hashring *r3 = build(heavier, 2, 16);
    struct hashring *r4 = build(m, 2, 17);
    struct hashring *r5 = build(m, 1, 16);
    cr_assert(eq(u64, hashring_checksum(r1), hashring_checksum(r2)));
    cr_assert(ne(u64, hashring_checksum(r1), hashring_checksum(r3)));
    cr_assert(ne(u64, hashring_checksum(r1), hashring_checksum(r4)));
    cr_assert(ne(u64, hashring_checksum(r1), hashring_checksum(r5)));
    hashring_del(r1);
    hashring_del(r2);
    hashring_del(r3);
    hashring_del(r4);
    hashring_del(r5);
}

Test(hashring, ten_thousand_members_work)
{
    size_t n = 10000;
    struct hashring_member *m = make_members(n, "pod");
    struct hashring *r = build(m, n, 0);
    cr_assert(eq(sz, hashring_member_count(r), n));
    cr_assert(eq(sz, hashring_point_count(r), n * HASHRING_VNODES_DEFAULT));
    cr_assert(le(sz, hashring_memory_bytes(r), hashring_point_count(r) * 16));
    uint32_t idx;
    cr_assert(eq(int, hashring_find(r, ids[9999], strlen(ids[9999]), &idx), 0));
    uint32_t owners[3];
    cr_assert(eq(int, hashring_lookup_n(r, "some-key", 8, 3, owners), 3));
    hashring_del(r);
    free(m);
}

/* proto/vectors/hashring.txt: a fixed member set and keys with their owners, so another
 * implementation can check its placement against ours (format described in the file). */
Test(hashring, known_answer_vectors)
{
    FILE *f = fopen(RING_SOURCE_DIR "/proto/vectors/hashring.txt", "r");
    cr_assert(not(eq(ptr, f, NULL)), "cannot open proto/vectors/hashring.txt");
    static char idbuf[64][64];
    struct hashring_member m[64];
    size_t n = 0;
    uint32_t vnodes = 0;
    struct hashring *r = NULL;
    char line[512];
    int keys = 0, points = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        char a[128], b[128], c[128], d[128];
        unsigned long long u;
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        if (sscanf(line, "vnodes %u", &vnodes) == 1) {
            continue;
        }
        if (sscanf(line, "member %63s %llu", idbuf[n], &u) == 2) {
            m[n] = (struct hashring_member){ idbuf[n], strlen(idbuf[n]), (uint32_t)u };
            n++;
            continue;
        }
        if (r == NULL) {
            r = build(m, n, vnodes);
        }
        if (sscanf(line, "checksum %llx", &u) == 1) {
            cr_assert(eq(u64, hashring_checksum(r), (uint64_t)u));
        } else if (sscanf(line, "idhash %127s %llx", a, &u) == 2) {
            cr_assert(eq(u64, XXH3_64bits(a, strlen(a)), (uint64_t)u));
        } else if (sscanf(line, "point %127s %s %llx", a, b, &u) == 3) {
            uint32_t i = (uint32_t)strtoul(b, NULL, 10);
            uint64_t *hashes = malloc(((size_t)i + 1) * sizeof(*hashes));
            points_by_definition(a, strlen(a), i + 1, hashes);
            cr_assert(eq(u64, hashes[i], (uint64_t)u), "point %s %u", a, i);
            cr_assert(eq(u64, hashring__point_hash(XXH3_64bits(a, strlen(a)), i), (uint64_t)u));
            free(hashes);
            points++;
        } else if (sscanf(line, "key %127s %127s %127s %127s", a, b, c, d) == 4) {
            uint32_t owners[3];
            char o[64];
            cr_assert(eq(int, hashring_lookup_n(r, a, strlen(a), 3, owners), 3));
            ASSERT_STR_EQ(owner_id(r, owners[0], o, sizeof(o)), b);
            ASSERT_STR_EQ(owner_id(r, owners[1], o, sizeof(o)), c);
            ASSERT_STR_EQ(owner_id(r, owners[2], o, sizeof(o)), d);
            keys++;
        } else {
            cr_fail("bad vector line: %s", line);
        }
    }
    fclose(f);
    cr_assert(gt(int, keys, 10));
    cr_assert(gt(int, points, 2));
    hashring_del(r);
}

/*
 * Balance over id families. Ids are often short and alike (n10, n11, n12; ring-0, ring-1;
 * host:port), and the placement must balance them like random ids: every family below, at
 * every (members, vnodes) of proto/RING.md's "Balance" table, must keep the exact busiest
 * share within that table's bound times the mean. The bounds come from rings of random ids
 * (tests/tools/ring_balance) plus a margin.
 */
struct balance_bound {
    size_t members;
    uint32_t vnodes;
    double busiest_over_mean_max;
};

/* proto/RING.md, "Balance": of 4,000 rings of random 16-byte ids, the 99.9th percentile
 * plus half its distance from the mean, rounded up to 0.01. */
static const struct balance_bound balance_bounds[] = {
    { 2, 64, 1.32 },    { 2, 256, 1.14 },  { 2, 1024, 1.08 },  { 3, 64, 1.34 },
    { 3, 256, 1.17 },   { 3, 1024, 1.09 }, { 10, 64, 1.44 },   { 10, 256, 1.21 },
    { 10, 1024, 1.11 }, { 100, 64, 1.51 }, { 100, 256, 1.25 }, { 100, 1024, 1.12 },
};
#define BALANCE_BOUNDS     (sizeof(balance_bounds) / sizeof(balance_bounds[0]))
#define FAMILY_MEMBERS_MAX 100
#define FAMILY_ID_BYTES    72

/* Writes id |i| of a family into |buf| (FAMILY_ID_BYTES), returns its length. */
typedef size_t (*family_id_fn)(size_t i, char *buf);

static size_t fmt_id(char *buf, const char *fmt, size_t v)
{
    return (size_t)snprintf(buf, FAMILY_ID_BYTES, fmt, v);
}

static size_t id_n0(size_t i, char *buf)
{
    return fmt_id(buf, "n%zu", i);
}

static size_t id_n10(size_t i, char *buf)
{
    return fmt_id(buf, "n%zu", 10 + i);
}

static size_t id_decimal(size_t i, char *buf)
{
    return fmt_id(buf, "%zu", i);
}

static size_t id_gb(size_t i, char *buf)
{
    return fmt_id(buf, "gb%zu", i);
}

/* abc, abd, abe, ... */
static size_t id_ab(size_t i, char *buf)
{
    buf[0] = 'a';
    buf[1] = 'b';
    buf[2] = (char)('c' + i);
    return 3;
}

static size_t id_single_byte(size_t i, char *buf)
{
    buf[0] = (char)('0' + i);
    return 1;
}

static size_t id_pod(size_t i, char *buf)
{
    return fmt_id(buf, "ring-%zu", i);
}

static size_t id_web(size_t i, char *buf)
{
    return fmt_id(buf, "web-%zu", i);
}

static size_t id_node(size_t i, char *buf)
{
    return fmt_id(buf, "node-%zu", 1 + i);
}

static size_t id_pod_fqdn(size_t i, char *buf)
{
    return fmt_id(buf, "ring-%zu.ring-headless.default.svc.cluster.local", i);
}

static size_t id_long_prefix(size_t i, char *buf)
{
    return fmt_id(buf, "ringd-production-eu-west-1-zone-a-statefulset-replica-%02zu", i);
}

static size_t id_uuid_random(size_t i, char *buf)
{
    uint64_t seed = 1000 + i;
    uint64_t a = test_rand(&seed), b = test_rand(&seed);
    return (size_t)snprintf(buf, FAMILY_ID_BYTES, "%08x-%04x-4%03x-8%03x-%012llx",
                            (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
                            (unsigned)(b >> 48) & 0xfff,
                            (unsigned long long)(b & 0xffffffffffffull));
}

static size_t id_uuid_sequential(size_t i, char *buf)
{
    return fmt_id(buf, "00000000-0000-4000-8000-%012zx", i);
}

static size_t id_ipv4(size_t i, char *buf)
{
    return fmt_id(buf, "10.0.0.%zu:7946", 1 + i);
}

static size_t id_ipv4_ports(size_t i, char *buf)
{
    return fmt_id(buf, "127.0.0.1:%zu", 7946 + i);
}

static size_t id_ipv6(size_t i, char *buf)
{
    return fmt_id(buf, "[fd00::%zx]:7946", 1 + i);
}

static size_t id_ipv6_ports(size_t i, char *buf)
{
    return fmt_id(buf, "[::1]:%zu", 7946 + i);
}

static size_t id_le32(size_t i, char *buf)
{
    for (int b = 0; b < 4; b++) {
        buf[b] = (char)(i >> (8 * b));
    }
    return 4;
}

static size_t id_le64(size_t i, char *buf)
{
    for (int b = 0; b < 8; b++) {
        buf[b] = (char)((uint64_t)i >> (8 * b));
    }
    return 8;
}

static const struct {
    const char *name;
    family_id_fn make;
} families[] = {
    { "n0, n1, ...", id_n0 },
    { "n10, n11, ...", id_n10 },
    { "0, 1, ...", id_decimal },
    { "gb0, gb1, ...", id_gb },
    { "abc, abd, ...", id_ab },
    { "single bytes 0, 1, ...", id_single_byte },
    { "ring-0, ring-1, ...", id_pod },
    { "web-0, web-1, ...", id_web },
    { "node-1, node-2, ...", id_node },
    { "ring-0.ring-headless...", id_pod_fqdn },
    { "long prefix ...-replica-00", id_long_prefix },
    { "random UUIDs", id_uuid_random },
    { "sequential UUIDs", id_uuid_sequential },
    { "10.0.0.1:7946, ...", id_ipv4 },
    { "127.0.0.1:7946, :7947, ...", id_ipv4_ports },
    { "[fd00::1]:7946, ...", id_ipv6 },
    { "[::1]:7946, :7947, ...", id_ipv6_ports },
    { "le32(0), le32(1), ...", id_le32 },
    { "le64(0), le64(1), ...", id_le64 },
};
#define FAMILIES (sizeof(families) / sizeof(families[0]))

static char family_ids[FAMILY_MEMBERS_MAX][FAMILY_ID_BYTES];

/* The exact busiest share over the mean share of a ring of the |n| ids in family_ids. */
static double busiest_over_mean(const size_t *lens, size_t n, uint32_t vnodes)
{
    struct hashring_member m[FAMILY_MEMBERS_MAX] = { 0 };
    for (size_t i = 0; i < n; i++) {
        m[i] = (struct hashring_member){ family_ids[i], lens[i], 1 };
    }
    struct hashring *r = build(m, n, vnodes);
    double shares[FAMILY_MEMBERS_MAX], busiest = 0.0;
    hashring_shares(r, shares);
    for (size_t i = 0; i < n; i++) {
        busiest = shares[i] > busiest ? shares[i] : busiest;
    }
    hashring_del(r);
    return busiest * (double)n;
}

/* The report's case: three ids a digit apart. Each must own about a third of the ring
 * (the old placement gave n10 99.69%, n11 0.29%, n12 0.02%). */
Test(hashring, three_ids_a_digit_apart_share_the_ring_evenly)
{
    struct hashring_member m[3] = { { "n10", 3, 1 }, { "n11", 3, 1 }, { "n12", 3, 1 } };
    struct hashring *r = build(m, 3, 0);
    double shares[3];
    hashring_shares(r, shares);
    for (int i = 0; i < 3; i++) {
        cr_assert(gt(dbl, shares[i], 0.30), "member %d owns %.4f of the ring", i, shares[i]);
        cr_assert(lt(dbl, shares[i], 0.37), "member %d owns %.4f of the ring", i, shares[i]);
    }
    hashring_del(r);
}

/* The cause of that case: the points of ids a few low bits apart must not coincide. Two
 * random 1,024-point sets share a 32-bit position with probability 1024^2 / 2^32 = 0.02%;
 * the old placement made 1,022 of n11's points land exactly on n10's. */
Test(hashring, similar_ids_place_no_points_on_each_other)
{
    static const char *pairs[][2] = { { "n10", "n11" }, { "n10", "n12" }, { "abc", "abd" },
                                      { "gb0", "gb1" }, { "a", "b" },     { "n1", "n2" } };
    for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
        struct hashring_member m[2] = { { pairs[p][0], strlen(pairs[p][0]), 1 },
                                        { pairs[p][1], strlen(pairs[p][1]), 1 } };
        struct hashring *r = build(m, 2, 1024);
        cr_assert(ge(sz, r->boundary_count, 2047), "%s and %s: %u distinct positions of 2048",
                  pairs[p][0], pairs[p][1], r->boundary_count);
        hashring_del(r);
    }
}

Test(hashring, every_id_family_balances_like_random_ids)
{
    size_t lens[FAMILY_MEMBERS_MAX];
    for (size_t f = 0; f < FAMILIES; f++) {
        for (size_t b = 0; b < BALANCE_BOUNDS; b++) {
            const struct balance_bound *bb = &balance_bounds[b];
            for (size_t i = 0; i < bb->members; i++) {
                lens[i] = families[f].make(i, family_ids[i]);
            }
            double ratio = busiest_over_mean(lens, bb->members, bb->vnodes);
            cr_assert(le(dbl, ratio, bb->busiest_over_mean_max),
                      "family %s, %zu members, %u vnodes: busiest / mean %.4f > %.2f",
                      families[f].name, bb->members, bb->vnodes, ratio, bb->busiest_over_mean_max);
        }
    }
}

/* Ids of every length from 1 to 64 bytes that differ in one byte only (the first, a middle
 * or the last), so every input-length path of the hash is crossed. Rings of more than
 * 30,000 points are left to the families above, to keep this test short. */
Test(hashring, ids_one_byte_apart_balance_at_every_length)
{
    static const char filler[] = "service-a.ring-headless.prod.svc.cluster.local:7946/shards/00042";
    _Static_assert(sizeof(filler) - 1 >= 64, "the filler covers 64 bytes");
    size_t lens[FAMILY_MEMBERS_MAX];
    for (size_t len = 1; len <= 64; len++) {
        size_t where[3] = { 0, len / 2, len - 1 };
        for (size_t w = 0; w < 3; w++) {
            for (size_t b = 0; b < BALANCE_BOUNDS; b++) {
                const struct balance_bound *bb = &balance_bounds[b];
                if (bb->members * bb->vnodes > 30000) {
                    continue;
                }
                for (size_t i = 0; i < bb->members; i++) {
                    memcpy(family_ids[i], filler, len);
                    family_ids[i][where[w]] = (char)('0' + i);
                    lens[i] = len;
                }
                double ratio = busiest_over_mean(lens, bb->members, bb->vnodes);
                cr_assert(le(dbl, ratio, bb->busiest_over_mean_max),
                          "%zu-byte ids differing at byte %zu, %zu members, %u vnodes: "
                          "busiest / mean %.4f > %.2f",
                          len, where[w], bb->members, bb->vnodes, ratio, bb->busiest_over_mean_max);
            }
        }
    }
}

/*
 * Incremental updates. hashring_new_from() must give, byte for byte, the ring hashring_new()
 * gives for the same members: random joins, leaves and weight changes (several at once,
 * members in shuffled order), each step checked with hashring__equal() against a full build,
 * and the result used as the next step's old ring.
 */
#define CHURN_POOL 600

struct churn {
    char ids[CHURN_POOL + 2][24];
    uint32_t weight[CHURN_POOL + 2]; /* 0: absent */
    size_t pool;
    uint64_t seed;
    int in_id_order; /* members given sorted by id (as a sorted member table gives them) */
};

static void churn_init(struct churn *c, size_t pool, size_t present, uint32_t weight_max,
                       uint64_t seed)
{
    memset(c, 0, sizeof(*c));
    c->pool = pool;
    c->seed = seed;
    for (size_t i = 0; i < pool; i++) {
        snprintf(c->ids[i], sizeof(c->ids[i]), "churn-%u", (unsigned)i);
    }
    /* The two ids whose point 0 ties (a_tied_position_belongs_to_the_smallest_id), so ties
     * come and go with them. */
    snprintf(c->ids[pool - 2], sizeof(c->ids[0]), "tie-52829");
    snprintf(c->ids[pool - 1], sizeof(c->ids[0]), "tie-198021");
    for (size_t i = 0; i < present; i++) {
        c->weight[(i * 7919) % pool] = 1 + (uint32_t)(test_rand(&c->seed) % weight_max);
    }
}

static int member_id_cmp(const void *a, const void *b)
{
    const struct hashring_member *x = a, *y = b;
    size_t n = x->id_len < y->id_len ? x->id_len : y->id_len;
    int cmp = memcmp(x->id, y->id, n);
    return cmp != 0 ? cmp : (x->id_len > y->id_len) - (x->id_len < y->id_len);
}

/* The present members, shuffled, or sorted by id. */
static size_t churn_members(struct churn *c, struct hashring_member *m)
{
    size_t n = 0;
    for (size_t i = 0; i < c->pool; i++) {
        if (c->weight[i] != 0) {
            m[n++] = (struct hashring_member){ c->ids[i], strlen(c->ids[i]), c->weight[i] };
        }
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = test_rand(&c->seed) % i;
        struct hashring_member t = m[i - 1];
        m[i - 1] = m[j];
        m[j] = t;
    }
    if (c->in_id_order) {
        qsort(m, n, sizeof(*m), member_id_cmp);
    }
    return n;
}

/* One random change of 1 to |max_ops| members: join, leave or new weight. */
static void churn_step(struct churn *c, size_t max_ops, uint32_t weight_max)
{
    size_t ops = 1 + test_rand(&c->seed) % max_ops;
    for (size_t k = 0; k < ops; k++) {
        size_t i = test_rand(&c->seed) % c->pool;
        uint32_t w = c->weight[i];
        switch (test_rand(&c->seed) % 3) {
        case 0:
            c->weight[i] = w ? 0 : 1 + (uint32_t)(test_rand(&c->seed) % weight_max);
            break;
        case 1:
            c->weight[i] = w ? w : 1;
            break;
        default:
            c->weight[i] = w ? 1 + (uint32_t)(test_rand(&c->seed) % weight_max) : 0;
            break;
        }
    }
}

static void check_churn_order(size_t pool, size_t present, uint32_t vnodes, uint32_t weight_max,
                              size_t steps, size_t max_ops, uint64_t seed, int in_id_order)
{
    static struct churn c;
    static struct hashring_member m[CHURN_POOL + 2];
    churn_init(&c, pool, present, weight_max, seed);
    c.in_id_order = in_id_order;
    size_t n = churn_members(&c, m);
    struct hashring *r = build(m, n, vnodes);
    struct hashring_config cfg = { .vnodes = vnodes };
    size_t incremental = 0;
    for (size_t step = 0; step < steps; step++) {
        churn_step(&c, max_ops, weight_max);
        n = churn_members(&c, m);
        struct hashring *next = NULL;
        cr_assert(eq(int, hashring_new_from(&next, r, m, n, &cfg, &tm.mem), 0));
        struct hashring *full = build(m, n, vnodes);
        cr_assert(hashring__equal(next, full), "step %zu (seed %llu): %zu members", step,
                  (unsigned long long)seed, n);
        incremental += (size_t)next->incremental;
        check_shares(next);
        hashring_del(full);
        hashring_del(r);
        r = next;
    }
    hashring_del(r);
    /* Most steps change a small part of the ring and must take the incremental path. */
    cr_assert(ge(sz, incremental, steps / 2), "%zu of %zu steps were incremental", incremental,
              steps);
}

static void check_churn(size_t pool, size_t present, uint32_t vnodes, uint32_t weight_max,
                        size_t steps, size_t max_ops, uint64_t seed)
{
    check_churn_order(pool, present, vnodes, weight_max, steps, max_ops, seed, 0);
}

/* Members in id order take the path that finds each one just after the one before; joins
 * and leaves break the run, and a duplicate id within it must still fail. */
Test(hashring, new_from_equals_a_full_build_with_members_in_id_order)
{
    check_churn_order(400, 150, 64, 3, 150, 3, 4, 1);
    struct hashring_member *m = make_members(300, "order");
    struct hashring *old = build(m, 300, 16), *r = NULL;
    struct hashring_config cfg = { .vnodes = 16 };
    m[150] = m[149];
    cr_assert(eq(int, hashring_new_from(&r, old, m, 300, &cfg, &tm.mem), RING_EEXIST));
    cr_assert(eq(ptr, r, NULL));
    hashring_del(old);
    free(m);
}

/* Copied entries are renumbered with AVX2 where the CPU has it, with SSE2 or word by word
 * otherwise: the other ways must give the same bytes. */
static void no_avx2(void)
{
    setup();
    hashring__test_no_avx2 = 1;
}

Test(hashring, new_from_without_avx2_equals_a_full_build, .init = no_avx2)
{
    check_churn(400, 150, 64, 3, 100, 3, 5);
}

Test(hashring, new_from_equals_a_full_build_over_random_changes)
{
    check_churn(400, 150, 64, 3, 300, 3, 1);
}

/* At 1,024 points per member, rings of a few hundred members have dozens of tied positions
 * (about n^2 / 2^33), and about one member in 8,000 ties with itself: the update must keep
 * every one of them as a full build does. */
Test(hashring, new_from_equals_a_full_build_at_default_vnodes)
{
    check_churn(500, 300, 0, 2, 12, 2, 2);
}

/* Found by search: two of this id's 1,024 points sit at 0x41e615b0. When it leaves, both
 * go; when it joins, both come, and one of them loses the tie to the other. */
Test(hashring, a_member_tied_with_itself_leaves_and_joins_incrementally)
{
    size_t n = 200;
    struct hashring_member *m = make_members(n + 1, "self");
    snprintf(ids[n], sizeof(ids[n]), "self-12939");
    m[n] = (struct hashring_member){ ids[n], strlen(ids[n]), 1 };
    struct hashring *with = build(m, n + 1, 0);
    cr_assert(ge(u32, with->shadow_count, 1));
    struct hashring *without = NULL, *back = NULL;
    cr_assert(eq(int, hashring_new_from(&without, with, m, n, NULL, &tm.mem), 0));
    struct hashring *full = build(m, n, 0);
    cr_assert(without->incremental);
    cr_assert(hashring__equal(without, full));
    cr_assert(eq(int, hashring_new_from(&back, without, m, n + 1, NULL, &tm.mem), 0));
    cr_assert(back->incremental);
    cr_assert(hashring__equal(back, with));
    hashring_del(with);
    hashring_del(without);
    hashring_del(back);
    hashring_del(full);
    free(m);
}

/* Buckets of a dozen boundaries (hashring__test_crowding): about a quarter of the groups
 * escape their 4-bit counts and most keys land in buckets fuller than the lookup's unrolled
 * compare. Lookups, walks and updates must still follow the definition. */
static void crowd(void)
{
    setup();
    hashring__test_crowding = 3;
}

Test(hashring, crowded_buckets_look_up_by_the_definition, .init = crowd)
{
    size_t n = 20;
    struct hashring_member *m = make_members(n, "crowd");
    for (size_t i = 0; i < n; i++) {
        m[i].weight = 1 + (uint32_t)(i % 10);
    }
    struct hashring *r = build(m, n, 0);
    cr_assert(gt(u32, r->escape_count, r->group_count / 10), "%u of %u groups escaped",
              r->escape_count, r->group_count);
    struct big_brute bf;
    big_brute_init(&bf, r);
    uint64_t seed = 11;
    for (int k = 0; k < 20000; k++) {
        uint64_t h = test_rand(&seed);
        uint32_t got;
        cr_assert(eq(int, hashring_lookup_hash(r, h, &got), 0));
        cr_assert(eq(u32, got, big_brute_owner(&bf, (uint32_t)(h >> 32))));
        cr_assert(eq(u32, hashring__owner_at(r, (uint32_t)(h >> 32)), got));
    }
    check_shares(r);
    double shares[20], sum = 0.0;
    hashring_shares(r, shares);
    for (size_t i = 0; i < n; i++) {
        sum += shares[i];
    }
    cr_assert(gt(dbl, sum, 0.999999));
    cr_assert(lt(dbl, sum, 1.000001));
    free(bf.pos);
    free(bf.member);
    hashring_del(r);
    free(m);
}

/* Every position a bucket's compare can get wrong: each point, each boundary (the midpoint
 * of two points) and the positions either side of it, the ends of the circle, and random
 * ones. The portable and the SSSE3 builds of the hot path, and the exact path, must all
 * give the owner the definition gives. */
static void check_lookup_builds(const struct hashring *r, uint64_t seed)
{
    struct big_brute bf;
    big_brute_init(&bf, r);
    int ssse3 = 0;
#if HASHRING__HAVE_SSSE3
    ssse3 = __builtin_cpu_supports("ssse3");
#endif
    size_t extra = 20000;
    size_t total = 4 * bf.n + 3 + extra;
    for (size_t k = 0; k < total; k++) {
        uint32_t x;
        if (k < 4 * bf.n) {
            size_t j = k / 4;
            uint32_t p = bf.pos[j], q = bf.pos[(j + 1) % bf.n];
            uint32_t mid = j + 1 < bf.n ? (uint32_t)(((uint64_t)p + q) / 2)
                                        : (uint32_t)(((uint64_t)p + q + (UINT64_C(1) << 32)) / 2);
            uint32_t at[4] = { p, mid, mid + 1, mid - 1 };
            x = at[k % 4];
        } else if (k < 4 * bf.n + 3) {
            uint32_t ends[3] = { 0, 1, UINT32_MAX };
            x = ends[k - 4 * bf.n];
        } else {
            x = (uint32_t)(test_rand(&seed) >> 32);
        }
        uint64_t h = (uint64_t)x << 32 | (test_rand(&seed) & UINT32_MAX);
        uint32_t want = big_brute_owner(&bf, x), got = UINT32_MAX;
        cr_assert(eq(int, hashring__lookup_hash_portable(r, h, &got), 0));
        cr_assert(eq(u32, got, want), "portable: position %08x", x);
        cr_assert(eq(u32, hashring__owner_at(r, x), want), "exact: position %08x", x);
#if HASHRING__HAVE_SSSE3
        if (ssse3) {
            got = UINT32_MAX;
            cr_assert(eq(int, hashring__lookup_hash_ssse3(r, h, &got), 0));
            cr_assert(eq(u32, got, want), "ssse3: position %08x", x);
        }
#endif
        cr_assert(eq(int, hashring_lookup_hash(r, h, &got), 0));
        cr_assert(eq(u32, got, want));
    }
    /* Keys of every length the hash treats differently, through both builds. */
    uint8_t key[48];
    for (int k = 0; k < 4000; k++) {
        size_t len = (size_t)k % (sizeof(key) + 1);
        for (size_t i = 0; i < len; i++) {
            key[i] = (uint8_t)test_rand(&seed);
        }
        uint32_t want = big_brute_owner(&bf, (uint32_t)(XXH3_64bits(key, len) >> 32)), got;
        cr_assert(eq(int, hashring__lookup_portable(r, key, len, &got), 0));
        cr_assert(eq(u32, got, want));
#if HASHRING__HAVE_SSSE3
        if (ssse3) {
            cr_assert(eq(int, hashring__lookup_ssse3(r, key, len, &got), 0));
            cr_assert(eq(u32, got, want));
        }
#endif
        cr_assert(eq(int, hashring_lookup(r, key, len, &got), 0));
        cr_assert(eq(u32, got, want));
    }
    free(bf.pos);
    free(bf.member);
}

/* Rings of one point (every key wraps to the sentinel), a few (buckets at the table's end
 * read the padding), default vnodes and mixed weights. */
Test(hashring, both_lookup_builds_follow_the_definition)
{
    size_t sizes[][2] = { { 1, 1 }, { 2, 1 }, { 3, 4 }, { 50, 0 }, { 300, 64 } };
    for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++) {
        struct hashring_member *m = make_members(sizes[t][0], "builds");
        for (size_t i = 0; i < sizes[t][0]; i++) {
            m[i].weight = 1 + (uint32_t)(i % 7);
        }
        struct hashring *r = build(m, sizes[t][0], (uint32_t)sizes[t][1]);
        check_lookup_builds(r, 100 + t);
        hashring_del(r);
        free(m);
    }
}

Test(hashring, both_lookup_builds_follow_the_definition_in_crowded_buckets, .init = crowd)
{
    struct hashring_member *m = make_members(20, "crowdb");
    for (size_t i = 0; i < 20; i++) {
        m[i].weight = 1 + (uint32_t)(i % 10);
    }
    struct hashring *r = build(m, 20, 0);
    cr_assert(gt(u32, r->escape_count, 0));
    check_lookup_builds(r, 7);
    hashring_del(r);
    free(m);
}

Test(hashring, crowded_buckets_update_like_a_full_build, .init = crowd)
{
    check_churn(40, 24, 0, 10, 20, 2, 3);
}

/* hashring_new_from() checks its arguments as hashring_new() does, builds from scratch from
 * no ring, an empty ring or one of other vnodes, and fails cleanly when memory runs out,
 * leaving the old ring as it was. */
Test(hashring, new_from_handles_bad_input_other_rings_and_failed_allocations)
{
    size_t n = 300;
    struct hashring_member *m = make_members(n + 2, "edge");
    struct hashring *old = build(m, n, 0), *r = NULL;
    struct hashring_member dup[3] = { m[0], m[1], m[1] };     /* both in |old| */
    struct hashring_member dup_new[3] = { m[0], m[n], m[n] }; /* both new */
    cr_assert(eq(int, hashring_new_from(NULL, old, m, n, NULL, &tm.mem), RING_EINVAL));
    cr_assert(eq(int, hashring_new_from(&r, old, NULL, 1, NULL, &tm.mem), RING_EINVAL));
    cr_assert(eq(int, hashring_new_from(&r, old, dup, 3, NULL, &tm.mem), RING_EEXIST));
    cr_assert(eq(int, hashring_new_from(&r, old, dup_new, 3, NULL, &tm.mem), RING_EEXIST));
    cr_assert(eq(ptr, r, NULL));
    /* No old ring, an empty one, one of other vnodes, an empty result: full builds. */
    struct hashring *empty = build(NULL, 0, 0), *other = build(m, n, 512);
    const struct hashring *olds[] = { NULL, empty, other, old };
    size_t sizes[] = { n + 1, n + 1, n + 1, 0 };
    for (size_t i = 0; i < 4; i++) {
        cr_assert(eq(int, hashring_new_from(&r, olds[i], m, sizes[i], NULL, &tm.mem), 0));
        struct hashring *full = build(m, sizes[i], 0);
        cr_assert(hashring__equal(r, full), "case %zu", i);
        cr_assert(not(r->incremental));
        hashring_del(full);
        hashring_del(r);
    }
    /* Every allocation failing in turn: RING_ENOMEM, nothing leaked, |old| unchanged. */
    struct hashring *copy = build(m, n, 0);
    size_t before = tm.bytes;
    for (uint64_t fail_at = 1; fail_at <= 40; fail_at++) {
        tm.calls = 0;
        tm.fail_at = fail_at;
        r = NULL;
        int rv = hashring_new_from(&r, old, m + 1, n + 1, NULL, &tm.mem);
        tm.fail_at = 0;
        if (rv == 0) {
            cr_assert(r->incremental);
            hashring_del(r);
            continue;
        }
        cr_assert(eq(int, rv, RING_ENOMEM));
        cr_assert(eq(sz, tm.bytes, before));
    }
    cr_assert(hashring__equal(old, copy));
    hashring_del(copy);
    hashring_del(old);
    hashring_del(empty);
    hashring_del(other);
    free(m);
}
