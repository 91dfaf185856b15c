/*
 * Hostile tests of the gossip port's streams (proto/PROTOCOL.md, sections 10.1 and 11):
 * recorded connections played again, junk and oversized headers from strangers, held
 * connections, and forwarding connections and streams past their caps, each against real
 * ringd on loopback; and ringctl's peer queries on an encrypted cluster.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cluster.h"
#include "httpc.h"
#include "ring/codec.h"
#include "ring/fwd.h"
#include "ring/session.h"
#include "testapp.h"

#define KEY_A "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
#define IO_MS 5000

static struct testapp apps[2];
static char proxy_addr[2][32], app_addr[2][32];
static struct httpc_resp resp;
static struct seal_keyring kr;

static void setup(void)
{
    cluster_init();
    cr_assert(ge(int, sodium_init(), 0));
    cr_assert(eq(int, seal_keyring_parse(&kr, KEY_A "\n", strlen(KEY_A) + 1, NULL, 0), 0));
}

static void teardown(void)
{
    cluster_stop();
    for (int i = 0; i < 2; i++) {
        testapp_stop(&apps[i]);
    }
}

TestSuite(streams_auth, .init = setup, .fini = teardown, .timeout = 90);

static void write_keyfile(int i)
{
    snprintf(cl.keyfile[i], sizeof(cl.keyfile[i]), "%s/keys-n%d", cl.dir, i);
    FILE *f = fopen(cl.keyfile[i], "w");
    cr_assert(ne(ptr, f, NULL));
    fputs(KEY_A "\n", f);
    fclose(f);
}

/* Node |i| with a proxy in front of app |i|. */
static void with_proxy(int i)
{
    char id[8];
    snprintf(id, sizeof(id), "app%d", i);
    cr_assert(eq(int, testapp_start(&apps[i], testapp_port(i), id, NULL), 0));
    snprintf(proxy_addr[i], sizeof(proxy_addr[i]), "127.0.0.1:%d", cluster_proxy_port(i));
    snprintf(app_addr[i], sizeof(app_addr[i]), "127.0.0.1:%d", testapp_port(i));
    const char **a = cl.extra_args[i];
    a[0] = "--proxy";
    a[1] = proxy_addr[i];
    a[2] = "--app";
    a[3] = app_addr[i];
    a[4] = NULL;
}

static void converge(int n)
{
    cr_assert(ge(int, cluster_wait(cluster_converged, (void *)(intptr_t)n, 10000), 0),
              "%d nodes did not converge", n);
}

