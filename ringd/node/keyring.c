/*
 * keyring: the runtime keyring, `ringctl keys list|install|use|remove` (as Serf's keyring).
 *
 * An operation starts on one node (the local API's keys_op()): the node applies it to its own
 * keyring, then asks every other alive member to do the same over an authenticated peer query
 * on the gossip port (stream.c's ringd_stream_call(): the msgpack-RPC request
 * ["keyring", [op, key]] under the port's session handshake; the peer's stream.c hands it to
 * ringd_keyring_serve()). Each answer, or its
 * failure (refused, unreachable, timed out), is tallied; the API's keys_status() reports the
 * tally while it grows, and ringctl polls it until every member has answered ("3/3 nodes
 * ok", failures listed). Every answer carries the member's fingerprints, primary first, so
 * `list` shows how many nodes hold each key.
 *
 * Keys never leave this file except under a session to a peer: answers, logs and the API carry
 * fingerprints only. Queries are served only by a node that accepts nothing but sealed
 * packets (no --insecure, no --gossip-*-plaintext), so only a holder of a cluster key can
 * change a keyring. The runtime keyring lives in memory: a reload of the key file (SIGHUP, or
 * the file changing) replaces it, so persist a change by writing the key file too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "err.h"
#include "ring/error.h"
#include "ring/rpc.h"

/* A peer that has not answered within this long counts as failed. */
#define KEYRING_PEER_TIMEOUT_MS 5000
/* Answers larger than this are not a keyring answer. */
#define KEYRING_ANSWER_BYTES_MAX 4096

struct keyring_peer {
    struct ringd_keyop *op;
    struct ringd_stream *call; /* NULL once it ended */
    char id[MEMBER_ID_BYTES_MAX + 1];
};

static const char *const op_names[] = { "list", "install", "use", "remove" };

int ringd_keyring_op_parse(const char *name, size_t len)
{
    for (size_t i = 0; i < RING_ARRAY_LEN(op_names); i++) {
        if (strlen(op_names[i]) == len && memcmp(op_names[i], name, len) == 0) {
            return (int)i;
        }
    }
    return UV_EINVAL;
}

/* A key as given: its base64 (44 characters) into |key| (*len 32), or a fingerprint (16 hex
 * digits, copied, *len 16). Returns 0 or UV_EINVAL. */
static int key_parse(const char *text, size_t len, uint8_t key[SEAL_KEY_BYTES], size_t *key_len)
{
    if (len == SEAL_FINGERPRINT_LEN - 1) {
        for (size_t i = 0; i < len; i++) {
            if (strchr("0123456789abcdef", text[i]) == NULL || text[i] == '\0') {
                return UV_EINVAL;
            }
        }
        memcpy(key, text, len);
        *key_len = len;
        return 0;
    }
    size_t n = 0;
    const char *end = NULL;
    uint8_t buf[SEAL_KEY_BYTES + 1];
    int rv = sodium_base642bin(buf, sizeof(buf), text, len, NULL, &n, &end,
                               sodium_base64_VARIANT_ORIGINAL);
    if (rv != 0 || end != text + len || n != SEAL_KEY_BYTES) {
        sodium_memzero(buf, sizeof(buf));
        return UV_EINVAL;
    }
    memcpy(key, buf, SEAL_KEY_BYTES);
    sodium_memzero(buf, sizeof(buf));
    *key_len = SEAL_KEY_BYTES;
    return 0;
}

/* Applies |op| with |text| (the key or fingerprint as given) to this node's keyring. Returns
 * 0 or a negative errno with a reason in |why|. */
static int apply_local(struct ringd *d, int op, const char *text, size_t len, const char **why)
{
    uint8_t key[SEAL_KEY_BYTES];
    size_t key_len = 0;
    *why = NULL;
    if (op == RINGD_KEYRING_LIST) {
        return 0;
    }
    if (key_parse(text, len, key, &key_len) != 0 ||
        (op == RINGD_KEYRING_INSTALL && key_len != SEAL_KEY_BYTES)) {
        *why = op == RINGD_KEYRING_INSTALL ? "not a base64 32-byte key"
                                           : "not a base64 32-byte key or a fingerprint";
        return UV_EINVAL;
    }
    int rv = 0;
    if (op == RINGD_KEYRING_INSTALL) {
        rv = seal_keyring_install(&d->keys, key);
        *why = rv == RING_EEXIST ? "already installed" : rv != 0 ? "keyring full (8 keys)" : NULL;
        rv = rv == RING_EEXIST ? 0 : rv; /* installing twice is done, not an error */
    } else {
        int i = seal_keyring_find(&d->keys, key, key_len);
        rv = i < 0                     ? i
             : op == RINGD_KEYRING_USE ? seal_keyring_use(&d->keys, (size_t)i)
                                       : seal_keyring_remove(&d->keys, (size_t)i);
        *why = i < 0               ? "no such key"
               : rv == RING_EINVAL ? "refusing to remove the primary key"
                                   : NULL;
    }
    sodium_memzero(key, sizeof(key));
    return ringd_err_from_ring(rv);
}

