/*
 * The local API against every kind of message msgpack-RPC allows, and the odd ones it does
 * not (proto/RPC.md "Message kinds"), on a real ringd: notifications and responses from a
 * client, requests whose msgid cannot be used, unknown message types, wrong arities and
 * bytes that break framing. Each must get exactly the treatment RPC.md gives it, and ringd
 * must stay up and keep answering lookups on the same connection and on new ones. Then the
 * same with a real client library (python3-msgpack, tests/tools/rpc_client.py).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster.h"
#include "ring/error.h"

static void setup(void)
{
    cluster_init();
}

static void teardown(void)
{
    cluster_stop();
}

TestSuite(api_rpc, .init = setup, .fini = teardown, .timeout = 60);

#define BYTES(s) s, sizeof(s) - 1

/* What ringd sends back for one odd message, before the response to a lookup behind it. */
enum reply {
    NOTHING,      /* executed or ignored: no answer at all */
    ERROR_NOTICE, /* [2, "error", [code, message]] and the connection stays open */
    ERROR_REPLY,  /* [1, msgid, {"code": code, ...}, nil] */
};

struct odd {
    const char *name;
    const char *bytes;
    size_t len;
    enum reply reply;
    const char *code;
    uint32_t msgid;
};

static const struct odd odd_messages[] = {
    /* The two reported byte strings. */
    { "notification [2, \"x\", []]", BYTES("\x93\x02\xa1x\x90"), NOTHING, NULL, 0 },
    { "response [1, 1, 1, nil]", BYTES("\x94\x01\x01\xc0\xc0"), NOTHING, NULL, 0 },
    /* Notifications of known methods run with no answer; malformed ones are dropped. */
    { "notification lookup(k)", BYTES("\x93\x02\xa6lookup\x91\xa1k"), NOTHING, NULL, 0 },
    { "notification stats()", BYTES("\x93\x02\xa5stats\x90"), NOTHING, NULL, 0 },
    { "notification lookup(42)", BYTES("\x93\x02\xa6lookup\x91\x2a"), NOTHING, NULL, 0 },
    { "notification with a map param", BYTES("\x93\x02\xa6lookup\x91\x80"), NOTHING, NULL, 0 },
    { "notification of 4", BYTES("\x94\x02\x01\xa6lookup\x91\xa1k"), NOTHING, NULL, 0 },
    { "notification of 1", BYTES("\x91\x02"), NOTHING, NULL, 0 },
    /* Responses: well formed or not, success or error, ignored. */
    { "response [1, 9, nil, {}]", BYTES("\x94\x01\x09\xc0\x80"), NOTHING, NULL, 0 },
    { "error response",
      BYTES("\x94\x01\x09\x81\xa4"
            "code\xa6"
            "EINVAL\xc0"),
      NOTHING, NULL, 0 },
    { "response with a string msgid", BYTES("\x94\x01\xa1x\xc0\xc0"), NOTHING, NULL, 0 },
    { "response of 2", BYTES("\x92\x01\x09"), NOTHING, NULL, 0 },
    /* Requests whose msgid cannot be used. */
    { "msgid a string", BYTES("\x94\x00\xa1\x31\xa6lookup\x91\xa1k"), ERROR_NOTICE, "ETYPE", 0 },
    { "msgid nil", BYTES("\x94\x00\xc0\xa6lookup\x91\xa1k"), ERROR_NOTICE, "ETYPE", 0 },
    { "msgid negative", BYTES("\x94\x00\xff\xa6lookup\x91\xa1k"), ERROR_NOTICE, "ERANGE", 0 },
    { "msgid 2^32", BYTES("\x94\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xa6lookup\x91\xa1k"),
      ERROR_NOTICE, "ERANGE", 0 },
    { "msgid a float", BYTES("\x94\x00\xca\x3f\x80\x00\x00\xa6lookup\x91\xa1k"), ERROR_NOTICE,
      "ETYPE", 0 },
    { "request of 1", BYTES("\x91\x00"), ERROR_NOTICE, "ETYPE", 0 },
    { "type 5", BYTES("\x94\x05\x07\xa6lookup\x91\xa1k"), ERROR_NOTICE, "ETYPE", 0 },
    { "type a string", BYTES("\x94\xa1\x30\x07\xa6lookup\x91\xa1k"), ERROR_NOTICE, "ETYPE", 0 },
    { "empty array", BYTES("\x90"), ERROR_NOTICE, "ETYPE", 0 },
    /* A request whose msgid was read is answered by it, whatever else is wrong. */
    { "request of 3", BYTES("\x93\x00\x07\xa6lookup"), ERROR_REPLY, "ETYPE", 7 },
    { "request of 5", BYTES("\x95\x00\x07\xa6lookup\x91\xa1k\xc0"), ERROR_REPLY, "ETYPE", 7 },
    { "request with msgid 2^32-1", BYTES("\x94\x00\xce\xff\xff\xff\xff\xa3nop\x90"), ERROR_REPLY,
      "ENOENT", UINT32_MAX },
};

