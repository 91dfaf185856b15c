/* Unit tests for the rpc module: framing, decoding, limits and writers. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "ring/error.h"
#include "ring/rpc.h"
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

TestSuite(rpc, .init = setup, .fini = teardown);

/* A packer over an rpc_buf from the counting allocator; the test frees it. */
struct out {
    struct rpc_buf b;
    msgpack_packer pk;
};

static void out_init(struct out *o)
{
    rpc_buf_init(&o->b, &tm.mem, 0);
    msgpack_packer_init(&o->pk, &o->b, rpc_buf_write);
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    cr_assert(eq(int, msgpack_pack_str_with_body(pk, s, strlen(s)), 0));
}

static void pack_req(struct out *o, uint32_t msgid, const char *method, uint32_t params)
{
    cr_assert(eq(int, rpc_pack_request_begin(&o->pk, msgid, method, strlen(method), params), 0));
}

static struct rpc_reader *reader(size_t bytes_max, uint32_t inflight_max)
{
    struct rpc_reader_config cfg = { .message_bytes_max = bytes_max, .inflight_max = inflight_max };
    struct rpc_reader *r = NULL;
    cr_assert(eq(int, rpc_reader_new(&r, &cfg, &tm.mem), 0));
    return r;
}

static void assert_bytes(struct rpc_bytes got, const char *want)
{
    cr_assert(eq(sz, got.len, strlen(want)));
    cr_assert(eq(int, memcmp(got.ptr, want, got.len), 0), "got \"%.*s\", want \"%s\"", (int)got.len,
              got.ptr, want);
}

/* A stream of five pipelined requests covering every param shape the API uses. */
static void pack_stream(struct out *o)
{
    pack_req(o, 1, "lookup", 1);
    pack_cstr(&o->pk, "user:42");
    pack_req(o, 2, "lookup_n", 2);
    pack_cstr(&o->pk, "user:42");
    cr_assert(eq(int, msgpack_pack_uint64(&o->pk, 3), 0));
    pack_req(o, 3, "members", 0);
    pack_req(o, 0xffffffffu, "join", 1);
    cr_assert(eq(int, msgpack_pack_array(&o->pk, 2), 0));
    pack_cstr(&o->pk, "10.0.0.1:7946");
    pack_cstr(&o->pk, "dns:ringd.default.svc:7946");
    cr_assert(eq(int, rpc_pack_notification_begin(&o->pk, "leave", 5, 0), 0));
}

/* Checks message |k| of pack_stream(). */
static void check_stream_msg(const struct rpc_msg *m, int k)
{
    static const char *const methods[] = { "lookup", "lookup_n", "members", "join", "leave" };
    static const uint32_t msgids[] = { 1, 2, 3, 0xffffffffu, 0 };
    static const uint32_t nparams[] = { 1, 2, 0, 1, 0 };
    cr_assert(eq(int, m->kind, k == 4 ? RPC_NOTIFICATION : RPC_REQUEST));
    cr_assert(eq(int, m->has_msgid, k != 4));
    cr_assert(eq(u32, m->msgid, msgids[k]));
    assert_bytes(m->method, methods[k]);
    cr_assert(eq(u32, m->param_count, nparams[k]));
    struct rpc_bytes key;
    uint64_t n;
    const struct rpc_bytes *items;
    uint32_t count;
    if (k == 0 || k == 1) {
        cr_assert(eq(int, rpc_param_bytes(m, 0, &key), 0));
        assert_bytes(key, "user:42");
    }
    if (k == 1) {
        cr_assert(eq(int, rpc_param_uint(m, 1, 64, &n), 0));
        cr_assert(eq(u64, n, 3));
    }
    if (k == 3) {
        cr_assert(eq(int, rpc_param_list(m, 0, &items, &count), 0));
        cr_assert(eq(u32, count, 2));
        assert_bytes(items[0], "10.0.0.1:7946");
        assert_bytes(items[1], "dns:ringd.default.svc:7946");
    }
}

/* Pulls every complete message, checking each against the stream; returns the next index. */
static int drain(struct rpc_reader *r, int k)
{
    struct rpc_msg m;
    int rv;
    while ((rv = rpc_reader_next(r, &m)) == 1) {
        cr_assert(lt(int, k, 5));
        check_stream_msg(&m, k);
        if (m.has_msgid) {
            rpc_reader_answered(r);
        }
        k++;
    }
    cr_assert(eq(int, rv, 0), "next: %s (%s)", ring_err_name(rv), m.detail);
    return k;
}

Test(rpc, pipelined_requests_split_at_every_byte_boundary)
{
    struct out o;
    out_init(&o);
    pack_stream(&o);
    for (size_t split = 0; split <= o.b.len; split++) {
        struct rpc_reader *r = reader(0, 0);
        cr_assert(eq(int, rpc_reader_feed(r, o.b.data, split), 0));
        int k = drain(r, 0);
        cr_assert(eq(int, rpc_reader_feed(r, o.b.data + split, o.b.len - split), 0));
        k = drain(r, k);
        cr_assert(eq(int, k, 5), "split at %zu: got %d messages", split, k);
        cr_assert(eq(sz, rpc_reader_pending(r), 0));
        rpc_reader_del(r);
    }
    rpc_buf_free(&o.b);
}

Test(rpc, pipelined_requests_fed_one_byte_at_a_time)
{
    struct out o;
    out_init(&o);
    pack_stream(&o);
    struct rpc_reader *r = reader(0, 0);
    int k = 0;
    for (size_t i = 0; i < o.b.len; i++) {
        cr_assert(eq(int, rpc_reader_feed(r, o.b.data + i, 1), 0));
        k = drain(r, k);
    }
    cr_assert(eq(int, k, 5));
    rpc_reader_del(r);
    rpc_buf_free(&o.b);
}

/* A good request, appended after a bad one to show the reader carries on. */
static const char good_req[] = "\x94\x00\x09\xa6lookup\x91\xa1k";

/*
 * Checks one malformed message: rpc_parse() returns |want| (RING_ETRUNC when cut short);
 * a reader returns the same error, then (unless it was fatal) the good request behind it.
 */
