/*
 * ring_testapp: the HTTP/1.1 app behind ringd's forwarding proxy in the tests and benchmarks.
 *
 *   ring_testapp --listen IP:PORT --id NAME [--key-header X-Ring-Key]
 *
 * One libuv loop, one thread. It prints "ready" on stdout once listening and exits 0 on
 * SIGTERM or SIGINT. Every response carries `X-App-Id: NAME`, and `X-Echo-Key: K` when the
 * request had the key header (value K), so a test sees which app answered and what key reached
 * it. Endpoints (by path, any method):
 *
 *   /sink            reads the body without echoing it; 200 {"bytes":N,"xxh64":"<16 hex>"}
 *                    (XXH64, seed 0, of the body), with Content-Length
 *   /gen?bytes=N     N bytes of the pattern byte[i] = i % 251, with Content-Length, or chunked
 *      [&chunked=1]  with chunked=1; streamed as the socket drains
 *   /sleep?ms=N      NAME\n after N ms (N <= SLEEP_MS_MAX)
 *   /count?id=X      the decimal count and "\n" of requests seen with `X-Request-Id: X`
 *   /close           NAME\n with `Connection: close`, then closes the connection
 *   /headers         the request's header lines as received, "name: value\n" each (up to
 *                    HEADERS_ECHO_BYTES_MAX bytes), with Content-Length
 *   /forge           503 with the headers only ringd may set (X-Ring-Owner: forged, twice in
 *                    two spellings, and X-Ring-Error: no_owner): what the proxy must not pass
 *                    on as its own
 *   /badhead         a response head with a bare LF inside a header line, hiding
 *                    "X-Ring-Owner: n9" in it from a reader that keeps to CRLF lines
 *   /extra?ms=N      NAME\n, then an unsolicited second response (X-App-Id: unsolicited, body
 *      [&bytes=M]    "unsolicited\n", or M pattern bytes), in the same write when N is 0, else
 *                    N ms later (the connection waits meanwhile)
 *   anything else    the request body echoed back, chunked, as it arrives; NAME\n with
 *                    Content-Length when the request had no body
 *
 * HTTP is Node's http_parser: keep-alive, pipelining, Content-Length and chunked bodies,
 * HTTP/1.0 (close unless keep-alive; echoes to a 1.0 client are delimited by the close, since
 * 1.0 has no chunked encoding), `Expect: 100-continue` (the interim 100 goes out when the
 * headers are parsed, before any body byte is read). Pipelined requests are answered in order:
 * a request whose response is not complete when its message ends (/sleep, a /gen larger than
 * the socket takes at once) pauses the parser, and the rest of the read buffer waits for it.
 *
 * Memory is bounded: each connection owns one read and one output buffer (no per-request
 * malloc; output goes out with uv_try_write first, and only what the socket did not take is
 * copied into a write request), bodies are streamed and never held whole, and reading stops
 * while more than WRITE_QUEUE_HIGH_BYTES wait to be written. Request ids for /count live in
 * a fixed table that forgets its oldest id when full; keys and ids longer than their buffers
 * are truncated.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>
#include <uv.h>
#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t by value, no malloc per /sink */
#include <xxhash.h>

#define READ_BYTES             (64u << 10)
#define OUT_BYTES              (32u << 10)
#define WRITE_QUEUE_HIGH_BYTES (256u << 10) /* a few socket buffers: keeps /gen streaming */
#define CONNS_MAX              1024         /* x ~100 KiB of buffers each */
#define LISTEN_BACKLOG         1024
#define URL_BYTES_MAX          2048
#define HEADER_NAME_BYTES_MAX  64
#define KEY_BYTES_MAX          512
#define REQUEST_ID_BYTES_MAX   128
#define EXPECT_BYTES_MAX       32
#define HEADERS_ECHO_BYTES_MAX 8192
#define SLEEP_MS_MAX           600000
#define IDS_MAX                8192  /* request ids /count remembers */
#define IDS_SLOTS              16384 /* power of two, twice IDS_MAX: short probe runs */
#define PATTERN_PERIOD         251   /* prime, so the pattern does not line up with buffers */
#define PATTERN_BYTES          (PATTERN_PERIOD * 128)

