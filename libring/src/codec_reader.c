/*
 * codec_reader: the strict msgpack reader behind codec_decode().
 *
 * Why not msgpack-c's unpacker: msgpack_unpack_next() builds a tree of msgpack_object in a
 * msgpack_zone, so a datagram's decode would allocate in proportion to what the sender
 * claims (an array32 header asks for its element table up front), it accepts any nesting
 * up to its own compile-time stack, and it reports every problem as one "parse error".
 * The protocol needs the opposite: no allocation, every length and count checked against
 * our limit before anything is read, a depth bound of our own, and a specific error per
 * kind of bad input for the decode-error counters. msgpack is simple enough that a cursor
 * over the buffer does all that in a page: one function classifies a type byte
 * (item_next), the typed readers and the skipper build on it.
 */
#include <string.h>

#include "ring/codec.h"
#include "ring/error.h"
#include "codec_reader.h"

enum kind {
    KIND_UINT,  /* value in |u| */
    KIND_NINT,  /* a negative integer */
    KIND_NIL,   /* nil */
    KIND_BOOL,  /* value in |u| */
    KIND_FLOAT, /* payload already consumed */
    KIND_STR,   /* |u| payload bytes follow */
    KIND_BIN,   /* |u| payload bytes follow */
    KIND_EXT,   /* |u| payload bytes follow (the ext type byte is consumed) */
    KIND_ARRAY, /* |u| elements follow */
    KIND_MAP,   /* |u| key/value pairs follow */
};

struct item {
    enum kind kind;
    uint64_t u;
};

void codec__reader_init(struct codec__reader *r, const uint8_t *buf, size_t len)
{
    r->p = buf;
    r->end = buf + len;
}

size_t codec__remaining(const struct codec__reader *r)
{
    return (size_t)(r->end - r->p);
}

/* Reads an |n|-byte big-endian unsigned integer. */
static int take_be(struct codec__reader *r, size_t n, uint64_t *v)
{
    if (codec__remaining(r) < n) {
        return RING_ETRUNC;
    }
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        x = (x << 8) | r->p[i];
    }
    r->p += n;
    *v = x;
    return 0;
}

/* A signed int of |n| bytes: non-negative values read as KIND_UINT. */
static int take_int(struct codec__reader *r, size_t n, struct item *it)
{
    uint64_t x;
    int rv = take_be(r, n, &x);
    if (rv != 0) {
        return rv;
    }
    uint64_t sign = UINT64_C(1) << (8 * n - 1);
    it->kind = (x & sign) ? KIND_NINT : KIND_UINT;
    it->u = x;
    return 0;
}

/* Sets |it| to a header of |kind| whose length is an |n|-byte big-endian number. */
static int take_len(struct codec__reader *r, size_t n, enum kind kind, struct item *it)
{
    it->kind = kind;
    return take_be(r, n, &it->u);
}

/* An ext: |n|-byte length (0 for fixext of length |fixed|), then the type byte. */
static int take_ext(struct codec__reader *r, size_t n, uint64_t fixed, struct item *it)
{
    int rv = n ? take_len(r, n, KIND_EXT, it) : 0;
    if (rv != 0) {
        return rv;
    }
    if (n == 0) {
        it->kind = KIND_EXT;
        it->u = fixed;
    }
    uint64_t type;
    return take_be(r, 1, &type);
}

static int item_fixed(uint8_t b, struct item *it)
{
    if (b <= 0x7f) {
        *it = (struct item){ KIND_UINT, b };
    } else if (b <= 0x8f) {
        *it = (struct item){ KIND_MAP, b & 0x0fu };
    } else if (b <= 0x9f) {
        *it = (struct item){ KIND_ARRAY, b & 0x0fu };
    } else if (b <= 0xbf) {
        *it = (struct item){ KIND_STR, b & 0x1fu };
    } else if (b >= 0xe0) {
        *it = (struct item){ KIND_NINT, b };
    } else if (b == 0xc0) {
        *it = (struct item){ KIND_NIL, 0 };
    } else if (b == 0xc2 || b == 0xc3) {
        *it = (struct item){ KIND_BOOL, b == 0xc3 };
    } else {
        return 0;
    }
    return 1;
}

/* Reads the header of the next value: for str, bin and ext the cursor is left at the
 * payload; scalars are consumed whole. 0xc1 (never used by msgpack) is RING_EPROTO. */
