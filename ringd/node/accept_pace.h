/*
 * accept_pace: at most ACCEPT_PACE_TURN connections accepted from one listener per turn of the
 * loop.
 *
 * libuv accepts from a listener until the kernel's queue is empty, calling the connection
 * callback for each, and a connection closed meanwhile (one a full listener evicts) is freed
 * only once the loop turns. A flood that keeps the queue full (a local process connecting to
 * the API socket in a loop: 19,000 connections a second) therefore held the loop there: no
 * timer ran and no datagram was read for 2 s, the node was declared faulty by its peers, and
 * its memory rose to 184 MiB with the connections closed but not freed. A paced listener's
 * callback leaves the connection past the turn's share in the queue (libuv stops watching
 * the listener until it is accepted) and is called for it again on the next turn, after the
 * loop has run its timers, read its sockets and freed what closed.
 */
#ifndef RINGD_ACCEPT_PACE_H
#define RINGD_ACCEPT_PACE_H

#include <uv.h>

/* Connections accepted per turn of the loop: a burst of this many costs a few milliseconds. */
#define ACCEPT_PACE_TURN 64

struct accept_pace {
    uv_idle_t next_turn;
    uv_stream_t *server;
    uv_connection_cb cb;
    unsigned taken; /* accepted since the last turn passed */
    int waiting;    /* a connection waits in the queue for the next turn */
};

/* Paces |server|, whose connection callback is |cb|. Returns 0 or a uv error. */
int accept_pace_init(uv_loop_t *loop, struct accept_pace *ap, uv_stream_t *server,
                     uv_connection_cb cb);
/* Called first in |cb|: 1 when this connection waits for the next turn (|cb| returns without
 * uv_accept and is called again for it then), 0 when it is accepted now. */
int accept_pace_wait(struct accept_pace *ap);
/* Stops pacing, before the listener closes. */
void accept_pace_close(struct accept_pace *ap);

#endif
