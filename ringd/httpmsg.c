/* httpmsg: see httpmsg.h. */
#include "httpmsg.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ring/error.h"

void httpmsg_reset(struct httpmsg *m)
{
    m->len = 0;
    m->text_off = m->text_len = 0;
    m->count = 0;
    m->in_value = 0;
    m->error = 0;
}

static int append(struct httpmsg *m, const char *at, size_t len)
{
    if (m->error != 0 || len > sizeof(m->buf) - m->len) {
        m->error = RING_EMSGSIZE;
        return RING_EMSGSIZE;
    }
    memcpy(m->buf + m->len, at, len);
    m->len += (uint32_t)len;
    return 0;
}

int httpmsg_on_text(struct httpmsg *m, const char *at, size_t len)
{
    if (m->text_len == 0) {
        m->text_off = m->len;
    }
    int rv = append(m, at, len);
    if (rv == 0) {
        m->text_len += (uint32_t)len;
    }
    return rv;
}

int httpmsg_on_field(struct httpmsg *m, const char *at, size_t len)
{
    if (m->count == 0 || m->in_value) {
        if (m->count == HTTPMSG_HEADERS_MAX + HTTPMSG_SLACK_HEADERS) {
            m->error = RING_EMSGSIZE;
            return RING_EMSGSIZE;
        }
        struct httpmsg_header *h = &m->h[m->count++];
        h->name_off = m->len;
        h->name_len = h->value_off = h->value_len = 0;
        m->in_value = 0;
    }
    int rv = append(m, at, len);
    if (rv == 0) {
        m->h[m->count - 1].name_len += (uint32_t)len;
    }
    return rv;
}

int httpmsg_on_value(struct httpmsg *m, const char *at, size_t len)
{
    if (m->count == 0) {
        return RING_EPROTO; /* http_parser never sends a value before its name */
    }
    struct httpmsg_header *h = &m->h[m->count - 1];
    if (!m->in_value) {
        h->value_off = m->len;
        m->in_value = 1;
    }
    int rv = append(m, at, len);
    if (rv == 0) {
        h->value_len += (uint32_t)len;
    }
    return rv;
}

/* RFC 9110 tchar: "!#$%&'*+-.^_`|~", digits and letters. */
static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* 1 if the name starts with a framing header's name but goes on ("Transfer-Encodingx"):
 * http_parser 2.9 matches those names by prefix, so a next hop built on it would take the
 * header for framing (fuzz_http found it). */
static int framing_lookalike(const char *name, size_t len)
{
    static const char *const framing[] = { "transfer-encoding", "content-length" };
    for (size_t k = 0; k < 2; k++) {
        size_t n = strlen(framing[k]);
        if (len > n && strncasecmp(name, framing[k], n) == 0) {
            return 1;
        }
    }
    return 0;
}

int httpmsg_check(const struct httpmsg *m)
{
    uint32_t count = 0, bytes = m->text_len;
    for (uint32_t i = 0; i < m->count; i++) {
        if (!httpmsg_hop_by_hop(m, i)) {
            count++;
            bytes += m->h[i].name_len + m->h[i].value_len;
        }
    }
    if (count > HTTPMSG_HEADERS_MAX || bytes > HTTPMSG_HEAD_BYTES_MAX) {
        return RING_EMSGSIZE;
    }
    for (uint32_t i = 0; i < m->count; i++) {
        const struct httpmsg_header *h = &m->h[i];
        if (h->name_len == 0 || framing_lookalike(m->buf + h->name_off, h->name_len)) {
            return RING_EPROTO;
        }
        for (uint32_t k = 0; k < h->name_len; k++) {
            if (!is_tchar((unsigned char)m->buf[h->name_off + k])) {
                return RING_EPROTO;
            }
        }
        for (uint32_t k = 0; k < h->value_len; k++) {
            unsigned char c = (unsigned char)m->buf[h->value_off + k];
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                return RING_EPROTO;
            }
        }
    }
    return 0;
}

static int name_is(const struct httpmsg *m, uint32_t i, const char *name, size_t len)
{
    return m->h[i].name_len == len && strncasecmp(m->buf + m->h[i].name_off, name, len) == 0;
}

const char *httpmsg_get(const struct httpmsg *m, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; i < m->count; i++) {
        if (name_is(m, i, name, n)) {
            *len = m->h[i].value_len;
            return m->buf + m->h[i].value_off;
        }
    }
    return NULL;
}

static int is_token_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t';
}

