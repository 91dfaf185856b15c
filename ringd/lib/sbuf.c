/* sbuf: see sbuf.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"

void sbuf_init(struct sbuf *b, size_t bytes_max)
{
    memset(b, 0, sizeof(*b));
    b->bytes_max = bytes_max;
}

void sbuf_free(struct sbuf *b)
{
    free(b->data);
    sbuf_init(b, b->bytes_max);
}

void sbuf_reset(struct sbuf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

/* Makes room for |extra| more bytes and a NUL. Returns 0 or -ENOBUFS (and marks the failure). */
static int reserve(struct sbuf *b, size_t extra)
{
    if (b->failed) {
        return -ENOBUFS;
    }
    if (extra > b->bytes_max || b->len + extra > b->bytes_max) {
        b->failed = 1;
        return -ENOBUFS;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap != 0 ? b->cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return -ENOBUFS;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void sbuf_add(struct sbuf *b, const void *data, size_t len)
{
    if (reserve(b, len) != 0) {
        return;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void sbuf_adds(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        sbuf_add(b, small, (size_t)n);
        return;
    }
    if (reserve(b, (size_t)n) != 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}
