/*
 * stream: swim's stream requests over TCP on the gossip port. One frame each way
 * (codec_frame_*: a 4-byte big-endian length, then the message), then the connection closes.
 *
 *   outgoing: connect, send the request frame, read one frame, hand it to
 *             swim_stream_response(); any failure or the timeout -> swim_stream_failed().
 *   incoming: read one frame, answer with swim_stream_serve()'s response frame. A frame that
 *             holds a msgpack-RPC request (its first byte is 0x94, a 4-array, where every
 *             codec message starts with 0x93) is a peer query from ringctl: "checksums".
 *             One whose first byte another subsystem registered for (the proxy: 0x4d, a
 *             forwarding HELLO, ring/fwd.h) is handed over to it and lives on there; a
 *             forwarding HELLO that nobody takes (no --proxy here) is closed.
 *
 * Reads never take more than the frame: the header first, then exactly its length.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "view_pack.h"
#include "ring/error.h"
#include "ring/fwd.h"
#include "ring/rpc.h"

/* An outgoing stream (connect, write, read) must finish within this many probe intervals,
 * bounded below and above: a stream ping is only useful within its probe period, and a sync
 * of a large table still fits comfortably. */
#define STREAM_TIMEOUT_INTERVALS 2
#define STREAM_TIMEOUT_MS_MIN    500
#define STREAM_TIMEOUT_MS_MAX    10000
/* An incoming stream must deliver its frame within this long. */
#define STREAM_IN_TIMEOUT_MS 10000
/* Incoming streams open at once; more are refused (swim opens at most 32 per peer). */
#define STREAMS_IN_MAX 256
/* First response buffer for swim_stream_serve: header room plus this much per member. */
#define SERVE_BYTES_PER_MEMBER 1200
#define SERVE_BYTES_MIN        (64u << 10)

struct ringd_stream {
    struct ringd *d;
    struct list link; /* in d->streams */
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect;
    uv_write_t write;
    int outgoing;
    uint32_t token;
    struct ring_addr peer;
    uint8_t hdr[CODEC_FRAME_HEADER_BYTES];
    uint8_t *out; /* the frame being sent: header and payload */
    size_t out_len;
    size_t got; /* bytes of header + payload read */
    uint8_t *in;
    uint32_t in_len;
    int closing;
    int handles_open;
    int done; /* outgoing: swim was told the outcome */
};

static void on_closed(uv_handle_t *h)
{
    struct ringd_stream *st = h->data;
    if (--st->handles_open > 0) {
        return;
    }
    free(st->out);
    free(st->in);
    free(st);
}

static void stream_close(struct ringd_stream *st)
{
    if (st->closing) {
        return;
    }
    st->closing = 1;
    struct ringd *d = st->d;
    if (st->outgoing && !st->done) {
        st->done = 1;
        d->m.streams_out_failed++;
        swim_stream_failed(d->swim, st->token, uv_now(d->loop));
        if (!d->stopping) {
            ringd_pump(d);
        }
    }
    if (!st->outgoing) {
        d->streams_in_open--;
    }
    list_remove(&st->link);
    uv_close((uv_handle_t *)&st->tcp, on_closed);
    uv_close((uv_handle_t *)&st->timer, on_closed);
}

void ringd_stream_close_all(struct ringd *d)
{
    while (!list_empty(&d->streams)) {
        stream_close(list_entry(d->streams.next, struct ringd_stream, link));
    }
}

static void on_timeout(uv_timer_t *t)
{
    stream_close(t->data);
}

static struct ringd_stream *stream_new(struct ringd *d, int outgoing, uint64_t timeout_ms)
{
    struct ringd_stream *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return NULL;
    }
    st->d = d;
    st->outgoing = outgoing;
    uv_tcp_init(d->loop, &st->tcp);
    uv_timer_init(d->loop, &st->timer);
    st->tcp.data = st;
    st->timer.data = st;
    st->connect.data = st;
    st->write.data = st;
    st->handles_open = 2;
    list_push(&d->streams, &st->link);
    uv_timer_start(&st->timer, on_timeout, timeout_ms, 0);
    return st;
}

/* Takes |payload| (|len| bytes), sealed when the node encrypts, as the frame to send.
 * Returns 0 or -1. */
