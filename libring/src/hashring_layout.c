/*
 * hashring_layout: builds a ring's table from its members, in linear time.
 *
 * 1. Hash every point: (position << 16) | member, members in index order.
 * 2. Radix-sort by position: four stable LSD passes of 8 bits. Being stable, it leaves
 *    points at a tied position in member order, so ties need no extra pass. Each pass
 *    streams through memory into 256 output runs, which caches handle well.
 * 3. Of points sharing a position the first (smallest member) wins; the others go to the
 *    shadow list, which an update needs when the winner leaves.
 * 4. The winners, in order, make the boundaries: the midpoint of each point and the next,
 *    owned by the first, and the midpoint across the top of the ring, which comes first
 *    when it wraps past zero and last otherwise. A writer takes them in sorted order and
 *    fills entries, parity bits and groups in one pass (hashring_update.c writes through
 *    the same writer, so both build the same bytes).
 */
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ring/error.h"
#include "hashring_int.h"
#include "hashring_writer.h"
#include "mem_int.h"

#define RADIX_BITS   8
#define RADIX_SIZE   (1u << RADIX_BITS)
#define RADIX_PASSES 4
/* Buckets hold at most this many boundaries on average, as a ratio (4/1): with eight
 * compared without a loop (HASHRING__SCAN_MAX), a Poisson count of mean 4 is above eight
 * for 2.1% of keys, and of mean 2 (the sparsest table) for 0.02%. Fewer, larger buckets
 * cost fewer group bytes (16 per 16 buckets: a quarter of a byte a point at mean 4) but
 * send more keys down a mispredicted branch to the slow path; at mean 2.5 the table is
 * 0.25 bytes a point larger and no faster to look up in (bench_ring). */
#define BOUNDARIES_PER_BUCKET_NUM 4
#define BOUNDARIES_PER_BUCKET_DEN 1

uint32_t hashring__test_crowding;
uint32_t hashring__test_no_avx2;

void hashring__geometry(uint32_t members, uint64_t points, uint32_t *frag_bits,
                        uint32_t *owner_bits)
{
    uint32_t ob = 0;
    while ((UINT32_C(1) << ob) < members) {
        ob++;
    }
    uint32_t s = HASHRING__ENTRY_BITS - ob;
    while (s > 0 && points * BOUNDARIES_PER_BUCKET_DEN * (UINT64_C(1) << s) >>
                        hashring__test_crowding > (uint64_t)BOUNDARIES_PER_BUCKET_NUM << 32) {
        s--;
    }
    *frag_bits = s;
    *owner_bits = ob;
}

void hashring__set_geometry(struct hashring *r, uint32_t frag_bits, uint32_t owner_bits)
{
    RING_ASSERT(frag_bits + owner_bits <= HASHRING__ENTRY_BITS && frag_bits >= 1);
    r->frag_bits = frag_bits;
    r->owner_bits = owner_bits;
    r->frag_mask = (uint32_t)((UINT64_C(1) << frag_bits) - 1);
    r->owner_mask = (uint32_t)((UINT64_C(1) << owner_bits) - 1);
    r->frag_shift = HASHRING__ENTRY_BITS - frag_bits;
    r->key_shift = 32 - frag_bits;
    r->group_count = UINT32_C(1) << (32 - frag_bits - HASHRING__GROUP_SHIFT);
}

int hashring__alloc_table(struct hashring *r, uint32_t boundaries)
{
    size_t group_bytes = (size_t)r->group_count * sizeof(*r->groups);
    size_t parity_bytes = (((size_t)boundaries + 63) / 64 + 1) * sizeof(uint64_t);
    size_t entry_bytes = 1 + HASHRING__ENTRY_BYTES * ((size_t)boundaries + 1 + HASHRING__ENTRY_PAD);
    /* One block, so that a ring holds one large allocation: an allocator that keeps the
     * block a freed ring gave back (ringd's) serves the next ring's whole table from it,
     * where the group table alone, at 10,000 members 4 MB of fresh pages, cost an update
     * its zeroing. Groups first (8-byte aligned, 16 bytes each), then parity words. */
    r->table = ring__mallocarray(&r->mem, group_bytes + parity_bytes + entry_bytes, 1);
    if (r->arcs == NULL) {
        r->arcs = ring__calloc(&r->mem, r->member_count ? r->member_count : 1, sizeof(uint64_t));
    }
    if (r->table == NULL || r->arcs == NULL) {
        return RING_ENOMEM;
    }
    r->groups = (struct hashring_group *)(void *)r->table;
    r->parity = (uint64_t *)(void *)(r->table + group_bytes);
    r->entry_block = r->table + group_bytes + parity_bytes;
    memset(r->parity, 0, parity_bytes);
    memset(r->entry_block, 0, 1);
    memset(r->entry_block + entry_bytes - 1 - HASHRING__ENTRY_BYTES * HASHRING__ENTRY_PAD, 0,
           1 + HASHRING__ENTRY_BYTES * HASHRING__ENTRY_PAD);
    r->entries = r->entry_block + 1;
    r->boundary_count = boundaries;
    r->memory_bytes += group_bytes + entry_bytes + parity_bytes;
    return 0;
}

