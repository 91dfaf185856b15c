/*
 * api_methods: lookup, lookup_n, members, ring, stats, watch, join, leave, force_leave, keys,
 * groups, owned_shards, shards, release; drain, undrain, ready (api_life.c); api_groups.c
 * answers for sub-sharded nodes. Each validates its params first, then packs its result;
 * maps use string keys so any msgpack client reads them. Answers come from the current ring
 * (rebuilt once per loop iteration, see node.c) and swim's member table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "err.h"
#include "escape.h"
#include "lease_glue.h"
#include "route.h"
#include "view_pack.h"
#include "shardset.h"
#include "version.h"

static void pack_owner(struct ringd *d, msgpack_packer *pk, uint32_t idx)
{
    const size_t *off = d->ring.owner_offs;
    pk->callback(pk->data, d->ring.owners + off[idx], off[idx + 1] - off[idx]);
}

/* Records the message of a failed call and returns |err|, a negative errno: its wire name is
 * chosen where the answer is packed (ringd_api_pack_error()). */
static int fail(struct api_call *call, int err, const char *fmt, const char *arg)
{
    snprintf(call->message_buf, sizeof(call->message_buf), fmt, arg);
    call->message = call->message_buf;
    return err;
}

static int get_key(const struct rpc_msg *m, struct rpc_bytes *key, struct api_call *call)
{
    int rv = ringd_err_from_ring(rpc_param_bytes(m, 0, key));
    if (rv != 0) {
        return fail(call, rv, "%s: the first param must be the key (str or bin)",
                    rv == UV_EINVAL ? "missing key" : "wrong type");
    }
    return 0;
}

/* lookup's answer for a routed key: the owner's map packed once per rebuild (with "shard"
 * in front under --shards) on a flat node; with --group also the key's group and whether it
 * is this node's ("local": false: |r| names a contact of that group to route through). */
static void pack_route(struct ringd *d, msgpack_packer *pk, const struct ringd_route *r)
{
    uint32_t shard = r->placed.shard;
    const size_t *off = d->ring.owner_offs;
    if (r->group == NULL && shard == UINT32_MAX) {
        pack_owner(d, pk, r->owner);
        return;
    }
    if (r->group == NULL) {
        /* a 3-map header, then the packed map's two pairs (past its fixmap header) */
        msgpack_pack_map(pk, 3);
        view_pack_key_u64(pk, "shard", shard);
        pk->callback(pk->data, d->ring.owners + off[r->owner] + 1,
                     off[r->owner + 1] - off[r->owner] - 1);
        return;
    }
    char addr[RING_ADDR_STRLEN];
    ringd_addr_str(&r->addr, addr);
    msgpack_pack_map(pk, shard == UINT32_MAX ? 4 : 5);
    if (shard != UINT32_MAX) {
        view_pack_key_u64(pk, "shard", shard);
    }
    view_pack_key_str(pk, "group", r->group, r->group_len);
    api_pack_str(pk, "local");
    r->local ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    view_pack_key_str(pk, "id", r->id, r->id_len);
    view_pack_key_str(pk, "address", addr, strlen(addr));
}

static int route_failed(struct api_call *call, int rv)
{
    return fail(call, rv, "%s", ringd_route_strerror(rv));
}

static int m_lookup(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                    struct api_call *call)
{
    struct rpc_bytes key;
    int rv = get_key(m, &key, call);
    if (rv == 0 && m->param_count != 1) {
        rv = fail(call, UV_EINVAL, "lookup takes one param, the key%s", "");
    }
    if (rv != 0) {
        return rv;
    }
    struct ringd_route r;
    rv = ringd_route(d, key.ptr, key.len, &r);
    if (rv != 0) {
        return route_failed(call, rv);
    }
    rpc_pack_result_begin(pk, m->msgid);
    pack_route(d, pk, &r);
    return 0;
}

