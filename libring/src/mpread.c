/*
 * mpread: the strict msgpack reader behind codec_decode() and the rpc framer and decoder.
 *
 * Why not msgpack-c's unpacker: msgpack_unpack_next() builds a tree of msgpack_object in a
 * msgpack_zone that mallocs chunks per message (outside our ring_mem, so the counting
 * allocator could not see them), in proportion to what the sender claims (an array32 header
 * asks for its element table up front); it accepts any nesting up to its own compile-time
 * stack, and it reports every problem as one "parse error". The protocols need the opposite:
 * no allocation, every length and count checked against our limit before anything is read,
 * a depth bound of our own, and a specific error per kind of bad input for the decode-error
 * counters and the rpc error responses. msgpack is simple enough that a cursor over the
 * buffer does all that in a page: one function classifies a header (mpread__head), the
 * cursor, the typed reads and the skipper build on it. msgpack-c's packer is still what the
 * rpc writers use, and an rpc client may hand a result to msgpack_unpack() once the decoder
 * has bounded its depth.
 */
#include <string.h>

#include "ring/error.h"
#include "mpread.h"

/* The type bytes 0xc0..0xdf: the kind, the bytes after the type byte that hold the value or
 * length, and for an ext the type byte after those. 0xc1 has no kind. */
static const struct {
    uint8_t kind;
    uint8_t width;
} wide[32] = {
    [0x00] = { MPREAD__NIL, 0 },   [0x02] = { MPREAD__BOOL, 0 },  [0x03] = { MPREAD__BOOL, 0 },
    [0x04] = { MPREAD__BIN, 1 },   [0x05] = { MPREAD__BIN, 2 },   [0x06] = { MPREAD__BIN, 4 },
    [0x07] = { MPREAD__EXT, 1 },   [0x08] = { MPREAD__EXT, 2 },   [0x09] = { MPREAD__EXT, 4 },
    [0x0a] = { MPREAD__FLOAT, 4 }, [0x0b] = { MPREAD__FLOAT, 8 }, [0x0c] = { MPREAD__UINT, 1 },
    [0x0d] = { MPREAD__UINT, 2 },  [0x0e] = { MPREAD__UINT, 4 },  [0x0f] = { MPREAD__UINT, 8 },
    [0x10] = { MPREAD__INT, 1 },   [0x11] = { MPREAD__INT, 2 },   [0x12] = { MPREAD__INT, 4 },
    [0x13] = { MPREAD__INT, 8 },   [0x14] = { MPREAD__EXT, 0 },   [0x15] = { MPREAD__EXT, 0 },
    [0x16] = { MPREAD__EXT, 0 },   [0x17] = { MPREAD__EXT, 0 },   [0x18] = { MPREAD__EXT, 0 },
    [0x19] = { MPREAD__STR, 1 },   [0x1a] = { MPREAD__STR, 2 },   [0x1b] = { MPREAD__STR, 4 },
    [0x1c] = { MPREAD__ARRAY, 2 }, [0x1d] = { MPREAD__ARRAY, 4 }, [0x1e] = { MPREAD__MAP, 2 },
    [0x1f] = { MPREAD__MAP, 4 },
};

static uint64_t be_read(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++) {
        v = (v << 8) | p[k];
    }
    return v;
}

/* The single-byte headers: fixint, fixmap, fixarray, fixstr, negative fixint. */
static void head_fixed(uint8_t b, struct mpread__head *h)
{
    if (b <= 0x7f) {
        h->kind = MPREAD__UINT;
        h->n = b;
    } else if (b <= 0x8f) {
        h->kind = MPREAD__MAP;
        h->n = b & 0x0fu;
    } else if (b <= 0x9f) {
        h->kind = MPREAD__ARRAY;
        h->n = b & 0x0fu;
    } else if (b <= 0xbf) {
        h->kind = MPREAD__STR;
        h->n = b & 0x1fu;
    } else {
        h->kind = MPREAD__INT;
        h->i = (int8_t)b;
    }
}

/* A signed int of |width| bytes |v|: non-negative values are UINTs. */
static void head_signed(uint64_t v, size_t width, struct mpread__head *h)
{
    uint64_t sign = UINT64_C(1) << (8 * width - 1);
    /* Sign-extend through unsigned arithmetic: (v ^ sign) - sign is defined for every v. */
    h->i = (int64_t)((v ^ sign) - sign);
    h->kind = h->i < 0 ? MPREAD__INT : MPREAD__UINT;
    h->n = h->i < 0 ? 0 : (uint64_t)h->i;
}

static double as_float(uint64_t bits, size_t width)
{
    if (width == 4) {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof(f));
        return f;
    }
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

int mpread__head(const uint8_t *p, size_t avail, struct mpread__head *h)
{
    if (avail == 0) {
        return RING_ETRUNC;
    }
    uint8_t b = p[0];
    memset(h, 0, sizeof(*h));
    if (b <= 0xbf || b >= 0xe0) {
        head_fixed(b, h);
        return 1;
    }
    if (b == 0xc1) {
        return RING_EPROTO;
    }
    h->kind = wide[b - 0xc0].kind;
    size_t width = wide[b - 0xc0].width;
    size_t len = 1 + width + (h->kind == MPREAD__EXT);
    if (avail < len) {
        return RING_ETRUNC;
    }
    uint64_t v = be_read(p + 1, width);
    if (h->kind == MPREAD__INT) {
        head_signed(v, width, h);
    } else if (h->kind == MPREAD__FLOAT) {
        h->f = as_float(v, width);
    } else if (h->kind == MPREAD__BOOL) {
        h->n = b == 0xc3;
    } else {
        h->n = h->kind == MPREAD__EXT && width == 0 ? (uint64_t)1 << (b - 0xd4) : v; /* fixext */
    }
    return (int)len;
}

