/*
 * Unit tests for what a sync's reply carries (proto/SWIM.md, "Full sync (push-pull)"): a
 * push-pull is answered with the records its request lacked, a pull (a catch-up or a
 * checksum mismatch's sync) with the records its have does not list, and a pull from a
 * node that holds records we lack is answered by a pull back, at most once per probe
 * interval.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "ring/codec.h"
#include "ring/error.h"
#include "ring/members.h"
#include "ring/swim.h"
#include "swim_int.h"
#include "swimnet.h"
#include "testmem.h"

static struct testmem tm;
static struct net net;
static uint8_t req[1 << 14];
static uint8_t resp[1 << 14];

static void setup(void)
{
    testmem_init(&tm);
    net_init(&net, &tm, 5);
}

static void teardown(void)
{
    net_free(&net);
    cr_assert(eq(sz, tm.bytes, 0), "leaked %zu bytes in %zu blocks", tm.bytes, tm.blocks);
}

TestSuite(swim_sync, .init = setup, .fini = teardown, .timeout = 60);

static void quiet(struct swim_config *cfg)
{
    cfg->sync_interval_ms = 3600000;
    cfg->heal_interval_ms = 3600000;
}

/* |n| nodes joined through node 0, converged, with no periodic sync or heal. */
static void converged(int n)
{
    for (int i = 0; i < n; i++) {
        struct swim_config cfg;
        net_config(&cfg, &net, i, 31);
        quiet(&cfg);
        net_start(&net, i, &cfg, 31);
    }
    for (int i = 1; i < n; i++) {
        net_join(&net, i, 0);
    }
    cr_assert(net_run_until_converged(&net, 30000), "no convergence by 30 s");
    net_run(&net, net.now_ms + 5000); /* let the joins' gossip drain */
}

static void record_of(int observer, int subject, struct member *m)
{
    const struct members *t = swim_members(net.nodes[observer].s);
    int idx = members_index(t, net.nodes[subject].id, strlen(net.nodes[subject].id));
    cr_assert(ge(int, idx, 0));
    members_get(t, (size_t)idx, m);
}

static void header_of(int i, struct codec_sync *hdr, uint8_t join)
{
    memset(hdr, 0, sizeof(*hdr));
    hdr->type = CODEC_SYNC;
    hdr->join = join;
    hdr->from_len = (uint8_t)strlen(net.nodes[i].id);
    memcpy(hdr->from, net.nodes[i].id, hdr->from_len);
    hdr->checksum = swim_checksum(net.nodes[i].s) ^ 1; /* differs: a reply is not empty */
}

struct got {
    size_t n;
    char ids[8][MEMBER_ID_BYTES_MAX + 1];
};

static void collect(const struct member *m, void *arg)
{
    struct got *g = arg;
    cr_assert(lt(sz, g->n, 8));
    memcpy(g->ids[g->n++], m->id, (size_t)m->id_len + 1);
}

/* Node |to| serves |len| bytes of |req| from node |from|; the reply's records in |g|. */
static void serve(int to, int from, size_t len, struct got *g)
{
    ssize_t n = swim_stream_serve(net.nodes[to].s, &net.nodes[from].addr, req, len, resp,
                                  sizeof(resp), net.now_ms);
    cr_assert(gt(i64, (int64_t)n, 0), "serve: %s", ring_err_name((int)n));
    struct codec_sync hdr;
    memset(g, 0, sizeof(*g));
    cr_assert(eq(int, codec_decode_sync(resp, (size_t)n, &hdr, collect, g), 0));
    cr_assert(eq(u8, hdr.type, CODEC_SYNC_REPLY));
}

/* Big-endian terms of |m[0..n)| (ascending), plus |extra| when not 0, into |out|. */
static uint32_t have_of(const struct member *m, size_t n, uint32_t extra, uint8_t *out)
{
    uint32_t terms[9];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        terms[k++] = codec_have_term(member_digest(&m[i]));
    }
    if (extra != 0) {
        terms[k++] = extra;
    }
    for (size_t i = 1; i < k; i++) {
        for (size_t j = i; j > 0 && terms[j - 1] > terms[j]; j--) {
            uint32_t x = terms[j];
            terms[j] = terms[j - 1];
            terms[j - 1] = x;
        }
    }
    for (size_t i = 0; i < k; i++) {
        out[4 * i] = (uint8_t)(terms[i] >> 24);
        out[4 * i + 1] = (uint8_t)(terms[i] >> 16);
        out[4 * i + 2] = (uint8_t)(terms[i] >> 8);
        out[4 * i + 3] = (uint8_t)terms[i];
    }
    return (uint32_t)k;
}

