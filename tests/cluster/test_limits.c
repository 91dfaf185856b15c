/*
 * Limits between peers against real ringd (proto/SWIM.md, "Limits between peers"): the
 * forged datagrams and syncs a peer holding the cluster key sent on loopback (sealed, as ringd
 * gossips by default), each asserted to fail. Memory is measured as the node's resident set (VmRSS)
 * before and after.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cluster.h"
#include "ring/codec.h"
#include "ring/seal.h"
#include "ring/session.h"

static void setup(void)
{
    cluster_init();
}

static void teardown(void)
{
    cluster_stop();
}

TestSuite(limits, .init = setup, .fini = teardown, .timeout = 90);

struct forged {
    const char *id;
    uint16_t port; /* on 127.0.0.1 */
    uint8_t status;
    uint64_t incarnation;
    uint16_t weight;
    int labels; /* every label, long values */
};

static void pack_member(msgpack_packer *pk, const struct forged *f)
{
    uint8_t addr[6] = { 127, 0, 0, 1, (uint8_t)(f->port >> 8), (uint8_t)f->port };
    msgpack_pack_map(pk, 5 + (f->labels != 0));
    msgpack_pack_uint8(pk, 0);
    msgpack_pack_str_with_body(pk, f->id, strlen(f->id));
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_bin_with_body(pk, addr, sizeof(addr));
    msgpack_pack_uint8(pk, 2);
    msgpack_pack_uint8(pk, f->status);
    msgpack_pack_uint8(pk, 3);
    msgpack_pack_uint64(pk, f->incarnation);
    msgpack_pack_uint8(pk, 4);
    msgpack_pack_uint16(pk, f->weight);
    if (f->labels) {
        char value[64];
        memset(value, 'v', 63);
        value[63] = '\0';
        msgpack_pack_uint8(pk, 6);
        msgpack_pack_map(pk, 8);
        for (int i = 0; i < 8; i++) {
            char key[2] = { (char)('a' + i), '\0' };
            msgpack_pack_str_with_body(pk, key, 1);
            msgpack_pack_str_with_body(pk, value, 63);
        }
    }
}

/* A gossip carrier (an ack with seq 0) from "n9", or with |sync| a sync, carrying |n|
 * forged members. */
static void forge(msgpack_sbuffer *sb, int sync, const struct forged *fs, size_t n)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_uint8(&pk, sync ? 16 : 2);
    msgpack_pack_map(&pk, 4);
    if (!sync) {
        msgpack_pack_uint8(&pk, 0);
        msgpack_pack_uint8(&pk, 0);
    }
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_str_with_body(&pk, "n9", 2);
    msgpack_pack_uint8(&pk, 4);
    msgpack_pack_uint8(&pk, 0);
    if (sync) {
        msgpack_pack_uint8(&pk, 6);
        msgpack_pack_false(&pk);
    }
    msgpack_pack_uint8(&pk, sync ? 7 : 5);
    msgpack_pack_array(&pk, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        pack_member(&pk, &fs[i]);
    }
}

/* Sealed with the cluster's key: the forger is a peer that holds it (ringd's default). */
static void send_datagram(int node, const msgpack_sbuffer *sb)
{
    static uint8_t wire[CODEC_DATAGRAM_BYTES_MAX];
    size_t n =
        cluster_seal(SEAL_DATAGRAM, cluster_wall_ms(), sb->data, sb->size, wire, sizeof(wire));
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)cluster_gossip_port(node)) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert(
        eq(i64, (int64_t)sendto(fd, wire, n, 0, (struct sockaddr *)&sa, sizeof(sa)), (int64_t)n));
    close(fd);
}

/* A sync as one stream frame on the gossip port, under a session with the cluster's key;
 * waits for the answer or the close. */
