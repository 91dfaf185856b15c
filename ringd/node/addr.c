/*
 * addr: conversions between libring's ring_addr, sockaddrs and text, and the sockaddr of a
 * configured host:port (IPv4-mapped IPv6 becomes IPv4).
 */
#include <string.h>

#include "daemon.h"

int ringd_addr_from_sockaddr(const struct sockaddr *sa, struct ring_addr *out)
{
    static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out->family = RING_ADDR_V4;
        out->port = ntohs(in->sin_port);
        memcpy(out->ip, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        out->port = ntohs(in6->sin6_port);
        if (memcmp(&in6->sin6_addr, v4mapped, 12) == 0) {
            out->family = RING_ADDR_V4;
            memcpy(out->ip, (const uint8_t *)&in6->sin6_addr + 12, 4);
        } else {
            out->family = RING_ADDR_V6;
            memcpy(out->ip, &in6->sin6_addr, 16);
        }
        return 0;
    }
    return UV_EAFNOSUPPORT;
}

void ringd_addr_to_sockaddr(const struct ring_addr *a, int v6_socket, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == RING_ADDR_V4 && !v6_socket) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(a->port);
        memcpy(&in->sin_addr, a->ip, 4);
        return;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a->port);
    if (a->family == RING_ADDR_V4) {
        uint8_t *p = (uint8_t *)&in6->sin6_addr;
        p[10] = 0xff;
        p[11] = 0xff;
        memcpy(p + 12, a->ip, 4);
    } else {
        memcpy(&in6->sin6_addr, a->ip, 16);
    }
}

const char *ringd_addr_str(const struct ring_addr *a, char *buf)
{
    if (ring_addr_format(a, buf, RING_ADDR_STRLEN) < 0) {
        memcpy(buf, "-", 2);
    }
    return buf;
}

/* Fills |ss| with the numeric host:port |hp| of the config. */
int ringd_bind_sockaddr(const struct ringd *d, const struct ringd_hostport *hp,
                        struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (hp->family == 6) {
        return uv_ip6_addr(hp->host, hp->port, (struct sockaddr_in6 *)ss);
    }
    return uv_ip4_addr(hp->host, hp->port, (struct sockaddr_in *)ss);
}