/* A counter or gauge of node |i|'s /metrics (the line "name value"). */
static uint64_t metric(int i, const char *name)
{
    static char body[1 << 20];
    cr_assert(eq(int, cluster_http(i, "GET /metrics HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    size_t n = strlen(name);
    for (const char *p = body; (p = strstr(p, name)) != NULL; p += n) {
        if ((p == body || p[-1] == '\n') && p[n] == ' ') {
            return strtoull(p + n + 1, NULL, 10);
        }
    }
    cr_assert(0, "no metric %s", name);
    return 0;
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(ge(int, fd, 0));
    struct timeval tv = { .tv_sec = IO_MS / 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert(eq(int, connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0), "connect %d", port);
    return fd;
}

static int read_n(int fd, void *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = recv(fd, (char *)buf + got, n - got, 0);
        if (r <= 0) {
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

/* Bytes until the peer closes (EOF, or a reset: it closed with our bytes unread), or -1 at
 * the receive timeout. */
static ssize_t read_to_eof(int fd)
{
    char buf[4096];
    ssize_t total = 0, r;
    while ((r = recv(fd, buf, sizeof(buf), 0)) > 0) {
        total += r;
    }
    return r == 0 || errno == ECONNRESET ? total : -1;
}

/* A key holder's connection to a gossip port that records every byte it sends. */
struct tap {
    int fd;
    struct session s;
    uint8_t sent[16384];
    size_t sent_len;
};

static void tap_send(struct tap *t, const void *p, size_t n)
{
    cr_assert(le(sz, t->sent_len + n, sizeof(t->sent)));
    memcpy(t->sent + t->sent_len, p, n);
    t->sent_len += n;
    cr_assert(eq(i64, (int64_t)send(t->fd, p, n, 0), (int64_t)n));
}

static void tap_frame(struct tap *t, const uint8_t *plain, size_t len)
{
    uint8_t frame[CODEC_FRAME_HEADER_BYTES + 4096];
    ssize_t n = session_seal(&t->s, plain, len, frame + CODEC_FRAME_HEADER_BYTES, 4096);
    cr_assert(gt(i64, (int64_t)n, 0));
    codec_frame_header(frame, (uint32_t)n);
    tap_send(t, frame, CODEC_FRAME_HEADER_BYTES + (size_t)n);
}

/* One frame from the peer, opened; returns its length. */
static size_t tap_read(struct tap *t, uint8_t *out, size_t cap)
{
    uint8_t hdr[CODEC_FRAME_HEADER_BYTES];
    uint32_t len = 0;
    cr_assert(eq(int, read_n(t->fd, hdr, sizeof(hdr)), 0), "no frame");
    cr_assert(eq(int, codec_frame_length(hdr, &len), 0));
    cr_assert(le(sz, len, cap));
    cr_assert(eq(int, read_n(t->fd, out, len), 0));
    ssize_t n = session_open(&t->s, out, len, out, cap);
    cr_assert(ge(i64, (int64_t)n, 0), "a frame does not open");
    return (size_t)n;
}

static void tap_handshake(struct tap *t, int port)
{
    t->fd = tcp_connect(port);
    t->sent_len = 0;
    session_init(&t->s, SESSION_CLIENT);
    uint8_t rnd[SESSION_RANDOM_BYTES], f[CODEC_FRAME_HEADER_BYTES + SESSION_HELLO_BYTES];
    randombytes_buf(rnd, sizeof(rnd));
    session_client_hello(&t->s, &kr, rnd, f + CODEC_FRAME_HEADER_BYTES, SESSION_HELLO_BYTES);
    codec_frame_header(f, SESSION_HELLO_BYTES);
    tap_send(t, f, sizeof(f));
    cr_assert(eq(int, read_n(t->fd, f, sizeof(f)), 0), "no server hello");
    ssize_t n = session_client_finish(&t->s, &kr, f + CODEC_FRAME_HEADER_BYTES, SESSION_HELLO_BYTES,
                                      f + CODEC_FRAME_HEADER_BYTES, 64);
    cr_assert(eq(i64, (int64_t)n, SESSION_CONFIRM_BYTES));
    codec_frame_header(f, SESSION_CONFIRM_BYTES);
    tap_send(t, f, CODEC_FRAME_HEADER_BYTES + SESSION_CONFIRM_BYTES);
}

/* Plays |t|'s recorded bytes on a new connection: the server answers the (genuine) hello,
 * then closes at the confirm, which opens under nothing. Returns the bytes it sent before
 * closing (at most its hello; fewer when its reset overtook them), -1 if it never closed. */
static ssize_t replay(const struct tap *t, int port)
{
    int fd = tcp_connect(port);
    cr_assert(eq(i64, (int64_t)send(fd, t->sent, t->sent_len, 0), (int64_t)t->sent_len));
    ssize_t got = read_to_eof(fd);
    close(fd);
    return got;
}

static uint64_t app_count(int i, const char *id)
{
    struct httpc *h = httpc_connect(testapp_port(i));
    cr_assert(ne(ptr, h, NULL));
    char req[128];
    snprintf(req, sizeof(req), "GET /count?id=%s HTTP/1.1\r\nHost: t\r\n\r\n", id);
    cr_assert(eq(int, httpc_send_str(h, req), 0));
    cr_assert(eq(int, httpc_read(h, &resp, IO_MS), 0));
    httpc_close(h);
    return strtoull(resp.body, NULL, 10);
}

Test(streams_auth, recorded_forwarding_stream_and_sync_played_again_are_refused)
{
    write_keyfile(0);
    with_proxy(0);
    cluster_start(1);
    converge(1);
    int port = cluster_gossip_port(0);

    /* a genuine forwarding stream: one POST, answered */
    struct tap t;
    tap_handshake(&t, port);
    uint8_t f[4096];
    tap_frame(&t, f, fwd_hello(f));
    tap_frame(&t, f, fwd_open(f, 1, 1, 0));
    const char post[] = "POST /pay HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k1\r\n"
                        "X-Request-Id: once-1\r\nContent-Length: 0\r\n\r\n";
    fwd_header(f, FWD_DATA, 1);
    memcpy(f + FWD_HEADER_BYTES, post, strlen(post));
    tap_frame(&t, f, FWD_HEADER_BYTES + strlen(post));
    tap_frame(&t, f, fwd_fin(f, 1));
    char answer[4096] = "";
    size_t answer_len = 0;
    for (int k = 0; k < 16; k++) {
        size_t n = tap_read(&t, f, sizeof(f));
        struct fwd_frame fr;
        cr_assert(eq(int, fwd_parse(f, n, &fr), 0));
        if (fr.type == FWD_DATA && answer_len + fr.len < sizeof(answer)) {
            memcpy(answer + answer_len, fr.data, fr.len);
            answer_len += fr.len;
        }
        if (fr.type == FWD_FIN || fr.type == FWD_RESET) {
            break;
        }
    }
    cr_assert(eq(int, strncmp(answer, "HTTP/1.1 200", 12), 0), "answer: %s", answer);
    close(t.fd);
    cr_assert(eq(u64, app_count(0, "once-1"), 1));

    /* a genuine sync (from a made-up "n9"), answered with the node's table */
    struct tap s;
    tap_handshake(&s, port);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_uint8(&pk, 16);
    msgpack_pack_map(&pk, 4);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_str_with_body(&pk, "n9", 2);
    msgpack_pack_uint8(&pk, 4);
    msgpack_pack_uint8(&pk, 0);
    msgpack_pack_uint8(&pk, 6);
    msgpack_pack_false(&pk);
    msgpack_pack_uint8(&pk, 7);
    msgpack_pack_array(&pk, 0);
    tap_frame(&s, (const uint8_t *)sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    size_t n = tap_read(&s, f, sizeof(f));
    cr_assert(gt(sz, n, 0));
    cr_assert(eq(u8, f[0], 0x93), "the sync was not answered with a message");
    close(s.fd);

    uint64_t replays = metric(0, "ringd_stream_replays_refused_total");
    /* Both played again: each gets at most the server's hello (83 bytes), then the close. */
    for (int k = 0; k < 2; k++) {
        ssize_t got = replay(k == 0 ? &t : &s, port);
        cr_assert(ge(i64, (int64_t)got, 0), "the node never closed a replayed connection");
        cr_assert(le(i64, (int64_t)got, CODEC_FRAME_HEADER_BYTES + SESSION_HELLO_BYTES));
    }
    cr_assert(eq(u64, metric(0, "ringd_stream_replays_refused_total"), replays + 2));
    cr_assert(eq(u64, app_count(0, "once-1"), 1), "the replayed POST reached the app");
}

/* VmRSS of node |i| in KiB. */
static long rss_kib(int i)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)cl.pids[i]);
    FILE *f = fopen(path, "r");
    cr_assert(ne(ptr, f, NULL));
    long kib = -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
        }
    }
    fclose(f);
    return kib;
}

#define JUNK_CONNS 24

/* Connections node |i| refused by their first frames or evicted as strangers over a cap
 * (which of the two depends on how fast it reads them: all 216 come from one address). */
static uint64_t refused(int i)
{
    return metric(i, "ringd_stream_handshake_failures_total") +
           metric(i, "ringd_stream_evictions_total{cap=\"address\"}") +
           metric(i, "ringd_stream_evictions_total{cap=\"total\"}");
}

Test(streams_auth, junk_and_16mib_headers_from_strangers_cost_almost_nothing)
{
    write_keyfile(0);
    cluster_start(1);
    converge(1);
    int port = cluster_gossip_port(0);
    long before = rss_kib(0), peak = before;
    uint64_t failures = refused(0);
    int fds[3 * JUNK_CONNS];
    static uint8_t junk[1 << 20];
    memset(junk, 0xa5, sizeof(junk));
    for (int k = 0; k < JUNK_CONNS; k++) {
        /* a 16 MiB frame header, then 1 MiB of it */
        uint8_t hdr[4] = { 0x01, 0x00, 0x00, 0x00 };
        fds[3 * k] = tcp_connect(port);
        send(fds[3 * k], hdr, 4, 0);
        send(fds[3 * k], junk, sizeof(junk), MSG_DONTWAIT);
        /* a hello-sized frame of junk */
        uint8_t h[4 + SESSION_HELLO_BYTES];
        memset(h, 0xc1, sizeof(h));
        codec_frame_header(h, SESSION_HELLO_BYTES);
        fds[3 * k + 1] = tcp_connect(port);
        send(fds[3 * k + 1], h, sizeof(h), 0);
        /* raw junk, no frame at all */
        fds[3 * k + 2] = tcp_connect(port);
        send(fds[3 * k + 2], junk, 64 << 10, MSG_DONTWAIT);
        long now = rss_kib(0);
        peak = now > peak ? now : peak;
    }
    for (int w = 0; w < 250 && refused(0) < failures + 3 * JUNK_CONNS; w++) {
        long now = rss_kib(0);
        peak = now > peak ? now : peak;
        cluster_sleep_ms(20);
    }
    cr_assert(ge(u64, refused(0), failures + 3 * JUNK_CONNS), "not every junk connection was "
                                                              "refused or evicted");
    for (int k = 0; k < 3 * JUNK_CONNS; k++) {
        close(fds[k]);
    }
    cr_log_info("junk: VmRSS %ld KiB before, peak %ld KiB", before, peak);
    printf("streams_auth junk: VmRSS before %ld KiB, peak %ld KiB\n", before, peak);
    cr_assert(lt(long, peak, 64L * 1024), "peak VmRSS %ld KiB", peak);
    cr_assert(lt(long, peak - before, 8L * 1024), "grew by %ld KiB", peak - before);
    converge(1);
}

#define HELD_CONNS 300

Test(streams_auth, held_idle_connections_never_keep_a_join_out)
{
    write_keyfile(0);
    write_keyfile(1);
    cluster_start_node(0, -1);
    converge(1);
    static int fds[HELD_CONNS];
    for (int k = 0; k < HELD_CONNS; k++) {
        fds[k] = tcp_connect(cluster_gossip_port(0));
    }
    long peak = rss_kib(0);
    cluster_start_node(1, 0);
    int ms = cluster_wait(cluster_converged, (void *)(intptr_t)2, 10000);
    cr_assert(ge(int, ms, 0), "the new node did not join past %d held connections", HELD_CONNS);
    uint64_t evicted = metric(0, "ringd_stream_evictions_total{cap=\"address\"}");
    printf("streams_auth held: %d held, joined in %d ms, %llu evicted, VmRSS %ld KiB\n", HELD_CONNS,
           ms, (unsigned long long)evicted, peak);
    cr_assert(ge(u64, evicted, HELD_CONNS - 32));
    for (int k = 0; k < HELD_CONNS; k++) {
        close(fds[k]);
    }
}

static int open_fds(int i)
{
    char cmd[96], out[32];
    snprintf(cmd, sizeof(cmd), "ls /proc/%d/fd | wc -l", (int)cl.pids[i]);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0));
    return atoi(out);
}

