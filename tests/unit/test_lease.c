/* Unit tests for exclusive shard leases: the lease messages (codec_lease) and the lease state
 * machine (lease) on a small in-test network whose nodes each have their own clock (rate and
 * offset), their own view of the membership, and can be cut off, paused or killed. A checker
 * asks every node at every millisecond whether it may act on each shard (lease_check() on
 * its own clock) and counts the instants at which two may. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_vectors.h"
#include "ring/codec.h"
#include "ring/error.h"
#include "ring/hashring.h"
#include "ring/lease.h"
#include "ring/members.h"
#include "ring/shards.h"
#include "testmem.h"

static struct testmem tm;

static void setup(void)
{
    testmem_init(&tm);
}

static void teardown(void)
{
    cr_assert(eq(sz, tm.bytes, 0), "leaked %zu bytes in %zu blocks", tm.bytes, tm.blocks);
}

TestSuite(codec_lease, .init = setup, .fini = teardown);
TestSuite(lease, .init = setup, .fini = teardown, .timeout = 60);

/* ---- codec ---- */

static struct codec_lease msg_a, msg_b;
static uint8_t buf[CODEC_DATAGRAM_BYTES_MAX];

static void assert_lease_eq(const struct codec_lease *a, const struct codec_lease *b)
{
    cr_assert(eq(u8, a->type, b->type));
    cr_assert(eq(u32, a->seq, b->seq));
    ASSERT_STR_EQ(a->from, b->from);
    cr_assert(eq(u32, a->lease_ms, b->lease_ms));
    cr_assert(eq(u16, a->entry_count, b->entry_count));
    for (int i = 0; i < a->entry_count; i++) {
        cr_assert(eq(u32, a->entries[i].shard, b->entries[i].shard));
        cr_assert(eq(u64, a->entries[i].epoch, b->entries[i].epoch));
        cr_assert(eq(u64, a->entries[i].extra, b->entries[i].extra));
    }
}

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    for (const char *p = hex; p[0] != '\0' && p[1] != '\0'; p += 2) {
        unsigned v;
        cr_assert(eq(int, sscanf(p, "%2x", &v), 1));
        out[n++] = (uint8_t)v;
    }
    return n;
}

static size_t read_vector(const char *name, uint8_t *out)
{
    char path[512], hex[8192];
    snprintf(path, sizeof(path), "%s/proto/vectors/codec/%s.hex", RING_SOURCE_DIR, name);
    FILE *f = fopen(path, "r");
    cr_assert(ne(ptr, f, NULL), "missing %s", path);
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF && n + 1 < sizeof(hex)) {
        if (c != '\n' && c != ' ') {
            hex[n++] = (char)c;
        }
    }
    hex[n] = '\0';
    fclose(f);
    return unhex(hex, out);
}

Test(codec_lease, known_answer_vectors_decode_and_encode_byte_for_byte)
{
    static uint8_t want[4096];
    for (size_t i = 0; i < RING_ARRAY_LEN(vec_lease_names); i++) {
        const char *name = vec_lease_names[i];
        size_t n = read_vector(name, want);
        cr_assert(eq(int, vec_lease(name, &msg_a), 1));
        cr_assert(eq(int, codec_decode_lease(want, n, &msg_b), 0), "%s", name);
        assert_lease_eq(&msg_a, &msg_b);
        ssize_t got = codec_encode_lease(buf, sizeof(buf), &msg_a);
        cr_assert(eq(sz, (size_t)got, n), "%s", name);
        cr_assert(eq(int, memcmp(buf, want, n), 0), "%s differs from its vector", name);
        cr_assert(eq(int, codec_peek_type(want, n), msg_a.type));
        cr_assert(eq(int, codec_is_lease_type(msg_a.type), 1));
        /* swim's and the group exchange's decoders refuse it. */
        static struct codec_msg other;
        cr_assert(eq(int, codec_decode(want, n, &other), RING_EPROTO));
    }
}

Test(codec_lease, sizes_are_exact)
{
    uint64_t seed = 7;
    for (int round = 0; round < 200; round++) {
        memset(&msg_a, 0, sizeof(msg_a));
        msg_a.type = (uint8_t)(CODEC_LEASE_REQ + test_rand(&seed) % 3);
        msg_a.seq = (uint32_t)test_rand(&seed) >> (test_rand(&seed) % 32);
        msg_a.from_len = (uint8_t)(1 + test_rand(&seed) % MEMBER_ID_BYTES_MAX);
        memset(msg_a.from, 'x', msg_a.from_len);
        msg_a.lease_ms = msg_a.type == CODEC_LEASE_REQ ? 1 + test_rand(&seed) % 600000 : 0;
        msg_a.entry_count = (uint16_t)(test_rand(&seed) % 40);
        for (int i = 0; i < msg_a.entry_count; i++) {
            struct codec_lease_entry *e = &msg_a.entries[i];
            e->shard = (uint32_t)(test_rand(&seed) % 65536);
            e->epoch = 1 + (test_rand(&seed) >> (test_rand(&seed) % 64));
            e->extra = msg_a.type == CODEC_LEASE_ACK   ? test_rand(&seed) % 5
                       : msg_a.type == CODEC_LEASE_REQ ? test_rand(&seed) >> 40
                                                       : 0;
        }
        size_t want = codec_lease_header_size(&msg_a);
        for (int i = 0; i < msg_a.entry_count; i++) {
            want += codec_lease_entry_size(&msg_a.entries[i]);
        }
        ssize_t n = codec_encode_lease(buf, sizeof(buf), &msg_a);
        cr_assert(eq(sz, (size_t)n, want));
        cr_assert(eq(int, codec_decode_lease(buf, (size_t)n, &msg_b), 0));
        assert_lease_eq(&msg_a, &msg_b);
        cr_assert(eq(long, (long)codec_encode_lease(buf, (size_t)n - 1, &msg_a), RING_EMSGSIZE));
    }
}

