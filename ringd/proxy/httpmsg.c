/* httpmsg: see httpmsg.h. */
#include "httpmsg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ring/members.h"

/* What buf points to before the first byte: never NULL, so an empty text is a valid
 * pointer and a length of 0 everywhere. */
static char no_text[1];

void httpmsg_init(struct httpmsg *m)
{
    m->cap = 0;
    m->buf = no_text;
    httpmsg_reset(m);
}

void httpmsg_free(struct httpmsg *m)
{
    if (m->cap != 0) {
        free(m->buf);
    }
    httpmsg_init(m);
}

void httpmsg_reset(struct httpmsg *m)
{
    m->len = 0;
    m->text_off = m->text_len = 0;
    m->count = 0;
    m->in_value = 0;
    m->error = 0;
}

/* ---- the raw head --------------------------------------------------------------------- */

enum {
    SCAN_START,      /* before the start line (empty lines are skipped) */
    SCAN_START_CR,   /* ... a CR there */
    SCAN_LINE,       /* inside a line */
    SCAN_CR,         /* a CR inside a line */
    SCAN_LINE_BEGIN, /* at the start of a line after the start line */
    SCAN_END_CR,     /* a CR there: the blank line that ends the head */
    SCAN_DONE,
    SCAN_FAILED,
};

void httpmsg_scan_reset(struct httpmsg_scan *s)
{
    s->state = SCAN_START;
    s->why = NULL;
}

int httpmsg_scan_done(const struct httpmsg_scan *s)
{
    return s->state == SCAN_DONE;
}

static int scan_failed(struct httpmsg_scan *s, const char *why)
{
    s->state = SCAN_FAILED;
    s->why = why;
    return -EPROTO;
}

/* The state after byte |c| in state |state|, or SCAN_FAILED with |*why| set. */
static int scan_step(int state, unsigned char c, const char **why)
{
    *why = c == '\0'   ? "NUL byte"
           : c == '\n' ? "bare LF (every line must end in CRLF)"
                       : "bare CR (a CR not followed by LF)";
    if (c == '\0') {
        return SCAN_FAILED;
    }
    switch (state) {
    case SCAN_START:
        return c == '\r' ? SCAN_START_CR : c == '\n' ? SCAN_FAILED : SCAN_LINE;
    case SCAN_LINE:
        return c == '\r' ? SCAN_CR : c == '\n' ? SCAN_FAILED : SCAN_LINE;
    case SCAN_START_CR:
        return c == '\n' ? SCAN_START : SCAN_FAILED;
    case SCAN_CR:
        return c == '\n' ? SCAN_LINE_BEGIN : SCAN_FAILED;
    case SCAN_END_CR:
        return c == '\n' ? SCAN_DONE : SCAN_FAILED;
    case SCAN_LINE_BEGIN:
        if (c == ' ' || c == '\t') {
            *why = "obs-fold (a header line that starts with whitespace)";
            return SCAN_FAILED;
        }
        return c == '\r' ? SCAN_END_CR : c == '\n' ? SCAN_FAILED : SCAN_LINE;
    default:
        return state;
    }
}

int httpmsg_scan(struct httpmsg_scan *s, const char *data, size_t len, size_t *used)
{
    *used = 0;
    if (s->state == SCAN_FAILED) {
        return -EPROTO;
    }
    size_t i = 0;
    while (i < len && s->state != SCAN_DONE) {
        unsigned char c = (unsigned char)data[i++];
        if (s->state == SCAN_LINE && c != '\r' && c != '\n' && c != '\0') {
            continue; /* the common case: a byte inside a line */
        }
        const char *why;
        s->state = scan_step(s->state, c, &why);
        if (s->state == SCAN_FAILED) {
            return scan_failed(s, why);
        }
    }
    *used = i;
    return s->state == SCAN_DONE ? 1 : 0;
}

/* ---- the parsed head --------------------------------------------------------------------- */

/* Makes room for |need| bytes of text: doubling from 512, at most HTTPMSG_BUF_BYTES. */
static int grow(struct httpmsg *m, size_t need)
{
    size_t cap = m->cap != 0 ? m->cap : 512;
    while (cap < need) {
        cap *= 2;
    }
    cap = cap < HTTPMSG_BUF_BYTES ? cap : HTTPMSG_BUF_BYTES;
    char *buf = realloc(m->cap != 0 ? m->buf : NULL, cap);
    if (buf == NULL) {
        return -ENOMEM;
    }
    m->buf = buf;
    m->cap = (uint32_t)cap;
    return 0;
}

