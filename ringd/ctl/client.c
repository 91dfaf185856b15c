/* client: see client.h. Blocking sockets with poll() for timeouts; libring's rpc reader and
 * writers do the framing, exactly as on the server side. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "client.h"
#include "err.h"
#include "ring/codec.h"
#include "ring/session.h"

struct ringc {
    int fd;
    uint32_t next_msgid;
    struct rpc_reader *reader;
    struct rpc_buf out;
    msgpack_unpacked unpacked;
    int error; /* the last error answer's code as a negative errno (ringd_err_from_ring()) */
    char error_code[RPC_ERROR_CODE_BYTES_MAX + 1];
    char error_message[RPC_STR_BYTES_MAX + 1];
};

static const char *why(int err)
{
    switch (err) {
    case ENOENT:
        return "no such file";
    case ECONNREFUSED:
        return "connection refused (a stale socket?)";
    case EACCES:
        return "permission denied";
    default:
        return strerror(err);
    }
}

int ringc_connect(struct ringc **out, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path too long: %s", path);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    struct ringc *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct rpc_reader_config rc = { .message_bytes_max = RPC_MESSAGE_BYTES_LIMIT };
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot reach ringd at %s: %s; is ringd running? see --socket", path,
                 why(e));
        if (c->fd >= 0) {
            close(c->fd);
        }
        free(c);
        return -e;
    }
    if (rpc_reader_new(&c->reader, &rc, NULL) != 0) {
        close(c->fd);
        free(c);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rpc_buf_init(&c->out, NULL, 0);
    msgpack_unpacked_init(&c->unpacked);
    c->next_msgid = 1;
    *out = c;
    return 0;
}

void ringc_close(struct ringc *c)
{
    if (c == NULL) {
        return;
    }
    close(c->fd);
    rpc_reader_del(c->reader);
    rpc_buf_free(&c->out);
    msgpack_unpacked_destroy(&c->unpacked);
    free(c);
}

int ringc_fd(const struct ringc *c)
{
    return c->fd;
}

static int pack_params(msgpack_packer *pk, const char *fmt, va_list ap)
{
    for (const char *f = fmt; *f != '\0'; f++) {
        if (*f == 's') {
            const char *s = va_arg(ap, const char *);
            msgpack_pack_str_with_body(pk, s, strlen(s));
        } else if (*f == 'b') {
            const void *p = va_arg(ap, const void *);
            size_t len = va_arg(ap, size_t);
            msgpack_pack_bin_with_body(pk, p, len);
        } else if (*f == 'u') {
            msgpack_pack_uint64(pk, va_arg(ap, uint64_t));
        } else if (*f == 'l') {
            const char *const *list = va_arg(ap, const char *const *);
            size_t n = va_arg(ap, size_t);
            msgpack_pack_array(pk, n);
            for (size_t i = 0; i < n; i++) {
                msgpack_pack_str_with_body(pk, list[i], strlen(list[i]));
            }
        } else {
            return -EINVAL;
        }
    }
    return 0;
}

static int send_v(struct ringc *c, uint32_t *msgid, const char *method, const char *fmt, va_list ap)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c->out, rpc_buf_write);
    size_t mark = c->out.len;
    uint32_t id = c->next_msgid++;
    int rv = ringd_err_from_ring(
        rpc_pack_request_begin(&pk, id, method, strlen(method), (uint32_t)strlen(fmt)));
    if (rv == 0) {
        rv = pack_params(&pk, fmt, ap);
    }
    if (rv == 0 && c->out.error != 0) {
        rv = ringd_err_from_ring(c->out.error);
    }
    if (rv != 0) {
        rpc_buf_truncate(&c->out, mark);
        return rv == -ENOMEM ? -ENOMEM : -EINVAL;
    }
    if (msgid != NULL) {
        *msgid = id;
    }
    return 0;
}

int ringc_send(struct ringc *c, uint32_t *msgid, const char *method, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rv = send_v(c, msgid, method, fmt, ap);
    va_end(ap);
    return rv;
}

