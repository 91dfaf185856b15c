/* Unit tests for the fwd module: the forwarding proxy's peer frames (PROTOCOL.md section 11). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "ring/error.h"
#include "ring/fwd.h"

Test(fwd, every_frame_builds_and_parses_back)
{
    uint8_t buf[64];
    struct fwd_frame f;
    size_t n = fwd_hello(buf);
    cr_assert(eq(sz, n, 10));
    cr_assert(eq(int, buf[0], 0x4d), "HELLO starts 0x4d, unlike codec (0x93) and RPC (0x94)");
    cr_assert(eq(int, fwd_parse(buf, n, &f), 0));
    cr_assert(eq(u8, f.type, FWD_HELLO));

    n = fwd_open(buf, 7, 2, 0x0102030405060708ull);
    cr_assert(eq(int, fwd_parse(buf, n, &f), 0));
    cr_assert(eq(u8, f.type, FWD_OPEN));
    cr_assert(eq(u32, f.stream, 7));
    cr_assert(eq(u8, f.hops, 2));
    cr_assert(eq(u64, f.checksum, 0x0102030405060708ull));

    n = fwd_window(buf, 9, FWD_WINDOW_BYTES);
    cr_assert(eq(int, fwd_parse(buf, n, &f), 0));
    cr_assert(eq(u32, f.window, FWD_WINDOW_BYTES));

    n = fwd_reset(buf, 9, FWD_RESET_REFUSED);
    cr_assert(eq(int, fwd_parse(buf, n, &f), 0));
    cr_assert(eq(u8, f.reason, FWD_RESET_REFUSED));

    n = fwd_fin(buf, 0xffffffffu);
    cr_assert(eq(int, fwd_parse(buf, n, &f), 0));
    cr_assert(eq(u32, f.stream, 0xffffffffu));

    fwd_header(buf, FWD_DATA, 3);
    memcpy(buf + FWD_HEADER_BYTES, "GET", 3);
    cr_assert(eq(int, fwd_parse(buf, FWD_HEADER_BYTES + 3, &f), 0));
    cr_assert(eq(sz, f.len, 3));
    cr_assert(eq(int, memcmp(f.data, "GET", 3), 0));
}

Test(fwd, malformed_frames_are_rejected)
{
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
        int err;
    } cases[] = {
        { "empty", "", 0, RING_ETRUNC },
        { "header cut", "\x02\x00\x00\x00", 4, RING_ETRUNC },
        { "unknown type", "\x09\x00\x00\x00\x01", 5, RING_EPROTO },
        { "hello on a stream", "M\x00\x00\x00\x01RMUX\x01", 10, RING_EPROTO },
        { "hello bad magic", "M\x00\x00\x00\x00RMUY\x01", 10, RING_EPROTO },
        { "hello bad version", "M\x00\x00\x00\x00RMUX\x02", 10, RING_EPROTO },
        { "stream frame on stream 0", "\x03\x00\x00\x00\x00", 5, RING_EPROTO },
        { "open cut", "\x01\x00\x00\x00\x01\x01\x00", 7, RING_ETRUNC },
        { "open hops 0", "\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00", 14,
          RING_EPROTO },
        { "open hops 3", "\x01\x00\x00\x00\x01\x03\x00\x00\x00\x00\x00\x00\x00\x00", 14,
          RING_EPROTO },
        { "empty data", "\x02\x00\x00\x00\x01", 5, RING_EPROTO },
        { "fin with a body", "\x03\x00\x00\x00\x01x", 6, RING_EPROTO },
        { "reset cut", "\x04\x00\x00\x00\x01", 5, RING_ETRUNC },
        { "window 0", "\x05\x00\x00\x00\x01\x00\x00\x00\x00", 9, RING_EPROTO },
        { "window too large", "\x05\x00\x00\x00\x01\x00\x04\x00\x01", 9, RING_EPROTO },
        { "window trailing", "\x05\x00\x00\x00\x01\x00\x00\x00\x01\x00", 10, RING_EPROTO },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fwd_frame f;
        int rv = fwd_parse((const uint8_t *)cases[i].bytes, cases[i].len, &f);
        cr_assert(eq(int, rv, cases[i].err), "%s: %s", cases[i].name, ring_err_name(rv));
    }
    static uint8_t big[FWD_FRAME_BYTES_MAX + 1];
    fwd_header(big, FWD_DATA, 1);
    struct fwd_frame f;
    cr_assert(eq(int, fwd_parse(big, FWD_FRAME_BYTES_MAX, &f), 0), "a full DATA frame");
    cr_assert(eq(int, fwd_parse(big, FWD_FRAME_BYTES_MAX + 1, &f), RING_EPROTO), "one byte over");
}
