/*
 * hashring_update: a ring built from an older ring and a new member set, by rewriting only
 * the table around the points that change, so that it comes out byte for byte as
 * hashring_new() would build it.
 *
 * A member that joins adds its points, one that leaves takes its points away, and a weight
 * change adds or removes the last points of a member (point i of a member does not depend on
 * its weight). Every other point stays where it was, and with it every boundary whose two
 * points are unchanged and have nothing new between them. So:
 *
 * 1. The change set: merging the two sorted member lists gives the members that left,
 *    joined or changed weight, their points (the events, sorted by position), how old member
 *    indexes map to new ones, and the new checksum (a sum, RING.md).
 * 2. Dirty buckets: an event at x falls in the cell of boundary j's point, between points
 *    j - 1 and j + 1, so the boundaries it can change lie between boundaries j - 2 and j + 1.
 *    The buckets from there to there are dirty; overlapping runs merge into spans.
 * 3. Each span is rebuilt: the old points it covers come back from the table (the point
 *    before the span's first boundary from its group's anchor, each next one from the
 *    boundary between them and its parity bit, 2 b + parity - point), the points that lost a
 *    tie from the shadow list; the events are applied, ties go again to the smallest id, and
 *    consecutive points give the new boundaries. The span's first and last points are never
 *    events, so its boundaries join the untouched ones on either side.
 * 4. The table is written in order by the writer hashring_new() uses: untouched buckets are
 *    copied in bulk (entries with their owners renumbered when member indexes moved, parity
 *    bits, whole groups), spans boundary by boundary. The result is the table a full build
 *    writes, because the writer sees the same boundaries.
 *
 * The geometry (hashring__geometry) must not change: when the member count or point count
 * crosses one of its thresholds, and when much of the ring changes, a full build is as cheap
 * and the update declines.
 */
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ring/error.h"
#include "hashring_int.h"
#include "hashring_writer.h"
#include "mem_int.h"

/* Rings smaller than this build from scratch in microseconds, and an update of them would
 * only add edge cases (spans that meet around the whole ring). */
#define UPDATE_BOUNDARIES_MIN 1024
/* More changed points than 1 / UPDATE_CHANGE_DIV of the ring: build from scratch. */
#define UPDATE_CHANGE_DIV 8
/* Internal: the update is not worth it, build from scratch. */
#define DECLINED 1

struct changes {
    /* Old member index -> new index, or HASHRING_NONE for a member that left. */
    uint32_t *old_to_new;
    /* The same for owners in copied entries. */
    uint16_t *remap;
    struct hashring_renumber renumber;
    /* Points that go, (position << 16) | old member, and points that come,
     * (position << 16) | new member, each sorted by position. */
    uint64_t *removed;
    uint32_t removed_count;
    uint64_t *added;
    uint32_t added_count;
};

/* Buckets [first, first + count) of the old ring (they may wrap past the last one). */
struct span {
    uint32_t first;
    uint32_t count;
};

/* A new boundary of a span; |point| is the position of the point that owns it. */
struct bound {
    uint32_t position;
    uint32_t owner;
    uint32_t parity;
    uint32_t point;
};

/* What the spans give back: their new boundaries (span after span, each in position order
 * from its first bucket), the points that lost ties in them, and the old shadow points they
 * took in. */
struct rebuilt {
    struct bound *bounds;
    uint32_t bound_count;
    uint32_t bound_cap;
    uint32_t *span_bounds; /* per span: index of its first boundary in |bounds| */
    uint64_t *losers;
    uint32_t loser_count;
    uint32_t loser_cap;
    uint8_t *shadow_taken; /* per old shadow point: 1 if a span rebuilt it */
    uint32_t replaced;     /* old boundaries the spans replace */
};

/* ---- 1. the change set ----------------------------------------------------------------- */

static uint32_t points_of(const struct hashring *r, uint32_t weight)
{
    return r->vnodes * weight;
}

/* Appends points [from, to) of |m| as (position << 16) | idx. */
static void emit_points(uint64_t *out, uint32_t *n, const struct hashring_member *m, uint32_t from,
                        uint32_t to, uint32_t idx)
{
    uint64_t state = XXH3_64bits(m->id, m->id_len) + (uint64_t)from * HASHRING__POINT_GAMMA;
    for (uint32_t i = from; i < to; i++) {
        state += HASHRING__POINT_GAMMA;
        out[(*n)++] = ((hashring__mix64(state) >> 32) << 16) | idx;
    }
}

