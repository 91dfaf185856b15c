/*
 * bench_ring: measures the hashring against its floor and prints one JSON object.
 *
 * For each ring size it times lookups of random 16-byte keys and, in the same run,
 * interleaved round by round, the bare xxHash3 of the same keys (a lookup must hash the key,
 * so the hash is the floor and the ratio is what the ring itself costs). The floor is a call
 * of libxxhash's XXH3_64bits, as a lookup is a call of libring's hashring_lookup; the
 * inlined hash (hash_inline_ns) is reported beside it, and so is the probe floor (probe_ns):
 * the same hash call, then one random 16-byte read from a table as large as the ring, made
 * with the same allocator. No ring that answers with one read of a table that size can beat
 * it, so lookup_over_probe is what the ring's own work costs, and probe_over_hash is what
 * the memory system costs at the moment (a few times the hash on a quiet host; many times
 * when other tenants share the cache and memory). It also reports
 * build time, memory, the busiest member's share over the mean (over 1M keys and exactly,
 * from the arcs), and the fraction of keys one join moves against the ideal 1/(N+1).
 *
 * update_ms is one membership change applied with hashring_new_from() to the ring before
 * it, as ringd applies each change: a member from the middle of the id order leaves, then
 * joins again (so every owner index past it is renumbered both ways), the old ring freed
 * after each; the median over --updates changes of different members. build_ms is
 * hashring_new() of the same ring from scratch.
 *
 *   bench_ring [--members N[,N...]] [--vnodes V] [--rounds R] [--updates U] [--quick]
 *              [--no-hugepages]
 *
 * Rings are built with ringd's allocator (ringd/lib/hugemem.c: huge pages for big tables), as
 * ringd builds them; --no-hugepages uses libc's instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Not inlined: hash_ns is the library's exported XXH3_64bits, called as an app calls it,
 * like hashring_lookup(); bench_hash_inline.c measures the inlined hash too. */
#include <xxhash.h>

#include "bench_util.h"
#include "bench_hash_inline.h"

#include "ring/error.h"
#include "ring/hashring.h"
#include "hugemem.h"

#define KEY_BYTES 16
/* 64K keys (1 MiB) per timing round: big enough to defeat the branch predictor, small
 * enough to stay in L2 so the ring's memory, not the keys', is what is measured. */
#define TIMING_KEYS (1u << 16)
#define SHARE_KEYS  1000000u
#define SIZES_MAX   8

struct options {
    size_t sizes[SIZES_MAX];
    size_t size_count;
    uint32_t vnodes;
    int rounds;
    int builds;
    int updates;
    /* The allocator rings are built with: ringd's (huge pages for big tables) unless
     * --no-hugepages asks for libc's. */
    const struct ring_mem *mem;
};

struct result {
    size_t members;
    uint32_t vnodes;
    double lookup_ns;
    double hash_ns;
    double hash_inline_ns;
    double probe_ns;
    double build_ms;
    double update_ms;
    size_t ring_bytes;
    size_t points;
    double max_over_mean;
    double max_over_mean_exact;
    double moved_fraction;
    double moved_fraction_exact;
};

static volatile uint64_t sink;

static uint64_t splitmix(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void fill_keys(uint8_t *keys, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n * KEY_BYTES; i += 8) {
        uint64_t v = splitmix(&seed);
        memcpy(keys + i, &v, 8);
    }
}

static struct hashring_member *make_members(size_t n, char (*ids)[32])
{
    struct hashring_member *m = calloc(n, sizeof(*m));
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof(ids[i]), "member-%06zu", i);
        m[i] = (struct hashring_member){ ids[i], strlen(ids[i]), 1 };
    }
    return m;
}

static const struct ring_mem *ring_allocator;

static struct hashring *build(const struct hashring_member *m, size_t n, uint32_t vnodes)
{
    struct hashring_config cfg = { .vnodes = vnodes };
    struct hashring *r = NULL;
    int rv = hashring_new(&r, m, n, &cfg, ring_allocator);
    if (rv != 0) {
        fprintf(stderr, "bench_ring: hashring_new(%zu members): %s\n", n, ring_strerror(rv));
        exit(1);
    }
    return r;
}