static int m_lookup_n(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                      struct api_call *call)
{
    struct rpc_bytes key;
    uint64_t n = 0;
    uint32_t owners[HASHRING_REPLICAS_MAX];
    int rv = get_key(m, &key, call);
    if (rv == 0 && m->param_count != 2) {
        rv = fail(call, UV_EINVAL, "lookup_n takes two params, the key and n%s", "");
    }
    if (rv == 0 &&
        (rv = ringd_err_from_ring(rpc_param_uint(m, 1, HASHRING_REPLICAS_MAX, &n))) != 0) {
        return fail(call, rv, "n must be an integer from 1 to 64%s", "");
    }
    if (rv == 0 && n == 0) {
        return fail(call, UV_ERANGE, "n must be an integer from 1 to 64%s", "");
    }
    if (rv != 0) {
        return rv;
    }
    struct ringd_route r;
    int count = ringd_route_n(d, key.ptr, key.len, (size_t)n, owners, &r);
    if (count < 0) {
        return route_failed(call, count);
    }
    rpc_pack_result_begin(pk, m->msgid);
    msgpack_pack_array(pk, (size_t)count);
    for (int i = 0; i < count; i++) {
        if (r.local) {
            r.owner = owners[i];
            r.addr = d->ring.addrs[owners[i]];
            r.id = hashring_member(d->ring.ring, owners[i])->id;
            r.id_len = hashring_member(d->ring.ring, owners[i])->id_len;
        }
        pack_route(d, pk, &r);
    }
    return 0;
}

static int no_params(const struct rpc_msg *m, struct api_call *call)
{
    if (m->param_count != 0) {
        return fail(call, UV_EINVAL, "this method takes no params%s", "");
    }
    return 0;
}

static int m_members(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                     struct api_call *call)
{
    int rv = no_params(m, call);
    if (rv != 0) {
        return rv;
    }
    rpc_pack_result_begin(pk, m->msgid);
    ringd_view_pack_members(d, pk);
    return 0;
}

static int m_groups(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                    struct api_call *call)
{
    int rv = no_params(m, call);
    if (rv == 0 && d->groups == NULL) {
        return fail(call, UV_ENOENT, "sub-sharding is off: this node has no --group%s", "");
    }
    return rv == 0 ? ringd_api_groups(d, m, pk) : rv;
}

static int m_ring(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                  struct api_call *call)
{
    int rv = no_params(m, call);
    if (rv != 0) {
        return rv;
    }
    const struct hashring *r = d->ring.ring;
    size_t n = hashring_member_count(r);
    rpc_pack_result_begin(pk, m->msgid);
    msgpack_pack_map(pk, 5);
    view_pack_key_u64(pk, "checksum", d->ring.checksum); /* kept: ring_checksum is the name */
    view_pack_key_u64(pk, "ring_checksum", d->ring.checksum);
    view_pack_key_u64(pk, "vnodes", hashring_vnodes(r));
    view_pack_key_u64(pk, "points", hashring_point_count(r));
    api_pack_str(pk, "members");
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++) {
        const struct hashring_member *hm = hashring_member(r, i);
        char addr[RING_ADDR_STRLEN];
        ringd_addr_str(&d->ring.addrs[i], addr);
        msgpack_pack_map(pk, 4);
        view_pack_key_str(pk, "id", hm->id, hm->id_len);
        view_pack_key_str(pk, "address", addr, strlen(addr));
        view_pack_key_u64(pk, "weight", hm->weight);
        api_pack_str(pk, "share");
        msgpack_pack_double(pk, d->ring.shares[i]);
    }
    return 0;
}

static void pack_swim_stats(msgpack_packer *pk, const struct swim_stats *st)
{
    msgpack_pack_map(pk, 16);
    view_pack_key_u64(pk, "probes", st->probes);
    view_pack_key_u64(pk, "probe_acks", st->probe_acks);
    view_pack_key_u64(pk, "indirect_probes", st->indirect_probes);
    view_pack_key_u64(pk, "stream_probes", st->stream_probes);
    view_pack_key_u64(pk, "nacks_received", st->nacks_received);
    view_pack_key_u64(pk, "suspicions", st->suspicions);
    view_pack_key_u64(pk, "faulty", st->faulty);
    view_pack_key_u64(pk, "refutations", st->refutations);
    view_pack_key_u64(pk, "syncs", st->syncs);
    view_pack_key_u64(pk, "msgs_in", st->msgs_in);
    view_pack_key_u64(pk, "msgs_out", st->msgs_out);
    view_pack_key_u64(pk, "bytes_in", st->bytes_in);
    view_pack_key_u64(pk, "bytes_out", st->bytes_out);
    view_pack_key_u64(pk, "stream_bytes_in", st->stream_bytes_in);
    view_pack_key_u64(pk, "stream_bytes_out", st->stream_bytes_out);
    view_pack_key_u64(pk, "decode_errors", st->decode_errors);
}

