/*
 * fuzz_session: the session module's inputs from a stranger. Byte 0 picks the side:
 *   0: the rest is a client hello, then a confirm (16 bytes), then frames (2-byte length
 *      each) for a server with a fixed two-key ring;
 *   1: a client that sent a real hello reads the rest as the server's hello, which it must
 *      refuse unless it is the genuine answer;
 *   2: a genuine handshake, then the rest as frames (2-byte length each) for the server.
 * Whatever opens must never exceed its input, and a failed session must stay failed.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "ring/error.h"
#include "ring/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char keyfile[] = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n"
                              "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n";
static struct seal_keyring kr;
static const uint8_t rnd_c[SESSION_RANDOM_BYTES] = { 1 }, rnd_s[SESSION_RANDOM_BYTES] = { 2 };

/* Feeds length-prefixed frames to |s| until the input or the session ends. */
static void frames(struct session *s, const uint8_t *p, size_t n)
{
    static uint8_t out[65536];
    while (n >= 2) {
        size_t len = (size_t)p[0] << 8 | p[1];
        p += 2;
        n -= 2;
        len = len > n ? n : len;
        ssize_t got = session_open(s, p, len, out, sizeof(out));
        if (got >= 0 && (size_t)got + SESSION_OVERHEAD_BYTES != len) {
            abort();
        }
        if (got < 0 && session_state(s) != SESSION_FAILED) {
            abort();
        }
        if (got < 0) {
            return;
        }
        p += len;
        n -= len;
    }
}

static void as_server(const uint8_t *p, size_t n)
{
    struct session s;
    uint8_t sh[SESSION_HELLO_BYTES];
    session_init(&s, SESSION_SERVER);
    size_t hl = n < SESSION_HELLO_BYTES ? n : SESSION_HELLO_BYTES;
    if (session_server_hello(&s, &kr, rnd_s, p, hl, sh, sizeof(sh)) < 0) {
        return;
    }
    p += hl;
    n -= hl;
    size_t cl = n < SESSION_CONFIRM_BYTES ? n : SESSION_CONFIRM_BYTES;
    if (session_server_confirm(&s, p, cl) == 0) {
        frames(&s, p + cl, n - cl);
    }
    session_clear(&s);
}

static void as_client(const uint8_t *p, size_t n)
{
    struct session c, s;
    uint8_t ch[SESSION_HELLO_BYTES], sh[SESSION_HELLO_BYTES], conf[SESSION_CONFIRM_BYTES];
    session_init(&c, SESSION_CLIENT);
    session_init(&s, SESSION_SERVER);
    session_client_hello(&c, &kr, rnd_c, ch, sizeof(ch));
    /* the one answer a key holder gives this hello (the randomness is fixed here) */
    if (session_server_hello(&s, &kr, rnd_s, ch, sizeof(ch), sh, sizeof(sh)) < 0) {
        abort();
    }
    if (session_client_finish(&c, &kr, p, n, conf, sizeof(conf)) >= 0 &&
        (n != SESSION_HELLO_BYTES || memcmp(p, sh, n) != 0)) {
        abort(); /* a server hello nobody with the key made was taken */
    }
}

static void established(const uint8_t *p, size_t n)
{
    struct session c, s;
    uint8_t ch[SESSION_HELLO_BYTES], sh[SESSION_HELLO_BYTES], conf[SESSION_CONFIRM_BYTES];
    session_init(&c, SESSION_CLIENT);
    session_init(&s, SESSION_SERVER);
    if (session_client_hello(&c, &kr, rnd_c, ch, sizeof(ch)) < 0 ||
        session_server_hello(&s, &kr, rnd_s, ch, sizeof(ch), sh, sizeof(sh)) < 0 ||
        session_client_finish(&c, &kr, sh, sizeof(sh), conf, sizeof(conf)) < 0 ||
        session_server_confirm(&s, conf, sizeof(conf)) != 0) {
        abort();
    }
    frames(&s, p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536 || sodium_init() < 0) {
        return 0;
    }
    if (kr.count == 0 && seal_keyring_parse(&kr, keyfile, strlen(keyfile), NULL, 0) != 0) {
        abort();
    }
    switch (data[0] % 3) {
    case 0:
        as_server(data + 1, size - 1);
        break;
    case 1:
        as_client(data + 1, size - 1);
        break;
    default:
        established(data + 1, size - 1);
        break;
    }
    return 0;
}