/* A pull from node 1 to node 0: node 1's own record, and a have of node 0's and node 1's
 * records (so it lacks node 2's), plus |extra| (a record node 0 lacks) when not 0. */
static size_t pull_request(uint8_t join, uint32_t extra, uint8_t *have)
{
    struct member m[2];
    record_of(1, 0, &m[0]);
    record_of(1, 1, &m[1]);
    struct codec_sync hdr;
    header_of(1, &hdr, join);
    hdr.has_have = 1;
    hdr.have_count = have_of(m, 2, extra, have);
    hdr.have = have;
    struct members *self = NULL;
    cr_assert(eq(int, members_new(&self, 1, &tm.mem), 0));
    cr_assert(eq(int, members_put(self, &m[1]), 0));
    ssize_t len = codec_encode_sync(req, sizeof(req), &hdr, self);
    members_del(self);
    cr_assert(gt(i64, (int64_t)len, 0));
    return (size_t)len;
}

/* A push-pull carries the sender's table, so the reply need not repeat what the request
 * held: only what it lacked (or held in another version) comes back. */
Test(swim_sync, a_push_pull_reply_holds_only_what_the_request_lacked)
{
    converged(3);
    struct codec_sync hdr;
    header_of(1, &hdr, 0);
    struct members *part = NULL;
    cr_assert(eq(int, members_new(&part, 2, &tm.mem), 0));
    struct member m;
    record_of(1, 0, &m);
    m.incarnation--; /* an older version of node 0's record */
    cr_assert(eq(int, members_put(part, &m), 0));
    record_of(1, 1, &m);
    cr_assert(eq(int, members_put(part, &m), 0));
    ssize_t len = codec_encode_sync(req, sizeof(req), &hdr, part);
    members_del(part);
    cr_assert(gt(i64, (int64_t)len, 0));
    struct got g;
    serve(0, 1, (size_t)len, &g);
    cr_assert(eq(sz, g.n, 2));
    int saw0 = strcmp(g.ids[0], net.nodes[0].id) == 0 || strcmp(g.ids[1], net.nodes[0].id) == 0;
    int saw2 = strcmp(g.ids[0], net.nodes[2].id) == 0 || strcmp(g.ids[1], net.nodes[2].id) == 0;
    cr_assert(saw0 && saw2, "got %s and %s", g.ids[0], g.ids[1]);
    /* The whole table (its checksum still said to differ): nothing to send back. */
    len = codec_encode_sync(req, sizeof(req), &hdr, swim_members(net.nodes[1].s));
    serve(0, 1, (size_t)len, &g);
    cr_assert(eq(sz, g.n, 0));
}

Test(swim_sync, a_pull_gets_only_the_records_its_have_does_not_list)
{
    converged(3);
    uint8_t have[4 * 9];
    struct got g;
    for (uint8_t join = 0; join <= 1; join++) {
        serve(0, 1, pull_request(join, 0, have), &g);
        cr_assert(eq(sz, g.n, 1), "join %u", join);
        cr_assert(eq(str, g.ids[0], net.nodes[2].id));
    }
    /* The sender lists nothing we lack: no pull back. */
    struct swim_stream_req out;
    cr_assert(eq(int, swim_stream_next(net.nodes[0].s, &out), 0));
}

/* A push-pull used to push to us what its sender had; a pull does not, so when its have
 * lists a record we lack we pull from the sender in turn, but not after a catch-up (a seed
 * would pull from every joiner), and at most once per probe interval. */