static int m_stats(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                   struct api_call *call)
{
    int rv = no_params(m, call);
    if (rv != 0) {
        return rv;
    }
    const struct members *t = swim_members(d->swim);
    char addr[RING_ADDR_STRLEN];
    ringd_addr_str(&d->self, addr);
    size_t sections = 0;
    for (size_t i = 0; i < d->export_count; i++) {
        sections += d->exports[i].name != NULL && d->exports[i].stats != NULL;
    }
    rpc_pack_result_begin(pk, m->msgid);
    msgpack_pack_map(pk, 16 + sections + (d->groups != NULL));
    view_pack_key_str(pk, "id", d->cfg.id, d->cfg.id_len);
    view_pack_key_str(pk, "address", addr, strlen(addr));
    view_pack_key_str(pk, "version", ringd_version(), strlen(ringd_version()));
    view_pack_key_str(pk, "commit", ringd_commit(), strlen(ringd_commit()));
    view_pack_key_u64(pk, "incarnation", swim_incarnation(d->swim));
    view_pack_key_u64(pk, "health", swim_health(d->swim));
    view_pack_key_u64(pk, "checksum", swim_checksum(d->swim));
    view_pack_key_u64(pk, "ring_checksum", swim_ring_checksum(d->swim));
    api_pack_str(pk, "ready");
    ringd_ready(d) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    /* "members" is a list everywhere else; member_counts is this map's name from now on,
     * "members" stays for the clients that read it (proto/RPC.md, "One type per field"). */
    for (int k = 0; k < 2; k++) {
        api_pack_str(pk, k == 0 ? "members" : "member_counts");
        msgpack_pack_map(pk, 4);
        for (int st = MEMBER_ALIVE; st <= MEMBER_LEFT; st++) {
            view_pack_key_u64(pk, member_status_name(st), members_count_status(t, st));
        }
    }
    view_pack_key_u64(pk, "ring_members",
                      d->ring.ring != NULL ? hashring_member_count(d->ring.ring) : 0);
    view_pack_key_u64(pk, "ring_changes", d->m.ring_changes);
    view_pack_key_u64(pk, "api_requests", ringd_api_counters(call->api)->requests);
    view_pack_key_u64(pk, "api_connections", ringd_api_connections(call->api));
    api_pack_str(pk, "swim");
    pack_swim_stats(pk, swim_stats(d->swim));
    for (size_t i = 0; i < d->export_count; i++) {
        const struct ringd_export *e = &d->exports[i];
        if (e->name != NULL && e->stats != NULL) {
            api_pack_str(pk, e->name);
            e->stats(e->ctx, pk);
        }
    }
    if (d->groups != NULL) {
        api_pack_str(pk, "groups");
        ringd_api_pack_groups_stats(d, pk);
    }
    return 0;
}

/* keys(): the fingerprints of the gossip keys, primary first, and what encryption refused. */
static int m_keys(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                  struct api_call *call)
{
    int rv = no_params(m, call);
    if (rv != 0) {
        return rv;
    }
    rpc_pack_result_begin(pk, m->msgid);
    msgpack_pack_map(pk, 7);
    api_pack_str(pk, "encrypted");
    ringd_encrypting(d) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    api_pack_str(pk, "fingerprints");
    msgpack_pack_array(pk, d->keys.count);
    for (size_t i = 0; i < d->keys.count; i++) {
        char fp[SEAL_FINGERPRINT_LEN];
        seal_fingerprint(&d->keys, i, fp);
        api_pack_str(pk, fp);
    }
    view_pack_key_u64(pk, "auth_failures", d->m.auth_failures);
    view_pack_key_u64(pk, "plaintext_refused", d->m.plaintext_refused);
    view_pack_key_u64(pk, "sealed_refused", d->m.sealed_refused);
    view_pack_key_u64(pk, "replays_refused", d->m.replays_refused);
    view_pack_key_u64(pk, "clock_skew_refused", d->m.skew_refused);
    return 0;
}

