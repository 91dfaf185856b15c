/*
 * stream: swim's stream requests over TCP on the gossip port. One frame each way
 * (codec_frame_*: a 4-byte big-endian length, then the message), then the connection closes.
 *
 *   outgoing: connect, send the request frame, read one frame, hand it to
 *             swim_stream_response(); any failure or the timeout -> swim_stream_failed().
 *             A call (ringd_stream_call(): the keyring's peer queries) does the same for a
 *             callback instead of swim.
 *   incoming: read one frame, answer with swim_stream_serve()'s response frame. A frame that
 *             holds a msgpack-RPC request (its first byte is 0x94, a 4-array, where every
 *             codec message starts with 0x93) is a peer query from ringctl: "checksums".
 *             One whose first byte another subsystem registered for (the proxy: 0x4d, a
 *             forwarding HELLO, ring/fwd.h) is handed over to it with the connection's
 *             session and lives on there; a forwarding HELLO that nobody takes (no --proxy
 *             here) is closed.
 *
 * With keys, every connection first runs the session handshake (ring/session.h; PROTOCOL.md
 * section 10.1): the client's hello, the server's, the client's confirm; then the frames
 * above travel under the session. Until the confirm has opened, an incoming connection is a
 * stranger and costs a constant: its first frame must be exactly a hello and its second
 * exactly a confirm (refused by their headers otherwise), both read into the stream's own
 * bytes, under a deadline set at accept that no byte extends. A recorded connection played
 * again fails at its confirm (counted as a replay).
 *
 * During a plaintext-to-keys rollout (--gossip-send-plaintext, --gossip-accept-plaintext)
 * a node that sends plaintext opens its connections without a handshake, and a node that
 * accepts plaintext serves a connection whose first frame is not a hello as a node without
 * keys would. Without those flags a keyed node takes handshakes only.
 *
 * Connections waiting for their frame are capped per remote address and in total; a new one
 * over a cap evicts the oldest waiting one (strangers first) instead of being refused, so
 * connections held open by somebody never keep a peer's sync or join out.
 *
 * Reads never take more than the frame: the header first, then exactly its length.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "err.h"
#include "unread.h"
#include "view_pack.h"
#include "ring/error.h"
#include "ring/fwd.h"
#include "ring/rpc.h"
#include "ring/session.h"

/* An outgoing stream (connect, write, read) must finish within this many probe intervals,
 * bounded below and above: a stream ping is only useful within its probe period, and a sync
 * of a large table still fits comfortably. */
#define STREAM_TIMEOUT_INTERVALS 2
#define STREAM_TIMEOUT_MS_MIN    500
#define STREAM_TIMEOUT_MS_MAX    10000
/* An incoming stream must deliver its frame within this long. */
#define STREAM_IN_TIMEOUT_MS 10000
/* An incoming connection must complete the handshake within this long from accept: two
 * round trips of 158 bytes, so even a slow link needs a fraction of it. */
#define STREAM_HANDSHAKE_MS 3000
/* Incoming connections waiting for their frame: in total (swim opens at most 32 per peer)
 * and, of those not yet authenticated (without keys: not yet served), per remote address and
 * in total. A new connection over a cap evicts the oldest of its kind. An address may hold as
 * many as swim opens to one peer at once. */
#define STREAMS_IN_MAX          256
#define STREAMS_STRANGERS_MAX   128
#define STREAMS_PER_ADDRESS_MAX 32
/* Outgoing sessions at once: libring starts at most 32 streams (SWIM_STREAMS_MAX). */
#define STREAMS_OUT_MAX 32
/* Refusals and evictions are logged at most this often. */
#define STREAM_LOG_INTERVAL_MS 10000
/* First response buffer for swim_stream_serve: header room plus this much per member. */
#define SERVE_BYTES_PER_MEMBER 1200
#define SERVE_BYTES_MIN        (64u << 10)

/* What the stream reads next. */
enum phase {
    PHASE_HELLO,   /* the peer's hello (into |small|) */
    PHASE_CONFIRM, /* incoming: the client's confirm (into |small|) */
    PHASE_FRAME,   /* the request or response frame (into |in|) */
};

