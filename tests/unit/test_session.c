/* Unit tests for the session module (the gossip port's stream handshake and frames). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <sodium.h>
#include <string.h>

#include "ring/error.h"
#include "ring/session.h"

/* Keys as a key file holds them (base64 of 32 bytes); KEY_A is the bytes 1..32. */
#define KEY_A "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
#define KEY_B "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="

/* Known answers (session.known_answers): KEY_A, client randomness 0x11..., server 0x22... */
#define KAT_CLIENT_BOX                                                                             \
    "54ab26715f49ab84f9647f5af9c3089dc0ff25d716f76aa0"                                             \
    "1fa29bc631a1a19b0c07059de31cbc721fafa984ae945480"
#define KAT_SERVER_BOX                                                                             \
    "e66c3ad71371d13bbbf6e98e65fd9a1e6f97f10b010b67d8"                                             \
    "d0594644c3f55b2269c112e5249e6c44b5968c99bd139d3d"
#define KAT_FIRST_FRAME "1bafdaf6691142f840d21f92711abb442c6fe8ca" /* "ring", client to server */

static void setup(void)
{
    cr_assert(ge(int, sodium_init(), 0));
}

TestSuite(session, .init = setup);

static void keys(struct seal_keyring *kr, const char *text)
{
    cr_assert(eq(int, seal_keyring_parse(kr, text, strlen(text), NULL, 0), 0));
}

/* Fixed randomness: |b| in every byte. */
static const uint8_t *rnd(uint8_t b)
{
    static uint8_t r[4][SESSION_RANDOM_BYTES];
    static int next;
    uint8_t *p = r[next++ % 4];
    memset(p, b, SESSION_RANDOM_BYTES);
    return p;
}

struct pair {
    struct session c, s;
    uint8_t ch[SESSION_HELLO_BYTES], sh[SESSION_HELLO_BYTES], confirm[SESSION_CONFIRM_BYTES];
};

/* A whole handshake between keyrings |ck| (client) and |sk| (server). */
static void handshake(struct pair *p, const struct seal_keyring *ck, const struct seal_keyring *sk,
                      uint8_t cr, uint8_t sr)
{
    session_init(&p->c, SESSION_CLIENT);
    session_init(&p->s, SESSION_SERVER);
    cr_assert(eq(sz, (size_t)session_client_hello(&p->c, ck, rnd(cr), p->ch, sizeof(p->ch)),
                 SESSION_HELLO_BYTES));
    cr_assert(eq(sz,
                 (size_t)session_server_hello(&p->s, sk, rnd(sr), p->ch, sizeof(p->ch), p->sh,
                                              sizeof(p->sh)),
                 SESSION_HELLO_BYTES));
    cr_assert(eq(sz,
                 (size_t)session_client_finish(&p->c, ck, p->sh, sizeof(p->sh), p->confirm,
                                               sizeof(p->confirm)),
                 SESSION_CONFIRM_BYTES));
    cr_assert(eq(int, session_server_confirm(&p->s, p->confirm, sizeof(p->confirm)), 0));
    cr_assert(eq(int, session_state(&p->c), SESSION_ESTABLISHED));
    cr_assert(eq(int, session_state(&p->s), SESSION_ESTABLISHED));
}

static ssize_t seal_str(struct session *s, const char *text, uint8_t *out)
{
    return session_seal(s, (const uint8_t *)text, strlen(text), out, 256);
}

static void opens_to(struct session *s, const uint8_t *in, ssize_t len, const char *want)
{
    uint8_t out[256];
    ssize_t n = session_open(s, in, (size_t)len, out, sizeof(out));
    cr_assert(eq(sz, (size_t)n, strlen(want)));
    cr_assert(eq(int, memcmp(out, want, strlen(want)), 0));
}

Test(session, frames_flow_both_ways)
{
    struct seal_keyring kr;
    keys(&kr, KEY_A "\n");
    struct pair p;
    handshake(&p, &kr, &kr, 1, 2);
    uint8_t f[256];
    for (int i = 0; i < 3; i++) {
        opens_to(&p.s, f, seal_str(&p.c, "a sync request", f), "a sync request");
        opens_to(&p.c, f, seal_str(&p.s, "its reply", f), "its reply");
    }
    /* in place, and empty */
    memcpy(f, "xyz", 3);
    ssize_t n = session_seal(&p.c, f, 3, f, sizeof(f));
    opens_to(&p.s, f, n, "xyz");
    opens_to(&p.s, f, session_seal(&p.c, NULL, 0, f, sizeof(f)), "");
}

/* Known answers: fixed keys and randomness give these bytes (another implementation checks
 * itself against them; a change of layout or key schedule changes them). */
