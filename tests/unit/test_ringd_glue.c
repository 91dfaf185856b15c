/*
 * ringd's glue logic against a hand-built view, without a daemon: the one routing function,
 * the local API's lookup methods, the owned-shard set and the node's subscriptions. The view
 * is what the node publishes (d->ring: the ring, each member's address and packed lookup
 * answer), built here from a member list.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "lease_glue.h"
#include "ring/error.h"
#include "ring/rpc.h"
#include "ring/shards.h"
#include "route.h"
#include "shardset.h"
#include "view_pack.h"

static struct ringd d;
static char ids[16][8];

/* A view of |n| members "n0".."n<n-1>" at 10.0.0.<i+1>:7946, this node "n0", --shards
 * |shards| (0: off), joined or not. */
static void view(size_t n, uint32_t shards, int joined)
{
    memset(&d, 0, sizeof(d));
    memcpy(d.cfg.id, "n0", 3);
    d.cfg.id_len = 2;
    d.cfg.shards = shards;
    d.log.level = RINGD_LOG_ERROR;
    struct hashring_member hm[16];
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof(ids[i]), "n%u", (unsigned)(i % 16));
        hm[i] = (struct hashring_member){ ids[i], strlen(ids[i]), 1 };
    }
    struct hashring_config hc = { .vnodes = 64 };
    cr_assert(eq(int, hashring_new(&d.ring.ring, hm, n, &hc, NULL), 0));
    d.ring.addrs = calloc(n + 1, sizeof(*d.ring.addrs));
    for (uint32_t i = 0; i < n; i++) {
        const struct hashring_member *m = hashring_member(d.ring.ring, i);
        char num[8], text[32]; /* ring ids are not NUL-terminated */
        snprintf(num, sizeof(num), "%.*s", (int)m->id_len - 1, m->id + 1);
        snprintf(text, sizeof(text), "10.0.0.%d:7946", atoi(num) + 1);
        cr_assert(eq(int, ring_addr_parse(text, strlen(text), &d.ring.addrs[i]), 0));
    }
    cr_assert(eq(int, ringd_view_pack_owners(&d.ring), 0));
    d.joined = joined;
}

static void teardown(void)
{
    hashring_del(d.ring.ring);
    free(d.ring.addrs);
    free(d.ring.owners);
    free(d.ring.owner_offs);
    ringd_shards_free(&d);
}

TestSuite(ringd_glue, .fini = teardown);

Test(ringd_glue, route_refuses_before_joining_and_on_an_empty_ring)
{
    view(3, 0, 0);
    struct ringd_route r;
    cr_assert(eq(int, ringd_route(&d, "k", 1, &r), UV_EAGAIN), "not joined: no answer");
    cr_assert(ne(ptr, strstr(ringd_route_strerror(UV_EAGAIN), "not joined"), NULL));
    d.joined = 1;
    cr_assert(eq(int, ringd_route(&d, "k", 1, &r), 0));
    hashring_del(d.ring.ring);
    d.ring.ring = NULL;
    cr_assert(eq(int, ringd_route(&d, "k", 1, &r), -ENODATA));
}

Test(ringd_glue, route_names_the_rings_owner_and_its_address)
{
    view(5, 0, 1);
    for (int k = 0; k < 200; k++) {
        char key[16];
        snprintf(key, sizeof(key), "key-%d", k);
        struct ringd_route r;
        uint32_t want;
        cr_assert(eq(int, ringd_route(&d, key, strlen(key), &r), 0));
        cr_assert(eq(int, hashring_lookup(d.ring.ring, key, strlen(key), &want), 0));
        cr_assert(eq(u32, r.owner, want));
        cr_assert(eq(int, r.local, 1));
        cr_assert(eq(ptr, (void *)r.group, NULL));
        cr_assert(eq(u32, r.placed.shard, UINT32_MAX));
        cr_assert(eq(int, ring_addr_equal(&r.addr, &d.ring.addrs[want]), 1));
        cr_assert(eq(int, memcmp(r.id, hashring_member(d.ring.ring, want)->id, r.id_len), 0));
    }
}

