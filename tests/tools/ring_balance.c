/*
 * ring_balance: how balanced a ring of random ids is, the yardstick for the balance bounds
 * of proto/RING.md ("Balance") that Test(hashring, every_id_family_balances_like_random_ids)
 * asserts for structured ids.
 *
 * For each (members N, vnodes V) it builds T rings of N random 16-byte ids (a fixed-seed
 * PRNG, so runs repeat) and prints the distribution of the exact busiest share over the
 * mean share (hashring_shares(), from the arcs, no sampled keys): mean, p99, p99.9 and max.
 *
 *   ring_balance [--members N[,N...]] [--vnodes V[,V...]] [--trials T]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring/error.h"
#include "ring/hashring.h"

#define LIST_MAX 16
#define ID_BYTES 16

static uint64_t next_rand(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static size_t parse_list(const char *s, size_t *out)
{
    size_t n = 0;
    while (*s != '\0' && n < LIST_MAX) {
        char *end;
        out[n++] = strtoul(s, &end, 10);
        s = *end == ',' ? end + 1 : end;
        if (end == s && *end != '\0') {
            break;
        }
    }
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The exact busiest / mean share of one ring of |n| random ids, or a negative value. */
static double one_ring(size_t n, uint32_t vnodes, uint64_t *rng, uint8_t *idbuf,
                       struct hashring_member *m, double *shares)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t b = 0; b < ID_BYTES; b += 8) {
            uint64_t x = next_rand(rng);
            memcpy(idbuf + i * ID_BYTES + b, &x, 8);
        }
        m[i] = (struct hashring_member){ (const char *)idbuf + i * ID_BYTES, ID_BYTES, 1 };
    }
    struct hashring_config cfg = { .vnodes = vnodes };
    struct hashring *r = NULL;
    int rv = hashring_new(&r, m, n, &cfg, NULL);
    if (rv != 0) {
        fprintf(stderr, "hashring_new: %s\n", ring_strerror(rv));
        return -1.0;
    }
    hashring_shares(r, shares);
    double busiest = 0.0;
    for (size_t i = 0; i < n; i++) {
        busiest = shares[i] > busiest ? shares[i] : busiest;
    }
    hashring_del(r);
    return busiest * (double)n;
}

static int measure(size_t n, uint32_t vnodes, size_t trials, uint64_t *rng)
{
    uint8_t *idbuf = malloc(n * ID_BYTES);
    struct hashring_member *m = malloc(n * sizeof(*m));
    double *shares = malloc(n * sizeof(*shares));
    double *ratios = malloc(trials * sizeof(*ratios));
    int rv = idbuf && m && shares && ratios ? 0 : -1;
    double sum = 0.0;
    for (size_t t = 0; t < trials && rv == 0; t++) {
        ratios[t] = one_ring(n, vnodes, rng, idbuf, m, shares);
        rv = ratios[t] < 0 ? -1 : 0;
        sum += ratios[t];
    }
    if (rv == 0) {
        qsort(ratios, trials, sizeof(*ratios), cmp_double);
        printf("{\"members\": %zu, \"vnodes\": %u, \"trials\": %zu, \"mean\": %.4f, "
               "\"p99\": %.4f, \"p999\": %.4f, \"max\": %.4f}\n",
               n, vnodes, trials, sum / (double)trials, ratios[(trials * 99) / 100],
               ratios[(trials * 999) / 1000], ratios[trials - 1]);
    }
    free(idbuf);
    free(m);
    free(shares);
    free(ratios);
    return rv;
}

int main(int argc, char **argv)
{
    size_t members[LIST_MAX] = { 2, 3, 10, 100 }, vnodes[LIST_MAX] = { 64, 256, 1024 };
    size_t nm = 4, nv = 3, trials = 1000;
    for (int a = 1; a + 1 < argc; a += 2) {
        if (strcmp(argv[a], "--members") == 0) {
            nm = parse_list(argv[a + 1], members);
        } else if (strcmp(argv[a], "--vnodes") == 0) {
            nv = parse_list(argv[a + 1], vnodes);
        } else if (strcmp(argv[a], "--trials") == 0) {
            trials = strtoul(argv[a + 1], NULL, 10);
        } else {
            fprintf(stderr, "usage: ring_balance [--members N,...] [--vnodes V,...] "
                            "[--trials T]\n");
            return 2;
        }
    }
    uint64_t rng = 1;
    for (size_t i = 0; i < nm; i++) {
        for (size_t j = 0; j < nv; j++) {
            if (trials == 0 || members[i] == 0 ||
                measure(members[i], (uint32_t)vnodes[j], trials, &rng) != 0) {
                return 1;
            }
        }
    }
    return 0;
}
