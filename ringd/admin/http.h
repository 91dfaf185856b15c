/*
 * http: a minimal, strict HTTP/1.1 request-head reader for the admin endpoints. GET and HEAD, no
 * request bodies, a bounded head; everything else is an error the server answers and then
 * closes. Pure: bytes in, a parsed request out.
 */
#ifndef RINGD_HTTP_H
#define RINGD_HTTP_H

#include <stddef.h>

/* The largest request head (request line and headers): ample for curl and Prometheus. */
#define HTTP_HEAD_BYTES_MAX 8192
/* The request target (path and query). */
#define HTTP_TARGET_BYTES_MAX 2048
/* Header lines in one request. */
#define HTTP_HEADERS_MAX 64

struct http_request {
    /* "GET", "HEAD" or "POST" (anything else fails with -EINVAL, answered 405). A POST
     * has no body either (only /v1/drain takes it: its query says everything). */
    char method[8];
    /* The path and the raw query (without '?'), NUL-terminated. */
    char path[HTTP_TARGET_BYTES_MAX + 1];
    char query[HTTP_TARGET_BYTES_MAX + 1];
    /* 0 for HTTP/1.0 or "Connection: close". */
    int keep_alive;
};

/*
 * Reads one request head from the |len| bytes at |buf|.
 * Returns the head's length (> 0) when it is complete, 0 when more bytes are needed, or a
 * negative errno (ringd's error family, err.h):
 *   -EMSGSIZE  the head is longer than HTTP_HEAD_BYTES_MAX (431)
 *   -ERANGE    the request target is longer than HTTP_TARGET_BYTES_MAX (414)
 *   -EPROTO    malformed request line or header, an HTTP version other than 1.x (400)
 *   -E2BIG     a body (Content-Length above 0, or Transfer-Encoding): admin reads none (400)
 *   -EINVAL    a method other than GET, HEAD or POST (405, with Allow)
 */
int http_parse_request(const char *buf, size_t len, struct http_request *req);

/*
 * Finds parameter |name| in |query| ("a=1&key=x%20y") and writes its percent-decoded value
 * with a NUL into |out| (|cap| bytes). Returns the value's length, -ENOENT (absent), -EPROTO
 * (a bad %-escape) or -ENOBUFS (longer than |cap| - 1).
 */
int http_query_param(const char *query, const char *name, char *out, size_t cap);

/* The reason phrase for |status| ("OK", "Not Found", ...). */
const char *http_reason(int status);

#endif