/* A frame of plaintext forwarding (a node without keys). */
static void plain_frame(int fd, const uint8_t *p, size_t n)
{
    uint8_t f[CODEC_FRAME_HEADER_BYTES + 64];
    codec_frame_header(f, (uint32_t)n);
    memcpy(f + CODEC_FRAME_HEADER_BYTES, p, n);
    cr_assert(eq(i64, (int64_t)send(fd, f, CODEC_FRAME_HEADER_BYTES + n, 0),
                 (int64_t)(CODEC_FRAME_HEADER_BYTES + n)));
}

#define FWD_CONNS   2000
#define FWD_STREAMS 5000

Test(streams_auth, forwarding_connections_and_streams_are_capped)
{
    cl.insecure[0] = 1; /* the caps hold without keys too; frames here are plaintext */
    with_proxy(0);
    cluster_start(1);
    converge(1);
    int port = cluster_gossip_port(0);
    uint8_t f[64];
    static int fds[FWD_CONNS];
    for (int k = 0; k < FWD_CONNS; k++) {
        fds[k] = tcp_connect(port);
        plain_frame(fds[k], f, fwd_hello(f));
    }
    /* the connections are in once the node counted them all */
    for (int w = 0; w < 100 && open_fds(0) > 256 + 64; w++) {
        cluster_sleep_ms(20);
    }
    int held = open_fds(0);
    /* evicted while waiting for their HELLO (stream.c), or as idle forwarding connections */
    uint64_t evicted = metric(0, "ringd_proxy_peer_connections_evicted_total") +
                       metric(0, "ringd_proxy_peer_connections_refused_total") +
                       metric(0, "ringd_stream_evictions_total{cap=\"address\"}") +
                       metric(0, "ringd_stream_evictions_total{cap=\"total\"}");
    cr_assert(ge(u64, evicted, FWD_CONNS - 256 - 64));
    cr_assert(lt(int, held, 256 + 64), "node holds %d descriptors", held);
    for (int k = 0; k < FWD_CONNS; k++) {
        close(fds[k]);
    }

    /* 5,000 empty streams on one connection */
    int fd = tcp_connect(port);
    plain_frame(fd, f, fwd_hello(f));
    for (uint32_t id = 1; id <= FWD_STREAMS; id++) {
        plain_frame(fd, f, fwd_open(f, id, 1, 0));
    }
    for (int w = 0;
         w < 250 && metric(0, "ringd_proxy_peer_streams_refused_total") < FWD_STREAMS - 256; w++) {
        cluster_sleep_ms(20);
    }
    uint64_t refused = metric(0, "ringd_proxy_peer_streams_refused_total");
    printf("streams_auth forwarding: %d connections -> %llu evicted, %d fds held; %d streams "
           "-> %llu refused\n",
           FWD_CONNS, (unsigned long long)evicted, held, FWD_STREAMS, (unsigned long long)refused);
    cr_assert(eq(u64, refused, FWD_STREAMS - 256));

    /* and the proxy still serves its own clients */
    struct httpc *h = httpc_connect(cluster_proxy_port(0));
    cr_assert(ne(ptr, h, NULL));
    cr_assert(eq(int, httpc_send_str(h, "GET /x HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k\r\n\r\n"), 0));
    cr_assert(eq(int, httpc_read(h, &resp, IO_MS), 0));
    cr_assert(eq(int, resp.status, 200));
    httpc_close(h);
    close(fd);
}