struct ringd_stream {
    struct ringd *d;
    struct list link; /* in d->streams */
    struct list wait; /* incoming, until served: in d->streams_waiting */
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect;
    uv_write_t write;
    uv_write_t hs_write; /* the hello or confirm, never in flight with |write| */
    int outgoing;
    int secure;   /* the stream runs a session (outgoing: the node sends sealed) */
    int flexible; /* incoming, secure: a first frame that is no hello is served as plaintext */
    int authed;   /* incoming: the confirm opened (or no keys and the frame is here) */
    int reading;
    int phase;
    uint32_t token;
    struct ring_addr peer;
    struct session sess;
    uint8_t hdr[CODEC_FRAME_HEADER_BYTES];
    uint8_t small[SESSION_HELLO_BYTES];                             /* a hello or a confirm read */
    uint8_t hs[2 * CODEC_FRAME_HEADER_BYTES + SESSION_HELLO_BYTES]; /* a hello or confirm sent */
    size_t hs_len;
    uint8_t *out; /* the frame being sent: header and payload (outgoing, secure: plaintext
                     until the handshake is done) */
    size_t out_len;
    size_t got; /* bytes of header + payload read */
    uint8_t *in;
    uint32_t in_len;
    int payload; /* the header is checked and the payload has its buffer */
    int spoke;   /* incoming: the peer has sent a byte (read, or seen waiting unread) */
    int closing;
    int handles_open;
    int done; /* outgoing: swim (or the call's callback) was told the outcome */
    /* A call: its callback instead of swim, its answer's bound, and why it failed so far. */
    ringd_stream_done_cb done_cb;
    void *done_ctx;
    size_t answer_max;
    const char *why;
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
    if (st->outgoing && !st->done && st->done_cb != NULL) {
        st->done = 1;
        st->done_cb(st->done_ctx, st->why != NULL ? st->why : "connection closed without an answer",
                    NULL, 0);
    } else if (st->outgoing && !st->done) {
        st->done = 1;
        d->m.streams_out_failed++;
        if (d->log.level <= RINGD_LOG_DEBUG) {
            char addr[RING_ADDR_STRLEN];
            ringd_log(&d->log, RINGD_LOG_DEBUG, "stream_failed", "to",
                      ringd_addr_str(&st->peer, addr), "why",
                      st->why != NULL ? st->why : "connection closed without an answer", NULL);
        }
        swim_stream_failed(d->swim, st->token, uv_now(d->loop));
        if (!d->stopping) {
            ringd_pump(d);
        }
    }
    if (!st->outgoing) {
        d->streams_in_open--;
    }
    session_clear(&st->sess);
    list_remove(&st->link);
    list_remove(&st->wait);
    uv_close((uv_handle_t *)&st->tcp, on_closed);
    uv_close((uv_handle_t *)&st->timer, on_closed);
}

void ringd_stream_close_all(struct ringd *d)
{
    while (!list_empty(&d->streams)) {
        stream_close(list_entry(d->streams.next, struct ringd_stream, link));
    }
}

/* Logs a refusal from |from|, at most once per STREAM_LOG_INTERVAL_MS. */
static void log_refusal(struct ringd *d, const struct ring_addr *from, const char *why)
{
    uint64_t now = uv_now(d->loop);
    if (d->stream_refusal_logged_ms != 0 &&
        now - d->stream_refusal_logged_ms < STREAM_LOG_INTERVAL_MS) {
        return;
    }
    d->stream_refusal_logged_ms = now;
    char addr[RING_ADDR_STRLEN];
    ringd_log(&d->log, RINGD_LOG_WARN, "stream refused", "from", ringd_addr_str(from, addr), "why",
              why, NULL);
}

/* Counts, logs and closes. */
static void refuse(struct ringd_stream *st, uint64_t *counter, const char *why)
{
    (*counter)++;
    log_refusal(st->d, &st->peer, why);
    stream_close(st);
}