static int set_frame(struct ringd_stream *st, const void *payload, size_t len)
{
    size_t cap = len + SEAL_OVERHEAD_BYTES;
    st->out = malloc(CODEC_FRAME_HEADER_BYTES + cap);
    if (st->out == NULL) {
        return -1;
    }
    ssize_t n =
        ringd_seal(st->d, SEAL_STREAM, payload, len, st->out + CODEC_FRAME_HEADER_BYTES, cap);
    if (n < 0 || (size_t)n > CODEC_FRAME_BYTES_MAX) {
        return -1;
    }
    codec_frame_header(st->out, (uint32_t)n);
    st->out_len = CODEC_FRAME_HEADER_BYTES + (size_t)n;
    return 0;
}

/* Replaces the frame read with its plaintext (opened when the node encrypts). Returns 0, or
 * -1 when it must be dropped (ringd_open counted it). */
static int open_frame(struct ringd_stream *st)
{
    uint8_t *plain = ringd_encrypting(st->d) ? malloc(st->in_len) : NULL;
    if (ringd_encrypting(st->d) && plain == NULL) {
        return -1;
    }
    size_t len = 0;
    const uint8_t *got =
        ringd_open(st->d, SEAL_STREAM, &st->peer, st->in, st->in_len, plain, st->in_len, &len);
    if (got == NULL || len == 0) {
        free(plain);
        return -1;
    }
    if (got == plain) {
        free(st->in);
        st->in = plain;
    }
    st->in_len = (uint32_t)len;
    return 0;
}

/* ---- reading one frame ---------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct ringd_stream *st = h->data;
    (void)suggested;
    if (st->got < CODEC_FRAME_HEADER_BYTES) {
        *buf =
            uv_buf_init((char *)st->hdr + st->got, (unsigned)(CODEC_FRAME_HEADER_BYTES - st->got));
    } else {
        size_t off = st->got - CODEC_FRAME_HEADER_BYTES;
        *buf = uv_buf_init((char *)st->in + off, (unsigned)(st->in_len - off));
    }
}

static void frame_done(struct ringd_stream *st);

/* Called after the header arrived: checks it and allocates the payload. Returns 0 or -1. */
static int start_payload(struct ringd_stream *st)
{
    if (codec_frame_length(st->hdr, &st->in_len) != 0 || st->in_len == 0) {
        return -1;
    }
    /* refused by its header, before a byte of it is buffered: swim bounds what it accepts
     * by its table's size (a sealed frame carries the envelope too) */
    size_t max = swim_stream_bytes_max(st->d->swim, st->outgoing ? st->token : 0);
    if (st->in_len > max + SEAL_OVERHEAD_BYTES) {
        st->d->m.streams_refused++;
        return -1;
    }
    st->in = malloc(st->in_len);
    return st->in != NULL ? 0 : -1;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct ringd_stream *st = s->data;
    (void)buf;
    if (nread < 0) {
        stream_close(st);
        return;
    }
    int had_header = st->got >= CODEC_FRAME_HEADER_BYTES;
    st->got += (size_t)nread;
    if (!had_header && st->got == CODEC_FRAME_HEADER_BYTES && start_payload(st) != 0) {
        stream_close(st);
        return;
    }
    if (st->got >= CODEC_FRAME_HEADER_BYTES && st->in != NULL &&
        st->got == CODEC_FRAME_HEADER_BYTES + st->in_len) {
        uv_read_stop(s);
        frame_done(st);
    }
}

/* ---- outgoing ------------------------------------------------------------------------- */

static void on_out_written(uv_write_t *w, int status)
{
    struct ringd_stream *st = w->data;
    if (status != 0 || st->closing) {
        stream_close(st);
        return;
    }
    if (uv_read_start((uv_stream_t *)&st->tcp, on_alloc, on_read) != 0) {
        stream_close(st);
    }
}

static void on_connected(uv_connect_t *c, int status)
{
    struct ringd_stream *st = c->data;
    if (status != 0 || st->closing) {
        stream_close(st);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)st->out, (unsigned)st->out_len);
    if (uv_write(&st->write, (uv_stream_t *)&st->tcp, &b, 1, on_out_written) != 0) {
        stream_close(st);
    }
}

static uint64_t out_timeout_ms(const struct ringd *d)
{
    uint64_t t = (uint64_t)d->cfg.probe_interval_ms * STREAM_TIMEOUT_INTERVALS;
    return t < STREAM_TIMEOUT_MS_MIN ? STREAM_TIMEOUT_MS_MIN
                                     : (t > STREAM_TIMEOUT_MS_MAX ? STREAM_TIMEOUT_MS_MAX : t);
}