Test(ringd_glue, route_with_shards_places_the_key_by_its_shard)
{
    view(4, 64, 1);
    for (int k = 0; k < 100; k++) {
        char key[16], skey[SHARDS_KEY_BYTES_MAX + 1];
        snprintf(key, sizeof(key), "user:%d", k);
        struct ringd_route r;
        cr_assert(eq(int, ringd_route(&d, key, strlen(key), &r), 0));
        uint32_t shard = shards_of(key, strlen(key), 64);
        cr_assert(eq(u32, r.placed.shard, shard));
        size_t len = shards_key(shard, skey);
        uint32_t want;
        cr_assert(eq(int, hashring_lookup(d.ring.ring, skey, len, &want), 0));
        cr_assert(eq(u32, r.owner, want), "the shard's owner, not the key's");
    }
}

/* Calls the API method of a request packed from |method| and params (a str key, then an
 * optional uint); returns ringd_api_call's code (a negative errno) and the response bytes in
 * |*out|. */
static int call(const char *method, const char *key, int with_n, uint64_t n, struct rpc_buf *out)
{
    struct rpc_buf req;
    msgpack_packer pk;
    rpc_buf_init(&req, NULL, 0);
    msgpack_packer_init(&pk, &req, rpc_buf_write);
    cr_assert(eq(int, rpc_pack_request_begin(&pk, 7, method, strlen(method), with_n ? 2 : 1), 0));
    msgpack_pack_str_with_body(&pk, key, strlen(key));
    if (with_n) {
        msgpack_pack_uint64(&pk, n);
    }
    struct rpc_msg m;
    cr_assert(eq(int, rpc_parse(req.data, req.len, &m, NULL), 0));
    rpc_buf_init(out, NULL, 0);
    msgpack_packer_init(&pk, out, rpc_buf_write);
    struct api_call c;
    memset(&c, 0, sizeof(c));
    int rv = ringd_api_call(&d, &m, &pk, &c);
    rpc_buf_free(&req);
    return rv;
}

/* The result map of a response in |b|: the id in |id|. */
static void result_id(const struct rpc_buf *b, const msgpack_object *res, char *id, size_t cap)
{
    (void)b;
    cr_assert(eq(int, res->type, MSGPACK_OBJECT_MAP));
    for (uint32_t i = 0; i < res->via.map.size; i++) {
        const msgpack_object_kv *kv = &res->via.map.ptr[i];
        if (kv->key.via.str.size == 2 && memcmp(kv->key.via.str.ptr, "id", 2) == 0) {
            snprintf(id, cap, "%.*s", (int)kv->val.via.str.size, kv->val.via.str.ptr);
            return;
        }
    }
    cr_assert(0, "no id in the result");
}

Test(ringd_glue, api_lookup_and_lookup_n_answer_what_route_says)
{
    view(5, 0, 1);
    for (int k = 0; k < 50; k++) {
        char key[16], id[16];
        snprintf(key, sizeof(key), "acct-%d", k);
        struct ringd_route r;
        cr_assert(eq(int, ringd_route(&d, key, strlen(key), &r), 0));
        struct rpc_buf out;
        cr_assert(eq(int, call("lookup", key, 0, 0, &out), 0));
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        cr_assert(
            eq(int, msgpack_unpack_next(&u, out.data, out.len, NULL), MSGPACK_UNPACK_SUCCESS));
        result_id(&out, &u.data.via.array.ptr[3], id, sizeof(id));
        cr_assert(eq(int, (int)strlen(id), (int)r.id_len));
        cr_assert(eq(int, memcmp(id, r.id, r.id_len), 0), "lookup %s vs route", id);
        msgpack_unpacked_destroy(&u);
        rpc_buf_free(&out);

        cr_assert(eq(int, call("lookup_n", key, 1, 9, &out), 0));
        msgpack_unpacked_init(&u);
        cr_assert(
            eq(int, msgpack_unpack_next(&u, out.data, out.len, NULL), MSGPACK_UNPACK_SUCCESS));
        const msgpack_object *list = &u.data.via.array.ptr[3];
        cr_assert(eq(u32, list->via.array.size, 5), "n above the member count: every member");
        result_id(&out, &list->via.array.ptr[0], id, sizeof(id));
        cr_assert(eq(int, memcmp(id, r.id, r.id_len), 0), "the primary first");
        msgpack_unpacked_destroy(&u);
        rpc_buf_free(&out);
    }
    struct rpc_buf out;
    cr_assert(eq(int, call("lookup_n", "k", 1, 0, &out), UV_ERANGE));
    rpc_buf_free(&out);
    cr_assert(eq(int, call("lookup_n", "k", 1, 65, &out), UV_ERANGE));
    rpc_buf_free(&out);
    d.joined = 0;
    cr_assert(eq(int, call("lookup", "k", 0, 0, &out), UV_EAGAIN));
    rpc_buf_free(&out);
}