int ringc_send_raw(struct ringc *c, const void *data, size_t len)
{
    return rpc_buf_write(&c->out, data, len) == 0 ? 0 : -ENOMEM;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
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

int ringc_flush(struct ringc *c)
{
    int rv = write_all(c->fd, c->out.data, c->out.len);
    rpc_buf_truncate(&c->out, 0);
    return rv;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for |fd| to be readable (|events|) until |deadline| (-1: forever). */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int t = deadline < 0 ? -1 : (int)(deadline > now_ms() ? deadline - now_ms() : 0);
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, t);
        if (n > 0) {
            return 0;
        }
        if (n == 0) {
            return -ETIMEDOUT;
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

int ringc_read(struct ringc *c, struct rpc_msg *msg, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    for (;;) {
        int rv = rpc_reader_next(c->reader, msg);
        int action = rpc_server_action(rv, msg);
        if (action == RPC_ACTION_CALL || action == RPC_ACTION_REJECT) {
            /* A request from ringd, which sends none: a client answers nothing, so it must
             * not stay in flight (after inflight_max of them the reader would hand out
             * nothing more). The caller skips it as it skips notifications. */
            rpc_reader_answered(c->reader);
        }
        if (rv == 1) {
            return 0;
        }
        if (rv < 0) {
            return rpc_error_is_fatal(rv) ? -EPROTO : -EBADMSG;
        }
        rv = wait_fd(c->fd, POLLIN, deadline);
        if (rv != 0) {
            return rv;
        }
        void *buf;
        size_t len;
        if (rpc_reader_buf(c->reader, &buf, &len) != 0) {
            return -ENOMEM;
        }
        ssize_t n = recv(c->fd, buf, len, 0);
        if (n == 0) {
            return -ECONNRESET;
        }
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
        rpc_reader_commit(c->reader, n > 0 ? (size_t)n : 0);
    }
}

int ringc_unpack(struct ringc *c, const struct rpc_msg *msg, const msgpack_object **out)
{
    const char *p = msg->kind == RPC_RESPONSE ? msg->result.ptr : msg->raw.ptr;
    size_t len = msg->kind == RPC_RESPONSE ? msg->result.len : msg->raw.len;
    if (msgpack_unpack_next(&c->unpacked, p, len, NULL) != MSGPACK_UNPACK_SUCCESS) {
        return -EPROTO;
    }
    const msgpack_object *o = &c->unpacked.data;
    if (msg->kind == RPC_NOTIFICATION) {
        /* [2, method, params]: hand out the params. */
        if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3) {
            return -EPROTO;
        }
        o = &o->via.array.ptr[2];
    }
    *out = o;
    return 0;
}

static void copy_bytes(char *dst, size_t cap, const struct rpc_bytes *b)
{
    size_t n = b->len < cap - 1 ? b->len : cap - 1;
    memcpy(dst, b->ptr != NULL ? b->ptr : "", n);
    dst[n] = '\0';
}

int ringc_call(struct ringc *c, const msgpack_object **result, int timeout_ms, const char *method,
               const char *fmt, ...)
{
    uint32_t id;
    va_list ap;
    va_start(ap, fmt);
    int rv = send_v(c, &id, method, fmt, ap);
    va_end(ap);
    if (rv == 0) {
        rv = ringc_flush(c);
    }
    c->error = 0;
    c->error_code[0] = '\0';
    c->error_message[0] = '\0';
    struct rpc_msg msg;
    while (rv == 0) {
        rv = ringc_read(c, &msg, timeout_ms);
        if (rv == -EBADMSG) {
            rv = 0;
            continue;
        }
        if (rv != 0 || msg.kind != RPC_RESPONSE || msg.msgid != id) {
            continue;
        }
        if (msg.is_error) {
            c->error = ringd_err_from_ring(msg.error);
            copy_bytes(c->error_code, sizeof(c->error_code), &msg.error_code);
            copy_bytes(c->error_message, sizeof(c->error_message), &msg.error_message);
            return RINGC_ERESPONSE;
        }
        return ringc_unpack(c, &msg, result);
    }
    return rv;
}

int ringc_error(const struct ringc *c)
{
    return c->error;
}

const char *ringc_error_code(const struct ringc *c)
{
    return c->error_code;
}

const char *ringc_error_message(const struct ringc *c)
{
    return c->error_message;
}

const msgpack_object *ringc_get(const msgpack_object *o, const char *key)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_MAP) {
        return NULL;
    }
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
            memcmp(k->via.str.ptr, key, klen) == 0) {
            return &o->via.map.ptr[i].val;
        }
    }
    return NULL;
}

const msgpack_object *ringc_get_array(const msgpack_object *o, const char *key)
{
    const msgpack_object *v = ringc_get(o, key);
    return v != NULL && v->type == MSGPACK_OBJECT_ARRAY ? v : NULL;
}

int ringc_get_str(const msgpack_object *o, const char *key, char *buf, size_t cap)
{
    const msgpack_object *v = ringc_get(o, key);
    if (v == NULL || (v->type != MSGPACK_OBJECT_STR && v->type != MSGPACK_OBJECT_BIN) || cap == 0) {
        return -ENOENT;
    }
    size_t n = v->via.str.size < cap - 1 ? v->via.str.size : cap - 1;
    memcpy(buf, v->via.str.ptr, n);
    buf[n] = '\0';
    return (int)n;
}