static void on_timeout(uv_timer_t *t)
{
    struct ringd_stream *st = t->data;
    st->why = "timed out";
    if (!st->outgoing && st->secure && !st->authed) {
        refuse(st, &st->d->m.stream_handshake_timeouts, "no handshake within its deadline");
    } else {
        stream_close(st);
    }
}

static struct ringd_stream *stream_new(struct ringd *d, int outgoing, uint64_t timeout_ms)
{
    struct ringd_stream *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return NULL;
    }
    st->d = d;
    st->outgoing = outgoing;
    st->secure = outgoing ? ringd_streams_secure_out(d) : ringd_encrypting(d);
    st->flexible =
        !outgoing && st->secure && (d->cfg.gossip_accept_plaintext || d->cfg.gossip_send_plaintext);
    session_init(&st->sess, outgoing ? SESSION_CLIENT : SESSION_SERVER);
    st->phase = st->secure ? PHASE_HELLO : PHASE_FRAME;
    uv_tcp_init(d->loop, &st->tcp);
    uv_timer_init(d->loop, &st->timer);
    st->tcp.data = st;
    st->timer.data = st;
    st->connect.data = st;
    st->write.data = st;
    st->hs_write.data = st;
    st->handles_open = 2;
    list_init(&st->wait);
    list_push(&d->streams, &st->link);
    uv_timer_start(&st->timer, on_timeout, timeout_ms, 0);
    return st;
}

/* Makes |payload| (|len| bytes; may be st->out) the frame to send: under the session, or
 * plaintext (a stream without a session: no keys, or a plaintext rollout). Returns 0, UV_ENOMEM,
 * or UV_EMSGSIZE when it does not fit a frame. */
static int set_frame(struct ringd_stream *st, const void *payload, size_t len)
{
    size_t cap = len + (st->secure ? SESSION_OVERHEAD_BYTES : 0);
    uint8_t *frame = malloc(CODEC_FRAME_HEADER_BYTES + (cap > 0 ? cap : 1));
    if (frame == NULL) {
        return UV_ENOMEM;
    }
    uint8_t *body = frame + CODEC_FRAME_HEADER_BYTES;
    ssize_t n = (ssize_t)len;
    if (st->secure) {
        n = session_seal(&st->sess, payload, len, body, cap);
    } else {
        memmove(body, payload, len);
    }
    if (n < 0 || (size_t)n > CODEC_FRAME_BYTES_MAX) {
        free(frame);
        return UV_EMSGSIZE;
    }
    codec_frame_header(frame, (uint32_t)n);
    free(st->out);
    st->out = frame;
    st->out_len = CODEC_FRAME_HEADER_BYTES + (size_t)n;
    return 0;
}

/* Replaces the frame read with its plaintext (opened under the session, or checked to be
 * plaintext on a stream without one). Returns 0, or why it must be dropped (counted): the
 * session's refusal (as errno), -ENODATA for an empty message, UV_EPROTO for a sealed frame
 * outside a session. */
static int open_frame(struct ringd_stream *st)
{
    struct ringd *d = st->d;
    size_t len = 0;
    if (st->secure) {
        ssize_t n = session_open(&st->sess, st->in, st->in_len, st->in, st->in_len);
        if (n < 0) {
            d->m.stream_auth_failures++;
            log_refusal(d, &st->peer, "a frame does not open under the session");
            return ringd_err_from_ring((int)n);
        }
        if (n == 0) {
            return -ENODATA; /* an empty message is no request */
        }
        len = (size_t)n;
    } else if (seal_is_sealed(st->in, st->in_len)) {
        /* a sealed frame without a session: streams are sealed only under sessions */
        d->m.sealed_refused++;
        log_refusal(d, &st->peer, "a sealed frame outside a session");
        return UV_EPROTO;
    } else {
        len = st->in_len;
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
        uint8_t *p = st->phase == PHASE_FRAME ? st->in : st->small;
        *buf = uv_buf_init((char *)p + off, (unsigned)(st->in_len - off));
    }
}

