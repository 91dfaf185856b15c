/*
 * client: a program outside the tree, built only from what `cmake --install` puts in a prefix:
 * libring's headers, the library and libring.pc (tests/install/check.sh compiles it with
 * `pkg-config --cflags --libs libring`). It builds a ring, looks keys up, asks for replicas
 * and maps keys to logical shards, checking each answer against what the API promises, and
 * prints one line per key. Exit 0 when every check holds.
 */
#include <stdio.h>
#include <string.h>

#include <ring/error.h>
#include <ring/hashring.h>
#include <ring/shards.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "client: check failed: %s (line %d)\n", #cond, __LINE__);              \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static int lookups(const struct hashring *r)
{
    static const char *const keys[] = { "user:1", "user:2", "cart:42", "session:abc" };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        uint32_t owner, owners[2];
        CHECK(hashring_lookup(r, keys[i], strlen(keys[i]), &owner) == 0);
        CHECK(owner < hashring_member_count(r));
        CHECK(hashring_lookup_n(r, keys[i], strlen(keys[i]), 2, owners) == 2);
        CHECK(owners[0] == owner && owners[1] != owner);
        uint32_t shard = shards_of(keys[i], strlen(keys[i]), 1024);
        CHECK(shard < 1024);
        /* member ids are id_len bytes, not NUL-terminated */
        const struct hashring_member *m = hashring_member(r, owner);
        const struct hashring_member *rep = hashring_member(r, owners[1]);
        printf("%-12s -> %.*s (replica %.*s), shard %u\n", keys[i], (int)m->id_len, m->id,
               (int)rep->id_len, rep->id, (unsigned)shard);
    }
    return 0;
}

int main(void)
{
    struct hashring_member members[] = {
        { "node0", 5, 1 },
        { "node1", 5, 1 },
        { "node2", 5, 2 },
    };
    struct hashring *r = NULL;
    int rv = hashring_new(&r, members, 3, NULL, NULL);
    if (rv != 0) {
        fprintf(stderr, "client: hashring_new: %s (%s)\n", ring_strerror(rv), ring_err_name(rv));
        return 1;
    }
    CHECK(hashring_member_count(r) == 3);
    CHECK(hashring_point_count(r) == 4 * (size_t)HASHRING_VNODES_DEFAULT);
    if (lookups(r) != 0) {
        hashring_del(r);
        return 1;
    }
    printf("ring %016llx: %zu members, %zu points\n", (unsigned long long)hashring_checksum(r),
           hashring_member_count(r), hashring_point_count(r));
    hashring_del(r);

    /* An empty ring is an error value, not a crash. */
    CHECK(hashring_new(&r, NULL, 0, NULL, NULL) == 0);
    uint32_t owner;
    CHECK(hashring_lookup(r, "k", 1, &owner) == RING_EEMPTY);
    hashring_del(r);
    return 0;
}
