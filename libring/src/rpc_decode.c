/*
 * rpc_decode: a framed msgpack-RPC message into a bounded view (struct rpc_msg).
 *
 * Why our own cursor rather than msgpack-c's unpacker: the unpacker builds every message as a
 * tree of msgpack_object in a zone that mallocs chunks per message (outside our ring_mem, so
 * the counting allocator could not see them), and bounds neither counts nor lengths before it
 * allocates for them. The view here needs none of that: it points into the bytes it was
 * given, keeps at most RPC_PARAMS_MAX params and RPC_PARAM_ITEMS_MAX list items in fixed
 * arrays, and checks every length and count before use. msgpack-c's packer is still what the
 * writers use, and a client may hand msg->result to msgpack_unpack() once we have bounded
 * its depth.
 *
 * The decoder reads the envelope first (type, arity, msgid), so that whatever fails later the
 * server knows which request to answer; then it bounds the depth of the whole message; then
 * it reads the rest by kind.
 */
#include <string.h>

#include "ring/error.h"
#include "rpc_int.h"

/* A cursor over a complete message. */
struct cur {
    const uint8_t *p;
    size_t len;
    size_t off;
};

static int fail(struct rpc_msg *m, int rv, const char *detail)
{
    m->detail = detail;
    return rv;
}

/* Reads one header and checks that its payload is inside the message. */
static int cur_head(struct cur *c, struct rpc__mp_head *h)
{
    int n = rpc__mp_head(c->p + c->off, c->len - c->off, h);
    if (n <= 0) {
        return n == 0 ? RING_ETRUNC : n;
    }
    c->off += (size_t)n;
    int has = h->kind == RPC__MP_STR || h->kind == RPC__MP_BIN || h->kind == RPC__MP_EXT;
    if (has && h->n > c->len - c->off) {
        return RING_ETRUNC;
    }
    return 0;
}

/* The payload of the str/bin/ext just read, as bytes; moves past it. */
static struct rpc_bytes cur_take(struct cur *c, const struct rpc__mp_head *h)
{
    struct rpc_bytes b = { (const char *)c->p + c->off, (size_t)h->n };
    c->off += (size_t)h->n;
    return b;
}

/* Moves past one whole value (of any depth: a count, not a stack). */
static int cur_skip(struct cur *c)
{
    uint64_t pending = 1;
    while (pending > 0) {
        struct rpc__mp_head h;
        int rv = cur_head(c, &h);
        if (rv != 0) {
            return rv;
        }
        if (h.kind == RPC__MP_STR || h.kind == RPC__MP_BIN || h.kind == RPC__MP_EXT) {
            c->off += (size_t)h.n;
        }
        pending += (h.kind == RPC__MP_ARRAY ? h.n : h.kind == RPC__MP_MAP ? 2 * h.n : 0) - 1;
        if (pending > c->len - c->off) {
            return RING_ETRUNC;
        }
    }
    return 0;
}

/* Fails with RING_E2BIG when a non-empty container nests deeper than RPC_DEPTH_MAX. */
static int check_depth(const uint8_t *p, size_t len)
{
    struct cur c = { p, len, 0 };
    uint64_t left[RPC_DEPTH_MAX];
    size_t top = 0;
    do {
        struct rpc__mp_head h;
        int rv = cur_head(&c, &h);
        if (rv != 0) {
            return rv;
        }
        c.off += (h.kind == RPC__MP_STR || h.kind == RPC__MP_BIN || h.kind == RPC__MP_EXT)
                     ? (size_t)h.n
                     : 0;
        if (top > 0) {
            left[top - 1]--;
        }
        uint64_t kids = h.kind == RPC__MP_ARRAY ? h.n : h.kind == RPC__MP_MAP ? 2 * h.n : 0;
        if (kids > 0) {
            if (top == RPC_DEPTH_MAX) {
                return RING_E2BIG;
            }
            left[top++] = kids;
        }
        while (top > 0 && left[top - 1] == 0) {
            top--;
        }
    } while (top > 0);
    return 0;
}

static int read_msgid(struct cur *c, struct rpc_msg *m)
{
    struct rpc__mp_head h;
    int rv = cur_head(c, &h);
    if (rv != 0) {
        return fail(m, rv, "truncated msgid");
    }
    if (h.kind == RPC__MP_INT || (h.kind == RPC__MP_UINT && h.n > UINT32_MAX)) {
        return fail(m, RING_ERANGE, "msgid must be a uint32");
    }
    if (h.kind != RPC__MP_UINT) {
        return fail(m, RING_ETYPE, "msgid must be an integer");
    }
    m->msgid = (uint32_t)h.n;
    m->has_msgid = 1;
    return 0;
}