/* ---- the writer ------------------------------------------------------------------------ */

void hashring__writer_init(struct hashring_writer *w, struct hashring *r)
{
    memset(w, 0, sizeof(*w));
    w->r = r;
}

/* Grows the escape array by one group's counts. */
static int escape_push(struct hashring_writer *w, const uint32_t *counts, uint32_t *idx)
{
    struct hashring *r = w->r;
    if (r->escape_count == w->escape_cap) {
        uint32_t cap = w->escape_cap ? 2 * w->escape_cap : 4;
        size_t bytes = (size_t)cap * HASHRING__GROUP_BUCKETS * sizeof(uint32_t);
        uint32_t *grown = r->mem.realloc(r->escapes, bytes, r->mem.user_data);
        if (grown == NULL) {
            return RING_ENOMEM;
        }
        r->escapes = grown;
        w->escape_cap = cap;
    }
    *idx = r->escape_count++;
    memcpy(r->escapes + (size_t)*idx * HASHRING__GROUP_BUCKETS, counts,
           HASHRING__GROUP_BUCKETS * sizeof(uint32_t));
    return 0;
}

/* Writes group |w->group| from the counts gathered for it. A group that got boundaries
 * takes the point of its first as its anchor; an empty one waits for the next boundary,
 * wherever it falls (w->pending). */
static int flush_group(struct hashring_writer *w)
{
    struct hashring_group *g = &w->r->groups[w->group];
    uint64_t nibbles = 0;
    int escape = 0;
    for (uint32_t j = 0; j < HASHRING__GROUP_BUCKETS; j++) {
        escape |= w->counts[j] > HASHRING__NIBBLE_MAX;
        nibbles |= (uint64_t)(w->counts[j] & 0xf) << (4 * j);
    }
    g->start = w->group_start;
    g->anchor = 0;
    g->counts = nibbles;
    if (w->k > w->group_start) {
        g->anchor = w->anchor;
    }
    if (escape) {
        uint32_t idx;
        int rv = escape_push(w, w->counts, &idx);
        if (rv != 0) {
            return rv;
        }
        g->counts = idx;
        g->start |= HASHRING__ESCAPED;
    }
    memset(w->counts, 0, sizeof(w->counts));
    w->group++;
    w->group_start = w->k;
    return 0;
}

int hashring__writer_skip_to(struct hashring_writer *w, uint32_t group)
{
    while (w->group < group) {
        int rv = flush_group(w);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

int hashring__writer_put(struct hashring_writer *w, uint32_t position, uint32_t owner,
                         uint32_t parity, uint32_t point)
{
    struct hashring *r = w->r;
    uint32_t b = position >> r->frag_bits;
    int rv = hashring__writer_skip_to(w, b >> HASHRING__GROUP_SHIFT);
    if (rv != 0) {
        return rv;
    }
    /* The groups flushed empty since the last boundary, and the current one if this is its
     * first boundary, start at this boundary: its point is their anchor. */
    for (uint32_t g = w->pending; g < w->group; g++) {
        r->groups[g].anchor = point;
    }
    if (w->k == w->group_start) {
        w->anchor = point;
    }
    w->pending = w->group + 1;
    RING_ASSERT(w->k == 0 || position > w->last_position);
    if (w->k > 0) {
        r->arcs[owner] += (uint32_t)(position - w->last_position);
    } else {
        w->first_position = position;
        w->first_owner = owner;
    }
    w->last_position = position;
    w->counts[b & (HASHRING__GROUP_BUCKETS - 1)]++;
    RING_ASSERT(owner <= r->owner_mask);
    hashring__entry_put(r->entries, w->k, hashring__entry_make(r, position, owner));
    hashring__parity_set(r->parity, w->k, parity);
    w->k++;
    return 0;
}

int hashring__writer_finish(struct hashring_writer *w)
{
    struct hashring *r = w->r;
    RING_ASSERT(w->k == r->boundary_count);
    int rv = hashring__writer_skip_to(w, r->group_count);
    if (rv != 0) {
        return rv;
    }
    /* The sentinel: keys past the last boundary belong to the first one's owner, which
     * owns the arc around the top (all of it when it is the only boundary). */
    if (r->boundary_count > 0) {
        hashring__entry_put(r->entries, r->boundary_count, hashring__entry(r, 0));
        r->arcs[w->first_owner] += r->boundary_count == 1
                                       ? UINT64_C(1) << 32
                                       : (uint32_t)(w->first_position - w->last_position);
    }
    return 0;
}

/* The first boundary of bucket |b| of |r|, or the boundary count past the last bucket. */
static uint32_t bucket_start_of(const struct hashring *r, uint32_t b)
{
    if (b == r->group_count << HASHRING__GROUP_SHIFT) {
        return r->boundary_count;
    }
    uint32_t start, count;
    hashring__bucket_span(r, b, &start, &count);
    return start;
}

/* The 64 bits of |src| from bit |from| on. Parity arrays have a word past their last bit,
 * so the word after the one holding |from| can always be read. */
static uint64_t bits_at(const uint64_t *src, uint32_t from)
{
    uint32_t s = from & 63;
    uint64_t v = src[from >> 6] >> s;
    return s != 0 ? v | src[(from >> 6) + 1] << (64 - s) : v;
}

/* Copies |n| bits from bit |from| of |src| (which holds bits up to at least from + n) to bit
 * |to| of |dst|, whose bits there are zero: the bits up to a word of |dst|, then whole
 * words, each the funnel of two source words (an update copies about all of them). */
static void copy_bits(uint64_t *dst, uint32_t to, const uint64_t *src, uint32_t from, uint32_t n)
{
    uint32_t head = (64 - (to & 63)) & 63;
    head = head < n ? head : n;
    if (head > 0) {
        dst[to >> 6] |= (bits_at(src, from) & ((UINT64_C(1) << head) - 1)) << (to & 63);
        to += head;
        from += head;
        n -= head;
    }
    uint64_t *d = dst + (to >> 6);
    const uint64_t *w = src + (from >> 6);
    uint32_t words = n >> 6, s = from & 63;
    if (s == 0) {
        memcpy(d, w, (size_t)words * sizeof(uint64_t));
    } else {
        for (uint32_t i = 0; i < words; i++) {
            d[i] = w[i] >> s | w[i + 1] << (64 - s);
        }
    }
    if ((n & 63) != 0) {
        d[words] |= bits_at(src, from + 64 * words) & ((UINT64_C(1) << (n & 63)) - 1);
    }
}

static void store32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}

static void store64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, sizeof(v));
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Renumbering two entries at once (SWAR): the low six bytes of a word hold two entries,
 * owners in their low ob bits, 24 bits apart. Adding 2^ob - at to an owner sets its bit ob
 * exactly when owner >= at, and nothing carries from one field into the other; those bits,
 * moved down to the fields' lowest bits and multiplied by the step, renumber both owners.
 * A negative step wraps around 2^64 and subtracts from both fields, which never borrow
 * (an owner >= at >= 1 stays >= 0). */
