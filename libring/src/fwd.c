/* fwd: see ring/fwd.h. */
#include "ring/fwd.h"

#include <string.h>

#include "ring/error.h"

static const uint8_t hello_magic[4] = { 'R', 'M', 'U', 'X' };

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Body bytes each fixed-size type carries. */
static int body_bytes(uint8_t type)
{
    switch (type) {
    case FWD_HELLO:
        return 5;
    case FWD_OPEN:
        return 9;
    case FWD_FIN:
        return 0;
    case FWD_RESET:
        return 1;
    case FWD_WINDOW:
        return 4;
    default:
        return -1;
    }
}

static int parse_body(const uint8_t *b, size_t len, struct fwd_frame *f)
{
    switch (f->type) {
    case FWD_HELLO:
        return memcmp(b, hello_magic, 4) == 0 && b[4] == FWD_VERSION ? 0 : RING_EPROTO;
    case FWD_OPEN:
        f->hops = b[0];
        f->checksum = (uint64_t)get32(b + 1) << 32 | get32(b + 5);
        return f->hops >= 1 && f->hops <= FWD_HOPS_MAX ? 0 : RING_EPROTO;
    case FWD_RESET:
        f->reason = b[0];
        return 0;
    case FWD_WINDOW:
        f->window = get32(b);
        return f->window >= 1 && f->window <= FWD_WINDOW_BYTES ? 0 : RING_EPROTO;
    default:
        (void)len;
        return 0;
    }
}

int fwd_parse(const uint8_t *p, size_t len, struct fwd_frame *f)
{
    memset(f, 0, sizeof(*f));
    if (len < FWD_HEADER_BYTES) {
        return RING_ETRUNC;
    }
    f->type = p[0];
    f->stream = get32(p + 1);
    const uint8_t *body = p + FWD_HEADER_BYTES;
    size_t body_len = len - FWD_HEADER_BYTES;
    if ((f->type == FWD_HELLO) != (f->stream == 0)) {
        return RING_EPROTO;
    }
    if (f->type == FWD_DATA) {
        if (body_len == 0 || body_len > FWD_DATA_BYTES_MAX) {
            return RING_EPROTO;
        }
        f->data = body;
        f->len = body_len;
        return 0;
    }
    int want = body_bytes(f->type);
    if (want < 0) {
        return RING_EPROTO;
    }
    if (body_len < (size_t)want) {
        return RING_ETRUNC;
    }
    if (body_len > (size_t)want) {
        return RING_EPROTO;
    }
    return parse_body(body, body_len, f);
}

void fwd_header(uint8_t *out, uint8_t type, uint32_t stream)
{
    out[0] = type;
    put32(out + 1, stream);
}

size_t fwd_hello(uint8_t *out)
{
    fwd_header(out, FWD_HELLO, 0);
    memcpy(out + FWD_HEADER_BYTES, hello_magic, 4);
    out[FWD_HEADER_BYTES + 4] = FWD_VERSION;
    return FWD_HEADER_BYTES + 5;
}

size_t fwd_open(uint8_t *out, uint32_t stream, uint8_t hops, uint64_t checksum)
{
    fwd_header(out, FWD_OPEN, stream);
    out[FWD_HEADER_BYTES] = hops;
    put32(out + FWD_HEADER_BYTES + 1, (uint32_t)(checksum >> 32));
    put32(out + FWD_HEADER_BYTES + 5, (uint32_t)checksum);
    return FWD_HEADER_BYTES + 9;
}

size_t fwd_fin(uint8_t *out, uint32_t stream)
{
    fwd_header(out, FWD_FIN, stream);
    return FWD_HEADER_BYTES;
}

size_t fwd_reset(uint8_t *out, uint32_t stream, uint8_t reason)
{
    fwd_header(out, FWD_RESET, stream);
    out[FWD_HEADER_BYTES] = reason;
    return FWD_HEADER_BYTES + 1;
}

size_t fwd_window(uint8_t *out, uint32_t stream, uint32_t increment)
{
    fwd_header(out, FWD_WINDOW, stream);
    put32(out + FWD_HEADER_BYTES, increment);
    return FWD_HEADER_BYTES + 4;
}
