/* httpc: see httpc.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "httpc.h"

struct httpc {
    int fd;
    http_parser parser;
    struct httpc_resp *cur;
    XXH64_state_t xxh;
    int in_value;
    int complete;
    int eof;
    size_t off, len;
    char buf[HTTPC_READ_BYTES];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* r->head holds NUL-terminated names and values back to back; head[0] is the empty string
 * (the value of a header sent with none), so every offset points at a string. */
static void head_add(struct httpc_resp *r, const char *at, size_t len)
{
    size_t room = HTTPC_HEAD_BYTES - 1 - r->head_len;
    len = len < room ? len : room;
    memcpy(r->head + r->head_len, at, len);
    r->head_len += len;
    r->head[r->head_len] = '\0';
}

/* Ends the string being added (steps past its NUL). */
static void head_finish(struct httpc_resp *r)
{
    if (r->head_len < HTTPC_HEAD_BYTES - 1) {
        r->head_len++;
    }
}

static int on_message_begin(http_parser *p)
{
    struct httpc *h = p->data;
    struct httpc_resp *r = h->cur;
    r->status = r->chunked = r->keep_alive = r->headers = 0;
    r->head[0] = '\0';
    r->head_len = 1;
    r->body_len = 0;
    r->body_bytes = 0;
    r->body[0] = '\0';
    h->in_value = -1;
    XXH64_reset(&h->xxh, 0);
    return 0;
}

/* Headers past HTTPC_HEADERS_MAX are dropped. */
static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct httpc *h = p->data;
    struct httpc_resp *r = h->cur;
    if (h->in_value != 0) {
        if (h->in_value == 1) {
            head_finish(r);
        }
        if (r->headers == HTTPC_HEADERS_MAX) {
            h->in_value = 2; /* dropping this one */
            return 0;
        }
        r->name_off[r->headers] = r->head_len;
        r->value_off[r->headers] = 0;
        r->headers++;
        r->head[r->head_len] = '\0';
        h->in_value = 0;
    }
    if (h->in_value == 0) {
        head_add(r, at, len);
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct httpc *h = p->data;
    struct httpc_resp *r = h->cur;
    if (h->in_value == 2) {
        return 0;
    }
    if (h->in_value == 0) {
        head_finish(r);
        r->value_off[r->headers - 1] = r->head_len;
        r->head[r->head_len] = '\0';
        h->in_value = 1;
    }
    head_add(r, at, len);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct httpc *h = p->data;
    if (h->in_value == 0 || h->in_value == 1) {
        head_finish(h->cur);
    }
    h->cur->status = (int)p->status_code;
    h->cur->chunked = (p->flags & F_CHUNKED) != 0;
    h->cur->keep_alive = http_should_keep_alive(p);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct httpc *h = p->data;
    struct httpc_resp *r = h->cur;
    size_t keep = HTTPC_BODY_KEEP - r->body_len < len ? HTTPC_BODY_KEEP - r->body_len : len;
    memcpy(r->body + r->body_len, at, keep);
    r->body_len += keep;
    r->body[r->body_len] = '\0';
    r->body_bytes += len;
    XXH64_update(&h->xxh, at, len);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct httpc *h = p->data;
    h->cur->body_xxh64 = XXH64_digest(&h->xxh);
    h->complete = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

struct httpc *httpc_connect(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return NULL;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return NULL;
    }
    return httpc_wrap(fd);
}

struct httpc *httpc_wrap(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct httpc *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        close(fd);
        return NULL;
    }
    h->fd = fd;
    http_parser_init(&h->parser, HTTP_RESPONSE);
    h->parser.data = h;
    return h;
}

void httpc_close(struct httpc *h)
{
    if (h != NULL) {
        close(h->fd);
        free(h);
    }
}

int httpc_fd(const struct httpc *h)
{
    return h->fd;
}

int httpc_send(struct httpc *h, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(h->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int httpc_send_str(struct httpc *h, const char *s)
{
    return httpc_send(h, s, strlen(s));
}

/* Parses buffered bytes (or the end of the stream when |at_eof|) until a response completes. */
static int parse(struct httpc *h, int at_eof)
{
    size_t n = http_parser_execute(&h->parser, &settings, at_eof ? NULL : h->buf + h->off,
                                   at_eof ? 0 : h->len);
    if (!at_eof) {
        h->off += n;
        h->len -= n;
    }
    enum http_errno e = HTTP_PARSER_ERRNO(&h->parser);
    if (e == HPE_PAUSED) {
        http_parser_pause(&h->parser, 0);
    } else if (e != HPE_OK) {
        return -EPROTO;
    }
    return 0;
}

/* Waits up to |deadline| for bytes; returns what read() did, or -ETIMEDOUT. */
static ssize_t read_some(struct httpc *h, int64_t deadline)
{
    struct pollfd pfd = { .fd = h->fd, .events = POLLIN };
    int64_t left = deadline - now_ms();
    if (left < 0 || poll(&pfd, 1, (int)left) <= 0) {
        return -ETIMEDOUT;
    }
    ssize_t n = read(h->fd, h->buf, sizeof(h->buf));
    return n < 0 ? -errno : n;
}

int httpc_read(struct httpc *h, struct httpc_resp *r, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    h->cur = r;
    h->complete = 0;
    for (;;) {
        if (h->len > 0) {
            int rv = parse(h, 0);
            if (rv != 0 || h->complete) {
                return rv;
            }
            continue;
        }
        if (h->eof) {
            return -ECONNRESET;
        }
        ssize_t n = read_some(h, deadline);
        if (n == -ETIMEDOUT) {
            return -ETIMEDOUT;
        }
        if (n <= 0) {
            /* The end of the stream completes a body delimited by the close. */
            h->eof = 1;
            int rv = parse(h, 1);
            if (rv != 0 || h->complete) {
                return rv;
            }
            return -ECONNRESET;
        }
        h->off = 0;
        h->len = (size_t)n;
    }
}

int httpc_wait_eof(struct httpc *h, int timeout_ms)
{
    if (h->len > 0) {
        return -1;
    }
    if (h->eof) {
        return 0;
    }
    ssize_t n = read_some(h, now_ms() + timeout_ms);
    if (n == 0 || n == -ECONNRESET) {
        h->eof = 1;
        return 0;
    }
    if (n > 0) {
        h->off = 0;
        h->len = (size_t)n;
    }
    return -1;
}

const char *httpc_header(const struct httpc_resp *r, const char *name)
{
    for (int i = 0; i < r->headers; i++) {
        if (strcasecmp(r->head + r->name_off[i], name) == 0) {
            return r->head + r->value_off[i];
        }
    }
    return NULL;
}
