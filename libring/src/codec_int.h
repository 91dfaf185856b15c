/* codec internals shared by the encoder and the decoder: the key numbers of the wire
 * format (proto/PROTOCOL.md) and which keys each message type carries. */
#ifndef RING_CODEC_INT_H
#define RING_CODEC_INT_H

#include <msgpack.h>

#include "ring/codec.h"
#include "mpread.h"

/* Body keys: one registry for every message type, so a key means the same everywhere. */
enum {
    KEY_SEQ = 0,
    KEY_FROM = 1,
    KEY_TARGET = 2,
    KEY_TARGET_ADDR = 3,
    KEY_CHECKSUM = 4,
    KEY_UPDATES = 5,
    KEY_JOIN = 6,
    KEY_MEMBERS = 7,
    /* The cross-group exchange. */
    KEY_GROUP = 8,
    KEY_DIGEST = 9,
    KEY_GROUP_COUNT = 10,
    KEY_BUCKETS = 11,
    KEY_SUMMARIES = 12,
    /* Shard leases. */
    KEY_LEASE_MS = 13,
    KEY_ENTRIES = 14,
    /* Push-pull: the records a catch-up's sender holds. */
    KEY_HAVE = 15,
};

/* Summary keys. */
enum {
    SKEY_NAME = 0,
    SKEY_VERSION = 1,
    SKEY_SIZE = 2,
    SKEY_RING_CHECKSUM = 3,
    SKEY_CONTACTS = 4,
};

/* Contact keys. */
enum {
    CKEY_ID = 0,
    CKEY_ADDR = 1,
};

/* Member record keys (a member in a sync, an update on a datagram). */
enum {
    MKEY_ID = 0,
    MKEY_ADDR = 1,
    MKEY_STATUS = 2,
    MKEY_INCARNATION = 3,
    MKEY_WEIGHT = 4,
    MKEY_GROUP = 5,
    MKEY_LABELS = 6,
    MKEY_SOURCE = 7,
    MKEY_FLAGS = 8,
};

#define KEY_BIT(k) (1u << (k))

/* The bucket digests travel as one bin of 16-bit big-endian values. */
#define CODEC_BUCKETS_BYTES (2 * CODEC_GROUP_BUCKETS)

/* Keys any body or member map may hold, known or not: far more than v1 uses, small enough
 * that a map header cannot ask for unbounded work. */
#define CODEC_MAP_KEYS_MAX 32
/* An address is bin: 4 or 16 ip bytes, then the port big-endian. */
#define CODEC_ADDR_V4_BYTES 6
#define CODEC_ADDR_V6_BYTES 18

/* The body keys |type| carries (KEY_UPDATES included where allowed), or 0 for an unknown
 * type. Every key but KEY_UPDATES is required on decode and always encoded. */
uint32_t codec__type_keys(int type);

/* 1 for the datagram and stream types codec_encode()/codec_decode() handle. */
int codec__is_msg_type(int type);
int codec__is_sync_type(int type);

/* Shared by codec_encode.c and codec_groups.c: a fixed output buffer for msgpack-c's packer
 * (a write past its end marks it full and fails the packer), msgpack's shortest-form sizes
 * and the packers of the common fields. */
struct sink {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int overflow;
};
int codec__sink_write(void *data, const char *bytes, size_t len);
size_t codec__uint_size(uint64_t v);
size_t codec__str_size(size_t n);
size_t codec__bin_size(size_t n);
size_t codec__container_size(size_t n);
size_t codec__addr_size(const struct ring_addr *a);
size_t codec__popcount(uint32_t x);
void codec__pack_str(msgpack_packer *pk, const char *s, size_t n);
void codec__pack_addr(msgpack_packer *pk, const struct ring_addr *a);
void codec__pack_envelope(msgpack_packer *pk, int type, size_t body_keys);
/* An id field: a MEMBER_TEXT_ID (members.h), or empty when |may_be_empty|. */
int codec__id_ok(const char *s, size_t len, int may_be_empty);
int codec__addr_ok(const struct ring_addr *a);

/* Shared by codec_decode.c and codec_groups.c: the envelope, strings, addresses and keys. */
int codec__read_envelope(struct mpread__cur *r, int *type);
/* Copies a text field of |kind| (enum member_text): longer than the kind allows is
 * RING_EMSGSIZE, a byte member_text_check() excludes RING_EPROTO. An empty string passes
 * whatever the kind: the caller decides whether the field may be empty. */
int codec__read_text(struct mpread__cur *r, int kind, char *dst, uint8_t *dst_len);
int codec__read_addr(struct mpread__cur *r, struct ring_addr *a);
/* Reads a map key (a non-negative integer) and checks it is not a repeat of a known key. */
int codec__read_key(struct mpread__cur *r, uint32_t known, uint32_t *seen, uint64_t *key);
/* Skips the value of a key this version does not know; too deep is RING_EPROTO. */
int codec__skip_unknown(struct mpread__cur *r, int depth);
int codec__is_known(uint32_t known, uint64_t key);

#endif