/* The strict mode keyring queries need: keys, and no plaintext in either direction. */
static int strict(const struct ringd *d)
{
    return ringd_encrypting(d) && !d->cfg.gossip_accept_plaintext && !d->cfg.gossip_send_plaintext;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void pack_fingerprints(const struct ringd *d, msgpack_packer *pk)
{
    msgpack_pack_array(pk, d->keys.count);
    for (size_t i = 0; i < d->keys.count; i++) {
        char fp[SEAL_FINGERPRINT_LEN];
        seal_fingerprint(&d->keys, i, fp);
        pack_str(pk, fp);
    }
}

static void log_op(struct ringd *d, int op, const char *from, int rv, const char *why)
{
    char fp[SEAL_FINGERPRINT_LEN] = "";
    if (d->keys.count > 0) {
        seal_fingerprint(&d->keys, 0, fp);
    }
    ringd_log(&d->log, rv == 0 ? RINGD_LOG_INFO : RINGD_LOG_WARN, "keyring", "op", op_names[op],
              "from", from, "primary", fp, "error",
              rv == 0       ? ""
              : why != NULL ? why
                            : ringd_strerror(rv),
              NULL);
}

void ringd_keyring_serve(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk)
{
    struct rpc_bytes op_name, key = { NULL, 0 };
    int op = UV_EINVAL;
    if (rpc_param_bytes(m, 0, &op_name) == 0) {
        op = ringd_keyring_op_parse(op_name.ptr, op_name.len);
    }
    if (op < 0 || (op != RINGD_KEYRING_LIST && rpc_param_bytes(m, 1, &key) != 0)) {
        const char *why = "keyring takes [op, key]";
        rpc_pack_error(pk, m->msgid, RING_EINVAL, why, strlen(why));
        return;
    }
    if (!strict(d)) {
        const char *why = "keyring queries need a node that accepts only sealed packets";
        rpc_pack_error(pk, m->msgid, RING_EAUTH, why, strlen(why));
        return;
    }
    const char *why = NULL;
    int rv = apply_local(d, op, key.ptr, key.len, &why);
    if (op != RINGD_KEYRING_LIST) {
        log_op(d, op, "peer", rv, why);
    }
    if (rv != 0) {
        /* The peer's answer carries the wire's RING_E* name (err.h). */
        why = why != NULL ? why : ringd_strerror(rv);
        rpc_pack_error(pk, m->msgid, ringd_err_to_ring(rv), why, strlen(why));
        return;
    }
    rpc_pack_result_begin(pk, m->msgid);
    msgpack_pack_map(pk, 2);
    pack_str(pk, "id");
    msgpack_pack_str_with_body(pk, d->cfg.id, d->cfg.id_len);
    pack_str(pk, "fingerprints");
    pack_fingerprints(d, pk);
}

/* ---- the tally --------------------------------------------------------------------------- */

/* Counts one node's fingerprints (|fps|, primary first). */
static void tally_fps(struct ringd_keyop *op, const char *const *fps, const size_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (lens[i] != SEAL_FINGERPRINT_LEN - 1) {
            continue;
        }
        size_t k = 0;
        while (k < op->fp_count && memcmp(op->fps[k].fp, fps[i], lens[i]) != 0) {
            k++;
        }
        if (k == op->fp_count) {
            if (op->fp_count == RINGD_KEYOP_FPS_MAX) {
                continue;
            }
            memcpy(op->fps[k].fp, fps[i], lens[i]);
            op->fps[k].fp[lens[i]] = '\0';
            op->fp_count++;
        }
        op->fps[k].nodes++;
        op->fps[k].primary += i == 0;
    }
}

