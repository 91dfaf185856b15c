/* http: see http.h. The head is read line by line; every line must end in CRLF. */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "http.h"

/* The end of the head ("\r\n\r\n") within the first |len| bytes, or NULL. */
static const char *head_end(const char *buf, size_t len)
{
    for (size_t i = 3; i < len; i++) {
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
            return buf + i + 1;
        }
    }
    return NULL;
}

static int parse_target(const char *t, size_t len, struct http_request *req)
{
    if (len == 0 || t[0] != '/') {
        return -EPROTO;
    }
    if (len > HTTP_TARGET_BYTES_MAX) {
        return -ERANGE; /* 414, not the head's 431: the head may be within its limit */
    }
    const char *q = memchr(t, '?', len);
    size_t path_len = q != NULL ? (size_t)(q - t) : len;
    memcpy(req->path, t, path_len);
    req->path[path_len] = '\0';
    size_t query_len = q != NULL ? len - path_len - 1 : 0;
    memcpy(req->query, q != NULL ? q + 1 : "", query_len);
    req->query[query_len] = '\0';
    return 0;
}

static int parse_request_line(const char *line, size_t len, struct http_request *req)
{
    const char *sp1 = memchr(line, ' ', len);
    if (sp1 == NULL || sp1 == line) {
        return -EPROTO;
    }
    const char *rest = sp1 + 1;
    const char *sp2 = memchr(rest, ' ', len - (size_t)(rest - line));
    if (sp2 == NULL) {
        return -EPROTO;
    }
    const char *version = sp2 + 1;
    size_t version_len = len - (size_t)(version - line);
    if (version_len != 8 || memcmp(version, "HTTP/1.", 7) != 0 ||
        (version[7] != '0' && version[7] != '1')) {
        return -EPROTO;
    }
    req->keep_alive = version[7] == '1';
    size_t method_len = (size_t)(sp1 - line);
    for (size_t i = 0; i < method_len; i++) {
        if (!isupper((unsigned char)line[i])) {
            return -EPROTO;
        }
    }
    int rv = parse_target(rest, (size_t)(sp2 - rest), req);
    if (rv != 0) {
        return rv;
    }
    static const char *const methods[] = { "GET", "HEAD", "POST" };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strlen(methods[i]) == method_len && memcmp(line, methods[i], method_len) == 0) {
            memcpy(req->method, methods[i], method_len + 1);
            return 0;
        }
    }
    return -EINVAL;
}

static int is_token_char(unsigned char ch)
{
    return isalnum(ch) || (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int header_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

static int parse_header(const char *line, size_t len, struct http_request *req)
{
    const char *colon = memchr(line, ':', len);
    if (colon == NULL || colon == line) {
        return -EPROTO;
    }
    size_t name_len = (size_t)(colon - line);
    for (size_t i = 0; i < name_len; i++) {
        if (!is_token_char((unsigned char)line[i])) {
            return -EPROTO;
        }
    }
    const char *v = colon + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) {
        v++;
    }
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    size_t vlen = (size_t)(end - v);
    for (size_t i = 0; i < vlen; i++) {
        if ((unsigned char)v[i] < 0x20 && v[i] != '\t') {
            return -EPROTO;
        }
    }
    if (header_is(line, name_len, "transfer-encoding")) {
        return -E2BIG;
    }
    if (header_is(line, name_len, "content-length") && !(vlen == 1 && v[0] == '0')) {
        return -E2BIG;
    }
    if (header_is(line, name_len, "connection")) {
        if (vlen == 5 && strncasecmp(v, "close", 5) == 0) {
            req->keep_alive = 0;
        } else if (vlen == 10 && strncasecmp(v, "keep-alive", 10) == 0) {
            req->keep_alive = 1;
        }
    }
    return 0;
}

int http_parse_request(const char *buf, size_t len, struct http_request *req)
{
    size_t scan = len < HTTP_HEAD_BYTES_MAX ? len : HTTP_HEAD_BYTES_MAX;
    const char *end = head_end(buf, scan);
    if (end == NULL) {
        return len >= HTTP_HEAD_BYTES_MAX ? -EMSGSIZE : 0;
    }
    memset(req, 0, sizeof(*req));
    const char *line = buf;
    int headers = -1;
    while (line < end - 2) {
        const char *cr = memchr(line, '\r', (size_t)(end - line));
        if (cr == NULL || cr[1] != '\n') {
            return -EPROTO;
        }
        size_t line_len = (size_t)(cr - line);
        if (memchr(line, '\n', line_len) != NULL) {
            return -EPROTO;
        }
        int rv = headers < 0 ? parse_request_line(line, line_len, req)
                             : parse_header(line, line_len, req);
        if (rv != 0) {
            return rv;
        }
        if (++headers > HTTP_HEADERS_MAX) {
            return -EMSGSIZE;
        }
        line = cr + 2;
    }
    return headers < 0 ? -EPROTO : (int)(end - buf);
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    ch = (char)tolower((unsigned char)ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static int decode_value(const char *v, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = v[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            if (i + 2 >= len) {
                return -EPROTO;
            }
            int hi = hex_value(v[i + 1]);
            int lo = hex_value(v[i + 2]);
            if (hi < 0 || lo < 0) {
                return -EPROTO;
            }
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (n + 1 >= cap) {
            return -ENOBUFS;
        }
        out[n++] = ch;
    }
    out[n] = '\0';
    return (int)n;
}

int http_query_param(const char *query, const char *name, char *out, size_t cap)
{
    size_t name_len = strlen(name);
    const char *p = query;
    while (*p != '\0') {
        const char *amp = strchr(p, '&');
        size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
        if (len > name_len && memcmp(p, name, name_len) == 0 && p[name_len] == '=') {
            return decode_value(p + name_len + 1, len - name_len - 1, out, cap);
        }
        if (len == name_len && memcmp(p, name, name_len) == 0) {
            return decode_value("", 0, out, cap);
        }
        p += len + (amp != NULL);
    }
    return -ENOENT;
}

const char *http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}