/* Walks both sorted member lists; with |out| NULL only counts the points that change. */
static void walk_members(const struct hashring *old, struct hashring *r, struct changes *c,
                         uint64_t *removed_points, uint64_t *added_points, int fill)
{
    uint32_t i = 0, j = 0;
    uint64_t rem = 0, add = 0;
    while (i < old->member_count || j < r->member_count) {
        int cmp = i == old->member_count ? 1
                  : j == r->member_count ? -1
                                         : hashring__member_cmp(&old->members[i], &r->members[j]);
        const struct hashring_member *om = cmp <= 0 ? &old->members[i] : NULL;
        const struct hashring_member *nm = cmp >= 0 ? &r->members[j] : NULL;
        uint32_t was = om ? points_of(old, om->weight) : 0;
        uint32_t now = nm ? points_of(r, nm->weight) : 0;
        if (fill && was > now) {
            emit_points(c->removed, &c->removed_count, om, now, was, i);
        }
        if (fill && now > was) {
            emit_points(c->added, &c->added_count, nm, was, now, j);
        }
        rem += was > now ? was - now : 0;
        add += now > was ? now - was : 0;
        if (fill && om != NULL) {
            c->old_to_new[i] = nm ? j : HASHRING_NONE;
        }
        if (fill && (om == NULL || nm == NULL || om->weight != nm->weight)) {
            r->digest_sum += nm ? hashring_member_digest(nm->id, nm->id_len, nm->weight) : 0;
            r->digest_sum -= om ? hashring_member_digest(om->id, om->id_len, om->weight) : 0;
        }
        i += om != NULL;
        j += nm != NULL;
    }
    *removed_points = rem;
    *added_points = add;
}

static void changes_free(const struct ring_mem *mem, struct changes *c)
{
    ring__free(mem, c->old_to_new);
    ring__free(mem, c->remap);
    ring__free(mem, c->removed);
    ring__free(mem, c->added);
}

/* Sorts |n| points with a scratch array. */
static int sort_points(const struct ring_mem *mem, uint64_t *a, uint32_t n)
{
    uint64_t *tmp = ring__mallocarray(mem, n ? n : 1, sizeof(*tmp));
    if (tmp == NULL) {
        return RING_ENOMEM;
    }
    hashring__sort_points(a, tmp, n);
    ring__free(mem, tmp);
    return 0;
}

static int build_changes(const struct hashring *old, struct hashring *r, struct changes *c)
{
    uint64_t rem, add;
    walk_members(old, r, c, &rem, &add, 0);
    if ((rem + add) * UPDATE_CHANGE_DIV > old->point_count) {
        return DECLINED;
    }
    c->old_to_new = ring__mallocarray(&r->mem, old->member_count, sizeof(uint32_t));
    c->remap = ring__mallocarray(&r->mem, old->member_count, sizeof(uint16_t));
    c->removed = ring__mallocarray(&r->mem, rem ? rem : 1, sizeof(uint64_t));
    c->added = ring__mallocarray(&r->mem, add ? add : 1, sizeof(uint64_t));
    if (c->old_to_new == NULL || c->remap == NULL || c->removed == NULL || c->added == NULL) {
        return RING_ENOMEM;
    }
    r->digest_sum = old->digest_sum;
    walk_members(old, r, c, &rem, &add, 1);
    /* The renumbering as steps where the shift of surviving members changes. */
    int32_t shift = 0;
    uint32_t steps = 0;
    for (uint32_t m = 0; m < old->member_count; m++) {
        c->remap[m] = (uint16_t)(c->old_to_new[m] == HASHRING_NONE ? 0 : c->old_to_new[m]);
        if (c->old_to_new[m] == HASHRING_NONE) {
            continue;
        }
        int32_t now = (int32_t)c->old_to_new[m] - (int32_t)m;
        if (now != shift && steps < HASHRING__RENUMBER_STEPS) {
            c->renumber.at[steps] = m;
            c->renumber.by[steps] = now - shift;
        }
        steps += now != shift;
        shift = now;
    }
    c->renumber.steps = steps;
    c->renumber.table = c->remap;
    int rv = sort_points(&r->mem, c->removed, c->removed_count);
    return rv != 0 ? rv : sort_points(&r->mem, c->added, c->added_count);
}

/* ---- 2. dirty spans -------------------------------------------------------------------- */

