/* Unit tests for httpmsg: the proxy's request and response heads, collected from http_parser
 * and written onward with hop-by-hop headers dropped and the proxy's own framing. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <http_parser.h>
#include <string.h>

#include "httpmsg.h"
#include "ring/members.h"
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
    httpmsg_free(&msg);
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

/* The key is the field value as RFC 9110 defines it, without surrounding spaces or tabs: the
 * app's parser reads "k3" from "X-Ring-Key:   k3 \t", so the proxy must route "k3". */
Test(httpmsg, header_values_lose_surrounding_whitespace)
{
    for (size_t step = 1; step <= 5; step++) {
        parse("GET / HTTP/1.1\r\nX-Ring-Key:   k3 \t \r\nX-Empty:  \t\r\n\r\n", step);
        size_t n;
        const char *key = httpmsg_get(&msg, "x-ring-key", &n);
        cr_assert(ne(ptr, (void *)key, NULL));
        cr_assert(eq(sz, n, 2), "key of %zu bytes: \"%.*s\"", n, (int)n, key);
        cr_assert(eq(int, strncmp(key, "k3", 2), 0));
        cr_assert(ne(ptr, (void *)httpmsg_get(&msg, "x-empty", &n), NULL));
        cr_assert(eq(sz, n, 0));
    }
}

