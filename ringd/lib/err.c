/*
 * err: the one table between libring's error codes and errno (err.h says why both exist).
 * Each RING_E* has one errno and each errno here one RING_E*, so a code that crosses from
 * libring into ringd and back out to the local API's wire keeps its name.
 */
#include <errno.h>
#include <string.h>

#include "ring/error.h"
#include "err.h"

/* RING_E*, errno. Codes without an errno of the same meaning take the nearest one:
 * EEMPTY (no member to own a key) is "no data", EVERSION an unsupported protocol, EAUTH a
 * key the receiver rejected, ETRUNC a bad message, ETYPE a protocol of the wrong type,
 * ECLOSED a reset connection, ESKEW a timer's expiry (a timestamp outside the window),
 * EREPLAY something already done. */
#define RINGD_ERR_MAP(XX)                                                                          \
    XX(RING_EINVAL, EINVAL)                                                                        \
    XX(RING_ENOMEM, ENOMEM)                                                                        \
    XX(RING_ERANGE, ERANGE)                                                                        \
    XX(RING_EEXIST, EEXIST)                                                                        \
    XX(RING_ENOENT, ENOENT)                                                                        \
    XX(RING_EEMPTY, ENODATA)                                                                       \
    XX(RING_ENOBUFS, ENOBUFS)                                                                      \
    XX(RING_E2BIG, E2BIG)                                                                          \
    XX(RING_EPROTO, EPROTO)                                                                        \
    XX(RING_EMSGSIZE, EMSGSIZE)                                                                    \
    XX(RING_EVERSION, EPROTONOSUPPORT)                                                             \
    XX(RING_EAGAIN, EAGAIN)                                                                        \
    XX(RING_EAUTH, EKEYREJECTED)                                                                   \
    XX(RING_ETRUNC, EBADMSG)                                                                       \
    XX(RING_ETYPE, EPROTOTYPE)                                                                     \
    XX(RING_ECLOSED, ECONNRESET)                                                                   \
    XX(RING_ESKEW, ETIME)                                                                          \
    XX(RING_EREPLAY, EALREADY)

int ringd_err_from_ring(int ring_err)
{
    switch (ring_err) {
    case 0:
        return 0;
#define RINGD__FROM(ring, eno)                                                                     \
    case ring:                                                                                     \
        return -eno;
        RINGD_ERR_MAP(RINGD__FROM)
#undef RINGD__FROM
    default:
        return -EINVAL;
    }
}

/* The RING_E* counterpart of |err|, or 0 when it has none. */
static int counterpart(int err)
{
    switch (-err) {
#define RINGD__TO(ring, eno)                                                                       \
    case eno:                                                                                      \
        return ring;
        RINGD_ERR_MAP(RINGD__TO)
#undef RINGD__TO
    default:
        return 0;
    }
}

int ringd_err_to_ring(int err)
{
    if (err == 0) {
        return 0;
    }
    int ring = counterpart(err);
    return ring != 0 ? ring : RING_EAGAIN;
}

const char *ringd_strerror(int err)
{
    int ring = counterpart(err);
    return ring != 0 ? ring_strerror(ring) : strerror(-err);
}