enum endpoint {
    EP_ECHO,
    EP_SINK,
    EP_GEN,
    EP_SLEEP,
    EP_COUNT,
    EP_CLOSE,
    EP_HEADERS,
    EP_FORGE,
    EP_BADHEAD,
    EP_EXTRA,
    EP_BAD,
};
enum header { H_OTHER, H_KEY, H_REQUEST_ID, H_EXPECT };
enum body_framing { BODY_LENGTH, BODY_CHUNKED, BODY_UNTIL_CLOSE };

struct id_entry {
    uint64_t hash;
    uint64_t count;
    size_t len;
    char id[REQUEST_ID_BYTES_MAX];
};

/* Request ids seen, for /count: open addressing over entries[], which are reused oldest
 * first once all IDS_MAX are taken. */
struct ids {
    struct id_entry entries[IDS_MAX];
    uint32_t slots[IDS_SLOTS]; /* entry index + 1; 0 = empty */
    uint32_t used;
    uint32_t oldest;
};

struct app {
    uv_loop_t *loop;
    uv_tcp_t server;
    uv_signal_t sigterm, sigint;
    const char *id;
    size_t id_len;
    const char *key_header;
    int conns;
    struct conn *conn_list;
    struct ids ids;
};

struct request {
    enum endpoint ep;
    char url[URL_BYTES_MAX];
    size_t url_len;
    int url_too_long;
    char hname[HEADER_NAME_BYTES_MAX];
    size_t hname_len;
    int in_value;
    enum header hcur;
    char key[KEY_BYTES_MAX];
    size_t key_len;
    int has_key;
    char rid[REQUEST_ID_BYTES_MAX];
    size_t rid_len;
    int has_rid;
    char expect[EXPECT_BYTES_MAX];
    size_t expect_len;
    int keep_alive;
    int echo; /* the body goes back as it arrives */
    int echo_chunked;
    uint64_t body_bytes;
    XXH64_state_t xxh;
    uint64_t gen_left, gen_off;
    int gen_chunked;
    int gen_active;
    uint64_t sleep_ms;
    uint64_t extra_bytes; /* /extra: the unsolicited body's length, 0 for "unsolicited\n" */
    char headers[HEADERS_ECHO_BYTES_MAX];
    size_t headers_len;
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    http_parser parser;
    struct app *app;
    struct conn *prev, *next;
    struct request req;
    int handles_open;
    int closed;   /* conn_close() called: handles closing */
    int shutting; /* uv_shutdown() queued: the last response is on its way */
    int waiting;  /* the current response is not complete: parsing paused */
    int done;     /* no more requests on this connection */
    int eof;
    int reading;
    size_t roff, rlen; /* unparsed bytes in rbuf */
    size_t olen;
    char rbuf[READ_BYTES];
    char obuf[OUT_BYTES];
};

struct wreq {
    uv_write_t req;
    struct conn *c;
    char data[]; /* what uv_try_write did not take */
};

static char pattern[PATTERN_BYTES + PATTERN_PERIOD];
static http_parser_settings settings;

static void conn_pump(struct conn *c);
static void conn_close(struct conn *c);

/* ---- request ids ---- */

static uint32_t ids_find(const struct ids *t, const char *id, size_t len, uint64_t h)
{
    uint32_t s = (uint32_t)h & (IDS_SLOTS - 1);
    while (t->slots[s] != 0) {
        const struct id_entry *e = &t->entries[t->slots[s] - 1];
        if (e->hash == h && e->len == len && memcmp(e->id, id, len) == 0) {
            return s;
        }
        s = (s + 1) & (IDS_SLOTS - 1);
    }
    return s;
}

/* Empties slot |s| and shifts later members of its probe run back (no tombstones). */
static void ids_unslot(struct ids *t, uint32_t s)
{
    uint32_t hole = s, j = s;
    t->slots[hole] = 0;
    for (;;) {
        j = (j + 1) & (IDS_SLOTS - 1);
        if (t->slots[j] == 0) {
            return;
        }
        uint32_t home = (uint32_t)t->entries[t->slots[j] - 1].hash & (IDS_SLOTS - 1);
        int stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            t->slots[hole] = t->slots[j];
            t->slots[j] = 0;
            hole = j;
        }
    }
}