/* An error notification's code: [2, "error", [code, message]]. */
static void notice_code(struct ringc *c, const struct rpc_msg *m, char *code, size_t cap)
{
    const msgpack_object *params;
    cr_assert(eq(int, m->kind, RPC_NOTIFICATION));
    cr_assert(eq(int, rpc_method_is(m, "error"), 1), "notification %.*s", (int)m->method.len,
              m->method.ptr);
    cr_assert(eq(u32, m->param_count, 2));
    cr_assert(eq(int, ringc_unpack(c, m, &params), 0));
    cr_assert(eq(int, params->via.array.ptr[0].type, MSGPACK_OBJECT_STR));
    cr_assert(eq(int, params->via.array.ptr[1].type, MSGPACK_OBJECT_STR));
    const msgpack_object_str *s = &params->via.array.ptr[0].via.str;
    snprintf(code, cap, "%.*s", (int)s->size, s->ptr);
}

/* Sends |o|'s bytes then lookup("k") on |c|, and checks what comes back before the lookup's
 * answer, and that answer. */
static void send_odd(struct ringc *c, const struct odd *o)
{
    uint32_t id;
    cr_assert(eq(int, ringc_send_raw(c, o->bytes, o->len), 0));
    cr_assert(eq(int, ringc_send(c, &id, "lookup", "s", "still-here"), 0));
    cr_assert(eq(int, ringc_flush(c), 0));
    struct rpc_msg m;
    int rv = ringc_read(c, &m, 3000);
    cr_assert(eq(int, rv, 0), "%s: nothing came back (%d): is ringd still up?", o->name, rv);
    char code[32];
    if (o->reply == ERROR_NOTICE) {
        notice_code(c, &m, code, sizeof(code));
        cr_assert(eq(str, code, (char *)o->code), "%s", o->name);
    } else if (o->reply == ERROR_REPLY) {
        cr_assert(eq(int, m.kind, RPC_RESPONSE), "%s", o->name);
        cr_assert(eq(u32, m.msgid, o->msgid), "%s", o->name);
        cr_assert(eq(int, m.is_error, 1), "%s", o->name);
        snprintf(code, sizeof(code), "%.*s", (int)m.error_code.len, m.error_code.ptr);
        cr_assert(eq(str, code, (char *)o->code), "%s", o->name);
    }
    if (o->reply != NOTHING) {
        rv = ringc_read(c, &m, 3000);
        cr_assert(eq(int, rv, 0), "%s: no answer to the lookup behind it (%d)", o->name, rv);
    }
    cr_assert(eq(int, m.kind, RPC_RESPONSE), "%s: got a message of kind %d first", o->name, m.kind);
    cr_assert(eq(u32, m.msgid, id), "%s", o->name);
    cr_assert(eq(int, m.is_error, 0), "%s: lookup failed", o->name);
}

static void assert_lookup_works(struct ringc *c)
{
    const msgpack_object *res;
    char id[16];
    cr_assert(eq(int, ringc_call(c, &res, 2000, "lookup", "s", "still-here"), 0));
    cr_assert(gt(int, ringc_get_str(res, "id", id, sizeof(id)), 0));
}

