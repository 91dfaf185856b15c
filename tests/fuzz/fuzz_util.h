/* What the fuzz targets share: an abort-on-failure check (libFuzzer reports the abort with
 * its input) and the differential check against msgpack-c. */
#ifndef RING_FUZZ_UTIL_H
#define RING_FUZZ_UTIL_H

#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>

/* A failed RING_ASSERT reachable from input bytes is the bug class the fuzzers are for: they
 * must be built with assertions (CMakeLists.txt refuses RING_FUZZ without RING_ASSERTS). */
#if !defined(RING_ASSERTS)
#error "fuzz targets need RING_ASSERTS"
#endif

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Whatever our strict reader accepts, msgpack-c must accept as one whole value too. */
static inline void check_msgpack_c_accepts(const uint8_t *data, size_t size)
{
    msgpack_unpacked u;
    size_t off = 0;
    msgpack_unpacked_init(&u);
    msgpack_unpack_return rv = msgpack_unpack_next(&u, (const char *)data, size, &off);
    CHECK(rv == MSGPACK_UNPACK_SUCCESS && off == size);
    msgpack_unpacked_destroy(&u);
}

#endif