struct pair_steps {
    uint32_t n;
    uint32_t ob;
    uint64_t owners;
    uint64_t add[HASHRING__RENUMBER_STEPS];
    uint64_t by[HASHRING__RENUMBER_STEPS];
};

#define PAIR_LOW_BITS (UINT64_C(1) | UINT64_C(1) << 24)

static void pair_steps_init(struct pair_steps *p, const struct hashring_renumber *rn, uint32_t ob,
                            uint32_t mask)
{
    p->n = rn->steps;
    p->ob = ob;
    p->owners = mask * PAIR_LOW_BITS;
    for (uint32_t j = 0; j < rn->steps; j++) {
        p->add[j] = ((UINT64_C(1) << ob) - rn->at[j]) * PAIR_LOW_BITS;
        p->by[j] = (uint64_t)(int64_t)rn->by[j];
    }
}

static inline uint64_t renumber_pair(uint64_t v, const struct pair_steps *p, uint32_t steps)
{
    uint64_t o = v & p->owners;
    for (uint32_t j = 0; j < steps; j++) {
        v += (((o + p->add[j]) >> p->ob) & PAIR_LOW_BITS) * p->by[j];
    }
    return v;
}

/* Two entries (six bytes) a time; each eight-byte store carries two bytes of the next pair,
 * which its own store then replaces (stores only go up, and whatever is written after this
 * run replaces the last two). One step, the common case (one join or leave), in registers,
 * in a function of its own so that it gets them. */