Test(codec_lease, encode_refuses_what_decode_would)
{
    vec_lease("lease_req", &msg_a);
    msg_a.lease_ms = 0;
    cr_assert(eq(long, (long)codec_encode_lease(buf, sizeof(buf), &msg_a), RING_EINVAL));
    vec_lease("lease_req", &msg_a);
    msg_a.entries[1].epoch = 0;
    cr_assert(eq(long, (long)codec_encode_lease(buf, sizeof(buf), &msg_a), RING_EINVAL));
    vec_lease("lease_ack", &msg_a);
    msg_a.entries[0].extra = CODEC_LEASE_RESULT_MAX + 1;
    cr_assert(eq(long, (long)codec_encode_lease(buf, sizeof(buf), &msg_a), RING_EINVAL));
    vec_lease("lease_release", &msg_a);
    msg_a.entries[0].extra = 2;
    cr_assert(eq(long, (long)codec_encode_lease(buf, sizeof(buf), &msg_a), RING_EINVAL));
    vec_lease("lease_req", &msg_a);
    msg_a.entries[0].shard = 65536;
    cr_assert(eq(long, (long)codec_encode_lease(buf, sizeof(buf), &msg_a), RING_EINVAL));
    vec_lease("lease_req", &msg_a);
    msg_a.from_len = 0;
    cr_assert(eq(long, (long)codec_encode_lease(buf, sizeof(buf), &msg_a), RING_EINVAL));
    vec_lease("lease_req", &msg_a);
    msg_a.entry_count = CODEC_LEASE_ENTRIES_MAX + 1;
    cr_assert(eq(long, (long)codec_encode_lease(buf, sizeof(buf), &msg_a), RING_EINVAL));
}

/* Every malformed message, with the one error it must give (PROTOCOL.md section 7). */
static const struct {
    const char *hex;
    int err;
    const char *why;
} bad_cases[] = {
    { "9301088400cd300101a66e6f64652d610dcd0bb80e939307040093cd012c0908", RING_ETRUNC,
      "cut inside the entries" },
    { "93010883000101a1610e91930100", RING_ETRUNC, "cut inside an entry" },
    { "930208830000", RING_EVERSION, "version 2" },
    { "93010b83000001a1610e90", RING_EPROTO, "type 11 (unknown)" },
    { "93010a83000001610e90", RING_ETYPE, "from is not a string" },
    { "93010a83000001a1610e919301010000", RING_EPROTO, "trailing bytes" },
    { "93010a82000001a161", RING_EPROTO, "entries missing" },
    { "93010882000001a1610e90", RING_EPROTO, "request without lease_ms" },
    { "930108840000"
      "01a0"
      "0dcd0bb8"
      "0e90",
      RING_EPROTO, "request with empty from" },
    { "93010884000001a1610d000e90", RING_EPROTO, "lease_ms 0" },
    { "930108840000a1610dce000927c10e90", RING_ETYPE, "from key value swapped" },
    { "93010884000001a1610dce000927c10e90", RING_EPROTO, "lease_ms over 600000" },
    { "93010a83000001a1610e9192cd012c08", RING_EPROTO, "an entry of 2 items" },
    { "93010a83000001a1610e9194cd012c080000", RING_E2BIG, "an entry of 4 items" },
    { "93010a83000001a1610e9193ce0001000008 00", RING_EPROTO, "shard 65536" },
    { "93010a83000001a1610e9193cd012c0001", RING_EPROTO, "release of epoch 0" },
    { "93010a83000001a1610e9193cd012c0802", RING_EPROTO, "release with extra 2" },
    { "93010983000001a1610e9193070105", RING_EPROTO, "ack result 5" },
    { "93010983000001a1610e9193070101ff", RING_EPROTO, "ack with a trailing byte" },
    { "93010983000001a1610e91930701a0", RING_ETYPE, "ack result is a string" },
    { "93010983000001a1610edd000003e801", RING_ETRUNC, "array32 of 1,000 entries, 1 byte" },
    { "93010983000001a1610edc0401", RING_E2BIG, "1025 entries" },
    { "93010983000001a1610e91d0ff0101", RING_ETYPE, "an entry that is an int" },
    { "93010983000001a1610e9193ff0101", RING_EPROTO, "a negative shard" },
    { "93010984000001a1610e90", RING_ETRUNC, "map of 4 keys with 3" },
    { "93010983000001a1610101", RING_EPROTO, "from twice" },
    { "93010983c10001a1610e90", RING_EPROTO, "0xc1 as a key" },
};

/* Strips spaces from a hex literal. */
static size_t unhex_spaced(const char *hex, uint8_t *out)
{
    char clean[512];
    size_t k = 0;
    for (const char *p = hex; *p != '\0' && k + 1 < sizeof(clean); p++) {
        if (*p != ' ') {
            clean[k++] = *p;
        }
    }
    clean[k] = '\0';
    return unhex(clean, out);
}

Test(codec_lease, malformed_inputs_give_their_specific_error)
{
    static uint8_t in[1024];
    for (size_t i = 0; i < RING_ARRAY_LEN(bad_cases); i++) {
        size_t n = unhex_spaced(bad_cases[i].hex, in);
        int rv = codec_decode_lease(in, n, &msg_b);
        cr_assert(eq(int, rv, bad_cases[i].err), "%s: got %s, want %s", bad_cases[i].why,
                  ring_err_name(rv), ring_err_name(bad_cases[i].err));
    }
}

