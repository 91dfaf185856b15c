/*
 * seal: see ring/seal.h for the envelope and why it is shaped so. This file is small on
 * purpose: libsodium does the cryptography; what is here is the framing around it, the
 * keyring, and the key file format.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "ring/error.h"
#include "ring/seal.h"

#define KEY_ID_OFFSET 2
#define NONCE_OFFSET  SEAL_NONCE_OFFSET
/* A base64 line of a 32-byte key is 44 characters; leave room for stray whitespace. */
#define KEY_LINE_MAX 128

_Static_assert(SEAL_HEADER_BYTES == NONCE_OFFSET + SEAL_NONCE_BYTES, "header layout");
_Static_assert(SEAL_SENT_OFFSET == KEY_ID_OFFSET + 4 && NONCE_OFFSET == SEAL_SENT_OFFSET + 8,
               "header layout");
_Static_assert(SEAL_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(SEAL_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce size");
_Static_assert(SEAL_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");

static void fingerprint_bytes(const uint8_t key[SEAL_KEY_BYTES], uint8_t out[8])
{
    crypto_generichash(out, 8, key, SEAL_KEY_BYTES, NULL, 0);
}

void seal_fingerprint(const struct seal_keyring *kr, size_t i, char out[SEAL_FINGERPRINT_LEN])
{
    RING_ASSERT(i < kr->count);
    uint8_t fp[8];
    fingerprint_bytes(kr->keys[i], fp);
    sodium_bin2hex(out, SEAL_FINGERPRINT_LEN, fp, sizeof(fp));
}

void seal_keyring_clear(struct seal_keyring *kr)
{
    sodium_memzero(kr, sizeof(*kr));
}

static void set_error(char *err, size_t errlen, const char *fmt, size_t line)
{
    if (errlen > 0) {
        snprintf(err, errlen, fmt, line);
    }
}

/* Adds one base64 key line to |kr|. */
static int add_key(struct seal_keyring *kr, const char *line, size_t len, size_t lineno, char *err,
                   size_t errlen)
{
    uint8_t key[SEAL_KEY_BYTES + 1];
    size_t key_len = 0;
    const char *end = NULL;
    int rv = sodium_base642bin(key, sizeof(key), line, len, " \t\r", &key_len, &end,
                               sodium_base64_VARIANT_ORIGINAL);
    if (rv != 0 || end != line + len || key_len != SEAL_KEY_BYTES) {
        sodium_memzero(key, sizeof(key));
        set_error(err, errlen, "line %zu: not a base64-encoded 32-byte key", lineno);
        return RING_EINVAL;
    }
    if (kr->count == SEAL_KEYS_MAX) {
        sodium_memzero(key, sizeof(key));
        set_error(err, errlen, "line %zu: more than 8 keys", lineno);
        return RING_E2BIG;
    }
    for (size_t i = 0; i < kr->count; i++) {
        if (sodium_memcmp(kr->keys[i], key, SEAL_KEY_BYTES) == 0) {
            sodium_memzero(key, sizeof(key));
            set_error(err, errlen, "line %zu: the same key twice", lineno);
            return RING_EINVAL;
        }
    }
    uint8_t fp[8];
    fingerprint_bytes(key, fp);
    memcpy(kr->keys[kr->count], key, SEAL_KEY_BYTES);
    memcpy(kr->ids[kr->count], fp, 4);
    kr->count++;
    sodium_memzero(key, sizeof(key));
    return 0;
}

static int is_blank_or_comment(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) {
        i++;
    }
    return i == len || line[i] == '#';
}

int seal_keyring_parse(struct seal_keyring *kr, const char *text, size_t len, char *err,
                       size_t errlen)
{
    memset(kr, 0, sizeof(*kr));
    size_t lineno = 0;
    for (size_t start = 0; start < len;) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl != NULL ? (size_t)(nl - text) : len;
        lineno++;
        size_t line_len = end - start;
        if (!is_blank_or_comment(text + start, line_len)) {
            int rv = line_len > KEY_LINE_MAX ? RING_EINVAL : 0;
            if (rv != 0) {
                set_error(err, errlen, "line %zu: too long for a key", lineno);
            } else {
                rv = add_key(kr, text + start, line_len, lineno, err, errlen);
            }
            if (rv != 0) {
                seal_keyring_clear(kr);
                return rv;
            }
        }
        start = end + 1;
    }
    if (kr->count == 0) {
        set_error(err, errlen, "no key in %zu lines", lineno);
        return RING_EINVAL;
    }
    return 0;
}

int seal_keyring_find(const struct seal_keyring *kr, const void *key, size_t len)
{
    for (size_t i = 0; i < kr->count; i++) {
        char fp[SEAL_FINGERPRINT_LEN];
        seal_fingerprint(kr, i, fp);
        if ((len == SEAL_KEY_BYTES && sodium_memcmp(kr->keys[i], key, SEAL_KEY_BYTES) == 0) ||
            (len == SEAL_FINGERPRINT_LEN - 1 && memcmp(fp, key, len) == 0)) {
            return (int)i;
        }
    }
    return RING_ENOENT;
}

int seal_keyring_install(struct seal_keyring *kr, const uint8_t key[SEAL_KEY_BYTES])
{
    if (seal_keyring_find(kr, key, SEAL_KEY_BYTES) >= 0) {
        return RING_EEXIST;
    }
    if (kr->count == SEAL_KEYS_MAX) {
        return RING_E2BIG;
    }
    uint8_t fp[8];
    fingerprint_bytes(key, fp);
    memcpy(kr->keys[kr->count], key, SEAL_KEY_BYTES);
    memcpy(kr->ids[kr->count], fp, 4);
    kr->count++;
    return 0;
}

/* Swaps keys |i| and |j| with their ids. */
static void swap_keys(struct seal_keyring *kr, size_t i, size_t j)
{
    uint8_t key[SEAL_KEY_BYTES], id[4];
    memcpy(key, kr->keys[i], SEAL_KEY_BYTES);
    memcpy(id, kr->ids[i], 4);
    memcpy(kr->keys[i], kr->keys[j], SEAL_KEY_BYTES);
    memcpy(kr->ids[i], kr->ids[j], 4);
    memcpy(kr->keys[j], key, SEAL_KEY_BYTES);
    memcpy(kr->ids[j], id, 4);
    sodium_memzero(key, sizeof(key));
}

int seal_keyring_use(struct seal_keyring *kr, size_t i)
{
    if (i >= kr->count) {
        return RING_ENOENT;
    }
    /* Rotate 0..i right by one: key i first, the old primary second, the rest in order. */
    for (size_t k = i; k > 0; k--) {
        swap_keys(kr, k, k - 1);
    }
    return 0;
}

int seal_keyring_remove(struct seal_keyring *kr, size_t i)
{
    if (i >= kr->count) {
        return RING_ENOENT;
    }
    if (i == 0) {
        return RING_EINVAL;
    }
    for (size_t k = i; k + 1 < kr->count; k++) {
        swap_keys(kr, k, k + 1);
    }
    kr->count--;
    sodium_memzero(kr->keys[kr->count], SEAL_KEY_BYTES);
    sodium_memzero(kr->ids[kr->count], 4);
    return 0;
}

int seal_is_sealed(const uint8_t *buf, size_t len)
{
    return len > 0 && buf[0] == SEAL_MARKER;
}

/* Additional data: the header up to the nonce (marker, version, key id, time), and the
 * context. */
static void make_ad(const uint8_t *header, int context, uint8_t ad[NONCE_OFFSET + 1])
{
    memcpy(ad, header, NONCE_OFFSET);
    ad[NONCE_OFFSET] = (uint8_t)context;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

ssize_t seal_encrypt(const struct seal_keyring *kr, int context, uint64_t sent_ms,
                     const uint8_t nonce[SEAL_NONCE_BYTES], const uint8_t *in, size_t len,
                     uint8_t *out, size_t cap)
{
    if (kr->count == 0 || (context != SEAL_DATAGRAM && context != SEAL_STREAM)) {
        return RING_EINVAL;
    }
    if (cap < SEAL_OVERHEAD_BYTES || cap - SEAL_OVERHEAD_BYTES < len) {
        return RING_ENOBUFS;
    }
    out[0] = SEAL_MARKER;
    out[1] = SEAL_VERSION;
    memcpy(out + KEY_ID_OFFSET, kr->ids[0], 4);
    put_be64(out + SEAL_SENT_OFFSET, sent_ms);
    memcpy(out + NONCE_OFFSET, nonce, SEAL_NONCE_BYTES);
    uint8_t ad[NONCE_OFFSET + 1];
    make_ad(out, context, ad);
    unsigned long long sealed_len = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + SEAL_HEADER_BYTES, &sealed_len, in, len, ad,
                                               sizeof(ad), NULL, nonce, kr->keys[0]);
    RING_ASSERT(sealed_len == len + SEAL_TAG_BYTES);
    return (ssize_t)(SEAL_HEADER_BYTES + sealed_len);
}

static ssize_t open_with(const uint8_t key[SEAL_KEY_BYTES], int context, const uint8_t *in,
                         size_t len, uint8_t *out)
{
    uint8_t ad[NONCE_OFFSET + 1];
    make_ad(in, context, ad);
    unsigned long long plain_len = 0;
    int rv = crypto_aead_xchacha20poly1305_ietf_decrypt(
        out, &plain_len, NULL, in + SEAL_HEADER_BYTES, len - SEAL_HEADER_BYTES, ad, sizeof(ad),
        in + NONCE_OFFSET, key);
    return rv == 0 ? (ssize_t)plain_len : RING_EAUTH;
}

ssize_t seal_decrypt(const struct seal_keyring *kr, int context, const uint8_t *in, size_t len,
                     uint8_t *out, size_t cap, size_t *key_index, uint64_t *sent_ms)
{
    if (len < SEAL_OVERHEAD_BYTES || in[0] != SEAL_MARKER) {
        return RING_EPROTO;
    }
    if (in[1] != SEAL_VERSION) {
        return RING_EVERSION;
    }
    if (cap < len - SEAL_OVERHEAD_BYTES) {
        return RING_ENOBUFS;
    }
    for (size_t i = 0; i < kr->count; i++) {
        if (memcmp(kr->ids[i], in + KEY_ID_OFFSET, 4) != 0) {
            continue;
        }
        ssize_t n = open_with(kr->keys[i], context, in, len, out);
        if (n >= 0) {
            if (key_index != NULL) {
                *key_index = i;
            }
            if (sent_ms != NULL) {
                *sent_ms = get_be64(in + SEAL_SENT_OFFSET);
            }
            return n;
        }
    }
    return RING_EAUTH;
}
