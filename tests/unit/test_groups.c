/* Unit tests for sub-sharding: the group map (groupmap), the group messages (codec_groups)
 * and the cross-group exchange (groups) on a small in-test network of 3 groups x 3 nodes. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "codec_vectors.h"
#include "groups_int.h"
#include "ring/codec.h"
#include "ring/error.h"
#include "ring/groupmap.h"
#include "ring/groups.h"
#include "ring/hashring.h"
#include "ring/members.h"
#include "ring/swim.h"
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

TestSuite(groupmap, .init = setup, .fini = teardown);
TestSuite(codec_groups, .init = setup, .fini = teardown);
TestSuite(groups, .init = setup, .fini = teardown, .timeout = 60);

/* ---- groupmap ---- */

#define NAMES_MAX 128
static char name_buf[NAMES_MAX][32]; /* "group-" and any size_t */
static struct groupmap_name names[NAMES_MAX];

static void make_names(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(name_buf[i], sizeof(name_buf[i]), "group-%zu", i);
        names[i].name = name_buf[i];
        names[i].len = strlen(name_buf[i]);
    }
}

static struct groupmap *map_of(size_t n, uint32_t vnodes)
{
    struct groupmap *m = NULL;
    cr_assert(eq(int, groupmap_new(&m, names, n, vnodes, &tm.mem), 0));
    return m;
}

/* The group name of |key| in |m|. */
static const char *group_of(const struct groupmap *m, const char *key, size_t *len)
{
    uint32_t idx;
    cr_assert(eq(int, groupmap_lookup(m, key, strlen(key), &idx), 0));
    return groupmap_name(m, idx, len);
}

Test(groupmap, same_names_in_any_order_map_every_key_alike)
{
    make_names(20);
    struct groupmap *a = map_of(20, 0);
    for (size_t i = 0; i < 10; i++) { /* reverse the order */
        struct groupmap_name t = names[i];
        names[i] = names[19 - i];
        names[19 - i] = t;
    }
    struct groupmap *b = map_of(20, 0);
    cr_assert(eq(u64, groupmap_checksum(a), groupmap_checksum(b)));
    for (int k = 0; k < 2000; k++) {
        char key[32];
        snprintf(key, sizeof(key), "key-%d", k);
        size_t la, lb;
        const char *ga = group_of(a, key, &la);
        const char *gb = group_of(b, key, &lb);
        cr_assert(eq(sz, la, lb));
        cr_assert(eq(int, memcmp(ga, gb, la), 0), "%s differs", key);
    }
    groupmap_del(a);
    groupmap_del(b);
}

Test(groupmap, set_checksum_from_digests_matches_the_map)
{
    make_names(7);
    struct groupmap *m = map_of(7, 0);
    uint64_t sum = 0;
    for (size_t i = 0; i < 7; i++) {
        sum += groupmap_name_digest(names[i].name, names[i].len);
    }
    cr_assert(eq(u64, groupmap_set_checksum(0, sum), groupmap_checksum(m)));
    groupmap_del(m);
}

/* Adding group G+1 moves about 1/(G+1) of the keys, all of them to the new group. */
static void check_add_moves(size_t g, uint32_t vnodes)
{
    make_names(g + 1);
    struct groupmap *before = map_of(g, vnodes);
    struct groupmap *after = map_of(g + 1, vnodes);
    const int keys = 20000;
    int moved = 0;
    for (int k = 0; k < keys; k++) {
        char key[32];
        snprintf(key, sizeof(key), "user:%d", k);
        size_t la, lb;
        const char *ga = group_of(before, key, &la);
        const char *gb = group_of(after, key, &lb);
        if (la != lb || memcmp(ga, gb, la) != 0) {
            moved++;
            cr_assert(eq(int, lb == names[g].len && memcmp(gb, names[g].name, lb) == 0, 1),
                      "%s moved to a group that already existed", key);
        }
    }
    double frac = (double)moved / keys;
    double want = 1.0 / (double)(g + 1);
    fprintf(stderr, "groupmap: %zu -> %zu groups moved %.4f of keys (1/G = %.4f)\n", g, g + 1, frac,
            want);
    cr_assert(frac > 0.7 * want && frac < 1.3 * want, "moved %.4f, want about %.4f", frac, want);
    groupmap_del(before);
    groupmap_del(after);
}

Test(groupmap, adding_a_group_moves_about_one_in_g_keys)
{
    check_add_moves(10, 0);
    check_add_moves(100, 256);
}

Test(groupmap, keys_spread_over_groups)
{
    make_names(10);
    struct groupmap *m = map_of(10, 0);
    uint32_t count[10] = { 0 };
    for (int k = 0; k < 50000; k++) {
        char key[32];
        snprintf(key, sizeof(key), "k%d", k);
        uint32_t idx;
        cr_assert(eq(int, groupmap_lookup(m, key, strlen(key), &idx), 0));
        count[idx]++;
    }
    for (int i = 0; i < 10; i++) {
        cr_assert(count[i] > 4000 && count[i] < 6000, "group %d has %u of 50000", i, count[i]);
    }
    groupmap_del(m);
}

