/*
 * groupmap: key -> group, a hashring over the group names (see groupmap.h for why).
 *
 * Nothing here but the seeded key hash and the name checks: the placement, its determinism
 * and its balance are hashring's, specified in proto/RING.md.
 */
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ring/error.h"
#include "ring/groupmap.h"
#include "ring/hashring.h"
#include "ring/members.h"
#include "mem_int.h"

/* Group names on the stack while the ring is built; larger sets take one allocation. */
#define STACK_NAMES 64

struct groupmap {
    struct ring_mem mem;
    struct hashring *ring;
};

static uint32_t vnodes_or_default(uint32_t vnodes)
{
    return vnodes != 0 ? vnodes : GROUPMAP_VNODES_DEFAULT;
}

static int names_ok(const struct groupmap_name *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (names[i].len == 0 || names[i].len > MEMBER_GROUP_BYTES_MAX ||
            memchr(names[i].name, '\0', names[i].len) != NULL) {
            return 0;
        }
    }
    return 1;
}

int groupmap_new(struct groupmap **out, const struct groupmap_name *names, size_t n,
                 uint32_t vnodes, const struct ring_mem *mem)
{
    if (out == NULL || (names == NULL && n > 0) || !names_ok(names, n)) {
        return RING_EINVAL;
    }
    if (n > HASHRING_MEMBERS_MAX) {
        return RING_E2BIG;
    }
    mem = mem != NULL ? mem : ring_mem_default();
    struct hashring_member stack[STACK_NAMES];
    struct hashring_member *hm = n <= STACK_NAMES ? stack : ring__calloc(mem, n, sizeof(*hm));
    struct groupmap *m = ring__calloc(mem, 1, sizeof(*m));
    int rv = hm == NULL || m == NULL ? RING_ENOMEM : 0;
    for (size_t i = 0; i < n && rv == 0; i++) {
        hm[i].id = names[i].name;
        hm[i].id_len = names[i].len;
        hm[i].weight = 1;
    }
    if (rv == 0) {
        struct hashring_config cfg = { .vnodes = vnodes_or_default(vnodes) };
        m->mem = *mem;
        rv = hashring_new(&m->ring, hm, n, &cfg, mem);
    }
    if (hm != stack) {
        ring__free(mem, hm);
    }
    if (rv != 0) {
        ring__free(mem, m);
        return rv;
    }
    *out = m;
    return 0;
}

void groupmap_del(struct groupmap *m)
{
    if (m == NULL) {
        return;
    }
    struct ring_mem mem = m->mem;
    hashring_del(m->ring);
    ring__free(&mem, m);
}

uint64_t groupmap_key_hash(const void *key, size_t key_len)
{
    return XXH3_64bits_withSeed(key, key_len, GROUPMAP_KEY_SEED);
}

int groupmap_lookup_hash(const struct groupmap *m, uint64_t key_hash, uint32_t *idx)
{
    return hashring_lookup_hash(m->ring, key_hash, idx);
}

int groupmap_lookup(const struct groupmap *m, const void *key, size_t key_len, uint32_t *idx)
{
    return hashring_lookup_hash(m->ring, groupmap_key_hash(key, key_len), idx);
}

size_t groupmap_count(const struct groupmap *m)
{
    return hashring_member_count(m->ring);
}

const char *groupmap_name(const struct groupmap *m, uint32_t idx, size_t *len)
{
    const struct hashring_member *hm = hashring_member(m->ring, idx);
    *len = hm->id_len;
    return hm->id;
}

int groupmap_find(const struct groupmap *m, const char *name, size_t len)
{
    uint32_t idx;
    int rv = hashring_find(m->ring, name, len, &idx);
    return rv != 0 ? rv : (int)idx;
}

uint64_t groupmap_checksum(const struct groupmap *m)
{
    return hashring_checksum(m->ring);
}

uint64_t groupmap_name_digest(const char *name, size_t len)
{
    return hashring_member_digest(name, len, 1);
}

uint64_t groupmap_set_checksum(uint32_t vnodes, uint64_t digest_sum)
{
    return hashring_checksum_from_sum(vnodes_or_default(vnodes), digest_sum);
}

size_t groupmap_memory_bytes(const struct groupmap *m)
{
    return sizeof(*m) + hashring_memory_bytes(m->ring);
}