/* The error answer ringd_api_pack_error() packs for |err| and |message|: its code's name in
 * |name| and its message in |msg|. */
static void error_answer(int err, const char *message, char *name, char *msg, size_t cap)
{
    struct rpc_buf b;
    msgpack_packer pk;
    rpc_buf_init(&b, NULL, 0);
    msgpack_packer_init(&pk, &b, rpc_buf_write);
    ringd_api_pack_error(&pk, 7, err, message);
    struct rpc_msg m;
    cr_assert(eq(int, rpc_parse(b.data, b.len, &m, NULL), 0));
    cr_assert(eq(int, m.is_error, 1));
    cr_assert(eq(u32, m.msgid, 7));
    snprintf(name, cap, "%.*s", (int)m.error_code.len, (const char *)m.error_code.ptr);
    snprintf(msg, cap, "%.*s", (int)m.error_message.len, (const char *)m.error_message.ptr);
    rpc_buf_free(&b);
}

Test(ringd_glue, api_failures_are_errno_and_answer_with_the_wires_names)
{
    view(0, 0, 1); /* joined, and the ring is empty */
    char name[200], msg[200];
    struct rpc_buf out;
    int rv = call("lookup", "k", 0, 0, &out);
    rpc_buf_free(&out);
    cr_assert(eq(int, rv, -ENODATA), "an empty ring is no data inside ringd");
    error_answer(rv, NULL, name, msg, sizeof(name));
    cr_assert(eq(str, name, "EEMPTY"), "and EEMPTY on the wire");
    cr_assert(eq(str, msg, "ring has no members"), "the message of the wire's name");
    rv = call("no_such", "k", 0, 0, &out);
    rpc_buf_free(&out);
    cr_assert(eq(int, rv, UV_ENOENT));
    error_answer(rv, "unknown method", name, msg, sizeof(name));
    cr_assert(eq(str, name, "ENOENT"));
    cr_assert(eq(str, msg, "unknown method"));
    error_answer(UV_ERANGE, NULL, name, msg, sizeof(name));
    cr_assert(eq(str, name, "ERANGE"));
    error_answer(UV_EIO, NULL, name, msg, sizeof(name));
    cr_assert(eq(str, name, "EAGAIN"), "an errno without a wire name: try again");
}

static int shard_events;
static size_t shard_events_old_n;

static void on_shards(void *ctx, const uint32_t *old, size_t old_n)
{
    (void)old;
    cr_assert(eq(ptr, ctx, &d));
    shard_events++;
    shard_events_old_n = old_n;
}

/* The owned set is what libring's shards_owned() gives this node, and subscribers hear of it
 * once when it is first computed, not again while it stays the same. */
