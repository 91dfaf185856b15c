/*
 * members: the member table, stored for a simulator that holds 10,000 tables of 10,000
 * members in one process.
 *
 * Storage. struct member is ~1 KB because it reserves room for the longest id, group and
 * every label; the table stores something else. Each record is 64 bytes in one dense array:
 * the fixed fields inline, and the variable part (id || group || labels, see blob_put())
 * in a "blob" that lives inside the record when it fits in BLOB_INLINE_BYTES (every id up
 * to 24 bytes with no group or labels: pod names, host:port) and in one heap block
 * otherwise. An id→index map is an open-addressing table of uint32 slots with linear
 * probing, kept at most half full, so a table of N short-id members costs about
 * 64 + 8..16 bytes per member and no allocation per member.
 *
 * Removal swaps the last record into the hole (indexes are not stable across changes, the
 * header says so) and deletes from the index by backward shifting, so the index never
 * collects tombstones and lookups stay short under churn.
 *
 * Checksums. The membership checksum is a sum of per-member digests and the ring checksum
 * a function of a sum of per-member ring digests, so each change subtracts the old record's
 * terms and adds the new one's: O(1), and independent of insertion order by construction.
 *
 * Every change either completes or leaves the table as it was: a new blob and any growth
 * are allocated before the old record is touched.
 */
#include <string.h>

#include <xxhash.h>

#include "ring/error.h"
#include "ring/hashring.h"
#include "ring/members.h"
#include "mem_int.h"
#include "members_int.h"

/* 24 bytes: ids up to 24 bytes (most pod names and host:port ids) need no heap block, and
 * the record stays at 64 bytes, one cache line. */
#define BLOB_INLINE_BYTES 24
/* id + group + labels, each label as key_len, value_len, key, value. */
#define BLOB_BYTES_MAX                                                                             \
    (MEMBER_ID_BYTES_MAX + MEMBER_GROUP_BYTES_MAX +                                                \
     MEMBER_LABELS_MAX * (2 + MEMBER_LABEL_KEY_BYTES_MAX + MEMBER_LABEL_VALUE_BYTES_MAX))
/* The first allocation when the caller asks for capacity 0. */
#define CAPACITY_MIN 8
/* The index has at least this many slots and at least twice as many as records. */
#define SLOTS_MIN 16

struct record {
    uint64_t incarnation;
    union {
        char bytes[BLOB_INLINE_BYTES];
        char *heap;
    } blob;
    struct ring_addr addr;
    uint16_t weight;
    uint8_t status;
    uint8_t flags;
    uint8_t id_len;
    uint8_t group_len;
    uint8_t label_count;
    uint16_t blob_len;
};

_Static_assert(sizeof(struct record) == 64, "a record is one cache line");
_Static_assert(BLOB_BYTES_MAX <= UINT16_MAX, "blob_len is 16 bits");

struct members {
    struct ring_mem mem;
    struct record *records;
    uint32_t count;
    uint32_t capacity;
    /* Record index + 1, or 0 for an empty slot; slot_mask + 1 slots (a power of two). */
    uint32_t *slots;
    uint32_t slot_mask;
    uint32_t status_count[MEMBER_LEFT + 1];
    /* Alive and suspect records that are draining (in status_count, not in the ring). */
    uint32_t draining_live;
    uint64_t checksum;
    /* Sum of hashring_member_digest() over the records in the ring (member_in_ring()). */
    uint64_t ring_sum;
    /* Sum of route digests (id, address) over the records in the ring. */
    uint64_t routes_sum;
    /* Sum of the weights of the records in the ring. */
    uint64_t ring_weight;
    size_t heap_bytes;
};

size_t members__record_bytes(void)
{
    return sizeof(struct record);
}

static const char *blob_of(const struct record *r)
{
    return r->blob_len <= BLOB_INLINE_BYTES ? r->blob.bytes : r->blob.heap;
}

static void blob_free(struct members *t, struct record *r)
{
    if (r->blob_len > BLOB_INLINE_BYTES) {
        ring__free(&t->mem, r->blob.heap);
        t->heap_bytes -= r->blob_len;
    }
}

