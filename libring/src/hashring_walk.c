/*
 * hashring_walk: walks a ring's boundaries in order, for what needs more than one owner:
 * lookup_n (the next distinct owners clockwise), shares (the arc each boundary closes) and
 * diffs (both rings' boundaries merged). These are cold paths next to hashring_lookup(), so
 * they recover a boundary's position from its bucket and fragment, walking the groups'
 * counts alongside the entries.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ring/error.h"
#include "hashring_int.h"
#include "mem_int.h"

/* Moves |c| to a real boundary: from (bucket, k) forward past buckets that end at or
 * before k, keeping the end of the bucket it stops in. Returns 1 if it wrapped around to
 * the first boundary. */
static int settle(const struct hashring *r, struct hashring_cursor *c)
{
    if (c->k < c->end) {
        return 0;
    }
    int wrapped = 0;
    if (c->k >= r->boundary_count) {
        c->k = 0;
        c->bucket = 0;
        wrapped = 1;
    }
    for (;;) {
        uint32_t start, count;
        hashring__bucket_span(r, c->bucket, &start, &count);
        if (c->k < start + count) {
            c->end = start + count;
            return wrapped;
        }
        c->bucket++;
    }
}

struct hashring_cursor hashring__first(const struct hashring *r)
{
    struct hashring_cursor c = { 0, 0, 0 };
    settle(r, &c);
    return c;
}

struct hashring_cursor hashring__seek(const struct hashring *r, uint32_t position)
{
    uint32_t b = position >> r->frag_bits, start, count;
    hashring__bucket_span(r, b, &start, &count);
    uint32_t key = hashring__key(r, position) >> 8;
    uint32_t k = 0;
    while (k < count && hashring__entry(r, start + k) < key) {
        k++;
    }
    struct hashring_cursor c = { b, start + k, start + k };
    settle(r, &c);
    return c;
}

int hashring__next(const struct hashring *r, struct hashring_cursor *c)
{
    c->k++;
    return settle(r, c);
}

static uint32_t group_start(const struct hashring *r, uint32_t g)
{
    return r->groups[g].start & ~HASHRING__ESCAPED;
}

uint32_t hashring__group_of(const struct hashring *r, uint32_t k)
{
    uint32_t lo = 0, hi = r->group_count;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (group_start(r, mid) <= k) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

struct hashring_cursor hashring__cursor_at(const struct hashring *r, uint32_t k)
{
    return hashring__cursor_from(r, hashring__group_of(r, k) << HASHRING__GROUP_SHIFT, k);
}

struct hashring_cursor hashring__cursor_from(const struct hashring *r, uint32_t bucket, uint32_t k)
{
    RING_ASSERT(k < r->boundary_count);
    struct hashring_cursor c = { bucket, k, k };
    settle(r, &c);
    return c;
}

void hashring__prev(const struct hashring *r, struct hashring_cursor *c)
{
    if (c->k == 0) {
        *c = hashring__cursor_at(r, r->boundary_count - 1);
        return;
    }
    c->k--;
    for (;;) {
        uint32_t start, count;
        hashring__bucket_span(r, c->bucket, &start, &count);
        if (start <= c->k) {
            c->end = start + count;
            return;
        }
        c->bucket--;
    }
}

/* Through cursors, for escaped groups. */
static uint32_t point_at_slow(const struct hashring *r, uint32_t g, uint32_t k)
{
    uint32_t k0 = group_start(r, g);
    uint32_t point = r->groups[g].anchor;
    struct hashring_cursor c = hashring__cursor_at(r, k0);
    for (uint32_t i = k0; i < k; i++) {
        point = 2 * hashring__cursor_position(r, &c) + hashring__parity_get(r->parity, i) - point;
        hashring__next(r, &c);
    }
    return point;
}

/* The point of boundary |k| of group |g| (not escaped, |n| boundaries from |k0|, nibble
 * counts |counts|) from whichever anchor is nearer: this group's (the point of boundary k0),
 * walking forward, point' = 2 b + parity - point, or the next group's (of boundary k0 + n),
 * walking back the same way. */
static uint32_t point_in_group(const struct hashring *r, uint32_t g, uint64_t counts, uint32_t k0,
                               uint32_t n, uint32_t k)
{
    uint32_t k1 = k0 + n, base = g << (HASHRING__GROUP_SHIFT + r->frag_bits);
    if (k - k0 <= k1 - k || g + 1 == r->group_count || k1 == r->boundary_count) {
        uint32_t point = r->groups[g].anchor, i = k0;
        for (uint32_t j = 0; i < k; j++, counts >>= 4) {
            uint32_t bucket = base | (j << r->frag_bits);
            for (uint32_t c = (uint32_t)counts & 0xf; c > 0 && i < k; c--, i++) {
                uint32_t b = bucket | hashring__entry_frag(r, hashring__entry(r, i));
                point = 2 * b + hashring__parity_get(r->parity, i) - point;
            }
        }
        return point;
    }
    uint32_t point = r->groups[g + 1].anchor, i = k1;
    for (uint32_t j = HASHRING__GROUP_BUCKETS; i > k; j--) {
        uint32_t bucket = base | ((j - 1) << r->frag_bits);
        for (uint32_t c = (uint32_t)(counts >> (4 * (j - 1))) & 0xf; c > 0 && i > k; c--) {
            i--;
            uint32_t b = bucket | hashring__entry_frag(r, hashring__entry(r, i));
            point = 2 * b + hashring__parity_get(r->parity, i) - point;
        }
    }
    return point;
}

uint32_t hashring__point_at(const struct hashring *r, uint32_t k)
{
    return hashring__point_in(r, hashring__group_of(r, k), k);
}

uint32_t hashring__point_in(const struct hashring *r, uint32_t g, uint32_t k)
{
    if ((r->groups[g].start & HASHRING__ESCAPED) != 0) {
        return point_at_slow(r, g, k);
    }
    uint64_t counts = r->groups[g].counts;
    return point_in_group(r, g, counts, group_start(r, g), hashring__nibble_sum(counts), k);
}

uint32_t hashring__cursor_owner(const struct hashring *r, const struct hashring_cursor *c)
{
    return hashring__entry_owner(r, c->k);
}

uint32_t hashring__cursor_position(const struct hashring *r, const struct hashring_cursor *c)
{
    return (c->bucket << r->frag_bits) | hashring__entry_frag(r, hashring__entry(r, c->k));
}

static int contains(const uint32_t *a, size_t n, uint32_t v)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] == v) {
            return 1;
        }
    }
    return 0;
}