static void frame_done(struct ringd_stream *st);
static void handshake_step(struct ringd_stream *st);

/* An incoming connection of a plaintext rollout whose first frame is no hello: served from
 * here on as a node without keys serves it. */
static int start_plaintext(struct ringd_stream *st)
{
    st->secure = 0;
    st->flexible = 0;
    st->phase = PHASE_FRAME;
    return uv_timer_start(&st->timer, on_timeout, STREAM_IN_TIMEOUT_MS, 0);
}

/* Called after the header arrived: checks it and gives the payload a buffer. Returns 0, or
 * (counted) UV_EPROTO for a header that is not what this phase takes, UV_EMSGSIZE for a frame
 * over the bound, UV_ENOMEM. */
static int start_payload(struct ringd_stream *st)
{
    struct ringd *d = st->d;
    int bad = codec_frame_length(st->hdr, &st->in_len) != 0 || st->in_len == 0;
    if (st->phase != PHASE_FRAME) {
        /* a stranger's first frames are a hello and a confirm of known sizes: anything else
         * is refused by its header, before a byte of it is read */
        uint32_t want = st->phase == PHASE_HELLO ? SESSION_HELLO_BYTES : SESSION_CONFIRM_BYTES;
        if (!bad && st->flexible && st->phase == PHASE_HELLO && st->in_len != want) {
            int rv = start_plaintext(st);
            return rv == 0 ? start_payload(st) : rv;
        }
        if (bad || st->in_len != want) {
            /* what a node without keys sends first: counted as the envelope counts a
             * plaintext datagram too, so the keys view shows the misconfigured peer */
            d->m.stream_handshake_failures++;
            d->m.plaintext_refused += st->phase == PHASE_HELLO;
            log_refusal(d, &st->peer, "first frames are not a handshake (a node without keys?)");
            return UV_EPROTO;
        }
        st->payload = 1;
        return 0;
    }
    if (bad) {
        return UV_EPROTO;
    }
    /* refused by its header, before a byte of it is buffered: swim bounds what it accepts
     * by its table's size (a frame under a session or an envelope carries a tag too) */
    size_t max = st->done_cb != NULL ? st->answer_max
                                     : swim_stream_bytes_max(d->swim, st->outgoing ? st->token : 0);
    if (st->in_len > max + SEAL_OVERHEAD_BYTES) {
        d->m.streams_refused++;
        return UV_EMSGSIZE;
    }
    st->in = malloc(st->in_len);
    st->payload = st->in != NULL;
    return st->payload ? 0 : UV_ENOMEM;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct ringd_stream *st = s->data;
    (void)buf;
    if (nread < 0) {
        stream_close(st);
        return;
    }
    st->got += (size_t)nread;
    st->spoke |= nread > 0;
    if (!st->payload && st->got == CODEC_FRAME_HEADER_BYTES && start_payload(st) != 0) {
        stream_close(st);
        return;
    }
    if (!st->payload || st->got != CODEC_FRAME_HEADER_BYTES + st->in_len) {
        return;
    }
    st->got = 0;
    st->payload = 0;
    if (st->phase != PHASE_FRAME) {
        handshake_step(st);
        return;
    }
    uv_read_stop(s);
    st->reading = 0;
    frame_done(st);
}

static void start_reading(struct ringd_stream *st)
{
    if (st->reading) {
        return;
    }
    st->reading = 1;
    if (uv_read_start((uv_stream_t *)&st->tcp, on_alloc, on_read) != 0) {
        stream_close(st);
    }
}

/* ---- the handshake (with keys) --------------------------------------------------------- */

static void on_hs_written(uv_write_t *w, int status)
{
    struct ringd_stream *st = w->data;
    if (status != 0 || st->closing) {
        stream_close(st);
        return;
    }
    start_reading(st);
}

static void on_out_written(uv_write_t *w, int status);