static void assert_alive(void)
{
    cr_assert(eq(int, cluster_wait_exit(0, 50), -1), "ringd exited");
}

static int ring_built(void *arg)
{
    struct ringc *c = cluster_connect(0);
    const msgpack_object *res;
    int ok = ringc_call(c, &res, 1000, "lookup", "s", "k") == 0;
    ringc_close(c);
    return ok;
}

static void start_one(void)
{
    cluster_start(1);
    cr_assert(ge(int, cluster_wait(ring_built, NULL, 10000), 0), "no ring in 10 s");
}

/* The value of the Prometheus counter line starting with |name| in |body|, or -1. */
static long long metric(const char *body, const char *name)
{
    char want[128];
    snprintf(want, sizeof(want), "\n%s ", name);
    const char *p = strstr(body, want);
    return p != NULL ? strtoll(p + strlen(want), NULL, 10) : -1;
}

Test(api_rpc, odd_messages_never_kill_ringd_and_get_their_documented_reply)
{
    start_one();
    struct ringc *c = cluster_connect(0);
    size_t n = sizeof(odd_messages) / sizeof(odd_messages[0]);
    for (size_t i = 0; i < n; i++) {
        send_odd(c, &odd_messages[i]);
        assert_alive();
    }
    /* All of them at once, pipelined, then a lookup on the same and on a new connection. */
    for (size_t i = 0; i < n; i++) {
        cr_assert(eq(int, ringc_send_raw(c, odd_messages[i].bytes, odd_messages[i].len), 0));
    }
    assert_lookup_works(c);
    assert_alive();
    ringc_close(c);
    struct ringc *fresh = cluster_connect(0);
    assert_lookup_works(fresh);
    ringc_close(fresh);

    static char body[1 << 20];
    cr_assert(eq(int,
                 cluster_http(0, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                              body, sizeof(body)),
                 200));
    /* Each message went twice: 7 notifications (5 of them malformed or failing), 5
     * responses, 9 requests without a usable msgid. */
    cr_assert(eq(i64, metric(body, "ringd_api_notifications_total"), 14), "%s", body);
    cr_assert(eq(i64, metric(body, "ringd_api_notifications_failed_total"), 10));
    cr_assert(eq(i64, metric(body, "ringd_api_responses_ignored_total"), 10));
    cr_assert(eq(i64, metric(body, "ringd_api_unanswerable_total"), 18));
    cr_assert(eq(i64, metric(body, "ringd_api_protocol_errors_total"), 0));
}

/* Bytes that break framing: one error notification, never a response to msgid 0, then the
 * connection closes; ringd and its other connections carry on. */