Test(session, known_answers)
{
    struct seal_keyring kr;
    keys(&kr, KEY_A "\n");
    struct pair p;
    handshake(&p, &kr, &kr, 0x11, 0x22);
    char hex[2 * SESSION_HELLO_BYTES + 1];
    sodium_bin2hex(hex, sizeof(hex), p.ch, 31);
    cr_assert(eq(str, hex,
                 "c102012b21a644" /* marker, version, client hello, key id of KEY_A */
                 "111111111111111111111111111111111111111111111111" /* nonce */));
    uint8_t f[64];
    ssize_t n = seal_str(&p.c, "ring", f);
    cr_assert(eq(sz, (size_t)n, 4 + SESSION_OVERHEAD_BYTES));
    char kat[3][2 * 64 + 1];
    sodium_bin2hex(kat[0], sizeof(kat[0]), p.ch + 31, SESSION_HELLO_BYTES - 31);
    sodium_bin2hex(kat[1], sizeof(kat[1]), p.sh + 31, SESSION_HELLO_BYTES - 31);
    sodium_bin2hex(kat[2], sizeof(kat[2]), f, (size_t)n);
    cr_log_info("kat client hello box %s", kat[0]);
    cr_log_info("kat server hello box %s", kat[1]);
    cr_log_info("kat first frame %s", kat[2]);
    cr_assert(eq(str, kat[0], KAT_CLIENT_BOX));
    cr_assert(eq(str, kat[1], KAT_SERVER_BOX));
    cr_assert(eq(str, kat[2], KAT_FIRST_FRAME));
}

Test(session, tampered_frame_fails_and_ends_the_session)
{
    struct seal_keyring kr;
    keys(&kr, KEY_A "\n");
    struct pair p;
    handshake(&p, &kr, &kr, 1, 2);
    uint8_t f[256], out[256];
    ssize_t n = seal_str(&p.c, "POST /once", f);
    f[3] ^= 1;
    cr_assert(eq(int, (int)session_open(&p.s, f, (size_t)n, out, sizeof(out)), RING_EAUTH));
    cr_assert(eq(int, session_state(&p.s), SESSION_FAILED));
    f[3] ^= 1;
    cr_assert(eq(int, (int)session_open(&p.s, f, (size_t)n, out, sizeof(out)), RING_EINVAL));
}

Test(session, replayed_reordered_dropped_or_truncated_frames_fail)
{
    struct seal_keyring kr;
    keys(&kr, KEY_A "\n");
    uint8_t f0[256], f1[256], out[256];
    for (int c = 0; c < 4; c++) {
        struct pair p;
        handshake(&p, &kr, &kr, 1, 2);
        ssize_t n0 = seal_str(&p.c, "first", f0);
        ssize_t n1 = seal_str(&p.c, "second", f1);
        if (c == 0) { /* replay within the stream */
            opens_to(&p.s, f0, n0, "first");
            cr_assert(eq(int, (int)session_open(&p.s, f0, (size_t)n0, out, 256), RING_EAUTH));
        } else if (c == 1) { /* reorder, which is also a drop of the first */
            cr_assert(eq(int, (int)session_open(&p.s, f1, (size_t)n1, out, 256), RING_EAUTH));
        } else if (c == 2) { /* truncated by one byte, and shorter than a tag */
            cr_assert(eq(int, (int)session_open(&p.s, f0, (size_t)n0 - 1, out, 256), RING_EAUTH));
            session_init(&p.s, SESSION_SERVER);
        } else {
            cr_assert(eq(int, (int)session_open(&p.s, f0, 15, out, 256), RING_EPROTO));
        }
        cr_assert(eq(int, session_state(&p.s),
                     c == 0 || c == 1 || c == 3 ? SESSION_FAILED : SESSION_IDLE));
    }
}

/* A connection recorded whole and played again to the server: its client hello still
 * opens (it is genuine), but the server's fresh key makes the recorded confirm and frames
 * open under nothing. */
Test(session, recorded_connection_replayed_is_useless)
{
    struct seal_keyring kr;
    keys(&kr, KEY_A "\n");
    struct pair p;
    handshake(&p, &kr, &kr, 1, 2);
    uint8_t f[256], sh[SESSION_HELLO_BYTES];
    ssize_t n = seal_str(&p.c, "POST /charge", f);
    struct session again;
    session_init(&again, SESSION_SERVER);
    cr_assert(eq(
        sz, (size_t)session_server_hello(&again, &kr, rnd(3), p.ch, sizeof(p.ch), sh, sizeof(sh)),
        SESSION_HELLO_BYTES));
    cr_assert(eq(int, session_server_confirm(&again, p.confirm, sizeof(p.confirm)), RING_EAUTH));
    cr_assert(eq(int, session_state(&again), SESSION_FAILED));
    /* nor does a recorded frame pass for a confirm */
    session_init(&again, SESSION_SERVER);
    session_server_hello(&again, &kr, rnd(3), p.ch, sizeof(p.ch), sh, sizeof(sh));
    cr_assert(eq(int, session_server_confirm(&again, f, (size_t)n), RING_EPROTO));
    /* A recorded server hello does not answer a new client hello. */
    struct session c;
    uint8_t ch[SESSION_HELLO_BYTES], conf[SESSION_CONFIRM_BYTES];
    session_init(&c, SESSION_CLIENT);
    session_client_hello(&c, &kr, rnd(4), ch, sizeof(ch));
    cr_assert(eq(int, (int)session_client_finish(&c, &kr, p.sh, sizeof(p.sh), conf, sizeof(conf)),
                 RING_EAUTH));
}

