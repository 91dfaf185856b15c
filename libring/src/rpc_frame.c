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
 * header arrives, not after buffering up to the limit.
 */
#include <string.h>

#include "ring/error.h"
#include "rpc_int.h"

static uint64_t be_read(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++) {
        v = (v << 8) | p[k];
    }
    return v;
}

static int64_t be_signed(const uint8_t *p, size_t n)
{
    uint64_t v = be_read(p, n);
    uint64_t sign = UINT64_C(1) << (8 * n - 1);
    /* Sign-extend through unsigned arithmetic: (v ^ sign) - sign is defined for every v. */
    return (int64_t)((v ^ sign) - sign);
}

static double be_float(const uint8_t *p, size_t n)
{
    uint64_t bits = be_read(p, n);
    if (n == 4) {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof(f));
        return f;
    }
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* A header "kind + big-endian length in |width| bytes" (str/bin/array/map 8/16/32). */
static int sized(const uint8_t *p, size_t avail, uint8_t kind, size_t width, struct rpc__mp_head *h)
{
    if (avail < 1 + width) {
        return 0;
    }
    h->kind = kind;
    h->n = be_read(p + 1, width);
    return (int)(1 + width);
}

static int ext(const uint8_t *p, size_t avail, size_t width, struct rpc__mp_head *h)
{
    /* The ext type byte follows the length; the header includes it. */
    if (avail < 2 + width) {
        return 0;
    }
    h->kind = RPC__MP_EXT;
    h->n = be_read(p + 1, width);
    return (int)(2 + width);
}

static int number(const uint8_t *p, size_t avail, int is_signed, size_t width,
                  struct rpc__mp_head *h)
{
    if (avail < 1 + width) {
        return 0;
    }
    if (!is_signed) {
        h->kind = RPC__MP_UINT;
        h->n = be_read(p + 1, width);
        return (int)(1 + width);
    }
    h->i = be_signed(p + 1, width);
    h->kind = h->i < 0 ? RPC__MP_INT : RPC__MP_UINT;
    h->n = h->i < 0 ? 0 : (uint64_t)h->i;
    return (int)(1 + width);
}

static int fixed(uint8_t b, struct rpc__mp_head *h)
{
    if (b <= 0x7f) {
        h->kind = RPC__MP_UINT;
        h->n = b;
    } else if (b <= 0x8f) {
        h->kind = RPC__MP_MAP;
        h->n = b & 0x0fu;
    } else if (b <= 0x9f) {
        h->kind = RPC__MP_ARRAY;
        h->n = b & 0x0fu;
    } else if (b <= 0xbf) {
        h->kind = RPC__MP_STR;
        h->n = b & 0x1fu;
    } else {
        h->kind = RPC__MP_INT;
        h->i = (int8_t)b;
    }
    return 1;
}

static int simple(uint8_t b, struct rpc__mp_head *h)
{
    h->kind = b == 0xc0 ? RPC__MP_NIL : RPC__MP_BOOL;
    h->n = b == 0xc3;
    return 1;
}

static int floating(const uint8_t *p, size_t avail, size_t width, struct rpc__mp_head *h)
{
    if (avail < 1 + width) {
        return 0;
    }
    h->kind = RPC__MP_FLOAT;
    h->f = be_float(p + 1, width);
    return (int)(1 + width);
}

static int fixext(const uint8_t *p, size_t avail, struct rpc__mp_head *h)
{
    if (avail < 2) {
        return 0;
    }
    h->kind = RPC__MP_EXT;
    h->n = (uint64_t)1 << (p[0] - 0xd4);
    return 2;
}

int rpc__mp_head(const uint8_t *p, size_t avail, struct rpc__mp_head *h)
{
    if (avail == 0) {
        return 0;
    }
    uint8_t b = p[0];
    memset(h, 0, sizeof(*h));
    if (b <= 0xbf || b >= 0xe0) {
        return fixed(b, h);
    }
    switch (b) {
    case 0xc0:
    case 0xc2:
    case 0xc3:
        return simple(b, h);
    case 0xc4:
    case 0xc5:
    case 0xc6:
        return sized(p, avail, RPC__MP_BIN, (size_t)1 << (b - 0xc4), h);
    case 0xc7:
    case 0xc8:
    case 0xc9:
        return ext(p, avail, (size_t)1 << (b - 0xc7), h);
    case 0xca:
    case 0xcb:
        return floating(p, avail, b == 0xca ? 4 : 8, h);
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        return number(p, avail, 0, (size_t)1 << (b - 0xcc), h);
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
        return number(p, avail, 1, (size_t)1 << (b - 0xd0), h);
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        return fixext(p, avail, h);
    case 0xd9:
    case 0xda:
    case 0xdb:
        return sized(p, avail, RPC__MP_STR, (size_t)1 << (b - 0xd9), h);
    case 0xdc:
    case 0xdd:
        return sized(p, avail, RPC__MP_ARRAY, b == 0xdc ? 2 : 4, h);
    case 0xde:
    case 0xdf:
        return sized(p, avail, RPC__MP_MAP, b == 0xde ? 2 : 4, h);
    default: /* 0xc1, never used by msgpack */
        return RING_EPROTO;
    }
}

void rpc__frame_reset(struct rpc__frame *f)
{
    f->scan = 0;
    f->pending = 1;
}

/* Values a header adds to the scan: the items of a container (a map's keys and values). */
static uint64_t children(const struct rpc__mp_head *h)
{
    if (h->kind == RPC__MP_ARRAY) {
        return h->n;
    }
    if (h->kind == RPC__MP_MAP) {
        return 2 * h->n;
    }
    return 0;
}

/* Payload bytes after a header. */
static uint64_t payload(const struct rpc__mp_head *h)
{
    int has = h->kind == RPC__MP_STR || h->kind == RPC__MP_BIN || h->kind == RPC__MP_EXT;
    return has ? h->n : 0;
}

/* Reads one header at f->scan. Returns 1 on progress, 0 to wait, or a fatal error. */
static int frame_step(struct rpc__frame *f, const uint8_t *p, size_t avail, size_t bytes_max,
                      const char **detail)
{
    struct rpc__mp_head h;
    int n = rpc__mp_head(p + f->scan, avail - f->scan, &h);
    if (n == 0) {
        return 0;
    }
    if (n < 0) {
        *detail = "invalid msgpack byte 0xc1";
        return RING_EPROTO;
    }
    if (f->scan == 0 && h.kind != RPC__MP_ARRAY) {
        *detail = "a message must be a msgpack array";
        return RING_EPROTO;
    }
    f->scan += (uint64_t)n + payload(&h);
    f->pending += children(&h) - 1;
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