/* [type, ...] with the arity of its type, then the msgid of a request or response. */
static int read_envelope(struct cur *c, struct rpc_msg *m)
{
    struct rpc__mp_head arr;
    struct rpc__mp_head type;
    int rv = cur_head(c, &arr);
    if (rv == 0 && arr.kind != RPC__MP_ARRAY) {
        return fail(m, RING_ETYPE, "a message must be an array");
    }
    if (rv == 0 && arr.n > 0) {
        rv = cur_head(c, &type);
    }
    if (rv != 0) {
        return fail(m, rv, "truncated envelope");
    }
    if (arr.n == 0 || type.kind != RPC__MP_UINT || type.n > RPC_NOTIFICATION) {
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

static int read_method(struct cur *c, struct rpc_msg *m)
{
    struct rpc__mp_head h;
    int rv = cur_head(c, &h);
    if (rv != 0) {
        return fail(m, rv, "truncated method");
    }
    if (h.kind != RPC__MP_STR || h.n == 0) {
        return fail(m, RING_ETYPE, "method must be a non-empty string");
    }
    if (h.n > RPC_METHOD_BYTES_MAX) {
        return fail(m, RING_E2BIG, "method name too long");
    }
    m->method = cur_take(c, &h);
    return 0;
}

/* An array param: a list of strings, stored in m->items. */
static int read_list(struct cur *c, struct rpc_msg *m, uint64_t count, struct rpc_val *v)
{
    if (count > RPC_PARAM_ITEMS_MAX - m->item_count) {
        return fail(m, RING_E2BIG, "too many list items in params");
    }
    v->type = RPC_VAL_LIST;
    v->v.list.first = m->item_count;
    v->v.list.count = (uint32_t)count;
    for (uint64_t k = 0; k < count; k++) {
        struct rpc__mp_head h;
        int rv = cur_head(c, &h);
        if (rv != 0) {
            return fail(m, rv, "truncated list item");
        }
        if (h.kind != RPC__MP_STR && h.kind != RPC__MP_BIN) {
            return fail(m, RING_ETYPE, "list params may hold only strings");
        }
        if (h.n > RPC_STR_BYTES_MAX) {
            return fail(m, RING_E2BIG, "string param too long");
        }
        m->items[m->item_count++] = cur_take(c, &h);
    }
    return 0;
}

static int read_scalar(struct cur *c, const struct rpc__mp_head *h, struct rpc_msg *m,
                       struct rpc_val *v)
{
    switch (h->kind) {
    case RPC__MP_NIL:
        v->type = RPC_VAL_NIL;
        return 0;
    case RPC__MP_BOOL:
        v->type = RPC_VAL_BOOL;
        v->v.b = (int)h->n;
        return 0;
    case RPC__MP_UINT:
        v->type = RPC_VAL_UINT;
        v->v.u = h->n;
        return 0;
    case RPC__MP_INT:
        v->type = RPC_VAL_INT;
        v->v.i = h->i;
        return 0;
    case RPC__MP_FLOAT:
        v->type = RPC_VAL_FLOAT;
        v->v.f = h->f;
        return 0;
    case RPC__MP_STR:
    case RPC__MP_BIN:
        if (h->n > RPC_STR_BYTES_MAX) {
            return fail(m, RING_E2BIG, "string param too long");
        }
        v->type = h->kind == RPC__MP_STR ? RPC_VAL_STR : RPC_VAL_BIN;
        v->v.s = cur_take(c, h);
        return 0;
    default:
        return fail(m, RING_ETYPE, "params may be nil, bool, numbers, strings or string lists");
    }
}

static int read_param(struct cur *c, struct rpc_msg *m, struct rpc_val *v)
{
    struct rpc__mp_head h;
    int rv = cur_head(c, &h);
    if (rv != 0) {
        return fail(m, rv, "truncated param");
    }
    if (h.kind == RPC__MP_ARRAY) {
        return read_list(c, m, h.n, v);
    }
    return read_scalar(c, &h, m, v);
}

static int read_params(struct cur *c, struct rpc_msg *m)
{
    struct rpc__mp_head h;
    int rv = cur_head(c, &h);
    if (rv != 0) {
        return fail(m, rv, "truncated params");
    }
    if (h.kind != RPC__MP_ARRAY) {
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
static int read_error_str(struct cur *c, struct rpc_msg *m, size_t max, struct rpc_bytes *out)
{
    struct rpc__mp_head h;
    int rv = cur_head(c, &h);
    if (rv != 0) {
        return fail(m, rv, "truncated error");
    }
    if (h.kind != RPC__MP_STR) {
        return fail(m, RING_ETYPE, "error code and message must be strings");
    }
    if (h.n > max) {
        return fail(m, RING_E2BIG, "error code or message too long");
    }
    *out = cur_take(c, &h);
    return 0;
}

static int key_is(struct rpc_bytes key, const char *name)
{
    return key.len == strlen(name) && memcmp(key.ptr, name, key.len) == 0;
}

static int read_error_entry(struct cur *c, struct rpc_msg *m)
{
    struct rpc__mp_head h;
    int rv = cur_head(c, &h);
    if (rv != 0) {
        return fail(m, rv, "truncated error");
    }
    if (h.kind != RPC__MP_STR) {
        return fail(m, RING_ETYPE, "error map keys must be strings");
    }
    struct rpc_bytes key = cur_take(c, &h);
    if (key_is(key, "code")) {
        return read_error_str(c, m, RPC_ERROR_CODE_BYTES_MAX, &m->error_code);
    }
    if (key_is(key, "message")) {
        return read_error_str(c, m, RPC_STR_BYTES_MAX, &m->error_message);
    }
    rv = cur_skip(c);
    return rv == 0 ? 0 : fail(m, rv, "truncated error");
}

/* nil, or {"code": str, "message": str, ...}. */
static int read_error(struct cur *c, struct rpc_msg *m)
{
    struct rpc__mp_head h;
    int rv = cur_head(c, &h);
    if (rv != 0) {
        return fail(m, rv, "truncated error");
    }
    if (h.kind == RPC__MP_NIL) {
        return 0;
    }
    if (h.kind != RPC__MP_MAP) {
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

static int read_response(struct cur *c, struct rpc_msg *m)
{
    int rv = read_error(c, m);
    if (rv != 0) {
        return rv;
    }
    size_t start = c->off;
    rv = cur_skip(c);
    if (rv != 0) {
        return fail(m, rv, "truncated result");
    }
    m->result.ptr = (const char *)c->p + start;
    m->result.len = c->off - start;
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
    struct cur c = { p, len, 0 };
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