Test(httpmsg, writes_end_to_end_headers_and_its_own_framing)
{
    parse(request, 1000);
    struct sbuf out;
    sbuf_init(&out, 1 << 16);
    struct httpmsg_framing f = { .content_length = 12 };
    httpmsg_write_request(&out, "POST", &msg, "X-Ring-Key", "X-Extra: 1\r\n", &f);
    ASSERT_STR_EQ(out.data, "POST /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Ring-Key: k1\r\nAccept: */*\r\n"
                            "X-Extra: 1\r\nContent-Length: 12\r\n\r\n");
    sbuf_reset(&out);
    struct httpmsg_framing chunked = { .content_length = -1, .chunked = 1, .close = 1 };
    httpmsg_write_response(&out, 200, &msg, NULL, &chunked);
    ASSERT_STR_EQ(out.data, "HTTP/1.1 200 /a?b=1\r\nHost: x\r\nX-Ring-Key: k1\r\nAccept: */*\r\n"
                            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    sbuf_free(&out);
}

/* The proxy re-frames bodies itself, but a transfer coding before "chunked" (gzip) is part
 * of the body's meaning: it must reach the next hop, in order, with chunked last. */
Test(httpmsg, keeps_transfer_codings_before_chunked)
{
    struct sbuf out;
    sbuf_init(&out, 1 << 16);
    struct httpmsg_framing chunked = { .content_length = -1, .chunked = 1 };
    parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 3);
    httpmsg_write_request(&out, "POST", &msg, NULL, NULL, &chunked);
    ASSERT_STR_EQ(out.data, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    /* Split over two lines, odd case and spacing: one list, in order. */
    sbuf_reset(&out);
    parse("POST / HTTP/1.1\r\nTransfer-Encoding: deflate ,GZIP\r\nTransfer-Encoding:  "
          "Chunked\r\n\r\n",
          5);
    httpmsg_write_request(&out, "POST", &msg, NULL, NULL, &chunked);
    ASSERT_STR_EQ(out.data, "POST / HTTP/1.1\r\nTransfer-Encoding: deflate, GZIP, chunked\r\n\r\n");
    /* A close-delimited gzip response the proxy chunks for its client. */
    sbuf_reset(&out);
    parse("GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 7);
    httpmsg_write_response(&out, 200, &msg, NULL, &chunked);
    ASSERT_STR_EQ(out.data, "HTTP/1.1 200 /\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    sbuf_free(&out);
}

Test(httpmsg, check_rejects_smuggling_shapes_and_limits)
{
    parse(request, 1000);
    cr_assert(eq(int, httpmsg_check(&msg, NULL), 0));
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\nTransfer-Encodingx: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\ncontent-lengthy: 5\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse(bad[i], 1000);
        cr_assert(eq(int, httpmsg_check(&msg, NULL), -EPROTO), "%s", bad[i]);
    }
    /* a name that is not a token (as http_parser may pass it) and a control byte in a value */
    httpmsg_free(&msg);
    httpmsg_on_text(&msg, "/", 1);
    httpmsg_on_field(&msg, "X-A ", 4);
    httpmsg_on_value(&msg, "1", 1);
    cr_assert(eq(int, httpmsg_check(&msg, NULL), -EPROTO));
    httpmsg_free(&msg);
    httpmsg_on_field(&msg, "X-A", 3);
    httpmsg_on_value(&msg, "a\x01", 2);
    cr_assert(eq(int, httpmsg_check(&msg, NULL), -EPROTO));
    /* one end-to-end header over the limit; hop-by-hop ones do not count */
    httpmsg_free(&msg);
    for (int i = 0; i < HTTPMSG_HEADERS_MAX; i++) {
        cr_assert(eq(int, httpmsg_on_field(&msg, "X-N", 3), 0));
        cr_assert(eq(int, httpmsg_on_value(&msg, "1", 1), 0));
    }
    cr_assert(eq(int, httpmsg_on_field(&msg, "Keep-Alive", 10), 0));
    cr_assert(eq(int, httpmsg_on_value(&msg, "1", 1), 0));
    cr_assert(eq(int, httpmsg_check(&msg, NULL), 0));
    cr_assert(eq(int, httpmsg_on_field(&msg, "X-N", 3), 0));
    cr_assert(eq(int, httpmsg_on_value(&msg, "1", 1), 0));
    cr_assert(eq(int, httpmsg_check(&msg, NULL), -EMSGSIZE));
}

Test(httpmsg, storage_overflow_is_an_error_not_a_crash)
{
    httpmsg_free(&msg);
    static char big[HTTPMSG_HEAD_BYTES_MAX + HTTPMSG_SLACK_BYTES + 1];
    memset(big, 'a', sizeof(big));
    cr_assert(eq(int, httpmsg_on_field(&msg, "X", 1), 0));
    cr_assert(eq(int, httpmsg_on_value(&msg, big, sizeof(big)), -EMSGSIZE));
    cr_assert(eq(int, httpmsg_on_value(&msg, "x", 1), -EMSGSIZE), "the error sticks");
}

/* The text buffer grows with the head, up to HTTPMSG_BUF_BYTES exactly, and is kept (not
 * shrunk, not freed) across heads: a short head needs no big buffer, a reused one no copy. */
Test(httpmsg, the_text_buffer_grows_to_the_limit_and_is_kept_across_heads)
{
    httpmsg_free(&msg);
    cr_assert(eq(u32, msg.cap, 0));
    cr_assert(ne(ptr, msg.buf, NULL), "an empty text is a valid pointer");
    parse("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", 1000);
    cr_assert(le(u32, msg.cap, 512), "a short head took %u bytes", msg.cap);
    static char big[HTTPMSG_BUF_BYTES];
    memset(big, 'v', sizeof(big));
    httpmsg_reset(&msg);
    cr_assert(eq(int, httpmsg_on_field(&msg, "X", 1), 0));
    cr_assert(eq(int, httpmsg_on_value(&msg, big, sizeof(big) - 1), 0), "the last byte fits");
    cr_assert(eq(u32, msg.cap, HTTPMSG_BUF_BYTES));
    cr_assert(eq(int, httpmsg_on_value(&msg, "w", 1), -EMSGSIZE), "one byte past it does not");
    char *kept = msg.buf;
    httpmsg_reset(&msg);
    cr_assert(eq(ptr, msg.buf, kept));
    cr_assert(eq(u32, msg.cap, HTTPMSG_BUF_BYTES));
    cr_assert(eq(int, httpmsg_on_text(&msg, "/b", 2), 0));
    cr_assert(eq(int, strncmp(msg.buf + msg.text_off, "/b", msg.text_len), 0));
    httpmsg_free(&msg);
    cr_assert(eq(u32, msg.cap, 0));
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

/* Scans |text| (|len| bytes) |step| bytes at a time; returns the first non-zero result and the
 * head's length in |*head| (bytes before the result came, plus its |used|). */
static int scan(const char *text, size_t len, size_t step, struct httpmsg_scan *s, size_t *head)
{
    httpmsg_scan_reset(s);
    *head = 0;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step, used;
        int rv = httpmsg_scan(s, text + off, n, &used);
        *head = off + used;
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

Test(httpmsg, scan_refuses_bare_lf_bare_cr_nul_and_obs_fold)
{
    /* Each hides a second header ("X-Inj") from a reader that keeps to CRLF lines, or joins
     * lines http_parser would join; '@' stands for a NUL byte. */
    static const struct {
        const char *head;
        const char *why;
    } bad[] = {
        { "GET / HTTP/1.1\r\nX-A: a\nX-Inj: 1\r\n\r\n", "bare LF" },
        { "GET / HTTP/1.1\nX-A: a\r\n\r\n", "bare LF" },
        { "GET / HTTP/1.1\r\nX-A: a\r\n\n", "bare LF" },
        { "GET / HTTP/1.1\r\nX-A:\nX-Inj: 1\r\n\r\n", "bare LF" },
        { "\nGET / HTTP/1.1\r\n\r\n", "bare LF" },
        { "GET / HTTP/1.1\r\nX-A: a\rX-Inj: 1\r\n\r\n", "bare CR" },
        { "GET / HTTP/1.1\r\nX-A: a\r\n\rX", "bare CR" },
        { "GET / HTTP/1.1\r\nX-A: a\r\n\r\r\n", "bare CR" },
        { "\rGET / HTTP/1.1\r\n\r\n", "bare CR" },
        { "GET / HTTP/1.1\r\nX-A: a@b\r\n\r\n", "NUL" },
        { "GET /@ HTTP/1.1\r\n\r\n", "NUL" },
        { "GET / HTTP/1.1\r\nX-A: a\r\n X-Inj: 1\r\n\r\n", "obs-fold" },
        { "GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", "obs-fold" },
        { "GET / HTTP/1.1\r\n X-A: a\r\n\r\n", "obs-fold" },
        { "HTTP/1.1 200 OK\r\nX-A: a\nX-Ring-Owner: n9\r\n\r\n", "bare LF" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        size_t len = strlen(bad[i].head);
        memcpy(text, bad[i].head, len);
        for (size_t k = 0; k < len; k++) {
            text[k] = text[k] == '@' ? '\0' : text[k];
        }
        for (size_t step = 1; step <= len; step++) {
            struct httpmsg_scan s;
            size_t head;
            cr_assert(eq(int, scan(text, len, step, &s, &head), -EPROTO), "%zu: %s", i,
                      bad[i].head);
            cr_assert(ne(ptr, (void *)s.why, NULL));
            cr_assert(ne(ptr, strstr(s.why, bad[i].why), NULL), "%zu: why \"%s\", want %s", i,
                      s.why, bad[i].why);
            size_t used;
            cr_assert(eq(int, httpmsg_scan(&s, "\r\n", 2, &used), -EPROTO), "the error sticks");
        }
    }
}

Test(httpmsg, scan_finds_the_end_of_a_good_head_split_anywhere)
{
    /* What follows the head (a body, the next request) is not the scan's: bare LFs there are
     * the body's business. */
    static const struct {
        const char *text;
        size_t head;
    } good[] = {
        { "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\tb \r\n\r\n", 38 },
        { "\r\n\r\nGET / HTTP/1.1\r\n\r\n", 22 },
        { "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\na\nb", 38 },
        { "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\nbad\n\n", 19 },
        { "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 25 },
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        size_t len = strlen(good[i].text);
        for (size_t step = 1; step <= len; step++) {
            struct httpmsg_scan s;
            size_t head;
            cr_assert(eq(int, scan(good[i].text, len, step, &s, &head), 1), "%zu, step %zu", i,
                      step);
            cr_assert(eq(sz, head, good[i].head), "%zu, step %zu", i, step);
            cr_assert(httpmsg_scan_done(&s));
        }
    }
    /* incomplete: every byte is the head's so far */
    struct httpmsg_scan s = { 0 };
    size_t used;
    cr_assert(eq(int, httpmsg_scan(&s, "GET / HTTP/1.1\r\nX-A: 1\r\n", 24, &used), 0));
    cr_assert(eq(sz, used, 24));
    cr_assert(not(httpmsg_scan_done(&s)));
    cr_assert(eq(int, httpmsg_scan(&s, "\r\nbody", 6, &used), 1));
    cr_assert(eq(sz, used, 2));
}

Test(httpmsg, count_sees_every_spelling_of_a_header)
{
    parse("GET / HTTP/1.1\r\nX-Ring-Key: a\r\nHost: x\r\nx-ring-key: b\r\nX-RING-KEY: c\r\n\r\n",
          1000);
    cr_assert(eq(u32, httpmsg_count(&msg, "X-Ring-Key"), 3));
    cr_assert(eq(u32, httpmsg_count(&msg, "host"), 1));
    cr_assert(eq(u32, httpmsg_count(&msg, "X-Ring"), 0));
}

Test(httpmsg, connection_naming_the_key_header_does_not_drop_it)
{
    parse("GET / HTTP/1.1\r\nConnection: X-Ring-Key, x-other\r\nX-Ring-Key: k\r\n"
          "X-Other: 1\r\n\r\n",
          1000);
    struct sbuf out;
    sbuf_init(&out, 1 << 16);
    struct httpmsg_framing f = { .content_length = -1 };
    httpmsg_write_request(&out, "GET", &msg, "x-ring-key", NULL, &f);
    ASSERT_STR_EQ(out.data, "GET / HTTP/1.1\r\nX-Ring-Key: k\r\n\r\n");
    cr_assert(eq(int, httpmsg_dropped(&msg, 1, "X-Ring-Key"), 0));
    cr_assert(eq(int, httpmsg_dropped(&msg, 1, NULL), 1), "without a key header it is hop-by-hop");
    sbuf_free(&out);
}

Test(httpmsg, ringd_headers_are_never_written_onward)
{
    parse("GET / HTTP/1.1\r\nX-Ring-Owner: evil\r\nX-Ring-Key: k\r\nx-ring-error: no_owner\r\n"
          "X-RING-OWNER: evil\r\nX-Ring-Idempotent: 1\r\nx-ring-epoch: 99\r\n\r\n",
          1000);
    struct sbuf out;
    sbuf_init(&out, 1 << 16);
    struct httpmsg_framing f = { .content_length = 0 };
    httpmsg_write_request(&out, "GET", &msg, "X-Ring-Key", NULL, &f);
    ASSERT_STR_EQ(out.data, "GET / HTTP/1.1\r\nX-Ring-Key: k\r\nX-Ring-Idempotent: 1\r\n"
                            "Content-Length: 0\r\n\r\n");
    sbuf_reset(&out);
    httpmsg_write_response(&out, 503, &msg, "X-Ring-Owner: n1\r\n", &f);
    ASSERT_STR_EQ(out.data, "HTTP/1.1 503 /\r\nX-Ring-Key: k\r\nX-Ring-Idempotent: 1\r\n"
                            "X-Ring-Owner: n1\r\nContent-Length: 0\r\n\r\n");
    /* a key header spelled like one of ringd's is still the key */
    sbuf_reset(&out);
    httpmsg_write_request(&out, "GET", &msg, "X-Ring-Owner", NULL, &f);
    cr_assert(ne(ptr, strstr(out.data, "X-Ring-Owner: evil\r\n"), NULL), "%s", out.data);
    sbuf_free(&out);
}

/* Parses the response head |text| into msg. */
static void parse_response(const char *text)
{
    static const http_parser_settings s = {
        .on_status = on_url,
        .on_header_field = on_field,
        .on_header_value = on_value,
        .on_headers_complete = on_headers_complete,
    };
    http_parser p;
    http_parser_init(&p, HTTP_RESPONSE);
    httpmsg_free(&msg);
    size_t len = strlen(text);
    cr_assert(eq(sz, http_parser_execute(&p, &s, text, len), len));
}

Test(httpmsg, served_reads_one_owner_or_cause_and_refuses_the_rest)
{
    struct httpmsg_served sv;
    parse_response("HTTP/1.1 200 OK\r\nX-Ring-Owner: n1\r\nContent-Length: 0\r\n\r\n");
    cr_assert(eq(int, httpmsg_served(&msg, &sv), 0));
    cr_assert(eq(sz, sv.owner_len, 2));
    cr_assert(eq(int, strncmp(sv.owner, "n1", 2), 0));
    cr_assert(eq(ptr, (void *)sv.cause, NULL));
    parse_response("HTTP/1.1 503 x\r\nx-ring-error: hop_limit\r\n\r\n");
    cr_assert(eq(int, httpmsg_served(&msg, &sv), 0));
    cr_assert(eq(ptr, (void *)sv.owner, NULL));
    cr_assert(eq(sz, sv.cause_len, 9));
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Ring-Owner: n1\r\nx-ring-owner: n1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Ring-Owner: n1\r\nX-Ring-Error: a\r\nX-Ring-Error: a\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Ring-Owner: \r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Ring-Owner: n 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Ring-Owner: n\x80\r\n\r\n",
        "HTTP/1.1 503 x\r\nX-Ring-Error: Hop-Limit\r\n\r\n",
        "HTTP/1.1 503 x\r\nX-Ring-Error: \r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse_response(bad[i]);
        cr_assert(eq(int, httpmsg_served(&msg, &sv), -EPROTO), "%s", bad[i]);
    }
    char head[400] = "HTTP/1.1 200 OK\r\nX-Ring-Owner: ";
    size_t n = strlen(head);
    memset(head + n, 'a', MEMBER_ID_BYTES_MAX + 1);
    memcpy(head + n + MEMBER_ID_BYTES_MAX + 1, "\r\n\r\n", 5);
    parse_response(head);
    cr_assert(eq(int, httpmsg_served(&msg, &sv), -EPROTO), "an id one byte too long");
}
