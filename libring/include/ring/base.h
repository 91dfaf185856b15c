/*
 * base: what every libring header needs: the export marker and the assertion macro.
 *
 * RING_EXTERN marks the public API; everything else in libring is built with
 * -fvisibility=hidden, so internals (`<module>__name`) cannot leak into the ABI.
 *
 * RING_ASSERT is for programmer errors only (docs/style.md). Bad bytes from the
 * network are never asserted on: decoders return RING_EPROTO and count it instead.
 * Assertions stay on unless the build turns RING_ASSERTS off (release benchmarks).
 */
#ifndef RING_BASE_H
#define RING_BASE_H

#include <stddef.h>
#include <stdint.h>

#if defined(BUILDING_LIBRING)
#define RING_EXTERN __attribute__((visibility("default")))
#else
#define RING_EXTERN
#endif

/* Prints |expr|, file and line to stderr and aborts. Never returns. */
RING_EXTERN void ring_assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));

#if defined(RING_ASSERTS)
#define RING_ASSERT(expr)                                                                          \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            ring_assert_fail(#expr, __FILE__, __LINE__);                                           \
        }                                                                                          \
    } while (0)
#else
#define RING_ASSERT(expr) ((void)sizeof(expr))
#endif

#define RING_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
