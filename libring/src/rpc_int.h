/* Internals shared by the rpc files: a bounded msgpack header reader, the frame scanner and
 * the message decoder. */
#ifndef RING_RPC_INT_H
#define RING_RPC_INT_H

#include "ring/rpc.h"

enum rpc__mp_kind {
    RPC__MP_NIL = 0,
    RPC__MP_BOOL,
    RPC__MP_UINT,
    RPC__MP_INT,
    RPC__MP_FLOAT,
    RPC__MP_STR,
    RPC__MP_BIN,
    RPC__MP_EXT,
    RPC__MP_ARRAY,
    RPC__MP_MAP,
};

/* One msgpack header. |n| is the value of a UINT (or a non-negative signed int), the item
 * count of an ARRAY, the pair count of a MAP, or the payload bytes of a STR, BIN or EXT
 * (which follow the header). */
struct rpc__mp_head {
    uint8_t kind; /* enum rpc__mp_kind */
    uint64_t n;
    int64_t i;
    double f;
};

/*
 * Reads the header at |p| (|avail| bytes readable). Returns the header's length (1..9), 0
 * when |avail| is too short to hold it, or RING_EPROTO for the never-used byte 0xc1.
 */
int rpc__mp_head(const uint8_t *p, size_t avail, struct rpc__mp_head *h);

/* Resumable framing: where the scan of the current message stands. */
struct rpc__frame {
    /* Offset of the next header to read, from the start of the message. */
    uint64_t scan;
    /* Values still to read before the message is complete. */
    uint64_t pending;
};

void rpc__frame_reset(struct rpc__frame *f);

/*
 * Continues scanning the message at |p|, of which |avail| bytes have arrived. Returns 1 and
 * the message length in |*msg_len| once it is complete, 0 when more bytes are needed, or a
 * fatal RING_EPROTO or RING_EMSGSIZE (|*detail| says why).
 */
int rpc__frame_scan(struct rpc__frame *f, const uint8_t *p, size_t avail, size_t bytes_max,
                    size_t *msg_len, const char **detail);

/* Decodes the complete message of |len| bytes at |p| (as framed) into |*m|. Returns 0 or a
 * per-message error of rpc_reader_next(); m->detail says why. */
int rpc__decode(const uint8_t *p, size_t len, struct rpc_msg *m);

#endif
