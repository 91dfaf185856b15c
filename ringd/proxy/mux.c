/*
 * mux: see mux.h. Flow control: a stream may have FWD_WINDOW_BYTES unacknowledged; the
 * receiver sends WINDOW once its user has passed half a window on. Bytes over the window
 * wait in the stream's own queue, so one slow stream never blocks the connection's others.
 *
 * With keys every frame travels under the connection's session (ring/session.h): an incoming
 * connection arrives from stream.c with its handshake done; an outgoing one sends its hello
 * first and keeps the frames its streams send meanwhile as plaintext until the server's hello
 * gives the session, then seals them in order (frame numbers are the nonces).
 *
 * Limits on what a peer can hold here: incoming connections (at the cap, the one idle longest
 * is evicted, else the new one refused), streams per connection and incoming streams in all
 * (each holds one of the proxy's client slots), and incoming streams idle before their
 * request ended are reset.
 */
#include "mux.h"

#include <stdlib.h>
#include <string.h>

#include "outq.h"
#include "proxy_int.h"
#include "err.h"
#include "ring/fwd.h"
#include "ring/session.h"
#include "sbuf.h"

#include <sodium.h>

/* Stream table buckets per connection (ids are sequential, so id % buckets spreads well). */
#define MUX_BUCKETS 64
/* Streams open at once on one connection: more OPENs are refused with RESET. A ringd opens a
 * second connection to a peer when one is full. */
#define MUX_STREAMS_MAX 256
/* Incoming streams on all connections: each holds one of the proxy's PROXY_CLIENTS_MAX client
 * slots, so peers can never take more than a quarter of them. */
#define MUX_STREAMS_IN_MAX (PROXY_CLIENTS_MAX / 4)
/* Incoming forwarding connections: a ringd needs one per peer (two when one is full). */
#define MUX_CONNS_IN_MAX 256
/* How often the sweep looks at every stream for idling. */
#define MUX_STREAM_SWEEP_MS 1000
/* An outgoing connection's frames kept while its handshake runs (sealed when it ends): each
 * stream's first write (a request's replayable start, up to PROXY_REPLAY_BYTES_MAX) fits,
 * for every stream a connection may hold; later writes wait (mux_queued() counts these). */
#define MUX_EARLY_BYTES_MAX (24u << 20)
_Static_assert(MUX_EARLY_BYTES_MAX > MUX_STREAMS_MAX * (PROXY_REPLAY_BYTES_MAX + 4096u),
               "the first write of every stream fits while the handshake runs");
/* Read buffer: several frames per read; always holds one whole sealed frame. */
#define MUX_RBUF_BYTES (64u << 10)
/* An outgoing connection with no stream closes after this long; incoming ones after more,
 * so the connecting side is the one that closes. */
#define MUX_IDLE_OUT_MS 60000
#define MUX_IDLE_IN_MS  120000
/* A stream's queue beyond its window: bounded by the user's backpressure, this is a guard. */
#define MUX_PENDING_BYTES_MAX (64u << 20)
/* The largest frame on the wire (payload sealed). */
#define MUX_WIRE_BYTES_MAX (FWD_FRAME_BYTES_MAX + SEAL_OVERHEAD_BYTES)

_Static_assert(MUX_RBUF_BYTES >= CODEC_FRAME_HEADER_BYTES + MUX_WIRE_BYTES_MAX,
               "the read buffer holds a whole frame");

struct mux_conn {
    struct ringd_mux *m;
    struct list link; /* in ringd_mux.conns */
    uv_tcp_t own_tcp; /* outgoing connections' handle */
    uv_tcp_t *tcp;
    void *owner; /* incoming: the memory |tcp| lives in, given back by owner_close */
    uv_close_cb owner_close;
    uv_connect_t connect;
    struct ring_addr peer;
    int outgoing;
    int connected;
    int closing;
    struct outq out;
    uint8_t *rbuf;
    size_t rlen;
    uint32_t next_id;
    struct mux_stream *buckets[MUX_BUCKETS];
    size_t streams;
    uint64_t since_ms; /* connect started, or the last stream ended */
    int secure;        /* frames under |sess| */
    struct session sess;
    struct sbuf early; /* outgoing, secure: plaintext frames waiting for the handshake */
};