static uint32_t bucket_count(const struct hashring *r)
{
    return r->group_count << HASHRING__GROUP_SHIFT;
}

/* First boundary of bucket |b| (b may be the bucket count: then the boundary count). */
static uint32_t bucket_start(const struct hashring *r, uint32_t b)
{
    if (b == bucket_count(r)) {
        return r->boundary_count;
    }
    uint32_t start, count;
    hashring__bucket_span(r, b, &start, &count);
    return start;
}

/* The buckets an event at |position| can touch: from boundary j - 2 to j + 1, j the first
 * boundary at or after it. */
static struct span event_span(const struct hashring *old, uint32_t position)
{
    struct hashring_cursor c = hashring__seek(old, position);
    struct hashring_cursor after = c;
    hashring__next(old, &after);
    hashring__prev(old, &c);
    hashring__prev(old, &c);
    uint32_t buckets = bucket_count(old);
    uint32_t count = (after.bucket - c.bucket + buckets) % buckets + 1;
    return (struct span){ c.bucket, count };
}

/* Merges overlapping or touching spans, around the ring. Returns the new count, or 0 when
 * they cover every bucket. */
static uint32_t merge_spans(struct span *s, uint32_t n, uint32_t buckets)
{
    /* Events come in position order, so spans come nearly sorted: an insertion sort. */
    for (uint32_t i = 1; i < n; i++) {
        struct span t = s[i];
        uint32_t j = i;
        while (j > 0 && s[j - 1].first > t.first) {
            s[j] = s[j - 1];
            j--;
        }
        s[j] = t;
    }
    uint32_t out = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t end = (uint64_t)s[i].first + s[i].count;
        if (out > 0 && s[i].first <= (uint64_t)s[out - 1].first + s[out - 1].count) {
            uint64_t cur = (uint64_t)s[out - 1].first + s[out - 1].count;
            s[out - 1].count = (uint32_t)((end > cur ? end : cur) - s[out - 1].first);
        } else {
            s[out++] = s[i];
        }
    }
    /* The last span may run past the end into the first ones. */
    while (out > 1) {
        uint64_t end = (uint64_t)s[out - 1].first + s[out - 1].count;
        if (end < buckets + (uint64_t)s[0].first) {
            break;
        }
        uint64_t other = buckets + (uint64_t)s[0].first + s[0].count;
        s[out - 1].count = (uint32_t)((end > other ? end : other) - s[out - 1].first);
        memmove(s, s + 1, (out - 1) * sizeof(*s));
        out--;
    }
    if (out == 1 && s[0].count >= buckets) {
        return 0;
    }
    for (uint32_t i = 0; i < out; i++) {
        if (s[i].count >= buckets) {
            return 0;
        }
    }
    return out;
}

/* Every event's span, merged. Returns 0 and the spans, DECLINED when they cover the whole
 * ring, or RING_ENOMEM. */
static int dirty_spans(const struct hashring *old, const struct changes *c,
                       const struct ring_mem *mem, struct span **out, uint32_t *out_count)
{
    uint32_t n = c->removed_count + c->added_count;
    struct span *s = ring__mallocarray(mem, n ? n : 1, sizeof(*s));
    if (s == NULL) {
        return RING_ENOMEM;
    }
    uint32_t k = 0, i = 0, j = 0;
    while (i < c->removed_count || j < c->added_count) {
        int take_removed = j == c->added_count ||
                           (i < c->removed_count && c->removed[i] >> 16 <= c->added[j] >> 16);
        uint64_t e = take_removed ? c->removed[i++] : c->added[j++];
        s[k++] = event_span(old, (uint32_t)(e >> 16));
    }
    uint32_t merged = n ? merge_spans(s, n, bucket_count(old)) : 0;
    if (n > 0 && merged == 0) {
        ring__free(mem, s);
        return DECLINED;
    }
    *out = s;
    *out_count = merged;
    return 0;
}

/* ---- 3. rebuilding a span -------------------------------------------------------------- */

/* A point of a span, at an unwrapped position (the span's first point plus the distance
 * clockwise), with its member: old index while |old| is set, new index after. */
struct item {
    uint64_t u;
    uint32_t member;
    uint32_t old;
};

struct span_work {
    struct item *items; /* the span's points, sorted by (u, member) */
    uint32_t item_count;
    uint32_t item_cap;
    struct item *tmp;
    uint32_t tmp_cap;
};