static double time_hash_round(const uint8_t *keys)
{
    uint64_t acc = 0;
    double t0 = bench_now_ns();
    for (size_t i = 0; i < TIMING_KEYS; i++) {
        acc ^= XXH3_64bits(keys + i * KEY_BYTES, KEY_BYTES);
    }
    double t1 = bench_now_ns();
    sink ^= acc;
    return (t1 - t0) / TIMING_KEYS;
}

static double time_hash_inline_round(const uint8_t *keys)
{
    double t0 = bench_now_ns();
    sink ^= bench_hash_inline(keys, TIMING_KEYS, KEY_BYTES);
    return (bench_now_ns() - t0) / TIMING_KEYS;
}

static double time_lookup_round(const struct hashring *r, const uint8_t *keys)
{
    uint64_t acc = 0;
    double t0 = bench_now_ns();
    for (size_t i = 0; i < TIMING_KEYS; i++) {
        uint32_t owner;
        hashring_lookup(r, keys + i * KEY_BYTES, KEY_BYTES, &owner);
        acc += owner;
    }
    double t1 = bench_now_ns();
    sink ^= acc;
    return (t1 - t0) / TIMING_KEYS;
}

/* The floor of any one-read ring: a table of |slots| 16-byte slots. */
struct probe_table {
    uint8_t *bytes;
    uint64_t slots;
};

static double time_probe_round(const struct probe_table *t, const uint8_t *keys)
{
    uint64_t acc = 0;
    double t0 = bench_now_ns();
    for (size_t i = 0; i < TIMING_KEYS; i++) {
        uint64_t h = XXH3_64bits(keys + i * KEY_BYTES, KEY_BYTES);
        uint64_t slot[2];
        memcpy(slot, t->bytes + (((h >> 32) * t->slots) >> 32) * 16, sizeof(slot));
        acc += slot[0] ^ slot[1];
    }
    double t1 = bench_now_ns();
    sink ^= acc;
    return (t1 - t0) / TIMING_KEYS;
}

/* Hash, lookup and probe rounds alternate so all see the same machine noise. */
static void time_lookups(const struct hashring *r, int rounds, struct result *res)
{
    uint8_t *keys = malloc((size_t)TIMING_KEYS * KEY_BYTES);
    double *hash = calloc((size_t)rounds, sizeof(double));
    double *lookup = calloc((size_t)rounds, sizeof(double));
    double *inl = calloc((size_t)rounds, sizeof(double));
    double *probe = calloc((size_t)rounds, sizeof(double));
    struct probe_table table = { .slots = hashring_memory_bytes(r) / 16 };
    const struct ring_mem *mem = ring_allocator != NULL ? ring_allocator : ring_mem_default();
    table.bytes = mem->malloc(table.slots * 16, mem->user_data);
    fill_keys(table.bytes, table.slots, 4);
    fill_keys(keys, TIMING_KEYS, 1);
    time_hash_round(keys);
    time_lookup_round(r, keys);
    for (int i = 0; i < rounds; i++) {
        hash[i] = time_hash_round(keys);
        lookup[i] = time_lookup_round(r, keys);
        inl[i] = time_hash_inline_round(keys);
        probe[i] = time_probe_round(&table, keys);
    }
    res->probe_ns = bench_median(probe, rounds);
    mem->free(table.bytes, mem->user_data);
    free(probe);
    res->hash_ns = bench_median(hash, rounds);
    res->lookup_ns = bench_median(lookup, rounds);
    res->hash_inline_ns = bench_median(inl, rounds);
    free(inl);
    free(keys);
    free(hash);
    free(lookup);
}

static void measure_balance(const struct hashring *r, struct result *res)
{
    size_t n = hashring_member_count(r);
    uint32_t *counts = calloc(n, sizeof(*counts));
    uint64_t seed = 2;
    for (uint32_t k = 0; k < SHARE_KEYS; k++) {
        uint64_t v[2] = { splitmix(&seed), splitmix(&seed) };
        uint32_t owner;
        hashring_lookup(r, v, sizeof(v), &owner);
        counts[owner]++;
    }
    double *shares = calloc(n, sizeof(*shares));
    hashring_shares(r, shares);
    uint32_t busiest = 0;
    double share_max = 0.0;
    for (uint32_t m = 0; m < n; m++) {
        busiest = counts[m] > busiest ? counts[m] : busiest;
        share_max = shares[m] > share_max ? shares[m] : share_max;
    }
    free(shares);
    res->max_over_mean = (double)busiest / ((double)SHARE_KEYS / (double)n);
    res->max_over_mean_exact = share_max * (double)n;
    free(counts);
}

