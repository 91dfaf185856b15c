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
    /* Datagrams of the cross-group exchange (groups.h): a push-pull of group summaries. */
    CODEC_GROUP_SYN = 5,
    CODEC_GROUP_ACK = 6,
    CODEC_GROUP_PUSH = 7,
    /* Datagrams of exclusive shard leases (lease.h): a claim or renewal, its answer, and a
     * holder's release handed to the next owner. */
    CODEC_LEASE_REQ = 8,
    CODEC_LEASE_ACK = 9,
    CODEC_LEASE_RELEASE = 10,
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
    /* A sync (not a reply) may say which records its sender already holds, so that the reply
     * carries only the others (proto/PROTOCOL.md, section 3, "have"): |have_count| record
     * terms (codec_have_term()), ascending, as 4-byte big-endian values. |has_have| 0: the
     * key is absent. On decode |have| points into the message. */
    uint8_t has_have;
    uint32_t have_count;
    const uint8_t *have;
};

/* A have holds at most one term per member: 4 bytes each. */
#define CODEC_HAVE_BYTES_MAX (4u * MEMBERS_MAX)

/* The term of a record in a sync's have: the high 32 bits of its member_digest(). */
#define codec_have_term(member_digest) ((uint32_t)((member_digest) >> 32))

/* Whether |hdr|'s have lists |term| (binary search; 0 when it has no have). */
RING_EXTERN int codec_sync_have_has(const struct codec_sync *hdr, uint32_t term);

/* ---- the cross-group exchange (proto/PROTOCOL.md, section 12) ---- */

/* Summaries in one group message: a 1,400-byte datagram holds about 10 with 4 contacts. */
#define CODEC_SUMMARIES_MAX 64
/* Contacts in one summary. */
#define CODEC_CONTACTS_MAX 8
/* Bucket digests of a group table: 64 buckets of 16 bits (a 128-byte bin). */
#define CODEC_GROUP_BUCKETS 64

/* A live member of a group that nodes of other groups can reach it through. */
struct codec_contact {
    char id[MEMBER_ID_BYTES_MAX + 1];
    uint8_t id_len;
    struct ring_addr addr;
};

/* What the rest of the cluster knows about one group, authored by one of its members. */
struct codec_summary {
    char name[MEMBER_GROUP_BYTES_MAX + 1];
    uint8_t name_len;
    /* Newer wins: a higher version, then at equal versions a higher ring checksum. */
    uint64_t version;
    /* Members holding ring points (alive and suspect) in the author's view. */
    uint32_t size;
    uint64_t ring_checksum;
    uint8_t contact_count;
    struct codec_contact contacts[CODEC_CONTACTS_MAX];
};

/* A group syn, ack or push (all three carry the same keys). */
struct codec_groups {
    uint8_t type; /* CODEC_GROUP_SYN, CODEC_GROUP_ACK, CODEC_GROUP_PUSH */
    /* The exchange this message belongs to: an ack or push echoes the syn's seq. */
    uint32_t seq;
    /* The sender's id and group. */
    char from[MEMBER_ID_BYTES_MAX + 1];
    uint8_t from_len;
    char group[MEMBER_GROUP_BYTES_MAX + 1];
    uint8_t group_len;
    /* Digest of the sender's whole table of summaries, and how many groups it holds. */
    uint64_t digest;
    uint32_t group_count;
    /* Per-bucket digests, sent when the receiver is asked to compare bucket by bucket. */
    uint8_t has_buckets;
    uint16_t buckets[CODEC_GROUP_BUCKETS];
    uint16_t summary_count;
    struct codec_summary summaries[CODEC_SUMMARIES_MAX];
};

/*
 * Encodes a group message with all |m->summary_count| summaries.
 * Returns the length, or RING_EMSGSIZE, RING_EINVAL (bad type, empty from or group, a bad
 * summary: empty name, bad contact id or address, counts over their limits).
 */
RING_EXTERN ssize_t codec_encode_groups(uint8_t *buf, size_t cap, const struct codec_groups *m);

/* Exact sizes, as codec_header_size()/codec_update_size(): a message encodes to
 * codec_groups_header_size() (sized with the largest summary count you may send) plus the
 * codec_summary_size() of each summary. */
RING_EXTERN size_t codec_groups_header_size(const struct codec_groups *m);
RING_EXTERN size_t codec_summary_size(const struct codec_summary *s);

/*
 * Decodes a group message into |out|. Returns 0 or the errors of codec_decode() (a message
 * of another type is RING_EPROTO).
 */
RING_EXTERN int codec_decode_groups(const uint8_t *buf, size_t len, struct codec_groups *out);

/* 1 for CODEC_GROUP_SYN, _ACK and _PUSH (to dispatch a datagram to groups_recv()). */
RING_EXTERN int codec_is_groups_type(int type);

/* ---- shard leases (proto/PROTOCOL.md section 14, proto/LEASES.md) ---- */

/* Entries in one lease message: 1,400 bytes hold about 90; a 64 KB datagram fewer than 1,024
 * of the largest (14 bytes each). */
#define CODEC_LEASE_ENTRIES_MAX 1024
/* Shard numbers fit 16 bits (SHARDS_MAX). */
#define CODEC_LEASE_SHARD_MAX 65535u
/* The lease a request asks for, in ms: ten minutes is far past any sane setting. */
#define CODEC_LEASE_MS_MAX 600000u

