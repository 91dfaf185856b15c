/*
 * rpc_decode: a framed msgpack-RPC message into a bounded view (struct rpc_msg).
 *
 * The view points into the bytes it was given, keeps at most RPC_PARAMS_MAX params and
 * RPC_PARAM_ITEMS_MAX list items in fixed arrays, and checks every length and count before
 * use; the msgpack reader is mpread.c (why not msgpack-c's unpacker is said there).
 *
 * The decoder reads the envelope first (type, arity, msgid), so that whatever fails later the
 * server knows which request to answer; then it bounds the depth of the whole message; then
 * it reads the rest by kind.
 */
#include <string.h>

#include "ring/error.h"
#include "rpc_int.h"

_Static_assert(RPC_DEPTH_MAX <= MPREAD_DEPTH_MAX, "mpread__skip() must reach our depth");

static int fail(struct rpc_msg *m, int rv, const char *detail)
{
    m->detail = detail;
    return rv;
}

/* The payload of the str or bin just read, as bytes; moves past it. */
static struct rpc_bytes take(struct mpread__cur *c, const struct mpread__head *h)
{
    return (struct rpc_bytes){ (const char *)mpread__take(c, h->n), (size_t)h->n };
}

/* Moves past one whole value. The whole message passed check_depth() first, so the depth
 * limit here never fails. */
static int skip(struct mpread__cur *c, int depth)
{
    return mpread__skip(c, depth, RPC_DEPTH_MAX, MPREAD__DEPTH_NONEMPTY);
}

/* Fails with RING_E2BIG when a non-empty container nests deeper than RPC_DEPTH_MAX. */
static int check_depth(const uint8_t *p, size_t len)
{
    struct mpread__cur c;
    mpread__init(&c, p, len);
    return skip(&c, 1);
}

static int read_msgid(struct mpread__cur *c, struct rpc_msg *m)
{
    struct mpread__head h;
    int rv = mpread__next(c, &h);
    if (rv != 0) {
        return fail(m, rv, "truncated msgid");
    }
    if (h.kind == MPREAD__INT || (h.kind == MPREAD__UINT && h.n > UINT32_MAX)) {
        return fail(m, RING_ERANGE, "msgid must be a uint32");
    }
    if (h.kind != MPREAD__UINT) {
        return fail(m, RING_ETYPE, "msgid must be an integer");
    }
    m->msgid = (uint32_t)h.n;
    m->has_msgid = 1;
    return 0;
}

/* [type, ...] with the arity of its type, then the msgid of a request or response. */
static int read_envelope(struct mpread__cur *c, struct rpc_msg *m)
{
    struct mpread__head arr;
    struct mpread__head type;
    int rv = mpread__next(c, &arr);
    if (rv == 0 && arr.kind != MPREAD__ARRAY) {
        return fail(m, RING_ETYPE, "a message must be an array");
    }
    if (rv == 0 && arr.n > 0) {
        rv = mpread__next(c, &type);
    }
    if (rv != 0) {
        return fail(m, rv, "truncated envelope");
    }
    if (arr.n == 0 || type.kind != MPREAD__UINT || type.n > RPC_NOTIFICATION) {
        return fail(m, RING_ETYPE, "message type must be 0, 1 or 2");
    }
    m->kind = (uint8_t)type.n;
    /* The msgid comes before the arity check, so a request of the wrong arity is answered. */
    if (m->kind != RPC_NOTIFICATION && arr.n >= 2) {
        rv = read_msgid(c, m);
        if (rv != 0) {
            return rv;
        }
    }
    if (arr.n != (m->kind == RPC_NOTIFICATION ? 3u : 4u)) {
        return fail(m, RING_ETYPE, "requests and responses have 4 elements, notifications 3");
    }
    return 0;
}

static int read_method(struct mpread__cur *c, struct rpc_msg *m)
{
    struct mpread__head h;
    int rv = mpread__next(c, &h);
    if (rv != 0) {
        return fail(m, rv, "truncated method");
    }
    if (h.kind != MPREAD__STR || h.n == 0) {
        return fail(m, RING_ETYPE, "method must be a non-empty string");
    }
    if (h.n > RPC_METHOD_BYTES_MAX) {
        return fail(m, RING_E2BIG, "method name too long");
    }
    m->method = take(c, &h);
    return 0;
}

