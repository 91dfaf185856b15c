/* error: names and messages for the RING_E* codes, generated from RING_ERRNO_MAP. */
#include <stdio.h>
#include <stdlib.h>

#include "ring/error.h"

const char *ring_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define XX(name, msg)                                                                              \
    case RING_E##name:                                                                             \
        return msg;
        RING_ERRNO_MAP(XX)
#undef XX
    default:
        return "unknown error";
    }
}

const char *ring_err_name(int err)
{
    switch (err) {
    case 0:
        return "OK";
#define XX(name, msg)                                                                              \
    case RING_E##name:                                                                             \
        return "E" #name;
        RING_ERRNO_MAP(XX)
#undef XX
    default:
        return "EUNKNOWN";
    }
}

void ring_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}