/* Serializes |m|'s id, group and labels into |buf|; returns the length. */
static size_t blob_put(const struct member *m, char *buf)
{
    char *p = buf;
    memcpy(p, m->id, m->id_len);
    p += m->id_len;
    memcpy(p, m->group, m->group_len);
    p += m->group_len;
    for (int i = 0; i < m->label_count; i++) {
        const struct member_label *l = &m->labels[i];
        p[0] = (char)l->key_len;
        p[1] = (char)l->value_len;
        memcpy(p + 2, l->key, l->key_len);
        memcpy(p + 2 + l->key_len, l->value, l->value_len);
        p += 2 + l->key_len + l->value_len;
    }
    return (size_t)(p - buf);
}

/* Builds the record for |m| in |*r|, allocating its blob if it does not fit inline. */
static int record_make(struct members *t, const struct member *m, struct record *r)
{
    char buf[BLOB_BYTES_MAX];
    size_t len = blob_put(m, buf);
    memset(r, 0, sizeof(*r));
    if (len > BLOB_INLINE_BYTES) {
        r->blob.heap = ring__mallocarray(&t->mem, len, 1);
        if (r->blob.heap == NULL) {
            return RING_ENOMEM;
        }
        memcpy(r->blob.heap, buf, len);
        t->heap_bytes += len;
    } else {
        memcpy(r->blob.bytes, buf, len);
    }
    r->blob_len = (uint16_t)len;
    r->incarnation = m->incarnation;
    r->addr = m->addr;
    r->weight = m->weight;
    r->status = m->status;
    r->flags = m->flags;
    r->id_len = m->id_len;
    r->group_len = m->group_len;
    r->label_count = m->label_count;
    return 0;
}

/* Adds (sign 1) or removes (sign -1) |r|'s terms in the table's sums and counts. */
static void account(struct members *t, const struct record *r, int sign)
{
    const char *id = blob_of(r);
    int in_ring = member_in_ring(r->status, r->flags);
    uint32_t draining = !in_ring && (r->status == MEMBER_ALIVE || r->status == MEMBER_SUSPECT);
    uint64_t digest = members__digest(id, r->id_len, &r->addr, r->status, r->flags, r->incarnation);
    uint64_t ring = in_ring ? hashring_member_digest(id, r->id_len, r->weight) : 0;
    uint64_t route = in_ring ? members__route_digest(id, r->id_len, &r->addr) : 0;
    uint64_t weight = in_ring ? r->weight : 0;
    t->draining_live += sign > 0 ? draining : -draining;
    if (sign > 0) {
        t->ring_weight += weight;
        t->checksum += digest;
        t->ring_sum += ring;
        t->routes_sum += route;
        t->status_count[r->status]++;
    } else {
        t->ring_weight -= weight;
        t->checksum -= digest;
        t->ring_sum -= ring;
        t->routes_sum -= route;
        t->status_count[r->status]--;
    }
}

static uint32_t id_hash(const char *id, size_t id_len)
{
    return (uint32_t)XXH3_64bits(id, id_len);
}

static int record_has_id(const struct record *r, const char *id, size_t id_len)
{
    return r->id_len == id_len && memcmp(blob_of(r), id, id_len) == 0;
}

/* The slot holding |id|, or the empty slot where it would go. */
static uint32_t slot_find(const struct members *t, const char *id, size_t id_len)
{
    uint32_t i = id_hash(id, id_len) & t->slot_mask;
    while (t->slots[i] != 0 && !record_has_id(&t->records[t->slots[i] - 1], id, id_len)) {
        i = (i + 1) & t->slot_mask;
    }
    return i;
}

static uint32_t slot_home(const struct members *t, uint32_t slot)
{
    const struct record *r = &t->records[t->slots[slot] - 1];
    return id_hash(blob_of(r), r->id_len) & t->slot_mask;
}

/* Empties |hole| and shifts later entries of its probe run back, so that every entry stays
 * reachable from its home slot without tombstones (Knuth 6.4, algorithm R). */