static void send_stream(int node, const msgpack_sbuffer *sb)
{
    struct session sess;
    int fd = cluster_stream_open(node, &sess);
    (void)cluster_stream_send(fd, &sess, sb->data, sb->size); /* -1: refused mid-frame */
    char c[4096];
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (read(fd, c, sizeof(c)) > 0) {
    }
    session_clear(&sess);
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

static void converge(int n)
{
    int ms = cluster_wait(cluster_converged, (void *)(intptr_t)n, 10000);
    cr_assert(ge(int, ms, 0), "%d nodes did not converge in 10 s", n);
}

/* The share of the ring member |id| holds in node |i|'s /v1/ring, or -1. */
static double ring_share(int i, const char *id)
{
    static char body[1 << 20];
    if (cluster_http(i, "GET /v1/ring HTTP/1.0\r\n\r\n", body, sizeof(body)) != 200) {
        return -1;
    }
    char key[160];
    snprintf(key, sizeof(key), "{\"id\":\"%s\",", id);
    const char *at = strstr(body, key);
    const char *share = at != NULL ? strstr(at, "\"share\":") : NULL;
    return share != NULL ? strtod(share + 8, NULL) : -1;
}

static uint64_t points(int i)
{
    static char body[1 << 20];
    if (cluster_http(i, "GET /v1/ring HTTP/1.0\r\n\r\n", body, sizeof(body)) != 200) {
        return 0;
    }
    const char *at = strstr(body, "\"points\":");
    return at != NULL ? strtoull(at + 9, NULL, 10) : 0;
}

/* One update saying n2 is suspect at 2^64 - 1: before, n2's refutation wrapped to 0 and it
 * was declared faulty everywhere. */
Test(limits, a_suspicion_at_the_maximum_incarnation_does_not_freeze_a_member)
{
    cluster_start(3);
    converge(3);
    char status[16];
    uint64_t inc = 0;
    cr_assert(eq(int, cluster_member(0, "n2", status, sizeof(status), &inc), 0));
    struct forged f = { "n2", (uint16_t)cluster_gossip_port(2), 1, UINT64_MAX, 1, 0 };
    msgpack_sbuffer sb;
    forge(&sb, 0, &f, 1);
    send_datagram(0, &sb);
    send_datagram(1, &sb);
    msgpack_sbuffer_destroy(&sb);
    cluster_sleep_ms(4000);
    for (int i = 0; i < 3; i++) {
        uint64_t now = 0;
        cr_assert(eq(int, cluster_member(i, "n2", status, sizeof(status), &now), 0));
        cr_assert(eq(str, status, "alive"), "node %d holds n2 %s", i, status);
        cr_assert(ge(u64, now, inc), "node %d: n2 went from %llu to %llu", i,
                  (unsigned long long)inc, (unsigned long long)now);
        cr_assert(lt(u64, now, UINT64_C(1) << 62), "node %d: n2 at %llu", i,
                  (unsigned long long)now);
    }
    converge(3);
}

/* A fake member of weight 1000 took 99.8% of the ring; now it is clamped to --weight-max. */
Test(limits, a_forged_heavy_member_holds_at_most_its_capped_share)
{
    cluster_start(3);
    converge(3);
    struct forged f = { "heavy", 9, 0, 1, 1000, 0 };
    msgpack_sbuffer sb;
    forge(&sb, 0, &f, 1);
    send_datagram(0, &sb);
    msgpack_sbuffer_destroy(&sb);
    double share = -1;
    for (int t = 0; t < 50 && share < 0; t++) {
        cluster_sleep_ms(10);
        share = ring_share(0, "heavy");
    }
    cr_assert(gt(dbl, share, 0.0), "the fake member never held ring points");
    cr_log_info("a forged member of weight 1000 holds %.3f of the ring", share);
    /* weight_max 10 against three members of weight 1: 10/13. */
    cr_assert(lt(dbl, share, 0.85), "share %.3f", share);
}

/* The tester's heavy datagram (a few fake members of weight 1000 with labels) grew a node
 * from 3 MB to 191 MB; its heavy sync to 1.7 GB. Now both stay within a few MB. */
Test(limits, heavy_forged_members_grow_a_node_by_a_bounded_amount)
{
    cluster_start(3);
    converge(3);
    cluster_sleep_ms(500);
    long before = rss_kib(0);
    static struct forged fs[2000];
    static char ids[2000][16];
    for (int k = 0; k < 2000; k++) {
        snprintf(ids[k], sizeof(ids[k]), "fake%d", k);
        fs[k] = (struct forged){ ids[k], (uint16_t)(20000 + k), 0, 1, 1000, k < 4 };
    }
    msgpack_sbuffer sb;
    forge(&sb, 0, fs, 4);
    send_datagram(0, &sb);
    cr_log_info("heavy datagram: %zu bytes", sb.size);
    msgpack_sbuffer_destroy(&sb);
    cluster_sleep_ms(500);
    long after_datagram = rss_kib(0);
    forge(&sb, 1, fs + 4, 2000 - 4);
    cr_log_info("heavy sync: %zu bytes", sb.size);
    send_stream(0, &sb);
    msgpack_sbuffer_destroy(&sb);
    cluster_sleep_ms(500);
    long after_sync = rss_kib(0);
    uint64_t ring_points = points(0);
    cr_log_info("RSS %ld KiB, after the datagram %ld KiB, after the sync %ld KiB; %llu ring points",
                before, after_datagram, after_sync, (unsigned long long)ring_points);
    fprintf(stderr, "limits: RSS %ld KiB -> datagram %ld KiB -> sync %ld KiB, %llu ring points\n",
            before, after_datagram, after_sync, (unsigned long long)ring_points);
    cr_assert(lt(i64, after_datagram - before, 8 << 10), "the datagram grew it %ld KiB",
              after_datagram - before);
    cr_assert(lt(i64, after_sync - before, 32 << 10), "the sync grew it %ld KiB",
              after_sync - before);
    /* The node still answers, and holds the real members alive. */
    char status[16];
    uint64_t inc;
    for (int i = 1; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof(id), "n%d", i);
        cr_assert(eq(int, cluster_member(0, id, status, sizeof(status), &inc), 0));
        cr_assert(eq(str, status, "alive"));
    }
}