static void check_bad(const char *name, const void *bytes, size_t len, int want, int msgid)
{
    struct rpc_msg m;
    size_t used = 0;
    int rv = rpc_parse(bytes, len, &m, &used);
    cr_assert(eq(int, rv, want), "%s: rpc_parse got %s, want %s", name, ring_err_name(rv),
              ring_err_name(want));
    cr_assert(ne(sz, strlen(m.detail), 0), "%s: no detail", name);
    cr_assert(eq(int, m.has_msgid, msgid >= 0), "%s: has_msgid", name);
    if (msgid >= 0) {
        cr_assert(eq(u32, m.msgid, (uint32_t)msgid), "%s", name);
    }
    struct rpc_reader *r = reader(0, 0);
    cr_assert(eq(int, rpc_reader_feed(r, bytes, len), 0));
    rv = rpc_reader_next(r, &m);
    cr_assert(eq(int, rv, want == RING_ETRUNC ? 0 : want), "%s: reader got %s", name,
              ring_err_name(rv));
    if (want != RING_ETRUNC) {
        cr_assert(eq(int, rpc_reader_feed(r, good_req, sizeof(good_req) - 1),
                     rpc_error_is_fatal(want) ? want : 0));
        rv = rpc_reader_next(r, &m);
        cr_assert(eq(int, rv, rpc_error_is_fatal(want) ? want : 1), "%s: after: %s", name,
                  ring_err_name(rv));
        if (rv == 1) {
            assert_bytes(m.method, "lookup");
            cr_assert(eq(u32, m.msgid, 9));
        }
    }
    rpc_reader_del(r);
}

#define BYTES(s) s, sizeof(s) - 1

struct bad_case {
    const char *name;
    const char *bytes;
    size_t len;
    int want;
    int msgid; /* -1: none read */
};

static const struct bad_case bad_cases[] = {
    { "truncated in params", BYTES("\x94\x00\x01\xa6lookup\x91"), RING_ETRUNC, -1 },
    { "truncated in a string", BYTES("\x94\x00\x01\xa6loo"), RING_ETRUNC, -1 },
    { "truncated in a uint32 msgid", BYTES("\x94\x00\xce\x00\x00"), RING_ETRUNC, -1 },
    { "not an array", BYTES("\x05"), RING_EPROTO, -1 },
    { "http request", BYTES("GET / HTTP/1.1\r\n"), RING_EPROTO, -1 },
    { "a map", BYTES("\x81\xa1k\xa1v"), RING_EPROTO, -1 },
    { "byte 0xc1", BYTES("\x94\x00\x01\xc1\x90"), RING_EPROTO, -1 },
    { "empty array", BYTES("\x90"), RING_ETYPE, -1 },
    { "unknown type", BYTES("\x94\x03\x01\xa1m\x90"), RING_ETYPE, -1 },
    { "type is a string", BYTES("\x94\xa1\x30\x01\xa1m\x90"), RING_ETYPE, -1 },
    { "request of 3", BYTES("\x93\x00\x05\xa1m"), RING_ETYPE, 5 },
    { "request of 5", BYTES("\x95\x00\x05\xa1m\x90\xc0"), RING_ETYPE, 5 },
    { "notification of 4", BYTES("\x94\x02\xa1m\x90\xc0"), RING_ETYPE, -1 },
    { "msgid a string", BYTES("\x94\x00\xa1\x31\xa1m\x90"), RING_ETYPE, -1 },
    { "msgid negative", BYTES("\x94\x00\xff\xa1m\x90"), RING_ERANGE, -1 },
    { "msgid 2^32", BYTES("\x94\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xa1m\x90"), RING_ERANGE,
      -1 },
    { "msgid a float", BYTES("\x94\x00\xca\x3f\x80\x00\x00\xa1m\x90"), RING_ETYPE, -1 },
    { "method an int", BYTES("\x94\x00\x07\x05\x90"), RING_ETYPE, 7 },
    { "method bin", BYTES("\x94\x00\x07\xc4\x01m\x90"), RING_ETYPE, 7 },
    { "method empty", BYTES("\x94\x00\x07\xa0\x90"), RING_ETYPE, 7 },
    { "params a string", BYTES("\x94\x00\x07\xa1m\xa1x"), RING_ETYPE, 7 },
    { "params nil", BYTES("\x94\x00\x07\xa1m\xc0"), RING_ETYPE, 7 },
    { "param a map", BYTES("\x94\x00\x07\xa1m\x91\x80"), RING_ETYPE, 7 },
    { "param an ext", BYTES("\x94\x00\x07\xa1m\x91\xd4\x01\x00"), RING_ETYPE, 7 },
    { "a list of a string, then an int", BYTES("\x94\x00\x07\xa1m\x91\x92\xa1x\x01"), RING_ETYPE,
      7 },
    { "a list of an int, then a string", BYTES("\x94\x00\x07\xa1m\x91\x92\x01\xa1x"), RING_ETYPE,
      7 },
    { "a list of an int, then a negative", BYTES("\x94\x00\x07\xa1m\x91\x92\x01\xff"), RING_ETYPE,
      7 },
    { "a list of a negative int", BYTES("\x94\x00\x07\xa1m\x91\x91\xff"), RING_ETYPE, 7 },
    { "list of lists", BYTES("\x94\x00\x07\xa1m\x91\x91\x90"), RING_ETYPE, 7 },
    { "error a string", BYTES("\x94\x01\x07\xa4oops\xc0"), RING_ETYPE, 7 },
    { "error map without code", BYTES("\x94\x01\x07\x81\xa7message\xa1x\xc0"), RING_ETYPE, 7 },
    { "error code an int",
      BYTES("\x94\x01\x07\x81\xa4"
            "code\x05\xc0"),
      RING_ETYPE, 7 },
    { "error key an int", BYTES("\x94\x01\x07\x81\x01\xa1x\xc0"), RING_ETYPE, 7 },
    { "str32 of 2 MiB", BYTES("\x94\x00\x07\xa1m\x91\xdb\x00\x20\x00\x00"), RING_EMSGSIZE, -1 },
    { "array32 of 2^32-1", BYTES("\x94\x00\x07\xa1m\xdd\xff\xff\xff\xff"), RING_EMSGSIZE, -1 },
    { "map32 of 2^32-1", BYTES("\x94\x01\x07\xdf\xff\xff\xff\xff"), RING_EMSGSIZE, -1 },
    { "top array32 of 2^32-1", BYTES("\xdd\xff\xff\xff\xff"), RING_EMSGSIZE, -1 },
    { "bin32 of 4 GiB", BYTES("\x94\x01\x07\xc0\xc6\xff\xff\xff\xff"), RING_EMSGSIZE, -1 },
    { "ext32 of 4 GiB", BYTES("\x94\x01\x07\xc0\xc9\xff\xff\xff\xff\x01"), RING_EMSGSIZE, -1 },
};