static void tally_fail(struct ringd_keyop *op, const char *id, const char *why)
{
    op->failed++;
    if (op->failures_shown < RINGD_KEYOP_FAILURES_MAX) {
        snprintf(op->failures[op->failures_shown].id, sizeof(op->failures[0].id), "%.*s",
                 (int)sizeof(op->failures[0].id) - 1, id);
        snprintf(op->failures[op->failures_shown].why, sizeof(op->failures[0].why), "%.*s",
                 (int)sizeof(op->failures[0].why) - 1, why);
        op->failures_shown++;
    }
}

/* Reads a keyring answer (an RPC response's result or error) into the tally. */
static void tally_answer(struct ringd_keyop *op, const char *id, const uint8_t *buf, size_t len)
{
    struct rpc_msg m;
    if (rpc_parse(buf, len, &m, NULL) != 0 || m.kind != RPC_RESPONSE) {
        tally_fail(op, id, "malformed answer");
        return;
    }
    if (m.is_error) {
        char why[96];
        snprintf(why, sizeof(why), "%.*s", (int)m.error_message.len, m.error_message.ptr);
        tally_fail(op, id, why);
        return;
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    const char *fps[SEAL_KEYS_MAX];
    size_t lens[SEAL_KEYS_MAX], n = 0;
    if (msgpack_unpack_next(&u, m.result.ptr, m.result.len, NULL) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < u.data.via.map.size; i++) {
            const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size != 12 ||
                memcmp(kv->key.via.str.ptr, "fingerprints", 12) != 0 ||
                kv->val.type != MSGPACK_OBJECT_ARRAY) {
                continue;
            }
            for (uint32_t k = 0; k < kv->val.via.array.size && n < SEAL_KEYS_MAX; k++) {
                const msgpack_object *o = &kv->val.via.array.ptr[k];
                if (o->type == MSGPACK_OBJECT_STR) {
                    fps[n] = o->via.str.ptr;
                    lens[n++] = o->via.str.size;
                }
            }
        }
    }
    op->ok++;
    tally_fps(op, fps, lens, n);
    msgpack_unpacked_destroy(&u);
}

/* ---- one peer's query --------------------------------------------------------------------- */

/* Ends |p| once: tallies |why| as its failure unless it answered, cancels its call if it is
 * still running, and frees it. */
static void peer_end(struct keyring_peer *p, const char *why)
{
    struct ringd_keyop *op = p->op;
    op->pending--;
    if (why != NULL) {
        tally_fail(op, p->id, why);
    }
    for (size_t i = 0; i < op->peer_count; i++) {
        if (op->peers[i] == p) {
            op->peers[i] = NULL;
        }
    }
    if (p->call != NULL) {
        ringd_stream_call_cancel(p->call);
    }
    free(p);
}

static void peer_done(void *ctx, const char *why, const uint8_t *answer, size_t len)
{
    struct keyring_peer *p = ctx;
    p->call = NULL;
    if (why == NULL) {
        tally_answer(p->op, p->id, answer, len);
    }
    peer_end(p, why);
}

/* ["keyring", [op, key]] as a msgpack-RPC request, into |b|. */
static void make_request(struct rpc_buf *b, int op, const char *key, size_t key_len)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, b, rpc_buf_write);
    rpc_pack_request_begin(&pk, 1, "keyring", 7, op == RINGD_KEYRING_LIST ? 1 : 2);
    pack_str(&pk, op_names[op]);
    if (op != RINGD_KEYRING_LIST) {
        msgpack_pack_str_with_body(&pk, key, key_len);
    }
}

static void peer_start(struct ringd *d, struct ringd_keyop *op, const char *id, size_t id_len,
                       const struct ring_addr *addr, int kind, const char *key, size_t key_len)
{
    struct keyring_peer *p = calloc(1, sizeof(*p));
    op->pending++;
    if (p == NULL || op->peer_count == RINGD_KEYOP_PEERS_MAX) {
        free(p);
        op->pending--;
        tally_fail(op, id, "too many members to ask");
        return;
    }
    p->op = op;
    snprintf(p->id, sizeof(p->id), "%.*s", (int)id_len, id);
    op->peers[op->peer_count++] = p;
    struct rpc_buf b;
    rpc_buf_init(&b, NULL, 0);
    make_request(&b, kind, key, key_len);
    /* the call goes under the gossip port's session (strict() holds: no plaintext) */
    p->call = b.error == 0 ? ringd_stream_call(d, addr, (const uint8_t *)b.data, b.len,
                                               KEYRING_PEER_TIMEOUT_MS, KEYRING_ANSWER_BYTES_MAX,
                                               peer_done, p)
                           : NULL;
    sodium_memzero(b.data, b.len);
    rpc_buf_free(&b);
    if (p->call == NULL) {
        peer_end(p, "could not start the query");
    }
}

