/*
 * httpmsg: one HTTP message head as the forwarding proxy collects it from http_parser's
 * callbacks, and the head it writes onward. Pure (no I/O), so unit tests and a fuzz target
 * drive it directly.
 *
 * The proxy re-frames every message: it drops the hop-by-hop headers (RFC 9110 section
 * 7.6.1: Connection and the headers it names, Keep-Alive, Proxy-Connection, TE, Trailer,
 * Transfer-Encoding, Upgrade) and Content-Length, then adds its own Content-Length or
 * Transfer-Encoding for the body it sends. It also drops every copy of the headers only ringd
 * sets (X-Ring-Owner, X-Ring-Error, X-Ring-Epoch), from requests and responses alike, so a client's
 * or an app's copy never passes as ringd's; the proxy adds its own. The key header is never dropped
 * as hop-by-hop, even when Connection names it: every hop routes on it, and the app gets the
 * key it was routed by. End-to-end headers pass in order, untouched.
 *
 * http_parser 2.9 (as Debian builds it, without HTTP_PARSER_STRICT) takes a bare LF for the end
 * of a line, lets some bare CRs through and joins obs-fold continuation lines into the value
 * before. A front end that reads lines as RFC 9112 says would see one header where ringd saw
 * two, so the raw bytes of every head are scanned first (httpmsg_scan) and such a head is
 * refused (400 for a request, 502 for a response).
 *
 * Errors are negative errno values from <errno.h> (it has no event loop): -EMSGSIZE for a
 * head over a limit, -EPROTO for a malformed one.
 */
#ifndef RINGD_HTTPMSG_H
#define RINGD_HTTPMSG_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

/* The largest head (request target or reason phrase, end-to-end header names and values):
 * requests over it get 431, responses over it 502. Ample for browsers' and gRPC gateways'
 * headers; nginx's default large_client_header_buffers is 4 x 8 KB. */
#define HTTPMSG_HEAD_BYTES_MAX (16u << 10)
/* End-to-end header lines in one head: over it, 431 (request) or 502 (response). */
#define HTTPMSG_HEADERS_MAX 100
/* Room beyond those limits for hop-by-hop headers, which are dropped, and for the framing
 * headers and X-Ring-Owner the proxy adds: a head the proxy accepted and wrote onward is
 * always accepted by the next ringd. */
#define HTTPMSG_SLACK_HEADERS 8
#define HTTPMSG_SLACK_BYTES   1024
/* The parser's limit on a raw head: what httpmsg keeps, plus ": " and CRLF per header and
 * room for a request or status line and the proxy's own headers, so any head the proxy
 * writes onward (to a peer ringd, which parses it with this same limit) is accepted there. */
#define HTTPMSG_WIRE_BYTES_MAX                                                                     \
    (HTTPMSG_HEAD_BYTES_MAX + HTTPMSG_SLACK_BYTES +                                                \
     4 * (HTTPMSG_HEADERS_MAX + HTTPMSG_SLACK_HEADERS) + 512)
/* The longest method name written onward ("PROPPATCH", "MKCALENDAR" ...). */
#define HTTPMSG_METHOD_BYTES_MAX 16

/* The headers only ringd sets (PROTOCOL.md section 11): who served a request (a member id), and
 * why ringd answered it itself. Every copy from a client or an app is dropped. */
#define HTTPMSG_OWNER_HEADER "X-Ring-Owner"
#define HTTPMSG_ERROR_HEADER "X-Ring-Error"
/* With --exclusive, the request the owner's app gets carries the epoch of the shard's lease
 * (a fencing token, docs/sharding.md); a client's copy is dropped like the two above. */
#define HTTPMSG_EPOCH_HEADER "X-Ring-Epoch"
/* The longest X-Ring-Error cause a peer's answer may carry (ours are 17 bytes at most). */
#define HTTPMSG_CAUSE_BYTES_MAX 32

struct httpmsg_header {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len;
};

/* The bytes a head's text may take in httpmsg.buf. */
#define HTTPMSG_BUF_BYTES (HTTPMSG_HEAD_BYTES_MAX + HTTPMSG_SLACK_BYTES)

/* The small fields first: a reset writes only them. The text lives in |buf|, grown as it
 * arrives and kept across resets: inline, the proxy's exchanges were 39 KB each, and after
 * bursts of clients that sent a byte or a partial head, the pages those touched were spread
 * over ever new parts of malloc's heap (six bursts of 4,096 left 72 MiB resident). */
struct httpmsg {
    uint32_t len;
    /* A request's target, or a response's reason phrase, in buf. */
    uint32_t text_off, text_len;
    uint32_t count;
    int in_value; /* the last callback was a header value */
    int error;    /* -EMSGSIZE once over a limit, -ENOMEM when buf could not grow */
    uint32_t cap; /* bytes of buf */
    char *buf;
    struct httpmsg_header h[HTTPMSG_HEADERS_MAX + HTTPMSG_SLACK_HEADERS];
};