Test(rpc, malformed_table)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        check_bad(c->name, c->bytes, c->len, c->want, c->msgid);
    }
}

/* [0, 7, method, params] where params holds |n| copies of |item| (packed by the caller). */
static void check_built(const char *name, struct out *o, int want, int msgid)
{
    check_bad(name, o->b.data, o->b.len, want, msgid);
    rpc_buf_free(&o->b);
}

static void pack_nested(struct out *o, int levels)
{
    pack_req(o, 7, "m", 1);
    for (int i = 0; i < levels; i++) {
        cr_assert(eq(int, msgpack_pack_array(&o->pk, 1), 0));
    }
    cr_assert(eq(int, msgpack_pack_nil(&o->pk), 0));
}

Test(rpc, limits_each_with_its_error)
{
    struct out o;
    char big[RPC_STR_BYTES_MAX + 1];
    memset(big, 'a', sizeof(big));

    out_init(&o);
    cr_assert(eq(int, msgpack_pack_array(&o.pk, 4), 0));
    msgpack_pack_uint8(&o.pk, 0);
    msgpack_pack_uint8(&o.pk, 7);
    msgpack_pack_str_with_body(&o.pk, big, RPC_METHOD_BYTES_MAX + 1);
    msgpack_pack_array(&o.pk, 0);
    check_built("method too long", &o, RING_E2BIG, 7);

    out_init(&o);
    pack_req(&o, 7, "m", 0);
    o.b.len--; /* replace the empty params with RPC_PARAMS_MAX + 1 nils */
    msgpack_pack_array(&o.pk, RPC_PARAMS_MAX + 1);
    for (int i = 0; i <= RPC_PARAMS_MAX; i++) {
        msgpack_pack_nil(&o.pk);
    }
    check_built("too many params", &o, RING_E2BIG, 7);

    out_init(&o);
    pack_req(&o, 7, "lookup", 1);
    msgpack_pack_str_with_body(&o.pk, big, RPC_STR_BYTES_MAX + 1);
    check_built("string param too long", &o, RING_E2BIG, 7);

    out_init(&o);
    pack_req(&o, 7, "join", 2);
    msgpack_pack_array(&o.pk, RPC_PARAM_ITEMS_MAX);
    for (int i = 0; i < RPC_PARAM_ITEMS_MAX; i++) {
        pack_cstr(&o.pk, "10.0.0.1:1");
    }
    msgpack_pack_array(&o.pk, 1);
    pack_cstr(&o.pk, "10.0.0.1:1");
    check_built("too many list items", &o, RING_E2BIG, 7);

    /* Envelope and params are two levels: 14 more stay within RPC_DEPTH_MAX (and then fail
     * the param shape); 15 more are one too deep. */
    out_init(&o);
    pack_nested(&o, RPC_DEPTH_MAX - 2);
    check_built("deep but within the limit", &o, RING_ETYPE, 7);
    out_init(&o);
    pack_nested(&o, RPC_DEPTH_MAX - 1);
    check_built("one level too deep", &o, RING_E2BIG, 7);

    out_init(&o);
    cr_assert(eq(int, msgpack_pack_array(&o.pk, 4), 0));
    msgpack_pack_uint8(&o.pk, 1);
    msgpack_pack_uint8(&o.pk, 7);
    msgpack_pack_map(&o.pk, RPC_ERROR_KEYS_MAX + 1);
    for (int i = 0; i <= RPC_ERROR_KEYS_MAX; i++) {
        pack_cstr(&o.pk, "code");
        pack_cstr(&o.pk, "EINVAL");
    }
    msgpack_pack_nil(&o.pk);
    check_built("too many error keys", &o, RING_E2BIG, 7);
}

Test(rpc, size_limit_is_exact)
{
    struct out o;
    out_init(&o);
    pack_req(&o, 1, "lookup", 1);
    char key[200];
    memset(key, 'k', sizeof(key));
    msgpack_pack_str_with_body(&o.pk, key, sizeof(key));
    struct rpc_msg m;
    struct rpc_reader *fits = reader(o.b.len, 0);
    cr_assert(eq(int, rpc_reader_feed(fits, o.b.data, o.b.len), 0));
    cr_assert(eq(int, rpc_reader_next(fits, &m), 1));
    struct rpc_reader *small = reader(o.b.len - 1, 0);
    /* Rejected as soon as the string's header makes the size certain. */
    cr_assert(eq(int, rpc_reader_feed(small, o.b.data, 13), 0));
    cr_assert(eq(int, rpc_reader_next(small, &m), RING_EMSGSIZE));
    cr_assert(eq(int, rpc_reader_next(small, &m), RING_EMSGSIZE));
    cr_assert(eq(int, rpc_reader_feed(small, "x", 1), RING_EMSGSIZE));
    rpc_reader_del(fits);
    rpc_reader_del(small);
    rpc_buf_free(&o.b);
}

Test(rpc, inflight_limit_pauses_until_answered)
{
    struct out o;
    out_init(&o);
    for (uint32_t i = 0; i < 3; i++) {
        pack_req(&o, i, "members", 0);
    }
    struct rpc_reader *r = reader(0, 2);
    struct rpc_msg m;
    cr_assert(eq(int, rpc_reader_feed(r, o.b.data, o.b.len), 0));
    cr_assert(eq(int, rpc_reader_next(r, &m), 1));
    cr_assert(eq(int, rpc_reader_next(r, &m), 1));
    cr_assert(eq(int, rpc_reader_next(r, &m), RING_EAGAIN));
    cr_assert(eq(u32, rpc_reader_inflight(r), 2));
    rpc_reader_answered(r);
    cr_assert(eq(int, rpc_reader_next(r, &m), 1));
    cr_assert(eq(u32, m.msgid, 2));
    cr_assert(eq(int, rpc_reader_next(r, &m), RING_EAGAIN));
    rpc_reader_del(r);
    rpc_buf_free(&o.b);
}

Test(rpc, bad_requests_count_in_flight_only_when_answerable)
{
    struct rpc_reader *r = reader(0, 0);
    struct rpc_msg m;
    cr_assert(eq(int, rpc_reader_feed(r, BYTES("\x94\x00\x07\x05\x90")), 0));
    cr_assert(eq(int, rpc_reader_next(r, &m), RING_ETYPE));
    cr_assert(eq(u32, rpc_reader_inflight(r), 1));
    cr_assert(eq(int, rpc_reader_feed(r, BYTES("\x94\x00\xa1\x31\xa1m\x90")), 0));
    cr_assert(eq(int, rpc_reader_next(r, &m), RING_ETYPE));
    cr_assert(eq(u32, rpc_reader_inflight(r), 1));
    rpc_reader_del(r);
}