Test(codec_lease, every_truncation_is_etrunc)
{
    static uint8_t want[4096];
    for (size_t v = 0; v < RING_ARRAY_LEN(vec_lease_names); v++) {
        size_t n = read_vector(vec_lease_names[v], want);
        for (size_t cut = 0; cut < n; cut++) {
            cr_assert(eq(int, codec_decode_lease(want, cut, &msg_b), RING_ETRUNC), "%s cut at %zu",
                      vec_lease_names[v], cut);
        }
    }
}

Test(codec_lease, unknown_keys_are_skipped)
{
    /* The release vector with key 20 = [1, {}] added before entries. */
    static uint8_t in[256];
    size_t n = unhex("93010a84000001a66e6f64652d6114920180"
                     "0e9193cd012c0800",
                     in);
    cr_assert(eq(int, codec_decode_lease(in, n, &msg_b), 0));
    cr_assert(eq(u16, msg_b.entry_count, 1));
    cr_assert(eq(u32, msg_b.entries[0].shard, 300));
}

/* ---- the lease network ---- */

#define NODES_MAX  6
#define SHARDS     32
#define LATENCY_MS 1
#define QUEUE_MAX  20000

struct tnode {
    struct lease *l;
    char id[16];
    struct ring_addr addr;
    int up;
    int paused;
    int no_release; /* the app does not release RELEASING shards */
    double rate;    /* local = offset + rate x real */
    uint64_t offset_ms;
    struct members *t;
    struct hashring *ring;
    /* What it reported. */
    uint32_t acquired, released_events, lost_events, releasing_events;
    uint64_t last_epoch[SHARDS];
};

struct tmsg {
    uint64_t at;
    int from, to;
    size_t len;
    uint8_t *data;
};

static struct {
    struct tnode n[NODES_MAX];
    int count;
    uint64_t now; /* real ms */
    struct tmsg q[QUEUE_MAX];
    size_t qlen;
    uint8_t cut[NODES_MAX][NODES_MAX]; /* datagrams from -> to dropped */
    uint64_t overlaps;
    uint64_t first_overlap_ms;
    uint32_t epochs_not_increasing;
    uint64_t epoch_seen[SHARDS]; /* the highest epoch any node acquired */
    uint64_t held_since[SHARDS]; /* real ms a holder last started, for gaps */
    uint64_t unheld_from[SHARDS];
    uint64_t gap_max_ms;
} net;

static uint64_t local_ms(int i)
{
    const struct tnode *nd = &net.n[i];
    return nd->offset_ms + (uint64_t)floor((double)net.now * nd->rate);
}

static void node_addr(int i, struct ring_addr *a)
{
    memset(a, 0, sizeof(*a));
    a->family = RING_ADDR_V4;
    a->ip[0] = 10;
    a->ip[3] = (uint8_t)(i + 1);
    a->port = 7946;
}

static int node_of(const struct ring_addr *a)
{
    for (int i = 0; i < net.count; i++) {
        if (ring_addr_equal(a, &net.n[i].addr)) {
            return i;
        }
    }
    return -1;
}

static void start_node(int i)
{
    struct tnode *nd = &net.n[i];
    struct lease_config c = {
        .id = nd->id, .id_len = strlen(nd->id), .shards = SHARDS, .seed = (uint64_t)i + 1
    };
    cr_assert(eq(int, lease_new(&nd->l, &c, &tm.mem, local_ms(i)), 0));
    nd->up = 1;
}

static void net_init(int count)
{
    memset(&net, 0, sizeof(net));
    net.count = count;
    for (int i = 0; i < count; i++) {
        struct tnode *nd = &net.n[i];
        snprintf(nd->id, sizeof(nd->id), "n%d", i);
        node_addr(i, &nd->addr);
        nd->rate = 1.0;
        nd->offset_ms = 1000000 * (uint64_t)(i + 1); /* monotonic clocks start anywhere */
        start_node(i);
    }
}

/* Node |i|'s view: statuses[j] is 'a' alive, 's' suspect, 'f' faulty, 'l' left, '-' unknown. */
static void view(int i, const char *statuses)
{
    struct tnode *nd = &net.n[i];
    members_del(nd->t);
    hashring_del(nd->ring);
    cr_assert(eq(int, members_new(&nd->t, 0, &tm.mem), 0));
    struct hashring_member hm[NODES_MAX];
    size_t k = 0;
    for (int j = 0; statuses[j] != '\0'; j++) {
        const char *st = strchr("asfl", statuses[j]);
        if (st == NULL) {
            continue;
        }
        struct member m;
        memset(&m, 0, sizeof(m));
        member_set_id(&m, net.n[j].id, strlen(net.n[j].id));
        m.addr = net.n[j].addr;
        m.incarnation = 1;
        m.weight = 1;
        m.status = (uint8_t)(st - "asfl");
        cr_assert(eq(int, members_put(nd->t, &m), 0));
        if (m.status <= MEMBER_SUSPECT) {
            hm[k++] = (struct hashring_member){ net.n[j].id, strlen(net.n[j].id), 1 };
        }
    }
    cr_assert(eq(int, hashring_new(&nd->ring, hm, k, NULL, &tm.mem), 0));
    if (nd->up) {
        cr_assert(eq(int, lease_update(nd->l, nd->t, nd->ring, local_ms(i)), 0));
    }
}

static void view_all(const char *statuses)
{
    for (int i = 0; i < net.count; i++) {
        view(i, statuses);
    }
}