void ringd_stream_start(struct ringd *d, const struct swim_stream_req *req)
{
    d->m.streams_out++;
    struct ringd_stream *st = stream_new(d, 1, out_timeout_ms(d));
    if (st == NULL) {
        d->m.streams_out_failed++;
        swim_stream_failed(d->swim, req->token, uv_now(d->loop));
        return;
    }
    st->token = req->token;
    st->peer = req->to;
    struct sockaddr_storage ss;
    ringd_addr_to_sockaddr(&req->to, req->to.family == RING_ADDR_V6, &ss);
    /* stream_close() reports the failure to swim; the pump that started us drains it. */
    if (set_frame(st, req->data, req->len) != 0 ||
        uv_tcp_connect(&st->connect, &st->tcp, (const struct sockaddr *)&ss, on_connected) != 0) {
        stream_close(st);
    }
}

/* ---- incoming ------------------------------------------------------------------------- */

static void on_in_written(uv_write_t *w, int status)
{
    (void)status;
    stream_close(w->data);
}

static void send_response(struct ringd_stream *st, const uint8_t *payload, size_t len)
{
    free(st->out);
    if (set_frame(st, payload, len) != 0) {
        stream_close(st);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)st->out, (unsigned)st->out_len);
    if (uv_write(&st->write, (uv_stream_t *)&st->tcp, &b, 1, on_in_written) != 0) {
        stream_close(st);
    }
}

/* ringctl checksums: [1, msgid, nil, {id, address, checksum, ring_checksum, members}];
 * ringctl members --group (of another group): members()'s answer. */
static void serve_peer_query(struct ringd_stream *st)
{
    struct ringd *d = st->d;
    struct rpc_msg m;
    struct rpc_buf b;
    msgpack_packer pk;
    rpc_buf_init(&b, NULL, 0);
    msgpack_packer_init(&pk, &b, rpc_buf_write);
    int rv = rpc_parse(st->in, st->in_len, &m, NULL);
    /* The local API's rules (rpc_server_action(); rpc_parse() says 0 where a reader says 1,
     * and a frame that ends inside its message is broken framing): a request is answered,
     * anything else closes the connection unanswered. */
    int action = rpc_server_action(rv == 0 ? 1 : rv == RING_ETRUNC ? RING_EPROTO : rv, &m);
    if (action == RPC_ACTION_CALL && rpc_method_is(&m, "checksums")) {
        char addr[RING_ADDR_STRLEN];
        ringd_addr_str(&d->self, addr);
        rpc_pack_result_begin(&pk, m.msgid);
        msgpack_pack_map(&pk, 5);
        msgpack_pack_str_with_body(&pk, "id", 2);
        msgpack_pack_str_with_body(&pk, d->cfg.id, d->cfg.id_len);
        msgpack_pack_str_with_body(&pk, "address", 7);
        msgpack_pack_str_with_body(&pk, addr, strlen(addr));
        msgpack_pack_str_with_body(&pk, "checksum", 8);
        msgpack_pack_uint64(&pk, swim_checksum(d->swim));
        msgpack_pack_str_with_body(&pk, "ring_checksum", 13);
        msgpack_pack_uint64(&pk, swim_ring_checksum(d->swim));
        msgpack_pack_str_with_body(&pk, "members", 7);
        msgpack_pack_uint64(&pk, members_ring_count(swim_members(d->swim)));
    } else if (action == RPC_ACTION_CALL && rpc_method_is(&m, "keyring")) {
        ringd_keyring_serve(d, &m, &pk);
    } else if (action == RPC_ACTION_CALL && rpc_method_is(&m, "members")) {
        rpc_pack_result_begin(&pk, m.msgid);
        ringd_view_pack_members(d, &pk);
    } else if (action == RPC_ACTION_CALL || action == RPC_ACTION_REJECT) {
        const char *why =
            rv != 0 ? m.detail : "the peer port answers only checksums, members and keyring";
        rpc_pack_error(&pk, m.msgid, rv != 0 ? rv : RING_ENOENT, why, strlen(why));
    }
    if (b.len > 0 && b.error == 0) {
        send_response(st, (const uint8_t *)b.data, b.len);
    } else {
        stream_close(st);
    }
    rpc_buf_free(&b);
}