__attribute__((noinline)) static void renumber_run(uint8_t *dst, const uint8_t *src, uint32_t n,
                                                   const struct pair_steps *p)
{
    uint32_t i = 0;
    if (p->n == 1) {
        const uint64_t owners = p->owners, add = p->add[0], by = p->by[0];
        const uint32_t ob = p->ob;
        for (; i + 2 <= n; i += 2) {
            const uint32_t at = HASHRING__ENTRY_BYTES * i;
            uint64_t v = load64(src + at);
            v += ((((v & owners) + add) >> ob) & PAIR_LOW_BITS) * by;
            store64(dst + at, v);
        }
    } else {
        const struct pair_steps q = *p;
        for (; i + 2 <= n; i += 2) {
            const uint32_t at = HASHRING__ENTRY_BYTES * i;
            store64(dst + at, renumber_pair(load64(src + at), &q, q.n));
        }
    }
    if (i < n) {
        /* The last entry alone: the step may change the byte after it, which is replaced. */
        uint32_t at = HASHRING__ENTRY_BYTES * i;
        store32(dst + at, (uint32_t)renumber_pair(hashring__load32(src + at), p, p->n));
    }
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* Renumbering sixteen entries (48 bytes) at a time with SSE2, in place: an owner is the low
 * ob bits of the 16-bit word at its entry's first byte. Entries 0, 2, ..., 14 of a block
 * start at even bytes 0, 6, ..., 42: every third 16-bit lane of the block's three vectors
 * (lanes 0, 3, 6 of the first, 1, 4, 7 of the second, 2, 5 of the third). One pass renumbers
 * those; a second pass, three bytes on, renumbers entries 1, 3, ..., 15 the same way. A
 * lane's owner is >= at unless at > owner (signed compares, so both are biased by 2^15),
 * and adding the step to the lane changes only the owner, which stays within its bits. */
struct lanes_step {
    __m128i at;
    __m128i by;
};

static inline __m128i renumber_lanes(__m128i v, __m128i lane_mask, __m128i owners,
                                     const struct lanes_step *st, uint32_t steps)
{
    const __m128i bias = _mm_set1_epi16((short)0x8000);
    __m128i o = _mm_xor_si128(_mm_and_si128(v, owners), bias);
    for (uint32_t j = 0; j < steps; j++) {
        __m128i below = _mm_cmpgt_epi16(st[j].at, o);
        v = _mm_add_epi16(v, _mm_and_si128(_mm_andnot_si128(below, lane_mask), st[j].by));
    }
    return v;
}

static inline void renumber_block_pass(uint8_t *dst, const uint8_t *src, __m128i owners,
                                       const struct lanes_step *st, uint32_t steps)
{
    const __m128i m0 = _mm_setr_epi16(-1, 0, 0, -1, 0, 0, -1, 0);
    const __m128i m1 = _mm_setr_epi16(0, -1, 0, 0, -1, 0, 0, -1);
    const __m128i m2 = _mm_setr_epi16(0, 0, -1, 0, 0, -1, 0, 0);
    __m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)src);
    __m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(src + 16));
    __m128i v2 = _mm_loadu_si128((const __m128i *)(const void *)(src + 32));
    _mm_storeu_si128((__m128i *)(void *)dst, renumber_lanes(v0, m0, owners, st, steps));
    _mm_storeu_si128((__m128i *)(void *)(dst + 16), renumber_lanes(v1, m1, owners, st, steps));
    _mm_storeu_si128((__m128i *)(void *)(dst + 32), renumber_lanes(v2, m2, owners, st, steps));
}

/* Blocks [0, blocks) of a chunk: the even entries from |src| into |dst| (whole vectors, so
 * the odd ones are copied as they are), then the odd ones in |dst|, where the chunk now is
 * in L1. The odd pass of the last block reads and rewrites the first three bytes of the
 * next block, which must already be in |dst|: the even pass does one block more. */
static void renumber_chunk(uint8_t *dst, const uint8_t *src, uint32_t blocks, uint32_t even_blocks,
                           __m128i owners, const struct lanes_step *st, uint32_t steps)
{
    enum { BLOCK_BYTES = 16 * HASHRING__ENTRY_BYTES, ODD = HASHRING__ENTRY_BYTES };
    if (steps == 1) {
        const struct lanes_step one = st[0];
        for (uint32_t k = 0; k < even_blocks; k++) {
            renumber_block_pass(dst + BLOCK_BYTES * k, src + BLOCK_BYTES * k, owners, &one, 1);
        }
        for (uint32_t k = 0; k < blocks; k++) {
            uint8_t *p = dst + BLOCK_BYTES * k + ODD;
            renumber_block_pass(p, p, owners, &one, 1);
        }
        return;
    }
    for (uint32_t k = 0; k < even_blocks; k++) {
        renumber_block_pass(dst + BLOCK_BYTES * k, src + BLOCK_BYTES * k, owners, st, steps);
    }
    for (uint32_t k = 0; k < blocks; k++) {
        uint8_t *p = dst + BLOCK_BYTES * k + ODD;
        renumber_block_pass(p, p, owners, st, steps);
    }
}

/* Copies and renumbers whole blocks of sixteen entries, a chunk at a time; returns how many
 * entries it did. The rest, after them, must be written first: the odd pass of the last
 * block reads the first three bytes after it. */
__attribute__((noinline)) static uint32_t renumber_blocks(uint8_t *dst, const uint8_t *src,
                                                          uint32_t n,
                                                          const struct hashring_renumber *rn,
                                                          uint32_t mask)
{
    enum { BLOCK = 16, CHUNK_BLOCKS = 64 };
    struct lanes_step st[HASHRING__RENUMBER_STEPS];
    for (uint32_t j = 0; j < rn->steps; j++) {
        st[j].at = _mm_set1_epi16((short)(rn->at[j] ^ 0x8000));
        st[j].by = _mm_set1_epi16((short)rn->by[j]);
    }
    const __m128i owners = _mm_set1_epi16((short)mask);
    uint32_t blocks = n / BLOCK;
    for (uint32_t b = 0; b < blocks; b += CHUNK_BLOCKS) {
        uint32_t count = b + CHUNK_BLOCKS < blocks ? CHUNK_BLOCKS : blocks - b;
        uint32_t even = b + count < blocks ? count + 1 : count;
        uint32_t at = HASHRING__ENTRY_BYTES * BLOCK * b;
        renumber_chunk(dst + at, src + at, count, even, owners, st, rn->steps);
    }
    return blocks * BLOCK;
}
#endif

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_RENUMBER_AVX2 1