struct mux_stream {
    struct mux_conn *c; /* NULL once the connection dropped it */
    struct mux_stream *hnext;
    uint32_t id;
    struct ring_addr peer;
    const struct mux_stream_cbs *cbs;
    void *user;
    uint32_t send_window;
    uint32_t recv_left;
    uint32_t recv_unacked;
    struct sbuf pending;
    size_t pending_off;
    uint8_t fin_sent, fin_recv, reset, sent_any, want_writable;
    uint8_t released; /* the user let go; kept only to send its queued bytes and FIN */
    uint64_t last_ms; /* incoming: the last frame received */
};

struct ringd_mux {
    struct ringd_proxy *p; /* the proxy that owns it: its streams' users, its counters */
    struct ringd *d;       /* the node: loop, config, keys */
    struct list conns;
    size_t count;
    size_t conns_in, streams_in;
    uint64_t stream_sweep_ms;
    uint8_t plain[MUX_WIRE_BYTES_MAX];
    uint8_t sealed[MUX_WIRE_BYTES_MAX];
};

struct ringd_mux *ringd_mux_new(struct ringd_proxy *p)
{
    struct ringd_mux *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    m->p = p;
    m->d = p->d;
    list_init(&m->conns);
    return m;
}

void ringd_mux_free(struct ringd_mux *m)
{
    free(m);
}

/* The proxy's counters, which count the peers' connections too. */
static struct ringd_proxy_counters *counters(const struct ringd_mux *m)
{
    return &m->p->m;
}

/* ---- connections ----------------------------------------------------------------------- */

static void reset_streams(struct mux_conn *c);

static void on_conn_closed(uv_handle_t *h)
{
    struct mux_conn *c = h->data;
    reset_streams(c);
    outq_free(&c->out);
    sbuf_free(&c->early);
    session_clear(&c->sess);
    free(c->rbuf);
    if (c->owner != NULL) {
        h->data = c->owner;
        c->owner_close(h);
    }
    free(c);
}

static struct mux_stream **bucket(struct mux_conn *c, uint32_t id)
{
    return &c->buckets[id % MUX_BUCKETS];
}

static void unlink_stream(struct mux_stream *s)
{
    struct mux_conn *c = s->c;
    if (c == NULL) {
        return;
    }
    for (struct mux_stream **p = bucket(c, s->id); *p != NULL; p = &(*p)->hnext) {
        if (*p == s) {
            *p = s->hnext;
            break;
        }
    }
    s->c = NULL;
    if (!c->outgoing) {
        c->m->streams_in--;
    }
    if (--c->streams == 0) {
        c->since_ms = uv_now(c->m->d->loop);
    }
}

/* Closes |c|. Its streams are reset from the close callback, never from inside a call the
 * user made (a failed write), so users need not expect callbacks during their own calls. */
static void conn_fail(struct mux_conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = 1;
    struct ringd_mux *m = c->m;
    list_remove(&c->link);
    m->count--;
    m->conns_in -= !c->outgoing;
    uv_close((uv_handle_t *)c->tcp, on_conn_closed);
}

static void reset_streams(struct mux_conn *c)
{
    for (size_t b = 0; b < MUX_BUCKETS; b++) {
        while (c->buckets[b] != NULL) {
            struct mux_stream *s = c->buckets[b];
            /* before the handshake ends a stream's frames wait here, unsent */
            int delivered = c->connected && s->sent_any &&
                            (!c->secure || session_state(&c->sess) == SESSION_ESTABLISHED);
            unlink_stream(s);
            s->reset = 1;
            if (s->released) {
                sbuf_free(&s->pending);
                free(s);
            } else if (s->cbs != NULL && s->cbs->on_reset != NULL) {
                s->cbs->on_reset(s, delivered);
            }
        }
    }
}

static void notify_writable(struct mux_stream *s)
{
    if (s->want_writable && mux_queued(s) == 0) {
        s->want_writable = 0;
        if (s->cbs != NULL && s->cbs->on_writable != NULL) {
            s->cbs->on_writable(s);
        }
    }
}

static void on_out_done(struct outq *q, int status)
{
    struct mux_conn *c = (struct mux_conn *)((char *)q - offsetof(struct mux_conn, out));
    if (status != 0) {
        conn_fail(c);
        return;
    }
    for (size_t b = 0; b < MUX_BUCKETS && !c->closing; b++) {
        struct mux_stream *next;
        for (struct mux_stream *s = c->buckets[b]; s != NULL; s = next) {
            next = s->hnext;
            notify_writable(s);
        }
    }
}