/* Sends the hello or confirm in st->hs (|len| bytes after the header). */
static void send_hs(struct ringd_stream *st, size_t len)
{
    codec_frame_header(st->hs, (uint32_t)len);
    st->hs_len = CODEC_FRAME_HEADER_BYTES + len;
    uv_buf_t b = uv_buf_init((char *)st->hs, (unsigned)st->hs_len);
    if (uv_write(&st->hs_write, (uv_stream_t *)&st->tcp, &b, 1, on_hs_written) != 0) {
        stream_close(st);
    }
}

/* Outgoing: the server's hello arrived. Sends the confirm and the request under the
 * session. */
static void client_finish(struct ringd_stream *st)
{
    struct ringd *d = st->d;
    uint8_t *confirm = st->hs + CODEC_FRAME_HEADER_BYTES;
    ssize_t n = session_client_finish(&st->sess, &d->keys, st->small, SESSION_HELLO_BYTES, confirm,
                                      SESSION_CONFIRM_BYTES);
    if (n < 0) {
        d->m.auth_failures += n == RING_EAUTH;
        st->why = "the peer's handshake failed (another cluster key?)";
        refuse(st, &d->m.stream_handshake_failures, ring_strerror((int)n));
        return;
    }
    codec_frame_header(st->hs, (uint32_t)n);
    st->phase = PHASE_FRAME;
    if (set_frame(st, st->out, st->out_len) != 0) {
        stream_close(st);
        return;
    }
    uv_buf_t b[2] = {
        uv_buf_init((char *)st->hs, (unsigned)(CODEC_FRAME_HEADER_BYTES + (size_t)n)),
        uv_buf_init((char *)st->out, (unsigned)st->out_len),
    };
    if (uv_write(&st->write, (uv_stream_t *)&st->tcp, b, 2, on_out_written) != 0) {
        stream_close(st);
    }
}

/* A hello or a confirm arrived in st->small. */
static void handshake_step(struct ringd_stream *st)
{
    struct ringd *d = st->d;
    if (st->outgoing) {
        client_finish(st);
        return;
    }
    if (st->phase == PHASE_HELLO && st->flexible && st->small[0] != SESSION_MARKER) {
        /* a plaintext frame of a hello's length */
        if (start_plaintext(st) != 0 || (st->in = malloc(SESSION_HELLO_BYTES)) == NULL) {
            stream_close(st);
            return;
        }
        memcpy(st->in, st->small, SESSION_HELLO_BYTES);
        st->in_len = SESSION_HELLO_BYTES;
        uv_read_stop((uv_stream_t *)&st->tcp);
        st->reading = 0;
        frame_done(st);
        return;
    }
    if (st->phase == PHASE_HELLO) {
        uint8_t rnd[SESSION_RANDOM_BYTES];
        randombytes_buf(rnd, sizeof(rnd));
        ssize_t n = session_server_hello(&st->sess, &d->keys, rnd, st->small, SESSION_HELLO_BYTES,
                                         st->hs + CODEC_FRAME_HEADER_BYTES, SESSION_HELLO_BYTES);
        sodium_memzero(rnd, sizeof(rnd));
        if (n < 0) {
            d->m.auth_failures += n == RING_EAUTH; /* sealed with a key we lack, or tampered */
            refuse(st, &d->m.stream_handshake_failures, ring_strerror((int)n));
            return;
        }
        st->phase = PHASE_CONFIRM;
        send_hs(st, (size_t)n);
        return;
    }
    if (session_server_confirm(&st->sess, st->small, SESSION_CONFIRM_BYTES) != 0) {
        refuse(st, &d->m.stream_replays, "the confirm does not open: a recorded handshake");
        return;
    }
    /* authenticated: from here the frame may be as large as swim accepts */
    st->authed = 1;
    st->phase = PHASE_FRAME;
    uv_timer_start(&st->timer, on_timeout, STREAM_IN_TIMEOUT_MS, 0);
}

/* ---- outgoing ------------------------------------------------------------------------- */

static void on_out_written(uv_write_t *w, int status)
{
    struct ringd_stream *st = w->data;
    if (status != 0 || st->closing) {
        stream_close(st);
        return;
    }
    start_reading(st);
}

