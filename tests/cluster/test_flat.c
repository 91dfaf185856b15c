/*
 * A flat membership of 1,000 in a real ringd: the test is the node's seed, and answers its
 * join sync with a table of 1,000 members, which ringd merges, lays on its ring and serves
 * through the same code as a real cluster's. Reports the resident set (VmRSS) with the ring
 * built, and again after the members start to fail (each failure is a ring rebuild).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <msgpack.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster.h"

#define MEMBERS 1000
/* ringd's resident set with 1,000 members of the default 1,024 points each must stay
 * within this (the ring alone is about 3.8 MB). */
#define RSS_KIB_MAX (16 << 10)

static void setup(void)
{
    cluster_init();
}

static void teardown(void)
{
    cluster_stop();
}

TestSuite(flat, .init = setup, .fini = teardown, .timeout = 90);

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert(eq(int, bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0));
    cr_assert(eq(int, listen(fd, 4), 0));
    return fd;
}

static void read_all(int fd, void *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t r = read(fd, (char *)buf + off, len - off);
        cr_assert(gt(i64, (int64_t)r, 0), "the join sync ended early");
        off += (size_t)r;
    }
}

/* A sync reply from "seed" holding |n| alive members m0000.. at 127.0.0.1:20000+k. */
static void pack_table(msgpack_sbuffer *sb, int n)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_uint8(&pk, 17);
    msgpack_pack_map(&pk, 4);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_str_with_body(&pk, "seed", 4);
    msgpack_pack_uint8(&pk, 4);
    msgpack_pack_uint8(&pk, 0);
    msgpack_pack_uint8(&pk, 6);
    msgpack_pack_false(&pk);
    msgpack_pack_uint8(&pk, 7);
    msgpack_pack_array(&pk, (uint32_t)n);
    for (int k = 0; k < n; k++) {
        char id[16];
        int id_len = snprintf(id, sizeof(id), "m%04d", k);
        uint16_t port = (uint16_t)(20000 + k);
        uint8_t addr[6] = { 127, 0, 0, 1, (uint8_t)(port >> 8), (uint8_t)port };
        msgpack_pack_map(&pk, 5);
        msgpack_pack_uint8(&pk, 0);
        msgpack_pack_str_with_body(&pk, id, (size_t)id_len);
        msgpack_pack_uint8(&pk, 1);
        msgpack_pack_bin_with_body(&pk, addr, sizeof(addr));
        msgpack_pack_uint8(&pk, 2);
        msgpack_pack_uint8(&pk, 0);
        msgpack_pack_uint8(&pk, 3);
        msgpack_pack_uint64(&pk, 1);
        msgpack_pack_uint8(&pk, 4);
        msgpack_pack_uint16(&pk, 1);
    }
}

/* Accepts node 0's join sync on |lfd| and answers it with the table. */
static void answer_join(int lfd, const msgpack_sbuffer *table)
{
    struct pollfd p = { .fd = lfd, .events = POLLIN };
    cr_assert(eq(int, poll(&p, 1, 10000), 1), "no join sync within 10 s");
    int fd = accept(lfd, NULL, NULL);
    cr_assert(ge(int, fd, 0));
    uint8_t hdr[4];
    read_all(fd, hdr, sizeof(hdr));
    uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    cr_assert(le(u32, len, 1u << 20));
    static uint8_t req[1 << 20];
    read_all(fd, req, len);
    uint32_t out = htonl((uint32_t)table->size);
    cr_assert(eq(i64, (int64_t)write(fd, &out, 4), 4));
    size_t off = 0;
    while (off < table->size) {
        ssize_t w = write(fd, table->data + off, table->size - off);
        cr_assert(gt(i64, (int64_t)w, 0));
        off += (size_t)w;
    }
    close(fd);
}

/* Node |i|'s resident set in KiB. */
static long rss_kib(int i)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)cl.pids[i]);
    FILE *f = fopen(path, "r");
    cr_assert(not(eq(ptr, f, NULL)));
    long kib = -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
        }
    }
    fclose(f);
    cr_assert(gt(i64, kib, 0));
    return kib;
}

static int ring_members_at_least(void *arg)
{
    uint64_t alive = 0, ring = 0, sum = 0;
    return cluster_stats(0, &alive, &ring, &sum) == 0 && alive >= (uint64_t)(intptr_t)arg;
}

Test(flat, a_node_of_1000_members_stays_within_16_mib)
{
    int lfd = listen_on(cluster_gossip_port(1));
    msgpack_sbuffer table;
    pack_table(&table, MEMBERS);
    cl.insecure[0] = 1; /* the fake seed answers in plaintext frames */
    cluster_start_node(0, 1);
    long alone = rss_kib(0);
    answer_join(lfd, &table);
    msgpack_sbuffer_destroy(&table);
    close(lfd);
    int ms = cluster_wait(ring_members_at_least, (void *)(intptr_t)(MEMBERS + 1), 10000);
    cr_assert(ge(int, ms, 0), "node 0 never held the %d members alive", MEMBERS);
    cluster_sleep_ms(300); /* the ring is rebuilt on the loop's next turn */
    long built = rss_kib(0);
    /* The members never answer: suspicions and failures rebuild the ring again and again. */
    cluster_sleep_ms(3000);
    long later = rss_kib(0);
    cr_log_info("RSS alone %ld KiB; with %d members %ld KiB, 3 s later %ld KiB", alone, MEMBERS,
                built, later);
    fprintf(stderr, "flat: RSS alone %ld KiB; with %d members %ld KiB, 3 s later %ld KiB\n", alone,
            MEMBERS, built, later);
#if defined(__SANITIZE_ADDRESS__)
    /* ASan's shadow memory and redzones make the absolute figure meaningless (about 17 MiB
     * alone): bound what the members add instead */
    cr_assert(le(i64, built - alone, RSS_KIB_MAX));
    cr_assert(le(i64, later - alone, RSS_KIB_MAX));
#else
    cr_assert(le(i64, built, RSS_KIB_MAX));
    cr_assert(le(i64, later, RSS_KIB_MAX));
#endif
}
