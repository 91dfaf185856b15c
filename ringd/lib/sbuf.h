/*
 * sbuf: a growable text buffer with a cap, for log lines, HTTP responses and JSON. Appends
 * after a failure (out of memory or over the cap) are ignored and the failure is kept, so a
 * writer appends freely and checks once at the end.
 */
#ifndef RINGD_SBUF_H
#define RINGD_SBUF_H

#include <stddef.h>
#include <stdint.h>

struct sbuf {
    char *data; /* NUL-terminated once anything was appended */
    size_t len;
    size_t cap;
    size_t bytes_max;
    int failed; /* 1 once an append did not fit */
};

/* An empty buffer that may grow to |bytes_max| bytes. Allocates nothing yet. */
void sbuf_init(struct sbuf *b, size_t bytes_max);
void sbuf_free(struct sbuf *b);
void sbuf_reset(struct sbuf *b);

void sbuf_add(struct sbuf *b, const void *data, size_t len);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* JSON strings and escaped text: escape.h. */

#endif