Test(streams_auth, ringctl_asks_peers_of_an_encrypted_cluster_with_its_keyfile)
{
    static char seeds[64];
    snprintf(seeds, sizeof(seeds), "127.0.0.1:%d,127.0.0.1:%d", cluster_gossip_port(0),
             cluster_gossip_port(2));
    for (int i = 0; i < 3; i++) {
        write_keyfile(i);
        const char *args[] = { "--group", i < 2 ? "a" : "b", "--join", seeds, NULL };
        memcpy(cl.extra_args[i], args, sizeof(args));
    }
    cl.n = 3;
    for (int i = 0; i < 3; i++) {
        cluster_start_node(i, -1);
    }
    /* node 0 sees its group's 2 and knows group b through a contact */
    char cmd[512], out[8192], sock[128];
    int ok = 0;
    for (int w = 0; w < 100 && !ok; w++) {
        snprintf(cmd, sizeof(cmd), "%s --socket %s --keyfile %s members --group b 2>/dev/null",
                 RINGCTL_BIN, cluster_socket(0, sock, sizeof(sock)), cl.keyfile[0]);
        ok = cluster_sh(cmd, out, sizeof(out)) == 0 && strstr(out, "n2") != NULL;
        if (!ok) {
            cluster_sleep_ms(200);
        }
    }
    cr_assert(ok, "members --group b with --keyfile: %s", out);
    snprintf(cmd, sizeof(cmd), "RINGD_KEYFILE=%s %s --socket %s checksums", cl.keyfile[0],
             RINGCTL_BIN, cluster_socket(0, sock, sizeof(sock)));
    int rv = 1;
    for (int w = 0; w < 100 && rv != 0; w++) {
        rv = cluster_sh(cmd, out, sizeof(out));
        if (rv != 0) {
            cluster_sleep_ms(100);
        }
    }
    cr_assert(eq(int, rv, 0), "checksums with $RINGD_KEYFILE: %s", out);
    cr_assert(ne(ptr, strstr(out, "n1"), NULL), "%s", out);
    /* without the key the peers answer nothing */
    snprintf(cmd, sizeof(cmd), "%s --socket %s members --group b 2>&1", RINGCTL_BIN,
             cluster_socket(0, sock, sizeof(sock)));
    cr_assert(ne(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
}

/* A stranger sending its hello a byte at a time: the deadline runs from accept, whatever
 * arrives. */
Test(streams_auth, trickled_bytes_never_extend_the_handshake_deadline)
{
    write_keyfile(0);
    cluster_start(1);
    converge(1);
    uint64_t timeouts = metric(0, "ringd_stream_handshake_timeouts_total");
    int fd = tcp_connect(cluster_gossip_port(0));
    uint8_t hello[CODEC_FRAME_HEADER_BYTES + SESSION_HELLO_BYTES];
    memset(hello, 0xc1, sizeof(hello));
    codec_frame_header(hello, SESSION_HELLO_BYTES);
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    size_t k = 0;
    for (; k < sizeof(hello); k++) {
        if (send(fd, hello + k, 1, MSG_NOSIGNAL) != 1) {
            break;
        }
        char c;
        if (recv(fd, &c, 1, MSG_DONTWAIT) == 0) {
            break; /* closed */
        }
        cluster_sleep_ms(100);
    }
    gettimeofday(&t1, NULL);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    close(fd);
    cr_assert(lt(sz, k, sizeof(hello)), "the whole hello went through");
    cr_assert(ge(long, ms, 2900), "closed after %ld ms", ms);
    cr_assert(le(long, ms, 4500), "closed after %ld ms", ms);
    cr_assert(eq(u64, metric(0, "ringd_stream_handshake_timeouts_total"), timeouts + 1));
}

/* Streams opened and left empty are reset after --idle-timeout, and counted. */
Test(streams_auth, idle_forwarding_streams_are_reset)
{
    cl.insecure[0] = 1; /* plaintext frames */
    with_proxy(0);
    cl.extra_args[0][4] = "--idle-timeout";
    cl.extra_args[0][5] = "1s";
    cl.extra_args[0][6] = NULL;
    cluster_start(1);
    converge(1);
    int fd = tcp_connect(cluster_gossip_port(0));
    uint8_t f[64];
    plain_frame(fd, f, fwd_hello(f));
    for (uint32_t id = 1; id <= 3; id++) {
        plain_frame(fd, f, fwd_open(f, id, 1, 0));
    }
    /* the node answers each with RESET (cancel) once it idled */
    int resets = 0;
    for (int k = 0; k < 3; k++) {
        uint8_t hdr[CODEC_FRAME_HEADER_BYTES], body[64];
        uint32_t len = 0;
        cr_assert(eq(int, read_n(fd, hdr, sizeof(hdr)), 0), "no RESET within %d ms", IO_MS);
        cr_assert(eq(int, codec_frame_length(hdr, &len), 0));
        cr_assert(le(u32, len, sizeof(body)));
        cr_assert(eq(int, read_n(fd, body, len), 0));
        struct fwd_frame fr;
        cr_assert(eq(int, fwd_parse(body, len, &fr), 0));
        resets += fr.type == FWD_RESET;
    }
    cr_assert(eq(int, resets, 3));
    cr_assert(eq(u64, metric(0, "ringd_proxy_peer_streams_idle_total"), 3));
    close(fd);
}