/* A message with no head and no buffer yet; httpmsg_free() gives the buffer back. */
void httpmsg_init(struct httpmsg *m);
void httpmsg_free(struct httpmsg *m);

/* Ready for the next head (the buffer is kept). */
void httpmsg_reset(struct httpmsg *m);

/* A head's raw bytes, checked as they arrive, before http_parser sees them: every line ends in
 * CRLF (no bare LF, no CR without LF), no NUL, and no line after the start line begins with
 * whitespace (obs-fold, RFC 9112 section 5.2; before the first header, section 2.2). Empty
 * lines before the start line are skipped, as http_parser skips them. Zeroed storage is a
 * scan at the start of a head. */
struct httpmsg_scan {
    int state;
    const char *why; /* once -EPROTO is returned: what was wrong, for the 400's body */
};

void httpmsg_scan_reset(struct httpmsg_scan *s);

/* Scans the next |len| bytes of a head. Returns 1 when the head ends within them, with
 * |*used| its bytes among them (through the blank line's LF); 0 when every byte belongs to the
 * head and more are needed (|*used| = |len|); -EPROTO for a malformed head (|s->why| says
 * why; it stays so). A scan whose head is complete must be reset before the next head. */
int httpmsg_scan(struct httpmsg_scan *s, const char *data, size_t len, size_t *used);

/* 1 once the scanned head is complete. */
int httpmsg_scan_done(const struct httpmsg_scan *s);

/* http_parser callbacks' data, in the order the parser delivers it (a callback may come in
 * pieces). Each returns 0, -EMSGSIZE when the head goes over a limit, or -ENOMEM. */
int httpmsg_on_text(struct httpmsg *m, const char *at, size_t len);
int httpmsg_on_field(struct httpmsg *m, const char *at, size_t len);
int httpmsg_on_value(struct httpmsg *m, const char *at, size_t len);

/* Checks the limits (HTTPMSG_HEAD_BYTES_MAX, HTTPMSG_HEADERS_MAX, counting what is written
 * onward with |key| as the key header, may be NULL: -EMSGSIZE, 431) and
 * what http_parser lets through but the next hop must never see (RFC 9110 section
 * 5.1, RFC 9112 section 5.1): a header name that is not a token (whitespace before the colon
 * is the classic request-smuggling trick), a name that only starts like Transfer-Encoding or
 * Content-Length (http_parser takes those for framing), or a value with control bytes other
 * than tab.
 * Returns 0, -EMSGSIZE, or -EPROTO (the proxy answers 400). */
int httpmsg_check(const struct httpmsg *m, const char *key);

/* The value of the first header named |name| (case-insensitive), without surrounding
 * whitespace, and its length in |*len|, or NULL. The pointer is into |m|. */
const char *httpmsg_get(const struct httpmsg *m, const char *name, size_t *len);

/* How many headers of |m| are named |name| (case-insensitive). */
uint32_t httpmsg_count(const struct httpmsg *m, const char *name);

/* 1 if header |i| is not passed onward: hop-by-hop (the fixed list, or named in Connection),
 * framing, or one only ringd sets. A header named |key| (the key header; may be NULL) is kept
 * even when Connection names it or it is spelled like one of ringd's. */
int httpmsg_dropped(const struct httpmsg *m, uint32_t i, const char *key);

/* Who a response from a peer ringd says served it: its X-Ring-Owner (a member id) and its
 * X-Ring-Error (a cause), each NULL when absent; pointers into the message. */
struct httpmsg_served {
    const char *owner;
    size_t owner_len;
    const char *cause;
    size_t cause_len;
};

/* Reads |s| from |m|. A ringd's answer names the member whose app answered (X-Ring-Owner), or
 * says why no app did (X-Ring-Error), or both: at least one, neither twice. An owner is 1 to
 * MEMBER_ID_BYTES_MAX visible ASCII bytes (a member id), a cause 1 to HTTPMSG_CAUSE_BYTES_MAX
 * of lowercase letters and '_'. Returns 0, or -EPROTO. */
int httpmsg_served(const struct httpmsg *m, struct httpmsg_served *s);

/* How the body of the message written onward is framed. */
struct httpmsg_framing {
    int64_t content_length; /* >= 0: a Content-Length header with this value */
    int chunked;            /* 1: Transfer-Encoding: chunked */
    int close;              /* 1: Connection: close */
};

/*
 * Appends to |out| the request head "METHOD target HTTP/1.1", the headers of |m| that go
 * onward (httpmsg_dropped with |key|), the raw header lines |extra| (each ending in CRLF; may
 * be NULL), the framing headers and the blank line.
 */
void httpmsg_write_request(struct sbuf *out, const char *method, const struct httpmsg *m,
                           const char *key, const char *extra, const struct httpmsg_framing *f);

/*
 * Appends to |out| the response head "HTTP/1.1 status reason", the headers of |m| that go
 * onward (none of ringd's own: the caller's are in |extra|, may be NULL), the framing headers
 * and the blank line.
 */
void httpmsg_write_response(struct sbuf *out, int status, const struct httpmsg *m,
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
