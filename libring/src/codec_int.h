/* codec internals shared by the encoder and the decoder: the key numbers of the wire
 * format (proto/PROTOCOL.md) and which keys each message type carries. */
#ifndef RING_CODEC_INT_H
#define RING_CODEC_INT_H

#include "ring/codec.h"

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
};

#define KEY_BIT(k) (1u << (k))

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

#endif