/* Returns |p| (|*cap| elements of |size| bytes) grown to hold at least |need|, or NULL
 * (and |p| is untouched) when that fails. Typed pointers go in and out by value: passing
 * one's address as void ** and storing through it breaks aliasing rules, and the optimizer
 * then keeps using the old pointer. */
static void *grow(const struct ring_mem *mem, void *p, uint32_t *cap, uint32_t need, size_t size)
{
    if (need <= *cap) {
        return p;
    }
    uint32_t n = *cap ? *cap : 64;
    while (n < need) {
        n *= 2;
    }
    void *q = mem->realloc(p, (size_t)n * size, mem->user_data);
    if (q != NULL) {
        *cap = n;
    }
    return q;
}

/* The unwrapped position of raw position |p| for a span starting at |u0|. */
static uint64_t unwrap(uint64_t u0, uint32_t p)
{
    return u0 + (uint32_t)(p - (uint32_t)u0);
}

/* Index of the first of the sorted (position << 16 | x) values |a| with position >= |p|,
 * looked for from |hint| on when every value before it is below |p| (from 0 otherwise):
 * by steps that double, then halving. Spans come in position order, each a few points
 * past the last, so the search from where the last one ended takes a step or two where a
 * binary search over all of |a| takes a dozen unpredictable branches. */
