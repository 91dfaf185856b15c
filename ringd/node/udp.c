/*
 * udp: UDP gossip. A datagram in goes to swim_recv() with uv_now(); datagrams out come from
 * ringd_pump(). Sends use uv_udp_try_send: gossip is lossy by design, so a datagram the
 * kernel will not take right now is dropped and counted rather than queued. With --keyfile
 * every datagram is sealed on the way out and opened on the way in (envelope.c).
 */
#include <string.h>

#include "daemon.h"
#include "lease_glue.h"
#include "subshard.h"

static int bind_is_v6(const struct ringd *d)
{
    return d->cfg.bind.family == 6;
}

void ringd_udp_send(struct ringd *d, const struct ring_addr *to, const uint8_t *buf, size_t len)
{
    ssize_t wire_len =
        ringd_seal(d, SEAL_DATAGRAM, buf, len, d->dgram_wire, CODEC_DATAGRAM_BYTES_MAX);
    if (wire_len < 0) {
        d->m.udp_send_errors++;
        return;
    }
    struct sockaddr_storage ss;
    ringd_addr_to_sockaddr(to, bind_is_v6(d), &ss);
    uv_buf_t b = uv_buf_init((char *)d->dgram_wire, (unsigned)wire_len);
    int rv = uv_udp_try_send(&d->udp, &b, 1, (const struct sockaddr *)&ss);
    if (rv < 0) {
        d->m.udp_send_errors++;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct ringd *d = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)d->dgram, CODEC_DATAGRAM_BYTES_MAX);
}

static void on_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags)
{
    struct ringd *d = u->data;
    struct ring_addr addr;
    if (nread < 0 || from == NULL) {
        return; /* nothing read (libuv's EAGAIN), or an error the next read sees again */
    }
    if (nread == 0 || (flags & UV_UDP_PARTIAL) || ringd_addr_from_sockaddr(from, &addr) != 0) {
        d->m.dgrams_malformed++; /* empty, cut to our buffer, or from no IPv4/IPv6 address */
        return;
    }
    size_t len = 0;
    const uint8_t *plain = ringd_open(d, SEAL_DATAGRAM, &addr, (const uint8_t *)buf->base,
                                      (size_t)nread, d->dgram_wire, CODEC_DATAGRAM_BYTES_MAX, &len);
    if (plain == NULL) {
        return;
    }
    /* Decode errors are counted by swim (decode_errors) and shown in /metrics. */
    uint64_t now = uv_now(d->loop);
    if (!ringd_groups_recv(d, &addr, plain, len) && !ringd_leases_recv(d, &addr, plain, len, now)) {
        (void)swim_recv(d->swim, &addr, plain, len, now);
    }
    ringd_pump(d);
}

int ringd_udp_start(struct ringd *d)
{
    struct sockaddr_storage ss;
    int rv = ringd_bind_sockaddr(d, &d->cfg.bind, &ss);
    if (rv == 0) {
        rv = uv_udp_init(d->loop, &d->udp);
    }
    d->udp.data = d;
    if (rv == 0) {
        rv = uv_udp_bind(&d->udp, (const struct sockaddr *)&ss, 0);
    }
    if (rv == 0) {
        rv = uv_udp_recv_start(&d->udp, on_alloc, on_recv);
    }
    if (rv != 0) {
        ringd_log(&d->log, RINGD_LOG_ERROR, "listen", "what", "gossip udp", "address",
                  d->cfg.bind.host, "error", uv_strerror(rv), NULL);
    }
    return rv;
}
