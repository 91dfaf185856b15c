/*
 * httpmsg: one HTTP message head as the forwarding proxy collects it from http_parser's
 * callbacks, and the head it writes onward. Pure (no I/O), so unit tests and a fuzz target
 * drive it directly.
 *
 * The proxy re-frames every message: it drops the hop-by-hop headers (RFC 9110 section
 * 7.6.1: Connection and the headers it names, Keep-Alive, Proxy-Connection, TE, Trailer,
 * Transfer-Encoding, Upgrade) and Content-Length, then adds its own Content-Length or
 * Transfer-Encoding for the body it sends. End-to-end headers pass in order, untouched.
 */
#ifndef RINGD_HTTPMSG_H
#define RINGD_HTTPMSG_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

/* The largest head (request target or reason phrase, header names and values): requests
 * over it get 431, responses over it 502. Ample for browsers' and gRPC gateways' headers;
 * nginx's default large_client_header_buffers is 4 x 8 KB. */
#define HTTPMSG_HEAD_BYTES_MAX (16u << 10)
/* Header lines in one head: over it, 431 (request) or 502 (response). */
#define HTTPMSG_HEADERS_MAX 100
/* The longest method name written onward ("PROPPATCH", "MKCALENDAR" ...). */
#define HTTPMSG_METHOD_BYTES_MAX 16

struct httpmsg_header {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len;
};

struct httpmsg {
    char buf[HTTPMSG_HEAD_BYTES_MAX];
    uint32_t len;
    /* A request's target, or a response's reason phrase, in buf. */
    uint32_t text_off, text_len;
    uint32_t count;
    struct httpmsg_header h[HTTPMSG_HEADERS_MAX];
    int in_value; /* the last callback was a header value */
    int error;    /* RING_EMSGSIZE once over a limit */
};

void httpmsg_reset(struct httpmsg *m);

/* http_parser callbacks' data, in the order the parser delivers it (a callback may come in
 * pieces). Each returns 0, or RING_EMSGSIZE when the head goes over a limit. */
int httpmsg_on_text(struct httpmsg *m, const char *at, size_t len);
int httpmsg_on_field(struct httpmsg *m, const char *at, size_t len);
int httpmsg_on_value(struct httpmsg *m, const char *at, size_t len);

/* The value of the first header named |name| (case-insensitive) and its length in |*len|,
 * or NULL. The pointer is into |m|. */
const char *httpmsg_get(const struct httpmsg *m, const char *name, size_t *len);

/* 1 if header |i| is not passed onward (hop-by-hop, framing, or named in Connection). */
int httpmsg_hop_by_hop(const struct httpmsg *m, uint32_t i);

/* How the body of the message written onward is framed. */
struct httpmsg_framing {
    int64_t content_length; /* >= 0: a Content-Length header with this value */
    int chunked;            /* 1: Transfer-Encoding: chunked */
    int close;              /* 1: Connection: close */
};

/*
 * Appends to |out| the request head "METHOD target HTTP/1.1", the end-to-end headers of |m|,
 * the raw header lines |extra| (each ending in CRLF; may be NULL), the framing headers and
 * the blank line.
 */
void httpmsg_write_request(struct sbuf *out, const char *method, const struct httpmsg *m,
                           const char *extra, const struct httpmsg_framing *f);

/*
 * Appends to |out| the response head "HTTP/1.1 status reason", the end-to-end headers of
 * |m| (skipping any named |skip|, case-insensitive, may be NULL), |extra| (may be NULL), the
 * framing headers and the blank line.
 */
void httpmsg_write_response(struct sbuf *out, int status, const struct httpmsg *m, const char *skip,
                            const char *extra, const struct httpmsg_framing *f);

/* Appends a whole response the proxy makes itself: |status|, a short text/plain body |why|
 * and a newline, X-Ring-Error: |cause|, and Connection: close when |close|. */
void httpmsg_write_error(struct sbuf *out, int status, const char *cause, const char *why,
                         int close);

/* 1 for a method RFC 9110 defines as idempotent: GET, HEAD, PUT, DELETE, OPTIONS, TRACE. */
int httpmsg_idempotent(const char *method);

/* Writes the chunk-size line for a chunk of |len| bytes ("1f40\r\n") into |buf| (at least
 * 20 bytes); returns its length. */
size_t httpmsg_chunk_line(char *buf, size_t len);

/* The reason phrase for a status the proxy answers with. */
const char *httpmsg_reason(int status);

#endif