Test(swim_sync, a_pull_listing_what_we_lack_is_answered_by_a_pull_back)
{
    converged(3);
    struct swim *s0 = net.nodes[0].s;
    uint8_t have[4 * 9];
    struct got g;
    struct swim_stream_req out;
    serve(0, 1, pull_request(1, 0x00000001, have), &g);
    cr_assert(eq(int, swim_stream_next(s0, &out), 0), "a catch-up is not pulled back");
    serve(0, 1, pull_request(0, 0x00000001, have), &g);
    cr_assert(eq(sz, g.n, 1));
    cr_assert(eq(int, swim_stream_next(s0, &out), 1));
    cr_assert(ring_addr_equal(&out.to, &net.nodes[1].addr));
    struct codec_sync hdr;
    cr_assert(eq(int, codec_decode_sync(out.data, out.len, &hdr, NULL, NULL), 0));
    cr_assert(eq(u8, hdr.join, 0));
    cr_assert(eq(u8, hdr.has_have, 1));
    cr_assert(eq(u32, hdr.have_count, 3));
    cr_assert(eq(u32, hdr.member_count, 1));
    cr_assert(eq(int, swim_stream_failed(s0, out.token, net.now_ms), 0));
    /* Within the interval: answered, not pulled back. */
    serve(0, 1, pull_request(0, 0x00000001, have), &g);
    cr_assert(eq(int, swim_stream_next(s0, &out), 0));
}

/* End to end: one node alone holds a newer record; the others see its checksum differ and
 * pull, and what moves is a have and the one record, not tables. */
Test(swim_sync, a_checksum_mismatch_moves_the_difference_not_tables)
{
    int n = 8;
    converged(n);
    uint64_t syncs = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < n; i++) {
        syncs += swim_stats(net.nodes[i].s)->syncs;
        bytes += swim_stats(net.nodes[i].s)->stream_bytes_out;
    }
    struct member m;
    record_of(0, 2, &m);
    m.incarnation += 5;
    cr_assert(eq(int, swim__test_put(net.nodes[0].s, &m), 0));
    struct codec_sync hdr;
    header_of(0, &hdr, 0);
    size_t table_bytes = codec_sync_size(&hdr, swim_members(net.nodes[0].s));
    cr_assert(net_run_until_converged(&net, net.now_ms + 30000));
    for (int i = 0; i < n; i++) {
        cr_assert(ge(u64, net_incarnation(&net, i, 2), m.incarnation));
        syncs -= swim_stats(net.nodes[i].s)->syncs;
        bytes -= swim_stats(net.nodes[i].s)->stream_bytes_out;
    }
    syncs = (uint64_t)-syncs;
    bytes = (uint64_t)-bytes;
    cr_assert(gt(u64, syncs, 0));
    /* A push-pull moved a table each way (a table per merged sync); a pull moves a have and
     * a record. */
    cr_assert(lt(u64, bytes, syncs * table_bytes / 2), "%llu bytes in %llu syncs, a table is %zu",
              (unsigned long long)bytes, (unsigned long long)syncs, table_bytes);
}

/* Compatibility: a node that does not know the have skips it and answers a pull with its
 * whole table (and its reply holds no have). The puller merges that as any reply. */
Test(swim_sync, a_pull_answered_with_a_whole_table_is_merged)
{
    converged(3);
    struct swim *s0 = net.nodes[0].s;
    uint8_t have[4 * 9];
    struct got g;
    struct swim_stream_req out;
    serve(0, 1, pull_request(0, 0x00000001, have), &g);
    cr_assert(eq(int, swim_stream_next(s0, &out), 1));
    /* Node 1 holds a newer record of node 2 that node 0 has not heard of. */
    struct member m;
    record_of(1, 2, &m);
    m.incarnation += 3;
    cr_assert(eq(int, swim__test_put(net.nodes[1].s, &m), 0));
    struct codec_sync hdr;
    header_of(1, &hdr, 0);
    hdr.type = CODEC_SYNC_REPLY;
    ssize_t len = codec_encode_sync(resp, sizeof(resp), &hdr, swim_members(net.nodes[1].s));
    cr_assert(gt(i64, (int64_t)len, 0));
    cr_assert(eq(int, swim_stream_response(s0, out.token, resp, (size_t)len, net.now_ms), 0));
    cr_assert(eq(u64, net_incarnation(&net, 0, 2), m.incarnation));
}
