/*
 * Tests of ring_testapp, the app behind ringd's forwarding proxy in the proxy tests and
 * bench_proxy: the proxy tests trust it to speak HTTP/1.1 properly, so it is checked here on its
 * own, over raw sockets: pipelining in order, chunked and 100-continue bodies, HTTP/1.0, the
 * /count, /sink and /gen endpoints, bounded memory when the client does not read, SIGTERM.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "httpc.h"
#include "testapp.h"

#define IO_MS 5000

static struct testapp app;
static struct httpc_resp resp; /* 70 KiB: not on the stack */

static void setup(void)
{
    cr_assert(eq(int, testapp_start(&app, testapp_port(0), "app0", NULL), 0),
              "ring_testapp did not print ready");
}

static void teardown(void)
{
    testapp_stop(&app);
}

TestSuite(testapp, .init = setup, .fini = teardown, .timeout = 60);

static struct httpc *connect_app(void)
{
    struct httpc *h = httpc_connect(app.port);
    cr_assert(ne(ptr, h, NULL), "cannot connect to ring_testapp");
    return h;
}

static void send_str(struct httpc *h, const char *s)
{
    cr_assert(eq(int, httpc_send_str(h, s), 0));
}

static void read_resp(struct httpc *h, int status)
{
    int rv = httpc_read(h, &resp, IO_MS);
    cr_assert(eq(int, rv, 0), "no response: %s", strerror(-rv));
    cr_assert(eq(int, resp.status, status));
    const char *id = httpc_header(&resp, "X-App-Id");
    cr_assert(ne(ptr, (void *)id, NULL), "no X-App-Id");
    cr_assert(eq(int, strcmp(id, "app0"), 0), "X-App-Id: %s", id);
}

static void expect_body(const char *want)
{
    cr_assert(eq(int, strcmp(resp.body, want), 0), "body \"%s\", want \"%s\"", resp.body, want);
}

static void expect_key(const char *want)
{
    const char *k = httpc_header(&resp, "X-Echo-Key");
    if (want == NULL) {
        cr_assert(eq(ptr, (void *)k, NULL), "X-Echo-Key: %s on a request without a key", k);
        return;
    }
    cr_assert(ne(ptr, (void *)k, NULL), "no X-Echo-Key");
    cr_assert(eq(int, strcmp(k, want), 0), "X-Echo-Key: %s, want %s", k, want);
}