uint64_t mpread__payload(const struct mpread__head *h)
{
    int has = h->kind == MPREAD__STR || h->kind == MPREAD__BIN || h->kind == MPREAD__EXT;
    return has ? h->n : 0;
}

uint64_t mpread__children(const struct mpread__head *h)
{
    if (h->kind == MPREAD__ARRAY) {
        return h->n;
    }
    return h->kind == MPREAD__MAP ? 2 * h->n : 0;
}

void mpread__init(struct mpread__cur *c, const uint8_t *buf, size_t len)
{
    c->p = buf;
    c->end = buf + len;
}

size_t mpread__remaining(const struct mpread__cur *c)
{
    return (size_t)(c->end - c->p);
}

/* Reads a header, leaving the cursor at its payload, which is not checked. */
static int head_only(struct mpread__cur *c, struct mpread__head *h)
{
    int len = mpread__head(c->p, mpread__remaining(c), h);
    if (len < 0) {
        return len;
    }
    c->p += len;
    return 0;
}

int mpread__next(struct mpread__cur *c, struct mpread__head *h)
{
    int rv = head_only(c, h);
    if (rv == 0 && mpread__payload(h) > mpread__remaining(c)) {
        return RING_ETRUNC;
    }
    return rv;
}

const uint8_t *mpread__take(struct mpread__cur *c, uint64_t len)
{
    RING_ASSERT(len <= mpread__remaining(c));
    const uint8_t *start = c->p;
    c->p += len;
    return start;
}

/* Reads a header that must be of |kind|; the payload is not checked. */
static int head_expect(struct mpread__cur *c, enum mpread__kind kind, struct mpread__head *h)
{
    int rv = head_only(c, h);
    if (rv != 0 || h->kind == kind) {
        return rv;
    }
    return kind == MPREAD__UINT && h->kind == MPREAD__INT ? RING_EPROTO : RING_ETYPE;
}

int mpread__uint(struct mpread__cur *c, uint64_t *v)
{
    struct mpread__head h;
    int rv = head_expect(c, MPREAD__UINT, &h);
    if (rv == 0) {
        *v = h.n;
    }
    return rv;
}

int mpread__uint_max(struct mpread__cur *c, uint64_t max, uint64_t *v)
{
    int rv = mpread__uint(c, v);
    return rv == 0 && *v > max ? RING_EPROTO : rv;
}

int mpread__bool(struct mpread__cur *c, int *v)
{
    struct mpread__head h;
    int rv = head_expect(c, MPREAD__BOOL, &h);
    if (rv == 0) {
        *v = (int)h.n;
    }
    return rv;
}

/* A str or bin: the kind, the limit, then the bytes. */
static int read_bytes(struct mpread__cur *c, enum mpread__kind kind, size_t max, const uint8_t **s,
                      size_t *len)
{
    struct mpread__head h;
    int rv = head_expect(c, kind, &h);
    if (rv == 0 && h.n > max) {
        rv = RING_EMSGSIZE;
    }
    if (rv == 0 && h.n > mpread__remaining(c)) {
        rv = RING_ETRUNC;
    }
    if (rv == 0) {
        *len = (size_t)h.n;
        *s = mpread__take(c, h.n);
    }
    return rv;
}

int mpread__str(struct mpread__cur *c, size_t max, const uint8_t **s, size_t *len)
{
    return read_bytes(c, MPREAD__STR, max, s, len);
}

int mpread__bin(struct mpread__cur *c, size_t max, const uint8_t **s, size_t *len)
{
    return read_bytes(c, MPREAD__BIN, max, s, len);
}

/* An array or map: the kind, the limit, then one byte per element. */
static int read_container(struct mpread__cur *c, enum mpread__kind kind, size_t max, size_t *n)
{
    struct mpread__head h;
    int rv = head_expect(c, kind, &h);
    if (rv == 0 && h.n > max) {
        rv = RING_E2BIG;
    }
    if (rv == 0 && mpread__children(&h) > mpread__remaining(c)) {
        rv = RING_ETRUNC;
    }
    *n = rv == 0 ? (size_t)h.n : 0;
    return rv;
}

int mpread__array(struct mpread__cur *c, size_t max, size_t *n)
{
    return read_container(c, MPREAD__ARRAY, max, n);
}

int mpread__map(struct mpread__cur *c, size_t max, size_t *n)
{
    return read_container(c, MPREAD__MAP, max, n);
}

/* Skips without recursion: |pending[k]| counts the values still to skip at nesting level k
 * below the first value; only containers with elements take a level. */
int mpread__skip(struct mpread__cur *c, int depth, int depth_max, enum mpread__depth rule)
{
    RING_ASSERT(depth >= 1 && depth_max <= MPREAD_DEPTH_MAX);
    uint64_t pending[MPREAD_DEPTH_MAX + 1];
    int top = 0;
    pending[0] = 1;
    while (top >= 0) {
        if (pending[top] == 0) {
            top--;
            continue;
        }
        pending[top]--;
        struct mpread__head h;
        int rv = head_only(c, &h);
        if (rv != 0) {
            return rv;
        }
        uint64_t kids = mpread__children(&h);
        int container = h.kind == MPREAD__ARRAY || h.kind == MPREAD__MAP;
        if (container && (kids > 0 || rule == MPREAD__DEPTH_ALL) && depth + top > depth_max) {
            return RING_E2BIG;
        }
        if (mpread__payload(&h) + kids > mpread__remaining(c)) {
            return RING_ETRUNC;
        }
        c->p += mpread__payload(&h);
        if (kids > 0) {
            pending[++top] = kids;
        }
    }
    return 0;
}