Test(groupmap, rejects_bad_names_and_empty_maps_fail_lookups)
{
    struct groupmap *m = NULL;
    struct groupmap_name bad[2] = { { "a", 1 }, { "", 0 } };
    cr_assert(eq(int, groupmap_new(&m, bad, 2, 0, &tm.mem), RING_EINVAL));
    bad[1].name = "a";
    bad[1].len = 1;
    cr_assert(eq(int, groupmap_new(&m, bad, 2, 0, &tm.mem), RING_EEXIST));
    cr_assert(eq(int, groupmap_new(&m, NULL, 0, 0, &tm.mem), 0));
    uint32_t idx;
    cr_assert(eq(int, groupmap_lookup(m, "k", 1, &idx), RING_EEMPTY));
    groupmap_del(m);
}

/* ---- codec_groups ---- */

static struct codec_groups msg_a, msg_b;
static uint8_t buf[CODEC_DATAGRAM_BYTES_MAX];

static void text(char *dst, uint8_t *len, const char *s)
{
    *len = (uint8_t)strlen(s);
    memcpy(dst, s, *len + 1);
}

static void addr_v4(struct ring_addr *a, uint8_t last, uint16_t port)
{
    memset(a, 0, sizeof(*a));
    a->family = RING_ADDR_V4;
    a->ip[0] = 10;
    a->ip[3] = last;
    a->port = port;
}

/* A push with two summaries (one with contacts, one v6 contact) and buckets. */
static void sample_push(struct codec_groups *m)
{
    memset(m, 0, sizeof(*m));
    m->type = CODEC_GROUP_PUSH;
    m->seq = 77;
    text(m->from, &m->from_len, "node-a");
    text(m->group, &m->group_len, "g1");
    m->digest = UINT64_C(0x1234567890abcdef);
    m->group_count = 300;
    m->has_buckets = 1;
    for (int b = 0; b < CODEC_GROUP_BUCKETS; b++) {
        m->buckets[b] = (uint16_t)(b * 1031);
    }
    struct codec_summary *s = &m->summaries[0];
    text(s->name, &s->name_len, "g2");
    s->version = 9;
    s->size = 100;
    s->ring_checksum = UINT64_MAX;
    s->contact_count = 2;
    text(s->contacts[0].id, &s->contacts[0].id_len, "node-b");
    addr_v4(&s->contacts[0].addr, 2, 7946);
    text(s->contacts[1].id, &s->contacts[1].id_len, "node-c");
    s->contacts[1].addr.family = RING_ADDR_V6;
    s->contacts[1].addr.ip[0] = 0xfd;
    s->contacts[1].addr.port = 1;
    s = &m->summaries[1];
    text(s->name, &s->name_len, "g3");
    s->version = 1;
    m->summary_count = 2;
}

static void assert_groups_eq(const struct codec_groups *a, const struct codec_groups *b)
{
    cr_assert(eq(u8, a->type, b->type));
    cr_assert(eq(u32, a->seq, b->seq));
    ASSERT_STR_EQ(a->from, b->from);
    ASSERT_STR_EQ(a->group, b->group);
    cr_assert(eq(u64, a->digest, b->digest));
    cr_assert(eq(u32, a->group_count, b->group_count));
    cr_assert(eq(u8, a->has_buckets, b->has_buckets));
    cr_assert(eq(int, memcmp(a->buckets, b->buckets, sizeof(a->buckets)), 0));
    cr_assert(eq(u16, a->summary_count, b->summary_count));
    for (int i = 0; i < a->summary_count; i++) {
        const struct codec_summary *x = &a->summaries[i], *y = &b->summaries[i];
        ASSERT_STR_EQ(x->name, y->name);
        cr_assert(eq(u64, x->version, y->version));
        cr_assert(eq(u32, x->size, y->size));
        cr_assert(eq(u64, x->ring_checksum, y->ring_checksum));
        cr_assert(eq(u8, x->contact_count, y->contact_count));
        for (int k = 0; k < x->contact_count; k++) {
            ASSERT_STR_EQ(x->contacts[k].id, y->contacts[k].id);
            cr_assert(ring_addr_equal(&x->contacts[k].addr, &y->contacts[k].addr));
        }
    }
}

Test(codec_groups, every_type_round_trips_at_its_exact_size)
{
    const uint8_t types[] = { CODEC_GROUP_SYN, CODEC_GROUP_ACK, CODEC_GROUP_PUSH };
    for (size_t t = 0; t < RING_ARRAY_LEN(types); t++) {
        for (int variant = 0; variant < 2; variant++) {
            sample_push(&msg_a);
            msg_a.type = types[t];
            if (variant == 0) {
                msg_a.summary_count = 0;
                msg_a.has_buckets = 0;
                memset(msg_a.buckets, 0, sizeof(msg_a.buckets));
            }
            size_t want = codec_groups_header_size(&msg_a);
            for (int i = 0; i < msg_a.summary_count; i++) {
                want += codec_summary_size(&msg_a.summaries[i]);
            }
            ssize_t n = codec_encode_groups(buf, sizeof(buf), &msg_a);
            cr_assert(eq(sz, (size_t)n, want));
            cr_assert(eq(int, codec_peek_type(buf, (size_t)n), types[t]));
            cr_assert(eq(int, codec_is_groups_type(types[t]), 1));
            cr_assert(eq(int, codec_decode_groups(buf, (size_t)n, &msg_b), 0));
            assert_groups_eq(&msg_a, &msg_b);
            /* swim's decoder refuses them (ringd dispatches on the type first). */
            static struct codec_msg other;
            cr_assert(eq(int, codec_decode(buf, (size_t)n, &other), RING_EPROTO));
        }
    }
}