/* The ring owner of |shard| among the alive/suspect nodes of |statuses|. */
static int ring_owner(const char *statuses, uint32_t shard)
{
    struct hashring_member hm[NODES_MAX];
    int idx[NODES_MAX];
    size_t k = 0;
    for (int j = 0; statuses[j] != '\0'; j++) {
        if (statuses[j] == 'a' || statuses[j] == 's') {
            idx[k] = j;
            hm[k++] = (struct hashring_member){ net.n[j].id, strlen(net.n[j].id), 1 };
        }
    }
    struct hashring *r = NULL;
    cr_assert(eq(int, hashring_new(&r, hm, k, NULL, &tm.mem), 0));
    char key[SHARDS_KEY_BYTES_MAX + 1];
    uint32_t o;
    cr_assert(eq(int, hashring_lookup(r, key, shards_key(shard, key), &o), 0));
    hashring_del(r);
    return idx[o];
}

static void kill_node(int i)
{
    lease_del(net.n[i].l);
    net.n[i].l = NULL;
    net.n[i].up = 0;
}

static void net_free(void)
{
    for (int i = 0; i < net.count; i++) {
        lease_del(net.n[i].l);
        members_del(net.n[i].t);
        hashring_del(net.n[i].ring);
    }
    for (size_t k = 0; k < net.qlen; k++) {
        free(net.q[k].data);
    }
    memset(&net, 0, sizeof(net));
}

static void on_event(int i, const struct lease_event *ev)
{
    struct tnode *nd = &net.n[i];
    cr_assert(lt(u32, ev->shard, SHARDS));
    if (ev->state == LEASE_HELD && ev->prev != LEASE_HELD && ev->prev != LEASE_RELEASING) {
        nd->acquired++;
        if (ev->epoch <= net.epoch_seen[ev->shard]) {
            net.epochs_not_increasing++;
        }
        net.epoch_seen[ev->shard] = ev->epoch;
        if (net.unheld_from[ev->shard] != 0) {
            uint64_t gap = net.now - net.unheld_from[ev->shard];
            net.gap_max_ms = gap > net.gap_max_ms ? gap : net.gap_max_ms;
        }
        net.unheld_from[ev->shard] = 0;
    }
    if (ev->state == LEASE_RELEASING && ev->prev == LEASE_HELD) {
        nd->releasing_events++;
        if (!nd->no_release) {
            cr_assert(eq(int, lease_release(nd->l, ev->shard, local_ms(i)), 0));
            net.unheld_from[ev->shard] = net.now;
        }
    }
    if (ev->state == LEASE_NONE && (ev->prev == LEASE_HELD || ev->prev == LEASE_RELEASING)) {
        nd->released_events++;
    }
    if (ev->state == LEASE_LOST) {
        nd->lost_events++;
    }
    nd->last_epoch[ev->shard] = ev->epoch;
}

static void drain(int i)
{
    struct tnode *nd = &net.n[i];
    uint8_t out[1400];
    struct ring_addr to;
    ssize_t n;
    struct lease_event ev;
    for (;;) {
        int any = 0;
        while ((n = lease_send_next(nd->l, &to, out, sizeof(out), local_ms(i))) > 0) {
            int j = node_of(&to);
            cr_assert(ge(int, j, 0));
            cr_assert(lt(sz, net.qlen, (size_t)QUEUE_MAX));
            if (!net.cut[i][j]) {
                struct tmsg *m = &net.q[net.qlen++];
                m->at = net.now + LATENCY_MS;
                m->from = i;
                m->to = j;
                m->len = (size_t)n;
                m->data = malloc((size_t)n);
                memcpy(m->data, out, (size_t)n);
            }
            any = 1;
        }
        cr_assert(eq(long, (long)n, 0));
        while (lease_next_event(nd->l, &ev) == 1) {
            on_event(i, &ev);
            any = 1;
        }
        if (!any) {
            break;
        }
    }
}

static int runs(int i)
{
    return net.n[i].up && !net.n[i].paused;
}

static void deliver_due(void)
{
    size_t keep = 0;
    for (size_t k = 0; k < net.qlen; k++) {
        struct tmsg *m = &net.q[k];
        if (m->at > net.now || (net.n[m->to].up && net.n[m->to].paused)) {
            net.q[keep++] = *m; /* later, or waiting in a paused node's socket buffer */
            continue;
        }
        if (net.n[m->to].up) {
            (void)lease_recv(net.n[m->to].l, &net.n[m->from].addr, m->data, m->len,
                             local_ms(m->to));
            drain(m->to);
        }
        free(m->data);
    }
    net.qlen = keep;
}

/* Every node that may act on |shard| now, by its own clock: at most one. */
static void check_overlaps(void)
{
    for (uint32_t s = 0; s < SHARDS; s++) {
        int holders = 0;
        for (int i = 0; i < net.count; i++) {
            holders += net.n[i].up && lease_check(net.n[i].l, s, local_ms(i), NULL);
        }
        if (holders > 1 && net.overlaps++ == 0) {
            net.first_overlap_ms = net.now;
        }
    }
}

/* Runs the network for |ms| real milliseconds, one millisecond at a time. */
static void run_ms(uint64_t ms)
{
    for (uint64_t end = net.now + ms; net.now < end;) {
        net.now++;
        deliver_due();
        for (int i = 0; i < net.count; i++) {
            if (runs(i) && lease_next_deadline(net.n[i].l) <= local_ms(i)) {
                cr_assert(eq(int, lease_tick(net.n[i].l, local_ms(i)), 0));
            }
            if (runs(i)) {
                drain(i);
            }
        }
        check_overlaps();
    }
}

static void cut_off(int i, int on)
{
    for (int j = 0; j < net.count; j++) {
        net.cut[i][j] = net.cut[j][i] = (uint8_t)(on && i != j);
    }
}

static int holder_of(uint32_t shard)
{
    int h = -1;
    for (int i = 0; i < net.count; i++) {
        if (net.n[i].up && lease_check(net.n[i].l, shard, local_ms(i), NULL)) {
            h = i;
        }
    }
    return h;
}

