/*
 * codec_reader: a strict, bounded, allocation-free msgpack cursor (codec internals).
 *
 * Every read checks the type byte, then the length or count against the caller's limit,
 * then that the bytes are really there, in that order, so each kind of bad input has one
 * error: RING_ETYPE, RING_EMSGSIZE or RING_E2BIG, RING_ETRUNC. On error the cursor is left
 * somewhere inside the buffer and must not be used again.
 */
#ifndef RING_CODEC_READER_H
#define RING_CODEC_READER_H

#include "ring/base.h"

struct codec__reader {
    const uint8_t *p;
    const uint8_t *end;
};

void codec__reader_init(struct codec__reader *r, const uint8_t *buf, size_t len);

/* Bytes not yet read. */
size_t codec__remaining(const struct codec__reader *r);

/* A non-negative integer in any msgpack integer encoding (fixint, uint 8..64, and int 8..64
 * holding a non-negative value: other encoders use those). RING_ETYPE for other types,
 * RING_EPROTO for a negative value, RING_ETRUNC. */
int codec__read_uint(struct codec__reader *r, uint64_t *v);

/* As codec__read_uint(), and RING_EPROTO when the value is above |max|. */
int codec__read_uint_max(struct codec__reader *r, uint64_t max, uint64_t *v);

/* true or false. RING_ETYPE, RING_ETRUNC. */
int codec__read_bool(struct codec__reader *r, int *v);

/* A str (or bin) of at most |max| bytes; |*s| points into the buffer. RING_ETYPE,
 * RING_EMSGSIZE (longer than |max|), RING_ETRUNC. */
int codec__read_str(struct codec__reader *r, size_t max, const uint8_t **s, size_t *len);
int codec__read_bin(struct codec__reader *r, size_t max, const uint8_t **s, size_t *len);

/* An array or map header of at most |max| elements (pairs for a map). RING_ETYPE, RING_E2BIG,
 * RING_ETRUNC (fewer bytes left than the elements need, at one byte each). */
int codec__read_array(struct codec__reader *r, size_t max, size_t *n);
int codec__read_map(struct codec__reader *r, size_t max, size_t *n);

/* Skips one value of any type. A container inside it at nesting depth above
 * CODEC_DEPTH_MAX is RING_EPROTO; |depth| is the depth the value itself would have if it
 * were a container. Work is linear in the bytes skipped: every element takes a byte. */
int codec__skip(struct codec__reader *r, int depth);

#endif