static void on_connected(uv_connect_t *c, int status)
{
    struct ringd_stream *st = c->data;
    if (status != 0 || st->closing) {
        st->why = status != 0 ? uv_strerror(status) : st->why;
        stream_close(st);
        return;
    }
    if (st->secure) {
        uint8_t rnd[SESSION_RANDOM_BYTES];
        randombytes_buf(rnd, sizeof(rnd));
        ssize_t n = session_client_hello(&st->sess, &st->d->keys, rnd,
                                         st->hs + CODEC_FRAME_HEADER_BYTES, SESSION_HELLO_BYTES);
        sodium_memzero(rnd, sizeof(rnd));
        if (n < 0) {
            stream_close(st);
            return;
        }
        send_hs(st, (size_t)n);
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

/* The request to send: a frame now without keys; with keys, its plaintext kept until the
 * handshake gives the session it goes under. Returns 0 or UV_ENOMEM (or set_frame()'s). */
static int set_request(struct ringd_stream *st, const uint8_t *data, size_t len)
{
    if (!st->secure) {
        return set_frame(st, data, len);
    }
    st->out = malloc(len > 0 ? len : 1);
    if (st->out == NULL) {
        return UV_ENOMEM;
    }
    memcpy(st->out, data, len);
    st->out_len = len;
    return 0;
}

struct ringd_stream *ringd_stream_call(struct ringd *d, const struct ring_addr *to,
                                       const uint8_t *req, size_t len, uint64_t timeout_ms,
                                       size_t answer_max, ringd_stream_done_cb done, void *ctx)
{
    struct ringd_stream *st = stream_new(d, 1, timeout_ms);
    if (st == NULL) {
        return NULL;
    }
    st->peer = *to;
    st->answer_max = answer_max;
    struct sockaddr_storage ss;
    ringd_addr_to_sockaddr(to, to->family == RING_ADDR_V6, &ss);
    if (set_request(st, req, len) != 0 ||
        uv_tcp_connect(&st->connect, &st->tcp, (const struct sockaddr *)&ss, on_connected) != 0) {
        st->done = 1; /* the caller learns it from NULL */
        stream_close(st);
        return NULL;
    }
    st->done_cb = done;
    st->done_ctx = ctx;
    return st;
}

void ringd_stream_call_cancel(struct ringd_stream *st)
{
    st->done = 1;
    stream_close(st);
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
    if (set_request(st, req->data, req->len) != 0 ||
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

/* A connection another subsystem takes: off the stream lists and its timer, over to it with
 * its session. */
static void hand_over(struct ringd_stream *st, size_t k)
{
    struct ringd *d = st->d;
    st->closing = 1;
    d->streams_in_open--;
    list_remove(&st->link);
    list_remove(&st->wait);
    uint8_t *frame = st->in;
    free(st->out);
    st->in = st->out = NULL;
    uv_close((uv_handle_t *)&st->timer, on_closed);
    /* the tcp handle stays in |st|'s memory; the acceptor closes it with on_closed */
    d->acceptors[k].cb(d->acceptors[k].ctx, &st->tcp, st, on_closed, &st->peer,
                       st->secure ? &st->sess : NULL, frame, st->in_len);
    session_clear(&st->sess);
    free(frame);
}

static void frame_done(struct ringd_stream *st)
{
    struct ringd *d = st->d;
    if (open_frame(st) != 0) {
        st->why = "the answer did not open";
        stream_close(st); /* an outgoing one is reported to swim as failed there */
        return;
    }
    if (st->outgoing && st->done_cb != NULL) {
        st->done = 1;
        st->done_cb(st->done_ctx, NULL, st->in, st->in_len);
        stream_close(st);
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
    list_remove(&st->wait); /* served from here on: no longer evictable */
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

/* ---- admission ------------------------------------------------------------------------ */

static int same_host(const struct ring_addr *a, const struct ring_addr *b)
{
    return a->family == b->family && memcmp(a->ip, b->ip, sizeof(a->ip)) == 0;
}

/* Waiting connection |w| is of the cap being made room in: |kind| 0 any, 1 a stranger, 2 a
 * stranger from |peer|'s address. */
static int of_kind(const struct ringd_stream *w, int kind, const struct ring_addr *peer)
{
    return kind == 0 || (!w->authed && (kind == 1 || same_host(&w->peer, peer)));
}

/* The waiting connection of |kind| (of_kind()) to evict: the oldest whose peer never sent a
 * byte (a flood's idle connection; a peer's hello may wait unread in its socket, unread.h:
 * that peer has spoken), else the oldest. Each connection is looked at in the kernel once at
 * most. */
static struct ringd_stream *eviction_victim(struct ringd *d, int kind, const struct ring_addr *peer)
{
    struct ringd_stream *oldest = NULL;
    struct list *head = &d->streams_waiting;
    for (struct list *it = head->prev; it != head; it = it->prev) { /* oldest first */
        struct ringd_stream *w = list_entry(it, struct ringd_stream, wait);
        if (!of_kind(w, kind, peer)) {
            continue;
        }
        oldest = oldest != NULL ? oldest : w;
        uv_os_fd_t fd;
        if (!w->spoke && uv_fileno((const uv_handle_t *)&w->tcp, &fd) == 0 &&
            ringd_has_unread(fd)) {
            w->spoke = 1;
        }
        if (!w->spoke) {
            return w;
        }
    }
    return oldest;
}

/* Makes room for a connection from |peer|: over a cap, a waiting connection of that cap is
 * evicted (a stranger before an authenticated peer, one that never spoke before one that did),
 * never the new one refused, so connections somebody holds open cannot keep a sync or a join
 * out. */
static void make_room(struct ringd *d, const struct ring_addr *peer)
{
    size_t waiting = 0, strangers = 0, same = 0;
    struct list *head = &d->streams_waiting;
    for (struct list *it = head->next; it != head; it = it->next) {
        struct ringd_stream *w = list_entry(it, struct ringd_stream, wait);
        waiting++;
        strangers += !w->authed;
        same += !w->authed && same_host(&w->peer, peer);
    }
    if (same >= STREAMS_PER_ADDRESS_MAX) {
        refuse(eviction_victim(d, 2, peer), &d->m.stream_evicted_addr,
               "evicted: too many connections waiting from one address");
    } else if (strangers >= STREAMS_STRANGERS_MAX) {
        refuse(eviction_victim(d, 1, peer), &d->m.stream_evicted_total,
               "evicted: too many unauthenticated connections");
    } else if (waiting >= STREAMS_IN_MAX) {
        refuse(eviction_victim(d, strangers > 0 ? 1 : 0, peer), &d->m.stream_evicted_total,
               "evicted: too many connections waiting");
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct ringd *d = server->data;
    if (status != 0 || accept_pace_wait(&d->peer_pace)) {
        return;
    }
    uint64_t deadline_ms = ringd_encrypting(d) ? STREAM_HANDSHAKE_MS : STREAM_IN_TIMEOUT_MS;
    struct ringd_stream *st = stream_new(d, 0, deadline_ms);
    if (st == NULL) {
        return;
    }
    d->streams_in_open++;
    d->m.streams_in++;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_accept(server, (uv_stream_t *)&st->tcp) != 0 ||
        uv_tcp_getpeername(&st->tcp, (struct sockaddr *)&ss, &len) != 0 ||
        ringd_addr_from_sockaddr((struct sockaddr *)&ss, &st->peer) != 0) {
        stream_close(st);
        return;
    }
    make_room(d, &st->peer);
    list_push(&d->streams_waiting, &st->wait);
    start_reading(st);
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
        rv = accept_pace_init(d->loop, &d->peer_pace, (uv_stream_t *)&d->peer, on_connection);
    }
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

uint32_t ringd_node_fds_max(void)
{
    /* The socket, the listener and the loop's own few, then sessions in and out. */
    return 16 + STREAMS_IN_MAX + STREAMS_OUT_MAX;
}
