/*
 * addr: a network address (IPv4 or IPv6 and a port) as plain data, with text parsing and
 * formatting. No name resolution here (that is I/O): ringd resolves names, libring only
 * sees numeric addresses.
 */
#ifndef RING_ADDR_H
#define RING_ADDR_H

#include "ring/base.h"

#define RING_ADDR_V4 4
#define RING_ADDR_V6 6
/* "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535" plus NUL fits in 64 bytes. */
#define RING_ADDR_STRLEN 64

struct ring_addr {
    /* RING_ADDR_V4 or RING_ADDR_V6; 0 for "no address". */
    uint8_t family;
    /* Port in host byte order. */
    uint16_t port;
    /* The address in network byte order: 4 bytes for IPv4, 16 for IPv6; the rest zero. */
    uint8_t ip[16];
};

/*
 * Parses "a.b.c.d:port" or "[v6]:port" (|len| bytes, no NUL needed) into |out|. Port 0 is
 * allowed. Returns 0, or RING_EINVAL for anything else (names, missing port, bad numbers).
 */
RING_EXTERN int ring_addr_parse(const char *text, size_t len, struct ring_addr *out);

/* Writes "a.b.c.d:port" or "[v6]:port" and a NUL into |buf| (|cap| bytes; RING_ADDR_STRLEN
 * always suffices). Returns the length written without the NUL, RING_ENOBUFS, or RING_EINVAL
 * (family is neither RING_ADDR_V4 nor RING_ADDR_V6). */
RING_EXTERN int ring_addr_format(const struct ring_addr *a, char *buf, size_t cap);

/* Returns 1 if |a| and |b| are the same family, ip and port, else 0 (only the family's 4 or
 * 16 ip bytes are compared). */
RING_EXTERN int ring_addr_equal(const struct ring_addr *a, const struct ring_addr *b);

#endif
