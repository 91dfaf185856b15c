/* jsoncheck: a strict JSON validator for tests (RFC 8259), written apart from ringd's escape.c
 * so the writer is not checked against itself. */
#ifndef RING_TESTS_JSONCHECK_H
#define RING_TESTS_JSONCHECK_H

#include <stddef.h>

/* Returns 1 when |len| bytes of |s| are exactly one JSON value (whitespace around it allowed)
 * in valid UTF-8 with no raw control byte in a string, else 0. */
int jsoncheck_valid(const char *s, size_t len);

#endif