/* Writes |len| plaintext bytes at |plain| as one frame under the session. Returns 0 or a
 * negative errno (the session's failure converted, or outq's uv error). */
static int write_sealed(struct mux_conn *c, const uint8_t *plain, size_t len)
{
    struct ringd_mux *m = c->m;
    uint8_t hdr[CODEC_FRAME_HEADER_BYTES];
    ssize_t sealed = session_seal(&c->sess, plain, len, m->sealed, sizeof(m->sealed));
    if (sealed < 0) {
        return ringd_err_from_ring((int)sealed);
    }
    codec_frame_header(hdr, (uint32_t)sealed);
    uv_buf_t bufs[2] = {
        uv_buf_init((char *)hdr, sizeof(hdr)),
        uv_buf_init((char *)m->sealed, (unsigned)sealed),
    };
    return outq_write(&c->out, bufs, 2);
}

/* Sends one frame: |head| (type, stream, fixed body) then |data| (may be empty). Returns 0,
 * or UV_ECONNRESET when the connection is closing or the write failed (it is closed then). */
static int send_frame(struct mux_conn *c, const uint8_t *head, size_t head_len, const void *data,
                      size_t len)
{
    if (c->closing) {
        return UV_ECONNRESET;
    }
    uint8_t hdr[CODEC_FRAME_HEADER_BYTES];
    codec_frame_header(hdr, (uint32_t)(head_len + len));
    int rv;
    if (c->secure && session_state(&c->sess) != SESSION_ESTABLISHED) {
        /* the handshake is still running: kept in order, sealed when it ends */
        sbuf_add(&c->early, hdr, sizeof(hdr));
        sbuf_add(&c->early, head, head_len);
        if (len > 0) {
            sbuf_add(&c->early, data, len);
        }
        rv = c->early.failed ? UV_ENOMEM : 0;
    } else if (c->secure) {
        struct ringd_mux *m = c->m;
        memcpy(m->plain, head, head_len);
        if (len > 0) {
            memcpy(m->plain + head_len, data, len);
        }
        rv = write_sealed(c, m->plain, head_len + len);
    } else {
        uv_buf_t bufs[3];
        unsigned n = 0;
        bufs[n++] = uv_buf_init((char *)hdr, sizeof(hdr));
        bufs[n++] = uv_buf_init((char *)head, (unsigned)head_len);
        if (len > 0) {
            bufs[n++] = uv_buf_init((char *)data, (unsigned)len);
        }
        rv = outq_write(&c->out, bufs, n);
    }
    if (rv != 0) {
        conn_fail(c);
        return UV_ECONNRESET;
    }
    return 0;
}

/* ---- reading ----------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct mux_conn *c = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(MUX_RBUF_BYTES - c->rlen));
}

static struct mux_stream *find(struct mux_conn *c, uint32_t id)
{
    for (struct mux_stream *s = *bucket(c, id); s != NULL; s = s->hnext) {
        if (s->id == id) {
            return s;
        }
    }
    return NULL;
}

static struct mux_stream *stream_new(struct mux_conn *c, uint32_t id)
{
    struct mux_stream *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->c = c;
    s->id = id;
    s->peer = c->peer;
    s->send_window = FWD_WINDOW_BYTES;
    s->recv_left = FWD_WINDOW_BYTES;
    sbuf_init(&s->pending, MUX_PENDING_BYTES_MAX);
    s->hnext = *bucket(c, id);
    *bucket(c, id) = s;
    c->streams++;
    s->last_ms = uv_now(c->m->d->loop);
    if (!c->outgoing) {
        c->m->streams_in++;
    }
    return s;
}

static void incoming_open(struct mux_conn *c, const struct fwd_frame *f)
{
    struct ringd_mux *m = c->m;
    uint8_t frame[16];
    if (c->streams >= MUX_STREAMS_MAX || m->streams_in >= MUX_STREAMS_IN_MAX || m->d->stopping) {
        counters(m)->proxy_peer_streams_refused += !m->d->stopping;
        send_frame(c, frame, fwd_reset(frame, f->stream, FWD_RESET_REFUSED), NULL, 0);
        return;
    }
    struct mux_stream *s = stream_new(c, f->stream);
    if (s == NULL) {
        send_frame(c, frame, fwd_reset(frame, f->stream, FWD_RESET_REFUSED), NULL, 0);
        return;
    }
    ringd_proxy_incoming(m->p, s, f->hops, f->checksum);
}

static void flush_pending(struct mux_stream *s);

static void reap_now(struct mux_stream *s)
{
    unlink_stream(s);
    sbuf_free(&s->pending);
    free(s);
}

/* Frees a released stream once its FIN is out. */
static void reap(struct mux_stream *s)
{
    if (s->fin_sent == 2 || s->c == NULL) {
        reap_now(s);
    }
}