static void ids_bump(struct ids *t, const char *id, size_t len)
{
    uint64_t h = XXH64(id, len, 0);
    uint32_t s = ids_find(t, id, len, h);
    if (t->slots[s] != 0) {
        t->entries[t->slots[s] - 1].count++;
        return;
    }
    uint32_t e;
    if (t->used < IDS_MAX) {
        e = t->used++;
    } else {
        e = t->oldest;
        t->oldest = (t->oldest + 1) % IDS_MAX;
        struct id_entry *old = &t->entries[e];
        ids_unslot(t, ids_find(t, old->id, old->len, old->hash));
        s = ids_find(t, id, len, h);
    }
    t->entries[e] = (struct id_entry){ .hash = h, .count = 1, .len = len };
    memcpy(t->entries[e].id, id, len);
    t->slots[s] = e + 1;
}

static uint64_t ids_count(const struct ids *t, const char *id, size_t len)
{
    uint32_t s = ids_find(t, id, len, XXH64(id, len, 0));
    return t->slots[s] != 0 ? t->entries[t->slots[s] - 1].count : 0;
}

/* ---- output: one buffer per connection, written with uv_try_write first ---- */

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct conn *c = w->c;
    free(w);
    if (c->closed) {
        return;
    }
    if (status < 0) {
        conn_close(c);
        return;
    }
    conn_pump(c);
}

static size_t write_queue_bytes(struct conn *c)
{
    return uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
}

static void out_flush(struct conn *c)
{
    if (c->olen == 0 || c->closed) {
        c->olen = 0;
        return;
    }
    size_t done = 0;
    uv_buf_t b = uv_buf_init(c->obuf, (unsigned)c->olen);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n > 0) {
        done = (size_t)n;
    } else if (n != UV_EAGAIN) {
        c->olen = 0;
        conn_close(c);
        return;
    }
    size_t left = c->olen - done;
    c->olen = 0;
    if (left == 0) {
        return;
    }
    struct wreq *w = malloc(sizeof(*w) + left);
    if (w == NULL) {
        conn_close(c);
        return;
    }
    w->c = c;
    memcpy(w->data, c->obuf + done, left);
    b = uv_buf_init(w->data, (unsigned)left);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        free(w);
        conn_close(c);
    }
}

static void out_write(struct conn *c, const void *p, size_t len)
{
    const char *s = p;
    while (len > 0) {
        size_t n = OUT_BYTES - c->olen < len ? OUT_BYTES - c->olen : len;
        memcpy(c->obuf + c->olen, s, n);
        c->olen += n;
        s += n;
        len -= n;
        if (c->olen == OUT_BYTES) {
            out_flush(c);
        }
    }
}

static void out_str(struct conn *c, const char *s)
{
    out_write(c, s, strlen(s));
}

static void out_u64(struct conn *c, uint64_t v, int hex)
{
    char d[24];
    int i = sizeof(d);
    do {
        d[--i] = "0123456789abcdef"[v % (hex ? 16 : 10)];
        v /= hex ? 16 : 10;
    } while (v != 0);
    out_write(c, d + i, sizeof(d) - (size_t)i);
}

/* The status line and headers, with the raw header lines |extra| (each ending in CRLF, may be
 * NULL); |length| is used with BODY_LENGTH. */
static void out_head_extra(struct conn *c, const char *status, const char *extra,
                           enum body_framing f, uint64_t length)
{
    struct request *r = &c->req;
    if (f == BODY_UNTIL_CLOSE) {
        r->keep_alive = 0;
    }
    out_str(c, "HTTP/1.1 ");
    out_str(c, status);
    out_str(c, "\r\n");
    if (extra != NULL) {
        out_str(c, extra);
    }
    out_str(c, "X-App-Id: ");
    out_write(c, c->app->id, c->app->id_len);
    if (r->has_key) {
        out_str(c, "\r\nX-Echo-Key: ");
        out_write(c, r->key, r->key_len);
    }
    if (f == BODY_LENGTH) {
        out_str(c, "\r\nContent-Length: ");
        out_u64(c, length, 0);
    } else if (f == BODY_CHUNKED) {
        out_str(c, "\r\nTransfer-Encoding: chunked");
    }
    if (!r->keep_alive) {
        out_str(c, "\r\nConnection: close");
    } else if (c->parser.http_major == 1 && c->parser.http_minor == 0) {
        out_str(c, "\r\nConnection: keep-alive");
    }
    out_str(c, "\r\n\r\n");
}