Test(codec_groups, encoder_refuses_bad_fields_and_small_buffers)
{
    sample_push(&msg_a);
    cr_assert(eq(sz, (size_t)codec_encode_groups(buf, 10, &msg_a), (size_t)RING_EMSGSIZE));
    msg_a.group_len = 0;
    cr_assert(eq(int, (int)codec_encode_groups(buf, sizeof(buf), &msg_a), RING_EINVAL));
    sample_push(&msg_a);
    msg_a.summaries[1].name_len = 0;
    cr_assert(eq(int, (int)codec_encode_groups(buf, sizeof(buf), &msg_a), RING_EINVAL));
    sample_push(&msg_a);
    msg_a.summaries[0].contacts[1].addr.family = 0;
    cr_assert(eq(int, (int)codec_encode_groups(buf, sizeof(buf), &msg_a), RING_EINVAL));
    sample_push(&msg_a);
    msg_a.type = CODEC_PING;
    cr_assert(eq(int, (int)codec_encode_groups(buf, sizeof(buf), &msg_a), RING_EINVAL));
}

/* Hex to bytes. */
static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    int hi = -1;
    for (; *hex != '\0'; hex++) {
        if (*hex == ' ') {
            continue;
        }
        int v = (*hex >= 'a') ? *hex - 'a' + 10 : *hex - '0';
        if (hi < 0) {
            hi = v;
        } else {
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return n;
}

/* [1, 5, {0: 1, 1: "a", 8: "g", 9: 2, 10: 3 ...}]: a syn, then the malformed variants. */
#define SYN_HEAD "93 01 05 85 00 01 01 a1 61 08 a1 67 09 02 0a 03"

Test(codec_groups, malformed_messages_fail_with_their_error)
{
    static const struct {
        const char *what;
        const char *hex;
        int err;
    } cases[] = {
        { "valid syn", SYN_HEAD, 0 },
        { "trailing byte", SYN_HEAD " 00", RING_EPROTO },
        { "group missing", "93 01 05 84 00 01 01 a1 61 09 02 0a 03", RING_EPROTO },
        { "empty group", "93 01 05 85 00 01 01 a1 61 08 a0 09 02 0a 03", RING_EPROTO },
        { "group over 63 bytes", "93 01 05 85 00 01 01 a1 61 09 02 0a 03 08 d9 40", RING_EMSGSIZE },
        { "digest not an integer", "93 01 05 85 00 01 01 a1 61 08 a1 67 09 c0 0a 03", RING_ETYPE },
        { "group count over 32 bits",
          "93 01 05 85 00 01 01 a1 61 08 a1 67 09 02 0a cf 00 00 00 01 00 00 00 00", RING_EPROTO },
        { "buckets of the wrong length",
          "93 01 05 86 00 01 01 a1 61 08 a1 67 09 02 0a 03 0b c4 01 00", RING_EPROTO },
        { "a summary without a version",
          "93 01 05 86 00 01 01 a1 61 08 a1 67 09 02 0a 03 0c 91 83 00 a1 68 02 01 03 00",
          RING_EPROTO },
        { "a valid summary",
          "93 01 05 86 00 01 01 a1 61 08 a1 67 09 02 0a 03 0c 91 84 00 a1 68 01 01 02 01 03 00",
          0 },
        { "nine contacts",
          "93 01 05 86 00 01 01 a1 61 08 a1 67 09 02 0a 03 0c 91 85 00 a1 68 01 01 02 01 03 00 04 "
          "99",
          RING_E2BIG },
        { "a contact without an address",
          "93 01 05 86 00 01 01 a1 61 08 a1 67 09 02 0a 03 0c 91 85 00 a1 68 01 01 02 01 03 00 04 "
          "91 81 00 a1 63",
          RING_EPROTO },
        { "65 summaries", "93 01 05 86 00 01 01 a1 61 08 a1 67 09 02 0a 03 0c dc 00 41",
          RING_E2BIG },
        { "unknown key skipped", "93 01 05 86 00 01 01 a1 61 08 a1 67 09 02 0a 03 1f 91 c0", 0 },
        { "an unknown type 8", "93 01 08 80", RING_EPROTO },
        { "from with ESC", "93 01 05 85 00 01 01 a2 61 1b 08 a1 67 09 02 0a 03", RING_EPROTO },
        { "group with ESC", "93 01 05 85 00 01 01 a1 61 08 a2 67 1b 09 02 0a 03", RING_EPROTO },
        { "a summary name with an escape sequence",
          "93 01 05 86 00 01 01 a1 61 08 a1 67 09 02 0a 03 0c 91 84 00 a4 1b 5b 32 4a 01 01 02 01 "
          "03 00",
          RING_EPROTO },
        { "a contact id with 0xff",
          "93 01 05 86 00 01 01 a1 61 08 a1 67 09 02 0a 03 0c 91 85 00 a1 68 01 01 02 01 03 00 04 "
          "91 82 00 a2 63 ff 01 c4 06 0a 00 00 01 1f 0a",
          RING_EPROTO },
        { "a valid contact",
          "93 01 05 86 00 01 01 a1 61 08 a1 67 09 02 0a 03 0c 91 85 00 a1 68 01 01 02 01 03 00 04 "
          "91 82 00 a2 63 64 01 c4 06 0a 00 00 01 1f 0a",
          0 },
    };
    for (size_t i = 0; i < RING_ARRAY_LEN(cases); i++) {
        uint8_t in[256];
        size_t n = unhex(cases[i].hex, in);
        int rv = codec_decode_groups(in, n, &msg_b);
        cr_assert(eq(int, rv, cases[i].err), "%s: got %s", cases[i].what, ring_err_name(rv));
    }
}

/* Reads proto/vectors/codec/<name>.hex into |out|. */
static size_t read_vector(const char *name, uint8_t *out)
{
    char path[512], hex[8192];
    snprintf(path, sizeof(path), "%s/proto/vectors/codec/%s.hex", RING_SOURCE_DIR, name);
    FILE *f = fopen(path, "r");
    cr_assert(not(eq(ptr, f, NULL)), "cannot open %s", path);
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF && n + 1 < sizeof(hex)) {
        if (c != '\n') {
            hex[n++] = (char)c;
        }
    }
    hex[n] = '\0';
    fclose(f);
    return unhex(hex, out);
}

