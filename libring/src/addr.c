/*
 * addr: numeric network addresses as plain data.
 *
 * Text forms are exactly "a.b.c.d:port" and "[v6]:port", the forms ringd prints and its
 * flags take. Parsing is strict on purpose: no names (resolving them is I/O and belongs to
 * ringd), no zone ids ("%eth0" means nothing to a peer), no bare v6 without brackets (the
 * last colon would be ambiguous), no sign, spaces or more than five port digits. The
 * address part goes through inet_pton(3), which is pure libc (no I/O) and already rejects
 * octets above 255 and leading zeros; formatting goes through inet_ntop(3), which gives the
 * canonical RFC 5952 v6 text, so format(parse(x)) is the same string on every node.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "ring/addr.h"
#include "ring/error.h"

/* "65535" */
#define PORT_DIGITS_MAX 5

/* Parses 1..5 decimal digits into a port. */
static int parse_port(const char *s, size_t len, uint16_t *out)
{
    if (len == 0 || len > PORT_DIGITS_MAX) {
        return RING_EINVAL;
    }
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return RING_EINVAL;
        }
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > UINT16_MAX) {
        return RING_EINVAL;
    }
    *out = (uint16_t)v;
    return 0;
}

/* Runs inet_pton on |len| bytes of |s| (not NUL-terminated) into |ip|. */
static int parse_ip(int af, const char *s, size_t len, uint8_t ip[16])
{
    char host[INET6_ADDRSTRLEN];
    if (len == 0 || len >= sizeof(host) || memchr(s, '\0', len) != NULL) {
        return RING_EINVAL;
    }
    memcpy(host, s, len);
    host[len] = '\0';
    return inet_pton(af, host, ip) == 1 ? 0 : RING_EINVAL;
}

/* "[v6]:port": |text| starts with '['. */
static int parse_v6(const char *text, size_t len, struct ring_addr *out)
{
    const char *close = memchr(text, ']', len);
    if (close == NULL) {
        return RING_EINVAL;
    }
    size_t host_len = (size_t)(close - text) - 1;
    size_t rest = len - host_len - 2; /* bytes after ']' */
    if (rest < 2 || close[1] != ':') {
        return RING_EINVAL;
    }
    int rv = parse_ip(AF_INET6, text + 1, host_len, out->ip);
    if (rv == 0) {
        rv = parse_port(close + 2, rest - 1, &out->port);
    }
    out->family = RING_ADDR_V6;
    return rv;
}

/* "a.b.c.d:port". */
static int parse_v4(const char *text, size_t len, struct ring_addr *out)
{
    const char *colon = memchr(text, ':', len);
    if (colon == NULL) {
        return RING_EINVAL;
    }
    size_t host_len = (size_t)(colon - text);
    int rv = parse_ip(AF_INET, text, host_len, out->ip);
    if (rv == 0) {
        rv = parse_port(colon + 1, len - host_len - 1, &out->port);
    }
    out->family = RING_ADDR_V4;
    return rv;
}

int ring_addr_parse(const char *text, size_t len, struct ring_addr *out)
{
    struct ring_addr a;
    memset(&a, 0, sizeof(a));
    if (text == NULL || out == NULL || len == 0 || len >= RING_ADDR_STRLEN) {
        return RING_EINVAL;
    }
    int rv = text[0] == '[' ? parse_v6(text, len, &a) : parse_v4(text, len, &a);
    if (rv != 0) {
        return rv;
    }
    *out = a;
    return 0;
}

int ring_addr_format(const struct ring_addr *a, char *buf, size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    char tmp[RING_ADDR_STRLEN];
    int n;
    if (a->family == RING_ADDR_V4) {
        inet_ntop(AF_INET, a->ip, host, sizeof(host));
        n = snprintf(tmp, sizeof(tmp), "%s:%u", host, (unsigned)a->port);
    } else if (a->family == RING_ADDR_V6) {
        inet_ntop(AF_INET6, a->ip, host, sizeof(host));
        n = snprintf(tmp, sizeof(tmp), "[%s]:%u", host, (unsigned)a->port);
    } else {
        return RING_EINVAL;
    }
    if (n < 0 || (size_t)n >= cap) {
        return RING_ENOBUFS;
    }
    memcpy(buf, tmp, (size_t)n + 1);
    return n;
}

static size_t ip_len(uint8_t family)
{
    return family == RING_ADDR_V4 ? 4 : family == RING_ADDR_V6 ? 16 : 0;
}

int ring_addr_equal(const struct ring_addr *a, const struct ring_addr *b)
{
    return a->family == b->family && a->port == b->port &&
           memcmp(a->ip, b->ip, ip_len(a->family)) == 0;
}
