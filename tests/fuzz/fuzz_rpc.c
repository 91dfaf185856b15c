/*
 * libFuzzer target for the rpc reader: arbitrary bytes fed in arbitrary chunks must never
 * crash or leak, and every message the reader accepts must re-encode through the writers
 * into a message that decodes to the same view.
 *
 * Every outcome is served as ringd serves it (rpc_server_action(), the replies it names, and
 * the in-flight accounting: see struct server), so notifications, responses, odd msgids and
 * unknown types reach the same completion path as in the daemon.
 *
 * Input layout: each chunk is one length byte (1..256 bytes follow) whose low bit also picks
 * rpc_reader_feed() or rpc_reader_buf() + rpc_reader_commit(), and whose bit 1 answers every
 * request in flight after the chunk; the reader is trimmed after each chunk, as ringd trims it
 * after each read. The whole input is also given to rpc_parse() at once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "ring/error.h"
#include "ring/rpc.h"

static size_t live_blocks;

static void *fz_malloc(size_t size, void *ud)
{
    void *p = malloc(size);
    live_blocks += p != NULL;
    return p;
}

static void *fz_calloc(size_t n, size_t size, void *ud)
{
    void *p = calloc(n, size);
    live_blocks += p != NULL;
    return p;
}

static void *fz_realloc(void *ptr, size_t size, void *ud)
{
    void *p = realloc(ptr, size);
    live_blocks += ptr == NULL && p != NULL;
    return p;
}

static void fz_free(void *ptr, void *ud)
{
    live_blocks -= ptr != NULL;
    free(ptr);
}

static const struct ring_mem fz_mem = { NULL, fz_malloc, fz_calloc, fz_realloc, fz_free };

static int same_bytes(struct rpc_bytes a, struct rpc_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int pack_param(msgpack_packer *pk, const struct rpc_msg *m, const struct rpc_val *v)
{
    switch (v->type) {
    case RPC_VAL_NIL:
        return msgpack_pack_nil(pk);
    case RPC_VAL_BOOL:
        return v->v.b ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    case RPC_VAL_UINT:
        return msgpack_pack_uint64(pk, v->v.u);
    case RPC_VAL_INT:
        return msgpack_pack_int64(pk, v->v.i);
    case RPC_VAL_FLOAT:
        return msgpack_pack_double(pk, v->v.f);
    case RPC_VAL_STR:
        return msgpack_pack_str_with_body(pk, v->v.s.ptr, v->v.s.len);
    case RPC_VAL_BIN:
        return msgpack_pack_bin_with_body(pk, v->v.s.ptr, v->v.s.len);
    default:
        break;
    }
    int rv = msgpack_pack_array(pk, v->v.list.count);
    for (uint32_t k = 0; rv == 0 && k < v->v.list.count; k++) {
        if (v->type == RPC_VAL_UINTS) {
            rv = msgpack_pack_uint64(pk, m->uints[v->v.list.first + k]);
            continue;
        }
        const struct rpc_bytes *item = &m->items[v->v.list.first + k];
        rv = msgpack_pack_str_with_body(pk, item->ptr, item->len);
    }
    return rv;
}

static int reencode(msgpack_packer *pk, struct rpc_buf *b, const struct rpc_msg *m)
{
    if (m->kind == RPC_RESPONSE && m->is_error) {
        char code[RPC_ERROR_CODE_BYTES_MAX + 1];
        memcpy(code, m->error_code.ptr, m->error_code.len);
        code[m->error_code.len] = 0;
        int rv = msgpack_pack_array(pk, 4) | msgpack_pack_uint8(pk, 1) |
                 msgpack_pack_uint32(pk, m->msgid) | msgpack_pack_map(pk, 2) |
                 msgpack_pack_str_with_body(pk, "code", 4) |
                 msgpack_pack_str_with_body(pk, code, m->error_code.len) |
                 msgpack_pack_str_with_body(pk, "message", 7) |
                 msgpack_pack_str_with_body(pk, m->error_message.ptr, m->error_message.len);
        return rv | rpc_buf_write(b, m->result.ptr, m->result.len);
    }
    if (m->kind == RPC_RESPONSE) {
        return rpc_pack_result_begin(pk, m->msgid) | rpc_buf_write(b, m->result.ptr, m->result.len);
    }
    int rv =
        m->kind == RPC_REQUEST
            ? rpc_pack_request_begin(pk, m->msgid, m->method.ptr, m->method.len, m->param_count)
            : rpc_pack_notification_begin(pk, m->method.ptr, m->method.len, m->param_count);
    for (uint32_t k = 0; rv == 0 && k < m->param_count; k++) {
        rv = pack_param(pk, m, &m->params[k]);
    }
    return rv;
}

static int same_val(const struct rpc_msg *a, const struct rpc_val *va, const struct rpc_msg *b,
                    const struct rpc_val *vb)
{
    if (va->type != vb->type) {
        return 0;
    }
    switch (va->type) {
    case RPC_VAL_NIL:
        return 1;
    case RPC_VAL_BOOL:
        return va->v.b == vb->v.b;
    case RPC_VAL_UINT:
        return va->v.u == vb->v.u;
    case RPC_VAL_INT:
        return va->v.i == vb->v.i;
    case RPC_VAL_FLOAT:
        return memcmp(&va->v.f, &vb->v.f, sizeof(double)) == 0;
    case RPC_VAL_STR:
    case RPC_VAL_BIN:
        return same_bytes(va->v.s, vb->v.s);
    default:
        break;
    }
    if (va->v.list.count != vb->v.list.count) {
        return 0;
    }
    for (uint32_t k = 0; k < va->v.list.count; k++) {
        if (va->type == RPC_VAL_UINTS
                ? a->uints[va->v.list.first + k] != b->uints[vb->v.list.first + k]
                : !same_bytes(a->items[va->v.list.first + k], b->items[vb->v.list.first + k])) {
            return 0;
        }
    }
    return 1;
}

static int same_msg(const struct rpc_msg *a, const struct rpc_msg *b)
{
    int ok = a->kind == b->kind && a->has_msgid == b->has_msgid && a->msgid == b->msgid &&
             same_bytes(a->method, b->method) && a->param_count == b->param_count &&
             a->is_error == b->is_error && a->error == b->error &&
             same_bytes(a->error_code, b->error_code) &&
             same_bytes(a->error_message, b->error_message) && same_bytes(a->result, b->result);
    for (uint32_t k = 0; ok && k < a->param_count; k++) {
        ok = same_val(a, &a->params[k], b, &b->params[k]);
    }
    return ok;
}

static void check_reencodes(const struct rpc_msg *m)
{
    struct rpc_buf b;
    msgpack_packer pk;
    struct rpc_msg again;
    rpc_buf_init(&b, &fz_mem, 0);
    msgpack_packer_init(&pk, &b, rpc_buf_write);
    if (reencode(&pk, &b, m) != 0) {
        abort();
    }
    size_t used = 0;
    if (rpc_parse(b.data, b.len, &again, &used) != 0 || used != b.len || !same_msg(m, &again)) {
        abort();
    }
    rpc_buf_free(&b);
}

/*
 * The server side, as ringd's local API runs it (ringd/api/api.c process()): every outcome of
 * rpc_reader_next() goes through rpc_server_action() and gets the reply it names, packed
 * into |out|. Answers are deferred (an asynchronous server): CALL and REJECT are answered only
 * when the reader pauses on RING_EAGAIN, when the input ends, or when |answer_now| is set, so
 * the in-flight limit and the completion path are exercised. Invariant: the reader's
 * in-flight count is exactly the number of CALL and REJECT actions not yet answered; a
 * message it did not count is never reported answered (that was an assertion failure in
 * rpc_reader_answered(), and with assertions off a spin).
 */