/* Acts on one frame. Returns 0, or UV_EPROTO when it broke the protocol (the caller
 * closes). */
static int on_frame(struct mux_conn *c, const struct fwd_frame *f)
{
    if (f->type == FWD_HELLO) {
        return UV_EPROTO;
    }
    if (f->type == FWD_OPEN) {
        if (c->outgoing || find(c, f->stream) != NULL) {
            return UV_EPROTO;
        }
        incoming_open(c, f);
        return 0;
    }
    struct mux_stream *s = find(c, f->stream);
    if (s == NULL) {
        return 0; /* released here already: its late frames are dropped */
    }
    s->last_ms = uv_now(c->m->d->loop);
    if (s->released) {
        if (f->type == FWD_WINDOW) {
            s->send_window += f->window;
            flush_pending(s);
            reap(s);
        } else if (f->type == FWD_RESET) {
            reap_now(s);
        }
        return 0;
    }
    switch (f->type) {
    case FWD_DATA:
        if (f->len > s->recv_left || s->fin_recv) {
            return UV_EPROTO;
        }
        s->recv_left -= (uint32_t)f->len;
        s->cbs->on_data(s, f->data, f->len);
        return 0;
    case FWD_FIN:
        s->fin_recv = 1;
        s->cbs->on_fin(s);
        return 0;
    case FWD_RESET:
        unlink_stream(s);
        s->reset = 1;
        s->cbs->on_reset(s, 1);
        return 0;
    case FWD_WINDOW:
        if ((uint64_t)s->send_window + f->window > 2ull * FWD_WINDOW_BYTES) {
            return UV_EPROTO;
        }
        s->send_window += f->window;
        flush_pending(s);
        if (s->c != NULL) {
            notify_writable(s);
        }
        return 0;
    default:
        return UV_EPROTO;
    }
}

/* Outgoing, with keys: the server's |hello| arrived. Sends the confirm, then the frames kept
 * meanwhile, each sealed in order. Returns 0 or a negative errno: the session's failure
 * converted (-EKEYREJECTED for a hello not made with our keys), or a write's. */
static int client_finish(struct mux_conn *c, const uint8_t *hello, size_t len)
{
    uint8_t confirm[CODEC_FRAME_HEADER_BYTES + SESSION_CONFIRM_BYTES];
    ssize_t n = session_client_finish(&c->sess, &c->m->d->keys, hello, len,
                                      confirm + CODEC_FRAME_HEADER_BYTES, SESSION_CONFIRM_BYTES);
    if (n < 0) {
        return ringd_err_from_ring((int)n);
    }
    codec_frame_header(confirm, (uint32_t)n);
    uv_buf_t b = uv_buf_init((char *)confirm, (unsigned)(CODEC_FRAME_HEADER_BYTES + (size_t)n));
    int rv = outq_write(&c->out, &b, 1);
    if (rv != 0) {
        return rv;
    }
    const uint8_t *early = (const uint8_t *)c->early.data;
    for (size_t pos = 0; pos < c->early.len;) {
        uint32_t flen = 0;
        codec_frame_length(early + pos, &flen);
        rv = write_sealed(c, early + pos + CODEC_FRAME_HEADER_BYTES, flen);
        if (rv != 0) {
            return rv;
        }
        pos += CODEC_FRAME_HEADER_BYTES + flen;
    }
    sbuf_free(&c->early);
    sbuf_init(&c->early, MUX_EARLY_BYTES_MAX);
    return 0;
}