static void add_range(const struct hashring_range *range, void *arg)
{
    *(double *)arg += ((double)(range->last - range->first) + 1.0) / 18446744073709551616.0;
}

/* One join: the same members plus one, compared by key and exactly by hashring_diff. */
static void measure_join(const struct hashring *before, const struct hashring *after,
                         struct result *res)
{
    uint64_t seed = 3;
    uint32_t moved = 0;
    for (uint32_t k = 0; k < SHARE_KEYS; k++) {
        uint64_t v[2] = { splitmix(&seed), splitmix(&seed) };
        uint32_t a, b;
        hashring_lookup(before, v, sizeof(v), &a);
        hashring_lookup(after, v, sizeof(v), &b);
        const struct hashring_member *ma = hashring_member(before, a);
        const struct hashring_member *mb = hashring_member(after, b);
        moved += ma->id_len != mb->id_len || memcmp(ma->id, mb->id, ma->id_len) != 0;
    }
    res->moved_fraction = (double)moved / SHARE_KEYS;
    res->moved_fraction_exact = 0.0;
    hashring_diff(before, after, add_range, &res->moved_fraction_exact);
}

static struct hashring *update(const struct hashring *old, const struct hashring_member *m,
                               size_t n, uint32_t vnodes)
{
    struct hashring_config cfg = { .vnodes = vnodes };
    struct hashring *r = NULL;
    int rv = hashring_new_from(&r, old, m, n, &cfg, ring_allocator);
    if (rv != 0) {
        fprintf(stderr, "bench_ring: hashring_new_from(%zu members): %s\n", n, ring_strerror(rv));
        exit(1);
    }
    return r;
}

/* Leaves and rejoins of members spread over the id order, each timed. Takes |r| and
 * returns the ring after the last change. */
static struct hashring *time_updates(struct hashring *r, const struct hashring_member *m, size_t n,
                                     const struct options *o, struct result *res)
{
    size_t changes = 2 * (size_t)o->updates;
    double *ms = calloc(changes, sizeof(double));
    struct hashring_member *without = calloc(n, sizeof(*without));
    for (int i = 0; i < o->updates; i++) {
        size_t leaver = (n / 2 + (size_t)i * 7919) % n;
        memcpy(without, m, n * sizeof(*m));
        without[leaver] = without[n - 1];
        double t0 = bench_now_ns();
        struct hashring *left = update(r, without, n - 1, o->vnodes);
        ms[2 * i] = (bench_now_ns() - t0) / 1e6;
        hashring_del(r);
        t0 = bench_now_ns();
        r = update(left, m, n, o->vnodes);
        ms[2 * i + 1] = (bench_now_ns() - t0) / 1e6;
        hashring_del(left);
    }
    res->update_ms = bench_median(ms, (int)changes);
    free(without);
    free(ms);
    return r;
}

static void run_size(size_t n, const struct options *o, struct result *res)
{
    char(*ids)[32] = calloc(n + 1, sizeof(*ids));
    struct hashring_member *m = make_members(n + 1, ids);
    double *build_ms = calloc((size_t)o->builds, sizeof(double));
    struct hashring *r = NULL;
    for (int i = 0; i < o->builds; i++) {
        hashring_del(r);
        double t0 = bench_now_ns();
        r = build(m, n, o->vnodes);
        build_ms[i] = (bench_now_ns() - t0) / 1e6;
    }
    memset(res, 0, sizeof(*res));
    res->members = n;
    res->vnodes = hashring_vnodes(r);
    res->build_ms = bench_median(build_ms, o->builds);
    r = time_updates(r, m, n, o, res);
    res->ring_bytes = hashring_memory_bytes(r);
    res->points = hashring_point_count(r);
    time_lookups(r, o->rounds, res);
    measure_balance(r, res);
    struct hashring *joined = build(m, n + 1, o->vnodes);
    measure_join(r, joined, res);
    hashring_del(joined);
    hashring_del(r);
    free(build_ms);
    free(m);
    free(ids);
}