struct server {
    struct rpc_reader *r;
    struct rpc_buf out;
    msgpack_packer pk;
    uint32_t unanswered;
    uint32_t inflight_max;
};

static void answer_all(struct server *s)
{
    while (s->unanswered > 0) {
        rpc_reader_answered(s->r);
        s->unanswered--;
    }
    CHECK(rpc_reader_inflight(s->r) == 0);
}

/* The replies packed since |mark| decode, and the last is what |action| calls for. */
static void check_reply(struct server *s, size_t mark, int action, const struct rpc_msg *m)
{
    struct rpc_msg sent;
    size_t used = 0;
    CHECK(rpc_parse(s->out.data + mark, s->out.len - mark, &sent, &used) == 0);
    CHECK(used == s->out.len - mark);
    if (action == RPC_ACTION_REJECT) {
        CHECK(sent.kind == RPC_RESPONSE && sent.is_error && sent.msgid == m->msgid);
    } else if (action == RPC_ACTION_CALL) {
        CHECK(sent.kind == RPC_RESPONSE && !sent.is_error && sent.msgid == m->msgid);
    } else {
        CHECK(sent.kind == RPC_NOTIFICATION && rpc_method_is(&sent, "error"));
        CHECK(sent.param_count == 2 && sent.params[0].type == RPC_VAL_STR);
    }
    rpc_buf_truncate(&s->out, mark); /* bounded: only the last reply is kept */
}