/* An array param: a list of strings, stored in m->items, or of non-negative integers, stored
 * in m->uints (the first item decides; the list may not mix them). */
static int read_list(struct mpread__cur *c, struct rpc_msg *m, uint64_t count, struct rpc_val *v)
{
    if (count > RPC_PARAM_ITEMS_MAX - m->item_count - m->uint_count) {
        return fail(m, RING_E2BIG, "too many list items in params");
    }
    v->type = RPC_VAL_LIST;
    v->v.list.first = m->item_count;
    v->v.list.count = (uint32_t)count;
    for (uint64_t k = 0; k < count; k++) {
        struct mpread__head h;
        int rv = mpread__next(c, &h);
        if (rv != 0) {
            return fail(m, rv, "truncated list item");
        }
        if (k == 0 && h.kind == MPREAD__UINT) {
            v->type = RPC_VAL_UINTS;
            v->v.list.first = m->uint_count;
        }
        if (v->type == RPC_VAL_UINTS) {
            if (h.kind != MPREAD__UINT) {
                return fail(m, RING_ETYPE, "a list holds only strings or only integers >= 0");
            }
            m->uints[m->uint_count++] = h.n;
            continue;
        }
        if (h.kind != MPREAD__STR && h.kind != MPREAD__BIN) {
            return fail(m, RING_ETYPE, "a list holds only strings or only integers >= 0");
        }
        if (h.n > RPC_STR_BYTES_MAX) {
            return fail(m, RING_E2BIG, "string param too long");
        }
        m->items[m->item_count++] = take(c, &h);
    }
    return 0;
}

static int read_scalar(struct mpread__cur *c, const struct mpread__head *h, struct rpc_msg *m,
                       struct rpc_val *v)
{
    switch (h->kind) {
    case MPREAD__NIL:
        v->type = RPC_VAL_NIL;
        return 0;
    case MPREAD__BOOL:
        v->type = RPC_VAL_BOOL;
        v->v.b = (int)h->n;
        return 0;
    case MPREAD__UINT:
        v->type = RPC_VAL_UINT;
        v->v.u = h->n;
        return 0;
    case MPREAD__INT:
        v->type = RPC_VAL_INT;
        v->v.i = h->i;
        return 0;
    case MPREAD__FLOAT:
        v->type = RPC_VAL_FLOAT;
        v->v.f = h->f;
        return 0;
    case MPREAD__STR:
    case MPREAD__BIN:
        if (h->n > RPC_STR_BYTES_MAX) {
            return fail(m, RING_E2BIG, "string param too long");
        }
        v->type = h->kind == MPREAD__STR ? RPC_VAL_STR : RPC_VAL_BIN;
        v->v.s = take(c, h);
        return 0;
    default:
        return fail(m, RING_ETYPE, "params may be nil, bool, numbers, strings or string lists");
    }
}

static int read_param(struct mpread__cur *c, struct rpc_msg *m, struct rpc_val *v)
{
    struct mpread__head h;
    int rv = mpread__next(c, &h);
    if (rv != 0) {
        return fail(m, rv, "truncated param");
    }
    if (h.kind == MPREAD__ARRAY) {
        return read_list(c, m, h.n, v);
    }
    return read_scalar(c, &h, m, v);
}

static int read_params(struct mpread__cur *c, struct rpc_msg *m)
{
    struct mpread__head h;
    int rv = mpread__next(c, &h);
    if (rv != 0) {
        return fail(m, rv, "truncated params");
    }
    if (h.kind != MPREAD__ARRAY) {
        return fail(m, RING_ETYPE, "params must be an array");
    }
    if (h.n > RPC_PARAMS_MAX) {
        return fail(m, RING_E2BIG, "too many params");
    }
    for (uint32_t k = 0; k < (uint32_t)h.n; k++) {
        rv = read_param(c, m, &m->params[k]);
        if (rv != 0) {
            return rv;
        }
        m->param_count = k + 1;
    }
    return 0;
}