int hashring_lookup_n(const struct hashring *r, const void *key, size_t key_len, size_t n,
                      uint32_t *owners)
{
    if (n == 0 || n > HASHRING_REPLICAS_MAX) {
        return RING_ERANGE;
    }
    if (r->boundary_count == 0) {
        return RING_EEMPTY;
    }
    size_t want = n < r->owning_count ? n : r->owning_count;
    size_t found = 0;
    uint32_t position = (uint32_t)(XXH3_64bits(key, key_len) >> 32);
    struct hashring_cursor c = hashring__seek(r, position);
    for (uint32_t steps = 0; steps < r->boundary_count && found < want; steps++) {
        uint32_t m = hashring__cursor_owner(r, &c);
        if (!contains(owners, found, m)) {
            owners[found++] = m;
        }
        hashring__next(r, &c);
    }
    RING_ASSERT(found == want);
    return (int)found;
}

/* Each member's arc is kept in the ring (the writer adds up each boundary's), so shares
 * cost one division a member. Every arc is below 2^32 and they add up to 2^32, well inside
 * a double's exact integers, so this equals summing the arcs as doubles one by one
 * (hashring__shares_walk, which the tests compare with it). */
void hashring_shares(const struct hashring *r, double *shares)
{
    for (uint32_t m = 0; m < r->member_count; m++) {
        shares[m] = (double)r->arcs[m] / 4294967296.0;
    }
}

void hashring__shares_walk(const struct hashring *r, double *shares)
{
    for (uint32_t m = 0; m < r->member_count; m++) {
        shares[m] = 0.0;
    }
    if (r->boundary_count == 0) {
        return;
    }
    /* Boundary j owns the keys in (boundary j-1, boundary j]; the first one's arc wraps
     * around from the last. A single boundary owns everything. */
    struct hashring_cursor c = hashring__first(r);
    uint32_t first = hashring__cursor_position(r, &c);
    uint32_t first_owner = hashring__cursor_owner(r, &c);
    uint32_t prev = first;
    while (!hashring__next(r, &c)) {
        uint32_t pos = hashring__cursor_position(r, &c);
        shares[hashring__cursor_owner(r, &c)] += (double)(uint32_t)(pos - prev);
        prev = pos;
    }
    uint32_t wrap = (uint32_t)(first - prev);
    shares[first_owner] += r->boundary_count == 1 ? 4294967296.0 : (double)wrap;
    for (uint32_t m = 0; m < r->member_count; m++) {
        shares[m] /= 4294967296.0;
    }
}