/* An acceptor's answer to one entry of a request (the |extra| of an ack entry). */
enum codec_lease_result {
    CODEC_LEASE_GRANTED = 0,   /* promised: no other holder's lease is live here */
    CODEC_LEASE_HELD = 1,      /* refused: another holder's lease is live here */
    CODEC_LEASE_STALE = 2,     /* refused: the epoch is not above the highest seen here */
    CODEC_LEASE_NOT_READY = 3, /* refused: this acceptor votes for nobody (new, or leaving) */
    CODEC_LEASE_UNKNOWN = 4,   /* refused: the claimant is not a live member here */
};
#define CODEC_LEASE_RESULT_MAX CODEC_LEASE_UNKNOWN
/* A release's extra: 0 hands the shard to the recipient; 1 withdraws the sender's claim (it
 * no longer wants the shard: acceptors drop its promise). */
#define CODEC_LEASE_RELEASE_FLAGS_MAX 1

/*
 * One entry, [shard, epoch, extra] on the wire:
 *   request: the epoch claimed or renewed (>= 1), and extra = the epoch of this shard's
 *            previous holder that released it to the sender (0: none);
 *   ack:     the acceptor's highest epoch for the shard (0: none), extra = the result;
 *   release: the epoch released (>= 1), extra = 0 (handed to the recipient) or 1 (a claim
 *            withdrawn).
 */
struct codec_lease_entry {
    uint32_t shard;
    uint64_t epoch;
    uint64_t extra;
};

/* A lease request, ack or release. */
struct codec_lease {
    uint8_t type; /* CODEC_LEASE_REQ, _ACK, _RELEASE */
    /* A request's round and part; an ack echoes it. */
    uint32_t seq;
    char from[MEMBER_ID_BYTES_MAX + 1];
    uint8_t from_len;
    /* Request only: the lease asked for, 1..CODEC_LEASE_MS_MAX. */
    uint32_t lease_ms;
    uint16_t entry_count;
    struct codec_lease_entry entries[CODEC_LEASE_ENTRIES_MAX];
};

/* 1 for CODEC_LEASE_REQ, _ACK and _RELEASE (to dispatch a datagram to lease_recv()). */
RING_EXTERN int codec_is_lease_type(int type);

/* Exact sizes: a lease message encodes to codec_lease_header_size() (which depends on
 * |m->entry_count| only through the entries array header: 1 byte up to 15 entries, 3 above)
 * plus the codec_lease_entry_size() of each entry. */
RING_EXTERN size_t codec_lease_header_size(const struct codec_lease *m);
RING_EXTERN size_t codec_lease_entry_size(const struct codec_lease_entry *e);

/*
 * Encodes a lease message with all |m->entry_count| entries.
 * Returns the length, or RING_EMSGSIZE, RING_EINVAL (bad type, empty or bad from, lease_ms
 * out of range in a request, too many entries, a shard above CODEC_LEASE_SHARD_MAX, an
 * epoch of 0 in a request or release, a release's extra above 1, an ack result above
 * CODEC_LEASE_RESULT_MAX).
 */
RING_EXTERN ssize_t codec_encode_lease(uint8_t *buf, size_t cap, const struct codec_lease *m);

/*
 * Decodes a lease message into |out|, with the rules of codec_encode_lease() and the errors
 * of codec_decode() (a message of another type is RING_EPROTO).
 */
RING_EXTERN int codec_decode_lease(const uint8_t *buf, size_t len, struct codec_lease *out);

/* Called once per member of a decoded sync, in message order. */
typedef void (*codec_member_cb)(const struct member *m, void *arg);

/*
 * Encodes |msg| (all |msg->update_count| updates) into |buf| of |cap| bytes.
 * Returns the length, or RING_EMSGSIZE (does not fit), RING_EINVAL (bad type or fields).
 */
RING_EXTERN ssize_t codec_encode(uint8_t *buf, size_t cap, const struct codec_msg *msg);

/* The exact encoded size of |msg| without its updates, and of one update: a message with
 * updates u1..uk encodes to codec_header_size() + the sum of codec_update_size(ui), so
 * swim can pack a datagram to its budget without trial encoding. codec_header_size()
 * depends on |msg->update_count| only through the updates array header: 0 bytes for no
 * updates, 2 for 1..15, 4 for 16..64 (key included); size the header with the largest
 * count you might send, then add updates while they fit. */
RING_EXTERN size_t codec_header_size(const struct codec_msg *msg);
RING_EXTERN size_t codec_update_size(const struct codec_update *u);

/*
 * Decodes a datagram or stream message other than sync into |out|.
 * Returns 0, or RING_ETRUNC, RING_ETYPE, RING_E2BIG (a count over its limit), RING_EMSGSIZE
 * (a string over its limit), RING_EVERSION, RING_EPROTO (anything else malformed, including
 * an unknown type or a member that fails member_validate()).
 */
RING_EXTERN int codec_decode(const uint8_t *buf, size_t len, struct codec_msg *out);
/* (On error the contents of |out| are unspecified. On success, fields the type does not
 * carry are zero, and updates[update_count..] are left untouched.) */

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