Test(codec_groups, known_answer_vectors_decode_and_encode_byte_for_byte)
{
    static uint8_t want[4096];
    for (size_t i = 0; i < RING_ARRAY_LEN(vec_groups_names); i++) {
        size_t n = read_vector(vec_groups_names[i], want);
        cr_assert(eq(int, vec_groups(vec_groups_names[i], &msg_a), 1));
        cr_assert(eq(int, codec_decode_groups(want, n, &msg_b), 0), "%s", vec_groups_names[i]);
        assert_groups_eq(&msg_a, &msg_b);
        ssize_t got = codec_encode_groups(buf, sizeof(buf), &msg_a);
        cr_assert(eq(sz, (size_t)got, n), "%s", vec_groups_names[i]);
        cr_assert(eq(int, memcmp(buf, want, n), 0), "%s differs from its vector",
                  vec_groups_names[i]);
    }
}

/* ---- groups: 3 groups x 3 nodes on an in-test network ---- */

#define NODES  9
#define GROUPS 3
#define DGRAMS 4096

struct tnode {
    struct groups *g;
    struct members *t; /* the node's swim view of its group */
    char id[24];
    char group[16];
    struct ring_addr addr;
    int up;
};

struct dgram {
    int from, to;
    size_t len;
    uint8_t data[CODEC_DATAGRAM_BYTES_MAX];
};

static struct tnode nodes[NODES];
static struct dgram *q;
static size_t q_len;
static uint64_t now;

static int node_of(const struct ring_addr *a)
{
    for (int i = 0; i < NODES; i++) {
        if (ring_addr_equal(a, &nodes[i].addr)) {
            return i;
        }
    }
    return -1;
}

static void put_member(struct members *t, int j, int status, uint64_t inc)
{
    struct member m;
    memset(&m, 0, sizeof(m));
    member_set_id(&m, nodes[j].id, strlen(nodes[j].id));
    m.addr = nodes[j].addr;
    m.weight = 1;
    m.status = (uint8_t)status;
    m.incarnation = inc;
    cr_assert(eq(int, members_put(t, &m), 0));
}

/* Node |i|'s view: every node of its group with the statuses in |status| (by node). */
static void set_view(int i, const int *status)
{
    for (int j = i % GROUPS; j < NODES; j += GROUPS) {
        put_member(nodes[i].t, j, status[j], 1);
    }
}

static void net_init(uint64_t contacts)
{
    q = calloc(DGRAMS, sizeof(*q));
    q_len = 0;
    now = 0;
    int all_alive[NODES] = { 0 };
    for (int i = 0; i < NODES; i++) {
        struct tnode *n = &nodes[i];
        snprintf(n->id, sizeof(n->id), "node-%d", i);
        snprintf(n->group, sizeof(n->group), "g%d", i % GROUPS);
        addr_v4(&n->addr, (uint8_t)(i + 1), 7946);
        n->up = 1;
    }
    for (int i = 0; i < NODES; i++) {
        struct tnode *n = &nodes[i];
        cr_assert(eq(int, members_new(&n->t, 0, &tm.mem), 0));
        set_view(i, all_alive);
        struct groups_config cfg = { 0 };
        cfg.id = n->id;
        cfg.id_len = strlen(n->id);
        cfg.addr = n->addr;
        cfg.group = n->group;
        cfg.group_len = strlen(n->group);
        cfg.seed = 100 + (uint64_t)i;
        cfg.contacts = (uint32_t)contacts;
        cfg.exchange_interval_ms = 1000;
        cfg.bootstrap_interval_ms = 200;
        cfg.exchange_timeout_ms = 300;
        cfg.author_grace_ms = 3000;
        cfg.author_settle_ms = 2000;
        cr_assert(eq(int, groups_new(&n->g, &cfg, &tm.mem, 0), 0));
        /* Every node knows node 0 (group g0) as a seed: the other groups start from it. */
        cr_assert(eq(int, groups_join(n->g, &nodes[0].addr, 1), 0));
    }
}

static void net_free(void)
{
    for (int i = 0; i < NODES; i++) {
        groups_del(nodes[i].g);
        members_del(nodes[i].t);
    }
    free(q);
}

static void drain(int i)
{
    struct ring_addr to;
    ssize_t n;
    struct dgram d;
    while ((n = groups_send_next(nodes[i].g, &to, d.data, sizeof(d.data), now)) > 0) {
        int dst = node_of(&to);
        if (dst >= 0 && q_len < DGRAMS) {
            q[q_len] = d;
            q[q_len].from = i;
            q[q_len].to = dst;
            q[q_len].len = (size_t)n;
            q_len++;
        }
    }
    cr_assert(eq(int, (int)n, 0));
}