static void print_result(const struct result *r, int last)
{
    double ideal = 1.0 / (double)(r->members + 1);
    printf("    {\"members\": %zu, \"vnodes\": %u, \"points\": %zu, \"lookup_ns\": %.2f, "
           "\"hash_ns\": %.2f, \"lookup_over_hash\": %.2f, \"hash_inline_ns\": %.2f, "
           "\"lookup_over_inline_hash\": %.2f, \"probe_ns\": %.2f, \"probe_over_hash\": %.2f, "
           "\"lookup_over_probe\": %.2f, \"build_ms\": %.2f, \"update_ms\": %.3f, "
           "\"ring_bytes\": %zu, \"bytes_per_point\": %.2f, \"max_over_mean\": %.4f, "
           "\"max_over_mean_exact\": %.4f, \"moved_fraction\": %.6f, "
           "\"moved_fraction_exact\": %.6f, \"moved_ideal\": %.6f, "
           "\"moved_over_ideal\": %.4f}%s\n",
           r->members, r->vnodes, r->points, r->lookup_ns, r->hash_ns, r->lookup_ns / r->hash_ns,
           r->hash_inline_ns, r->lookup_ns / r->hash_inline_ns, r->probe_ns,
           r->probe_ns / r->hash_ns, r->lookup_ns / r->probe_ns, r->build_ms, r->update_ms,
           r->ring_bytes, (double)r->ring_bytes / (double)r->points, r->max_over_mean,
           r->max_over_mean_exact, r->moved_fraction, r->moved_fraction_exact, ideal,
           r->moved_fraction_exact / ideal, last ? "" : ",");
}

static int parse_sizes(struct options *o, const char *arg)
{
    o->size_count = 0;
    char *copy = strdup(arg);
    for (char *tok = strtok(copy, ","); tok != NULL; tok = strtok(NULL, ",")) {
        if (o->size_count == SIZES_MAX || atol(tok) < 1) {
            free(copy);
            return -1;
        }
        o->sizes[o->size_count++] = (size_t)atol(tok);
    }
    free(copy);
    return o->size_count > 0 ? 0 : -1;
}

static int parse_options(struct options *o, int argc, char **argv)
{
    *o = (struct options){
        .sizes = { 10, 100, 1000, 10000 },
        .size_count = 4,
        .rounds = 31,
        .builds = 5,
        .updates = 10,
        .mem = ringd_hugemem(),
    };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--members") == 0 && i + 1 < argc) {
            if (parse_sizes(o, argv[++i]) != 0) {
                return -1;
            }
        } else if (strcmp(argv[i], "--vnodes") == 0 && i + 1 < argc) {
            o->vnodes = (uint32_t)atol(argv[++i]);
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            o->rounds = atoi(argv[++i]) > 0 ? atoi(argv[i]) : 1;
        } else if (strcmp(argv[i], "--updates") == 0 && i + 1 < argc) {
            o->updates = atoi(argv[++i]) > 0 ? atoi(argv[i]) : 1;
        } else if (strcmp(argv[i], "--no-hugepages") == 0) {
            o->mem = ring_mem_default();
        } else if (strcmp(argv[i], "--quick") == 0) {
            o->rounds = 7;
            o->builds = 3;
            o->updates = 4;
        } else {
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_options(&o, argc, argv) != 0) {
        fprintf(stderr, "usage: bench_ring [--members N[,N...]] [--vnodes V] [--rounds R] "
                        "[--updates U] [--quick] [--no-hugepages]\n");
        return 2;
    }
    ring_allocator = o.mem;
    printf("{\"benchmark\": \"ring\", \"key_bytes\": %d, \"hugepages\": %s, \"results\": [\n",
           KEY_BYTES, o.mem == ring_mem_default() ? "false" : "true");
    for (size_t i = 0; i < o.size_count; i++) {
        struct result r;
        run_size(o.sizes[i], &o, &r);
        print_result(&r, i + 1 == o.size_count);
        fflush(stdout);
    }
    printf("]}\n");
    return 0;
}