/*
 * Serving: what a server following rpc_server_action() does with each odd message, as ringd
 * does (ringd/api/api.c process()). The server here calls nothing: a CALL is answered with a nil
 * result, a NOTIFY with nothing.
 */
struct served {
    int actions[4]; /* the action for each message, in order */
    int count;
    struct out o; /* everything the server sent */
};

/* Feeds |len| bytes then good_req to a fresh reader and serves every message; checks the
 * in-flight count is back to 0 after each. */
static void serve(const void *bytes, size_t len, struct served *s)
{
    struct rpc_reader *r = reader(0, 0);
    struct rpc_msg m;
    s->count = 0;
    out_init(&s->o);
    cr_assert(eq(int, rpc_reader_feed(r, bytes, len), 0));
    cr_assert(eq(int, rpc_reader_feed(r, good_req, sizeof(good_req) - 1), 0));
    for (;;) {
        int rv = rpc_reader_next(r, &m);
        int action = rpc_server_action(rv, &m);
        if (action == RPC_ACTION_WAIT) {
            break;
        }
        cr_assert(lt(int, s->count, 4), "the reader hands out the same message forever");
        s->actions[s->count++] = action;
        if (action == RPC_ACTION_CALL) {
            cr_assert(eq(int, rpc_pack_result_begin(&s->o.pk, m.msgid), 0));
            cr_assert(eq(int, msgpack_pack_nil(&s->o.pk), 0));
        } else if (action == RPC_ACTION_REJECT) {
            cr_assert(
                eq(int, rpc_pack_error(&s->o.pk, m.msgid, rv, m.detail, strlen(m.detail)), 0));
        } else if (action == RPC_ACTION_UNANSWERABLE || action == RPC_ACTION_CLOSE) {
            cr_assert(
                eq(int, rpc_pack_error_notification(&s->o.pk, rv, m.detail, strlen(m.detail)), 0));
        }
        if (action == RPC_ACTION_CALL || action == RPC_ACTION_REJECT) {
            rpc_reader_answered(r);
        }
        cr_assert(eq(u32, rpc_reader_inflight(r), 0));
        if (action == RPC_ACTION_CLOSE) {
            break;
        }
    }
    rpc_reader_del(r);
}

struct odd_case {
    const char *name;
    const char *bytes;
    size_t len;
    int action;
    const char *code; /* the error sent (REJECT, UNANSWERABLE, CLOSE), else NULL */
    int64_t msgid;    /* REJECT: the msgid answered */
};

static const struct odd_case odd_cases[] = {
    /* The two byte strings that used to abort ringd. */
    { "notification [2, \"x\", []]", BYTES("\x93\x02\xa1x\x90"), RPC_ACTION_NOTIFY, NULL, -1 },
    { "response [1, 1, 1, nil]", BYTES("\x94\x01\x01\xc0\xc0"), RPC_ACTION_DROP, NULL, -1 },
    /* Notifications: well formed ones are called; malformed ones dropped. */
    { "notification lookup(k)", BYTES("\x93\x02\xa6lookup\x91\xa1k"), RPC_ACTION_NOTIFY, NULL, -1 },
    { "notification with a map param", BYTES("\x93\x02\xa6lookup\x91\x80"), RPC_ACTION_DROP, NULL,
      -1 },
    { "notification of 4", BYTES("\x94\x02\x01\xa1m\x90"), RPC_ACTION_DROP, NULL, -1 },
    { "notification of 1", BYTES("\x91\x02"), RPC_ACTION_DROP, NULL, -1 },
    { "notification, method an int", BYTES("\x93\x02\x05\x90"), RPC_ACTION_DROP, NULL, -1 },
    /* Responses: dropped, whatever their shape or msgid. */
    { "response [1, 9, nil, {}]", BYTES("\x94\x01\x09\xc0\x80"), RPC_ACTION_DROP, NULL, -1 },
    { "error response",
      BYTES("\x94\x01\x09\x81\xa4"
            "code\xa6"
            "EINVAL\xc0"),
      RPC_ACTION_DROP, NULL, -1 },
    { "response, msgid a string", BYTES("\x94\x01\xa1x\xc0\xc0"), RPC_ACTION_DROP, NULL, -1 },
    { "response, msgid negative", BYTES("\x94\x01\xff\xc0\xc0"), RPC_ACTION_DROP, NULL, -1 },
    { "response of 2", BYTES("\x92\x01\x09"), RPC_ACTION_DROP, NULL, -1 },
    /* Requests whose msgid cannot be used, unknown types: an error notification. */
    { "msgid a string", BYTES("\x94\x00\xa1\x31\xa1m\x90"), RPC_ACTION_UNANSWERABLE, "ETYPE", -1 },
    { "msgid nil", BYTES("\x94\x00\xc0\xa1m\x90"), RPC_ACTION_UNANSWERABLE, "ETYPE", -1 },
    { "msgid negative", BYTES("\x94\x00\xff\xa1m\x90"), RPC_ACTION_UNANSWERABLE, "ERANGE", -1 },
    { "msgid 2^32", BYTES("\x94\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xa1m\x90"),
      RPC_ACTION_UNANSWERABLE, "ERANGE", -1 },
    { "msgid a float", BYTES("\x94\x00\xca\x3f\x80\x00\x00\xa1m\x90"), RPC_ACTION_UNANSWERABLE,
      "ETYPE", -1 },
    { "request of 1", BYTES("\x91\x00"), RPC_ACTION_UNANSWERABLE, "ETYPE", -1 },
    { "type 5", BYTES("\x94\x05\x07\xa1m\x90"), RPC_ACTION_UNANSWERABLE, "ETYPE", -1 },
    { "type -1", BYTES("\x94\xff\x07\xa1m\x90"), RPC_ACTION_UNANSWERABLE, "ETYPE", -1 },
    { "type a string", BYTES("\x94\xa1\x30\x07\xa1m\x90"), RPC_ACTION_UNANSWERABLE, "ETYPE", -1 },
    { "empty array", BYTES("\x90"), RPC_ACTION_UNANSWERABLE, "ETYPE", -1 },
    /* Requests whose msgid was read: an error response to it. */
    { "request of 3", BYTES("\x93\x00\x07\xa1m"), RPC_ACTION_REJECT, "ETYPE", 7 },
    { "request of 5", BYTES("\x95\x00\x07\xa1m\x90\xc0"), RPC_ACTION_REJECT, "ETYPE", 7 },
    { "request, param a map", BYTES("\x94\x00\x07\xa1m\x91\x80"), RPC_ACTION_REJECT, "ETYPE", 7 },
    { "request, msgid 2^32-1", BYTES("\x94\x00\xce\xff\xff\xff\xff\xa1m\x91\x80"),
      RPC_ACTION_REJECT, "ETYPE", 0xffffffff },
    { "a good request", BYTES("\x94\x00\x03\xa1m\x90"), RPC_ACTION_CALL, NULL, 3 },
    /* Framing broken: an error notification, then close. */
    { "not an array", BYTES("\x05"), RPC_ACTION_CLOSE, "EPROTO", -1 },
    { "byte 0xc1", BYTES("\x94\x00\x01\xc1\x90"), RPC_ACTION_CLOSE, "EPROTO", -1 },
    { "str32 of 2 MiB", BYTES("\x94\x00\x07\xa1m\x91\xdb\x00\x20\x00\x00"), RPC_ACTION_CLOSE,
      "EMSGSIZE", -1 },
};

