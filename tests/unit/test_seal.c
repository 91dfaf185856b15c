/* Unit tests for the seal module (the encryption envelope). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "ring/error.h"
#include "ring/seal.h"
#include "testmem.h"

/* Keys as a key file holds them (base64 of 32 bytes); KEY_A is the bytes 1..32. */
#define KEY_A "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
#define KEY_B "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
#define KEY_C "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8="

static void setup(void)
{
    cr_assert(ge(int, sodium_init(), 0));
}

TestSuite(seal, .init = setup);

static void parse(struct seal_keyring *kr, const char *text)
{
    char err[128] = "";
    int rv = seal_keyring_parse(kr, text, strlen(text), err, sizeof(err));
    cr_assert(eq(int, rv, 0), "parse: %s", err);
}

/* A sender's clock: 2026-01-01T00:00:00Z in ms. */
#define T0 1767225600000u

static const uint8_t nonce[SEAL_NONCE_BYTES] = { 7, 7, 7, 7, 1, 2, 3 };
static const uint8_t plain[] = "\x93\x01\x01\x80 a gossip datagram";

static ssize_t open_ctx(const struct seal_keyring *kr, int ctx, const uint8_t *in, size_t len,
                        size_t cap, size_t *which)
{
    static uint8_t out[512];
    return seal_decrypt(kr, ctx, in, len, out, cap, which, NULL);
}

Test(seal, round_trip_in_both_contexts)
{
    struct seal_keyring kr;
    parse(&kr, KEY_A "\n");
    for (int ctx = SEAL_DATAGRAM; ctx <= SEAL_STREAM; ctx++) {
        uint8_t sealed[256], opened[256];
        ssize_t n = seal_encrypt(&kr, ctx, T0, nonce, plain, sizeof(plain), sealed, sizeof(sealed));
        cr_assert(eq(sz, (size_t)n, sizeof(plain) + SEAL_OVERHEAD_BYTES));
        cr_assert(eq(int, seal_is_sealed(sealed, (size_t)n), 1));
        size_t which = 99;
        uint64_t sent = 0;
        ssize_t m =
            seal_decrypt(&kr, ctx, sealed, (size_t)n, opened, sizeof(opened), &which, &sent);
        cr_assert(eq(sz, (size_t)m, sizeof(plain)));
        cr_assert(eq(u64, sent, T0));
        cr_assert(eq(int, memcmp(opened, plain, sizeof(plain)), 0));
        cr_assert(eq(sz, which, 0));
        /* The other context does not open it. */
        cr_assert(eq(int, (int)open_ctx(&kr, !ctx, sealed, (size_t)n, 256, NULL), RING_EAUTH));
    }
    cr_assert(eq(int, seal_is_sealed(plain, sizeof(plain)), 0));
}

Test(seal, rotation_every_key_opens_only_the_primary_seals)
{
    struct seal_keyring old_ring, both, new_ring;
    parse(&old_ring, KEY_A "\n");
    parse(&both, "# rotating\n" KEY_B "\n\n" KEY_A "\n");
    parse(&new_ring, KEY_B "\n");
    uint8_t sealed[256];
    ssize_t n = seal_encrypt(&old_ring, SEAL_DATAGRAM, T0, nonce, plain, sizeof(plain), sealed,
                             sizeof(sealed));
    size_t which = 99;
    cr_assert(eq(sz, (size_t)open_ctx(&both, SEAL_DATAGRAM, sealed, (size_t)n, 256, &which),
                 sizeof(plain)));
    cr_assert(eq(sz, which, 1));
    cr_assert(
        eq(int, (int)open_ctx(&new_ring, SEAL_DATAGRAM, sealed, (size_t)n, 256, NULL), RING_EAUTH));
    /* A node on the new primary reaches one that still holds both keys. */
    n = seal_encrypt(&both, SEAL_DATAGRAM, T0, nonce, plain, sizeof(plain), sealed, sizeof(sealed));
    cr_assert(eq(sz, (size_t)open_ctx(&new_ring, SEAL_DATAGRAM, sealed, (size_t)n, 256, NULL),
                 sizeof(plain)));
    seal_keyring_clear(&both);
    cr_assert(eq(sz, both.count, 0));
}

Test(seal, any_changed_byte_fails_with_its_error)
{
    struct seal_keyring kr;
    parse(&kr, KEY_A);
    uint8_t sealed[256];
    ssize_t n =
        seal_encrypt(&kr, SEAL_STREAM, T0, nonce, plain, sizeof(plain), sealed, sizeof(sealed));
    for (ssize_t i = 0; i < n; i++) {
        uint8_t copy[256];
        memcpy(copy, sealed, (size_t)n);
        copy[i] ^= 0x20;
        /* Byte 1 is the version; the time (6..13) is authenticated like the rest. */
        int want = i == 0 ? RING_EPROTO : i == 1 ? RING_EVERSION : RING_EAUTH;
        cr_assert(eq(int, (int)open_ctx(&kr, SEAL_STREAM, copy, (size_t)n, 256, NULL), want),
                  "byte %zd", i);
    }
    for (size_t cut = 0; cut < SEAL_OVERHEAD_BYTES; cut++) {
        cr_assert(eq(int, (int)open_ctx(&kr, SEAL_STREAM, sealed, cut, 256, NULL), RING_EPROTO));
    }
    cr_assert(
        eq(int, (int)open_ctx(&kr, SEAL_STREAM, sealed, (size_t)n - 1, 256, NULL), RING_EAUTH));
}