static int item_next(struct codec__reader *r, struct item *it)
{
    if (r->p == r->end) {
        return RING_ETRUNC;
    }
    uint8_t b = *r->p++;
    uint64_t ignored;
    if (item_fixed(b, it)) {
        return 0;
    }
    switch (b) {
    case 0xc4:
    case 0xc5:
    case 0xc6:
        return take_len(r, (size_t)1 << (b - 0xc4), KIND_BIN, it);
    case 0xc7:
    case 0xc8:
    case 0xc9:
        return take_ext(r, (size_t)1 << (b - 0xc7), 0, it);
    case 0xca:
    case 0xcb:
        it->kind = KIND_FLOAT;
        return take_be(r, b == 0xca ? 4 : 8, &ignored);
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        return take_len(r, (size_t)1 << (b - 0xcc), KIND_UINT, it);
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
        return take_int(r, (size_t)1 << (b - 0xd0), it);
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        return take_ext(r, 0, (uint64_t)1 << (b - 0xd4), it);
    case 0xd9:
    case 0xda:
    case 0xdb:
        return take_len(r, (size_t)1 << (b - 0xd9), KIND_STR, it);
    case 0xdc:
    case 0xdd:
        return take_len(r, (size_t)2 << (b - 0xdc), KIND_ARRAY, it);
    case 0xde:
    case 0xdf:
        return take_len(r, (size_t)2 << (b - 0xde), KIND_MAP, it);
    default:
        return RING_EPROTO; /* 0xc1 */
    }
}

/* Reads a header that must be of |kind|. */
static int item_expect(struct codec__reader *r, enum kind kind, struct item *it)
{
    int rv = item_next(r, it);
    if (rv != 0) {
        return rv;
    }
    if (it->kind == kind) {
        return 0;
    }
    return kind == KIND_UINT && it->kind == KIND_NINT ? RING_EPROTO : RING_ETYPE;
}

int codec__read_uint(struct codec__reader *r, uint64_t *v)
{
    struct item it;
    int rv = item_expect(r, KIND_UINT, &it);
    if (rv == 0) {
        *v = it.u;
    }
    return rv;
}

int codec__read_uint_max(struct codec__reader *r, uint64_t max, uint64_t *v)
{
    int rv = codec__read_uint(r, v);
    if (rv == 0 && *v > max) {
        return RING_EPROTO;
    }
    return rv;
}

int codec__read_bool(struct codec__reader *r, int *v)
{
    struct item it;
    int rv = item_expect(r, KIND_BOOL, &it);
    if (rv == 0) {
        *v = (int)it.u;
    }
    return rv;
}

/* Takes a |len|-byte payload, unless it is over |max| or not all there. */
static int take_payload(struct codec__reader *r, uint64_t len, size_t max, const uint8_t **s,
                        size_t *out_len)
{
    if (len > max) {
        return RING_EMSGSIZE;
    }
    if (len > codec__remaining(r)) {
        return RING_ETRUNC;
    }
    *s = r->p;
    *out_len = (size_t)len;
    r->p += len;
    return 0;
}

int codec__read_str(struct codec__reader *r, size_t max, const uint8_t **s, size_t *len)
{
    struct item it;
    int rv = item_expect(r, KIND_STR, &it);
    return rv != 0 ? rv : take_payload(r, it.u, max, s, len);
}

int codec__read_bin(struct codec__reader *r, size_t max, const uint8_t **s, size_t *len)
{
    struct item it;
    int rv = item_expect(r, KIND_BIN, &it);
    return rv != 0 ? rv : take_payload(r, it.u, max, s, len);
}

/* Checks a container of |n| elements of at least one byte each against |max| and the
 * bytes left. */
static int check_count(const struct codec__reader *r, uint64_t n, size_t max)
{
    if (n > max) {
        return RING_E2BIG;
    }
    return n > codec__remaining(r) ? RING_ETRUNC : 0;
}

int codec__read_array(struct codec__reader *r, size_t max, size_t *n)
{
    struct item it;
    int rv = item_expect(r, KIND_ARRAY, &it);
    if (rv == 0) {
        rv = check_count(r, it.u, max);
    }
    *n = rv == 0 ? (size_t)it.u : 0;
    return rv;
}

int codec__read_map(struct codec__reader *r, size_t max, size_t *n)
{
    struct item it;
    int rv = item_expect(r, KIND_MAP, &it);
    if (rv == 0) {
        rv = check_count(r, it.u, max);
    }
    if (rv == 0 && it.u * 2 > codec__remaining(r)) {
        rv = RING_ETRUNC;
    }
    *n = rv == 0 ? (size_t)it.u : 0;
    return rv;
}

/* Skips a value without recursion: |pending[k]| counts the values still to skip at
 * nesting level k below the first value. */
int codec__skip(struct codec__reader *r, int depth)
{
    uint64_t pending[CODEC_DEPTH_MAX + 2];
    int top = 0;
    pending[0] = 1;
    while (top >= 0) {
        if (pending[top] == 0) {
            top--;
            continue;
        }
        pending[top]--;
        struct item it;
        int rv = item_next(r, &it);
        if (rv != 0) {
            return rv;
        }
        if (it.kind == KIND_STR || it.kind == KIND_BIN || it.kind == KIND_EXT) {
            if (it.u > codec__remaining(r)) {
                return RING_ETRUNC;
            }
            r->p += it.u;
        } else if (it.kind == KIND_ARRAY || it.kind == KIND_MAP) {
            if (depth + top > CODEC_DEPTH_MAX) {
                return RING_EPROTO;
            }
            uint64_t n = it.kind == KIND_MAP ? it.u * 2 : it.u;
            if (n > codec__remaining(r)) {
                return RING_ETRUNC;
            }
            pending[++top] = n;
        }
    }
    return 0;
}