/* The first message the server sent for case |c|, checked against it. */
static void check_sent(const struct odd_case *c, const struct served *s)
{
    struct rpc_msg m;
    size_t used = 0;
    cr_assert(eq(int, rpc_parse(s->o.b.data, s->o.b.len, &m, &used), 0), "%s: sent garbage",
              c->name);
    if (c->action == RPC_ACTION_UNANSWERABLE || c->action == RPC_ACTION_CLOSE) {
        cr_assert(eq(int, m.kind, RPC_NOTIFICATION), "%s", c->name);
        assert_bytes(m.method, "error");
        cr_assert(eq(u32, m.param_count, 2), "%s", c->name);
        cr_assert(eq(int, m.params[0].type, RPC_VAL_STR), "%s", c->name);
        cr_assert(eq(int, m.params[1].type, RPC_VAL_STR), "%s", c->name);
        assert_bytes(m.params[0].v.s, c->code);
        cr_assert(gt(sz, m.params[1].v.s.len, 0), "%s: no message", c->name);
    } else if (c->action == RPC_ACTION_REJECT) {
        cr_assert(eq(int, m.kind, RPC_RESPONSE), "%s", c->name);
        cr_assert(eq(u32, m.msgid, (uint32_t)c->msgid), "%s", c->name);
        cr_assert(eq(int, m.is_error, 1), "%s", c->name);
        assert_bytes(m.error_code, c->code);
    } else {
        /* Nothing for the odd message: the first thing sent answers what it was (a CALL) or
         * the good request behind it. */
        cr_assert(eq(int, m.kind, RPC_RESPONSE), "%s", c->name);
        cr_assert(eq(u32, m.msgid, c->action == RPC_ACTION_CALL ? (uint32_t)c->msgid : 9),
                  "%s: sent something for it", c->name);
        cr_assert(eq(int, m.is_error, 0), "%s", c->name);
    }
}

Test(rpc, server_action_table)
{
    for (size_t i = 0; i < sizeof(odd_cases) / sizeof(odd_cases[0]); i++) {
        const struct odd_case *c = &odd_cases[i];
        struct served s;
        serve(c->bytes, c->len, &s);
        cr_assert(eq(int, s.actions[0], c->action), "%s: action %d, want %d", c->name, s.actions[0],
                  c->action);
        if (c->action == RPC_ACTION_CLOSE) {
            cr_assert(eq(int, s.count, 1), "%s: served after a fatal error", c->name);
        } else {
            /* The good request behind it is called and answered. */
            cr_assert(eq(int, s.count, 2), "%s", c->name);
            cr_assert(eq(int, s.actions[1], RPC_ACTION_CALL), "%s", c->name);
        }
        check_sent(c, &s);
        rpc_buf_free(&s.o.b);
    }
}

/* The reader never hands out a message twice and never waits on an answer it did not ask
 * for: a stream of notifications and responses longer than the in-flight limit is drained
 * in one pass with nothing in flight, and requests behind it still go through. */
Test(rpc, notifications_and_responses_never_count_in_flight)
{
    struct rpc_reader *r = reader(0, 2);
    struct rpc_msg m;
    for (int i = 0; i < 100; i++) {
        cr_assert(eq(int, rpc_reader_feed(r, BYTES("\x93\x02\xa1x\x90")), 0));
        cr_assert(eq(int, rpc_reader_feed(r, BYTES("\x94\x01\x01\xc0\xc0")), 0));
        cr_assert(eq(int, rpc_reader_feed(r, BYTES("\x94\x01\x02\xc0\xc0")), 0));
    }
    cr_assert(eq(int, rpc_reader_feed(r, good_req, sizeof(good_req) - 1), 0));
    int seen = 0, rv;
    while ((rv = rpc_reader_next(r, &m)) != 0) {
        int action = rpc_server_action(rv, &m);
        cr_assert(ne(int, action, RPC_ACTION_WAIT), "paused at message %d", seen);
        cr_assert(eq(u32, rpc_reader_inflight(r), action == RPC_ACTION_CALL ? 1u : 0u));
        if (action == RPC_ACTION_CALL) {
            cr_assert(eq(u32, m.msgid, 9));
            rpc_reader_answered(r);
        }
        seen++;
    }
    cr_assert(eq(int, seen, 301));
    cr_assert(eq(u32, rpc_reader_inflight(r), 0));
    rpc_reader_del(r);
}

Test(rpc, server_action_waits_on_0_and_eagain)
{
    struct rpc_msg m;
    memset(&m, 0, sizeof(m));
    m.kind = RPC_REQUEST;
    m.has_msgid = 1; /* stale fields of an earlier message must not matter */
    cr_assert(eq(int, rpc_server_action(0, &m), RPC_ACTION_WAIT));
    cr_assert(eq(int, rpc_server_action(RING_EAGAIN, &m), RPC_ACTION_WAIT));
    cr_assert(eq(int, rpc_server_action(RING_EPROTO, &m), RPC_ACTION_CLOSE));
    cr_assert(eq(int, rpc_server_action(RING_EMSGSIZE, &m), RPC_ACTION_CLOSE));
}