Test(session, wrong_key_cannot_handshake)
{
    struct seal_keyring a, b;
    keys(&a, KEY_A "\n");
    keys(&b, KEY_B "\n");
    struct session c, s;
    uint8_t ch[SESSION_HELLO_BYTES], sh[SESSION_HELLO_BYTES];
    session_init(&c, SESSION_CLIENT);
    session_init(&s, SESSION_SERVER);
    session_client_hello(&c, &a, rnd(1), ch, sizeof(ch));
    cr_assert(eq(int, (int)session_server_hello(&s, &b, rnd(2), ch, sizeof(ch), sh, sizeof(sh)),
                 RING_EAUTH));
    /* same key id, other key bytes: the tag fails */
    memcpy(b.ids[0], a.ids[0], 4);
    session_init(&s, SESSION_SERVER);
    cr_assert(eq(int, (int)session_server_hello(&s, &b, rnd(2), ch, sizeof(ch), sh, sizeof(sh)),
                 RING_EAUTH));
}

Test(session, both_keys_of_a_rotation_work)
{
    struct seal_keyring old_first, new_first, only_new;
    keys(&old_first, KEY_A "\n" KEY_B "\n");
    keys(&new_first, KEY_B "\n" KEY_A "\n");
    keys(&only_new, KEY_B "\n");
    struct pair p;
    uint8_t f[256];
    /* mid-rotation: one side has made B primary, the other not yet */
    handshake(&p, &old_first, &new_first, 1, 2);
    opens_to(&p.s, f, seal_str(&p.c, "x", f), "x");
    handshake(&p, &new_first, &old_first, 1, 2);
    opens_to(&p.c, f, seal_str(&p.s, "y", f), "y");
    handshake(&p, &only_new, &new_first, 1, 2);
    /* a server that dropped A refuses a client still sealing with it */
    struct session c, s;
    uint8_t ch[SESSION_HELLO_BYTES], sh[SESSION_HELLO_BYTES];
    session_init(&c, SESSION_CLIENT);
    session_init(&s, SESSION_SERVER);
    session_client_hello(&c, &old_first, rnd(1), ch, sizeof(ch));
    cr_assert(eq(int,
                 (int)session_server_hello(&s, &only_new, rnd(2), ch, sizeof(ch), sh, sizeof(sh)),
                 RING_EAUTH));
}

Test(session, malformed_hellos)
{
    struct seal_keyring kr;
    keys(&kr, KEY_A "\n");
    struct pair p;
    handshake(&p, &kr, &kr, 1, 2);
    struct {
        size_t off, len;
        uint8_t set;
        int want;
    } cases[] = {
        { 0, SESSION_HELLO_BYTES, 0x93, RING_EPROTO },                 /* plaintext, not a hello */
        { 1, SESSION_HELLO_BYTES, 1, RING_EVERSION },                  /* a seal envelope */
        { 1, SESSION_HELLO_BYTES, 3, RING_EVERSION },                  /* a later version */
        { 2, SESSION_HELLO_BYTES, SESSION_HELLO_SERVER, RING_EPROTO }, /* a server's hello */
        { 3, SESSION_HELLO_BYTES, 0xee, RING_EAUTH },                  /* unknown key id */
        { 10, SESSION_HELLO_BYTES, 0xee, RING_EAUTH },                 /* nonce changed */
        { 40, SESSION_HELLO_BYTES, 0xee, RING_EAUTH },                 /* box changed */
        { 0, SESSION_HELLO_BYTES - 1, SESSION_MARKER, RING_EPROTO },   /* short */
        { 0, 1, SESSION_MARKER, RING_EPROTO },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t h[SESSION_HELLO_BYTES], sh[SESSION_HELLO_BYTES];
        memcpy(h, p.ch, sizeof(h));
        h[cases[i].off] = cases[i].set;
        struct session s;
        session_init(&s, SESSION_SERVER);
        ssize_t rv = session_server_hello(&s, &kr, rnd(2), h, cases[i].len, sh, sizeof(sh));
        cr_assert(eq(int, (int)rv, cases[i].want), "case %zu", i);
        cr_assert(eq(int, session_state(&s), SESSION_FAILED), "case %zu", i);
    }
    /* wrong state and small buffers are the caller's errors: the session goes on */
    uint8_t small[8];
    struct session s;
    session_init(&s, SESSION_SERVER);
    cr_assert(eq(int, (int)session_server_hello(&s, &kr, rnd(2), p.ch, sizeof(p.ch), small, 8),
                 RING_ENOBUFS));
    cr_assert(eq(int, session_server_confirm(&s, p.confirm, sizeof(p.confirm)), RING_EINVAL));
    cr_assert(eq(int, (int)session_seal(&s, small, 1, small, 8), RING_EINVAL));
    cr_assert(eq(int, session_state(&s), SESSION_IDLE));
}