/* The value of the error map key "code" or "message": a string within |max| bytes. */
static int read_error_str(struct mpread__cur *c, struct rpc_msg *m, size_t max,
                          struct rpc_bytes *out)
{
    struct mpread__head h;
    int rv = mpread__next(c, &h);
    if (rv != 0) {
        return fail(m, rv, "truncated error");
    }
    if (h.kind != MPREAD__STR) {
        return fail(m, RING_ETYPE, "error code and message must be strings");
    }
    if (h.n > max) {
        return fail(m, RING_E2BIG, "error code or message too long");
    }
    *out = take(c, &h);
    return 0;
}

static int key_is(struct rpc_bytes key, const char *name)
{
    return key.len == strlen(name) && memcmp(key.ptr, name, key.len) == 0;
}

static int read_error_entry(struct mpread__cur *c, struct rpc_msg *m)
{
    struct mpread__head h;
    int rv = mpread__next(c, &h);
    if (rv != 0) {
        return fail(m, rv, "truncated error");
    }
    if (h.kind != MPREAD__STR) {
        return fail(m, RING_ETYPE, "error map keys must be strings");
    }
    struct rpc_bytes key = take(c, &h);
    if (key_is(key, "code")) {
        return read_error_str(c, m, RPC_ERROR_CODE_BYTES_MAX, &m->error_code);
    }
    if (key_is(key, "message")) {
        return read_error_str(c, m, RPC_STR_BYTES_MAX, &m->error_message);
    }
    rv = skip(c, 3);
    return rv == 0 ? 0 : fail(m, rv, "truncated error");
}

/* nil, or {"code": str, "message": str, ...}. */
static int read_error(struct mpread__cur *c, struct rpc_msg *m)
{
    struct mpread__head h;
    int rv = mpread__next(c, &h);
    if (rv != 0) {
        return fail(m, rv, "truncated error");
    }
    if (h.kind == MPREAD__NIL) {
        return 0;
    }
    if (h.kind != MPREAD__MAP) {
        return fail(m, RING_ETYPE, "error must be nil or a map");
    }
    if (h.n > RPC_ERROR_KEYS_MAX) {
        return fail(m, RING_E2BIG, "too many keys in error map");
    }
    for (uint64_t k = 0; k < h.n; k++) {
        rv = read_error_entry(c, m);
        if (rv != 0) {
            return rv;
        }
    }
    if (m->error_code.ptr == NULL) {
        return fail(m, RING_ETYPE, "error map has no code");
    }
    m->is_error = 1;
    m->error = rpc_error_from_name(m->error_code.ptr, m->error_code.len);
    return 0;
}

static int read_response(struct mpread__cur *c, struct rpc_msg *m)
{
    int rv = read_error(c, m);
    if (rv != 0) {
        return rv;
    }
    const uint8_t *start = c->p;
    rv = skip(c, 2);
    if (rv != 0) {
        return fail(m, rv, "truncated result");
    }
    m->result.ptr = (const char *)start;
    m->result.len = (size_t)(c->p - start);
    return 0;
}

static void msg_clear(struct rpc_msg *m, const uint8_t *p, size_t len)
{
    m->kind = RPC_REQUEST;
    m->has_msgid = 0;
    m->msgid = 0;
    m->method = (struct rpc_bytes){ NULL, 0 };
    m->param_count = 0;
    m->item_count = 0;
    m->uint_count = 0;
    m->is_error = 0;
    m->error = 0;
    m->error_code = (struct rpc_bytes){ NULL, 0 };
    m->error_message = (struct rpc_bytes){ NULL, 0 };
    m->result = (struct rpc_bytes){ NULL, 0 };
    m->raw = (struct rpc_bytes){ (const char *)p, len };
    m->detail = "";
}