Test(rpc, error_notification_round_trips)
{
    struct out o;
    out_init(&o);
    cr_assert(eq(int, rpc_pack_error_notification(&o.pk, RING_EPROTO, "bad byte", 8), 0));
    cr_assert(eq(int, rpc_pack_error_notification(&o.pk, RING_ETYPE, NULL, 0), 0));
    struct rpc_msg m;
    size_t used;
    cr_assert(eq(int, rpc_parse(o.b.data, o.b.len, &m, &used), 0));
    cr_assert(eq(int, m.kind, RPC_NOTIFICATION));
    cr_assert(eq(int, m.has_msgid, 0));
    assert_bytes(m.method, "error");
    cr_assert(eq(u32, m.param_count, 2));
    assert_bytes(m.params[0].v.s, "EPROTO");
    assert_bytes(m.params[1].v.s, "bad byte");
    cr_assert(eq(int, rpc_parse(o.b.data + used, o.b.len - used, &m, NULL), 0));
    assert_bytes(m.params[0].v.s, "ETYPE");
    assert_bytes(m.params[1].v.s, ring_strerror(RING_ETYPE));
    size_t len = o.b.len;
    cr_assert(eq(int, rpc_pack_error_notification(&o.pk, 0, NULL, 0), RING_EINVAL));
    cr_assert(eq(int, rpc_pack_error_notification(&o.pk, -1000, NULL, 0), RING_EINVAL));
    cr_assert(eq(int, rpc_pack_error_notification(&o.pk, RING_EINVAL, "x", RPC_STR_BYTES_MAX + 1),
                 RING_EINVAL));
    cr_assert(eq(sz, o.b.len, len));
    rpc_buf_free(&o.b);
}

Test(rpc, feed_room_is_guaranteed_and_bounded)
{
    static char chunk[RPC_FEED_BYTES_MAX];
    struct rpc_reader *r = reader(1000, 0);
    struct rpc_msg m;
    /* A partial message just under the limit, then a full read always fits. */
    struct out o;
    out_init(&o);
    pack_req(&o, 1, "lookup", 1);
    msgpack_pack_str(&o.pk, 900);
    cr_assert(eq(int, rpc_reader_feed(r, o.b.data, o.b.len), 0));
    cr_assert(eq(int, rpc_reader_next(r, &m), 0));
    cr_assert(eq(int, rpc_reader_feed(r, chunk, RPC_FEED_BYTES_MAX), 0));
    cr_assert(eq(int, rpc_reader_feed(r, chunk, 1000), RING_ENOBUFS));
    cr_assert(le(sz, rpc_reader_capacity(r), 1000 + RPC_FEED_BYTES_MAX));
    rpc_reader_del(r);
    rpc_buf_free(&o.b);
}

/* A large message grows the buffer; once it is pulled, trim gives the growth back, keeps a
 * partial message that fits the initial size whole, and leaves a large partial one alone. */
Test(rpc, trim_gives_back_what_a_large_message_grew)
{
    struct rpc_reader *r = reader(100000, 0);
    struct rpc_msg m;
    struct out o;
    out_init(&o);
    /* eight strings of RPC_STR_BYTES_MAX: 32 KiB */
    static char big[RPC_STR_BYTES_MAX];
    memset(big, 'k', sizeof(big));
    pack_req(&o, 1, "lookup", RPC_PARAMS_MAX);
    for (int i = 0; i < RPC_PARAMS_MAX; i++) {
        cr_assert(eq(int, msgpack_pack_str_with_body(&o.pk, big, sizeof(big)), 0));
    }
    pack_req(&o, 2, "lookup", 1); /* the start of the next message: its header only */
    cr_assert(eq(int, rpc_reader_feed(r, o.b.data, o.b.len), 0));
    cr_assert(gt(sz, rpc_reader_capacity(r), 8 * sizeof(big)));
    cr_assert(eq(int, rpc_reader_next(r, &m), 1));
    cr_assert(eq(sz, m.params[0].v.s.len, sizeof(big)));
    rpc_reader_answered(r);
    size_t pending = rpc_reader_pending(r);
    cr_assert(gt(sz, pending, 0));
    rpc_reader_trim(r);
    cr_assert(eq(sz, rpc_reader_capacity(r), RPC_READER_BYTES_INITIAL));
    cr_assert(eq(sz, rpc_reader_pending(r), pending));
    /* the rest of the second message, and it reads whole */
    struct out o2;
    out_init(&o2);
    pack_cstr(&o2.pk, "user:42");
    cr_assert(eq(int, rpc_reader_feed(r, o2.b.data, o2.b.len), 0));
    cr_assert(eq(int, rpc_reader_next(r, &m), 1));
    cr_assert(eq(u32, m.msgid, 2));
    rpc_reader_answered(r);
    /* a large partial message is not trimmed */
    struct out o3;
    out_init(&o3);
    pack_req(&o3, 3, "lookup", RPC_PARAMS_MAX);
    for (int i = 0; i < RPC_PARAMS_MAX; i++) {
        cr_assert(eq(int, msgpack_pack_str_with_body(&o3.pk, big, sizeof(big)), 0));
    }
    cr_assert(eq(int, rpc_reader_feed(r, o3.b.data, o3.b.len - 10), 0));
    cr_assert(eq(int, rpc_reader_next(r, &m), 0));
    size_t cap = rpc_reader_capacity(r);
    rpc_reader_trim(r);
    cr_assert(eq(sz, rpc_reader_capacity(r), cap));
    cr_assert(eq(int, rpc_reader_feed(r, o3.b.data + o3.b.len - 10, 10), 0));
    cr_assert(eq(int, rpc_reader_next(r, &m), 1));
    cr_assert(eq(u32, m.msgid, 3));
    rpc_reader_answered(r);
    rpc_reader_del(r);
    rpc_buf_free(&o.b);
    rpc_buf_free(&o2.b);
    rpc_buf_free(&o3.b);
}