static int m_watch(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                   struct api_call *call)
{
    int rv = no_params(m, call);
    if (rv != 0) {
        return rv;
    }
    call->watch = 1;
    rpc_pack_result_begin(pk, m->msgid);
    /* checksum and members are the first names of ring_checksum and ring_members, kept for
     * the clients that read them ("members" is a list everywhere else). */
    msgpack_pack_map(pk, 4);
    view_pack_key_u64(pk, "checksum", d->ring.checksum);
    view_pack_key_u64(pk, "members", hashring_member_count(d->ring.ring));
    view_pack_key_u64(pk, "ring_checksum", d->ring.checksum);
    view_pack_key_u64(pk, "ring_members", hashring_member_count(d->ring.ring));
    return 0;
}

static int m_join(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                  struct api_call *call)
{
    const struct rpc_bytes *items;
    uint32_t count;
    struct ring_addr addrs[RPC_PARAM_ITEMS_MAX];
    int rv = ringd_err_from_ring(rpc_param_list(m, 0, &items, &count));
    if (rv != 0 || m->param_count != 1) {
        return fail(call, rv != 0 ? rv : UV_EINVAL,
                    "join takes one param, a list of \"ip:port\" strings%s", "");
    }
    if (count == 0) {
        return fail(call, UV_EINVAL, "join: no addresses%s", "");
    }
    for (uint32_t i = 0; i < count; i++) {
        if (ring_addr_parse(items[i].ptr, items[i].len, &addrs[i]) != 0) {
            char text[80]; /* the echo is escaped: a client may print it */
            escape_text_buf(text, sizeof(text), items[i].ptr,
                            items[i].len > 64 ? 64 : items[i].len);
            return fail(call, UV_EINVAL, "join: \"%s\" is not a numeric ip:port", text);
        }
    }
    rv = ringd_seeds_add(d, addrs, count);
    if (rv != 0) {
        return fail(call, rv, "join: too many seeds%s", "");
    }
    rpc_pack_result_begin(pk, m->msgid);
    msgpack_pack_map(pk, 1);
    view_pack_key_u64(pk, "seeds", count);
    return 0;
}

static int m_leave(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                   struct api_call *call)
{
    int rv = no_params(m, call);
    if (rv != 0) {
        return rv;
    }
    call->leave = 1;
    rpc_pack_result_begin(pk, m->msgid);
    msgpack_pack_map(pk, 1);
    api_pack_str(pk, "leaving");
    msgpack_pack_true(pk);
    (void)d;
    return 0;
}

/* force_leave(id): a failed member that will never come back leaves every node's table and
 * ring now (swim_force_leave(), Serf's force-leave). An alive member is refused: it would
 * refute the leave anyway. */
static int m_force_leave(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                         struct api_call *call)
{
    struct rpc_bytes id;
    if (m->param_count != 1 || rpc_param_bytes(m, 0, &id) != 0 || id.len == 0) {
        return fail(call, UV_EINVAL, "force_leave takes one param, the member's id%s", "");
    }
    char shown[80]; /* the echo is escaped: a client may print it */
    escape_text_buf(shown, sizeof(shown), id.ptr, id.len > 64 ? 64 : id.len);
    int rv = id.len <= MEMBER_ID_BYTES_MAX ? ringd_force_leave(d, id.ptr, id.len) : UV_ENOENT;
    if (rv == UV_ENOENT) {
        return fail(call, UV_ENOENT, "no member \"%s\"", shown);
    }
    if (rv == UV_EAGAIN) {
        return fail(call, UV_EINVAL, "%s is alive: force-leave takes a failed member", shown);
    }
    if (rv == UV_EINVAL) {
        return fail(call, UV_EINVAL, "%s is this node: it leaves with leave()", shown);
    }
    if (rv != 0) {
        return fail(call, rv, "force_leave: %s", ringd_strerror(rv));
    }
    rpc_pack_result_begin(pk, m->msgid);
    msgpack_pack_map(pk, 2);
    view_pack_key_str(pk, "id", id.ptr, id.len);
    view_pack_key_str(pk, "status", "left", 4);
    return 0;
}