static uint32_t lower_bound(const uint64_t *a, uint32_t n, uint32_t p, uint32_t hint)
{
    uint32_t lo = hint <= n && (hint == 0 || (uint32_t)(a[hint - 1] >> 16) < p) ? hint : 0;
    uint32_t step = 1;
    while (step <= n - lo && (uint32_t)(a[lo + step - 1] >> 16) < p) {
        lo += step;
        step *= 2;
    }
    uint32_t hi = step <= n - lo ? lo + step - 1 : n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((uint32_t)(a[mid] >> 16) < p) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The indexes of the values of |a| strictly between unwrapped positions u0 and u1 (less than
 * a turn apart), in clockwise order: one or two runs [lo, hi). |*hint| is where the last
 * run that did not wrap past the top ended, and becomes where this one ends. */
struct runs {
    uint32_t lo[2];
    uint32_t hi[2];
};

static struct runs between(const uint64_t *a, uint32_t n, uint64_t u0, uint64_t u1, uint32_t *hint)
{
    struct runs r = { { 0, 0 }, { 0, 0 } };
    if (u1 - u0 < 2) {
        return r;
    }
    uint32_t first = (uint32_t)(u0 + 1), last = (uint32_t)(u1 - 1);
    if (first <= last) {
        r.lo[0] = lower_bound(a, n, first, *hint);
        r.hi[0] = last == UINT32_MAX ? n : lower_bound(a, n, last + 1, r.lo[0]);
        *hint = r.hi[0];
    } else {
        r.lo[0] = lower_bound(a, n, first, 0);
        r.hi[0] = n;
        r.lo[1] = 0;
        r.hi[1] = lower_bound(a, n, last + 1, 0);
    }
    return r;
}

static int item_less(const struct item *a, const struct item *b)
{
    return a->u < b->u || (a->u == b->u && a->member < b->member);
}

/* Merges sorted |b| (n items) into the sorted work items, through w->tmp. */
static int merge_items(const struct ring_mem *mem, struct span_work *w, const struct item *b,
                       uint32_t n)
{
    uint32_t total = w->item_count + n;
    struct item *tmp = grow(mem, w->tmp, &w->tmp_cap, total, sizeof(*tmp));
    if (tmp == NULL) {
        return RING_ENOMEM;
    }
    w->tmp = tmp;
    uint32_t i = 0, j = 0, k = 0;
    while (i < w->item_count || j < n) {
        if (j == n || (i < w->item_count && !item_less(&b[j], &w->items[i]))) {
            w->tmp[k++] = w->items[i++];
        } else {
            w->tmp[k++] = b[j++];
        }
    }
    struct item *t = w->items;
    uint32_t t_cap = w->item_cap;
    w->items = w->tmp;
    w->item_cap = w->tmp_cap;
    w->tmp = t;
    w->tmp_cap = t_cap;
    w->item_count = total;
    return 0;
}

struct span_ctx {
    const struct hashring *old;
    const struct changes *c;
    struct hashring *r;
    struct rebuilt *out;
    struct span_work w;
    struct item *extra;
    uint32_t extra_cap;
    uint32_t span;
    /* Where the last span's shadow points, removals and additions ended (between()). */
    uint32_t shadow_hint;
    uint32_t removed_hint;
    uint32_t added_hint;
};

/* The old points of boundaries [ka, kb) (unwrapped indexes) and the one after, into w->items;
 * their old owners too. Returns the last point's unwrapped position. */
static int decode_points(struct span_ctx *x, uint32_t first_bucket, uint32_t ka, uint32_t kb,
                         uint64_t *u_end, uint32_t *end_owner)
{
    const struct hashring *old = x->old;
    uint32_t d = old->boundary_count;
    struct item *items = grow(&x->r->mem, x->w.items, &x->w.item_cap, kb - ka + 1, sizeof(*items));
    if (items == NULL) {
        return RING_ENOMEM;
    }
    x->w.items = items;
    /* Boundary ka is the first at or after the span's first bucket, unless that wrapped. */
    struct hashring_cursor cur =
        ka < d ? hashring__cursor_from(old, first_bucket, ka) : hashring__cursor_at(old, ka % d);
    uint64_t u = hashring__point_in(old, cur.bucket >> HASHRING__GROUP_SHIFT, ka % d);
    /* The replaced boundaries' arcs leave their owners; the new ones come back with the
     * writer. */
    struct hashring_cursor before = cur;
    hashring__prev(old, &before);
    uint32_t prev = hashring__cursor_position(old, &before);
    x->w.item_count = 0;
    for (uint32_t k = ka; k < kb; k++) {
        uint32_t i = k % d, position = hashring__cursor_position(old, &cur);
        uint32_t m = x->c->old_to_new[hashring__entry_owner(old, i)];
        if (m != HASHRING_NONE) {
            x->r->arcs[m] -= (uint32_t)(position - prev);
        }
        prev = position;
        uint64_t b = unwrap(u, position);
        x->w.items[x->w.item_count++] = (struct item){ u, hashring__entry_owner(old, i), 1 };
        u = 2 * b + hashring__parity_get(old->parity, i) - u;
        hashring__next(old, &cur);
    }
    *u_end = u;
    *end_owner = hashring__entry_owner(old, kb % d);
    return 0;
}

/* Adds the old shadow points strictly inside the span (they may win once events apply). */
static int take_shadow(struct span_ctx *x, uint64_t u0, uint64_t u1)
{
    const struct hashring *old = x->old;
    struct runs runs = between(old->shadow, old->shadow_count, u0, u1, &x->shadow_hint);
    uint32_t n = 0;
    for (int r = 0; r < 2; r++) {
        n += runs.hi[r] - runs.lo[r];
    }
    if (n == 0) {
        return 0;
    }
    struct item *extra = grow(&x->r->mem, x->extra, &x->extra_cap, n, sizeof(*extra));
    if (extra == NULL) {
        return RING_ENOMEM;
    }
    x->extra = extra;
    uint32_t k = 0;
    for (int r = 0; r < 2; r++) {
        for (uint32_t i = runs.lo[r]; i < runs.hi[r]; i++) {
            uint64_t s = old->shadow[i];
            x->extra[k++] =
                (struct item){ unwrap(u0, (uint32_t)(s >> 16)), (uint32_t)(s & 0xffff), 1 };
            x->out->shadow_taken[i] = 1;
        }
    }
    return merge_items(&x->r->mem, &x->w, x->extra, k);
}

/* Drops the points the span's removals name, then moves members to new indexes. */
static void apply_removals(struct span_ctx *x, uint64_t u0, uint64_t u1)
{
    struct runs runs = between(x->c->removed, x->c->removed_count, u0, u1, &x->removed_hint);
    uint32_t at = 0;
    for (int r = 0; r < 2; r++) {
        for (uint32_t i = runs.lo[r]; i < runs.hi[r]; i++) {
            uint64_t e = x->c->removed[i];
            uint64_t u = unwrap(u0, (uint32_t)(e >> 16));
            uint32_t m = (uint32_t)(e & 0xffff);
            while (at < x->w.item_count && item_less(&x->w.items[at], &(struct item){ u, m, 1 })) {
                at++;
            }
            RING_ASSERT(at < x->w.item_count && x->w.items[at].u == u &&
                        x->w.items[at].member == m);
            /* A member can tie with itself (two of its points at one position): the same
             * removal twice takes both, one after the other. */
            x->w.items[at++].old = 2;
        }
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < x->w.item_count; i++) {
        struct item it = x->w.items[i];
        if (it.old == 2) {
            continue;
        }
        it.member = x->c->old_to_new[it.member];
        RING_ASSERT(it.member != HASHRING_NONE);
        it.old = 0;
        x->w.items[k++] = it;
    }
    x->w.item_count = k;
}

static int apply_additions(struct span_ctx *x, uint64_t u0, uint64_t u1)
{
    struct runs runs = between(x->c->added, x->c->added_count, u0, u1, &x->added_hint);
    uint32_t n = runs.hi[0] - runs.lo[0] + runs.hi[1] - runs.lo[1];
    if (n == 0) {
        return 0;
    }
    struct item *extra = grow(&x->r->mem, x->extra, &x->extra_cap, n, sizeof(*extra));
    if (extra == NULL) {
        return RING_ENOMEM;
    }
    x->extra = extra;
    uint32_t k = 0;
    for (int r = 0; r < 2; r++) {
        for (uint32_t i = runs.lo[r]; i < runs.hi[r]; i++) {
            uint64_t e = x->c->added[i];
            x->extra[k++] =
                (struct item){ unwrap(u0, (uint32_t)(e >> 16)), (uint32_t)(e & 0xffff), 0 };
        }
    }
    return merge_items(&x->r->mem, &x->w, x->extra, k);
}

static int push_bound(struct span_ctx *x, const struct item *a, const struct item *b)
{
    struct rebuilt *out = x->out;
    struct bound *bounds =
        grow(&x->r->mem, out->bounds, &out->bound_cap, out->bound_count + 1, sizeof(*bounds));
    if (bounds == NULL) {
        return RING_ENOMEM;
    }
    out->bounds = bounds;
    uint64_t sum = a->u + b->u;
    out->bounds[out->bound_count++] =
        (struct bound){ (uint32_t)(sum >> 1), a->member, (uint32_t)sum & 1, (uint32_t)a->u };
    return 0;
}

static int push_loser(struct span_ctx *x, const struct item *it)
{
    struct rebuilt *out = x->out;
    uint64_t *losers =
        grow(&x->r->mem, out->losers, &out->loser_cap, out->loser_count + 1, sizeof(*losers));
    if (losers == NULL) {
        return RING_ENOMEM;
    }
    out->losers = losers;
    out->losers[out->loser_count++] = ((uint64_t)(uint32_t)it->u << 16) | it->member;
    return 0;
}

/* The new boundaries from the span's first point |first| through the merged items (sorted;
 * the first at each position wins, the others lose the tie) to its last point |last|, in
 * clockwise order from the span's first bucket. */
static int make_bounds(struct span_ctx *x, const struct item *first, const struct item *last)
{
    const struct item *prev = first;
    int rv = 0;
    for (uint32_t i = 0; rv == 0 && i < x->w.item_count; i++) {
        const struct item *it = &x->w.items[i];
        if (it->u == prev->u) {
            rv = push_loser(x, it);
            continue;
        }
        rv = push_bound(x, prev, it);
        prev = it;
    }
    return rv != 0 ? rv : push_bound(x, prev, last);
}

static int rebuild_span(struct span_ctx *x, const struct span *s)
{
    const struct hashring *old = x->old;
    uint32_t d = old->boundary_count, buckets = bucket_count(old);
    uint32_t ka = bucket_start(old, s->first);
    uint32_t end = s->first + s->count;
    uint32_t kb = end > buckets ? d + bucket_start(old, end - buckets) : bucket_start(old, end);
    RING_ASSERT(kb >= ka && kb - ka < d);
    x->out->replaced += kb - ka;
    x->out->span_bounds[x->span++] = x->out->bound_count;
    uint64_t u_end;
    uint32_t end_owner;
    int rv = decode_points(x, s->first, ka, kb, &u_end, &end_owner);
    if (rv != 0) {
        return rv;
    }
    /* The span's first point stays out of the merge; its last was never in it. */
    struct item first = x->w.items[0];
    struct item last = { u_end, end_owner, 1 };
    memmove(x->w.items, x->w.items + 1, (x->w.item_count - 1) * sizeof(struct item));
    x->w.item_count--;
    rv = take_shadow(x, first.u, u_end);
    if (rv != 0) {
        return rv;
    }
    apply_removals(x, first.u, u_end);
    rv = apply_additions(x, first.u, u_end);
    if (rv != 0) {
        return rv;
    }
    first.member = x->c->old_to_new[first.member];
    last.member = x->c->old_to_new[last.member];
    RING_ASSERT(first.member != HASHRING_NONE && last.member != HASHRING_NONE);
    return make_bounds(x, &first, &last);
}

/* ---- 4. writing the table -------------------------------------------------------------- */

static int put_bounds(struct hashring_writer *w, const struct bound *b, uint32_t from, uint32_t to)
{
    int rv = 0;
    for (uint32_t i = from; rv == 0 && i < to; i++) {
        rv = hashring__writer_put(w, b[i].position, b[i].owner, b[i].parity, b[i].point);
    }
    return rv;
}

/* Writes the table in bucket order: untouched buckets copied, each span's boundaries put.
 * Spans are sorted by first bucket and each span's boundaries run clockwise from it, so only
 * a last span that wraps past the top needs care: its boundaries past the top come first. */
static int write_table(struct hashring *r, const struct hashring *old, const struct changes *c,
                       const struct span *spans, uint32_t n, const struct rebuilt *out)
{
    uint32_t buckets = bucket_count(old);
    struct hashring_writer w;
    hashring__writer_init(&w, r);
    uint32_t b = 0, wrap_split = n > 0 ? out->span_bounds[n] : 0;
    int rv = 0;
    if (n > 0 && spans[n - 1].first + spans[n - 1].count > buckets) {
        uint32_t top = spans[n - 1].first << r->frag_bits;
        wrap_split = out->span_bounds[n - 1];
        while (wrap_split < out->span_bounds[n] && out->bounds[wrap_split].position >= top) {
            wrap_split++;
        }
        rv = put_bounds(&w, out->bounds, wrap_split, out->span_bounds[n]);
        b = spans[n - 1].first + spans[n - 1].count - buckets;
    }
    for (uint32_t i = 0; rv == 0 && i < n; i++) {
        uint32_t end = spans[i].first + spans[i].count;
        rv = hashring__writer_copy(&w, old, b, spans[i].first, &c->renumber);
        if (rv == 0) {
            uint32_t to = i + 1 < n ? out->span_bounds[i + 1] : wrap_split;
            rv = put_bounds(&w, out->bounds, out->span_bounds[i], to);
        }
        b = end < buckets ? end : buckets;
    }
    if (rv == 0) {
        rv = hashring__writer_copy(&w, old, b, buckets, &c->renumber);
    }
    return rv != 0 ? rv : hashring__writer_finish(&w);
}

/* ---- 5. the shadow list ---------------------------------------------------------------- */

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The old shadow points no span took, renumbered, merged with the spans' losers. */
static int write_shadow(struct hashring *r, const struct hashring *old, const struct changes *c,
                        struct rebuilt *out)
{
    if (out->loser_count > 1) {
        qsort(out->losers, out->loser_count, sizeof(uint64_t), u64_cmp);
    }
    uint32_t n = out->loser_count;
    for (uint32_t i = 0; i < old->shadow_count; i++) {
        n += !out->shadow_taken[i];
    }
    if (n == 0) {
        return 0;
    }
    r->shadow = ring__mallocarray(&r->mem, n, sizeof(uint64_t));
    if (r->shadow == NULL) {
        return RING_ENOMEM;
    }
    uint32_t i = 0, j = 0, k = 0;
    while (i < old->shadow_count || j < out->loser_count) {
        if (i < old->shadow_count && out->shadow_taken[i]) {
            i++;
            continue;
        }
        uint64_t kept = UINT64_MAX;
        if (i < old->shadow_count) {
            uint32_t m = c->old_to_new[old->shadow[i] & 0xffff];
            RING_ASSERT(m != HASHRING_NONE);
            kept = (old->shadow[i] & ~UINT64_C(0xffff)) | m;
        }
        if (j < out->loser_count && out->losers[j] < kept) {
            r->shadow[k++] = out->losers[j++];
        } else {
            r->shadow[k++] = kept;
            i++;
        }
    }
    r->shadow_count = k;
    r->memory_bytes += k * sizeof(uint64_t);
    return 0;
}

/* ---- the update ------------------------------------------------------------------------ */

static void rebuilt_free(const struct ring_mem *mem, struct rebuilt *out)
{
    ring__free(mem, out->bounds);
    ring__free(mem, out->losers);
    ring__free(mem, out->shadow_taken);
    ring__free(mem, out->span_bounds);
}

static int rebuild_spans(struct hashring *r, const struct hashring *old, const struct changes *c,
                         const struct span *spans, uint32_t span_count, struct rebuilt *out)
{
    out->shadow_taken = ring__calloc(&r->mem, old->shadow_count ? old->shadow_count : 1, 1);
    out->span_bounds = ring__mallocarray(&r->mem, span_count + 1, sizeof(uint32_t));
    if (out->shadow_taken == NULL || out->span_bounds == NULL) {
        return RING_ENOMEM;
    }
    struct span_ctx x = { .old = old, .c = c, .r = r, .out = out };
    int rv = 0;
    for (uint32_t i = 0; rv == 0 && i < span_count; i++) {
        rv = rebuild_span(&x, &spans[i]);
    }
    out->span_bounds[span_count] = out->bound_count;
    ring__free(&r->mem, x.w.items);
    ring__free(&r->mem, x.w.tmp);
    ring__free(&r->mem, x.extra);
    return rv;
}

/* The members' arcs as the old ring has them: the spans take away those of the boundaries
 * they replace and the writer adds those of the boundaries it writes. */
static int start_arcs(struct hashring *r, const struct hashring *old, const struct changes *c)
{
    r->arcs = ring__calloc(&r->mem, r->member_count ? r->member_count : 1, sizeof(uint64_t));
    if (r->arcs == NULL) {
        return RING_ENOMEM;
    }
    for (uint32_t m = 0; m < old->member_count; m++) {
        if (c->old_to_new[m] != HASHRING_NONE) {
            r->arcs[c->old_to_new[m]] = old->arcs[m];
        }
    }
    return 0;
}

/* Fills the table of |r| (members set) from |old|. Returns 0, DECLINED or RING_ENOMEM. */
static int update(struct hashring *r, const struct hashring *old, uint64_t point_count)
{
    uint32_t frag_bits, owner_bits;
    hashring__geometry(r->member_count, point_count, &frag_bits, &owner_bits);
    if (old->boundary_count < UPDATE_BOUNDARIES_MIN || point_count == 0 ||
        frag_bits != old->frag_bits || owner_bits != old->owner_bits) {
        return DECLINED;
    }
    hashring__set_geometry(r, frag_bits, owner_bits);
    r->point_count = (uint32_t)point_count;
    struct changes c = { 0 };
    struct span *spans = NULL;
    uint32_t span_count = 0;
    struct rebuilt out = { 0 };
    int rv = build_changes(old, r, &c);
    if (rv == 0) {
        rv = start_arcs(r, old, &c);
    }
    if (rv == 0) {
        rv = dirty_spans(old, &c, &r->mem, &spans, &span_count);
    }
    if (rv == 0) {
        rv = rebuild_spans(r, old, &c, spans, span_count, &out);
    }
    if (rv == 0) {
        uint32_t boundaries = old->boundary_count - out.replaced + out.bound_count;
        rv = hashring__alloc_table(r, boundaries);
    }
    if (rv == 0) {
        rv = write_table(r, old, &c, spans, span_count, &out);
    }
    if (rv == 0) {
        r->memory_bytes += r->escape_count * HASHRING__GROUP_BUCKETS * sizeof(uint32_t);
        rv = write_shadow(r, old, &c, &out);
    }
    if (rv == 0) {
        rv = hashring__count_owning(r);
    }
    rebuilt_free(&r->mem, &out);
    ring__free(&r->mem, spans);
    changes_free(&r->mem, &c);
    return rv;
}

int hashring_new_from(struct hashring **out, const struct hashring *old,
                      const struct hashring_member *members, size_t n,
                      const struct hashring_config *cfg, const struct ring_mem *mem)
{
    if (out == NULL) {
        return RING_EINVAL;
    }
    struct hashring *r;
    uint64_t point_count;
    int rv = hashring__begin(&r, members, n, cfg, mem, old, &point_count);
    if (rv != 0) {
        return rv;
    }
    size_t member_bytes = r->memory_bytes;
    rv = old != NULL && old->vnodes == r->vnodes ? update(r, old, point_count) : DECLINED;
    if (rv == DECLINED) {
        hashring__reset(r, member_bytes);
        rv = hashring__layout(r, point_count);
        if (rv == 0) {
            hashring__finish(r);
        }
    } else if (rv == 0) {
        r->checksum = hashring_checksum_from_sum(r->vnodes, r->digest_sum);
        r->incremental = 1;
    }
    if (rv != 0) {
        hashring_del(r);
        return rv;
    }
    *out = r;
    return 0;
}