static int append(struct httpmsg *m, const char *at, size_t len)
{
    if (m->error != 0) {
        return m->error;
    }
    if (len > HTTPMSG_BUF_BYTES - m->len) {
        m->error = -EMSGSIZE;
        return -EMSGSIZE;
    }
    if (m->len + len > m->cap && grow(m, m->len + len) != 0) {
        m->error = -ENOMEM;
        return -ENOMEM;
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
            m->error = -EMSGSIZE;
            return -EMSGSIZE;
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
        return -EPROTO; /* http_parser never sends a value before its name */
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

int httpmsg_check(const struct httpmsg *m, const char *key)
{
    uint32_t count = 0, bytes = m->text_len;
    for (uint32_t i = 0; i < m->count; i++) {
        if (!httpmsg_dropped(m, i, key)) {
            count++;
            bytes += m->h[i].name_len + m->h[i].value_len;
        }
    }
    if (count > HTTPMSG_HEADERS_MAX || bytes > HTTPMSG_HEAD_BYTES_MAX) {
        return -EMSGSIZE;
    }
    for (uint32_t i = 0; i < m->count; i++) {
        const struct httpmsg_header *h = &m->h[i];
        if (h->name_len == 0 || framing_lookalike(m->buf + h->name_off, h->name_len)) {
            return -EPROTO;
        }
        for (uint32_t k = 0; k < h->name_len; k++) {
            if (!is_tchar((unsigned char)m->buf[h->name_off + k])) {
                return -EPROTO;
            }
        }
        for (uint32_t k = 0; k < h->value_len; k++) {
            unsigned char c = (unsigned char)m->buf[h->value_off + k];
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                return -EPROTO;
            }
        }
    }
    return 0;
}

static int name_is(const struct httpmsg *m, uint32_t i, const char *name, size_t len)
{
    return m->h[i].name_len == len && strncasecmp(m->buf + m->h[i].name_off, name, len) == 0;
}

uint32_t httpmsg_count(const struct httpmsg *m, const char *name)
{
    size_t n = strlen(name);
    uint32_t count = 0;
    for (uint32_t i = 0; i < m->count; i++) {
        count += (uint32_t)name_is(m, i, name, n);
    }
    return count;
}

const char *httpmsg_get(const struct httpmsg *m, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; i < m->count; i++) {
        if (name_is(m, i, name, n)) {
            /* the field value without its surrounding whitespace (RFC 9110 5.5), as the
             * app's own parser will read it: the parser drops the leading OWS, not the
             * trailing */
            const char *v = m->buf + m->h[i].value_off;
            size_t vlen = m->h[i].value_len;
            while (vlen > 0 && (v[0] == ' ' || v[0] == '\t')) {
                v++;
                vlen--;
            }
            while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) {
                vlen--;
            }
            *len = vlen;
            return v;
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

int httpmsg_dropped(const struct httpmsg *m, uint32_t i, const char *key)
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
    if (key != NULL && name_is(m, i, key, strlen(key))) {
        return 0;
    }
    return name_is(m, i, HTTPMSG_OWNER_HEADER, sizeof(HTTPMSG_OWNER_HEADER) - 1) ||
           name_is(m, i, HTTPMSG_ERROR_HEADER, sizeof(HTTPMSG_ERROR_HEADER) - 1) ||
           name_is(m, i, HTTPMSG_EPOCH_HEADER, sizeof(HTTPMSG_EPOCH_HEADER) - 1) ||
           named_in_connection(m, i);
}

/* The value of the only header named |name| in |*v| (NULL when there is none). Returns 0, or
 * -EPROTO when there are two. */
static int only_one(const struct httpmsg *m, const char *name, const char **v, size_t *len)
{
    size_t n = strlen(name);
    *v = NULL;
    *len = 0;
    for (uint32_t i = 0; i < m->count; i++) {
        if (!name_is(m, i, name, n)) {
            continue;
        }
        if (*v != NULL) {
            return -EPROTO;
        }
        *v = m->buf + m->h[i].value_off;
        *len = m->h[i].value_len;
    }
    return 0;
}

int httpmsg_served(const struct httpmsg *m, struct httpmsg_served *s)
{
    if (only_one(m, HTTPMSG_OWNER_HEADER, &s->owner, &s->owner_len) != 0 ||
        only_one(m, HTTPMSG_ERROR_HEADER, &s->cause, &s->cause_len) != 0 ||
        (s->owner == NULL && s->cause == NULL)) {
        return -EPROTO;
    }
    if (s->owner != NULL && (s->owner_len == 0 || s->owner_len > MEMBER_ID_BYTES_MAX)) {
        return -EPROTO;
    }
    for (size_t k = 0; k < s->owner_len; k++) {
        if (s->owner[k] <= ' ' || s->owner[k] > '~') {
            return -EPROTO;
        }
    }
    if (s->cause != NULL && (s->cause_len == 0 || s->cause_len > HTTPMSG_CAUSE_BYTES_MAX)) {
        return -EPROTO;
    }
    for (size_t k = 0; k < s->cause_len; k++) {
        if ((s->cause[k] < 'a' || s->cause[k] > 'z') && s->cause[k] != '_') {
            return -EPROTO;
        }
    }
    return 0;
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

/* Appends each transfer coding of |m|'s Transfer-Encoding lines but "chunked", in order,
 * each followed by ", " (the caller ends the list with "chunked"). */
static void add_codings_before_chunked(struct sbuf *out, const struct httpmsg *m, uint32_t i)
{
    const char *v = m->buf + m->h[i].value_off;
    size_t len = m->h[i].value_len, pos = 0;
    while (pos < len) {
        size_t start = pos;
        while (pos < len && v[pos] != ',') {
            pos++;
        }
        size_t end = pos++;
        while (start < end && (v[start] == ' ' || v[start] == '\t')) {
            start++;
        }
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) {
            end--;
        }
        if (end > start && !(end - start == 7 && strncasecmp(v + start, "chunked", 7) == 0)) {
            sbuf_add(out, v + start, end - start);
            sbuf_add(out, ", ", 2);
        }
    }
}

/* The proxy re-chunks every body it does not know the length of, but the codings applied
 * before chunking (gzip, deflate) are part of what the body means: the next hop gets them,
 * in order, with chunked last (RFC 9112, section 6.1). */
static void write_transfer_encoding(struct sbuf *out, const struct httpmsg *m)
{
    sbuf_adds(out, "Transfer-Encoding: ");
    for (uint32_t i = 0; i < m->count; i++) {
        if (name_is(m, i, "transfer-encoding", 17)) {
            add_codings_before_chunked(out, m, i);
        }
    }
    sbuf_adds(out, "chunked\r\n");
}

static void write_headers(struct sbuf *out, const struct httpmsg *m, const char *key,
                          const char *extra, const struct httpmsg_framing *f)
{
    for (uint32_t i = 0; i < m->count; i++) {
        if (httpmsg_dropped(m, i, key)) {
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
        write_transfer_encoding(out, m);
    }
    if (f->close) {
        sbuf_adds(out, "Connection: close\r\n");
    }
    sbuf_add(out, "\r\n", 2);
}

void httpmsg_write_request(struct sbuf *out, const char *method, const struct httpmsg *m,
                           const char *key, const char *extra, const struct httpmsg_framing *f)
{
    sbuf_adds(out, method);
    sbuf_add(out, " ", 1);
    sbuf_add(out, m->buf + m->text_off, m->text_len);
    sbuf_add(out, " HTTP/1.1\r\n", 11);
    write_headers(out, m, key, extra, f);
}

void httpmsg_write_response(struct sbuf *out, int status, const struct httpmsg *m,
                            const char *extra, const struct httpmsg_framing *f)
{
    char line[13] = "HTTP/1.1 000 ";
    line[9] = (char)('0' + status / 100 % 10);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    sbuf_add(out, line, sizeof(line));
    sbuf_add(out, m->buf + m->text_off, m->text_len);
    sbuf_add(out, "\r\n", 2);
    write_headers(out, m, NULL, extra, f);
}

void httpmsg_write_error(struct sbuf *out, int status, const char *cause, const char *why,
                         int close)
{
    sbuf_printf(out,
                "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                "%s: %s\r\n%s\r\n%s\n",
                status, httpmsg_reason(status), strlen(why) + 1, HTTPMSG_ERROR_HEADER, cause,
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