/* Renumbering eight entries at a time with AVX2, in one pass: twelve bytes (four entries)
 * into each 128-bit half, each entry spread into a 32-bit lane of its own, where adding the
 * step to an owner >= at is one compare, one and and one add (the owner never borrows from
 * or carries into the fragment above it), then packed back into twelve bytes. Each 16-byte
 * store writes four zero bytes past its twelve, which the next store replaces; the loop
 * stops before the last entry, so the run's last stores (renumber_run, after this) replace
 * those of the last iteration, and the loads stay within the run. Two passes of SSE2 over
 * 16-bit lanes (renumber_blocks) cost twice the instructions, and at 10,000 members the
 * renumbering copy was the update's main cost at about twice a memcpy of the table. Returns
 * how many entries it did. */
__attribute__((target("avx2"), noinline)) static uint32_t
renumber_avx2(uint8_t *dst, const uint8_t *src, uint32_t n, const struct hashring_renumber *rn,
              uint32_t mask)
{
    /* The same byte shuffle in both halves. */
    const __m256i spread = _mm256_broadcastsi128_si256(
        _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1));
    const __m256i pack = _mm256_broadcastsi128_si256(
        _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1));
    const __m256i owners = _mm256_set1_epi32((int)mask);
    __m256i below[HASHRING__RENUMBER_STEPS], by[HASHRING__RENUMBER_STEPS];
    for (uint32_t j = 0; j < rn->steps; j++) {
        below[j] = _mm256_set1_epi32((int)rn->at[j] - 1);
        by[j] = _mm256_set1_epi32(rn->by[j]);
    }
    uint32_t i = 0;
    for (; i + 8 < n; i += 8) {
        const uint8_t *s = src + HASHRING__ENTRY_BYTES * i;
        uint8_t *d = dst + HASHRING__ENTRY_BYTES * i;
        __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)s);
        __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(s + 12));
        __m256i x = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
        x = _mm256_shuffle_epi8(x, spread);
        __m256i o = _mm256_and_si256(x, owners);
        for (uint32_t j = 0; j < rn->steps; j++) {
            x = _mm256_add_epi32(x, _mm256_and_si256(_mm256_cmpgt_epi32(o, below[j]), by[j]));
        }
        x = _mm256_shuffle_epi8(x, pack);
        _mm_storeu_si128((__m128i *)(void *)d, _mm256_castsi256_si128(x));
        _mm_storeu_si128((__m128i *)(void *)(d + 12), _mm256_extracti128_si256(x, 1));
    }
    return i;
}

static int use_avx2(void)
{
    return hashring__test_no_avx2 == 0 && __builtin_cpu_supports("avx2");
}
#endif

/* Copies entries [from, from + n) of |old| to [to, to + n) of |r|, renumbering owners. */
static void copy_entries(struct hashring *r, uint32_t to, const struct hashring *old, uint32_t from,
                         uint32_t n, const struct hashring_renumber *rn)
{
    const uint8_t *src = old->entries + HASHRING__ENTRY_BYTES * from;
    uint8_t *dst = r->entries + HASHRING__ENTRY_BYTES * to;
    if (rn == NULL || rn->steps == 0) {
        memcpy(dst, src, (size_t)HASHRING__ENTRY_BYTES * n);
        return;
    }
    uint32_t mask = old->owner_mask;
    if (rn->steps <= HASHRING__RENUMBER_STEPS) {
        struct pair_steps p;
        pair_steps_init(&p, rn, old->owner_bits, mask);
#if defined(HAVE_RENUMBER_AVX2)
        if (use_avx2()) {
            uint32_t done = renumber_avx2(dst, src, n, rn, mask);
            renumber_run(dst + HASHRING__ENTRY_BYTES * done, src + HASHRING__ENTRY_BYTES * done,
                         n - done, &p);
            return;
        }
#endif
#if defined(__SSE2__)
        uint32_t done = n / 16 * 16;
        renumber_run(dst + HASHRING__ENTRY_BYTES * done, src + HASHRING__ENTRY_BYTES * done,
                     n - done, &p);
        renumber_blocks(dst, src, n, rn, mask);
#else
        renumber_run(dst, src, n, &p);
#endif
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v = hashring__load32(src + HASHRING__ENTRY_BYTES * i);
        store32(dst + HASHRING__ENTRY_BYTES * i, (v & ~mask) | rn->table[v & mask]);
    }
}

/* Copies whole groups [ga, gb) of |old|, whose boundaries start at old index |ka|: their
 * records, shifted to where their boundaries now start (the escape bit rides along: starts
 * stay below 2^26), and their anchors; then the escaped ones' counts, rarely any. */