/* ---- the operation ---------------------------------------------------------------------- */

int ringd_keyring_start(struct ringd *d, int op, const char *key, size_t key_len, const char **why)
{
    *why = NULL;
    if (!strict(d)) {
        *why = "the runtime keyring needs --keyfile and no --insecure or --gossip-*-plaintext";
        return UV_EINVAL;
    }
    if (d->keyop != NULL && d->keyop->pending > 0) {
        *why = "another keys operation is still running";
        return UV_EAGAIN;
    }
    int rv = apply_local(d, op, key, key_len, why);
    if (op != RINGD_KEYRING_LIST) {
        log_op(d, op, "local", rv, *why);
    }
    if (rv != 0) {
        return rv;
    }
    ringd_keyring_free(d);
    struct ringd_keyop *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        return UV_ENOMEM;
    }
    o->d = d;
    o->op = op;
    o->seq = ++d->keyop_seq;
    d->keyop = o;
    o->ok = 1; /* this node */
    const char *fps[SEAL_KEYS_MAX];
    char fp_text[SEAL_KEYS_MAX][SEAL_FINGERPRINT_LEN];
    size_t lens[SEAL_KEYS_MAX];
    for (size_t i = 0; i < d->keys.count; i++) {
        seal_fingerprint(&d->keys, i, fp_text[i]);
        fps[i] = fp_text[i];
        lens[i] = SEAL_FINGERPRINT_LEN - 1;
    }
    tally_fps(o, fps, lens, d->keys.count);
    const struct members *t = swim_members(d->swim);
    for (size_t i = 0; i < members_count(t); i++) {
        size_t id_len = 0;
        const char *id = members_id(t, i, &id_len);
        if (members_status(t, i) != MEMBER_ALIVE ||
            (id_len == d->cfg.id_len && memcmp(id, d->cfg.id, id_len) == 0)) {
            continue;
        }
        peer_start(d, o, id, id_len, members_addr(t, i), op, key, key_len);
    }
    return (int)o->seq;
}

void ringd_keyring_pack_status(const struct ringd *d, msgpack_packer *pk)
{
    const struct ringd_keyop *o = d->keyop;
    msgpack_pack_map(pk, 7);
    pack_str(pk, "op");
    pack_str(pk, o != NULL ? op_names[o->op] : "");
    pack_str(pk, "seq");
    msgpack_pack_uint32(pk, o != NULL ? o->seq : 0);
    pack_str(pk, "ok");
    msgpack_pack_uint64(pk, o != NULL ? o->ok : 0);
    pack_str(pk, "failed");
    msgpack_pack_uint64(pk, o != NULL ? o->failed : 0);
    pack_str(pk, "pending");
    msgpack_pack_uint64(pk, o != NULL ? o->pending : 0);
    size_t nf = o != NULL ? o->failures_shown : 0, nk = o != NULL ? o->fp_count : 0;
    pack_str(pk, "failures");
    msgpack_pack_array(pk, nf);
    for (size_t i = 0; i < nf; i++) {
        msgpack_pack_map(pk, 2);
        pack_str(pk, "id");
        pack_str(pk, o->failures[i].id);
        pack_str(pk, "error");
        pack_str(pk, o->failures[i].why);
    }
    pack_str(pk, "keys");
    msgpack_pack_array(pk, nk);
    for (size_t i = 0; i < nk; i++) {
        msgpack_pack_map(pk, 3);
        pack_str(pk, "fingerprint");
        pack_str(pk, o->fps[i].fp);
        pack_str(pk, "nodes");
        msgpack_pack_uint32(pk, o->fps[i].nodes);
        pack_str(pk, "primary");
        msgpack_pack_uint32(pk, o->fps[i].primary);
    }
}

void ringd_keyring_stop(struct ringd *d)
{
    struct ringd_keyop *o = d->keyop;
    for (size_t i = 0; o != NULL && i < o->peer_count; i++) {
        if (o->peers[i] != NULL) {
            peer_end(o->peers[i], "stopping");
        }
    }
}

void ringd_keyring_free(struct ringd *d)
{
    /* Only a finished operation: every peer ended, none points at it any more. */
    if (d->keyop != NULL && d->keyop->pending == 0) {
        free(d->keyop);
        d->keyop = NULL;
    }
}