static unsigned long count_of(struct httpc *h, const char *id)
{
    char req[256];
    snprintf(req, sizeof(req), "GET /count?id=%s HTTP/1.1\r\nHost: t\r\n\r\n", id);
    send_str(h, req);
    read_resp(h, 200);
    return strtoul(resp.body, NULL, 10);
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

Test(testapp, pipelined_requests_answered_in_order_on_one_connection)
{
    struct httpc *h = connect_app();
    /* The slow one first: a later, faster response must still wait for it. */
    send_str(h, "GET /sleep?ms=150 HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k1\r\n\r\n"
                "GET / HTTP/1.1\r\nHost: t\r\nX-Ring-Key: k2\r\n\r\n"
                "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                "GET /count?id=none HTTP/1.1\r\nHost: t\r\n\r\n");
    read_resp(h, 200);
    expect_key("k1");
    expect_body("app0\n");
    read_resp(h, 200);
    expect_key("k2");
    expect_body("app0\n");
    cr_assert(not(resp.chunked), "a body-less answer has a Content-Length");
    read_resp(h, 200);
    expect_key(NULL);
    expect_body("abc");
    cr_assert(resp.chunked, "an echo is chunked");
    read_resp(h, 200);
    expect_body("0\n");
    cr_assert(resp.keep_alive);
    /* The connection is still usable afterwards. */
    send_str(h, "GET /again HTTP/1.1\r\nHost: t\r\n\r\n");
    read_resp(h, 200);
    expect_body("app0\n");
    httpc_close(h);
}

Test(testapp, chunked_request_body_echoed_as_it_arrives)
{
    struct httpc *h = connect_app();
    send_str(h, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                "X-Ring-Key: user:7\r\n\r\n5\r\nhello\r\n");
    sleep_ms(50);
    send_str(h, "1\r\n,\r\n6\r\n world\r\n0\r\n\r\n");
    read_resp(h, 200);
    expect_key("user:7");
    expect_body("hello, world");
    cr_assert(resp.chunked);
    httpc_close(h);
}

Test(testapp, expect_100_continue_answered_before_the_body)
{
    struct httpc *h = connect_app();
    send_str(h, "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                "Expect: 100-continue\r\n\r\n");
    /* Nothing of the body is sent until the 100 arrives (a bare interim response). */
    cr_assert(eq(int, httpc_read(h, &resp, IO_MS), 0));
    cr_assert(eq(int, resp.status, 100));
    send_str(h, "12345");
    read_resp(h, 200);
    expect_body("12345");
    httpc_close(h);
}

Test(testapp, count_sees_each_request_id_once_per_request)
{
    struct httpc *h = connect_app();
    send_str(h, "GET / HTTP/1.1\r\nHost: t\r\nX-Request-Id: r-1\r\n\r\n"
                "POST /p HTTP/1.1\r\nHost: t\r\nX-Request-Id: r-1\r\nContent-Length: 1\r\n\r\nx"
                "PUT /p HTTP/1.1\r\nHost: t\r\nx-request-id: r-1\r\nContent-Length: 0\r\n\r\n"
                "DELETE /p HTTP/1.1\r\nHost: t\r\nX-Request-Id: r-2\r\n\r\n");
    for (int i = 0; i < 4; i++) {
        read_resp(h, 200);
    }
    cr_assert(eq(ulong, count_of(h, "r-1"), 3ul));
    cr_assert(eq(ulong, count_of(h, "r-2"), 1ul));
    cr_assert(eq(ulong, count_of(h, "r-3"), 0ul));
    httpc_close(h);
    /* Counts are the app's, not the connection's. */
    h = connect_app();
    cr_assert(eq(ulong, count_of(h, "r-1"), 3ul));
    httpc_close(h);
}

Test(testapp, count_forgets_the_oldest_ids_when_full)
{
    enum { IDS = 9000, BATCH = 500 }; /* more than the app's IDS_MAX (8192) */
    struct httpc *h = connect_app();
    static char batch[BATCH * 64];
    for (int i = 0; i < IDS; i += BATCH) {
        size_t len = 0;
        for (int k = i; k < i + BATCH; k++) {
            len += (size_t)snprintf(batch + len, sizeof(batch) - len,
                                    "GET / HTTP/1.1\r\nX-Request-Id: e%d\r\n\r\n", k);
        }
        cr_assert(eq(int, httpc_send(h, batch, len), 0));
        for (int k = 0; k < BATCH; k++) {
            read_resp(h, 200);
        }
    }
    cr_assert(eq(ulong, count_of(h, "e0"), 0ul), "the oldest id is forgotten");
    cr_assert(eq(ulong, count_of(h, "e807"), 0ul));
    cr_assert(eq(ulong, count_of(h, "e808"), 1ul), "the 8192 newest are kept");
    cr_assert(eq(ulong, count_of(h, "e5000"), 1ul));
    cr_assert(eq(ulong, count_of(h, "e8999"), 1ul));
    httpc_close(h);
}

Test(testapp, sink_counts_and_hashes_a_large_upload)
{
    enum { BYTES = 20 << 20, PIECE = 1 << 16 };
    struct httpc *h = connect_app();
    char head[128];
    snprintf(head, sizeof(head), "POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n",
             BYTES);
    send_str(h, head);
    static char piece[PIECE];
    XXH64_state_t *st = XXH64_createState();
    XXH64_reset(st, 0);
    uint64_t x = 42;
    for (int sent = 0; sent < BYTES; sent += PIECE) {
        for (int i = 0; i < PIECE; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            piece[i] = (char)(x >> 56);
        }
        XXH64_update(st, piece, PIECE);
        cr_assert(eq(int, httpc_send(h, piece, PIECE), 0));
    }
    char want[96];
    snprintf(want, sizeof(want), "{\"bytes\":%d,\"xxh64\":\"%016llx\"}", BYTES,
             (unsigned long long)XXH64_digest(st));
    XXH64_freeState(st);
    read_resp(h, 200);
    expect_body(want);
    cr_assert(not(resp.chunked));
    httpc_close(h);
}

static uint64_t pattern_xxh64(uint64_t bytes)
{
    char buf[251 * 64];
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (char)(i % 251);
    }
    XXH64_state_t *st = XXH64_createState();
    XXH64_reset(st, 0);
    for (uint64_t done = 0; done < bytes;) {
        size_t n = bytes - done < sizeof(buf) ? (size_t)(bytes - done) : sizeof(buf);
        XXH64_update(st, buf, n);
        done += n;
    }
    uint64_t h = XXH64_digest(st);
    XXH64_freeState(st);
    return h;
}

Test(testapp, gen_streams_the_pattern_with_length_or_chunked)
{
    struct httpc *h = connect_app();
    send_str(h, "GET /gen?bytes=3000001 HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /gen?bytes=2500000&chunked=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /gen?bytes=0 HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    read_resp(h, 200);
    cr_assert(not(resp.chunked));
    cr_assert(eq(u64, resp.body_bytes, 3000001));
    cr_assert(eq(u64, resp.body_xxh64, pattern_xxh64(3000001)));
    read_resp(h, 200);
    cr_assert(resp.chunked);
    cr_assert(eq(u64, resp.body_bytes, 2500000));
    cr_assert(eq(u64, resp.body_xxh64, pattern_xxh64(2500000)));
    read_resp(h, 200);
    cr_assert(eq(u64, resp.body_bytes, 0));
    read_resp(h, 200);
    expect_body("app0\n");
    httpc_close(h);
}

Test(testapp, http10_and_close_end_the_connection)
{
    struct httpc *h = connect_app();
    send_str(h, "GET / HTTP/1.0\r\n\r\n");
    read_resp(h, 200);
    expect_body("app0\n");
    cr_assert(not(resp.keep_alive));
    cr_assert(eq(int, httpc_wait_eof(h, IO_MS), 0), "HTTP/1.0 without keep-alive: closed");
    httpc_close(h);

    /* An echo to HTTP/1.0 cannot be chunked: it ends with the close. */
    h = connect_app();
    send_str(h, "POST /e HTTP/1.0\r\nContent-Length: 4\r\n\r\nbody");
    read_resp(h, 200);
    expect_body("body");
    cr_assert(not(resp.chunked));
    httpc_close(h);

    h = connect_app();
    send_str(h, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /close HTTP/1.1\r\n\r\n"
                "GET /never HTTP/1.1\r\n\r\n");
    read_resp(h, 200);
    cr_assert(resp.keep_alive, "HTTP/1.0 with keep-alive stays open");
    read_resp(h, 200);
    const char *conn = httpc_header(&resp, "Connection");
    int says_close = conn != NULL && strcmp(conn, "close") == 0;
    cr_assert(says_close, "/close says Connection: close");
    cr_assert(eq(int, httpc_wait_eof(h, IO_MS), 0), "/close closes; later requests unanswered");
    httpc_close(h);
}

Test(testapp, malformed_request_gets_400_and_close)
{
    struct httpc *h = connect_app();
    send_str(h, "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n");
    int rv = httpc_read(h, &resp, IO_MS);
    cr_assert(eq(int, rv, 0));
    cr_assert(eq(int, resp.status, 400));
    cr_assert(eq(int, httpc_wait_eof(h, IO_MS), 0));
    httpc_close(h);
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert(ne(ptr, f, NULL));
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = atol(line + 6);
        }
    }
    fclose(f);
    return kib;
}

Test(testapp, headers_forge_and_extra_misbehave_as_documented)
{
    struct httpc *h = connect_app();
    send_str(h, "GET /headers HTTP/1.1\r\nHost: t\r\nX-Ring-Owner: c\r\nx-a: 1\r\n\r\n");
    read_resp(h, 200);
    expect_body("Host: t\nX-Ring-Owner: c\nx-a: 1\n");
    send_str(h, "GET /forge HTTP/1.1\r\nHost: t\r\n\r\n");
    read_resp(h, 503);
    expect_body("forged\n");
    cr_assert(eq(str, (char *)httpc_header(&resp, "X-Ring-Error"), "no_owner"));
    cr_assert(eq(str, (char *)httpc_header(&resp, "X-Ring-Owner"), "forged"));
    /* the answer, then one nobody asked for */
    send_str(h, "GET /extra?ms=0 HTTP/1.1\r\nHost: t\r\n\r\n");
    read_resp(h, 200);
    expect_body("app0\n");
    cr_assert(eq(int, httpc_read(h, &resp, IO_MS), 0));
    cr_assert(eq(str, (char *)httpc_header(&resp, "X-App-Id"), "unsolicited"));
    cr_assert(eq(str, resp.body, "unsolicited\n"));
    send_str(h, "GET /extra?ms=50&bytes=1000 HTTP/1.1\r\nHost: t\r\n\r\n");
    read_resp(h, 200);
    cr_assert(eq(int, httpc_read(h, &resp, IO_MS), 0));
    cr_assert(eq(str, (char *)httpc_header(&resp, "X-App-Id"), "unsolicited"));
    cr_assert(eq(u64, resp.body_bytes, 1000));
    httpc_close(h);
}

Test(testapp, echo_stops_reading_while_the_client_does_not_read)
{
    enum { BYTES = 64 << 20, PIECE = 1 << 16 };
    struct httpc *h = connect_app();
    long rss0 = rss_kib(app.pid);
    char head[128];
    snprintf(head, sizeof(head), "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n",
             BYTES);
    send_str(h, head);
    /* Send without reading until the app stops taking bytes for 300 ms. */
    int fd = httpc_fd(h);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    static char piece[PIECE];
    memset(piece, 'z', sizeof(piece));
    long sent = 0;
    for (int idle_ms = 0; idle_ms < 300 && sent < BYTES;) {
        ssize_t n = send(fd, piece, sizeof(piece), MSG_NOSIGNAL);
        if (n > 0) {
            sent += n;
            idle_ms = 0;
        } else {
            int again = errno == EAGAIN || errno == EWOULDBLOCK;
            cr_assert(again, "send: %s", strerror(errno));
            sleep_ms(10);
            idle_ms += 10;
        }
    }
    long grown = rss_kib(app.pid) - rss0;
    fprintf(stderr, "testapp: took %ld KiB unread, RSS grew %ld KiB\n", sent >> 10, grown);
    cr_assert(lt(long, sent, (long)BYTES), "the app kept reading with nobody reading its echo");
    cr_assert(lt(long, grown, 8192l), "the app buffered %ld KiB", grown);
    httpc_close(h);
}

Test(testapp, sigterm_exits_cleanly_with_connections_open)
{
    struct httpc *h = connect_app();
    send_str(h, "GET /sleep?ms=10000 HTTP/1.1\r\nHost: t\r\n\r\n");
    sleep_ms(50);
    int status = testapp_term(&app, 3000);
    cr_assert(ne(int, status, -1), "no exit within 3 s of SIGTERM");
    int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    cr_assert(clean, "exit status %#x", status);
    httpc_close(h);
}