Test(api_rpc, broken_framing_gets_an_error_notification_then_close)
{
    start_one();
    struct ringc *other = cluster_connect(0);
    static const struct {
        const char *bytes;
        size_t len;
        const char *code;
    } cases[] = {
        { BYTES("\xc1\xff\x00\x12"), "EPROTO" },
        { BYTES("GET / HTTP/1.1\r\n\r\n"), "EPROTO" },
        /* A good request, then a 4-element one whose params claim a 100 MB string. */
        { BYTES("\x94\x00\x01\xa6lookup\x91\xa1k\x94\x00\x02\xa6lookup\x91\xdb\x05\xf5\xe1\x00"),
          "EMSGSIZE" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ringc *c = cluster_connect(0);
        cr_assert(eq(int, ringc_send_raw(c, cases[i].bytes, cases[i].len), 0));
        cr_assert(eq(int, ringc_flush(c), 0));
        if (i == 2) {
            /* What came before the broken bytes is answered first. */
            struct rpc_msg first;
            cr_assert(eq(int, ringc_read(c, &first, 3000), 0));
            cr_assert(eq(int, first.kind, RPC_RESPONSE));
            cr_assert(eq(u32, first.msgid, 1));
            cr_assert(eq(int, first.is_error, 0));
        }
        struct rpc_msg m;
        cr_assert(eq(int, ringc_read(c, &m, 3000), 0));
        char code[32];
        notice_code(c, &m, code, sizeof(code));
        cr_assert(eq(str, code, (char *)cases[i].code));
        cr_assert(eq(int, ringc_read(c, &m, 3000), -ECONNRESET), "the connection stays open");
        ringc_close(c);
        assert_alive();
        assert_lookup_works(other);
    }
    ringc_close(other);
}

/* A notification of leave() makes ringd leave, as the request does. */
Test(api_rpc, leave_as_a_notification_leaves)
{
    start_one();
    struct ringc *c = cluster_connect(0);
    cr_assert(eq(int, ringc_send_raw(c, BYTES("\x93\x02\xa5leave\x90")), 0));
    cr_assert(eq(int, ringc_flush(c), 0));
    int status = cluster_wait_exit(0, 10000);
    cr_assert(ne(int, status, -1), "ringd did not leave");
    cr_assert(eq(int, WIFEXITED(status) && WEXITSTATUS(status) == 0, 1), "status %d", status);
    ringc_close(c);
}

/* A real msgpack-RPC client library: python3-msgpack sends notifications (one of a known
 * method, as msgpack5rpc's notify() does, one unknown), a response, then requests on the
 * same connection, and a request on a new one (tests/tools/rpc_client.py says what it
 * checks). */
Test(api_rpc, python_msgpack_client_notifies_then_calls)
{
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import msgpack' 2>/dev/null") != 0) {
        cr_skip_test("python3-msgpack is not installed (scripts/deps.sh test installs it)");
    }
    start_one();
    char sock[128], cmd[512], out[4096];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/tools/rpc_client.py '%s' 2>&1",
             RING_SOURCE_DIR, cluster_socket(0, sock, sizeof(sock)));
    int status = cluster_sh(cmd, out, sizeof(out));
    cr_assert(eq(int, status, 0), "rpc_client.py failed:\n%s", out);
    cr_assert(strstr(out, "ok\n") != NULL, "%s", out);
    assert_alive();
    struct ringc *c = cluster_connect(0);
    assert_lookup_works(c);
    ringc_close(c);
}

/* A JavaScript client library (@msgpack/msgpack under Node.js), decoding as proto/RPC.md
 * tells JavaScript clients to: a notification and pipelined requests, an error answer, and the
 * ring checksum as a BigInt, which must print as the hex string ringctl --json shows
 * (tests/tools/node_client/client.mjs says what it checks). */
Test(api_rpc, node_msgpack_client_gets_exact_checksums)
{
    char modules[512];
    snprintf(modules, sizeof(modules), "%s/tests/tools/node_client/node_modules/@msgpack/msgpack",
             RING_SOURCE_DIR);
    if (system("command -v node >/dev/null 2>&1") != 0 || access(modules, R_OK) != 0) {
        cr_skip_test("node or @msgpack/msgpack missing (tests/tools/node_client/install.sh)");
    }
    start_one();
    char sock[128], cmd[768], out[4096], ring[1 << 16];
    snprintf(cmd, sizeof(cmd), "node %s/tests/tools/node_client/client.mjs '%s' 2>&1",
             RING_SOURCE_DIR, cluster_socket(0, sock, sizeof(sock)));
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "client.mjs failed:\n%s", out);
    cr_assert(eq(int, strncmp(out, "ok ", 3), 0), "%s", out);
    char want[64];
    snprintf(cmd, sizeof(cmd), "%s --socket '%s' --json ring", RINGCTL_BIN, sock);
    cr_assert(eq(int, cluster_sh(cmd, ring, sizeof(ring)), 0), "%s", ring);
    const char *at = strstr(ring, "\"ring_checksum\":\"");
    cr_assert(ne(ptr, (void *)at, NULL), "%s", ring);
    snprintf(want, sizeof(want), "%.16s", at + strlen("\"ring_checksum\":\""));
    cr_assert(eq(int, strncmp(out + 3, want, 16), 0), "node read %.16s, ringctl shows %s", out + 3,
              want);
    assert_alive();
}
