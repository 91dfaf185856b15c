/*
 * ringdemo: shows the consistent-hash ring at work without a network. It builds a ring of
 * N members, prints each member's share, looks up keys, then shows what one join and one
 * leave move. Everything it prints comes from libring's hashring module.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring/error.h"
#include "ring/hashring.h"

#define DEMO_MEMBERS_MAX 1000

struct move_summary {
    const struct hashring *old_r;
    const struct hashring *new_r;
    double moved;
    unsigned ranges;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ringdemo [--members N] [--vnodes V] [KEY...]\n"
            "Builds a ring of N members (default 5, at most %d), shows each member's\n"
            "share, the owners of each KEY, and what a join and a leave move.\n",
            DEMO_MEMBERS_MAX);
}

static int build(struct hashring **r, char ids[][32], size_t n, uint32_t vnodes)
{
    struct hashring_member m[DEMO_MEMBERS_MAX + 1];
    for (size_t i = 0; i < n; i++) {
        m[i] = (struct hashring_member){ ids[i], strlen(ids[i]), 1 };
    }
    struct hashring_config cfg = { .vnodes = vnodes };
    int rv = hashring_new(r, m, n, &cfg, NULL);
    if (rv != 0) {
        fprintf(stderr, "ringdemo: cannot build ring: %s\n", ring_strerror(rv));
    }
    return rv;
}

static void print_ring(const struct hashring *r)
{
    double shares[DEMO_MEMBERS_MAX + 1];
    hashring_shares(r, shares);
    printf("%-20s %8s %8s\n", "MEMBER", "POINTS", "SHARE");
    for (uint32_t i = 0; i < hashring_member_count(r); i++) {
        const struct hashring_member *m = hashring_member(r, i);
        printf("%-20.*s %8u %7.2f%%\n", (int)m->id_len, m->id, hashring_vnodes(r) * m->weight,
               100.0 * shares[i]);
    }
    printf("checksum %016llx, %zu points, %zu bytes\n\n", (unsigned long long)hashring_checksum(r),
           hashring_point_count(r), hashring_memory_bytes(r));
}

static void print_lookup(const struct hashring *r, const char *key)
{
    uint32_t owners[3];
    int n = hashring_lookup_n(r, key, strlen(key), 3, owners);
    if (n < 0) {
        printf("%-24s %s\n", key, ring_strerror(n));
        return;
    }
    printf("%-24s", key);
    for (int i = 0; i < n; i++) {
        const struct hashring_member *m = hashring_member(r, owners[i]);
        printf(" %s%.*s", i == 0 ? "" : "then ", (int)m->id_len, m->id);
    }
    printf("\n");
}

static void count_move(const struct hashring_range *range, void *arg)
{
    struct move_summary *s = arg;
    s->moved += ((double)(range->last - range->first) + 1.0) / 18446744073709551616.0;
    s->ranges++;
}

static void print_move(const char *what, const struct hashring *old_r, const struct hashring *new_r)
{
    struct move_summary s = { old_r, new_r, 0.0, 0 };
    if (hashring_diff(old_r, new_r, count_move, &s) != 0) {
        return;
    }
    printf("%s moved %.2f%% of keys in %u ranges (ideal %.2f%%)\n", what, 100.0 * s.moved, s.ranges,
           100.0 / (double)(hashring_member_count(old_r) > hashring_member_count(new_r)
                                ? hashring_member_count(old_r)
                                : hashring_member_count(new_r)));
}

int main(int argc, char **argv)
{
    static char ids[DEMO_MEMBERS_MAX + 1][32];
    size_t n = 5;
    uint32_t vnodes = 0;
    int first_key = argc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--members") == 0 && i + 1 < argc) {
            n = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--vnodes") == 0 && i + 1 < argc) {
            vnodes = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            usage(stderr);
            return 2;
        } else {
            first_key = i;
            break;
        }
    }
    if (n < 2 || n > DEMO_MEMBERS_MAX) {
        fprintf(stderr, "ringdemo: --members must be 2..%d\n", DEMO_MEMBERS_MAX);
        return 2;
    }
    for (size_t i = 0; i <= n; i++) {
        snprintf(ids[i], sizeof(ids[i]), "10.0.%zu.%zu:7946", (i + 1) / 250, (i + 1) % 250);
    }
    struct hashring *ring, *joined, *left;
    if (build(&ring, ids, n, vnodes) != 0 || build(&joined, ids, n + 1, vnodes) != 0 ||
        build(&left, ids + 1, n - 1, vnodes) != 0) {
        return 1;
    }
    print_ring(ring);
    const char *defaults[] = { "user:1", "user:2", "cart:42", "session:abc" };
    for (int i = first_key; i < argc; i++) {
        print_lookup(ring, argv[i]);
    }
    for (size_t i = 0; first_key == argc && i < 4; i++) {
        print_lookup(ring, defaults[i]);
    }
    printf("\n");
    print_move("join of a new member", ring, joined);
    print_move("leave of one member", ring, left);
    hashring_del(ring);
    hashring_del(joined);
    hashring_del(left);
    return 0;
}