/* Parses the whole frames at the start of the read buffer. */
static void read_frames(struct mux_conn *c)
{
    struct ringd_mux *m = c->m;
    size_t pos = 0;
    while (!c->closing && c->rlen - pos >= CODEC_FRAME_HEADER_BYTES) {
        uint32_t len;
        if (codec_frame_length(c->rbuf + pos, &len) != 0 || len == 0 || len > MUX_WIRE_BYTES_MAX) {
            conn_fail(c);
            return;
        }
        if (c->rlen - pos - CODEC_FRAME_HEADER_BYTES < len) {
            break;
        }
        const uint8_t *wire = c->rbuf + pos + CODEC_FRAME_HEADER_BYTES;
        pos += CODEC_FRAME_HEADER_BYTES + len;
        if (c->secure && session_state(&c->sess) == SESSION_HELLO_SENT) {
            if (client_finish(c, wire, len) != 0) {
                counters(m)->proxy_peer_auth_failures++;
                conn_fail(c);
                return;
            }
            continue;
        }
        size_t plain_len = 0;
        const uint8_t *plain = NULL;
        if (c->secure) {
            ssize_t n = session_open(&c->sess, wire, len, m->plain, sizeof(m->plain));
            if (n < 0) {
                counters(m)->proxy_peer_auth_failures++;
                conn_fail(c);
                return;
            }
            plain = m->plain;
            plain_len = (size_t)n;
        } else {
            plain = ringd_open(m->d, SEAL_STREAM, &c->peer, wire, len, m->plain, sizeof(m->plain),
                               &plain_len);
        }
        struct fwd_frame f;
        if (plain == NULL || fwd_parse(plain, plain_len, &f) != 0 || on_frame(c, &f) != 0) {
            counters(m)->proxy_peer_protocol_errors++;
            conn_fail(c);
            return;
        }
    }
    if (!c->closing && pos > 0) {
        memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= pos;
    }
}

static void on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    struct mux_conn *c = h->data;
    (void)buf;
    if (nread < 0) {
        conn_fail(c);
        return;
    }
    c->rlen += (size_t)nread;
    read_frames(c);
    outq_batch_flush(&c->m->p->batch); /* to apps and clients: what these frames caused */
}

/* ---- setting up -------------------------------------------------------------------------- */

static struct mux_conn *conn_new(struct ringd_mux *m, int outgoing)
{
    struct mux_conn *c = calloc(1, sizeof(*c));
    uint8_t *rbuf = c != NULL ? malloc(MUX_RBUF_BYTES) : NULL;
    if (rbuf == NULL) {
        free(c);
        return NULL;
    }
    c->m = m;
    c->rbuf = rbuf;
    c->outgoing = outgoing;
    c->next_id = 1;
    c->since_ms = uv_now(m->d->loop);
    sbuf_init(&c->early, MUX_EARLY_BYTES_MAX);
    session_init(&c->sess, outgoing ? SESSION_CLIENT : SESSION_SERVER);
    outq_init(&c->out, on_out_done, &m->p->batch_peer);
    list_push(&m->conns, &c->link);
    m->count++;
    m->conns_in += !outgoing;
    return c;
}

/* At the cap of incoming connections: closes the one idle longest. Returns 1, or 0 when
 * every one has streams. */
static int evict_idle_in(struct ringd_mux *m)
{
    struct mux_conn *idle = NULL;
    for (struct list *it = m->conns.next; it != &m->conns; it = it->next) {
        struct mux_conn *c = list_entry(it, struct mux_conn, link);
        if (!c->outgoing && c->streams == 0 && (idle == NULL || c->since_ms < idle->since_ms)) {
            idle = c;
        }
    }
    if (idle == NULL) {
        return 0;
    }
    counters(m)->proxy_peer_conns_evicted++;
    conn_fail(idle);
    return 1;
}

void ringd_mux_accept(void *ctx, uv_tcp_t *tcp, void *owner, uv_close_cb close_cb,
                      const struct ring_addr *peer, const struct session *sess,
                      const uint8_t *frame, size_t len)
{
    struct ringd_proxy *p = ctx;
    struct ringd_mux *m = p->mux;
    struct fwd_frame f;
    if (fwd_parse(frame, len, &f) != 0 || f.type != FWD_HELLO) {
        counters(m)->proxy_peer_protocol_errors++;
        uv_close((uv_handle_t *)tcp, close_cb);
        return;
    }
    if (m->conns_in >= MUX_CONNS_IN_MAX && !evict_idle_in(m)) {
        counters(m)->proxy_peer_conns_refused++;
        uv_close((uv_handle_t *)tcp, close_cb);
        return;
    }
    struct mux_conn *c = conn_new(m, 0);
    if (c == NULL) {
        uv_close((uv_handle_t *)tcp, close_cb);
        return;
    }
    if (sess != NULL) {
        c->secure = 1;
        c->sess = *sess;
    }
    c->tcp = tcp;
    c->owner = owner;
    c->owner_close = close_cb;
    c->peer = *peer;
    c->connected = 1;
    tcp->data = c;
    uv_tcp_nodelay(tcp, 1);
    counters(m)->proxy_peer_conns_in++;
    if (outq_attach(&c->out, (uv_stream_t *)tcp) != 0 ||
        uv_read_start((uv_stream_t *)tcp, on_alloc, on_read) != 0) {
        conn_fail(c);
    }
}

