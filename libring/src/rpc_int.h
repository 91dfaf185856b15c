/* Internals shared by the rpc files: the frame scanner and the message decoder (both read
 * msgpack with mpread.h). */
#ifndef RING_RPC_INT_H
#define RING_RPC_INT_H

#include "ring/rpc.h"
#include "mpread.h"

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