Test(ringd_glue, owned_shards_follow_the_view_and_subscribers_hear_of_changes)
{
    view(4, 128, 1);
    const struct ringd_node_cbs cbs = { .shards_changed = on_shards };
    cr_assert(eq(int, ringd_node_subscribe(&d, &cbs, &d), 0));
    shard_events = 0;
    ringd_shards_refresh(&d);
    cr_assert(eq(int, shard_events, 1));
    cr_assert(eq(sz, shard_events_old_n, 0));
    uint32_t idx, want[128];
    cr_assert(eq(int, hashring_find(d.ring.ring, "n0", 2, &idx), 0));
    ssize_t n = shards_owned(d.ring.ring, idx, NULL, 0, 128, want);
    cr_assert(gt(i64, (int64_t)n, 0));
    cr_assert(eq(sz, d.shards_owned_count, (size_t)n));
    cr_assert(eq(int, memcmp(d.shards_owned, want, (size_t)n * sizeof(want[0])), 0));
    for (size_t i = 0; i < d.shards_owned_count; i++) {
        struct ringd_route r;
        char skey[SHARDS_KEY_BYTES_MAX + 1];
        size_t len = shards_key(d.shards_owned[i], skey);
        uint32_t owner;
        cr_assert(eq(int, hashring_lookup(d.ring.ring, skey, len, &owner), 0));
        cr_assert(eq(u32, owner, idx), "shard %u is routed elsewhere", d.shards_owned[i]);
        (void)r;
    }
    ringd_shards_refresh(&d);
    cr_assert(eq(int, shard_events, 1), "the same set: no event");
}

Test(ringd_glue, subscriptions_and_acceptors_are_bounded)
{
    view(1, 0, 1);
    const struct ringd_node_cbs cbs = { 0 };
    for (int i = 0; i < RINGD_SUBSCRIBERS_MAX; i++) {
        cr_assert(eq(int, ringd_node_subscribe(&d, &cbs, NULL), 0));
    }
    cr_assert(eq(int, ringd_node_subscribe(&d, &cbs, NULL), UV_ENOBUFS));
    const struct ringd_export ex = { 0 };
    for (int i = 0; i < RINGD_EXPORTS_MAX; i++) {
        cr_assert(eq(int, ringd_node_export(&d, &ex), 0));
    }
    cr_assert(eq(int, ringd_node_export(&d, &ex), UV_ENOBUFS));
}

Test(ringd_glue, lease_gate_serves_only_a_held_lease_and_waits_a_bounded_time)
{
    static const struct {
        int serving, minority;
        uint64_t now, until;
        enum ringd_lease_gate want;
    } cases[] = {
        { 1, 0, 100, 50, LEASE_GATE_SERVE },      /* held: served, however long it took */
        { 1, 1, 100, 200, LEASE_GATE_SERVE },     /* held (it cannot be on a minority for long) */
        { 0, 1, 100, 200, LEASE_GATE_NO_QUORUM }, /* a minority never waits */
        { 0, 0, 100, 200, LEASE_GATE_WAIT },      /* on its way: wait */
        { 0, 0, 200, 200, LEASE_GATE_NO_LEASE },  /* the wait is over */
        { 0, 0, 300, 200, LEASE_GATE_NO_LEASE },
    };
    for (size_t i = 0; i < RING_ARRAY_LEN(cases); i++) {
        cr_assert(eq(int,
                     ringd_lease_gate_decide(cases[i].serving, cases[i].minority, cases[i].now,
                                             cases[i].until),
                     cases[i].want),
                  "case %zu", i);
    }
}

Test(ringd_glue, without_exclusive_every_shard_is_served_with_epoch_0)
{
    view(3, 16, 1);
    uint64_t epoch = 7;
    cr_assert(eq(int, ringd_lease_serving(&d, 5, 1000, &epoch), 1));
    cr_assert(eq(u64, epoch, 0));
    cr_assert(eq(int, ringd_lease_gate(&d, 5, 1000, 0, &epoch), LEASE_GATE_SERVE));
    struct lease_shard_info info;
    cr_assert(eq(int, ringd_lease_get(&d, 5, 1000, &info), UV_EINVAL));
    cr_assert(eq(int, ringd_lease_release(&d, 5), UV_EINVAL));
}

Test(ringd_glue, a_lease_not_yet_held_is_not_served)
{
    view(3, 16, 1);
    struct ringd_leases ls;
    memset(&ls, 0, sizeof(ls));
    struct lease_config lc = { .id = "n0", .id_len = 2, .shards = 16 };
    cr_assert(eq(int, lease_new(&ls.l, &lc, NULL, 0), 0));
    d.leases = &ls;
    uint64_t epoch = 7;
    for (uint32_t s = 0; s < 16; s++) {
        cr_assert(eq(int, ringd_lease_serving(&d, s, 10, &epoch), 0), "shard %u", s);
        struct lease_shard_info info;
        cr_assert(eq(int, ringd_lease_get(&d, s, 10, &info), 0));
        cr_assert(eq(u8, info.state, LEASE_NONE));
    }
    struct lease_shard_info info;
    cr_assert(eq(int, ringd_lease_get(&d, 16, 10, &info), UV_EINVAL), "no such shard");
    d.leases = NULL;
    lease_del(ls.l);
}