static void out_head(struct conn *c, const char *status, enum body_framing f, uint64_t length)
{
    out_head_extra(c, status, NULL, f, length);
}

static void out_chunk_head(struct conn *c, size_t len)
{
    out_u64(c, len, 1);
    out_str(c, "\r\n");
}

/* A complete response whose body is |body|. */
static void out_simple(struct conn *c, const char *status, const char *body, size_t len)
{
    out_head(c, status, BODY_LENGTH, len);
    if (c->parser.method != HTTP_HEAD) {
        out_write(c, body, len);
    }
}

static void out_name(struct conn *c)
{
    char body[256];
    size_t n = c->app->id_len < sizeof(body) - 1 ? c->app->id_len : sizeof(body) - 1;
    memcpy(body, c->app->id, n);
    body[n++] = '\n';
    out_simple(c, "200 OK", body, n);
}

/* ---- requests ---- */

/* The value of |name| in the query string |q| (|qlen| bytes), or NULL. */
static const char *query_get(const char *q, size_t qlen, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name), i = 0;
    while (i < qlen) {
        size_t end = i;
        while (end < qlen && q[end] != '&') {
            end++;
        }
        if (end - i > nlen && memcmp(q + i, name, nlen) == 0 && q[i + nlen] == '=') {
            *vlen = end - i - nlen - 1;
            return q + i + nlen + 1;
        }
        i = end + 1;
    }
    return NULL;
}

/* A decimal query value no larger than |max|, or -1. */
static int query_u64(const char *q, size_t qlen, const char *name, uint64_t max, uint64_t *out)
{
    size_t vlen;
    const char *v = query_get(q, qlen, name, &vlen);
    if (v == NULL || vlen == 0 || vlen > 19) {
        return -1;
    }
    uint64_t x = 0;
    for (size_t i = 0; i < vlen; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return -1;
        }
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return x <= max ? 0 : -1;
}

static enum endpoint route(struct request *r)
{
    const char *q = memchr(r->url, '?', r->url_len);
    size_t plen = q != NULL ? (size_t)(q - r->url) : r->url_len;
    size_t qlen = q != NULL ? r->url_len - plen - 1 : 0;
    q = q != NULL ? q + 1 : "";
#define PATH_IS(s) (plen == sizeof(s) - 1 && memcmp(r->url, s, plen) == 0)
    if (PATH_IS("/sink")) {
        return EP_SINK;
    }
    if (PATH_IS("/gen")) {
        size_t vlen;
        const char *ch = query_get(q, qlen, "chunked", &vlen);
        r->gen_chunked = ch != NULL && vlen == 1 && ch[0] == '1';
        return query_u64(q, qlen, "bytes", UINT64_MAX / 2, &r->gen_left) == 0 ? EP_GEN : EP_BAD;
    }
    if (PATH_IS("/sleep")) {
        return query_u64(q, qlen, "ms", SLEEP_MS_MAX, &r->sleep_ms) == 0 ? EP_SLEEP : EP_BAD;
    }
    if (PATH_IS("/count")) {
        size_t vlen;
        return query_get(q, qlen, "id", &vlen) != NULL ? EP_COUNT : EP_BAD;
    }
    if (PATH_IS("/close")) {
        return EP_CLOSE;
    }
    if (PATH_IS("/headers")) {
        return EP_HEADERS;
    }
    if (PATH_IS("/forge")) {
        return EP_FORGE;
    }
    if (PATH_IS("/badhead")) {
        return EP_BADHEAD;
    }
    if (PATH_IS("/extra")) {
        size_t vlen;
        r->extra_bytes = 0;
        if (query_get(q, qlen, "bytes", &vlen) != NULL &&
            query_u64(q, qlen, "bytes", 1u << 20, &r->extra_bytes) != 0) {
            return EP_BAD;
        }
        return query_u64(q, qlen, "ms", SLEEP_MS_MAX, &r->sleep_ms) == 0 ? EP_EXTRA : EP_BAD;
    }
#undef PATH_IS
    return EP_ECHO;
}