static uint32_t held_by(int i)
{
    uint32_t n = 0;
    for (uint32_t s = 0; s < SHARDS; s++) {
        n += lease_check(net.n[i].l, s, local_ms(i), NULL);
    }
    return n;
}

/* ---- the state machine ---- */

Test(lease, a_single_node_acquires_every_shard_after_one_lease)
{
    net_init(1);
    view(0, "a");
    struct lease_shard_info info;
    cr_assert(eq(int, lease_get(net.n[0].l, 5, local_ms(0), &info), 0));
    cr_assert(eq(u8, info.state, LEASE_ACQUIRING));
    run_ms(3000);
    cr_assert(eq(u32, held_by(0), 0), "claims before a restarted acceptor may vote");
    run_ms(100); /* ready at lease_ms + 1% */
    cr_assert(eq(u32, held_by(0), SHARDS));
    for (uint32_t s = 0; s < SHARDS; s++) {
        uint64_t epoch = 0;
        cr_assert(eq(int, lease_check(net.n[0].l, s, local_ms(0), &epoch), 1));
        cr_assert(eq(u64, epoch, 1));
    }
    run_ms(20000); /* renewed alone: a majority of one */
    cr_assert(eq(u32, held_by(0), SHARDS));
    cr_assert(eq(u32, net.n[0].lost_events, 0));
    cr_assert(eq(u32, lease_check(net.n[0].l, SHARDS, local_ms(0), NULL), 0));
    net_free();
}

Test(lease, three_nodes_hold_each_shard_once_at_its_ring_owner)
{
    net_init(3);
    view_all("aaa");
    run_ms(3200);
    for (uint32_t s = 0; s < SHARDS; s++) {
        cr_assert(eq(int, holder_of(s), ring_owner("aaa", s)), "shard %u", s);
        cr_assert(eq(u64, net.epoch_seen[s], 1));
    }
    run_ms(30000);
    for (uint32_t s = 0; s < SHARDS; s++) {
        cr_assert(eq(int, holder_of(s), ring_owner("aaa", s)), "shard %u", s);
    }
    cr_assert(eq(u64, net.overlaps, 0));
    for (int i = 0; i < 3; i++) {
        cr_assert(eq(u32, net.n[i].lost_events, 0));
        cr_assert(gt(u64, lease_stats(net.n[i].l)->renewals, 0));
    }
    net_free();
}

/* A node cut off from the others stops at its own lease's end; the others take its shards
 * only after their promises to it ran out, with the next epoch. */
Test(lease, a_minority_stops_at_its_expiry_and_the_majority_takes_over)
{
    net_init(3);
    view_all("aaa");
    run_ms(5000);
    uint32_t mine = held_by(2);
    cr_assert(gt(u32, mine, 0));
    cut_off(2, 1);
    uint64_t cut_at = net.now;
    run_ms(1500); /* the others' failure detector: node 2 faulty; node 2: both others */
    view(0, "aaf");
    view(1, "aaf");
    view(2, "ffa");
    uint64_t stopped = 0;
    while (held_by(2) > 0) {
        run_ms(1);
    }
    stopped = net.now;
    cr_assert(le(u64, stopped - cut_at, 3000), "held %llu ms after the cut",
              (unsigned long long)(stopped - cut_at));
    cr_assert(eq(u32, net.n[2].lost_events, mine));
    run_ms(4000);
    for (uint32_t s = 0; s < SHARDS; s++) {
        int h = holder_of(s);
        cr_assert(eq(int, h, ring_owner("aaf", s)), "shard %u held by %d", s, h);
    }
    cr_assert(eq(u32, held_by(2), 0), "a minority acquired");
    cr_assert(eq(u64, net.overlaps, 0), "overlap at %llu ms",
              (unsigned long long)net.first_overlap_ms);
    cr_assert(eq(u32, net.epochs_not_increasing, 0));
    /* Node 2 keeps wanting its shards (its ring says so) and stays LOST. */
    struct lease_shard_info info;
    for (uint32_t s = 0; s < SHARDS; s++) {
        cr_assert(eq(int, lease_get(net.n[2].l, s, local_ms(2), &info), 0));
        cr_assert(ne(u8, info.state, LEASE_HELD));
    }
    /* Healed: node 2 is back in every view and gets its shards by hand-off. */
    cut_off(2, 0);
    view_all("aaa");
    run_ms(3000);
    for (uint32_t s = 0; s < SHARDS; s++) {
        cr_assert(eq(int, holder_of(s), ring_owner("aaa", s)), "shard %u after the heal", s);
    }
    cr_assert(eq(u64, net.overlaps, 0));
    cr_assert(eq(u32, net.epochs_not_increasing, 0));
    net_free();
}

Test(lease, equal_halves_the_side_with_the_lowest_id_wins)
{
    net_init(4);
    view_all("aaaa");
    run_ms(5000);
    for (int i = 0; i < 2; i++) {
        for (int j = 2; j < 4; j++) {
            net.cut[i][j] = net.cut[j][i] = 1;
        }
    }
    run_ms(1000);
    view(0, "aaff");
    view(1, "aaff");
    view(2, "ffaa");
    view(3, "ffaa");
    run_ms(6000);
    cr_assert(eq(u32, held_by(0) + held_by(1), SHARDS), "the side holding n0 serves everything");
    cr_assert(eq(u32, held_by(2) + held_by(3), 0), "the other side serves nothing");
    cr_assert(eq(u64, net.overlaps, 0));
    net_free();
}

/* One-way cut: n0's datagrams to the others are lost, theirs to n0 arrive. n0 cannot hear
 * their acks, so it loses its leases; the others (3 of 4, a majority) take them. */