static int copy_groups(struct hashring_writer *w, const struct hashring *old, uint32_t ga,
                       uint32_t gb, uint32_t ka)
{
    struct hashring_group *dst = w->r->groups;
    const struct hashring_group *src = old->groups;
    uint32_t delta = w->k - ka, escaped = 0;
    for (uint32_t g = ga; g < gb; g++) {
        dst[g] = src[g];
        dst[g].start = src[g].start + delta;
        escaped |= src[g].start;
    }
    for (uint32_t g = ga; (escaped & HASHRING__ESCAPED) != 0 && g < gb; g++) {
        if ((src[g].start & HASHRING__ESCAPED) != 0) {
            uint32_t idx;
            int rv = escape_push(w, old->escapes + src[g].counts * HASHRING__GROUP_BUCKETS, &idx);
            if (rv != 0) {
                return rv;
            }
            dst[g].counts = idx;
        }
    }
    return 0;
}

/* Adds old buckets [ba, bb), all in the writer's current group, to its counts. */
static void add_counts(struct hashring_writer *w, const struct hashring *old, uint32_t ba,
                       uint32_t bb)
{
    const struct hashring_group *g = &old->groups[ba >> HASHRING__GROUP_SHIFT];
    for (uint32_t b = ba; b < bb; b++) {
        uint32_t j = b & (HASHRING__GROUP_BUCKETS - 1);
        w->counts[j] += (g->start & HASHRING__ESCAPED) != 0
                            ? old->escapes[g->counts * HASHRING__GROUP_BUCKETS + j]
                            : (uint32_t)(g->counts >> (4 * j)) & 0xf;
    }
}

/* The next boundary written has its point at |point|: it anchors the groups waiting for
 * one, and the current group if this is its first. */
static void resolve(struct hashring_writer *w, uint32_t point)
{
    for (uint32_t g = w->pending; g < w->group; g++) {
        w->r->groups[g].anchor = point;
    }
    if (w->k == w->group_start) {
        w->anchor = point;
    }
    w->pending = w->group + 1;
}

static uint32_t old_group_start(const struct hashring *old, uint32_t g)
{
    return g < old->group_count ? old->groups[g].start & ~HASHRING__ESCAPED : old->boundary_count;
}

/* Copies whole groups from bucket |b| (the first of a group, none of it written) up to the
 * group of bucket |bb|; the copy ends at old boundary |kb|. Returns the bucket reached. */
static int copy_whole(struct hashring_writer *w, const struct hashring *old, uint32_t b,
                      uint32_t bb, uint32_t kb, uint32_t *reached)
{
    uint32_t ga = b >> HASHRING__GROUP_SHIFT, gb = bb >> HASHRING__GROUP_SHIFT;
    uint32_t kg = old_group_start(old, ga);
    int rv = copy_groups(w, old, ga, gb, kg);
    if (rv != 0) {
        return rv;
    }
    /* Groups whose next boundary lies past the copy wait for the next one written. */
    uint32_t p = gb;
    while (p > ga && old_group_start(old, p - 1) >= kb) {
        p--;
    }
    for (uint32_t g = p; g < gb; g++) {
        w->r->groups[g].anchor = 0;
    }
    w->pending = p;
    w->k += old_group_start(old, gb) - kg;
    w->group = gb;
    w->group_start = w->k;
    *reached = gb << HASHRING__GROUP_SHIFT;
    return 0;
}

static uint32_t renumber_owner(const struct hashring_renumber *rn, uint32_t o)
{
    if (rn == NULL || rn->steps == 0) {
        return o;
    }
    if (rn->steps > HASHRING__RENUMBER_STEPS) {
        return rn->table[o];
    }
    uint32_t to = o;
    for (uint32_t j = 0; j < rn->steps; j++) {
        to += o >= rn->at[j] ? (uint32_t)rn->by[j] : 0;
    }
    return to;
}

/* The position of the boundary before old boundary |k|, which is in bucket |b|. */
static uint32_t position_before(const struct hashring *old, uint32_t k, uint32_t b)
{
    if (k == 0) {
        struct hashring_cursor last = hashring__cursor_at(old, old->boundary_count - 1);
        return hashring__cursor_position(old, &last);
    }
    uint32_t start, count;
    do {
        hashring__bucket_span(old, --b, &start, &count);
    } while (count == 0);
    return (b << old->frag_bits) | hashring__entry_frag(old, hashring__entry(old, k - 1));
}

/* The arcs of copied boundaries stay but for the first's: its boundary before is now the
 * last one written. */
static void copy_first_arc(struct hashring_writer *w, const struct hashring *old, uint32_t ka,
                           uint32_t b, const struct hashring_renumber *remap)
{
    struct hashring *r = w->r;
    uint32_t position = (b << old->frag_bits) | hashring__entry_frag(old, hashring__entry(old, ka));
    uint32_t owner = renumber_owner(remap, hashring__entry_owner(old, ka));
    r->arcs[owner] -= (uint32_t)(position - position_before(old, ka, b));
    if (w->k > 0) {
        r->arcs[owner] += (uint32_t)(position - w->last_position);
    } else {
        w->first_position = position;
        w->first_owner = owner;
    }
}

