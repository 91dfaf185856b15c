/*
 * codec: the wire messages of the gossip protocol, encoded as msgpack (proto/PROTOCOL.md).
 *
 * Every message is a msgpack array [version, type, body] whose body is a map with small
 * integer keys, so a newer peer may add keys that an older one skips. Datagram messages
 * (ping, ack, nack, ping-req) carry piggybacked member updates; stream messages (sync,
 * sync reply, stream ping, stream ack) travel over ringd's TCP connections, each in one
 * frame: a 4-byte big-endian length, then the message.
 *
 * Decoding never allocates, never recurses without a bound, and checks every length and
 * count against the named limits below before it reads; bad input returns a specific
 * error (RING_ETRUNC, RING_ETYPE, RING_E2BIG, RING_EMSGSIZE, RING_EVERSION, RING_EPROTO)
 * and nothing else happens. Encoding uses msgpack-c's packer over the caller's buffer.
 */
#ifndef RING_CODEC_H
#define RING_CODEC_H

#include <sys/types.h>

#include "ring/base.h"
#include "ring/members.h"

#define CODEC_VERSION 1

/* Largest datagram accepted (the UDP maximum); the send budget is swim's
 * datagram_bytes_max, 1,400 by default so nothing is ever fragmented. */
#define CODEC_DATAGRAM_BYTES_MAX 65507
/* Updates piggybacked on one datagram: 1,400 bytes hold about 25 typical updates. */
#define CODEC_UPDATES_MAX 64
/* A stream frame: a sync of 65,535 members of ~120 bytes is ~8 MB. */
#define CODEC_FRAME_HEADER_BYTES 4
#define CODEC_FRAME_BYTES_MAX    (16u << 20)
/* msgpack nesting the decoder follows when skipping unknown values. */
#define CODEC_DEPTH_MAX 8

enum codec_type {
    /* Datagrams. */
    CODEC_PING = 1,
    CODEC_ACK = 2,
    CODEC_NACK = 3,
    CODEC_PING_REQ = 4,
    /* Stream messages. */
    CODEC_SYNC = 16,
    CODEC_SYNC_REPLY = 17,
    CODEC_STREAM_PING = 18,
    CODEC_STREAM_ACK = 19,
};

/* One piggybacked member update. */
struct codec_update {
    struct member m;
    /* For a suspect update, the id of the node that suspects (Lifeguard counts independent
     * suspicions); empty otherwise. */
    char source[MEMBER_ID_BYTES_MAX + 1];
    uint8_t source_len;
};

/* A ping, ack, nack, ping-req, stream ping or stream ack. Fields a type does not use are
 * zero/empty and are not encoded. */
struct codec_msg {
    uint8_t type; /* enum codec_type */
    /* Probe sequence number: an ack or nack answers the ping or ping-req with this seq. */
    uint32_t seq;
    /* The sender's id. */
    char from[MEMBER_ID_BYTES_MAX + 1];
    uint8_t from_len;
    /* ping, stream ping: the id the sender believes it is probing (a node that finds another
     * id here ignores the probe: the address was reused). ping-req: the member to probe. */
    char target[MEMBER_ID_BYTES_MAX + 1];
    uint8_t target_len;
    /* ping-req: the address of |target|. */
    struct ring_addr target_addr;
    /* ping, ack: the sender's membership checksum (a mismatch may trigger a sync). */
    uint64_t checksum;
    uint16_t update_count;
    struct codec_update updates[CODEC_UPDATES_MAX];
};

/* The fixed part of a sync or sync reply; the members follow it. */
struct codec_sync {
    uint8_t type; /* CODEC_SYNC or CODEC_SYNC_REPLY */
    /* 1 when the sender is joining (the receiver answers with its full state). */
    uint8_t join;
    char from[MEMBER_ID_BYTES_MAX + 1];
    uint8_t from_len;
    uint64_t checksum;
    uint32_t member_count;
};

/* Called once per member of a decoded sync, in message order. */
typedef void (*codec_member_cb)(const struct member *m, void *arg);

/*
 * Encodes |msg| (all |msg->update_count| updates) into |buf| of |cap| bytes.
 * Returns the length, or RING_EMSGSIZE (does not fit), RING_EINVAL (bad type or fields).
 */
RING_EXTERN ssize_t codec_encode(uint8_t *buf, size_t cap, const struct codec_msg *msg);

/* The exact encoded size of |msg| without its updates, and of one update: a message with
 * updates u1..uk encodes to codec_header_size() + the sum of codec_update_size(ui), so
 * swim can pack a datagram to its budget without trial encoding. */
RING_EXTERN size_t codec_header_size(const struct codec_msg *msg);
RING_EXTERN size_t codec_update_size(const struct codec_update *u);

/*
 * Decodes a datagram or stream message other than sync into |out|.
 * Returns 0, or RING_ETRUNC, RING_ETYPE, RING_E2BIG (a count over its limit), RING_EMSGSIZE
 * (a string over its limit), RING_EVERSION, RING_EPROTO (anything else malformed, including
 * an unknown type or a member that fails member_validate()).
 */
RING_EXTERN int codec_decode(const uint8_t *buf, size_t len, struct codec_msg *out);

/* The message type of an encoded message (for dispatch before a full decode), or the
 * errors of codec_decode(). */
RING_EXTERN int codec_peek_type(const uint8_t *buf, size_t len);

/*
 * Encodes a sync or sync reply: |hdr| (its member_count is ignored) and every record of |t|.
 * Returns the length, or RING_EMSGSIZE, RING_EINVAL.
 */
RING_EXTERN ssize_t codec_encode_sync(uint8_t *buf, size_t cap, const struct codec_sync *hdr,
                                      const struct members *t);

/* The exact length codec_encode_sync() gives for |hdr| and |t| (to size a frame buffer). */
RING_EXTERN size_t codec_sync_size(const struct codec_sync *hdr, const struct members *t);

/*
 * Decodes a sync or sync reply: fills |hdr|, then calls |cb| for each member. The whole
 * message is validated first, so on error |cb| was never called.
 * Returns 0 or the errors of codec_decode().
 */
RING_EXTERN int codec_decode_sync(const uint8_t *buf, size_t len, struct codec_sync *hdr,
                                  codec_member_cb cb, void *arg);

/* Writes the 4-byte big-endian frame header for a |len|-byte message. */
RING_EXTERN void codec_frame_header(uint8_t hdr[CODEC_FRAME_HEADER_BYTES], uint32_t len);

/* Reads a frame header into |*len|. Returns 0 or RING_EMSGSIZE (over CODEC_FRAME_BYTES_MAX). */
RING_EXTERN int codec_frame_length(const uint8_t hdr[CODEC_FRAME_HEADER_BYTES], uint32_t *len);

#endif