static int on_message_begin(http_parser *p)
{
    struct request *r = &((struct conn *)p->data)->req;
    /* Only the small fields: the buffers are written before they are read. */
    r->url_len = r->hname_len = r->key_len = r->rid_len = r->expect_len = r->headers_len = 0;
    r->url_too_long = r->in_value = r->has_key = r->has_rid = r->echo = r->gen_active = 0;
    r->hcur = H_OTHER;
    r->body_bytes = 0;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct request *r = &((struct conn *)p->data)->req;
    if (len > URL_BYTES_MAX - r->url_len) {
        r->url_too_long = 1;
        len = URL_BYTES_MAX - r->url_len;
    }
    memcpy(r->url + r->url_len, at, len);
    r->url_len += len;
    return 0;
}

static void append(char *buf, size_t cap, size_t *len, const char *at, size_t n)
{
    n = n < cap - *len ? n : cap - *len;
    memcpy(buf + *len, at, n);
    *len += n;
}

/* For /headers: every header line as it came, "name: value\n". */
static void headers_add(struct request *r, const char *at, size_t len)
{
    append(r->headers, HEADERS_ECHO_BYTES_MAX, &r->headers_len, at, len);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    struct request *r = &c->req;
    if (r->in_value) {
        r->in_value = 0;
        r->hname_len = 0;
        headers_add(r, "\n", 1);
    }
    headers_add(r, at, len);
    /* A name longer than the buffer is no name we look for: keep it too long to match. */
    if (len > HEADER_NAME_BYTES_MAX - r->hname_len) {
        r->hname_len = HEADER_NAME_BYTES_MAX;
        return 0;
    }
    memcpy(r->hname + r->hname_len, at, len);
    r->hname_len += len;
    return 0;
}

static int name_is(const struct request *r, const char *name)
{
    return r->hname_len == strlen(name) && strncasecmp(r->hname, name, r->hname_len) == 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    struct request *r = &c->req;
    if (!r->in_value) {
        r->in_value = 1;
        headers_add(r, ": ", 2);
        r->hcur = name_is(r, c->app->key_header) ? H_KEY
                  : name_is(r, "X-Request-Id")   ? H_REQUEST_ID
                  : name_is(r, "Expect")         ? H_EXPECT
                                                 : H_OTHER;
        if (r->hcur == H_KEY) {
            r->has_key = 1;
            r->key_len = 0;
        } else if (r->hcur == H_REQUEST_ID) {
            r->has_rid = 1;
            r->rid_len = 0;
        }
    }
    headers_add(r, at, len);
    if (r->hcur == H_KEY) {
        append(r->key, KEY_BYTES_MAX, &r->key_len, at, len);
    } else if (r->hcur == H_REQUEST_ID) {
        append(r->rid, REQUEST_ID_BYTES_MAX, &r->rid_len, at, len);
    } else if (r->hcur == H_EXPECT) {
        append(r->expect, EXPECT_BYTES_MAX, &r->expect_len, at, len);
    }
    return 0;
}

static int has_body(const http_parser *p)
{
    return (p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0);
}