/* Serves one outcome; returns 0 to go on, 1 to stop reading (WAIT), or the fatal error. */
static int serve_one(struct server *s, int rv, const struct rpc_msg *m)
{
    int action = rpc_server_action(rv, m);
    size_t mark = s->out.len;
    switch (action) {
    case RPC_ACTION_WAIT:
        CHECK(rv == 0 || (rv == RING_EAGAIN && s->unanswered == s->inflight_max));
        return 1;
    case RPC_ACTION_CALL:
        CHECK(rv == 1 && m->kind == RPC_REQUEST && m->has_msgid);
        check_reencodes(m);
        CHECK(rpc_pack_result_begin(&s->pk, m->msgid) == 0 && msgpack_pack_nil(&s->pk) == 0);
        s->unanswered++;
        break;
    case RPC_ACTION_REJECT:
        CHECK(rv == RING_ETYPE || rv == RING_E2BIG || rv == RING_ERANGE);
        CHECK(m->kind == RPC_REQUEST && m->has_msgid);
        CHECK(rpc_pack_error(&s->pk, m->msgid, rv, m->detail, strlen(m->detail)) == 0);
        s->unanswered++;
        break;
    case RPC_ACTION_NOTIFY:
        CHECK(rv == 1 && m->kind == RPC_NOTIFICATION);
        check_reencodes(m);
        break;
    case RPC_ACTION_DROP:
        CHECK(m->kind == RPC_RESPONSE || (rv < 0 && m->kind == RPC_NOTIFICATION));
        if (rv == 1) {
            check_reencodes(m);
        }
        break;
    case RPC_ACTION_UNANSWERABLE:
        CHECK(rv == RING_ETYPE || rv == RING_E2BIG || rv == RING_ERANGE);
        CHECK(m->kind == RPC_REQUEST && !m->has_msgid);
        CHECK(rpc_pack_error_notification(&s->pk, rv, m->detail, strlen(m->detail)) == 0);
        break;
    case RPC_ACTION_CLOSE:
        CHECK(rpc_error_is_fatal(rv));
        CHECK(rpc_pack_error_notification(&s->pk, rv, m->detail, strlen(m->detail)) == 0);
        check_reply(s, mark, action, m);
        return rv;
    default:
        abort();
    }
    CHECK(rpc_reader_inflight(s->r) == s->unanswered);
    CHECK(s->unanswered <= s->inflight_max);
    if (s->out.len > mark) {
        check_reply(s, mark, action, m);
    }
    return 0;
}

/* Pulls every message; returns 0, or the fatal error. */
static int drain(struct server *s)
{
    struct rpc_msg m;
    for (;;) {
        int rv = rpc_reader_next(s->r, &m);
        int done = serve_one(s, rv, &m);
        if (done < 0) {
            /* Fatal for good: every later call says the same. */
            CHECK(rpc_reader_next(s->r, &m) == done);
            return done;
        }
        if (done == 1 && rv == RING_EAGAIN) {
            answer_all(s); /* the responses went out: read on */
            continue;
        }
        if (done == 1) {
            return 0;
        }
    }
}

static int put(struct rpc_reader *r, const uint8_t *p, size_t n, int direct)
{
    if (!direct) {
        return rpc_reader_feed(r, p, n);
    }
    while (n > 0) {
        void *space;
        size_t len;
        int rv = rpc_reader_buf(r, &space, &len);
        if (rv != 0) {
            return rv;
        }
        size_t k = n < len ? n : len;
        memcpy(space, p, k);
        rpc_reader_commit(r, k);
        p += k;
        n -= k;
    }
    return 0;
}

static void feed_chunks(struct server *s, const uint8_t *data, size_t size)
{
    size_t i = 0;
    while (i < size) {
        size_t n = (size_t)data[i] + 1;
        int direct = data[i] & 1;
        /* Bit 1: answer everything now, as a synchronous server does between reads. */
        int answer_now = data[i] & 2;
        i++;
        n = n < size - i ? n : size - i;
        if (put(s->r, data + i, n, direct) != 0 || drain(s) != 0) {
            return;
        }
        /* as ringd does after each read: what is pending survives it byte for byte */
        size_t pending = rpc_reader_pending(s->r);
        rpc_reader_trim(s->r);
        CHECK(rpc_reader_pending(s->r) == pending);
        if (answer_now) {
            answer_all(s);
        }
        i += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rpc_msg m;
    size_t used = 0;
    if (rpc_parse(data, size, &m, &used) == 0) {
        check_reencodes(&m);
    }
    struct server s;
    struct rpc_reader_config cfg = { .message_bytes_max = 4096, .inflight_max = 4 };
    s.unanswered = 0;
    s.inflight_max = cfg.inflight_max;
    if (rpc_reader_new(&s.r, &cfg, &fz_mem) != 0) {
        abort();
    }
    rpc_buf_init(&s.out, &fz_mem, 0);
    msgpack_packer_init(&s.pk, &s.out, rpc_buf_write);
    feed_chunks(&s, data, size);
    answer_all(&s);
    rpc_buf_free(&s.out);
    rpc_reader_del(s.r);
    if (live_blocks != 0) {
        abort();
    }
    return 0;
}