static void serve_swim(struct ringd_stream *st)
{
    struct ringd *d = st->d;
    size_t cap = SERVE_BYTES_MIN + members_count(swim_members(d->swim)) * SERVE_BYTES_PER_MEMBER +
                 (size_t)st->in_len * 8;
    for (;;) {
        cap = cap > CODEC_FRAME_BYTES_MAX ? CODEC_FRAME_BYTES_MAX : cap;
        uint8_t *resp = malloc(cap);
        if (resp == NULL) {
            stream_close(st);
            return;
        }
        ssize_t n =
            swim_stream_serve(d->swim, &st->peer, st->in, st->in_len, resp, cap, uv_now(d->loop));
        if (n == RING_ENOBUFS && cap < CODEC_FRAME_BYTES_MAX) {
            free(resp);
            cap *= 2;
            continue;
        }
        if (n > 0) {
            send_response(st, resp, (size_t)n);
        } else {
            stream_close(st);
        }
        free(resp);
        ringd_pump(d);
        return;
    }
}

int ringd_node_accept_streams(struct ringd *d, uint8_t first_byte, ringd_stream_accept_cb cb,
                              void *ctx)
{
    if (d->acceptor_count == RINGD_ACCEPTORS_MAX) {
        return UV_ENOBUFS;
    }
    d->acceptors[d->acceptor_count].first_byte = first_byte;
    d->acceptors[d->acceptor_count].cb = cb;
    d->acceptors[d->acceptor_count].ctx = ctx;
    d->acceptor_count++;
    return 0;
}

/* A connection another subsystem takes: off the stream list and its timer, over to it. */
static void hand_over(struct ringd_stream *st, size_t k)
{
    struct ringd *d = st->d;
    st->closing = 1;
    d->streams_in_open--;
    list_remove(&st->link);
    uint8_t *frame = st->in;
    free(st->out);
    st->in = st->out = NULL;
    uv_close((uv_handle_t *)&st->timer, on_closed);
    /* the tcp handle stays in |st|'s memory; the acceptor closes it with on_closed */
    d->acceptors[k].cb(d->acceptors[k].ctx, &st->tcp, st, on_closed, &st->peer, frame, st->in_len);
    free(frame);
}

static void frame_done(struct ringd_stream *st)
{
    struct ringd *d = st->d;
    if (open_frame(st) != 0) {
        stream_close(st); /* an outgoing one is reported to swim as failed there */
        return;
    }
    if (st->outgoing) {
        st->done = 1;
        int rv = swim_stream_response(d->swim, st->token, st->in, st->in_len, uv_now(d->loop));
        if (rv != 0 && rv != RING_ENOENT) {
            d->m.streams_out_failed++;
        }
        ringd_pump(d);
        stream_close(st);
        return;
    }
    if (st->in[0] == 0x94) {
        serve_peer_query(st);
        return;
    }
    for (size_t k = 0; k < d->acceptor_count; k++) {
        if (st->in[0] == d->acceptors[k].first_byte) {
            hand_over(st, k);
            return;
        }
    }
    if (st->in[0] == FWD_HELLO) {
        stream_close(st); /* forwarding to a node without a proxy */
    } else {
        serve_swim(st);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct ringd *d = server->data;
    if (status != 0) {
        return;
    }
    struct ringd_stream *st = stream_new(d, 0, STREAM_IN_TIMEOUT_MS);
    if (st == NULL) {
        return;
    }
    d->streams_in_open++;
    d->m.streams_in++;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_accept(server, (uv_stream_t *)&st->tcp) != 0 || d->streams_in_open > STREAMS_IN_MAX ||
        uv_tcp_getpeername(&st->tcp, (struct sockaddr *)&ss, &len) != 0 ||
        ringd_addr_from_sockaddr((struct sockaddr *)&ss, &st->peer) != 0 ||
        uv_read_start((uv_stream_t *)&st->tcp, on_alloc, on_read) != 0) {
        stream_close(st);
    }
}

int ringd_stream_listen(struct ringd *d)
{
    struct sockaddr_storage ss;
    int rv = ringd_bind_sockaddr(d, &d->cfg.bind, &ss);
    if (rv == 0) {
        rv = uv_tcp_init(d->loop, &d->peer);
    }
    d->peer.data = d;
    if (rv == 0) {
        rv = uv_tcp_bind(&d->peer, (const struct sockaddr *)&ss, 0);
    }
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&d->peer, 128, on_connection);
    }
    if (rv != 0) {
        ringd_log(&d->log, RINGD_LOG_ERROR, "listen", "what", "gossip tcp", "address",
                  d->cfg.bind.host, "error", uv_strerror(rv), NULL);
    }
    return rv;
}