Test(seal, buffers_too_small_and_empty_keyring)
{
    struct seal_keyring kr, empty = { 0 };
    parse(&kr, KEY_A);
    uint8_t sealed[256];
    cr_assert(eq(int,
                 (int)seal_encrypt(&kr, SEAL_DATAGRAM, T0, nonce, plain, sizeof(plain), sealed,
                                   sizeof(plain) + SEAL_OVERHEAD_BYTES - 1),
                 RING_ENOBUFS));
    cr_assert(eq(int, (int)seal_encrypt(&empty, SEAL_DATAGRAM, T0, nonce, plain, 4, sealed, 256),
                 RING_EINVAL));
    cr_assert(eq(int, (int)seal_encrypt(&kr, 7, T0, nonce, plain, 4, sealed, 256), RING_EINVAL));
    ssize_t n = seal_encrypt(&kr, SEAL_DATAGRAM, T0, nonce, plain, sizeof(plain), sealed, 256);
    cr_assert(eq(int, (int)open_ctx(&kr, SEAL_DATAGRAM, sealed, (size_t)n, sizeof(plain) - 1, NULL),
                 RING_ENOBUFS));
}

/* The envelope as proto/PROTOCOL.md lays it out, opened with raw libsodium calls. */
Test(seal, envelope_matches_the_spec)
{
    struct seal_keyring kr;
    parse(&kr, KEY_A);
    uint8_t sealed[256], opened[256];
    ssize_t n =
        seal_encrypt(&kr, SEAL_STREAM, T0, nonce, plain, sizeof(plain), sealed, sizeof(sealed));
    uint8_t key[32];
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(i + 1);
    }
    uint8_t fp[8];
    crypto_generichash(fp, 8, key, 32, NULL, 0);
    cr_assert(eq(u8, sealed[0], 0xc1));
    cr_assert(eq(u8, sealed[1], 2));
    cr_assert(eq(int, memcmp(sealed + 2, fp, 4), 0));
    /* T0 = 0x0000019b76daa800, big-endian */
    static const uint8_t t0[8] = { 0x00, 0x00, 0x01, 0x9b, 0x76, 0xda, 0xa8, 0x00 };
    cr_assert(eq(int, memcmp(sealed + 6, t0, 8), 0));
    cr_assert(eq(int, memcmp(sealed + 14, nonce, 24), 0));
    uint8_t ad[15];
    memcpy(ad, sealed, 14);
    ad[14] = SEAL_STREAM;
    unsigned long long len = 0;
    int rv = crypto_aead_xchacha20poly1305_ietf_decrypt(
        opened, &len, NULL, sealed + 38, (unsigned long long)n - 38, ad, 15, sealed + 14, key);
    cr_assert(eq(int, rv, 0));
    cr_assert(eq(u64, (uint64_t)len, sizeof(plain)));
    char hex[SEAL_FINGERPRINT_LEN], want[SEAL_FINGERPRINT_LEN];
    seal_fingerprint(&kr, 0, hex);
    sodium_bin2hex(want, sizeof(want), fp, 8);
    ASSERT_STR_EQ(hex, want);
}

