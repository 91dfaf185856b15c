/*
 * fuzz_hashring: builds rings from arbitrary small member sets and checks them against the
 * definition in proto/RING.md, computed by brute force from xxHash3 and SplitMix64 alone:
 *   - every lookup is the nearest point's member (ties to the smallest id), by the build of
 *     the hot path hashring_lookup() picks for this CPU and by the portable one;
 *   - lookup_n's first owner is the lookup's and its owners are distinct;
 *   - dropping a member moves only that member's keys (hashring_diff);
 *   - shares sum to 1;
 * and that hashring_new_from() gives the ring hashring_new() gives (same checksum, points,
 * memory, shares and owner of every key) after a leave, a join and a weight change, on rings
 * of 256 points per unit of weight, large enough to be updated in place, with buckets
 * crowded (hashring__test_crowding) when bit 4 of byte 0 is set.
 * Input: byte 0 = vnodes - 1 (mod 16), byte 1 = member count (mod 8), then per member a
 * length byte (mod 12, +1), that many id bytes and a weight byte (mod 3, +1); the rest are
 * 8-byte key hashes to look up.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "ring/error.h"
#include "ring/hashring.h"

#define MEMBERS_MAX 8
#define POINTS_MAX  (16 * 3 * MEMBERS_MAX)
/* Points per unit of weight of the rings updated in place. */
#define UPDATE_VNODES 256

/* Test hooks of libring's table (hashring_int.h): fuller buckets, and the portable build
 * of the lookup's hot path. */
extern uint32_t hashring__test_crowding;
int hashring__lookup_hash_portable(const struct hashring *r, uint64_t key_hash, uint32_t *owner);

struct point {
    uint32_t pos;
    uint32_t member;
};

static int point_cmp(const void *a, const void *b)
{
    const struct point *x = a, *y = b;
    if (x->pos != y->pos) {
        return x->pos < y->pos ? -1 : 1;
    }
    return (x->member > y->member) - (x->member < y->member);
}

/* Output i + 1 of SplitMix64 seeded with |seed|: point i's hash (proto/RING.md). */
static uint64_t splitmix_output(uint64_t seed, uint32_t i)
{
    uint64_t z = seed + ((uint64_t)i + 1) * UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* The distinct points of |r|, each owned by the smallest member at its position. */
static size_t brute_points(const struct hashring *r, struct point *p)
{
    size_t n = 0;
    for (uint32_t m = 0; m < hashring_member_count(r); m++) {
        const struct hashring_member *mm = hashring_member(r, m);
        uint64_t seed = XXH3_64bits(mm->id, mm->id_len);
        for (uint32_t i = 0; i < hashring_vnodes(r) * mm->weight; i++) {
            p[n++] = (struct point){ (uint32_t)(splitmix_output(seed, i) >> 32), m };
        }
    }
    qsort(p, n, sizeof(*p), point_cmp);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept == 0 || p[kept - 1].pos != p[i].pos) {
            p[kept++] = p[i];
        }
    }
    return kept;
}

static uint32_t brute_owner(const struct point *p, size_t n, uint32_t x)
{
    uint64_t best = UINT64_MAX;
    uint32_t owner = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        uint32_t cw = p[i].pos - x, ccw = x - p[i].pos;
        uint32_t d = cw < ccw ? cw : ccw;
        uint64_t score = ((uint64_t)d << 1) | (ccw == d ? 0 : 1);
        if (score < best) {
            best = score;
            owner = p[i].member;
        }
    }
    return owner;
}

struct diff_check {
    uint32_t leaver;
};

static void check_range(const struct hashring_range *range, void *arg)
{
    const struct diff_check *c = arg;
    if (range->from != c->leaver || range->first > range->last) {
        abort();
    }
}

static size_t parse_members(const uint8_t *data, size_t size, struct hashring_member *m, size_t *n)
{
    size_t off = 2, count = data[1] % (MEMBERS_MAX + 1);
    *n = 0;
    while (*n < count && off < size) {
        size_t len = (size_t)(data[off++] % 12) + 1;
        if (off + len + 1 > size) {
            break;
        }
        m[*n] = (struct hashring_member){ (const char *)data + off, len, data[off + len] % 3u + 1 };
        off += len + 1;
        (*n)++;
    }
    return off;
}

