/*
 * fuzz_http: the proxy's HTTP front from arbitrary bytes. The bytes go through http_parser
 * into httpmsg exactly as proxy.c collects a request head; every head it accepts is then
 * written onward (httpmsg_write_request, and httpmsg_write_response as if it were a response)
 * and must parse again, cleanly, to the same method and target, with exactly the end-to-end
 * headers: the proxy never emits a head the next hop cannot read, nor smuggles a framing or
 * hop-by-hop header through.
 */
#include <http_parser.h>
#include <string.h>
#include <strings.h>

#include "fuzz_util.h"
#include "httpmsg.h"

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
        n += !httpmsg_hop_by_hop(m, i) && !named_close;
    }
    return n;
}

static uint32_t named_close(const struct httpmsg *m)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->count; i++) {
        const struct httpmsg_header *h = &m->h[i];
        n += h->name_len == 5 && strncasecmp(m->buf + h->name_off, "close", 5) == 0 &&
             !httpmsg_hop_by_hop(m, i);
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

static int on_headers_complete(http_parser *p)
{
    struct ctx *c = p->data;
    if (c != &in) {
        c->complete_heads++;
        return 1;
    }
    const struct httpmsg *m = &in.msg;
    if (httpmsg_check(m) != 0) {
        return 1; /* the proxy answers 400: nothing goes onward */
    }
    const char *method = http_method_str((enum http_method)p->method);
    struct httpmsg_framing f = { .content_length = 5, .chunked = 0, .close = 1 };
    struct sbuf out;
    sbuf_init(&out, 4 * HTTPMSG_HEAD_BYTES_MAX);
    httpmsg_write_request(&out, method, m, NULL, &f);
    CHECK(!out.failed);
    again.complete_heads = 0;
    CHECK(reparse(&out, HTTP_REQUEST, &request_settings) == HPE_OK);
    CHECK(again.complete_heads == 1);
    CHECK(again.msg.text_len == m->text_len &&
          memcmp(again.msg.buf + again.msg.text_off, m->buf + m->text_off, m->text_len) == 0);
    /* ours: Content-Length and Connection; every other header passed is end-to-end */
    CHECK(again.msg.count == end_to_end(m) + named_close(m) + 2);
    CHECK(end_to_end(&again.msg) == end_to_end(m));

    sbuf_reset(&out);
    struct httpmsg_framing chunked = { .content_length = -1, .chunked = 1 };
    httpmsg_write_response(&out, 200, m, NULL, "X-Ring-Owner: n1\r\n", &chunked);
    CHECK(!out.failed);
    enum http_errno e = reparse(&out, HTTP_RESPONSE, &response_settings);
    CHECK(e == HPE_OK);
    CHECK(again.msg.count == end_to_end(m) + named_close(m) + 2);
    sbuf_free(&out);
    return 1; /* the body does not matter here */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        http_parser_set_max_header_size(HTTPMSG_WIRE_BYTES_MAX);
        init = 1;
    }
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    p.data = &in;
    httpmsg_reset(&in.msg);
    http_parser_execute(&p, &request_settings, (const char *)data, size);
    return 0;
}