/* Advances 10 ms steps to |until|: ticks every running node, then delivers (in order, at
 * once) what they sent and what the replies send. */
static void run_until(uint64_t until)
{
    for (; now < until; now += 10) {
        for (int i = 0; i < NODES; i++) {
            if (nodes[i].up && groups_next_deadline(nodes[i].g) <= now) {
                struct groups *g = nodes[i].g;
                groups_tick(g, nodes[i].t, members_ring_checksum(nodes[i].t, 0), now);
                drain(i);
            }
        }
        for (size_t k = 0; k < q_len; k++) {
            struct dgram *d = &q[k];
            if (nodes[d->to].up) {
                cr_assert(
                    eq(int, groups_recv(nodes[d->to].g, &nodes[d->from].addr, d->data, d->len, now),
                       0));
                drain(d->to);
            }
        }
        q_len = 0;
    }
}

/* Node |i|'s summary of group |gi|. */
static void summary_at(int i, int gi, struct codec_summary *s)
{
    char name[16];
    snprintf(name, sizeof(name), "g%d", gi);
    int idx = groups_find(nodes[i].g, name, strlen(name));
    cr_assert(ge(int, idx, 0), "node %d does not know %s", i, name);
    groups_get(nodes[i].g, (size_t)idx, s);
}

static void assert_converged(void)
{
    uint64_t digest = 0;
    for (int i = 0; i < NODES; i++) {
        if (!nodes[i].up) {
            continue;
        }
        cr_assert(eq(int, groups_ready(nodes[i].g), 1), "node %d not ready", i);
        cr_assert(eq(sz, groups_count(nodes[i].g), GROUPS), "node %d", i);
        digest = digest ? digest : groups_digest(nodes[i].g);
        cr_assert(eq(u64, groups_digest(nodes[i].g), digest), "node %d", i);
        for (int gi = 0; gi < GROUPS; gi++) {
            struct codec_summary s;
            summary_at(i, gi, &s);
            /* The checksum the group's own members have. */
            uint64_t want = 0;
            for (int j = gi; j < NODES; j += GROUPS) {
                if (nodes[j].up) {
                    want = members_ring_checksum(nodes[j].t, 0);
                }
            }
            cr_assert(eq(u64, s.ring_checksum, want), "node %d, group %d", i, gi);
        }
    }
}

static struct codec_summary sum_a, sum_b;

Test(groups, cold_start_every_node_learns_every_group)
{
    net_init(2);
    run_until(10000);
    assert_converged();
    summary_at(4, 2, &sum_a);
    cr_assert(eq(u32, sum_a.size, 3));
    cr_assert(eq(u8, sum_a.contact_count, 2));
    for (int k = 0; k < sum_a.contact_count; k++) {
        int j = node_of(&sum_a.contacts[k].addr);
        cr_assert(eq(int, j % GROUPS, 2), "a contact of g2 outside it: %s", sum_a.contacts[k].id);
    }
    /* The set is the same everywhere, so is the map. */
    for (int i = 1; i < NODES; i++) {
        cr_assert(eq(u64, groups_set_checksum(nodes[i].g), groups_set_checksum(nodes[0].g)));
    }
    net_free();
}

Test(groups, route_answers_owner_at_home_and_contact_elsewhere)
{
    net_init(2);
    run_until(10000);
    struct groupmap *map = NULL;
    cr_assert(eq(int, groups_map_new(nodes[1].g, &map, &tm.mem), 0));
    cr_assert(eq(u64, groupmap_checksum(map), groups_set_checksum(nodes[1].g)));
    /* Node 1's ring (group g1: nodes 1, 4, 7). */
    struct hashring_member hm[3];
    for (int k = 0; k < 3; k++) {
        hm[k].id = nodes[1 + 3 * k].id;
        hm[k].id_len = strlen(nodes[1 + 3 * k].id);
        hm[k].weight = 1;
    }
    struct hashring *ring = NULL;
    cr_assert(eq(int, hashring_new(&ring, hm, 3, NULL, &tm.mem), 0));
    int local = 0, remote = 0;
    for (int k = 0; k < 300; k++) {
        char key[32];
        snprintf(key, sizeof(key), "key-%d", k);
        struct groups_route r;
        cr_assert(eq(int, groups_route(nodes[1].g, map, ring, key, strlen(key), &r), 0));
        if (r.local) {
            local++;
            cr_assert(eq(int, memcmp(r.group, "g1", 2), 0));
            uint32_t owner;
            cr_assert(eq(int, hashring_lookup(ring, key, strlen(key), &owner), 0));
            cr_assert(eq(u32, r.owner, owner));
        } else {
            remote++;
            int j = node_of(&r.contact_addr);
            cr_assert(ge(int, j, 0));
            char name[16];
            snprintf(name, sizeof(name), "g%d", j % GROUPS);
            cr_assert(eq(int, memcmp(r.group, name, r.group_len), 0), "contact in another group");
            cr_assert(eq(int, memcmp(r.contact_id, nodes[j].id, r.contact_id_len), 0));
        }
    }
    cr_assert(gt(int, local, 50));
    cr_assert(gt(int, remote, 150));
    hashring_del(ring);
    groupmap_del(map);
    net_free();
}

