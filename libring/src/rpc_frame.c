/*
 * rpc_frame: where one msgpack-RPC message ends, found without decoding it.
 *
 * msgpack has no length prefix: a message ends where its top-level value does. The scanner
 * reads headers only and keeps one number, the count of values still to read: each header
 * consumes one and an array of n adds n, a map of n adds 2n. A str, bin or ext header jumps
 * over its payload without waiting for it. The state is two integers, so a message split at
 * any byte boundary resumes where it stopped, and nesting depth costs nothing here (the
 * decoder bounds it once the message is whole).
 *
 * Every value takes at least one byte, so once (bytes scanned + values pending) exceeds the
 * size limit the message can never fit: a declared length of 4 GiB is rejected as soon as its
 * header arrives, not after buffering up to the limit. Headers are read by mpread__head()
 * (mpread.c says why not msgpack-c's unpacker).
 */
#include "ring/error.h"
#include "rpc_int.h"

void rpc__frame_reset(struct rpc__frame *f)
{
    f->scan = 0;
    f->pending = 1;
}

/* Reads one header at f->scan. Returns 1 on progress, 0 to wait, or a fatal error. */
static int frame_step(struct rpc__frame *f, const uint8_t *p, size_t avail, size_t bytes_max,
                      const char **detail)
{
    struct mpread__head h;
    int n = mpread__head(p + f->scan, avail - f->scan, &h);
    if (n == RING_ETRUNC) {
        return 0;
    }
    if (n < 0) {
        *detail = "invalid msgpack byte 0xc1";
        return RING_EPROTO;
    }
    if (f->scan == 0 && h.kind != MPREAD__ARRAY) {
        *detail = "a message must be a msgpack array";
        return RING_EPROTO;
    }
    f->scan += (uint64_t)n + mpread__payload(&h);
    f->pending += mpread__children(&h) - 1;
    if (f->scan + f->pending > bytes_max) {
        *detail = "message larger than the size limit";
        return RING_EMSGSIZE;
    }
    return 1;
}

int rpc__frame_scan(struct rpc__frame *f, const uint8_t *p, size_t avail, size_t bytes_max,
                    size_t *msg_len, const char **detail)
{
    while (f->pending > 0) {
        if (f->scan >= avail) {
            return 0;
        }
        int rv = frame_step(f, p, avail, bytes_max, detail);
        if (rv <= 0) {
            return rv;
        }
    }
    if (f->scan > avail) {
        return 0;
    }
    *msg_len = (size_t)f->scan;
    return 1;
}