/* The diff walks both rings' boundaries at once. Between two consecutive boundaries (of
 * either ring) each ring has one owner; runs of such intervals whose owner ids differ are
 * merged and reported. */
struct diff_side {
    const struct hashring *r;
    struct hashring_cursor c;
    int done; /* walked past the ring's last boundary */
};

static void side_init(struct diff_side *s, const struct hashring *r)
{
    s->r = r;
    s->done = r->point_count == 0;
    s->c = (struct hashring_cursor){ 0, 0, 0 }; /* unread when done; set for the compiler */
    if (!s->done) {
        s->c = hashring__first(r);
    }
}

static uint64_t side_boundary(const struct diff_side *s)
{
    return s->done ? HASHRING__POSITION_MAX : hashring__cursor_position(s->r, &s->c);
}

static uint32_t side_owner(const struct diff_side *s)
{
    if (s->r->point_count == 0) {
        return HASHRING_NONE;
    }
    if (s->done) {
        /* Past the last boundary the keys wrap around to the first. */
        struct hashring_cursor first = hashring__first(s->r);
        return hashring__cursor_owner(s->r, &first);
    }
    return hashring__cursor_owner(s->r, &s->c);
}

static void side_pass(struct diff_side *s, uint64_t position)
{
    while (!s->done && hashring__cursor_position(s->r, &s->c) <= position) {
        s->done = hashring__next(s->r, &s->c);
    }
}

/* old_to_new[m] = index in |new_r| of old member m's id, or HASHRING_NONE. */
static void map_members(const struct hashring *old_r, const struct hashring *new_r,
                        uint32_t *old_to_new)
{
    for (uint32_t m = 0; m < old_r->member_count; m++) {
        uint32_t idx;
        const struct hashring_member *mm = &old_r->members[m];
        old_to_new[m] = hashring_find(new_r, mm->id, mm->id_len, &idx) == 0 ? idx : HASHRING_NONE;
    }
}

static int owner_changed(uint32_t from, uint32_t to, const uint32_t *old_to_new)
{
    if (from == HASHRING_NONE || to == HASHRING_NONE) {
        return from != to;
    }
    return old_to_new[from] != to;
}

struct diff_out {
    hashring_range_cb cb;
    void *arg;
    struct hashring_range pending;
    int have;
};

static void diff_emit(struct diff_out *out, const struct hashring_range *next)
{
    struct hashring_range *p = &out->pending;
    if (out->have && p->from == next->from && p->to == next->to && p->last + 1 == next->first) {
        p->last = next->last;
        return;
    }
    if (out->have) {
        out->cb(p, out->arg);
    }
    *p = *next;
    out->have = 1;
}

int hashring_diff(const struct hashring *old_r, const struct hashring *new_r, hashring_range_cb cb,
                  void *arg)
{
    uint32_t *old_to_new = ring__mallocarray(&old_r->mem, old_r->member_count + 1, 4);
    if (old_to_new == NULL) {
        return RING_ENOMEM;
    }
    map_members(old_r, new_r, old_to_new);
    struct diff_side a, b;
    side_init(&a, old_r);
    side_init(&b, new_r);
    struct diff_out out = { .cb = cb, .arg = arg };
    uint64_t start = 0;
    for (;;) {
        uint64_t end_a = side_boundary(&a), end_b = side_boundary(&b);
        uint64_t end = end_a < end_b ? end_a : end_b;
        uint32_t from = side_owner(&a), to = side_owner(&b);
        if (owner_changed(from, to, old_to_new)) {
            struct hashring_range next = {
                .first = start << 32,
                .last = (end << 32) | UINT32_MAX,
                .from = from,
                .to = to,
            };
            diff_emit(&out, &next);
        }
        if (end == HASHRING__POSITION_MAX) {
            break;
        }
        side_pass(&a, end);
        side_pass(&b, end);
        start = end + 1;
    }
    if (out.have) {
        cb(&out.pending, arg);
    }
    ring__free(&old_r->mem, old_to_new);
    return 0;
}
