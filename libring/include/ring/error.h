/*
 * error: the one error model of libring (docs/style.md, after libuv's UV_ERRNO_MAP).
 *
 * Every function that can fail returns 0 (or a non-negative count/length) on success and
 * a negative RING_E* code on failure. One X-macro table generates the codes, their names
 * (for metric labels and logs) and their messages, so the three never drift apart.
 * Codes are stable small negative numbers; new codes are appended, never renumbered.
 */
#ifndef RING_ERROR_H
#define RING_ERROR_H

#include "ring/base.h"

#define RING_ERRNO_MAP(XX)                                                                         \
    XX(INVAL, "invalid argument")                                                                  \
    XX(NOMEM, "out of memory")                                                                     \
    XX(RANGE, "value out of range")                                                                \
    XX(EXIST, "already exists")                                                                    \
    XX(NOENT, "no such entry")                                                                     \
    XX(EMPTY, "ring has no members")                                                               \
    XX(NOBUFS, "buffer too small")                                                                 \
    XX(2BIG, "too many items")                                                                     \
    XX(PROTO, "malformed message")                                                                 \
    XX(MSGSIZE, "message too long")                                                                \
    XX(VERSION, "unsupported protocol version")                                                    \
    XX(AGAIN, "try again later")                                                                   \
    XX(AUTH, "authentication failed")                                                              \
    XX(TRUNC, "message truncated")                                                                 \
    XX(TYPE, "wrong type in message")                                                              \
    XX(CLOSED, "connection closed")                                                                \
    XX(SKEW, "timestamp outside the accepted window")                                              \
    XX(REPLAY, "message already seen")

enum ring__err_index {
    RING__EINDEX_NONE = 0,
#define RING__XX_INDEX(name, msg) RING__EINDEX_##name,
    RING_ERRNO_MAP(RING__XX_INDEX)
#undef RING__XX_INDEX
        RING__EINDEX_END
};

enum ring_err {
#define RING__XX_CODE(name, msg) RING_E##name = -RING__EINDEX_##name,
    RING_ERRNO_MAP(RING__XX_CODE)
#undef RING__XX_CODE
};

/* Returns the message for |err| ("success" for 0, "unknown error" for anything else that
 * is not a RING_E* code). The string is static. */
RING_EXTERN const char *ring_strerror(int err);

/* Returns the code's name without prefix ("EINVAL"), "OK" for 0, "EUNKNOWN" otherwise.
 * The string is static; it is meant for metric labels and structured logs. */
RING_EXTERN const char *ring_err_name(int err);

#endif