Test(lease, a_one_way_cut_leaves_one_holder_per_shard)
{
    net_init(4);
    view_all("aaaa");
    run_ms(5000);
    for (int j = 1; j < 4; j++) {
        net.cut[0][j] = 1;
    }
    run_ms(1000);
    view(0, "afff");
    for (int i = 1; i < 4; i++) {
        view(i, "faaa");
    }
    run_ms(6000);
    cr_assert(eq(u32, held_by(0), 0));
    cr_assert(eq(u32, held_by(1) + held_by(2) + held_by(3), SHARDS));
    cr_assert(eq(u64, net.overlaps, 0));
    net_free();
}

/* A join: each shard that moves goes RELEASING at its old owner, the app releases it, and
 * the new owner holds it with the next epoch within a couple of round trips. */
Test(lease, a_join_hands_off_with_the_next_epoch_and_a_short_gap)
{
    net_init(4);
    net.n[3].up = 0;
    lease_del(net.n[3].l);
    net.n[3].l = NULL;
    view_all("aaa-");
    run_ms(5000);
    uint32_t moving = 0;
    for (uint32_t s = 0; s < SHARDS; s++) {
        moving += ring_owner("aaaa", s) == 3;
    }
    cr_assert(gt(u32, moving, 0));
    start_node(3);
    view(3, "aaaa");
    run_ms(4000); /* its acceptor waits a lease; its claims with it */
    view(0, "aaaa");
    run_ms(200);
    view(1, "aaaa");
    view(2, "aaaa");
    run_ms(1000);
    for (uint32_t s = 0; s < SHARDS; s++) {
        cr_assert(eq(int, holder_of(s), ring_owner("aaaa", s)), "shard %u", s);
    }
    cr_assert(eq(u32, net.n[3].acquired, moving));
    uint64_t handoffs = lease_stats(net.n[3].l)->handoffs;
    cr_assert(eq(u64, handoffs, moving), "every move was a hand-off");
    /* A release, a claim and its acks (1 ms each), and a round may wait 10 ms after the
     * previous one. */
    cr_assert(le(u64, net.gap_max_ms, 15), "a shard had no holder for %llu ms",
              (unsigned long long)net.gap_max_ms);
    for (uint32_t s = 0; s < SHARDS; s++) {
        if (ring_owner("aaaa", s) == 3) {
            cr_assert(ge(u64, net.n[3].last_epoch[s], 2)); /* 3 after a bump */
        }
    }
    cr_assert(eq(u64, net.overlaps, 0));
    cr_assert(eq(u32, net.epochs_not_increasing, 0));
    net_free();
}

/* An app releases shards its node still owns by the ring, again and again (ringd's
 * release(), any time): the shard goes to the next node and comes back, and no two nodes
 * may ever hold it at once, nor an epoch be held twice. */
Test(lease, releases_of_ring_owned_shards_never_overlap)
{
    net_init(3);
    view_all("aaa");
    run_ms(3200);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 400; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint32_t s = (uint32_t)(x % SHARDS);
        int h = holder_of(s);
        if (h >= 0) {
            (void)lease_release(net.n[h].l, s, local_ms(h));
        }
        /* now and then a node misses a few datagrams, so claims fail and epochs move on */
        int cut = (x >> 20) % 8 == 0 ? (int)((x >> 24) % 3) : -1;
        if (cut >= 0) {
            cut_off(cut, 1);
        }
        run_ms(20 + (x >> 40) % 200);
        if (cut >= 0) {
            cut_off(cut, 0);
        }
    }
    run_ms(5000);
    cr_assert(eq(u64, net.overlaps, 0), "two holders at once, first at %llu ms",
              (unsigned long long)net.first_overlap_ms);
    cr_assert(eq(u32, net.epochs_not_increasing, 0), "an epoch was held twice");
    for (uint32_t s = 0; s < SHARDS; s++) {
        cr_assert(eq(int, holder_of(s), ring_owner("aaa", s)), "shard %u", s);
    }
    net_free();
}

Test(lease, a_leaving_node_hands_everything_to_the_next_owner)
{
    net_init(4);
    view_all("aaaa");
    run_ms(5000);
    uint32_t had = held_by(1);
    cr_assert(gt(u32, had, 0));
    cr_assert(eq(int, lease_drained(net.n[1].l), 0));
    cr_assert(eq(int, lease_leave(net.n[1].l, local_ms(1)), 0));
    view(1, "alaa");
    run_ms(20); /* the others have not heard of the leave yet */
    cr_assert(eq(int, lease_drained(net.n[1].l), 1));
    cr_assert(eq(u32, held_by(0) + held_by(2) + held_by(3), SHARDS));
    cr_assert(le(u64, net.gap_max_ms, 10));
    view(0, "alaa");
    view(2, "alaa");
    view(3, "alaa");
    kill_node(1);
    run_ms(5000);
    for (uint32_t s = 0; s < SHARDS; s++) {
        cr_assert(eq(int, holder_of(s), ring_owner("alaa", s)), "shard %u", s);
    }
    cr_assert(eq(u64, net.overlaps, 0));
    net_free();
}

/* The old owner's app never releases: after release_timeout_ms it stops renewing, the
 * lease lapses, and the new owner gets the shard once the promises ran out. */
Test(lease, a_release_that_never_comes_lapses_after_the_bound)
{
    net_init(3);
    view_all("aa-");
    kill_node(2);
    run_ms(5000);
    net.n[0].no_release = 1;
    net.n[1].no_release = 1;
    start_node(2);
    view_all("aaa");
    run_ms(8000);
    uint32_t moving = 0;
    for (uint32_t s = 0; s < SHARDS; s++) {
        moving += ring_owner("aaa", s) == 2;
    }
    cr_assert(eq(u32, held_by(2), 0), "acquired while the old owner still held");
    cr_assert(eq(u32, net.n[0].releasing_events + net.n[1].releasing_events, moving));
    run_ms(10000); /* 10 s releasing + up to 3 s of lease + 3.03 s of promise */
    cr_assert(eq(u32, held_by(2), moving));
    cr_assert(eq(u64, lease_stats(net.n[0].l)->lapsed + lease_stats(net.n[1].l)->lapsed, moving));
    cr_assert(eq(u64, net.overlaps, 0));
    net_free();
}