Test(rpc, client_reads_large_result_through_buf_and_commit)
{
    struct rpc_reader_config cfg = { .message_bytes_max = 4u << 20 };
    struct rpc_reader *r = NULL;
    cr_assert(eq(int, rpc_reader_new(&r, &cfg, &tm.mem), 0));
    struct out o;
    out_init(&o);
    cr_assert(eq(int, rpc_pack_result_begin(&o.pk, 77), 0));
    msgpack_pack_array(&o.pk, 100000);
    for (int i = 0; i < 100000; i++) {
        msgpack_pack_int(&o.pk, i);
    }
    size_t off = 0;
    struct rpc_msg m;
    int rv = 0;
    while (rv == 0) {
        void *space;
        size_t len;
        cr_assert(eq(int, rpc_reader_buf(r, &space, &len), 0));
        cr_assert(ge(sz, len, RPC_READ_BYTES_MIN));
        size_t n = o.b.len - off < len ? o.b.len - off : len;
        n = n > 1500 ? 1500 : n;
        memcpy(space, o.b.data + off, n);
        rpc_reader_commit(r, n);
        off += n;
        rv = rpc_reader_next(r, &m);
    }
    cr_assert(eq(int, rv, 1));
    cr_assert(eq(sz, off, o.b.len));
    cr_assert(eq(int, m.kind, RPC_RESPONSE));
    cr_assert(eq(int, m.is_error, 0));
    cr_assert(eq(u32, m.msgid, 77));
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    cr_assert(eq(int, msgpack_unpack_next(&up, m.result.ptr, m.result.len, NULL),
                 MSGPACK_UNPACK_SUCCESS));
    cr_assert(eq(int, up.data.type, MSGPACK_OBJECT_ARRAY));
    cr_assert(eq(u32, up.data.via.array.size, 100000));
    cr_assert(eq(u64, up.data.via.array.ptr[99999].via.u64, 99999));
    msgpack_unpacked_destroy(&up);
    rpc_reader_del(r);
    rpc_buf_free(&o.b);
}

Test(rpc, error_response_round_trips)
{
    struct out o;
    out_init(&o);
    cr_assert(eq(int, rpc_pack_error(&o.pk, 5, RING_ENOENT, "unknown method \"x\"", 18), 0));
    cr_assert(eq(int, rpc_pack_error(&o.pk, 6, RING_EEMPTY, NULL, 0), 0));
    struct rpc_msg m;
    size_t used;
    cr_assert(eq(int, rpc_parse(o.b.data, o.b.len, &m, &used), 0));
    cr_assert(eq(int, m.is_error, 1));
    cr_assert(eq(int, m.error, RING_ENOENT));
    assert_bytes(m.error_code, "ENOENT");
    assert_bytes(m.error_message, "unknown method \"x\"");
    assert_bytes(m.result, "\xc0");
    cr_assert(eq(int, rpc_parse(o.b.data + used, o.b.len - used, &m, NULL), 0));
    cr_assert(eq(u32, m.msgid, 6));
    cr_assert(eq(int, m.error, RING_EEMPTY));
    assert_bytes(m.error_message, "ring has no members");
    rpc_buf_free(&o.b);
}

/* A list of integers (shard numbers in a notification) reads as one, a list of strings as
 * the other, each through its own accessor; the two kinds share the item bound. */
Test(rpc, lists_of_integers_and_of_strings)
{
    struct rpc_msg m;
    /* [2, "n", [[1, 2, 18446744073709551615], ["a"], []]] */
    static const char bytes[] = "\x93\x02\xa1n\x93\x93\x01\x02\xcf\xff\xff\xff\xff\xff\xff"
                                "\xff\xff\x91\xa1"
                                "a\x90";
    cr_assert(eq(int, rpc_parse(BYTES(bytes), &m, NULL), 0), "%s", m.detail);
    const uint64_t *vals;
    const struct rpc_bytes *items;
    uint32_t count = 9;
    cr_assert(eq(int, rpc_param_uints(&m, 0, &vals, &count), 0));
    cr_assert(eq(u32, count, 3));
    cr_assert(eq(u64, vals[0], 1));
    cr_assert(eq(u64, vals[1], 2));
    cr_assert(eq(u64, vals[2], UINT64_MAX));
    cr_assert(eq(int, rpc_param_list(&m, 0, &items, &count), RING_ETYPE));
    cr_assert(eq(int, rpc_param_uints(&m, 1, &vals, &count), RING_ETYPE));
    cr_assert(eq(int, rpc_param_list(&m, 1, &items, &count), 0));
    cr_assert(eq(u32, count, 1));
    assert_bytes(items[0], "a");
    cr_assert(eq(int, rpc_param_uints(&m, 2, &vals, &count), 0), "[] is an empty list of either");
    cr_assert(eq(u32, count, 0));
    cr_assert(eq(int, rpc_param_list(&m, 2, &items, &count), 0));
    cr_assert(eq(u32, count, 0));
    /* 40 integers and 40 strings: over the 64 items the two kinds share */
    struct out o;
    out_init(&o);
    pack_req(&o, 7, "m", 2);
    msgpack_pack_array(&o.pk, 40);
    for (int i = 0; i < 40; i++) {
        msgpack_pack_uint32(&o.pk, (uint32_t)i);
    }
    msgpack_pack_array(&o.pk, 40);
    for (int i = 0; i < 40; i++) {
        msgpack_pack_str_with_body(&o.pk, "s", 1);
    }
    check_built("40 integers and 40 strings", &o, RING_E2BIG, 7);
}

Test(rpc, error_map_skips_unknown_keys_and_names)
{
    struct rpc_msg m;
    /* {"data": [1, {"x": 2}], "code": "ENEWER", "message": "m"} */
    static const char bytes[] = "\x94\x01\x03\x83\xa4"
                                "data\x92\x01\x81\xa1x\x02\xa4"
                                "code\xa6"
                                "ENEWER\xa7message\xa1m\x02";
    cr_assert(eq(int, rpc_parse(BYTES(bytes), &m, NULL), 0));
    cr_assert(eq(int, m.error, RING_EPROTO));
    assert_bytes(m.error_code, "ENEWER");
    assert_bytes(m.result, "\x02");
}

Test(rpc, writers_reject_bad_arguments)
{
    struct out o;
    out_init(&o);
    char longname[RPC_METHOD_BYTES_MAX + 1];
    memset(longname, 'm', sizeof(longname));
    cr_assert(eq(int, rpc_pack_request_begin(&o.pk, 1, "", 0, 0), RING_EINVAL));
    cr_assert(
        eq(int, rpc_pack_request_begin(&o.pk, 1, longname, sizeof(longname), 0), RING_EINVAL));
    cr_assert(eq(int, rpc_pack_request_begin(&o.pk, 1, "m", 1, RPC_PARAMS_MAX + 1), RING_EINVAL));
    cr_assert(eq(int, rpc_pack_notification_begin(&o.pk, NULL, 0, 0), RING_EINVAL));
    cr_assert(eq(int, rpc_pack_error(&o.pk, 1, 0, NULL, 0), RING_EINVAL));
    cr_assert(eq(int, rpc_pack_error(&o.pk, 1, -1000, NULL, 0), RING_EINVAL));
    cr_assert(
        eq(int, rpc_pack_error(&o.pk, 1, RING_EINVAL, "x", RPC_STR_BYTES_MAX + 1), RING_EINVAL));
    cr_assert(eq(sz, o.b.len, 0));
    rpc_buf_free(&o.b);
}