static int on_headers_complete(http_parser *p)
{
    struct conn *c = p->data;
    struct request *r = &c->req;
    if (r->has_rid) {
        ids_bump(&c->app->ids, r->rid, r->rid_len);
    }
    if (r->in_value) {
        headers_add(r, "\n", 1);
    }
    r->keep_alive = http_should_keep_alive(p);
    r->ep = r->url_too_long ? EP_BAD : route(r);
    int http11 = p->http_major == 1 && p->http_minor >= 1;
    if (http11 && has_body(p) && r->expect_len == 12 &&
        strncasecmp(r->expect, "100-continue", 12) == 0) {
        out_str(c, "HTTP/1.1 100 Continue\r\n\r\n");
    }
    if (r->ep == EP_ECHO && has_body(p)) {
        r->echo = 1;
        r->echo_chunked = http11;
        out_head(c, "200 OK", http11 ? BODY_CHUNKED : BODY_UNTIL_CLOSE, 0);
    } else if (r->ep == EP_SINK) {
        XXH64_reset(&r->xxh, 0);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    struct request *r = &c->req;
    r->body_bytes += len;
    if (r->echo) {
        if (r->echo_chunked) {
            out_chunk_head(c, len);
        }
        out_write(c, at, len);
        if (r->echo_chunked) {
            out_str(c, "\r\n");
        }
    } else if (r->ep == EP_SINK) {
        XXH64_update(&r->xxh, at, len);
    }
    return 0;
}

/* The current response is complete (queued): the next request may be parsed, or the
 * connection ends. */
static void response_done(struct conn *c)
{
    c->waiting = 0;
    if (!c->req.keep_alive) {
        c->done = 1;
    }
}

/* Writes /gen's body while the socket drains; returns 1 once all of it is queued. */
static int gen_pump(struct conn *c)
{
    struct request *r = &c->req;
    while (r->gen_left > 0 && !c->closed && write_queue_bytes(c) < WRITE_QUEUE_HIGH_BYTES) {
        size_t n = r->gen_left < PATTERN_BYTES ? (size_t)r->gen_left : PATTERN_BYTES;
        if (r->gen_chunked) {
            out_chunk_head(c, n);
        }
        out_write(c, pattern + r->gen_off % PATTERN_PERIOD, n);
        if (r->gen_chunked) {
            out_str(c, "\r\n");
        }
        r->gen_off += n;
        r->gen_left -= n;
        out_flush(c);
    }
    if (r->gen_left > 0) {
        return 0;
    }
    if (r->gen_chunked) {
        out_str(c, "0\r\n\r\n");
    }
    r->gen_active = 0;
    return 1;
}

static void on_sleep_done(uv_timer_t *t)
{
    struct conn *c = t->data;
    out_name(c);
    response_done(c);
    conn_pump(c);
}

/* What /extra sends when nobody asked: a whole response, as a confused app would. */
static void out_unsolicited(struct conn *c)
{
    uint64_t left = c->req.extra_bytes;
    if (left == 0) {
        out_str(c, "HTTP/1.1 200 OK\r\nX-App-Id: unsolicited\r\nContent-Length: 12\r\n\r\n"
                   "unsolicited\n");
        return;
    }
    out_str(c, "HTTP/1.1 200 OK\r\nX-App-Id: unsolicited\r\nContent-Length: ");
    out_u64(c, left, 0);
    out_str(c, "\r\n\r\n");
    for (uint64_t off = 0; left > 0;) {
        size_t n = left < PATTERN_BYTES ? (size_t)left : PATTERN_BYTES;
        out_write(c, pattern + off % PATTERN_PERIOD, n);
        off += n;
        left -= n;
    }
}

static void on_extra_due(uv_timer_t *t)
{
    struct conn *c = t->data;
    out_unsolicited(c);
    response_done(c);
    conn_pump(c);
}

static void message_complete_count(struct conn *c)
{
    struct request *r = &c->req;
    /* route() found "?...id=" in the URL. */
    const char *q = memchr(r->url, '?', r->url_len);
    size_t qlen = q != NULL ? r->url_len - (size_t)(q - r->url) - 1 : 0, vlen = 0;
    const char *v = q != NULL ? query_get(q + 1, qlen, "id", &vlen) : NULL;
    uint64_t count = v != NULL ? ids_count(&c->app->ids, v, vlen) : 0;
    char body[32];
    int n = snprintf(body, sizeof(body), "%llu\n", (unsigned long long)count);
    out_simple(c, "200 OK", body, (size_t)n);
}

static int on_message_complete(http_parser *p)
{
    struct conn *c = p->data;
    struct request *r = &c->req;
    char body[96];
    int n;
    switch (r->ep) {
    case EP_ECHO:
        if (r->echo && r->echo_chunked) {
            out_str(c, "0\r\n\r\n");
        } else if (!r->echo) {
            out_name(c);
        }
        break;
    case EP_SINK:
        n = snprintf(body, sizeof(body), "{\"bytes\":%llu,\"xxh64\":\"%016llx\"}",
                     (unsigned long long)r->body_bytes, (unsigned long long)XXH64_digest(&r->xxh));
        out_simple(c, "200 OK", body, (size_t)n);
        break;
    case EP_COUNT:
        message_complete_count(c);
        break;
    case EP_CLOSE:
        r->keep_alive = 0;
        out_name(c);
        break;
    case EP_HEADERS:
        out_simple(c, "200 OK", r->headers, r->headers_len);
        break;
    case EP_FORGE:
        out_head_extra(c, "503 Service Unavailable",
                       "X-Ring-Owner: forged\r\nX-Ring-Error: no_owner\r\n"
                       "x-ring-owner: forged-too\r\n",
                       BODY_LENGTH, 7);
        out_write(c, "forged\n", 7);
        break;
    case EP_BADHEAD:
        out_head_extra(c, "200 OK", "X-A: a\nX-Ring-Owner: n9\r\n", BODY_LENGTH, 0);
        break;
    case EP_EXTRA:
        out_name(c);
        if (r->sleep_ms == 0) {
            out_unsolicited(c);
        } else {
            /* the first answer goes now (conn_pump flushes it), the second when due */
            c->waiting = 1;
            uv_timer_start(&c->timer, on_extra_due, r->sleep_ms, 0);
        }
        break;
    case EP_BAD:
        r->keep_alive = 0;
        out_simple(c, r->url_too_long ? "414 URI Too Long" : "400 Bad Request", "bad query\n", 10);
        break;
    case EP_SLEEP:
        c->waiting = 1;
        uv_timer_start(&c->timer, on_sleep_done, r->sleep_ms, 0);
        break;
    case EP_GEN:
        if (p->method == HTTP_HEAD) {
            r->gen_chunked = 0;
        }
        out_head(c, "200 OK", r->gen_chunked ? BODY_CHUNKED : BODY_LENGTH, r->gen_left);
        if (p->method == HTTP_HEAD) {
            r->gen_left = 0;
        }
        r->gen_off = 0;
        r->gen_active = 1;
        c->waiting = !gen_pump(c);
        break;
    }
    if (!c->waiting) {
        response_done(c);
    }
    if (c->waiting || c->done) {
        http_parser_pause(p, 1);
    }
    return 0;
}

/* ---- connections ---- */

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->handles_open == 0) {
        free(c);
    }
}