/* A holder frozen past its lease (SIGSTOP, a long GC) must not act when it resumes, even
 * before its first tick, and stale acks waiting in its socket buffer must not revive it. */
Test(lease, a_paused_holder_does_not_act_on_a_stale_lease)
{
    net_init(3);
    view_all("aaa");
    run_ms(5000);
    uint32_t had = held_by(0);
    cr_assert(gt(u32, had, 0));
    net.n[0].paused = 1;
    run_ms(2000);
    view(1, "faa");
    view(2, "faa");
    run_ms(8000);
    cr_assert(eq(u32, held_by(1) + held_by(2), SHARDS));
    cr_assert(eq(u32, held_by(0), 0), "the paused node still counts as a holder");
    net.n[0].paused = 0;
    run_ms(1);
    cr_assert(eq(u32, held_by(0), 0));
    cr_assert(eq(u32, net.n[0].lost_events, had));
    cr_assert(eq(u64, net.overlaps, 0));
    net_free();
}

/* Clocks drifting within the bound, in the worst direction: the cut-off holder's clock
 * slow, the acceptors' fast. Its lease still ends before any promise to it does. */
Test(lease, drift_within_the_bound_never_overlaps)
{
    net_init(3);
    net.n[2].rate = 1.0 - 0.0099;
    net.n[0].rate = 1.0 + 0.0099;
    net.n[1].rate = 1.0 + 0.0099;
    view_all("aaa");
    run_ms(5000);
    cut_off(2, 1);
    view(0, "aaf");
    view(1, "aaf");
    view(2, "ffa");
    run_ms(8000);
    cr_assert(eq(u32, held_by(0) + held_by(1), SHARDS));
    cr_assert(eq(u64, net.overlaps, 0));
    net_free();
}

/* ... and past the bound the same run overlaps: the checker (and the bound) are real. */
Test(lease, drift_past_the_bound_can_overlap)
{
    net_init(3);
    net.n[2].rate = 1.0 - 0.05;
    net.n[0].rate = 1.0 + 0.05;
    net.n[1].rate = 1.0 + 0.05;
    view_all("aaa");
    run_ms(5000);
    cut_off(2, 1);
    view(0, "aaf");
    view(1, "aaf");
    view(2, "ffa");
    run_ms(8000);
    cr_assert(gt(u64, net.overlaps, 0));
    net_free();
}

/* Raw requests against one acceptor: the promise's length on its clock, the epoch rule,
 * certs, unknown claimants, and a new acceptor's silence. */
static int ask(struct lease *l, uint64_t now, const char *from, uint32_t shard, uint64_t epoch,
               uint64_t cert, uint64_t *acceptor_epoch)
{
    static struct codec_lease req, ack;
    static uint8_t out[1400];
    memset(&req, 0, sizeof(req));
    req.type = CODEC_LEASE_REQ;
    req.seq = 1u << 12;
    req.from_len = (uint8_t)strlen(from);
    memcpy(req.from, from, req.from_len + 1);
    req.lease_ms = 3000;
    req.entry_count = 1;
    req.entries[0] = (struct codec_lease_entry){ shard, epoch, cert };
    ssize_t n = codec_encode_lease(out, sizeof(out), &req);
    cr_assert(gt(long, (long)n, 0));
    struct ring_addr a;
    node_addr(5, &a);
    cr_assert(eq(int, lease_recv(l, &a, out, (size_t)n, now), 0));
    struct ring_addr to;
    n = lease_send_next(l, &to, out, sizeof(out), now);
    cr_assert(gt(long, (long)n, 0));
    cr_assert(eq(int, codec_decode_lease(out, (size_t)n, &ack), 0));
    cr_assert(eq(u8, ack.type, CODEC_LEASE_ACK));
    cr_assert(eq(u32, ack.seq, req.seq));
    cr_assert(eq(u16, ack.entry_count, 1));
    while (lease_send_next(l, &to, out, sizeof(out), now) > 0) {
    }
    if (acceptor_epoch != NULL) {
        *acceptor_epoch = ack.entries[0].epoch;
    }
    return (int)ack.entries[0].extra;
}

