/*
 * fuzz_http: the proxy's HTTP front from arbitrary bytes. The bytes are scanned (httpmsg_scan)
 * and go through http_parser into httpmsg exactly as proxy.c collects a request head; every
 * head it accepts is then written onward (httpmsg_write_request, and httpmsg_write_response as
 * if it were a response) and must parse again, cleanly, to the same method and target, with
 * exactly the end-to-end headers: the proxy never emits a head the next hop cannot read, nor
 * smuggles a framing, hop-by-hop or ringd-only header (X-Ring-Owner, X-Ring-Error) through,
 * nor drops the key header. The scan and http_parser must agree on where a clean head ends,
 * however the bytes are split.
 */
#include <http_parser.h>
#include <string.h>
#include <strings.h>

#include "fuzz_util.h"
#include "httpmsg.h"

#define KEY "X-Ring-Key"

struct ctx {
    struct httpmsg msg;
    int complete_heads;
};

static struct ctx in, again;

static int on_begin(http_parser *p)
{
    httpmsg_reset(&((struct ctx *)p->data)->msg);
    return 0;
}

static int on_text(http_parser *p, const char *at, size_t len)
{
    return httpmsg_on_text(&((struct ctx *)p->data)->msg, at, len) == 0 ? 0 : -1;
}

static int on_field(http_parser *p, const char *at, size_t len)
{
    return httpmsg_on_field(&((struct ctx *)p->data)->msg, at, len) == 0 ? 0 : -1;
}

static int on_value(http_parser *p, const char *at, size_t len)
{
    return httpmsg_on_value(&((struct ctx *)p->data)->msg, at, len) == 0 ? 0 : -1;
}

static int on_headers_complete(http_parser *p);

static const http_parser_settings request_settings = {
    .on_message_begin = on_begin,
    .on_url = on_text,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
};

static const http_parser_settings response_settings = {
    .on_message_begin = on_begin,
    .on_status = on_text,
    .on_header_field = on_field,
    .on_header_value = on_value,
};

/* End-to-end headers, not counting one named "close": the "Connection: close" the proxy
 * adds itself names it, so the next hop rightly takes it for hop-by-hop. */
static uint32_t end_to_end(const struct httpmsg *m)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->count; i++) {
        const struct httpmsg_header *h = &m->h[i];
        int named_close = h->name_len == 5 && strncasecmp(m->buf + h->name_off, "close", 5) == 0;
        n += !httpmsg_dropped(m, i, KEY) && !named_close;
    }
    return n;
}

static uint32_t named_close(const struct httpmsg *m)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->count; i++) {
        const struct httpmsg_header *h = &m->h[i];
        n += h->name_len == 5 && strncasecmp(m->buf + h->name_off, "close", 5) == 0 &&
             !httpmsg_dropped(m, i, KEY);
    }
    return n;
}

/* Parses |out| as one head with |settings|; returns the parser's errno. */
static enum http_errno reparse(const struct sbuf *out, enum http_parser_type type,
                               const http_parser_settings *settings)
{
    http_parser p;
    http_parser_init(&p, type);
    p.data = &again;
    httpmsg_reset(&again.msg);
    http_parser_execute(&p, settings, out->data, out->len);
    return HTTP_PARSER_ERRNO(&p);
}

/* The head written onward is clean to the scan too, to its last byte. */
static void check_scan_clean(const struct sbuf *out)
{
    struct httpmsg_scan s = { 0 };
    size_t used;
    CHECK(httpmsg_scan(&s, out->data, out->len, &used) == 1 && used == out->len);
}

static uint32_t ringd_only(const struct httpmsg *m)
{
    return httpmsg_count(m, HTTPMSG_OWNER_HEADER) + httpmsg_count(m, HTTPMSG_ERROR_HEADER);
}

static int on_headers_complete(http_parser *p)
{
    struct ctx *c = p->data;
    c->complete_heads++;
    if (c != &in) {
        return 1;
    }
    const struct httpmsg *m = &in.msg;
    if (httpmsg_check(m, KEY) != 0 || httpmsg_count(m, KEY) > 1) {
        return 1; /* the proxy answers 400: nothing goes onward */
    }
    const char *method = http_method_str((enum http_method)p->method);
    struct httpmsg_framing f = { .content_length = 5, .chunked = 0, .close = 1 };
    struct sbuf out;
    sbuf_init(&out, 4 * HTTPMSG_HEAD_BYTES_MAX);
    httpmsg_write_request(&out, method, m, KEY, NULL, &f);
    CHECK(!out.failed);
    check_scan_clean(&out);
    again.complete_heads = 0;
    CHECK(reparse(&out, HTTP_REQUEST, &request_settings) == HPE_OK);
    CHECK(again.complete_heads == 1);
    CHECK(again.msg.text_len == m->text_len &&
          memcmp(again.msg.buf + again.msg.text_off, m->buf + m->text_off, m->text_len) == 0);
    /* ours: Content-Length and Connection; every other header passed is end-to-end */
    CHECK(again.msg.count == end_to_end(m) + named_close(m) + 2);
    CHECK(end_to_end(&again.msg) == end_to_end(m));
    CHECK(ringd_only(&again.msg) == 0);
    CHECK(httpmsg_count(&again.msg, KEY) == httpmsg_count(m, KEY));

    sbuf_reset(&out);
    struct httpmsg_framing chunked = { .content_length = -1, .chunked = 1 };
    httpmsg_write_response(&out, 200, m, "X-Ring-Owner: n1\r\n", &chunked);
    CHECK(!out.failed);
    check_scan_clean(&out);
    enum http_errno e = reparse(&out, HTTP_RESPONSE, &response_settings);
    CHECK(e == HPE_OK);
    /* every header of ours goes, the key header too unless Connection names it */
    uint32_t key_named = httpmsg_count(m, KEY) - (uint32_t)httpmsg_count(&again.msg, KEY);
    CHECK(again.msg.count + key_named == end_to_end(m) + named_close(m) + 2);
    CHECK(ringd_only(&again.msg) == 1);
    sbuf_free(&out);
    return 1; /* the body does not matter here */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        http_parser_set_max_header_size(HTTPMSG_WIRE_BYTES_MAX);
        httpmsg_init(&in.msg); /* their buffers grow and are kept, as in the proxy */
        httpmsg_init(&again.msg);
        init = 1;
    }
    /* The scan, in one piece and split where the first byte says: the same answer. */
    struct httpmsg_scan whole = { 0 }, split = { 0 };
    size_t used, used2, cut = size > 0 ? data[0] % (size + 1) : 0;
    int rv = httpmsg_scan(&whole, (const char *)data, size, &used);
    int rv2 = httpmsg_scan(&split, (const char *)data, cut, &used2);
    if (rv2 == 0) {
        rv2 = httpmsg_scan(&split, (const char *)data + cut, size - cut, &used2);
        used2 += cut;
    }
    CHECK(rv == rv2 && (rv != 1 || used == used2));
    if (rv < 0) {
        return 0; /* the proxy answers 400: http_parser never sees it */
    }
    /* As the proxy feeds it: what was scanned, up to the end of the head. */
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    p.data = &in;
    httpmsg_reset(&in.msg);
    in.complete_heads = 0;
    http_parser_execute(&p, &request_settings, (const char *)data, rv == 1 ? used : size);
    /* Where the scan saw the head end, http_parser must have read it whole, or the proxy
     * refuses the request (400; its non-strict "HTTP/" lets it read on). Where the scan saw no
     * end, http_parser must not have seen one. */
    CHECK(rv == 1 || in.complete_heads == 0);
    return 0;
}
