/*
 * Hostile bytes through every path that reaches an output: forged gossip (a datagram and a
 * sync whose member carries a terminal escape or invalid UTF-8), an admin query, local API
 * calls, ringctl arguments and ringd's own flags. Every JSON output must parse (python3,
 * strict UTF-8), and no output may carry a raw ESC byte.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cluster.h"
#include "ring/codec.h"
#include "ring/seal.h"
#include "ring/session.h"

/* Strict: the bytes must be UTF-8 (Python's default stdin decoding would let them pass). */
#define PY_JSON_STDIN                                                                              \
    "python3 -c 'import json,sys; json.loads(sys.stdin.buffer.read().decode(\"utf-8\"))'"
#define PY_JSON_LINES                                                                              \
    "python3 -c 'import json,sys; n=[json.loads(l.decode(\"utf-8\")) for l in "                    \
    "open(sys.argv[1],\"rb\")]; print(len(n))'"
/* ESC [ 2 J (clear screen) and two bytes that are never UTF-8, as a shell word. */
#define SH_HOSTILE "\"$(printf '\\033[2J\\377\\376')\""

static void setup(void)
{
    cluster_init();
}

static void teardown(void)
{
    cluster_stop();
}

TestSuite(hostile, .init = setup, .fini = teardown, .timeout = 60);

static void assert_no_esc(const char *what, const char *out, size_t len)
{
    cr_assert(eq(ptr, memchr(out, 0x1b, len), NULL), "%s: a raw ESC in: %s", what, out);
}

/* Writes |len| bytes of |body| to a file and checks it with python3 as strict JSON. */
static void assert_json(const char *what, const char *body, size_t len)
{
    char path[128], cmd[512], out[4096];
    snprintf(path, sizeof(path), "%s/body.json", cl.dir);
    FILE *f = fopen(path, "wb");
    cr_assert(not(eq(ptr, f, NULL)));
    cr_assert(eq(sz, fwrite(body, 1, len, f), len));
    fclose(f);
    snprintf(cmd, sizeof(cmd), PY_JSON_STDIN " < %s 2>&1", path);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s: not JSON (%s): %s", what, out,
              body);
    assert_no_esc(what, body, len);
}

/* One forged member record: id |id|, group |group| (NULL: none), label zone=|zone| (NULL:
 * none). The encoder refuses such records, so it is packed by hand. */
static void pack_member(msgpack_packer *pk, const char *id, const char *group, const char *zone)
{
    uint8_t addr[6] = { 127, 0, 0, 1, 0x1f, 0x0a };
    msgpack_pack_map(pk, 5 + (group != NULL) + (zone != NULL));
    msgpack_pack_uint8(pk, 0);
    msgpack_pack_str_with_body(pk, id, strlen(id));
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_bin_with_body(pk, addr, sizeof(addr));
    msgpack_pack_uint8(pk, 2);
    msgpack_pack_uint8(pk, 0);
    msgpack_pack_uint8(pk, 3);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint8(pk, 4);
    msgpack_pack_uint8(pk, 1);
    if (group != NULL) {
        msgpack_pack_uint8(pk, 5);
        msgpack_pack_str_with_body(pk, group, strlen(group));
    }
    if (zone != NULL) {
        msgpack_pack_uint8(pk, 6);
        msgpack_pack_map(pk, 1);
        msgpack_pack_str_with_body(pk, "zone", 4);
        msgpack_pack_str_with_body(pk, zone, strlen(zone));
    }
}

/* [1, ack, {seq: 0, from: "n9", checksum: 0, updates: [member]}]: the gossip carrier, whose
 * updates every receiver merges; or with |sync| a sync {from, checksum, join, members}. */
static void forge(msgpack_sbuffer *sb, int sync, const char *id, const char *group,
                  const char *zone)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_uint8(&pk, sync ? 16 : 2);
    msgpack_pack_map(&pk, 4);
    if (!sync) {
        msgpack_pack_uint8(&pk, 0);
        msgpack_pack_uint8(&pk, 0);
    }
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_str_with_body(&pk, "n9", 2);
    msgpack_pack_uint8(&pk, 4);
    msgpack_pack_uint8(&pk, 0);
    if (sync) {
        msgpack_pack_uint8(&pk, 6);
        msgpack_pack_false(&pk);
    }
    msgpack_pack_uint8(&pk, sync ? 7 : 5);
    msgpack_pack_array(&pk, 1);
    pack_member(&pk, id, group, zone);
}