Test(rpc, buf_cap_and_rollback)
{
    struct rpc_buf b;
    msgpack_packer pk;
    rpc_buf_init(&b, &tm.mem, 16);
    msgpack_packer_init(&pk, &b, rpc_buf_write);
    cr_assert(eq(int, rpc_pack_result_begin(&pk, 1), 0));
    size_t mark = b.len;
    cr_assert(eq(int, rpc_pack_request_begin(&pk, 2, "lookup_n_long", 13, 0), RING_EMSGSIZE));
    cr_assert(eq(int, b.error, RING_EMSGSIZE));
    rpc_buf_truncate(&b, mark);
    cr_assert(eq(int, b.error, 0));
    cr_assert(eq(int, msgpack_pack_nil(&pk), 0));
    struct rpc_msg m;
    cr_assert(eq(int, rpc_parse(b.data, b.len, &m, NULL), 0));
    cr_assert(eq(u32, m.msgid, 1));
    rpc_buf_consume(&b, 3);
    cr_assert(eq(sz, b.len, mark + 1 - 3));
    rpc_buf_free(&b);

    tm.calls = 0;
    tm.fail_at = 1;
    rpc_buf_init(&b, &tm.mem, 0);
    msgpack_packer_init(&pk, &b, rpc_buf_write);
    cr_assert(eq(int, rpc_pack_result_begin(&pk, 1), RING_ENOMEM));
    tm.fail_at = 0;
    rpc_buf_free(&b);
}

Test(rpc, param_accessors_report_what_to_answer)
{
    struct out o;
    out_init(&o);
    pack_req(&o, 1, "lookup_n", 4);
    msgpack_pack_int(&o.pk, -1);
    msgpack_pack_uint64(&o.pk, 65);
    msgpack_pack_bin_with_body(&o.pk, "\x00\x01", 2);
    msgpack_pack_double(&o.pk, 1.5);
    struct rpc_msg m;
    cr_assert(eq(int, rpc_parse(o.b.data, o.b.len, &m, NULL), 0));
    cr_assert(rpc_method_is(&m, "lookup_n"));
    cr_assert(not(rpc_method_is(&m, "lookup")));
    struct rpc_bytes b;
    uint64_t u;
    const struct rpc_bytes *items;
    uint32_t count;
    cr_assert(eq(int, rpc_param_uint(&m, 0, 64, &u), RING_ERANGE));
    cr_assert(eq(int, rpc_param_uint(&m, 1, 64, &u), RING_ERANGE));
    cr_assert(eq(int, rpc_param_uint(&m, 1, 65, &u), 0));
    cr_assert(eq(int, rpc_param_uint(&m, 2, 64, &u), RING_ETYPE));
    cr_assert(eq(int, rpc_param_bytes(&m, 2, &b), 0));
    cr_assert(eq(sz, b.len, 2));
    cr_assert(eq(int, rpc_param_bytes(&m, 0, &b), RING_ETYPE));
    cr_assert(eq(int, rpc_param_list(&m, 2, &items, &count), RING_ETYPE));
    cr_assert(eq(int, rpc_param_bytes(&m, 4, &b), RING_EINVAL));
    cr_assert(eq(int, m.params[3].type, RPC_VAL_FLOAT));
    cr_assert(eq(dbl, m.params[3].v.f, 1.5));
    cr_assert(eq(i64, m.params[0].v.i, -1));
    rpc_buf_free(&o.b);
}

Test(rpc, non_canonical_encodings_decode_by_value)
{
    /* array16 envelope, int8 type, uint64 msgid, str8 method, array32 params, int16 key len */
    static const char bytes[] = "\xdc\x00\x04\xd0\x00\xcf\x00\x00\x00\x00\x00\x00\x00\x2a"
                                "\xd9\x06lookup\xdd\x00\x00\x00\x01\xd1\x00\x05";
    struct rpc_msg m;
    cr_assert(eq(int, rpc_parse(BYTES(bytes), &m, NULL), 0));
    cr_assert(eq(u32, m.msgid, 42));
    assert_bytes(m.method, "lookup");
    cr_assert(eq(int, m.params[0].type, RPC_VAL_UINT));
    cr_assert(eq(u64, m.params[0].v.u, 5));
}

Test(rpc, allocation_failures_leak_nothing)
{
    for (uint64_t fail_at = 1; fail_at <= 2; fail_at++) {
        tm.calls = 0;
        tm.fail_at = fail_at;
        struct rpc_reader *r = NULL;
        cr_assert(eq(int, rpc_reader_new(&r, NULL, &tm.mem), RING_ENOMEM));
        cr_assert(eq(sz, tm.bytes, 0));
    }
    tm.fail_at = 0;
    struct rpc_reader *r = reader(0, 0);
    static char chunk[RPC_READER_BYTES_INITIAL + 1];
    tm.calls = 0;
    tm.fail_at = 1;
    cr_assert(eq(int, rpc_reader_feed(r, chunk, sizeof(chunk)), RING_ENOMEM));
    tm.fail_at = 0;
    cr_assert(eq(int, rpc_reader_feed(r, "\x91", 1), 0));
    struct rpc_msg m;
    cr_assert(eq(int, rpc_reader_next(r, &m), 0));
    rpc_reader_del(r);
}

Test(rpc, reader_config_is_checked)
{
    struct rpc_reader *r = NULL;
    struct rpc_reader_config big = { .message_bytes_max = RPC_MESSAGE_BYTES_LIMIT + 1 };
    struct rpc_reader_config deep = { .inflight_max = RPC_INFLIGHT_LIMIT + 1 };
    cr_assert(eq(int, rpc_reader_new(&r, &big, &tm.mem), RING_ERANGE));
    cr_assert(eq(int, rpc_reader_new(&r, &deep, &tm.mem), RING_ERANGE));
    cr_assert(eq(int, rpc_reader_new(NULL, NULL, &tm.mem), RING_EINVAL));
    cr_assert(eq(int, rpc_error_from_name("EAGAIN", 6), RING_EAGAIN));
    cr_assert(eq(int, rpc_error_from_name("EAGAI", 5), RING_EPROTO));
    cr_assert(rpc_error_is_fatal(RING_EPROTO));
    cr_assert(not(rpc_error_is_fatal(RING_ETYPE)));
}
