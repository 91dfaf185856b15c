/* Unit tests for httpmsg: the proxy's request and response heads, collected from http_parser
 * and written onward with hop-by-hop headers dropped and the proxy's own framing. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <http_parser.h>
#include <string.h>

#include "httpmsg.h"
#include "ring/error.h"
#include "testmem.h"

static struct httpmsg msg;

static int on_url(http_parser *p, const char *at, size_t len)
{
    (void)p;
    return httpmsg_on_text(&msg, at, len);
}

static int on_field(http_parser *p, const char *at, size_t len)
{
    (void)p;
    return httpmsg_on_field(&msg, at, len);
}

static int on_value(http_parser *p, const char *at, size_t len)
{
    (void)p;
    return httpmsg_on_value(&msg, at, len);
}

static int on_headers_complete(http_parser *p)
{
    (void)p;
    return 1;
}

/* Parses the request head |text|, fed |step| bytes at a time (callbacks split). */
static void parse(const char *text, size_t step)
{
    static const http_parser_settings s = {
        .on_url = on_url,
        .on_header_field = on_field,
        .on_header_value = on_value,
        .on_headers_complete = on_headers_complete,
    };
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    httpmsg_reset(&msg);
    size_t len = strlen(text);
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        cr_assert(eq(sz, http_parser_execute(&p, &s, text + off, n), n));
    }
}

static const char *request =
    "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\n"
    "Keep-Alive: timeout=5\r\nTE: trailers\r\nTransfer-Encoding: chunked\r\nX-Ring-Key: k1\r\n"
    "Upgrade: h2c\r\nProxy-Connection: close\r\nAccept: */*\r\n\r\n";

Test(httpmsg, collects_headers_split_anywhere)
{
    for (size_t step = 1; step <= 7; step++) {
        parse(request, step);
        cr_assert(eq(u32, msg.count, 10));
        size_t n;
        const char *key = httpmsg_get(&msg, "x-ring-key", &n);
        cr_assert(ne(ptr, (void *)key, NULL));
        cr_assert(eq(int, strncmp(key, "k1", n), 0));
        cr_assert(eq(sz, n, 2));
        cr_assert(eq(int, strncmp(msg.buf + msg.text_off, "/a?b=1", msg.text_len), 0));
    }
}

Test(httpmsg, writes_end_to_end_headers_and_its_own_framing)
{
    parse(request, 1000);
    struct sbuf out;
    sbuf_init(&out, 1 << 16);
    struct httpmsg_framing f = { .content_length = 12 };
    httpmsg_write_request(&out, "POST", &msg, "X-Extra: 1\r\n", &f);
    ASSERT_STR_EQ(out.data, "POST /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Ring-Key: k1\r\nAccept: */*\r\n"
                            "X-Extra: 1\r\nContent-Length: 12\r\n\r\n");
    sbuf_reset(&out);
    struct httpmsg_framing chunked = { .content_length = -1, .chunked = 1, .close = 1 };
    httpmsg_write_response(&out, 200, &msg, "accept", NULL, &chunked);
    ASSERT_STR_EQ(out.data, "HTTP/1.1 200 /a?b=1\r\nHost: x\r\nX-Ring-Key: k1\r\n"
                            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    sbuf_free(&out);
}

Test(httpmsg, check_rejects_smuggling_shapes_and_limits)
{
    parse(request, 1000);
    cr_assert(eq(int, httpmsg_check(&msg), 0));
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\nTransfer-Encodingx: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\ncontent-lengthy: 5\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse(bad[i], 1000);
        cr_assert(eq(int, httpmsg_check(&msg), RING_EPROTO), "%s", bad[i]);
    }
    /* a name that is not a token (as http_parser may pass it) and a control byte in a value */
    httpmsg_reset(&msg);
    httpmsg_on_text(&msg, "/", 1);
    httpmsg_on_field(&msg, "X-A ", 4);
    httpmsg_on_value(&msg, "1", 1);
    cr_assert(eq(int, httpmsg_check(&msg), RING_EPROTO));
    httpmsg_reset(&msg);
    httpmsg_on_field(&msg, "X-A", 3);
    httpmsg_on_value(&msg, "a\x01", 2);
    cr_assert(eq(int, httpmsg_check(&msg), RING_EPROTO));
    /* one end-to-end header over the limit; hop-by-hop ones do not count */
    httpmsg_reset(&msg);
    for (int i = 0; i < HTTPMSG_HEADERS_MAX; i++) {
        cr_assert(eq(int, httpmsg_on_field(&msg, "X-N", 3), 0));
        cr_assert(eq(int, httpmsg_on_value(&msg, "1", 1), 0));
    }
    cr_assert(eq(int, httpmsg_on_field(&msg, "Keep-Alive", 10), 0));
    cr_assert(eq(int, httpmsg_on_value(&msg, "1", 1), 0));
    cr_assert(eq(int, httpmsg_check(&msg), 0));
    cr_assert(eq(int, httpmsg_on_field(&msg, "X-N", 3), 0));
    cr_assert(eq(int, httpmsg_on_value(&msg, "1", 1), 0));
    cr_assert(eq(int, httpmsg_check(&msg), RING_EMSGSIZE));
}

Test(httpmsg, storage_overflow_is_an_error_not_a_crash)
{
    httpmsg_reset(&msg);
    static char big[HTTPMSG_HEAD_BYTES_MAX + HTTPMSG_SLACK_BYTES + 1];
    memset(big, 'a', sizeof(big));
    cr_assert(eq(int, httpmsg_on_field(&msg, "X", 1), 0));
    cr_assert(eq(int, httpmsg_on_value(&msg, big, sizeof(big)), RING_EMSGSIZE));
    cr_assert(eq(int, httpmsg_on_value(&msg, "x", 1), RING_EMSGSIZE), "the error sticks");
}

Test(httpmsg, idempotent_methods_and_chunk_lines)
{
    cr_assert(httpmsg_idempotent("GET"));
    cr_assert(httpmsg_idempotent("PUT"));
    cr_assert(httpmsg_idempotent("DELETE"));
    cr_assert(eq(int, httpmsg_idempotent("POST"), 0));
    cr_assert(eq(int, httpmsg_idempotent("PATCH"), 0));
    char line[24];
    cr_assert(eq(sz, httpmsg_chunk_line(line, 0x1f40), 6));
    ASSERT_STR_EQ(line, "1f40\r\n");
}
