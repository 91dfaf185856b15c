/*
 * httpc: a blocking HTTP/1.1 client for the tests, on raw sockets, so a test writes exactly the
 * bytes it means (pipelined requests, chunked bodies, Expect: 100-continue, HTTP/1.0) and reads
 * responses one by one in order with Node's http_parser.
 *
 *   struct httpc *h = httpc_connect(port);
 *   httpc_send_str(h, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
 *   struct httpc_resp r;
 *   httpc_read(h, &r, 2000);   // the first response
 *   httpc_read(h, &r, 2000);   // the second
 *   httpc_close(h);
 *
 * Interim responses (100 Continue) are read as responses of their own. Responses to HEAD are
 * not supported (the parser would wait for their body).
 */
#ifndef RING_TESTS_HTTPC_H
#define RING_TESTS_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#define HTTPC_HEADERS_MAX 32
#define HTTPC_HEAD_BYTES  8192
#define HTTPC_BODY_KEEP   (64u << 10) /* body bytes kept; all are counted and hashed */
#define HTTPC_READ_BYTES  (64u << 10)

struct httpc;

struct httpc_resp {
    int status;
    int chunked;    /* the body came with Transfer-Encoding: chunked */
    int keep_alive; /* the connection may carry another request */
    int headers;
    size_t name_off[HTTPC_HEADERS_MAX], value_off[HTTPC_HEADERS_MAX];
    char head[HTTPC_HEAD_BYTES]; /* the names and values, each NUL-terminated */
    size_t head_len;
    char body[HTTPC_BODY_KEEP + 1]; /* the first HTTPC_BODY_KEEP bytes, NUL-terminated */
    size_t body_len;
    uint64_t body_bytes; /* the whole body's length */
    uint64_t body_xxh64; /* XXH64, seed 0, of the whole body */
};

/* Connects to 127.0.0.1:|port|; NULL when it cannot. */
struct httpc *httpc_connect(int port);
/* Takes over |fd|, a TCP socket the caller connected (e.g. inside a network namespace,
 * tests/netns); closes it and returns NULL when out of memory. */
struct httpc *httpc_wrap(int fd);
void httpc_close(struct httpc *h);
int httpc_fd(const struct httpc *h);

/* Writes all of |data|. Returns 0 or a negative errno. */
int httpc_send(struct httpc *h, const void *data, size_t len);
int httpc_send_str(struct httpc *h, const char *s);

/* Reads the next complete response into |r|. Returns 0; -ETIMEDOUT when none completed within
 * |timeout_ms|; -ECONNRESET when the server closed first; -EPROTO for bytes that are not HTTP. */
int httpc_read(struct httpc *h, struct httpc_resp *r, int timeout_ms);

/* Returns 0 once the server has closed the connection with nothing more sent, -1 when bytes
 * came or nothing happened within |timeout_ms|. */
int httpc_wait_eof(struct httpc *h, int timeout_ms);

/* The value of header |name| (any case) in |r|, or NULL. */
const char *httpc_header(const struct httpc_resp *r, const char *name);

#endif