static void slot_delete(struct members *t, uint32_t hole)
{
    uint32_t j = hole;
    t->slots[hole] = 0;
    for (;;) {
        j = (j + 1) & t->slot_mask;
        if (t->slots[j] == 0) {
            return;
        }
        uint32_t home = slot_home(t, j);
        /* The entry at j may move to the hole unless its home lies cyclically in (hole, j]. */
        int stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            t->slots[hole] = t->slots[j];
            t->slots[j] = 0;
            hole = j;
        }
    }
}

static int slots_rebuild(struct members *t, uint32_t slot_count)
{
    uint32_t *slots = ring__calloc(&t->mem, slot_count, sizeof(*slots));
    if (slots == NULL) {
        return RING_ENOMEM;
    }
    ring__free(&t->mem, t->slots);
    t->slots = slots;
    t->slot_mask = slot_count - 1;
    for (uint32_t k = 0; k < t->count; k++) {
        const struct record *r = &t->records[k];
        t->slots[slot_find(t, blob_of(r), r->id_len)] = k + 1;
    }
    return 0;
}

static uint32_t slots_for(uint32_t records)
{
    uint32_t n = SLOTS_MIN;
    while (n < 2 * records) {
        n *= 2;
    }
    return n;
}

/* The next capacity of a full array of |cap|: a quarter more (at least CAPACITY_MIN), not
 * twice, since ringsim holds a table per node: doubling left 10,000-member tables 16,384
 * records long, 0.4 MB of slack each, 4 GB over a 10,000-node run. Still amortized O(1). */
static uint32_t capacity_next(uint32_t cap)
{
    uint32_t step = cap / 4 > CAPACITY_MIN ? cap / 4 : CAPACITY_MIN;
    return cap > MEMBERS_MAX - step ? MEMBERS_MAX : cap + step;
}

/* Makes room for one more record: grows the array and keeps the index at most half full. */
static int reserve_one(struct members *t)
{
    if (t->count == t->capacity) {
        uint32_t cap = capacity_next(t->capacity);
        struct record *r = t->mem.realloc(t->records, cap * sizeof(*r), t->mem.user_data);
        if (r == NULL) {
            return RING_ENOMEM;
        }
        t->records = r;
        t->capacity = cap;
    }
    if (2 * (t->count + 1) > t->slot_mask + 1) {
        return slots_rebuild(t, (t->slot_mask + 1) * 2);
    }
    return 0;
}

int members_new(struct members **out, size_t capacity, const struct ring_mem *mem)
{
    if (out == NULL || capacity > MEMBERS_MAX) {
        return RING_EINVAL;
    }
    *out = NULL;
    mem = mem != NULL ? mem : ring_mem_default();
    struct members *t = ring__calloc(mem, 1, sizeof(*t));
    if (t == NULL) {
        return RING_ENOMEM;
    }
    t->mem = *mem;
    t->capacity = capacity > 0 ? (uint32_t)capacity : CAPACITY_MIN;
    t->records = ring__mallocarray(mem, t->capacity, sizeof(*t->records));
    if (t->records == NULL || slots_rebuild(t, slots_for(t->capacity)) != 0) {
        members_del(t);
        return RING_ENOMEM;
    }
    *out = t;
    return 0;
}

void members_del(struct members *t)
{
    if (t == NULL) {
        return;
    }
    for (uint32_t k = 0; k < t->count; k++) {
        blob_free(t, &t->records[k]);
    }
    ring__free(&t->mem, t->records);
    ring__free(&t->mem, t->slots);
    ring__free(&t->mem, t);
}