static void check_lookups(const struct hashring *r, const uint8_t *keys, size_t size)
{
    static struct point p[POINTS_MAX];
    size_t np = brute_points(r, p);
    for (size_t off = 0; off + 8 <= size; off += 8) {
        uint64_t h;
        memcpy(&h, keys + off, 8);
        uint32_t owner, portable;
        if (hashring_lookup_hash(r, h, &owner) != 0 || owner != brute_owner(p, np, h >> 32) ||
            hashring__lookup_hash_portable(r, h, &portable) != 0 || portable != owner) {
            abort();
        }
    }
    uint32_t owners[MEMBERS_MAX], first;
    int got = hashring_lookup_n(r, keys, size < 16 ? size : 16, MEMBERS_MAX, owners);
    hashring_lookup(r, keys, size < 16 ? size : 16, &first);
    if (got < 1 || owners[0] != first) {
        abort();
    }
    for (int i = 0; i < got; i++) {
        for (int j = i + 1; j < got; j++) {
            if (owners[i] == owners[j]) {
                abort();
            }
        }
    }
}

static void check_leave(const struct hashring *r, const struct hashring_member *m, size_t n,
                        uint32_t vnodes)
{
    struct hashring_member rest[MEMBERS_MAX];
    memcpy(rest, m, (n - 1) * sizeof(*m));
    struct hashring_config cfg = { .vnodes = vnodes };
    struct hashring *smaller = NULL;
    if (hashring_new(&smaller, rest, n - 1, &cfg, NULL) != 0) {
        abort();
    }
    struct diff_check c;
    if (hashring_find(r, m[n - 1].id, m[n - 1].id_len, &c.leaver) != 0 ||
        hashring_diff(r, smaller, check_range, &c) != 0) {
        abort();
    }
    hashring_del(smaller);
}

/* |a| (built from an older ring) and |b| (from scratch) must be the same ring. */
static void check_same(const struct hashring *a, const struct hashring *b, const uint8_t *keys,
                       size_t size)
{
    size_t n = hashring_member_count(a);
    if (n != hashring_member_count(b) || hashring_checksum(a) != hashring_checksum(b) ||
        hashring_point_count(a) != hashring_point_count(b) ||
        hashring_memory_bytes(a) != hashring_memory_bytes(b)) {
        abort();
    }
    double sa[MEMBERS_MAX], sb[MEMBERS_MAX];
    hashring_shares(a, sa);
    hashring_shares(b, sb);
    for (size_t i = 0; i < n; i++) {
        if (sa[i] != sb[i]) {
            abort();
        }
    }
    uint64_t h = 0;
    for (size_t off = 0; off < size + 8 * 256; off += 8) {
        if (off + 8 <= size) {
            memcpy(&h, keys + off, 8);
        } else {
            h = splitmix_output(h, 0);
        }
        uint32_t oa, ob;
        if (hashring_lookup_hash(a, h, &oa) != 0 || hashring_lookup_hash(b, h, &ob) != 0 ||
            oa != ob) {
            abort();
        }
    }
}

/* Member set |m| (n), then without its last member, then with member 0 one unit heavier,
 * each built from the ring before and compared with a ring built from scratch. */
static void check_updates(const struct hashring_member *m, size_t n, const uint8_t *keys,
                          size_t size)
{
    struct hashring_config cfg = { .vnodes = UPDATE_VNODES };
    struct hashring_member set[MEMBERS_MAX];
    memcpy(set, m, n * sizeof(*m));
    struct hashring *r = NULL;
    if (hashring_new(&r, set, n, &cfg, NULL) != 0) {
        abort();
    }
    size_t sizes[3] = { n - 1, n - 1, n };
    for (int step = 0; step < 3; step++) {
        if (step == 1) {
            set[0].weight = set[0].weight % 3 + 1;
        }
        struct hashring *next = NULL, *full = NULL;
        if (hashring_new_from(&next, r, set, sizes[step], &cfg, NULL) != 0 ||
            hashring_new(&full, set, sizes[step], &cfg, NULL) != 0) {
            abort();
        }
        check_same(next, full, keys, size);
        hashring_del(full);
        hashring_del(r);
        r = next;
    }
    hashring_del(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    struct hashring_member m[MEMBERS_MAX];
    size_t n;
    size_t off = parse_members(data, size, m, &n);
    struct hashring_config cfg = { .vnodes = (uint32_t)(data[0] % 16) + 1 };
    struct hashring *r = NULL;
    int rv = hashring_new(&r, m, n, &cfg, NULL);
    if (rv != 0) {
        if (rv != RING_EEXIST) {
            abort();
        }
        return 0;
    }
    if (n > 0) {
        check_lookups(r, data + off, size - off);
        double shares[MEMBERS_MAX], sum = 0.0;
        hashring_shares(r, shares);
        for (size_t i = 0; i < n; i++) {
            sum += shares[i];
        }
        if (sum < 0.999999 || sum > 1.000001) {
            abort();
        }
    }
    if (n > 1) {
        check_leave(r, m, n, cfg.vnodes);
        hashring__test_crowding = (data[0] & 0x10) ? 3 : 0;
        check_updates(m, n, data + off, size - off);
        hashring__test_crowding = 0;
    }
    hashring_del(r);
    return 0;
}
