/*
 * fwd: the frames of the forwarding proxy's peer connections (proto/PROTOCOL.md, section 11).
 *
 * A ringd forwards a request to the key's owner over one TCP connection per peer, to the
 * peer's gossip port, shared by every request in flight to that peer (multiplexed, like
 * HTTP/2 or yamux): each request is a stream, and the stream carries the request's HTTP/1.1
 * bytes one way and the response's the other. Frames use the gossip streams' framing (a
 * 4-byte big-endian length, then the payload, sealed when the cluster encrypts); the
 * payload is:
 *
 *     type (1 byte) | stream id (4 bytes, big-endian) | body
 *
 *   HELLO   0x4d ('M'), stream 0, body "RMUX" and version 1: the first frame of the
 *           connection (every gossip stream frame starts 0x93 or 0x94 instead).
 *   OPEN    1, a new stream: hop count (1 byte), the sender's ring checksum (8 bytes).
 *   DATA    2, body bytes of the stream (1 .. FWD_DATA_BYTES_MAX).
 *   FIN     3, no more DATA from this side.
 *   RESET   4, abandon the stream: a reason byte (FWD_RESET_*).
 *   WINDOW  5, the receiver consumed this many more bytes (4 bytes): flow control, so one
 *           slow stream never holds more than FWD_WINDOW_BYTES in the receiver.
 *
 * Only the side that connected opens streams; a ringd that forwards the other way opens its
 * own connection. Pure: this file parses and builds frame payloads, ringd does the I/O.
 */
#ifndef RING_FWD_H
#define RING_FWD_H

#include <stddef.h>
#include <stdint.h>

#include "ring/base.h"

#define FWD_HELLO   0x4d
#define FWD_OPEN    1
#define FWD_DATA    2
#define FWD_FIN     3
#define FWD_RESET   4
#define FWD_WINDOW  5
#define FWD_VERSION 1

/* Type and stream id. */
#define FWD_HEADER_BYTES 5
/* Body bytes in one DATA frame: small enough that streams interleave finely. */
#define FWD_DATA_BYTES_MAX (16u << 10)
/* The largest frame payload (a full DATA frame). */
#define FWD_FRAME_BYTES_MAX (FWD_HEADER_BYTES + FWD_DATA_BYTES_MAX)
/* Bytes a stream may have in flight before the receiver's WINDOW: 256 KB keeps a loopback
 * or LAN link busy at full speed and bounds the receiver's memory per stream. */
#define FWD_WINDOW_BYTES (256u << 10)
/* Hop limit: the sender's hop (1) and one re-forward by a node that no longer owns the key. */
#define FWD_HOPS_MAX 2

/* RESET reasons. */
#define FWD_RESET_CANCEL   1 /* the sender gave up (its client went away, a timeout) */
#define FWD_RESET_REFUSED  2 /* too many streams, or the receiver is stopping */
#define FWD_RESET_PROTOCOL 3 /* a frame broke the rules (window, unknown type) */

struct fwd_frame {
    uint8_t type;
    uint32_t stream;
    const uint8_t *data; /* DATA: the body; into the payload parsed */
    size_t len;
    uint8_t hops;      /* OPEN */
    uint64_t checksum; /* OPEN */
    uint8_t reason;    /* RESET */
    uint32_t window;   /* WINDOW: the increment */
};

/*
 * Parses the frame payload |p| (|len| bytes) into |*f|. Returns 0, or:
 *   RING_ETRUNC  shorter than its type requires
 *   RING_EPROTO  an unknown type, a bad HELLO, stream 0 on a stream frame (or not 0 on
 *                HELLO), hops 0 or over FWD_HOPS_MAX, an empty or oversized DATA, a zero
 *                or oversized WINDOW, trailing bytes
 */
RING_EXTERN int fwd_parse(const uint8_t *p, size_t len, struct fwd_frame *f);

/* Writes the type and stream id into |out| (FWD_HEADER_BYTES). */
RING_EXTERN void fwd_header(uint8_t *out, uint8_t type, uint32_t stream);

/* Builds whole small frames into |out| and returns their length: HELLO (10 bytes), OPEN
 * (14), FIN (5), RESET (6), WINDOW (9). */
RING_EXTERN size_t fwd_hello(uint8_t *out);
RING_EXTERN size_t fwd_open(uint8_t *out, uint32_t stream, uint8_t hops, uint64_t checksum);
RING_EXTERN size_t fwd_fin(uint8_t *out, uint32_t stream);
RING_EXTERN size_t fwd_reset(uint8_t *out, uint32_t stream, uint8_t reason);
RING_EXTERN size_t fwd_window(uint8_t *out, uint32_t stream, uint32_t increment);

#endif