int members__clone(struct members **out, const struct members *src, const struct ring_mem *mem)
{
    *out = NULL;
    mem = mem != NULL ? mem : ring_mem_default();
    struct members *t = ring__calloc(mem, 1, sizeof(*t));
    if (t == NULL) {
        return RING_ENOMEM;
    }
    *t = *src; /* sums, counts and sizes; the pointers are replaced below */
    t->mem = *mem;
    t->count = 0;
    t->heap_bytes = 0;
    t->records = ring__mallocarray(mem, src->capacity, sizeof(*t->records));
    t->slots = ring__mallocarray(mem, (size_t)src->slot_mask + 1, sizeof(*t->slots));
    if (t->records == NULL || t->slots == NULL) {
        members_del(t);
        return RING_ENOMEM;
    }
    /* Same records at the same indexes: the slots can be copied as they are. */
    memcpy(t->slots, src->slots, ((size_t)src->slot_mask + 1) * sizeof(*t->slots));
    for (uint32_t k = 0; k < src->count; k++) {
        struct record r = src->records[k];
        if (r.blob_len > BLOB_INLINE_BYTES) {
            r.blob.heap = ring__mallocarray(mem, r.blob_len, 1);
            if (r.blob.heap == NULL) {
                members_del(t); /* frees the blobs of records 0..k-1, which it owns */
                return RING_ENOMEM;
            }
            memcpy(r.blob.heap, src->records[k].blob.heap, r.blob_len);
            t->heap_bytes += r.blob_len;
        }
        t->records[t->count++] = r;
    }
    *out = t;
    return 0;
}

/* Replaces record |idx| with |r| (whose blob it takes over). */
static void record_replace(struct members *t, uint32_t idx, const struct record *r)
{
    account(t, &t->records[idx], -1);
    blob_free(t, &t->records[idx]);
    t->records[idx] = *r;
    account(t, r, 1);
}

static int record_insert(struct members *t, struct record *r)
{
    if (t->count >= MEMBERS_MAX) {
        blob_free(t, r);
        return RING_E2BIG;
    }
    int rv = reserve_one(t);
    if (rv != 0) {
        blob_free(t, r);
        return rv;
    }
    t->slots[slot_find(t, blob_of(r), r->id_len)] = t->count + 1;
    t->records[t->count++] = *r;
    account(t, r, 1);
    return 0;
}

int members_put(struct members *t, const struct member *m)
{
    if (member_validate(m) != 0) {
        return RING_EPROTO;
    }
    struct record r;
    int rv = record_make(t, m, &r);
    if (rv != 0) {
        return rv;
    }
    uint32_t slot = slot_find(t, m->id, m->id_len);
    if (t->slots[slot] != 0) {
        record_replace(t, t->slots[slot] - 1, &r);
        return 0;
    }
    return record_insert(t, &r);
}

int members_apply(struct members *t, const struct member *upd, int *applied)
{
    *applied = 0;
    if (member_validate(upd) != 0) {
        return RING_EPROTO;
    }
    int idx = members_index(t, upd->id, upd->id_len);
    if (idx >= 0) {
        const struct record *r = &t->records[idx];
        if (!members__overrides(r->incarnation, r->status, r->flags, upd)) {
            return 0;
        }
    }
    int rv = members_put(t, upd);
    *applied = rv == 0;
    return rv;
}

int members_remove(struct members *t, const char *id, size_t id_len)
{
    uint32_t slot = slot_find(t, id, id_len);
    if (t->slots[slot] == 0) {
        return RING_ENOENT;
    }
    uint32_t idx = t->slots[slot] - 1;
    uint32_t last = t->count - 1;
    account(t, &t->records[idx], -1);
    blob_free(t, &t->records[idx]);
    slot_delete(t, slot);
    if (idx != last) {
        const struct record *moved = &t->records[last];
        uint32_t s = slot_find(t, blob_of(moved), moved->id_len);
        RING_ASSERT(t->slots[s] == last + 1);
        t->slots[s] = idx + 1;
        t->records[idx] = *moved;
    }
    t->count--;
    return 0;
}

size_t members_count(const struct members *t)
{
    return t->count;
}

int members_index(const struct members *t, const char *id, size_t id_len)
{
    uint32_t slot = slot_find(t, id, id_len);
    return t->slots[slot] != 0 ? (int)(t->slots[slot] - 1) : RING_ENOENT;
}