static int m_owned_shards(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                          struct api_call *call)
{
    if (m->param_count != 0) {
        return fail(call, UV_EINVAL, "owned_shards takes no params%s", "");
    }
    if (d->cfg.shards == 0) {
        return fail(call, UV_ENOENT, "logical shards are off (start ringd with --shards S)%s", "");
    }
    rpc_pack_result_begin(pk, m->msgid);
    msgpack_pack_map(pk, 3);
    view_pack_key_u64(pk, "shards", d->cfg.shards);
    view_pack_key_u64(pk, "ring_checksum", d->ring.checksum);
    api_pack_str(pk, "owned");
    msgpack_pack_array(pk, d->shards_owned_count);
    for (size_t i = 0; i < d->shards_owned_count; i++) {
        msgpack_pack_uint32(pk, d->shards_owned[i]);
    }
    return 0;
}

/* One shard's lease as shards() lists it. */
static void pack_lease(msgpack_packer *pk, uint32_t shard, const struct lease_shard_info *in,
                       uint64_t now)
{
    msgpack_pack_map(pk, 4);
    view_pack_key_u64(pk, "shard", shard);
    view_pack_key_u64(pk, "state", in->state);
    view_pack_key_u64(pk, "epoch", in->epoch);
    int live = in->state == LEASE_HELD || in->state == LEASE_RELEASING;
    view_pack_key_u64(pk, "expires_in_ms", live && in->expires_ms > now ? in->expires_ms - now : 0);
}

/* shards(): the owned set as owned_shards() gives it and, with --exclusive, every shard whose
 * lease is not NONE here, with its state and epoch. */
static int m_shards(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                    struct api_call *call)
{
    if (m->param_count != 0) {
        return fail(call, UV_EINVAL, "shards takes no params%s", "");
    }
    if (d->cfg.shards == 0) {
        return fail(call, UV_ENOENT, "logical shards are off (start ringd with --shards S)%s", "");
    }
    uint64_t now = uv_now(d->loop);
    rpc_pack_result_begin(pk, m->msgid);
    msgpack_pack_map(pk, 5);
    view_pack_key_u64(pk, "shards", d->cfg.shards);
    view_pack_key_u64(pk, "ring_checksum", d->ring.checksum);
    api_pack_str(pk, "exclusive");
    d->leases != NULL ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    api_pack_str(pk, "owned");
    msgpack_pack_array(pk, d->shards_owned_count);
    for (size_t i = 0; i < d->shards_owned_count; i++) {
        msgpack_pack_uint32(pk, d->shards_owned[i]);
    }
    api_pack_str(pk, "leases");
    struct lease_shard_info info;
    uint32_t listed = 0;
    for (uint32_t s = 0; s < d->cfg.shards; s++) {
        listed += ringd_lease_get(d, s, now, &info) == 0 && info.state != LEASE_NONE;
    }
    msgpack_pack_array(pk, listed);
    for (uint32_t s = 0; s < d->cfg.shards && listed > 0; s++) {
        if (ringd_lease_get(d, s, now, &info) == 0 && info.state != LEASE_NONE) {
            pack_lease(pk, s, &info, now);
        }
    }
    return 0;
}

/* release(shard): the app is done with a shard it held (normally after a RELEASING
 * notification); it moves to its next owner at once. */
static int m_release(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                     struct api_call *call)
{
    uint64_t shard = 0;
    if (m->param_count != 1 || rpc_param_uint(m, 0, UINT32_MAX, &shard) != 0) {
        return fail(call, UV_EINVAL, "release takes one param, the shard number%s", "");
    }
    if (d->leases == NULL) {
        return fail(call, UV_ENOENT, "leases are off (start ringd with --shards S --exclusive)%s",
                    "");
    }
    if (shard >= d->cfg.shards) {
        return fail(call, UV_EINVAL, "release: no such shard%s", "");
    }
    uint64_t epoch = 0;
    int held = ringd_lease_serving(d, (uint32_t)shard, uv_now(d->loop), &epoch);
    int rv = ringd_lease_release(d, (uint32_t)shard);
    if (rv != 0) {
        return fail(call, rv, "release: this node does not hold that shard%s", "");
    }
    rpc_pack_result_begin(pk, m->msgid);
    msgpack_pack_map(pk, 2);
    view_pack_key_u64(pk, "shard", shard);
    view_pack_key_u64(pk, "epoch", held ? epoch : 0);
    return 0;
}