/* 1 if a Connection header of |m| lists the name of header |i| as one of its tokens. */
static int named_in_connection(const struct httpmsg *m, uint32_t i)
{
    for (uint32_t k = 0; k < m->count; k++) {
        if (!name_is(m, k, "connection", 10)) {
            continue;
        }
        const char *v = m->buf + m->h[k].value_off;
        size_t len = m->h[k].value_len;
        size_t pos = 0;
        while (pos < len) {
            while (pos < len && is_token_sep(v[pos])) {
                pos++;
            }
            size_t start = pos;
            while (pos < len && !is_token_sep(v[pos])) {
                pos++;
            }
            if (pos > start && name_is(m, i, v + start, pos - start)) {
                return 1;
            }
        }
    }
    return 0;
}

int httpmsg_hop_by_hop(const struct httpmsg *m, uint32_t i)
{
    static const char *const drop[] = {
        "connection", "keep-alive", "proxy-connection",  "te",
        "trailer",    "upgrade",    "transfer-encoding", "content-length",
    };
    for (size_t k = 0; k < sizeof(drop) / sizeof(drop[0]); k++) {
        if (name_is(m, i, drop[k], strlen(drop[k]))) {
            return 1;
        }
    }
    return named_in_connection(m, i);
}

/* |v| in decimal at the end of |buf| (24 bytes); returns the digit count. printf is a
 * measurable share of a proxied request's user time. */
static size_t u64_text(uint64_t v, char *buf)
{
    size_t n = 0;
    do {
        buf[23 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return n;
}

static void write_headers(struct sbuf *out, const struct httpmsg *m, const char *skip,
                          const char *extra, const struct httpmsg_framing *f)
{
    size_t skip_len = skip != NULL ? strlen(skip) : 0;
    for (uint32_t i = 0; i < m->count; i++) {
        if (httpmsg_hop_by_hop(m, i) || (skip != NULL && name_is(m, i, skip, skip_len))) {
            continue;
        }
        sbuf_add(out, m->buf + m->h[i].name_off, m->h[i].name_len);
        sbuf_add(out, ": ", 2);
        sbuf_add(out, m->buf + m->h[i].value_off, m->h[i].value_len);
        sbuf_add(out, "\r\n", 2);
    }
    if (extra != NULL) {
        sbuf_adds(out, extra);
    }
    if (f->content_length >= 0) {
        char digits[24];
        size_t n = u64_text((uint64_t)f->content_length, digits);
        sbuf_add(out, "Content-Length: ", 16);
        sbuf_add(out, digits + sizeof(digits) - n, n);
        sbuf_add(out, "\r\n", 2);
    } else if (f->chunked) {
        sbuf_adds(out, "Transfer-Encoding: chunked\r\n");
    }
    if (f->close) {
        sbuf_adds(out, "Connection: close\r\n");
    }
    sbuf_add(out, "\r\n", 2);
}

void httpmsg_write_request(struct sbuf *out, const char *method, const struct httpmsg *m,
                           const char *extra, const struct httpmsg_framing *f)
{
    sbuf_adds(out, method);
    sbuf_add(out, " ", 1);
    sbuf_add(out, m->buf + m->text_off, m->text_len);
    sbuf_add(out, " HTTP/1.1\r\n", 11);
    write_headers(out, m, NULL, extra, f);
}

void httpmsg_write_response(struct sbuf *out, int status, const struct httpmsg *m, const char *skip,
                            const char *extra, const struct httpmsg_framing *f)
{
    char line[13] = "HTTP/1.1 000 ";
    line[9] = (char)('0' + status / 100 % 10);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    sbuf_add(out, line, sizeof(line));
    sbuf_add(out, m->buf + m->text_off, m->text_len);
    sbuf_add(out, "\r\n", 2);
    write_headers(out, m, skip, extra, f);
}

void httpmsg_write_error(struct sbuf *out, int status, const char *cause, const char *why,
                         int close)
{
    sbuf_printf(out,
                "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                "X-Ring-Error: %s\r\n%s\r\n%s\n",
                status, httpmsg_reason(status), strlen(why) + 1, cause,
                close ? "Connection: close\r\n" : "", why);
}

int httpmsg_idempotent(const char *method)
{
    static const char *const idem[] = { "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE" };
    for (size_t i = 0; i < sizeof(idem) / sizeof(idem[0]); i++) {
        if (strcmp(method, idem[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

size_t httpmsg_chunk_line(char *buf, size_t len)
{
    return (size_t)snprintf(buf, 20, "%zx\r\n", len);
}

const char *httpmsg_reason(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}