/* Node |victim| dies: its group's views mark it faulty; the summaries follow. */
static void kill_node(int victim)
{
    nodes[victim].up = 0;
    for (int j = victim % GROUPS; j < NODES; j += GROUPS) {
        if (j != victim) {
            put_member(nodes[j].t, victim, MEMBER_FAULTY, 1);
        }
    }
}

Test(groups, a_dead_contact_is_replaced_and_routes_avoid_it)
{
    net_init(2);
    run_until(10000);
    summary_at(0, 1, &sum_a);
    int victim = node_of(&sum_a.contacts[0].addr);
    kill_node(victim);
    run_until(40000);
    assert_converged();
    for (int i = 0; i < NODES; i++) {
        if (!nodes[i].up || i % GROUPS == 1) {
            continue;
        }
        summary_at(i, 1, &sum_b);
        cr_assert(gt(u64, sum_b.version, sum_a.version));
        cr_assert(eq(u32, sum_b.size, 2));
        for (int k = 0; k < sum_b.contact_count; k++) {
            cr_assert(ne(int, node_of(&sum_b.contacts[k].addr), victim), "node %d", i);
        }
    }
    net_free();
}

Test(groups, a_contact_that_stops_answering_is_marked_failed)
{
    net_init(2);
    run_until(10000);
    /* g2's contacts stop answering but nobody in g2 has noticed yet (no re-authoring). */
    summary_at(0, 2, &sum_a);
    for (int k = 0; k < sum_a.contact_count; k++) {
        nodes[node_of(&sum_a.contacts[k].addr)].up = 0;
    }
    run_until(25000);
    int idx = groups_find(nodes[0].g, "g2", 2);
    cr_assert(ge(int, idx, 0));
    uint32_t failed = groups_failed_contacts(nodes[0].g, (size_t)idx);
    cr_assert(ne(u32, failed, 0), "no contact of g2 marked failed at node 0");
    cr_assert(gt(u64, groups_stats(nodes[0].g)->exchange_timeouts, 0));
    net_free();
}

Test(groups, a_restart_within_the_settle_time_is_not_published)
{
    net_init(2);
    run_until(10000);
    summary_at(0, 1, &sum_a);
    /* Pick a member of g1 that is not a contact, take it out of g1's views and back. */
    int victim = -1;
    for (int j = 1; j < NODES && victim < 0; j += GROUPS) {
        int contact = 0;
        for (int k = 0; k < sum_a.contact_count; k++) {
            contact |= node_of(&sum_a.contacts[k].addr) == j;
        }
        victim = contact ? -1 : j;
    }
    cr_assert(ge(int, victim, 0));
    kill_node(victim);
    run_until(now + 1000); /* under author_settle_ms (2 s) */
    nodes[victim].up = 1;
    for (int j = 1; j < NODES; j += GROUPS) {
        put_member(nodes[j].t, victim, MEMBER_ALIVE, 2);
    }
    run_until(now + 10000);
    summary_at(0, 1, &sum_b);
    cr_assert(eq(u64, sum_b.version, sum_a.version), "a restart was published");
    assert_converged();
    net_free();
}

/* swim keeps to its group: records of another group never enter its table. */
Test(groups, swim_ignores_records_of_other_groups)
{
    struct swim_config cfg = { 0 };
    cfg.id = "node-a";
    cfg.id_len = 6;
    addr_v4(&cfg.addr, 1, 7946);
    cfg.group = "ga";
    cfg.group_len = 2;
    struct swim *s = NULL;
    cr_assert(eq(int, swim_new(&s, &cfg, &tm.mem, 0), 0));
    static struct codec_msg msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = CODEC_ACK; /* seq 0: the gossip carrier */
    text(msg.from, &msg.from_len, "node-x");
    const char *ids[] = { "node-y", "node-z" };
    const char *groups[] = { "gb", "ga" };
    for (int k = 0; k < 2; k++) {
        struct member *m = &msg.updates[k].m;
        member_set_id(m, ids[k], 6);
        addr_v4(&m->addr, (uint8_t)(10 + k), 7946);
        m->weight = 1;
        m->incarnation = 1;
        text(m->group, &m->group_len, groups[k]);
    }
    msg.update_count = 2;
    ssize_t n = codec_encode(buf, sizeof(buf), &msg);
    cr_assert(gt(sz, (size_t)(n > 0 ? n : 0), 0));
    cr_assert(eq(int, swim_recv(s, &cfg.addr, buf, (size_t)n, 10), 0));
    const struct members *t = swim_members(s);
    cr_assert(eq(sz, members_count(t), 2));
    cr_assert(ge(int, members_index(t, "node-z", 6), 0));
    cr_assert(eq(int, members_index(t, "node-y", 6), RING_ENOENT));
    swim_del(s);
}

/* A node alone in its group's membership gets its group's contacts (itself left out) as join
 * seeds, at most every GROUPS_OWN_JOIN_RETRY_MS; a node that sees others of its group gets
 * none. */