static void conn_close(struct conn *c)
{
    if (c->closed) {
        return;
    }
    c->closed = 1;
    struct app *a = c->app;
    a->conns--;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        a->conn_list = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    conn_close(req->data);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    /* conn_pump() reads only when every byte read before is parsed. */
    *buf = uv_buf_init(c->rbuf, READ_BYTES);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (nread == UV_EOF) {
        c->eof = 1;
    } else if (nread < 0) {
        conn_close(c);
        return;
    } else {
        c->roff = 0;
        c->rlen = (size_t)nread;
    }
    conn_pump(c);
}

static void bad_request(struct conn *c)
{
    /* A response started (an echo) cannot be followed by a 400: the close says it. */
    if (c->req.echo || c->req.gen_active) {
        conn_close(c);
        return;
    }
    c->req.keep_alive = 0;
    c->req.has_key = 0;
    out_simple(c, "400 Bad Request", "bad request\n", 12);
    c->done = 1;
}

static void parse_buffered(struct conn *c)
{
    while (c->rlen > 0 && !c->waiting && !c->done && !c->closed) {
        size_t n = http_parser_execute(&c->parser, &settings, c->rbuf + c->roff, c->rlen);
        c->roff += n;
        c->rlen -= n;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
        } else if (e != HPE_OK) {
            bad_request(c);
        } else if (c->parser.upgrade) {
            c->done = 1; /* no other protocol here: answered as HTTP, then closed */
        }
    }
}

/* Moves the connection on: finishes a streaming response, parses what is buffered, writes,
 * and reads more only when all of that is done and the socket has drained enough. */