int hashring__writer_copy(struct hashring_writer *w, const struct hashring *old, uint32_t ba,
                          uint32_t bb, const struct hashring_renumber *remap)
{
    struct hashring *r = w->r;
    RING_ASSERT(old->frag_bits == r->frag_bits && ba <= bb &&
                bb <= old->group_count << HASHRING__GROUP_SHIFT);
    uint32_t ka = bucket_start_of(old, ba), kb = bucket_start_of(old, bb);
    if (ka == kb) {
        return 0;
    }
    /* The first and the last bucket copied that hold boundaries. */
    uint32_t b = ba, last = bb - 1, start, count;
    for (hashring__bucket_span(old, b, &start, &count); count == 0;) {
        hashring__bucket_span(old, ++b, &start, &count);
    }
    for (hashring__bucket_span(old, last, &start, &count); count == 0;) {
        hashring__bucket_span(old, --last, &start, &count);
    }
    uint32_t g0 = b >> HASHRING__GROUP_SHIFT;
    int rv = hashring__writer_skip_to(w, g0);
    if (rv != 0) {
        return rv;
    }
    resolve(w, old_group_start(old, g0) == ka ? old->groups[g0].anchor
                                              : hashring__point_in(old, g0, ka));
    copy_first_arc(w, old, ka, b, remap);
    copy_entries(r, w->k, old, ka, kb - ka, remap);
    copy_bits(r->parity, w->k, old->parity, ka, kb - ka);
    w->last_position =
        (last << old->frag_bits) | hashring__entry_frag(old, hashring__entry(old, kb - 1));
    while (rv == 0 && b < bb) {
        uint32_t g = b >> HASHRING__GROUP_SHIFT, group_end = (g + 1) << HASHRING__GROUP_SHIFT;
        if ((b & (HASHRING__GROUP_BUCKETS - 1)) == 0 && group_end <= bb && w->k == w->group_start) {
            rv = copy_whole(w, old, b, bb, kb, &b);
            continue;
        }
        uint32_t stop = bb < group_end ? bb : group_end;
        uint32_t n = bucket_start_of(old, stop) - bucket_start_of(old, b);
        if (n > 0 && w->k == w->group_start && (b & (HASHRING__GROUP_BUCKETS - 1)) == 0) {
            resolve(w, old->groups[g].anchor);
        }
        add_counts(w, old, b, stop);
        w->k += n;
        b = stop;
        if (b < bb) {
            rv = hashring__writer_skip_to(w, b >> HASHRING__GROUP_SHIFT);
        }
    }
    return rv;
}

/* ---- the full build -------------------------------------------------------------------- */

static uint32_t radix_digit(uint64_t point, int pass)
{
    return (uint32_t)(point >> (16 + pass * RADIX_BITS)) & (RADIX_SIZE - 1);
}

/* Hashes every point, members in index order, into |points| as (position << 16) | member,
 * counting the radix sort's digits on the way. The id is hashed once per member; point i is
 * then output i of SplitMix64 seeded with that hash (hashring__point_hash), walked here by
 * adding the increment: two multiplies a point. */
static void hash_points(const struct hashring *r, uint64_t *points,
                        uint32_t counts[RADIX_PASSES][RADIX_SIZE])
{
    size_t k = 0;
    for (uint32_t m = 0; m < r->member_count; m++) {
        const struct hashring_member *mm = &r->members[m];
        uint32_t count = r->vnodes * mm->weight;
        uint64_t state = XXH3_64bits(mm->id, mm->id_len);
        for (uint32_t i = 0; i < count; i++) {
            state += HASHRING__POINT_GAMMA;
            uint64_t point = ((hashring__mix64(state) >> 32) << 16) | m;
            for (int p = 0; p < RADIX_PASSES; p++) {
                counts[p][radix_digit(point, p)]++;
            }
            points[k++] = point;
        }
    }
    RING_ASSERT(k == r->point_count);
}

/* Sorts |a| by position (stable), given its digit |counts|, using |tmp| (as large) as
 * scratch; with an even number of passes the result ends back in |a|. */