/* Sealed with the cluster's key: the forger is a peer that holds it (ringd's default). */
static void send_datagram(int node, const msgpack_sbuffer *sb)
{
    static uint8_t wire[CODEC_DATAGRAM_BYTES_MAX];
    size_t n =
        cluster_seal(SEAL_DATAGRAM, cluster_wall_ms(), sb->data, sb->size, wire, sizeof(wire));
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)cluster_gossip_port(node)) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert(
        eq(i64, (int64_t)sendto(fd, wire, n, 0, (struct sockaddr *)&sa, sizeof(sa)), (int64_t)n));
    close(fd);
}

/* A sync as one stream frame on the gossip port, under a session with the cluster's key: the
 * forger is a peer that holds it (ringd's default). */
static void send_stream(int node, const msgpack_sbuffer *sb)
{
    struct session sess;
    int fd = cluster_stream_open(node, &sess);
    (void)cluster_stream_send(fd, &sess, sb->data, sb->size);
    char c;
    struct timeval tv = { .tv_sec = 3 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)read(fd, &c, 1); /* ringd closes the stream once it refused the frame */
    session_clear(&sess);
    close(fd);
}

static uint64_t decode_errors(int node)
{
    static char body[1 << 20];
    cr_assert(
        eq(int, cluster_http(node, "GET /metrics HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    const char *at = strstr(body, "\nringd_decode_errors_total ");
    cr_assert(not(eq(ptr, (void *)at, NULL)));
    return strtoull(at + strlen("\nringd_decode_errors_total "), NULL, 10);
}

static void converge(int n)
{
    int ms = cluster_wait(cluster_converged, (void *)(intptr_t)n, 10000);
    cr_assert(ge(int, ms, 0), "%d nodes did not converge in 10 s", n);
}

Test(hostile, forged_members_are_refused_counted_and_never_shown)
{
    for (int i = 0; i < 2; i++) {
        cl.extra_args[i][0] = "--log-format";
        cl.extra_args[i][1] = "json";
    }
    cluster_start(2);
    converge(2);
    uint64_t before = decode_errors(0);
    msgpack_sbuffer sb;
    forge(&sb, 0, "evil\x1b[2J", NULL, NULL);
    send_datagram(0, &sb);
    msgpack_sbuffer_destroy(&sb);
    forge(&sb, 0, "evil-label", NULL, "\x1b]0;pwned\x07");
    send_datagram(0, &sb);
    msgpack_sbuffer_destroy(&sb);
    forge(&sb, 0, "evil-group", "g\xff\xfe", NULL);
    send_datagram(0, &sb);
    msgpack_sbuffer_destroy(&sb);
    forge(&sb, 1, "evil\xe2\x80\xae", NULL, NULL); /* U+202E RIGHT-TO-LEFT OVERRIDE */
    send_stream(0, &sb);
    msgpack_sbuffer_destroy(&sb);
    uint64_t after = before;
    for (int t = 0; t < 100 && after < before + 4; t++) {
        cluster_sleep_ms(20);
        after = decode_errors(0);
    }
    cr_assert(ge(u64, after, before + 4), "each forged message is counted");

    static char body[1 << 20];
    cr_assert(
        eq(int, cluster_http(0, "GET /v1/members HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    assert_json("/v1/members", body, strlen(body));
    cr_assert(eq(ptr, strstr(body, "evil"), NULL), "a forged member was stored: %s", body);
    cr_assert(eq(int, cluster_http(0, "GET /v1/ring HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    assert_json("/v1/ring", body, strlen(body));

    char cmd[512], out[1 << 16], sock[128];
    cluster_socket(0, sock, sizeof(sock));
    snprintf(cmd, sizeof(cmd), "%s --socket %s members 2>&1", RINGCTL_BIN, sock);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
    assert_no_esc("ringctl members", out, strlen(out));
    cr_assert(eq(ptr, strstr(out, "evil"), NULL), "%s", out);
    cr_assert(not(eq(ptr, strstr(out, "n1"), NULL)), "%s", out);
}

Test(hostile, queries_api_calls_and_arguments_give_valid_json_and_escaped_text)
{
    for (int i = 0; i < 2; i++) {
        cl.extra_args[i][0] = "--log-format";
        cl.extra_args[i][1] = "json";
    }
    cluster_start(2);
    converge(2);
    static char body[1 << 20];

    /* The admin echo of a query: ESC [ 2 J, then bytes that are never UTF-8. */
    cr_assert(eq(
        int,
        cluster_http(0, "GET /v1/lookup?key=%1b%5b2J%ff%fe HTTP/1.0\r\n\r\n", body, sizeof(body)),
        200));
    assert_json("/v1/lookup", body, strlen(body));
    cr_assert(eq(ptr, strstr(body, "{\"key\":\"\\u001b[2J\\ufffd\\ufffd\",\"id\":\"n"), body), "%s",
              body);
    cr_assert(eq(int, cluster_http(0, "GET /metrics HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    assert_no_esc("/metrics", body, strlen(body));

    /* The local API: a lookup of such a key, a join of such an address, such a method. */
    struct ringc *c = cluster_connect(0);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(c, &res, 3000, "lookup", "s", "\x1b[2J\xff\xfe"), 0));
    char id[64];
    cr_assert(gt(int, ringc_get_str(res, "id", id, sizeof(id)), 0));
    const char *addrs[] = { "\x1b[2J\xff:1" };
    cr_assert(eq(int, ringc_call(c, &res, 3000, "join", "l", addrs, (size_t)1), RINGC_ERESPONSE));
    const char *msg = ringc_error_message(c);
    cr_assert(not(eq(ptr, strstr(msg, "join: \"\\x1b[2J\\xff:1\" is not"), NULL)), "%s", msg);
    for (const char *p = msg; *p != '\0'; p++) {
        cr_assert(lt(int, (unsigned char)*p, 0x80), "not escaped: %s", msg);
    }
    cr_assert(eq(int, ringc_call(c, &res, 3000, "\x1b[2J\xff", ""), RINGC_ERESPONSE));
    msg = ringc_error_message(c);
    cr_assert(eq(str, (char *)msg, "unknown method \"\\x1b[2J\\xff\""));
    ringc_close(c);

    /* ringctl: the same key and address as arguments, as text and as JSON. */
    char cmd[1024], out[1 << 16], sock[128];
    cluster_socket(0, sock, sizeof(sock));
    snprintf(cmd, sizeof(cmd), "%s --socket %s lookup " SH_HOSTILE " 2>&1", RINGCTL_BIN, sock);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
    cr_assert(eq(ptr, strstr(out, "\\x1b[2J\\xff\\xfe -> n"), out), "%s", out);
    assert_no_esc("ringctl lookup", out, strlen(out));
    const char *json_cmds[] = { "lookup " SH_HOSTILE " --json", "lookup " SH_HOSTILE " -n 2 --json",
                                "members --json", "ring --json", "stats --json" };
    for (size_t i = 0; i < sizeof(json_cmds) / sizeof(json_cmds[0]); i++) {
        snprintf(cmd, sizeof(cmd), "%s --socket %s %s | " PY_JSON_STDIN, RINGCTL_BIN, sock,
                 json_cmds[i]);
        cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s: %s", json_cmds[i], out);
    }
    snprintf(cmd, sizeof(cmd), "%s --socket %s join " SH_HOSTILE " 2>&1", RINGCTL_BIN, sock);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 1), "%s", out);
    cr_assert(not(eq(ptr, strstr(out, "\\x1b[2J\\xff\\xfe"), NULL)), "%s", out);
    assert_no_esc("ringctl join", out, strlen(out));
    snprintf(cmd, sizeof(cmd), "%s --socket %s stats 2>&1", RINGCTL_BIN, sock);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
    assert_no_esc("ringctl stats", out, strlen(out));

    /* Every line ringd logged, as JSON. */
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof(cmd), PY_JSON_LINES " %s/n%d.log 2>&1", cl.dir, i);
        cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "n%d.log: %s", i, out);
        cr_assert(gt(long, strtol(out, NULL, 10), 0), "n%d.log is empty", i);
    }
}

/* A flag or variable holding bytes the wire rule refuses: exit 2 and a message that names
 * the flag and the byte, with the value escaped. */
Test(hostile, ringd_refuses_flags_the_wire_would_refuse)
{
    static const struct {
        const char *env;
        const char *flags;
        const char *want;
    } cases[] = {
        { "", "--label \"zone=$(printf '\\033[2J')\"",
          "ringd: --label: label \"\\x1b[2J\": value byte 0x1b at offset 0 is not allowed" },
        { "POD_NAME=\"$(printf 'web-0\\033]0;x\\007')\"", "",
          "ringd: $POD_NAME: id \"web-0\\x1b]0;x\\x07\": byte 0x1b at offset 5 is not allowed" },
        { "", "--id \"$(printf 'n\\377')\"",
          "ringd: --id: id \"n\\xff\": byte 0xff at offset 1 is not allowed" },
        { "", "--group 'g 1'",
          "ringd: --group: group \"g 1\": byte 0x20 at offset 1 is not allowed" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char cmd[1024], out[4096];
        snprintf(cmd, sizeof(cmd), "%s %s --bind 127.0.0.1:%d --admin 127.0.0.1:%d %s 2>&1",
                 cases[i].env, RINGD_BIN, cluster_gossip_port(0), cluster_admin_port(0),
                 cases[i].flags);
        cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 2), "%s: %s", cmd, out);
        cr_assert(eq(ptr, strstr(out, cases[i].want), out), "got: %s", out);
        assert_no_esc(cases[i].flags, out, strlen(out));
    }
}