/* A ping-req naming a target that is not a member: the node does not probe it. */
Test(limits, a_ping_req_for_a_stranger_is_not_relayed)
{
    cluster_start(2);
    converge(2);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = { .sin_family = AF_INET };
    inet_pton(AF_INET, "127.0.0.1", &me.sin_addr);
    cr_assert(eq(int, bind(fd, (struct sockaddr *)&me, sizeof(me)), 0));
    socklen_t sl = sizeof(me);
    getsockname(fd, (struct sockaddr *)&me, &sl);
    uint16_t port = ntohs(me.sin_port);
    /* [1, ping_req, {seq: 7, from: "n9", target: "stranger", target_addr: us}] */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_uint8(&pk, 4);
    msgpack_pack_map(&pk, 4);
    msgpack_pack_uint8(&pk, 0);
    msgpack_pack_uint8(&pk, 7);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_str_with_body(&pk, "n9", 2);
    msgpack_pack_uint8(&pk, 2);
    msgpack_pack_str_with_body(&pk, "stranger", 8);
    uint8_t addr[6] = { 127, 0, 0, 1, (uint8_t)(port >> 8), (uint8_t)port };
    msgpack_pack_uint8(&pk, 3);
    msgpack_pack_bin_with_body(&pk, addr, sizeof(addr));
    send_datagram(0, &sb);
    msgpack_sbuffer_destroy(&sb);
    struct timeval tv = { .tv_sec = 1 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[2048];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    close(fd);
    cr_assert(lt(i64, (int64_t)n, 0), "ringd probed the address a stranger named (%zd bytes)", n);
}

/* ---- sub-sharding: forged group summaries ---- */

/* Node |i|'s groups() answer: how many groups it knows, and group |name|'s version and
 * whether every contact of it is one of |ids|. */
static int group_view(int i, const char *name, uint64_t *version, int *contacts_ok)
{
    struct ringc *c = cluster_connect(i);
    const msgpack_object *res;
    int n = -1;
    *version = 0;
    *contacts_ok = 0;
    if (ringc_call(c, &res, 2000, "groups", "") == 0) {
        const msgpack_object *list = ringc_get(res, "groups");
        n = list != NULL && list->type == MSGPACK_OBJECT_ARRAY ? (int)list->via.array.size : -1;
        for (int k = 0; k < n; k++) {
            char got[64];
            ringc_get_str(&list->via.array.ptr[k], "name", got, sizeof(got));
            if (strcmp(got, name) != 0) {
                continue;
            }
            *version = ringc_get_u64(&list->via.array.ptr[k], "version", 0);
            const msgpack_object *cs = ringc_get(&list->via.array.ptr[k], "contacts");
            *contacts_ok = cs != NULL && cs->via.array.size > 0;
            for (uint32_t j = 0; cs != NULL && j < cs->via.array.size; j++) {
                char id[64];
                ringc_get_str(&cs->via.array.ptr[j], "id", id, sizeof(id));
                *contacts_ok &= strcmp(id, "n2") == 0 || strcmp(id, "n3") == 0;
            }
        }
    }
    ringc_close(c);
    return n;
}

static int knows_both(void *arg)
{
    (void)arg;
    uint64_t v;
    int ok;
    for (int i = 0; i < 4; i++) {
        if (group_view(i, "b", &v, &ok) != 2 || !ok) {
            return 0;
        }
    }
    return 1;
}

/* A forged push to node 0: group b at version 2^64 - 1 with the attacker as its contact, and
 * 20 fake groups. Before, b was frozen on the attacker and every fake group took keys. */
Test(limits, forged_group_summaries_neither_freeze_a_group_nor_add_many)
{
    static char seeds[64];
    snprintf(seeds, sizeof(seeds), "127.0.0.1:%d,127.0.0.1:%d", cluster_gossip_port(0),
             cluster_gossip_port(2));
    for (int i = 0; i < 4; i++) {
        const char *args[] = { "--group", i < 2 ? "a" : "b", "--join", seeds, NULL };
        memcpy(cl.extra_args[i], args, sizeof(args));
    }
    cl.n = 4;
    for (int i = 0; i < 4; i++) {
        cluster_start_node(i, -1);
    }
    cr_assert(ge(int, cluster_wait(knows_both, NULL, 30000), 0), "no two groups in 30 s");
    uint64_t before;
    int ok;
    cr_assert(eq(int, group_view(0, "b", &before, &ok), 2));

    static struct codec_groups m;
    memset(&m, 0, sizeof(m));
    m.type = CODEC_GROUP_PUSH;
    m.seq = 1;
    memcpy(m.from, "n9", 2);
    m.from_len = 2;
    memcpy(m.group, "b", 1);
    m.group_len = 1;
    m.summary_count = 21;
    for (int k = 0; k < 21; k++) {
        struct codec_summary *s = &m.summaries[k];
        s->name_len = (uint8_t)(k == 0 ? snprintf(s->name, sizeof(s->name), "b")
                                       : snprintf(s->name, sizeof(s->name), "fake%d", k));
        s->version = k == 0 ? UINT64_MAX : 1;
        s->size = 1;
        s->ring_checksum = UINT64_MAX;
        s->contact_count = 1;
        memcpy(s->contacts[0].id, "attacker", 8);
        s->contacts[0].id_len = 8;
        s->contacts[0].addr.family = RING_ADDR_V4;
        s->contacts[0].addr.ip[0] = 127;
        s->contacts[0].addr.ip[3] = 1;
        s->contacts[0].addr.port = 9;
    }
    static uint8_t dgram[CODEC_DATAGRAM_BYTES_MAX];
    ssize_t len = codec_encode_groups(dgram, sizeof(dgram), &m);
    cr_assert(gt(i64, (int64_t)len, 0));
    msgpack_sbuffer sb = { .size = (size_t)len, .data = (char *)dgram };
    send_datagram(0, &sb);
    cluster_sleep_ms(2000);
    uint64_t after;
    int n = group_view(0, "b", &after, &ok);
    cr_assert(le(int, n, 2 + 8), "node 0 knows %d groups", n);
    cr_assert(lt(u64, after, UINT64_C(1) << 32), "b is at version %llu", (unsigned long long)after);
    cr_assert(ok, "b names a contact outside it");
}