static const struct record *record_at(const struct members *t, size_t idx)
{
    RING_ASSERT(idx < t->count);
    return &t->records[idx];
}

/* Unpacks the labels part of a blob into |out|. */
static void labels_get(const char *p, uint8_t count, struct member *out)
{
    for (uint8_t i = 0; i < count; i++) {
        struct member_label *l = &out->labels[i];
        l->key_len = (uint8_t)p[0];
        l->value_len = (uint8_t)p[1];
        memcpy(l->key, p + 2, l->key_len);
        memcpy(l->value, p + 2 + l->key_len, l->value_len);
        p += 2 + l->key_len + l->value_len;
    }
    out->label_count = count;
}

void members_get(const struct members *t, size_t idx, struct member *out)
{
    memset(out, 0, sizeof(*out));
    members__get_fields(t, idx, out);
}

void members__get_fields(const struct members *t, size_t idx, struct member *out)
{
    const struct record *r = record_at(t, idx);
    const char *blob = blob_of(r);
    memcpy(out->id, blob, r->id_len);
    out->id_len = r->id_len;
    memcpy(out->group, blob + r->id_len, r->group_len);
    out->group_len = r->group_len;
    labels_get(blob + r->id_len + r->group_len, r->label_count, out);
    out->status = r->status;
    out->flags = r->flags;
    out->weight = r->weight;
    out->incarnation = r->incarnation;
    out->addr = r->addr;
}

const char *members_id(const struct members *t, size_t idx, size_t *id_len)
{
    const struct record *r = record_at(t, idx);
    *id_len = r->id_len;
    return blob_of(r);
}

int members_status(const struct members *t, size_t idx)
{
    return record_at(t, idx)->status;
}

uint64_t members_incarnation(const struct members *t, size_t idx)
{
    return record_at(t, idx)->incarnation;
}

const struct ring_addr *members_addr(const struct members *t, size_t idx)
{
    return &record_at(t, idx)->addr;
}

uint16_t members_weight(const struct members *t, size_t idx)
{
    return record_at(t, idx)->weight;
}

size_t members_count_status(const struct members *t, int status)
{
    if (status < 0 || status > MEMBER_LEFT) {
        return 0;
    }
    return t->status_count[status];
}

uint64_t members__record_digest(const struct members *t, size_t idx)
{
    RING_ASSERT(idx < t->count);
    const struct record *r = &t->records[idx];
    return members__digest(blob_of(r), r->id_len, &r->addr, r->status, r->flags, r->incarnation);
}

uint64_t members_checksum(const struct members *t)
{
    return t->checksum;
}

uint64_t members_ring_checksum(const struct members *t, uint32_t vnodes)
{
    /* 0 means the default, as in struct hashring_config. */
    return hashring_checksum_from_sum(vnodes != 0 ? vnodes : HASHRING_VNODES_DEFAULT, t->ring_sum);
}

uint64_t members_routes_checksum(const struct members *t)
{
    /* The ring checksum's weight and vnodes terms are in ring_sum; mixing both sums keeps a
     * weight change visible here too. */
    uint64_t sums[2] = { t->ring_sum, t->routes_sum };
    return XXH3_64bits(sums, sizeof(sums));
}

uint64_t members_ring_weight(const struct members *t)
{
    return t->ring_weight;
}

size_t members_ring_count(const struct members *t)
{
    return t->status_count[MEMBER_ALIVE] + t->status_count[MEMBER_SUSPECT];
}

size_t members_owner_count(const struct members *t)
{
    return members_ring_count(t) - t->draining_live;
}

unsigned members_flags(const struct members *t, size_t idx)
{
    return record_at(t, idx)->flags;
}

int members_in_ring(const struct members *t, size_t idx)
{
    const struct record *r = record_at(t, idx);
    return member_in_ring(r->status, r->flags);
}

size_t members_memory_bytes(const struct members *t)
{
    return sizeof(*t) + (size_t)t->capacity * sizeof(struct record) +
           (size_t)(t->slot_mask + 1) * sizeof(uint32_t) + t->heap_bytes;
}