Test(seal, key_files_that_are_refused)
{
    struct {
        const char *text;
        int rv;
        const char *msg;
    } cases[] = {
        { "", RING_EINVAL, "no key" },
        { "# only a comment\n\n", RING_EINVAL, "no key" },
        { KEY_A "\nnot base64!\n", RING_EINVAL, "line 2: not a base64" },
        { "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw==\n", RING_EINVAL, "line 1: not a base64" },
        { KEY_A "\n" KEY_B "\n" KEY_A "\n", RING_EINVAL, "line 3: the same key twice" },
        { KEY_A "\n" KEY_B "\n" KEY_C "\n"
                "YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8=\n"
                "gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp8=\n"
                "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8=\n"
                "wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t8=\n"
                "4OHi4+Tl5ufo6err7O3u7/Dx8vP09fb3+Pn6+/z9/v8=\n"
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
          RING_E2BIG, "line 9: more than 8" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct seal_keyring kr;
        char err[128] = "";
        int rv = seal_keyring_parse(&kr, cases[i].text, strlen(cases[i].text), err, sizeof(err));
        cr_assert(eq(int, rv, cases[i].rv), "case %zu", i);
        cr_assert(ne(ptr, strstr(err, cases[i].msg), NULL), "case %zu: %s", i, err);
        cr_assert(eq(sz, kr.count, 0));
    }
    struct seal_keyring kr;
    parse(&kr, "  " KEY_A "  \r\n\t# comment\n" KEY_B);
    cr_assert(eq(sz, kr.count, 2));
}

/* The known-answer vector of proto/vectors/seal_v2.txt: the same inputs seal to its bytes,
 * and its bytes open to the same plaintext and time. */
Test(seal, known_answer_vector)
{
    FILE *f = fopen(RING_SOURCE_DIR "/proto/vectors/seal_v2.txt", "r");
    cr_assert(ne(ptr, f, NULL));
    char line[1024], want_hex[1024] = "";
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "sealed ", 7) == 0) {
            snprintf(want_hex, sizeof(want_hex), "%s", line + 7);
            want_hex[strcspn(want_hex, "\n")] = '\0';
        }
    }
    fclose(f);
    struct seal_keyring kr;
    parse(&kr, KEY_A);
    uint8_t sealed[256], opened[256];
    ssize_t n =
        seal_encrypt(&kr, SEAL_DATAGRAM, T0, nonce, plain, sizeof(plain), sealed, sizeof(sealed));
    char got_hex[600];
    sodium_bin2hex(got_hex, sizeof(got_hex), sealed, (size_t)n);
    ASSERT_STR_EQ(got_hex, want_hex);
    uint64_t sent = 0;
    cr_assert(eq(sz,
                 (size_t)seal_decrypt(&kr, SEAL_DATAGRAM, sealed, (size_t)n, opened, sizeof(opened),
                                      NULL, &sent),
                 sizeof(plain)));
    cr_assert(eq(u64, sent, T0));
}

static void key_bytes(uint8_t key[SEAL_KEY_BYTES], uint8_t first)
{
    for (int i = 0; i < SEAL_KEY_BYTES; i++) {
        key[i] = (uint8_t)(first + i);
    }
}

/* The runtime keyring: install, use, remove, find by key or fingerprint, never the primary. */
Test(seal, runtime_keyring_install_use_remove)
{
    struct seal_keyring kr;
    parse(&kr, KEY_A);
    uint8_t a[SEAL_KEY_BYTES], b[SEAL_KEY_BYTES];
    key_bytes(a, 1); /* KEY_A */
    key_bytes(b, 0x20);
    cr_assert(eq(int, seal_keyring_install(&kr, a), RING_EEXIST));
    cr_assert(eq(int, seal_keyring_install(&kr, b), 0));
    cr_assert(eq(sz, kr.count, 2));
    char fp_b[SEAL_FINGERPRINT_LEN];
    seal_fingerprint(&kr, 1, fp_b);
    cr_assert(eq(int, seal_keyring_find(&kr, b, sizeof(b)), 1));
    cr_assert(eq(int, seal_keyring_find(&kr, fp_b, 16), 1));
    cr_assert(eq(int, seal_keyring_find(&kr, "0000000000000000", 16), RING_ENOENT));
    cr_assert(eq(int, seal_keyring_remove(&kr, 0), RING_EINVAL), "the primary stays");
    /* A sealed message under A still opens after B becomes primary; new ones are under B. */
    uint8_t sealed[256], opened[256];
    ssize_t n =
        seal_encrypt(&kr, SEAL_DATAGRAM, T0, nonce, plain, sizeof(plain), sealed, sizeof(sealed));
    cr_assert(eq(int, seal_keyring_use(&kr, 1), 0));
    cr_assert(eq(int, seal_keyring_find(&kr, b, sizeof(b)), 0));
    cr_assert(eq(int, seal_keyring_find(&kr, a, sizeof(a)), 1));
    size_t which = 9;
    cr_assert(eq(sz,
                 (size_t)seal_decrypt(&kr, SEAL_DATAGRAM, sealed, (size_t)n, opened, sizeof(opened),
                                      &which, NULL),
                 sizeof(plain)));
    cr_assert(eq(sz, which, 1));
    cr_assert(eq(int, seal_keyring_remove(&kr, 1), 0));
    cr_assert(eq(sz, kr.count, 1));
    cr_assert(eq(int,
                 (int)seal_decrypt(&kr, SEAL_DATAGRAM, sealed, (size_t)n, opened, sizeof(opened),
                                   NULL, NULL),
                 RING_EAUTH),
              "the removed key no longer opens");
    cr_assert(eq(int, seal_keyring_use(&kr, 3), RING_ENOENT));
    cr_assert(eq(int, seal_keyring_remove(&kr, 3), RING_ENOENT));
    for (uint8_t k = 0; kr.count < SEAL_KEYS_MAX; k++) {
        key_bytes(b, (uint8_t)(0x40 + k));
        cr_assert(eq(int, seal_keyring_install(&kr, b), 0));
    }
    key_bytes(b, 0xf0);
    cr_assert(eq(int, seal_keyring_install(&kr, b), RING_E2BIG));
}