Test(groups, a_lone_node_joins_its_group_through_its_contacts)
{
    net_init(2);
    run_until(10000);
    assert_converged();
    struct ring_addr seeds[CODEC_CONTACTS_MAX];
    cr_assert(eq(sz, groups_own_seeds(nodes[4].g, nodes[4].t, now, seeds), 0),
              "node 4 sees its whole group: nothing to join");

    struct members *alone = NULL;
    cr_assert(eq(int, members_new(&alone, 0, &tm.mem), 0));
    put_member(alone, 4, MEMBER_ALIVE, 1);
    size_t n = groups_own_seeds(nodes[4].g, alone, now, seeds);
    struct codec_summary s;
    summary_at(4, 4 % GROUPS, &s);
    size_t want = 0;
    for (int k = 0; k < s.contact_count; k++) {
        want += !ring_addr_equal(&s.contacts[k].addr, &nodes[4].addr);
    }
    cr_assert(gt(sz, want, 0));
    cr_assert(eq(sz, n, want));
    for (size_t k = 0; k < n; k++) {
        int j = node_of(&seeds[k]);
        cr_assert(eq(int, j % GROUPS, 4 % GROUPS), "a seed outside the group");
        cr_assert(ne(int, j, 4), "never itself");
    }
    cr_assert(eq(sz, groups_own_seeds(nodes[4].g, alone, now + 10, seeds), 0), "not again so soon");
    cr_assert(
        eq(sz, groups_own_seeds(nodes[4].g, alone, now + GROUPS_OWN_JOIN_RETRY_MS, seeds), n));
    cr_assert(eq(u64, groups_deadline_with(NULL, 1234), 1234));
    cr_assert(
        le(u64, groups_deadline_with(nodes[4].g, UINT64_MAX), groups_next_deadline(nodes[4].g)));
    members_del(alone);
    net_free();
}

/* groups_drive(), as ringd and ringsim call it: a node alone in its swim joins its group
 * through the contacts its summary names (join syncs go to them, never to itself or another
 * group), then ticks. */
Test(groups, drive_joins_a_lone_swim_to_its_group_then_ticks)
{
    net_init(3);
    run_until(10000);
    assert_converged();
    struct swim_config cfg = { 0 };
    cfg.id = nodes[4].id;
    cfg.id_len = strlen(nodes[4].id);
    cfg.addr = nodes[4].addr;
    cfg.group = nodes[4].group;
    cfg.group_len = strlen(nodes[4].group);
    cfg.seed = 4;
    struct swim *s = NULL;
    cr_assert(eq(int, swim_new(&s, &cfg, &tm.mem, now), 0));
    uint64_t exchanges = groups_stats(nodes[4].g)->exchanges;
    now = groups_next_deadline(nodes[4].g); /* an exchange is due: the tick must start it */
    cr_assert(eq(int, groups_drive(nodes[4].g, s, now), 0));
    cr_assert(gt(u64, groups_stats(nodes[4].g)->exchanges, exchanges), "it did not tick");
    struct codec_summary sum;
    summary_at(4, 4 % GROUPS, &sum);
    size_t want = 0;
    for (int k = 0; k < sum.contact_count; k++) {
        want += !ring_addr_equal(&sum.contacts[k].addr, &nodes[4].addr);
    }
    cr_assert(gt(sz, want, 0));
    /* swim sends a join sync to one seed at a time, the next when it fails. */
    int seen[NODES] = { 0 };
    size_t syncs = 0;
    for (int round = 0; round < 8; round++) {
        cr_assert(eq(int, swim_tick(s, now), 0));
        struct swim_stream_req req;
        while (swim_stream_next(s, &req) == 1) {
            int j = node_of(&req.to);
            cr_assert(ge(int, j, 0), "a sync to an address no node has");
            cr_assert(eq(int, j % GROUPS, 4 % GROUPS), "a join sync outside the group");
            cr_assert(ne(int, j, 4), "a join sync to itself");
            syncs += !seen[j];
            seen[j] = 1;
            cr_assert(eq(int, swim_stream_failed(s, req.token, now), 0));
        }
    }
    cr_assert(eq(sz, syncs, want), "a join sync to each other contact");
    swim_del(s);
    net_free();
}

/* groups_map_refresh() rebuilds a map only when the set changed; a map built from the node's
 * own set, however old, routes every key (groups are only added), so only a map of another
 * node's set can name a group this node lacks (RING_ENOENT). */
Test(groups, a_map_of_the_nodes_own_set_never_names_a_group_it_lacks)
{
    net_init(2);
    struct groups *g = nodes[1].g;
    struct groupmap *map = NULL, *old = NULL;
    cr_assert(eq(int, groups_map_refresh(g, &map, &tm.mem), 1), "built from nothing");
    cr_assert(eq(int, groups_map_refresh(g, &map, &tm.mem), 0), "the set did not change");
    cr_assert(eq(int, groups_map_new(g, &old, &tm.mem), 0));
    run_until(10000);
    assert_converged();
    cr_assert(eq(int, groups_map_refresh(g, &map, &tm.mem), 1), "the set grew");
    cr_assert(eq(u64, groupmap_checksum(map), groups_set_checksum(g)));
    cr_assert(ne(u64, groupmap_checksum(old), groupmap_checksum(map)));
    struct groupmap_name other[] = { { "g0", 2 }, { "g1", 2 }, { "g2", 2 }, { "g9", 2 } };
    struct groupmap *foreign = NULL;
    cr_assert(eq(int, groupmap_new(&foreign, other, 4, 0, &tm.mem), 0));
    int enoent = 0;
    for (int k = 0; k < 1000; k++) {
        char key[32];
        snprintf(key, sizeof(key), "key-%d", k);
        struct groups_route r;
        cr_assert(eq(int, groups_route(g, old, NULL, key, strlen(key), &r), 0), "%s", key);
        cr_assert(eq(int, groups_route(g, map, NULL, key, strlen(key), &r), 0), "%s", key);
        enoent += groups_route(g, foreign, NULL, key, strlen(key), &r) == RING_ENOENT;
    }
    cr_assert(gt(int, enoent, 0), "no key of the foreign map went to g9");
    groupmap_del(foreign);
    groupmap_del(old);
    groupmap_del(map);
    net_free();
}