uint64_t ringc_get_u64(const msgpack_object *o, const char *key, uint64_t def)
{
    const msgpack_object *v = ringc_get(o, key);
    return v != NULL && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v->via.u64 : def;
}

double ringc_get_f64(const msgpack_object *o, const char *key, double def)
{
    const msgpack_object *v = ringc_get(o, key);
    if (v == NULL) {
        return def;
    }
    if (v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32) {
        return v->via.f64;
    }
    return v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)v->via.u64 : def;
}

/* ---- the peer query ------------------------------------------------------------------- */

static int peer_connect(const struct ring_addr *peer, int64_t deadline)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    if (peer->family == RING_ADDR_V4) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(peer->port);
        memcpy(&in->sin_addr, peer->ip, 4);
        len = sizeof(*in);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(peer->port);
        memcpy(&in6->sin6_addr, peer->ip, 16);
        len = sizeof(*in6);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    int rv = connect(fd, (struct sockaddr *)&ss, len) == 0 ? 0 : -errno;
    if (rv == -EINPROGRESS) {
        rv = wait_fd(fd, POLLOUT, deadline);
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (rv == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr != 0) {
            rv = -soerr;
        }
    }
    if (rv != 0) {
        close(fd);
        return rv;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

static int read_exact(int fd, void *buf, size_t len, int64_t deadline)
{
    char *p = buf;
    while (len > 0) {
        int rv = wait_fd(fd, POLLIN, deadline);
        if (rv != 0) {
            return rv;
        }
        ssize_t n = recv(fd, p, len, 0);
        if (n == 0) {
            return -ECONNRESET;
        }
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    return 0;
}

/* Reads one frame of at most |max| bytes into a new buffer |*body| (|*len| bytes), opened
 * under |sess| when given. */
static int peer_frame(int fd, int64_t deadline, struct session *sess, uint32_t max, char **body,
                      uint32_t *len)
{
    uint8_t hdr[CODEC_FRAME_HEADER_BYTES];
    int rv = read_exact(fd, hdr, sizeof(hdr), deadline);
    if (rv == 0 && (codec_frame_length(hdr, len) != 0 || *len > max || *len == 0)) {
        rv = -EPROTO;
    }
    *body = rv == 0 ? malloc(*len) : NULL;
    if (rv == 0 && *body == NULL) {
        rv = -ENOMEM;
    }
    if (rv == 0) {
        rv = read_exact(fd, *body, *len, deadline);
    }
    if (rv == 0 && sess != NULL) {
        ssize_t n = session_open(sess, (uint8_t *)*body, *len, (uint8_t *)*body, *len);
        rv = n < 0 ? -EPROTO : 0;
        *len = n < 0 ? 0 : (uint32_t)n;
    }
    return rv;
}

/* The peer's reply frame, parsed into |out|. */
static int peer_reply(int fd, int64_t deadline, struct session *sess, struct ringc_peer_result *out,
                      const msgpack_object **result)
{
    uint32_t len = 0;
    int rv = peer_frame(fd, deadline, sess, RPC_MESSAGE_BYTES_MAX + SESSION_OVERHEAD_BYTES,
                        &out->body, &len);
    struct rpc_msg msg;
    if (rv == 0 && rpc_parse(out->body, len, &msg, NULL) != 0) {
        rv = -EPROTO;
    }
    if (rv == 0 && (msg.kind != RPC_RESPONSE || msg.is_error)) {
        rv = msg.is_error ? RINGC_ERESPONSE : -EPROTO;
    }
    if (rv == 0 && msgpack_unpack_next(&out->u, msg.result.ptr, msg.result.len, NULL) !=
                       MSGPACK_UNPACK_SUCCESS) {
        rv = -EPROTO;
    }
    *result = rv == 0 ? &out->u.data : NULL;
    return rv;
}

/* With keys: the session handshake (hello, the server's hello); the confirm goes in front of
 * the request, into |b| (which then holds just its frame). Returns 0 or a negative errno
 * (-EACCES: the peer's hello does not open under our keys). */
static int peer_handshake(int fd, int64_t deadline, const struct seal_keyring *keys,
                          struct session *sess, struct rpc_buf *b)
{
    uint8_t frame[CODEC_FRAME_HEADER_BYTES + SESSION_HELLO_BYTES];
    uint8_t rnd[SESSION_RANDOM_BYTES];
    if (sodium_init() < 0) {
        return -ENOSYS;
    }
    randombytes_buf(rnd, sizeof(rnd));
    session_init(sess, SESSION_CLIENT);
    ssize_t n = session_client_hello(sess, keys, rnd, frame + CODEC_FRAME_HEADER_BYTES,
                                     SESSION_HELLO_BYTES);
    sodium_memzero(rnd, sizeof(rnd));
    if (n < 0) {
        return -EINVAL;
    }
    codec_frame_header(frame, (uint32_t)n);
    int rv = write_all(fd, (const char *)frame, sizeof(frame));
    char *hello = NULL;
    uint32_t len = 0;
    if (rv == 0) {
        rv = peer_frame(fd, deadline, NULL, SESSION_HELLO_BYTES, &hello, &len);
    }
    if (rv == 0) {
        n = session_client_finish(sess, keys, (const uint8_t *)hello, len,
                                  frame + CODEC_FRAME_HEADER_BYTES, SESSION_CONFIRM_BYTES);
        rv = n < 0 ? -EACCES : 0;
    }
    free(hello);
    if (rv == 0) {
        codec_frame_header(frame, (uint32_t)n);
        rpc_buf_write(b, (const char *)frame, CODEC_FRAME_HEADER_BYTES + (size_t)n);
    }
    return rv;
}

/* Appends the request |payload| to |b| as a frame, under |sess| when given. */
static int peer_request_frame(struct rpc_buf *b, struct session *sess, const char *payload,
                              size_t len)
{
    size_t sealed = len + (sess != NULL ? SESSION_OVERHEAD_BYTES : 0);
    uint8_t *frame = malloc(CODEC_FRAME_HEADER_BYTES + sealed);
    if (frame == NULL) {
        return -ENOMEM;
    }
    if (sess != NULL) {
        session_seal(sess, (const uint8_t *)payload, len, frame + CODEC_FRAME_HEADER_BYTES, sealed);
    } else {
        memcpy(frame + CODEC_FRAME_HEADER_BYTES, payload, len);
    }
    codec_frame_header(frame, (uint32_t)sealed);
    rpc_buf_write(b, (const char *)frame, CODEC_FRAME_HEADER_BYTES + sealed);
    free(frame);
    return b->error == 0 ? 0 : -ENOMEM;
}

int ringc_peer_call(const struct ring_addr *peer, const struct seal_keyring *keys, int timeout_ms,
                    const char *method, struct ringc_peer_result *out,
                    const msgpack_object **result)
{
    memset(out, 0, sizeof(*out));
    msgpack_unpacked_init(&out->u);
    int64_t deadline = now_ms() + timeout_ms;
    int fd = peer_connect(peer, deadline);
    if (fd < 0) {
        return fd;
    }
    struct session sess;
    struct session *sp = keys != NULL && keys->count > 0 ? &sess : NULL;
    struct rpc_buf req, wire;
    msgpack_packer pk;
    rpc_buf_init(&req, NULL, 0);
    rpc_buf_init(&wire, NULL, 0);
    msgpack_packer_init(&pk, &req, rpc_buf_write);
    int rv = rpc_pack_request_begin(&pk, 1, method, strlen(method), 0) == 0 ? 0 : -ENOMEM;
    if (rv == 0 && sp != NULL) {
        rv = peer_handshake(fd, deadline, keys, sp, &wire);
    }
    if (rv == 0) {
        rv = peer_request_frame(&wire, sp, req.data, req.len);
    }
    if (rv == 0) {
        rv = write_all(fd, wire.data, wire.len);
    }
    rpc_buf_free(&req);
    rpc_buf_free(&wire);
    if (rv == 0) {
        rv = peer_reply(fd, deadline, sp, out, result);
    }
    if (sp != NULL) {
        session_clear(sp);
    }
    close(fd);
    return rv;
}

void ringc_peer_result_free(struct ringc_peer_result *r)
{
    msgpack_unpacked_destroy(&r->u);
    free(r->body);
    r->body = NULL;
}

int ringc_peer_checksums(const struct ring_addr *peer, const struct seal_keyring *keys,
                         int timeout_ms, struct ringc_checksums *out)
{
    struct ringc_peer_result r;
    const msgpack_object *res;
    int rv = ringc_peer_call(peer, keys, timeout_ms, "checksums", &r, &res);
    if (rv == 0) {
        memset(out, 0, sizeof(*out));
        ringc_get_str(res, "id", out->id, sizeof(out->id));
        out->checksum = ringc_get_u64(res, "checksum", 0);
        out->ring_checksum = ringc_get_u64(res, "ring_checksum", 0);
        out->members = ringc_get_u64(res, "members", 0);
    }
    ringc_peer_result_free(&r);
    return rv;
}