static void on_connected(uv_connect_t *req, int status)
{
    struct mux_conn *c = req->data;
    if (c->closing) {
        return;
    }
    if (status != 0 || outq_attach(&c->out, (uv_stream_t *)c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read) != 0) {
        counters(c->m)->proxy_peer_connect_failures++;
        conn_fail(c);
        return;
    }
    c->connected = 1;
    uv_tcp_nodelay(c->tcp, 1);
}

/* With keys: the session's hello goes first; every frame after it waits for the answer.
 * Returns 0 or a negative errno (the session's failure converted, or the write's). */
static int send_client_hello(struct mux_conn *c)
{
    uint8_t rnd[SESSION_RANDOM_BYTES];
    uint8_t frame[CODEC_FRAME_HEADER_BYTES + SESSION_HELLO_BYTES];
    randombytes_buf(rnd, sizeof(rnd));
    ssize_t n = session_client_hello(&c->sess, &c->m->d->keys, rnd,
                                     frame + CODEC_FRAME_HEADER_BYTES, SESSION_HELLO_BYTES);
    sodium_memzero(rnd, sizeof(rnd));
    if (n < 0) {
        return ringd_err_from_ring((int)n);
    }
    c->secure = 1;
    codec_frame_header(frame, (uint32_t)n);
    uv_buf_t b = uv_buf_init((char *)frame, (unsigned)(CODEC_FRAME_HEADER_BYTES + (size_t)n));
    return outq_write(&c->out, &b, 1);
}

static struct mux_conn *conn_to(struct ringd_mux *m, const struct ring_addr *peer)
{
    struct ringd *d = m->d;
    for (struct list *it = m->conns.next; it != &m->conns; it = it->next) {
        struct mux_conn *c = list_entry(it, struct mux_conn, link);
        if (c->outgoing && !c->closing && c->next_id < UINT32_MAX && c->streams < MUX_STREAMS_MAX &&
            ring_addr_equal(&c->peer, peer)) {
            return c;
        }
    }
    struct mux_conn *c = conn_new(m, 1);
    if (c == NULL) {
        return NULL;
    }
    c->peer = *peer;
    c->tcp = &c->own_tcp;
    uv_tcp_init(d->loop, c->tcp);
    c->tcp->data = c;
    c->connect.data = c;
    counters(m)->proxy_peer_conns_out++;
    struct sockaddr_storage ss;
    ringd_addr_to_sockaddr(peer, peer->family == RING_ADDR_V6, &ss);
    if (ringd_streams_secure_out(d) && send_client_hello(c) != 0) {
        conn_fail(c);
        return NULL;
    }
    uint8_t hello[16];
    if (send_frame(c, hello, fwd_hello(hello), NULL, 0) != 0) {
        return NULL; /* send_frame closed it */
    }
    if (uv_tcp_connect(&c->connect, c->tcp, (const struct sockaddr *)&ss, on_connected) != 0) {
        counters(m)->proxy_peer_connect_failures++;
        conn_fail(c);
        return NULL;
    }
    return c;
}

/* ---- streams ----------------------------------------------------------------------------- */

struct mux_stream *mux_open(struct ringd_mux *m, const struct ring_addr *peer, uint8_t hops,
                            uint64_t checksum, const struct mux_stream_cbs *cbs, void *user)
{
    struct mux_conn *c = conn_to(m, peer);
    if (c == NULL) {
        return NULL;
    }
    struct mux_stream *s = stream_new(c, c->next_id++);
    if (s == NULL) {
        return NULL;
    }
    uint8_t open[16];
    s->sent_any = 1;
    if (send_frame(c, open, fwd_open(open, s->id, hops, checksum), NULL, 0) != 0) {
        mux_release(s);
        return NULL;
    }
    s->cbs = cbs;
    s->user = user;
    return s;
}

