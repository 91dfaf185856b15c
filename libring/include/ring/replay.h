/*
 * replay: which sealed datagrams a node has already accepted (proto/PROTOCOL.md, section 10).
 *
 * A sealed datagram carries its sender's wall-clock time, authenticated with the rest of the
 * header, and a random 24-byte nonce. A receiver accepts it only when that time is within
 * the window of its own clock (loosely synchronized clocks, as Serf and Consul require) and
 * its nonce is not among those it accepted before. So a recorded datagram replays neither
 * later (its time falls out of the window) nor within the window (its nonce is remembered).
 *
 * Memory is bounded: the filter remembers at most |entries_max| nonces, oldest first out. A
 * nonce leaves when its time has fallen out of the window (nothing can replay it then), or
 * earlier when the filter is full; either way the filter raises its floor to that nonce's
 * time and refuses every datagram stamped at or below the floor, since it could no longer
 * tell a replay of it from a first arrival. A bound therefore never admits a replay: under
 * a flood it refuses fresh but old-stamped datagrams instead, which SWIM tolerates as loss.
 *
 * Only authenticated datagrams may be offered (after seal_decrypt()), or a stranger could
 * fill the filter. The filter keeps the first 8 bytes of each nonce: nonces are random, so
 * two distinct datagrams share them with probability 2^-64 per pair.
 *
 * Pure: no clock here; the caller passes the sender's time and its own, both in Unix ms.
 */
#ifndef RING_REPLAY_H
#define RING_REPLAY_H

#include <stdint.h>

#include "ring/base.h"
#include "ring/mem.h"

/* The default bound: 8,192 nonces (192 KiB with its index), more than 30 s of the datagrams a
 * node of a 1,000-member cluster receives at the default probe interval (about 10/s). */
#define REPLAY_ENTRIES_DEFAULT 8192
#define REPLAY_ENTRIES_MAX     (1u << 20)
/* Expired nonces dropped per replay_admit(), besides the one a full filter drops: enough for
 * the filter to empty faster than it fills, while each call does bounded work. */
#define REPLAY_EXPIRE_PER_CALL 4

struct replay;

struct replay_config {
    /* A datagram stamped more than this before or after the receiver's clock is refused. */
    uint64_t window_ms;
    /* Nonces remembered at most (1..REPLAY_ENTRIES_MAX; 0: REPLAY_ENTRIES_DEFAULT). */
    uint32_t entries_max;
};

/* Creates an empty filter with |mem| (NULL: libc). Returns 0, RING_EINVAL (no window, a bound
 * over REPLAY_ENTRIES_MAX), RING_ENOMEM. */
RING_EXTERN int replay_new(struct replay **out, const struct replay_config *cfg,
                           const struct ring_mem *mem);
RING_EXTERN void replay_del(struct replay *r);

/*
 * Offers an authenticated datagram stamped |sent_ms| with nonce |nonce| (its first 8 bytes
 * are read) at receiver time |now_ms|. Returns 0 (accept it; the nonce is now remembered),
 * or:
 *   RING_ESKEW    |sent_ms| is more than the window away from |now_ms|
 *   RING_EREPLAY  the nonce was accepted before, or |sent_ms| is at or below the floor
 */
RING_EXTERN int replay_admit(struct replay *r, uint64_t sent_ms, const uint8_t *nonce,
                             uint64_t now_ms);

/* Nonces remembered now, and the floor (0 until a nonce has left the filter). */
RING_EXTERN uint32_t replay_count(const struct replay *r);
RING_EXTERN uint64_t replay_floor_ms(const struct replay *r);

#endif