/* Calls |method| with params packed by |pack| (NULL: none); returns ringd_api_call's code. */
static int call_with(const char *method, void (*pack)(msgpack_packer *), uint32_t params)
{
    struct rpc_buf req, out;
    msgpack_packer pk;
    rpc_buf_init(&req, NULL, 0);
    msgpack_packer_init(&pk, &req, rpc_buf_write);
    cr_assert(eq(int, rpc_pack_request_begin(&pk, 9, method, strlen(method), params), 0));
    if (pack != NULL) {
        pack(&pk);
    }
    struct rpc_msg m;
    cr_assert(eq(int, rpc_parse(req.data, req.len, &m, NULL), 0));
    rpc_buf_init(&out, NULL, 0);
    msgpack_packer_init(&pk, &out, rpc_buf_write);
    struct api_call c;
    memset(&c, 0, sizeof(c));
    int rv = ringd_api_call(&d, &m, &pk, &c);
    rpc_buf_free(&req);
    rpc_buf_free(&out);
    return rv;
}

static void pack_5(msgpack_packer *pk)
{
    msgpack_pack_uint64(pk, 5);
}

static void pack_16(msgpack_packer *pk)
{
    msgpack_pack_uint64(pk, 16);
}

static void pack_huge(msgpack_packer *pk)
{
    msgpack_pack_uint64(pk, 1ull << 40);
}

static void pack_negative(msgpack_packer *pk)
{
    msgpack_pack_int64(pk, -1);
}

static void pack_str(msgpack_packer *pk)
{
    msgpack_pack_str_with_body(pk, "5", 1);
}

static void pack_two(msgpack_packer *pk)
{
    msgpack_pack_uint64(pk, 5);
    msgpack_pack_uint64(pk, 6);
}

Test(ringd_glue, shards_and_release_refuse_bad_params_and_shards_not_held)
{
    uv_loop_t loop;
    cr_assert(eq(int, uv_loop_init(&loop), 0));
    view(3, 0, 1);
    d.loop = &loop;
    cr_assert(eq(int, call_with("shards", NULL, 0), UV_ENOENT), "no --shards");
    cr_assert(eq(int, call_with("release", pack_5, 1), UV_ENOENT), "no --exclusive");
    d.cfg.shards = 16;
    cr_assert(eq(int, call_with("shards", NULL, 0), 0));
    cr_assert(eq(int, call_with("shards", pack_5, 1), UV_EINVAL), "shards takes no params");
    struct ringd_leases ls;
    memset(&ls, 0, sizeof(ls));
    struct lease_config lc = { .id = "n0", .id_len = 2, .shards = 16 };
    cr_assert(eq(int, lease_new(&ls.l, &lc, NULL, 0), 0));
    d.leases = &ls;
    cr_assert(eq(int, call_with("shards", NULL, 0), 0));
    cr_assert(eq(int, call_with("release", NULL, 0), UV_EINVAL), "no shard");
    cr_assert(eq(int, call_with("release", pack_str, 1), UV_EINVAL), "a string");
    cr_assert(eq(int, call_with("release", pack_negative, 1), UV_EINVAL), "negative");
    cr_assert(eq(int, call_with("release", pack_huge, 1), UV_EINVAL), "over 32 bits");
    cr_assert(eq(int, call_with("release", pack_16, 1), UV_EINVAL), "shard >= S");
    cr_assert(eq(int, call_with("release", pack_two, 2), UV_EINVAL), "two params");
    cr_assert(eq(int, call_with("release", pack_5, 1), UV_ENOENT), "not held here");
    d.leases = NULL;
    lease_del(ls.l);
    cr_assert(eq(int, uv_loop_close(&loop), 0));
}