static void conn_pump(struct conn *c)
{
    if (c->closed) {
        return;
    }
    if (c->req.gen_active && gen_pump(c)) {
        response_done(c);
    }
    parse_buffered(c);
    out_flush(c);
    if (c->closed) {
        return;
    }
    if (c->done || (c->eof && c->rlen == 0 && !c->waiting)) {
        if (!c->shutting) {
            c->shutting = 1;
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->shutdown.data = c;
            if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
                conn_close(c);
            }
        }
        return;
    }
    int want =
        c->rlen == 0 && !c->waiting && !c->eof && write_queue_bytes(c) < WRITE_QUEUE_HIGH_BYTES;
    if (want && !c->reading) {
        c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

static void on_refused_closed(uv_handle_t *h)
{
    free(h);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct app *a = server->data;
    if (status < 0) {
        return;
    }
    struct conn *c = a->conns < CONNS_MAX ? malloc(sizeof(*c)) : NULL;
    if (c == NULL) {
        /* Over the limit: accept and close at once, so the client is not left waiting. */
        uv_tcp_t *refused = malloc(sizeof(*refused));
        if (refused != NULL) {
            uv_tcp_init(a->loop, refused);
            uv_accept(server, (uv_stream_t *)refused);
            uv_close((uv_handle_t *)refused, on_refused_closed);
        }
        return;
    }
    memset(c, 0, offsetof(struct conn, rbuf));
    c->app = a;
    uv_tcp_init(a->loop, &c->tcp);
    uv_timer_init(a->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles_open = 2;
    a->conns++;
    c->next = a->conn_list;
    if (c->next != NULL) {
        c->next->prev = c;
    }
    a->conn_list = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    conn_pump(c);
}

/* ---- main ---- */

static void on_signal(uv_signal_t *s, int signum)
{
    struct app *a = s->data;
    uv_close((uv_handle_t *)&a->server, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    while (a->conn_list != NULL) {
        conn_close(a->conn_list);
    }
}

static int parse_listen(const char *s, struct sockaddr_storage *ss)
{
    const char *colon = strrchr(s, ':');
    char host[64];
    if (colon == NULL || (size_t)(colon - s) >= sizeof(host)) {
        return -1;
    }
    int port = atoi(colon + 1);
    size_t hlen = (size_t)(colon - s);
    if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
        memcpy(host, s + 1, hlen - 2);
        host[hlen - 2] = '\0';
        return uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss);
    }
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    return uv_ip4_addr(host, port, (struct sockaddr_in *)ss);
}

static int usage(void)
{
    fprintf(stderr, "usage: ring_testapp --listen IP:PORT --id NAME [--key-header NAME]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static struct app a;
    const char *listen = NULL;
    a.key_header = "X-Ring-Key";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--listen") == 0) {
            listen = argv[i + 1];
        } else if (strcmp(argv[i], "--id") == 0) {
            a.id = argv[i + 1];
        } else if (strcmp(argv[i], "--key-header") == 0) {
            a.key_header = argv[i + 1];
        } else {
            return usage();
        }
    }
    struct sockaddr_storage ss;
    if (argc % 2 != 1 || listen == NULL || a.id == NULL || strlen(a.id) > 200 ||
        parse_listen(listen, &ss) != 0) {
        return usage();
    }
    a.id_len = strlen(a.id);
    for (size_t i = 0; i < sizeof(pattern); i++) {
        pattern[i] = (char)(i % PATTERN_PERIOD);
    }
    settings = (http_parser_settings){ .on_message_begin = on_message_begin,
                                       .on_url = on_url,
                                       .on_header_field = on_header_field,
                                       .on_header_value = on_header_value,
                                       .on_headers_complete = on_headers_complete,
                                       .on_body = on_body,
                                       .on_message_complete = on_message_complete };
    signal(SIGPIPE, SIG_IGN);
    a.loop = uv_default_loop();
    uv_tcp_init(a.loop, &a.server);
    a.server.data = a.sigterm.data = a.sigint.data = &a;
    int rv = uv_tcp_bind(&a.server, (const struct sockaddr *)&ss, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&a.server, LISTEN_BACKLOG, on_connection);
    }
    if (rv != 0) {
        fprintf(stderr, "ring_testapp: cannot listen on %s: %s\n", listen, uv_strerror(rv));
        return 1;
    }
    uv_signal_init(a.loop, &a.sigterm);
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    uv_signal_init(a.loop, &a.sigint);
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    printf("ready\n");
    fflush(stdout);
    uv_run(a.loop, UV_RUN_DEFAULT);
    return uv_loop_close(a.loop) == 0 ? 0 : 1;
}