static int m_drain(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                   struct api_call *call)
{
    return ringd_api_drain(d, m, pk, call, 1);
}

static int m_undrain(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                     struct api_call *call)
{
    return ringd_api_drain(d, m, pk, call, 0);
}

typedef int (*method_fn)(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                         struct api_call *call);

/* keys_op(op, [key]): the runtime keyring, applied here and sent to every alive member
 * (node/keyring.c); answers {seq} at once, and keys_status() the tally as it grows. The key
 * is never echoed. */
static int m_keys_op(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                     struct api_call *call)
{
    struct rpc_bytes op_name, key = { NULL, 0 };
    int op = rpc_param_bytes(m, 0, &op_name) == 0 ? ringd_keyring_op_parse(op_name.ptr, op_name.len)
                                                  : UV_EINVAL;
    if (op < 0 || m->param_count != (op == RINGD_KEYRING_LIST ? 1u : 2u) ||
        (op != RINGD_KEYRING_LIST && rpc_param_bytes(m, 1, &key) != 0)) {
        return fail(call, UV_EINVAL,
                    "keys_op takes [\"list\"] or [\"install\"|\"use\"|\"remove\", key]%s", "");
    }
    const char *why = NULL;
    int rv = ringd_keyring_start(d, op, key.ptr, key.len, &why);
    if (rv < 0) {
        return fail(call, rv, "%s", why != NULL ? why : ringd_strerror(rv));
    }
    rpc_pack_result_begin(pk, m->msgid);
    msgpack_pack_map(pk, 1);
    view_pack_key_u64(pk, "seq", (uint64_t)rv);
    return 0;
}

static int m_keys_status(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                         struct api_call *call)
{
    int rv = no_params(m, call);
    if (rv != 0) {
        return rv;
    }
    rpc_pack_result_begin(pk, m->msgid);
    ringd_keyring_pack_status(d, pk);
    return 0;
}

static const struct {
    const char *name;
    method_fn fn;
} methods[] = {
    { "lookup", m_lookup },
    { "lookup_n", m_lookup_n },
    { "members", m_members },
    { "ring", m_ring },
    { "stats", m_stats },
    { "watch", m_watch },
    { "join", m_join },
    { "leave", m_leave },
    { "force_leave", m_force_leave },
    { "keys", m_keys },
    { "keys_op", m_keys_op },
    { "keys_status", m_keys_status },
    { "groups", m_groups },
    { "owned_shards", m_owned_shards },
    { "shards", m_shards },
    { "release", m_release },
    { "drain", m_drain },
    { "undrain", m_undrain },
    { "ready", ringd_api_ready },
};

int ringd_api_call(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                   struct api_call *call)
{
    for (size_t i = 0; i < RING_ARRAY_LEN(methods); i++) {
        if (rpc_method_is(m, methods[i].name)) {
            method_fn fn = methods[i].fn;
            int any_time = fn == m_join || fn == m_leave || fn == m_stats || fn == m_members ||
                           fn == m_keys || fn == m_keys_op || fn == m_keys_status ||
                           fn == m_drain || fn == m_undrain || fn == ringd_api_ready;
            if (d->ring.ring == NULL && !any_time) {
                return fail(call, UV_EAGAIN, "the ring is not built yet%s", "");
            }
            return methods[i].fn(d, m, pk, call);
        }
    }
    char name[120]; /* escaped (a client may print it) and cut to fit call->message_buf whole */
    escape_text_buf(name, sizeof(name), m->method.ptr, m->method.len);
    return fail(call, UV_ENOENT, "unknown method \"%s\"", name);
}

/* The ids in |a| that are not in |b| (all of |a| when |b| is NULL), as an array of at most
 * |*room| entries; |*room| goes down by the number packed and |*omitted| up by the rest. */