Test(lease, the_acceptor_promises_one_holder_for_lease_plus_drift)
{
    net_init(4);
    view(0, "aaaa");
    struct lease *l = net.n[0].l;
    uint64_t t = local_ms(0);
    /* New: votes for nobody for 3,031 ms (lease + 1% + 1 ms of clock granularity), but
     * learns. */
    cr_assert(eq(int, ask(l, t + 100, "n1", 9, 1, 0, NULL), CODEC_LEASE_NOT_READY));
    t += 3031;
    cr_assert(eq(int, ask(l, t, "n2", 9, 1, 0, NULL), CODEC_LEASE_HELD), "learned n1's claim");
    cr_assert(eq(int, ask(l, t, "n1", 9, 1, 0, NULL), CODEC_LEASE_GRANTED), "a renewal");
    uint64_t promised = t + 3031;
    cr_assert(eq(int, ask(l, promised - 1, "n2", 9, 2, 0, NULL), CODEC_LEASE_HELD));
    uint64_t e = 0;
    cr_assert(eq(int, ask(l, promised, "n2", 9, 1, 0, &e), CODEC_LEASE_STALE));
    cr_assert(eq(u64, e, 1));
    cr_assert(eq(int, ask(l, promised, "n2", 9, 2, 0, NULL), CODEC_LEASE_GRANTED));
    /* n2 holds epoch 2 here; n3 brings n2's release of epoch 2 and claims 3. */
    cr_assert(eq(int, ask(l, promised + 10, "n3", 9, 3, 0, NULL), CODEC_LEASE_HELD));
    cr_assert(eq(int, ask(l, promised + 10, "n3", 9, 3, 2, &e), CODEC_LEASE_GRANTED));
    cr_assert(eq(u64, e, 3));
    /* Not a member here (never heard of, or left): refused; a faulty one may claim. */
    cr_assert(eq(int, ask(l, promised + 10, "stranger", 10, 1, 0, NULL), CODEC_LEASE_UNKNOWN));
    view(0, "aaaf");
    cr_assert(eq(int, ask(l, promised + 10, "n3", 11, 1, 0, NULL), CODEC_LEASE_GRANTED));
    view(0, "aaal");
    cr_assert(eq(int, ask(l, promised + 10, "n3", 12, 1, 0, NULL), CODEC_LEASE_UNKNOWN));
    /* Leaving: votes for nobody, renewals included. */
    cr_assert(eq(int, lease_leave(l, promised + 10), 0));
    cr_assert(eq(int, ask(l, promised + 20, "n3", 9, 3, 0, NULL), CODEC_LEASE_NOT_READY));
    net_free();
}

/* The holder's own view of its lease: the request's send time + lease_ms less 1%. */
Test(lease, the_holder_stops_at_send_time_plus_lease_less_drift)
{
    net_init(1);
    view(0, "a");
    run_ms(3100);
    struct lease *l = net.n[0].l;
    struct lease_shard_info info;
    cr_assert(eq(int, lease_get(l, 0, local_ms(0), &info), 0));
    cr_assert(eq(u8, info.state, LEASE_HELD));
    uint64_t start = info.expires_ms - 2970;
    cr_assert(le(u64, start, local_ms(0)));
    cr_assert(eq(int, lease_check(l, 0, info.expires_ms - 1, NULL), 1));
    cr_assert(eq(int, lease_check(l, 0, info.expires_ms, NULL), 0));
    cr_assert(eq(int, lease_get(l, 0, info.expires_ms, &info), 0));
    cr_assert(eq(u8, info.state, LEASE_LOST));
    net_free();
}

Test(lease, epochs_increase_across_moves)
{
    net_init(3);
    view_all("aaa");
    run_ms(5000);
    for (int round = 0; round < 3; round++) {
        int victim = round % 3;
        cut_off(victim, 1);
        char v[4] = "aaa", w[4] = "fff";
        v[victim] = 'f';
        w[victim] = 'a';
        for (int i = 0; i < 3; i++) {
            view(i, i == victim ? w : v);
        }
        run_ms(8000);
        cut_off(victim, 0);
        view_all("aaa");
        run_ms(3000);
    }
    cr_assert(eq(u32, net.epochs_not_increasing, 0));
    cr_assert(eq(u64, net.overlaps, 0));
    uint64_t max_epoch = 0;
    for (uint32_t s = 0; s < SHARDS; s++) {
        max_epoch = net.epoch_seen[s] > max_epoch ? net.epoch_seen[s] : max_epoch;
    }
    cr_assert(ge(u64, max_epoch, 3));
    net_free();
}

Test(lease, malformed_datagrams_are_refused_and_counted)
{
    net_init(1);
    struct lease *l = net.n[0].l;
    static uint8_t in[256];
    for (size_t i = 0; i < RING_ARRAY_LEN(bad_cases); i++) {
        size_t n = unhex_spaced(bad_cases[i].hex, in);
        cr_assert(eq(int, lease_recv(l, &net.n[0].addr, in, n, 0), bad_cases[i].err), "%s",
                  bad_cases[i].why);
    }
    cr_assert(eq(u64, lease_stats(l)->decode_errors, RING_ARRAY_LEN(bad_cases)));
    /* A swim ping is not a lease message either. */
    cr_assert(eq(int, lease_recv(l, &net.n[0].addr, (const uint8_t *)"\x93\x01\x01\x80", 4, 0),
                 RING_EPROTO));
    net_free();
}

Test(lease, config_is_checked)
{
    struct lease *l = NULL;
    struct lease_config c = { .id = "a", .id_len = 1, .shards = 0 };
    cr_assert(eq(int, lease_new(&l, &c, &tm.mem, 0), RING_EINVAL));
    c.shards = SHARDS_MAX + 1;
    cr_assert(eq(int, lease_new(&l, &c, &tm.mem, 0), RING_EINVAL));
    c.shards = 8;
    c.lease_ms = 1000;
    c.renew_ms = 600;
    cr_assert(eq(int, lease_new(&l, &c, &tm.mem, 0), RING_EINVAL));
    c.renew_ms = 0;
    c.drift_ppm = 200000;
    cr_assert(eq(int, lease_new(&l, &c, &tm.mem, 0), RING_EINVAL));
    c.drift_ppm = 0;
    cr_assert(eq(int, lease_new(&l, &c, &tm.mem, 0), 0));
    cr_assert(eq(int, lease_release(l, 3, 0), RING_ENOENT));
    cr_assert(eq(int, lease_release(l, 8, 0), RING_EINVAL));
    ASSERT_STR_EQ(lease_state_name(LEASE_RELEASING), "releasing");
    lease_del(l);
    struct lease_config d = { .lease_ms = 0 };
    lease_config_defaults(&d);
    cr_assert(eq(u32, d.lease_ms, 3000));
    cr_assert(eq(u32, d.renew_ms, 1500));
    cr_assert(eq(u32, d.drift_ppm, 10000));
}