void mux_set_cbs(struct mux_stream *s, const struct mux_stream_cbs *cbs, void *user)
{
    s->cbs = cbs;
    s->user = user;
}

void *mux_user(const struct mux_stream *s)
{
    return s->user;
}

const struct ring_addr *mux_peer(const struct mux_stream *s)
{
    return &s->peer;
}

/* Sends as much as the window allows of |data|; returns the bytes sent or UV_ECONNRESET. */
static ssize_t send_data(struct mux_stream *s, const uint8_t *data, size_t len)
{
    size_t sent = 0;
    while (sent < len && s->send_window > 0 && s->c != NULL) {
        size_t n = len - sent;
        n = n > FWD_DATA_BYTES_MAX ? FWD_DATA_BYTES_MAX : n;
        n = n > s->send_window ? s->send_window : n;
        uint8_t head[FWD_HEADER_BYTES];
        fwd_header(head, FWD_DATA, s->id);
        int rv = send_frame(s->c, head, sizeof(head), data + sent, n);
        if (rv != 0) {
            return rv;
        }
        s->send_window -= (uint32_t)n;
        sent += n;
    }
    return (ssize_t)sent;
}

static void send_fin(struct mux_stream *s)
{
    uint8_t fin[16];
    send_frame(s->c, fin, fwd_fin(fin, s->id), NULL, 0);
}

static void flush_pending(struct mux_stream *s)
{
    size_t left = s->pending.len - s->pending_off;
    if (left > 0) {
        ssize_t n = send_data(s, (const uint8_t *)s->pending.data + s->pending_off, left);
        if (n < 0) {
            return;
        }
        s->pending_off += (size_t)n;
        if (s->pending_off == s->pending.len) {
            sbuf_reset(&s->pending);
            s->pending_off = 0;
        }
    }
    if (s->fin_sent == 1 && s->pending.len == 0 && s->c != NULL) {
        s->fin_sent = 2; /* queued FIN goes after the last byte */
        send_fin(s);
    }
}

int mux_write(struct mux_stream *s, const void *data, size_t len)
{
    if (s->c == NULL || s->c->closing || s->reset || s->fin_sent) {
        return UV_ECONNRESET;
    }
    size_t sent = 0;
    if (s->pending.len == 0) {
        ssize_t n = send_data(s, data, len);
        if (n < 0) {
            return (int)n;
        }
        sent = (size_t)n;
    }
    if (sent < len) {
        if (s->pending_off > 0 && s->pending_off * 2 >= s->pending.len) {
            /* compact: the queue is a window's worth, copying it back is cheap */
            size_t left = s->pending.len - s->pending_off;
            memmove(s->pending.data, s->pending.data + s->pending_off, left);
            s->pending.len = left;
            s->pending_off = 0;
        }
        sbuf_add(&s->pending, (const char *)data + sent, len - sent);
        if (s->pending.failed) {
            return UV_ENOMEM;
        }
    }
    return 0;
}

size_t mux_queued(const struct mux_stream *s)
{
    size_t q = s->pending.len - s->pending_off;
    /* The frames kept while the connection's handshake runs count too: many streams opened
     * on a new connection at once (requests held for a restarting owner, released together)
     * then pause their clients rather than overflow MUX_EARLY_BYTES_MAX. */
    return s->c != NULL ? q + outq_bytes(&s->c->out) + s->c->early.len : q;
}

void mux_want_writable(struct mux_stream *s)
{
    s->want_writable = 1;
}

void mux_fin(struct mux_stream *s)
{
    if (s->fin_sent || s->c == NULL) {
        return;
    }
    s->fin_sent = 1;
    if (s->pending.len == 0) {
        s->fin_sent = 2;
        send_fin(s);
    }
}

void mux_consumed(struct mux_stream *s, size_t len)
{
    s->recv_unacked += (uint32_t)len;
    if (s->c == NULL || s->fin_recv || s->recv_unacked < FWD_WINDOW_BYTES / 2) {
        return;
    }
    uint8_t w[16];
    uint32_t inc = s->recv_unacked;
    s->recv_unacked = 0;
    s->recv_left += inc;
    send_frame(s->c, w, fwd_window(w, s->id, inc), NULL, 0);
}

