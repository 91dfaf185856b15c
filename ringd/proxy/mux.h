/*
 * mux: the forwarding proxy's multiplexed peer connections (frames: ring/fwd.h). One
 * outgoing TCP connection per peer carries every request this node forwards to it; each
 * request is a stream with its own flow-control window. Incoming connections arrive on the
 * gossip port: stream.c hands a connection whose first frame is a HELLO over to
 * ringd_mux_accept(), and every OPEN on it becomes an incoming stream for the proxy.
 *
 * A stream's user gets its callbacks until it calls mux_release(); after a connection fails,
 * each of its streams gets on_reset once.
 *
 * The mux is the proxy's (struct ringd_mux, owned by struct ringd_proxy): it reads the node's
 * loop, config and keys through the proxy, and its incoming streams go to the proxy.
 */
#ifndef RINGD_MUX_H
#define RINGD_MUX_H

#include "daemon.h"

struct mux_stream;
struct ringd_mux;
struct ringd_proxy;

/* The mux of proxy |p| (which has its node set), with no connection yet; NULL when out of
 * memory. Freed by ringd_mux_free() once its connections are closed (ringd_mux_close_all()
 * and the loop has run their close callbacks). */
struct ringd_mux *ringd_mux_new(struct ringd_proxy *p);
void ringd_mux_free(struct ringd_mux *m);

struct mux_stream_cbs {
    /* Body bytes, valid during the call. The user calls mux_consumed() once it has passed
     * them on (at once, or later to slow the sender down). */
    void (*on_data)(struct mux_stream *s, const uint8_t *data, size_t len);
    /* The peer sent everything. */
    void (*on_fin)(struct mux_stream *s);
    /* The stream is dead (the peer reset it, or the connection failed). |delivered| is 0
     * only when none of this side's bytes can have reached the peer (the connection never
     * came up). */
    void (*on_reset)(struct mux_stream *s, int delivered);
    /* mux_queued() fell back to 0 after mux_want_writable(). */
    void (*on_writable)(struct mux_stream *s);
};

/* Opens a stream to the ringd at |peer| (its gossip address), connecting if no connection
 * is up. Returns NULL when out of memory. */
struct mux_stream *mux_open(struct ringd_mux *m, const struct ring_addr *peer, uint8_t hops,
                            uint64_t checksum, const struct mux_stream_cbs *cbs, void *user);
/* Sets the callbacks of an incoming stream (given to ringd_proxy_incoming). */
void mux_set_cbs(struct mux_stream *s, const struct mux_stream_cbs *cbs, void *user);
void *mux_user(const struct mux_stream *s);
const struct ring_addr *mux_peer(const struct mux_stream *s);

/* Sends |len| bytes on |s|: at once within the window, the rest queued until the peer
 * opens it. Returns 0, UV_ECONNRESET (the stream or its connection is dead) or UV_ENOMEM. */
int mux_write(struct mux_stream *s, const void *data, size_t len);
/* Bytes of |s| not yet handed to the kernel (queued for the window or the connection). */
size_t mux_queued(const struct mux_stream *s);
/* Asks for on_writable once mux_queued() is 0 again. */
void mux_want_writable(struct mux_stream *s);
void mux_fin(struct mux_stream *s);
void mux_consumed(struct mux_stream *s, size_t len);
/* The user is done with |s|: a stream not finished both ways is reset. No callback after. */
void mux_release(struct mux_stream *s);
/* As mux_release, for a user that gives up before the peer finished: the stream is reset
 * (cancel) even when this side's FIN is out, so the peer stops serving it. */
void mux_cancel(struct mux_stream *s);

/* The node's acceptor for forwarding connections (ringd_node_accept_streams(), |ctx| the
 * struct ringd_proxy): |tcp| (inside |owner|'s memory, reading stopped) sent |frame| first, which
 * must be a HELLO, under |sess| (copied; NULL: plaintext). mux closes it with |close_cb| after
 * pointing tcp->data back at |owner|. */
void ringd_mux_accept(void *ctx, uv_tcp_t *tcp, void *owner, uv_close_cb close_cb,
                      const struct ring_addr *peer, const struct session *sess,
                      const uint8_t *frame, size_t len);
/* Closes idle and stuck connections (connect timeout) and resets idle incoming streams;
 * called by the proxy's sweep. */
void ringd_mux_sweep(struct ringd_mux *m, uint64_t now_ms);
/* Closes every connection (shutdown). */
void ringd_mux_close_all(struct ringd_mux *m);

/* proxy.c: an incoming stream was opened by |peer|. The proxy sets its callbacks. */
void ringd_proxy_incoming(struct ringd_proxy *p, struct mux_stream *s, uint8_t hops,
                          uint64_t checksum);

/* The forwarding connections to budget file descriptors for: MUX_CONNS_IN_MAX incoming, and
 * as many outgoing (one per peer this node forwards to). */
uint32_t mux_conns_max(void);

#endif