static void pack_missing(msgpack_packer *pk, const struct hashring *a, const struct hashring *b,
                         size_t *room, uint64_t *omitted)
{
    size_t n = a != NULL ? hashring_member_count(a) : 0;
    size_t count = 0;
    uint32_t idx;
    for (uint32_t i = 0; i < n; i++) {
        const struct hashring_member *m = hashring_member(a, i);
        count += b == NULL || hashring_find(b, m->id, m->id_len, &idx) != 0;
    }
    size_t packed = count < *room ? count : *room;
    *omitted += count - packed;
    *room -= packed;
    msgpack_pack_array(pk, packed);
    for (uint32_t i = 0; i < n && packed > 0; i++) {
        const struct hashring_member *m = hashring_member(a, i);
        if (b == NULL || hashring_find(b, m->id, m->id_len, &idx) != 0) {
            msgpack_pack_str_with_body(pk, m->id, m->id_len);
            packed--;
        }
    }
}

/* The params are positional, [checksum, members, added, removed, omitted], because a
 * msgpack-RPC reader takes only scalars and lists of strings as params (proto/RPC.md): the
 * id lists hold RPC_PARAM_ITEMS_MAX ids between them, and |omitted| counts the ids left
 * out (0 unless more than 64 members changed at once; call ring() then). */
int ringd_api_pack_ring_changed(struct ringd *d, const struct ringd_ring *old, msgpack_packer *pk)
{
    size_t room = RPC_PARAM_ITEMS_MAX;
    uint64_t omitted = 0;
    msgpack_pack_uint64(pk, d->ring.checksum);
    msgpack_pack_uint64(pk, hashring_member_count(d->ring.ring));
    pack_missing(pk, d->ring.ring, old->ring, &room, &omitted);
    pack_missing(pk, old->ring, d->ring.ring, &room, &omitted);
    msgpack_pack_uint64(pk, omitted);
    return 0;
}

/* Whether |v| is missing from sorted |b|; |*j| walks |b| forward across calls with rising |v|. */
static int absent(uint32_t v, const uint32_t *b, size_t nb, size_t *j)
{
    while (*j < nb && b[*j] < v) {
        (*j)++;
    }
    return *j == nb || b[*j] != v;
}

/* The shards of sorted |a| missing from sorted |b|, as decimal strings (params take only
 * lists of strings), at most |*room| of them; like pack_missing(). */
static void pack_shards_missing(msgpack_packer *pk, const uint32_t *a, size_t na, const uint32_t *b,
                                size_t nb, size_t *room, uint64_t *omitted)
{
    size_t count = 0, j = 0;
    for (size_t i = 0; i < na; i++) {
        count += absent(a[i], b, nb, &j);
    }
    size_t packed = count < *room ? count : *room;
    *omitted += count - packed;
    *room -= packed;
    msgpack_pack_array(pk, packed);
    j = 0;
    for (size_t i = 0; i < na && packed > 0; i++) {
        if (absent(a[i], b, nb, &j)) {
            msgpack_pack_uint32(pk, a[i]);
            packed--;
        }
    }
}

void ringd_api_pack_lease_changed(struct ringd *d, const struct lease_event *ev, msgpack_packer *pk)
{
    uint64_t now = uv_now(d->loop);
    msgpack_pack_uint32(pk, ev->shard);
    msgpack_pack_uint8(pk, ev->state);
    msgpack_pack_uint8(pk, ev->prev);
    msgpack_pack_uint64(pk, ev->epoch);
    int live = ev->state == LEASE_HELD || ev->state == LEASE_RELEASING;
    msgpack_pack_uint64(pk, live && ev->expires_ms > now ? ev->expires_ms - now : 0);
}

void ringd_api_pack_shards_changed(struct ringd *d, const uint32_t *old, size_t old_n,
                                   msgpack_packer *pk)
{
    size_t room = RPC_PARAM_ITEMS_MAX;
    uint64_t omitted = 0;
    msgpack_pack_uint64(pk, d->ring.checksum);
    msgpack_pack_uint64(pk, d->shards_owned_count);
    pack_shards_missing(pk, d->shards_owned, d->shards_owned_count, old, old_n, &room, &omitted);
    pack_shards_missing(pk, old, old_n, d->shards_owned, d->shards_owned_count, &room, &omitted);
    msgpack_pack_uint64(pk, omitted);
}