static void radix_sort(uint64_t *a, uint64_t *tmp, uint32_t n,
                       uint32_t counts[RADIX_PASSES][RADIX_SIZE])
{
    _Static_assert(RADIX_PASSES * RADIX_BITS >= 32, "passes must cover the position");
    _Static_assert(RADIX_PASSES % 2 == 0, "the result must end in a");
    uint64_t *src = a, *dst = tmp;
    for (int p = 0; p < RADIX_PASSES; p++) {
        uint32_t start = 0;
        for (uint32_t d = 0; d < RADIX_SIZE; d++) {
            uint32_t c = counts[p][d];
            counts[p][d] = start;
            start += c;
        }
        for (uint32_t k = 0; k < n; k++) {
            dst[counts[p][radix_digit(src[k], p)]++] = src[k];
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
}

void hashring__sort_points(uint64_t *a, uint64_t *tmp, uint32_t n)
{
    uint32_t counts[RADIX_PASSES][RADIX_SIZE];
    memset(counts, 0, sizeof(counts));
    for (uint32_t k = 0; k < n; k++) {
        for (int p = 0; p < RADIX_PASSES; p++) {
            counts[p][radix_digit(a[k], p)]++;
        }
    }
    radix_sort(a, tmp, n, counts);
}

/* Splits sorted |points| in place into the winners (the first point at each position,
 * kept in |points|, returned count) and the rest, copied to |losers| in order. */
static uint32_t split_ties(uint64_t *points, uint32_t n, uint64_t *losers, uint32_t *loser_count)
{
    uint32_t kept = 0, lost = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (kept > 0 && (points[kept - 1] >> 16) == (points[i] >> 16)) {
            losers[lost++] = points[i];
        } else {
            points[kept++] = points[i];
        }
    }
    *loser_count = lost;
    return kept;
}

int hashring__write_points(struct hashring_writer *w, const uint64_t *points, uint32_t n)
{
    uint64_t first = points[0] >> 16, last = points[n - 1] >> 16;
    uint64_t wrap_sum = last + first + (UINT64_C(1) << 32);
    uint32_t wrap_owner = (uint32_t)(points[n - 1] & 0xffff);
    int wrap_first = wrap_sum >> 33 != 0;
    int rv = 0;
    if (wrap_first) {
        rv = hashring__writer_put(w, (uint32_t)(wrap_sum >> 1), wrap_owner, (uint32_t)wrap_sum & 1,
                                  (uint32_t)last);
    }
    for (uint32_t i = 0; rv == 0 && i + 1 < n; i++) {
        uint64_t p = points[i] >> 16, q = points[i + 1] >> 16, sum = p + q;
        rv = hashring__writer_put(w, (uint32_t)(sum >> 1), (uint32_t)(points[i] & 0xffff),
                                  (uint32_t)sum & 1, (uint32_t)p);
    }
    if (rv == 0 && !wrap_first) {
        rv = hashring__writer_put(w, (uint32_t)(wrap_sum >> 1), wrap_owner, (uint32_t)wrap_sum & 1,
                                  (uint32_t)last);
    }
    return rv;
}

int hashring__count_owning(struct hashring *r)
{
    uint32_t *lost = ring__calloc(&r->mem, r->member_count ? r->member_count : 1, sizeof(*lost));
    if (lost == NULL) {
        return RING_ENOMEM;
    }
    for (uint32_t i = 0; i < r->shadow_count; i++) {
        lost[r->shadow[i] & 0xffff]++;
    }
    r->owning_count = 0;
    for (uint32_t m = 0; m < r->member_count; m++) {
        r->owning_count += lost[m] < r->vnodes * r->members[m].weight;
    }
    ring__free(&r->mem, lost);
    return 0;
}

/* An empty ring: every group escaped, so every lookup takes the exact path, which fails
 * with RING_EEMPTY. */
static int layout_empty(struct hashring *r)
{
    int rv = hashring__alloc_table(r, 0);
    if (rv != 0) {
        return rv;
    }
    for (uint32_t g = 0; g < r->group_count; g++) {
        r->groups[g] = (struct hashring_group){ 0, HASHRING__ESCAPED, 0 };
    }
    return 0;
}

static int layout_points(struct hashring *r, uint64_t *points, uint64_t *tmp)
{
    uint32_t counts[RADIX_PASSES][RADIX_SIZE];
    memset(counts, 0, sizeof(counts));
    hash_points(r, points, counts);
    radix_sort(points, tmp, r->point_count, counts);
    uint32_t lost;
    uint32_t n = split_ties(points, r->point_count, tmp, &lost);
    if (lost > 0) {
        r->shadow = ring__mallocarray(&r->mem, lost, sizeof(uint64_t));
        if (r->shadow == NULL) {
            return RING_ENOMEM;
        }
        memcpy(r->shadow, tmp, lost * sizeof(uint64_t));
        r->shadow_count = lost;
        r->memory_bytes += lost * sizeof(uint64_t);
    }
    int rv = hashring__alloc_table(r, n);
    if (rv != 0) {
        return rv;
    }
    struct hashring_writer w;
    hashring__writer_init(&w, r);
    rv = hashring__write_points(&w, points, n);
    if (rv == 0) {
        rv = hashring__writer_finish(&w);
    }
    if (rv == 0) {
        r->memory_bytes += r->escape_count * HASHRING__GROUP_BUCKETS * sizeof(uint32_t);
        rv = hashring__count_owning(r);
    }
    return rv;
}

int hashring__layout(struct hashring *r, uint64_t point_count)
{
    r->point_count = (uint32_t)point_count;
    uint32_t frag_bits, owner_bits;
    hashring__geometry(r->member_count, point_count, &frag_bits, &owner_bits);
    hashring__set_geometry(r, frag_bits, owner_bits);
    if (point_count == 0) {
        return layout_empty(r);
    }
    uint64_t *points = ring__mallocarray(&r->mem, point_count, sizeof(uint64_t));
    uint64_t *tmp = ring__mallocarray(&r->mem, point_count, sizeof(uint64_t));
    int rv = RING_ENOMEM;
    if (points != NULL && tmp != NULL) {
        rv = layout_points(r, points, tmp);
    }
    ring__free(&r->mem, points);
    ring__free(&r->mem, tmp);
    return rv;
}
