/*
 * mpread: the one strict, bounded, allocation-free msgpack reader behind codec_decode() and
 * the rpc framer and decoder (the why is at the top of mpread.c).
 *
 * Three levels: mpread__head() classifies the header at a pointer (the rpc framer, which
 * must stop and resume at any byte, works at this level); a cursor reads headers and
 * payloads in order; typed reads on the cursor check kind, limit and bytes in that order.
 */
#ifndef RING_MPREAD_H
#define RING_MPREAD_H

#include "ring/base.h"

/* The deepest depth_max mpread__skip() supports: the largest of CODEC_DEPTH_MAX and
 * RPC_DEPTH_MAX (each user asserts its own fits). */
#define MPREAD_DEPTH_MAX 16

enum mpread__kind {
    MPREAD__NIL = 0,
    MPREAD__BOOL,
    MPREAD__UINT, /* any integer encoding holding a non-negative value */
    MPREAD__INT,  /* any integer encoding holding a negative value */
    MPREAD__FLOAT,
    MPREAD__STR,
    MPREAD__BIN,
    MPREAD__EXT,
    MPREAD__ARRAY,
    MPREAD__MAP,
};

/* One msgpack header. |n| is the value of a BOOL (0 or 1) or UINT, the item count of an
 * ARRAY, the pair count of a MAP, or the payload bytes of a STR, BIN or EXT (which follow the
 * header; an ext's type byte is part of the header). */
struct mpread__head {
    uint8_t kind; /* enum mpread__kind */
    uint64_t n;
    int64_t i; /* the value of an INT */
    double f;  /* the value of a FLOAT */
};

/*
 * Reads the header at |p|, of which |avail| bytes are readable; reads nothing past the
 * header. Returns the header's length (1..9), RING_ETRUNC when |avail| is too short to hold
 * it, or RING_EPROTO for 0xc1, the byte msgpack never uses.
 */
int mpread__head(const uint8_t *p, size_t avail, struct mpread__head *h);

/* The payload bytes after |h| (a STR, BIN or EXT), else 0. */
uint64_t mpread__payload(const struct mpread__head *h);

/* The values inside |h|: an ARRAY's items, a MAP's keys and values, else 0. */
uint64_t mpread__children(const struct mpread__head *h);

/* A cursor over a buffer the caller owns. On error it is left somewhere inside the buffer
 * and must not be used again. */
struct mpread__cur {
    const uint8_t *p;
    const uint8_t *end;
};

void mpread__init(struct mpread__cur *c, const uint8_t *buf, size_t len);

/* Bytes not yet read. */
size_t mpread__remaining(const struct mpread__cur *c);

/* Reads a header and leaves the cursor at its payload, which mpread__take() then moves past.
 * RING_ETRUNC (the header or its payload is cut), RING_EPROTO (0xc1). */
int mpread__next(struct mpread__cur *c, struct mpread__head *h);

/* Moves past the |len| bytes at the cursor and returns where they start. |len| must be
 * there: the payload of the header mpread__next() just read. */
const uint8_t *mpread__take(struct mpread__cur *c, uint64_t len);

/*
 * Typed reads. Each checks the type (RING_ETYPE), then the length or count against |max|,
 * then that the bytes are really there (RING_ETRUNC), in that order, so each kind of bad
 * input has one error. A truncated header is RING_ETRUNC, 0xc1 RING_EPROTO.
 */

/* A non-negative integer in any encoding (other encoders use signed ones too). A negative
 * integer is RING_EPROTO, as is one above |max| in mpread__uint_max(). */
int mpread__uint(struct mpread__cur *c, uint64_t *v);
int mpread__uint_max(struct mpread__cur *c, uint64_t max, uint64_t *v);

/* true or false. */
int mpread__bool(struct mpread__cur *c, int *v);

/* A str (or bin) of at most |max| bytes, else RING_EMSGSIZE; |*s| points into the buffer. */
int mpread__str(struct mpread__cur *c, size_t max, const uint8_t **s, size_t *len);
int mpread__bin(struct mpread__cur *c, size_t max, const uint8_t **s, size_t *len);

/* An array or map header of at most |max| elements (pairs for a map), else RING_E2BIG;
 * RING_ETRUNC when fewer bytes are left than the elements need at one byte each. |*n| is 0
 * on error. */
int mpread__array(struct mpread__cur *c, size_t max, size_t *n);
int mpread__map(struct mpread__cur *c, size_t max, size_t *n);

/* How mpread__skip() counts depth. */
enum mpread__depth {
    /* Every array and map has a depth, empty or not (codec). */
    MPREAD__DEPTH_ALL,
    /* Only arrays and maps with elements do, as in msgpack-c's unpacker, whose stack an
     * empty container never enters (rpc: results are handed to it). */
    MPREAD__DEPTH_NONEMPTY,
};

/*
 * Skips one whole value. |depth| is the depth the value has if it is a container (a
 * message's top level is 1); a container deeper than |depth_max| (at most
 * MPREAD_DEPTH_MAX), counted by |rule|, is RING_E2BIG. Also RING_ETRUNC, RING_EPROTO (0xc1).
 * No recursion, and work linear in the bytes skipped: every element takes a byte.
 */
int mpread__skip(struct mpread__cur *c, int depth, int depth_max, enum mpread__depth rule);

#endif