/* ---- limits between peers (proto/SWIM.md, "Limits between peers") ---- */

static struct codec_groups forged;

/* A push from node |from| to node |to| carrying |n| summaries prepared in |forged|. */
static void push_forged(int from, int to, size_t n)
{
    forged.type = CODEC_GROUP_PUSH;
    forged.seq = 4242;
    text(forged.from, &forged.from_len, nodes[from].id);
    text(forged.group, &forged.group_len, nodes[from].group);
    forged.summary_count = (uint16_t)n;
    static uint8_t dgram[CODEC_DATAGRAM_BYTES_MAX];
    ssize_t len = codec_encode_groups(dgram, sizeof(dgram), &forged);
    cr_assert(gt(i64, (int64_t)len, 0));
    cr_assert(eq(int, groups_recv(nodes[to].g, &nodes[from].addr, dgram, (size_t)len, now), 0));
}

/* A summary of |name| at |version| whose one contact is the attacker (not a node). */
static void forge_summary(struct codec_summary *s, const char *name, uint64_t version)
{
    memset(s, 0, sizeof(*s));
    text(s->name, &s->name_len, name);
    s->version = version;
    s->size = 1;
    s->ring_checksum = UINT64_MAX;
    s->contact_count = 1;
    text(s->contacts[0].id, &s->contacts[0].id_len, "attacker");
    addr_v4(&s->contacts[0].addr, 66, 6666);
}

/* The tester froze a real group's summary with version 2^64 - 1. */
Test(groups, a_summary_version_far_above_the_known_one_is_refused_and_counted)
{
    net_init(2);
    run_until(10000);
    assert_converged();
    summary_at(4, 2, &sum_a);
    memset(&forged, 0, sizeof(forged));
    forge_summary(&forged.summaries[0], "g2", UINT64_MAX);
    push_forged(1, 4, 1);
    summary_at(4, 2, &sum_b);
    cr_assert(eq(u64, sum_b.version, sum_a.version));
    cr_assert(eq(u64, groups_stats(nodes[4].g)->versions_refused, 1));
    run_until(now + 5000);
    assert_converged();
    net_free();
}

/* The highest version a node accepts is one the group's own members out-version: they
 * re-author at once, since the forged summary names no live contact. */
Test(groups, a_summary_at_the_highest_accepted_version_is_outversioned_by_its_group)
{
    net_init(2);
    run_until(10000);
    assert_converged();
    summary_at(4, 2, &sum_a);
    memset(&forged, 0, sizeof(forged));
    push_forged(1, 4, 0); /* node 4's clock is now */
    uint64_t top = groups__version_ceiling(nodes[4].g, "g2", 2);
    cr_assert(ge(u64, top, sum_a.version + GROUPS_VERSION_STEP_MAX));
    memset(&forged, 0, sizeof(forged));
    forge_summary(&forged.summaries[0], "g2", top + 1);
    push_forged(1, 4, 1);
    cr_assert(eq(u64, groups_stats(nodes[4].g)->versions_refused, 1));
    forge_summary(&forged.summaries[0], "g2", top);
    push_forged(1, 4, 1);
    summary_at(4, 2, &sum_b);
    cr_assert(eq(u64, sum_b.version, top));
    run_until(now + 10000);
    assert_converged();
    for (int i = 0; i < NODES; i++) {
        summary_at(i, 2, &sum_b);
        cr_assert(gt(u64, sum_b.version, top), "node %d", i);
        for (int k = 0; k < sum_b.contact_count; k++) {
            int j = node_of(&sum_b.contacts[k].addr);
            cr_assert(eq(int, j >= 0 ? j % GROUPS : -1, 2), "node %d: a contact outside g2", i);
        }
    }
    net_free();
}

/* The tester added a fake group whose contact is the attacker. A ready node admits new
 * groups from a budget: GROUPS_ADMIT_BURST at once, then one per GROUPS_ADMIT_INTERVAL_MS. */
Test(groups, new_groups_are_admitted_within_a_rate_bound)
{
    net_init(2);
    run_until(10000);
    assert_converged();
    memset(&forged, 0, sizeof(forged));
    char name[16];
    for (int k = 0; k < 40; k++) {
        snprintf(name, sizeof(name), "fake-%d", k);
        forge_summary(&forged.summaries[k], name, 1);
    }
    push_forged(1, 4, 40);
    struct groups *g = nodes[4].g;
    size_t added = groups_count(g) - GROUPS;
    cr_assert(le(sz, added, (size_t)GROUPS_ADMIT_BURST));
    cr_assert(eq(u64, groups_stats(g)->groups_refused, 40 - added));
    now += GROUPS_ADMIT_INTERVAL_MS;
    push_forged(1, 4, 40);
    cr_assert(eq(sz, groups_count(g), GROUPS + added + 1));
    /* A new group's first version is bounded too. */
    forge_summary(&forged.summaries[0], "fake-far", UINT64_MAX);
    now += GROUPS_ADMIT_INTERVAL_MS;
    push_forged(1, 4, 1);
    cr_assert(eq(int, groups_find(g, "fake-far", 8), RING_ENOENT));
    cr_assert(eq(u64, groups_stats(g)->versions_refused, 1));
    net_free();
}