int rpc__decode(const uint8_t *p, size_t len, struct rpc_msg *m)
{
    struct mpread__cur c;
    mpread__init(&c, p, len);
    msg_clear(m, p, len);
    int rv = read_envelope(&c, m);
    if (rv != 0) {
        return rv;
    }
    rv = check_depth(p, len);
    if (rv != 0) {
        return fail(m, rv, rv == RING_E2BIG ? "message nested too deeply" : "truncated message");
    }
    if (m->kind == RPC_RESPONSE) {
        return read_response(&c, m);
    }
    rv = read_method(&c, m);
    return rv != 0 ? rv : read_params(&c, m);
}

int rpc_error_from_name(const char *name, size_t len)
{
    for (int i = 1; i < RING__EINDEX_END; i++) {
        const char *known = ring_err_name(-i);
        if (strlen(known) == len && memcmp(known, name, len) == 0) {
            return -i;
        }
    }
    return RING_EPROTO;
}

int rpc_error_is_fatal(int err)
{
    return err == RING_EPROTO || err == RING_EMSGSIZE;
}

static int param_at(const struct rpc_msg *m, uint32_t i, const struct rpc_val **v)
{
    if (i >= m->param_count) {
        return RING_EINVAL;
    }
    *v = &m->params[i];
    return 0;
}

int rpc_param_bytes(const struct rpc_msg *m, uint32_t i, struct rpc_bytes *out)
{
    const struct rpc_val *v;
    int rv = param_at(m, i, &v);
    if (rv != 0) {
        return rv;
    }
    if (v->type != RPC_VAL_STR && v->type != RPC_VAL_BIN) {
        return RING_ETYPE;
    }
    *out = v->v.s;
    return 0;
}

int rpc_param_uint(const struct rpc_msg *m, uint32_t i, uint64_t max, uint64_t *out)
{
    const struct rpc_val *v;
    int rv = param_at(m, i, &v);
    if (rv != 0) {
        return rv;
    }
    if (v->type == RPC_VAL_INT) {
        return RING_ERANGE;
    }
    if (v->type != RPC_VAL_UINT) {
        return RING_ETYPE;
    }
    if (v->v.u > max) {
        return RING_ERANGE;
    }
    *out = v->v.u;
    return 0;
}

int rpc_param_list(const struct rpc_msg *m, uint32_t i, const struct rpc_bytes **items,
                   uint32_t *count)
{
    const struct rpc_val *v;
    int rv = param_at(m, i, &v);
    if (rv != 0) {
        return rv;
    }
    if (v->type != RPC_VAL_LIST) {
        return RING_ETYPE;
    }
    *items = &m->items[v->v.list.first];
    *count = v->v.list.count;
    return 0;
}

int rpc_param_uints(const struct rpc_msg *m, uint32_t i, const uint64_t **vals, uint32_t *count)
{
    const struct rpc_val *v;
    int rv = param_at(m, i, &v);
    if (rv != 0) {
        return rv;
    }
    if (v->type == RPC_VAL_LIST && v->v.list.count == 0) {
        *vals = m->uints;
        *count = 0;
        return 0;
    }
    if (v->type != RPC_VAL_UINTS) {
        return RING_ETYPE;
    }
    *vals = &m->uints[v->v.list.first];
    *count = v->v.list.count;
    return 0;
}

int rpc_method_is(const struct rpc_msg *m, const char *name)
{
    return m->method.ptr != NULL && key_is(m->method, name);
}

int rpc_parse(const void *data, size_t len, struct rpc_msg *msg, size_t *used)
{
    struct rpc__frame f;
    size_t msg_len = 0;
    const char *detail = "";
    rpc__frame_reset(&f);
    int rv = rpc__frame_scan(&f, data, len, RPC_MESSAGE_BYTES_MAX, &msg_len, &detail);
    if (rv <= 0) {
        msg_clear(msg, data, 0);
        return fail(msg, rv == 0 ? RING_ETRUNC : rv, rv == 0 ? "truncated message" : detail);
    }
    if (used != NULL) {
        *used = msg_len;
    }
    return rpc__decode(data, msg_len, msg);
}
