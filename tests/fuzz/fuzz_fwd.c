/* fuzz_fwd: the forwarding proxy's peer frames (ring/fwd.h) from arbitrary bytes. Whatever
 * fwd_parse accepts must rebuild, with the fwd_* builders, to exactly the bytes it came from:
 * no frame has two encodings, and nothing parsed is invented. */
#include <string.h>

#include "fuzz_util.h"
#include "ring/fwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fwd_frame f;
    if (fwd_parse(data, size, &f) != 0) {
        return 0;
    }
    static uint8_t out[FWD_FRAME_BYTES_MAX];
    size_t n = 0;
    switch (f.type) {
    case FWD_HELLO:
        n = fwd_hello(out);
        break;
    case FWD_OPEN:
        n = fwd_open(out, f.stream, f.hops, f.checksum);
        break;
    case FWD_FIN:
        n = fwd_fin(out, f.stream);
        break;
    case FWD_RESET:
        n = fwd_reset(out, f.stream, f.reason);
        break;
    case FWD_WINDOW:
        n = fwd_window(out, f.stream, f.window);
        break;
    case FWD_DATA:
        CHECK(f.len >= 1 && f.len <= FWD_DATA_BYTES_MAX && f.data == data + FWD_HEADER_BYTES);
        fwd_header(out, FWD_DATA, f.stream);
        memcpy(out + FWD_HEADER_BYTES, f.data, f.len);
        n = FWD_HEADER_BYTES + f.len;
        break;
    default:
        CHECK(0);
    }
    CHECK(n == size && memcmp(out, data, n) == 0);
    return 0;
}