void mux_release(struct mux_stream *s)
{
    if (s->c != NULL && !s->reset && s->fin_sent == 1) {
        /* FIN queued behind bytes the window holds back: stay until they are out */
        s->released = 1;
        s->cbs = NULL;
        s->want_writable = 0;
        return;
    }
    if (s->c != NULL && !s->reset && s->fin_sent != 2) {
        uint8_t r[16];
        struct mux_conn *c = s->c;
        unlink_stream(s);
        send_frame(c, r, fwd_reset(r, s->id, FWD_RESET_CANCEL), NULL, 0);
    } else {
        unlink_stream(s);
    }
    sbuf_free(&s->pending);
    free(s);
}

void mux_cancel(struct mux_stream *s)
{
    if (s->c != NULL && !s->reset && !s->fin_recv && s->fin_sent != 0) {
        /* this side's FIN is out (or queued): mux_release would let the peer go on serving
         * a request nobody waits for */
        uint8_t r[16];
        struct mux_conn *c = s->c;
        unlink_stream(s);
        send_frame(c, r, fwd_reset(r, s->id, FWD_RESET_CANCEL), NULL, 0);
        sbuf_free(&s->pending);
        free(s);
        return;
    }
    mux_release(s);
}

/* ---- upkeep ------------------------------------------------------------------------------ */

/* Resets the first incoming stream of |c| idle past --idle-timeout before its request ended:
 * a forwarded request's bytes come as fast as the sender's client sends them, so the client
 * connection's idle limit is the stream's. Returns 1 if it reset one (the user's on_reset may
 * have changed the table). */
static int reset_one_idle(struct mux_conn *c, uint64_t now_ms)
{
    for (size_t b = 0; b < MUX_BUCKETS; b++) {
        for (struct mux_stream *s = c->buckets[b]; s != NULL; s = s->hnext) {
            if (s->released || s->fin_recv ||
                now_ms - s->last_ms < c->m->d->cfg.proxy_idle_timeout_ms) {
                continue;
            }
            uint8_t r[16];
            counters(c->m)->proxy_peer_streams_idle++;
            unlink_stream(s);
            s->reset = 1;
            send_frame(c, r, fwd_reset(r, s->id, FWD_RESET_CANCEL), NULL, 0);
            if (s->cbs != NULL && s->cbs->on_reset != NULL) {
                s->cbs->on_reset(s, 1);
            }
            return 1;
        }
    }
    return 0;
}

static void sweep_idle_streams(struct ringd_mux *m, uint64_t now_ms)
{
    struct list *head = &m->conns;
    for (struct list *it = head->next, *next; it != head; it = next) {
        next = it->next;
        struct mux_conn *c = list_entry(it, struct mux_conn, link);
        while (!c->outgoing && !c->closing && reset_one_idle(c, now_ms)) {
        }
    }
}

void ringd_mux_sweep(struct ringd_mux *m, uint64_t now_ms)
{
    const struct ringd_config *cfg = &m->d->cfg;
    if (now_ms - m->stream_sweep_ms >= MUX_STREAM_SWEEP_MS) {
        m->stream_sweep_ms = now_ms;
        sweep_idle_streams(m, now_ms);
    }
    struct list *head = &m->conns;
    for (struct list *it = head->next, *next; it != head; it = next) {
        next = it->next;
        struct mux_conn *c = list_entry(it, struct mux_conn, link);
        uint64_t age = now_ms - c->since_ms;
        /* connecting, or connected and still waiting for the handshake's answer */
        int up = c->connected && (!c->secure || session_state(&c->sess) == SESSION_ESTABLISHED);
        int stuck = c->outgoing && !up && age >= cfg->proxy_connect_timeout_ms;
        int idle = c->streams == 0 && age >= (c->outgoing ? MUX_IDLE_OUT_MS : MUX_IDLE_IN_MS);
        if (stuck) {
            counters(m)->proxy_peer_connect_failures++;
        }
        if (stuck || idle) {
            conn_fail(c);
        }
    }
}

void ringd_mux_close_all(struct ringd_mux *m)
{
    while (!list_empty(&m->conns)) {
        conn_fail(list_entry(m->conns.next, struct mux_conn, link));
    }
}

uint32_t mux_conns_max(void)
{
    return 2 * MUX_CONNS_IN_MAX;
}
