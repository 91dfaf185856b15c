/*
 * session: see ring/session.h for the handshake and why it is shaped so. libsodium does the
 * cryptography (crypto_kx, XChaCha20-Poly1305 for the hellos, ChaCha20-Poly1305-IETF for the
 * frames, keyed BLAKE2b for the keys); what is here is the hello layout, the key schedule and
 * the state machine, which fails for good at the first bad byte.
 */
#include <string.h>

#include <sodium.h>

#include "ring/error.h"
#include "ring/session.h"

#define TYPE_OFFSET   2
#define KEY_ID_OFFSET 3
#define NONCE_OFFSET  7
#define BOX_OFFSET    (NONCE_OFFSET + 24)
/* What a hello authenticates besides its box: its first 7 bytes, and for the server's the
 * hash of the client's hello it answers. */
#define HEADER_BYTES NONCE_OFFSET
#define HASH_BYTES   32

_Static_assert(SESSION_HELLO_BYTES == BOX_OFFSET + crypto_kx_PUBLICKEYBYTES +
                                          crypto_aead_xchacha20poly1305_ietf_ABYTES,
               "hello layout");
_Static_assert(SESSION_RANDOM_BYTES ==
                   crypto_kx_SEEDBYTES + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
               "randomness per hello");
_Static_assert(SESSION_OVERHEAD_BYTES == crypto_aead_chacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(SESSION_KEY_BYTES == crypto_aead_chacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(crypto_kx_SESSIONKEYBYTES == 32, "kx key size");

void session_init(struct session *s, int role)
{
    RING_ASSERT(role == SESSION_CLIENT || role == SESSION_SERVER);
    sodium_memzero(s, sizeof(*s));
    s->role = role;
    s->state = SESSION_IDLE;
}

void session_clear(struct session *s)
{
    sodium_memzero(s, sizeof(*s));
    s->state = SESSION_FAILED;
}

int session_state(const struct session *s)
{
    return s->state;
}

static int fail(struct session *s, int rv)
{
    int role = s->role;
    session_clear(s);
    s->role = role;
    return rv;
}

/* Seals the ephemeral public key into hello |out| with key |k| of |kr|; |extra| (may be NULL)
 * is authenticated after the header. */
static void hello_write(const struct session *s, const struct seal_keyring *kr, size_t k, int type,
                        const uint8_t *nonce, const uint8_t *extra, uint8_t *out)
{
    out[0] = SESSION_MARKER;
    out[1] = SESSION_VERSION;
    out[TYPE_OFFSET] = (uint8_t)type;
    memcpy(out + KEY_ID_OFFSET, kr->ids[k], 4);
    memcpy(out + NONCE_OFFSET, nonce, 24);
    uint8_t ad[HEADER_BYTES + HASH_BYTES];
    memcpy(ad, out, HEADER_BYTES);
    size_t ad_len = HEADER_BYTES;
    if (extra != NULL) {
        memcpy(ad + HEADER_BYTES, extra, HASH_BYTES);
        ad_len += HASH_BYTES;
    }
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + BOX_OFFSET, NULL, s->eph_pk, sizeof(s->eph_pk),
                                               ad, ad_len, NULL, out + NONCE_OFFSET, kr->keys[k]);
}

/* Checks hello |in| of |type| and opens its public key into |pk|; the key that opened it in
 * |*k|. Returns 0 or a RING_E*. */
static int hello_read(const struct seal_keyring *kr, int type, const uint8_t *in, size_t len,
                      const uint8_t *extra, uint8_t pk[32], size_t *k)
{
    if (len < 2 || in[0] != SESSION_MARKER) {
        return RING_EPROTO;
    }
    if (in[1] != SESSION_VERSION) {
        return RING_EVERSION;
    }
    if (len != SESSION_HELLO_BYTES || in[TYPE_OFFSET] != type) {
        return RING_EPROTO;
    }
    uint8_t ad[HEADER_BYTES + HASH_BYTES];
    memcpy(ad, in, HEADER_BYTES);
    size_t ad_len = HEADER_BYTES;
    if (extra != NULL) {
        memcpy(ad + HEADER_BYTES, extra, HASH_BYTES);
        ad_len += HASH_BYTES;
    }
    for (size_t i = 0; i < kr->count; i++) {
        if (memcmp(kr->ids[i], in + KEY_ID_OFFSET, 4) != 0) {
            continue;
        }
        unsigned long long n = 0;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(pk, &n, NULL, in + BOX_OFFSET,
                                                       SESSION_HELLO_BYTES - BOX_OFFSET, ad, ad_len,
                                                       in + NONCE_OFFSET, kr->keys[i]) == 0 &&
            n == 32) {
            *k = i;
            return 0;
        }
    }
    return RING_EAUTH;
}

/* One direction's key: keyed BLAKE2b (the cluster key) over a label, the kx key of that
 * direction and the transcript hash, so neither the exchange alone nor the cluster key alone
 * gives it. */
static void derive(const uint8_t cluster_key[SEAL_KEY_BYTES], const char *label,
                   const uint8_t kx[32], const uint8_t th[HASH_BYTES],
                   uint8_t out[SESSION_KEY_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, cluster_key, SEAL_KEY_BYTES, SESSION_KEY_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
    crypto_generichash_update(&st, kx, 32);
    crypto_generichash_update(&st, th, HASH_BYTES);
    crypto_generichash_final(&st, out, SESSION_KEY_BYTES);
}

/* The session keys from the kx keys (c2s: client to server) and both hellos. */
static void schedule(struct session *s, const struct seal_keyring *kr, const uint8_t c2s[32],
                     const uint8_t s2c[32], const uint8_t *server_hello)
{
    uint8_t th[HASH_BYTES];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof(th));
    crypto_generichash_update(&st, s->hello_hash, HASH_BYTES);
    crypto_generichash_update(&st, server_hello, SESSION_HELLO_BYTES);
    crypto_generichash_final(&st, th, sizeof(th));
    const uint8_t *key = kr->keys[s->key_index];
    int client = s->role == SESSION_CLIENT;
    derive(key, "ring session v2 c2s", c2s, th, client ? s->tx_key : s->rx_key);
    derive(key, "ring session v2 s2c", s2c, th, client ? s->rx_key : s->tx_key);
    sodium_memzero(s->eph_sk, sizeof(s->eph_sk));
    s->tx_n = s->rx_n = 0;
}

ssize_t session_client_hello(struct session *s, const struct seal_keyring *kr,
                             const uint8_t random[SESSION_RANDOM_BYTES], uint8_t *out, size_t cap)
{
    if (s->role != SESSION_CLIENT || s->state != SESSION_IDLE || kr->count == 0) {
        return RING_EINVAL;
    }
    if (cap < SESSION_HELLO_BYTES) {
        return RING_ENOBUFS;
    }
    crypto_kx_seed_keypair(s->eph_pk, s->eph_sk, random);
    s->key_index = 0;
    hello_write(s, kr, 0, SESSION_HELLO_CLIENT, random + crypto_kx_SEEDBYTES, NULL, out);
    crypto_generichash(s->hello_hash, HASH_BYTES, out, SESSION_HELLO_BYTES, NULL, 0);
    s->state = SESSION_HELLO_SENT;
    return SESSION_HELLO_BYTES;
}

ssize_t session_server_hello(struct session *s, const struct seal_keyring *kr,
                             const uint8_t random[SESSION_RANDOM_BYTES], const uint8_t *in,
                             size_t len, uint8_t *out, size_t cap)
{
    if (s->role != SESSION_SERVER || s->state != SESSION_IDLE) {
        return RING_EINVAL;
    }
    if (cap < SESSION_HELLO_BYTES) {
        return RING_ENOBUFS;
    }
    uint8_t client_pk[32], rx[32], tx[32];
    int rv = hello_read(kr, SESSION_HELLO_CLIENT, in, len, NULL, client_pk, &s->key_index);
    if (rv != 0) {
        return fail(s, rv);
    }
    crypto_generichash(s->hello_hash, HASH_BYTES, in, SESSION_HELLO_BYTES, NULL, 0);
    crypto_kx_seed_keypair(s->eph_pk, s->eph_sk, random);
    if (crypto_kx_server_session_keys(rx, tx, s->eph_pk, s->eph_sk, client_pk) != 0) {
        return fail(s, RING_EAUTH);
    }
    hello_write(s, kr, s->key_index, SESSION_HELLO_SERVER, random + crypto_kx_SEEDBYTES,
                s->hello_hash, out);
    schedule(s, kr, rx, tx, out);
    sodium_memzero(rx, sizeof(rx));
    sodium_memzero(tx, sizeof(tx));
    s->state = SESSION_CONFIRM_WAIT;
    return SESSION_HELLO_BYTES;
}

ssize_t session_client_finish(struct session *s, const struct seal_keyring *kr, const uint8_t *in,
                              size_t len, uint8_t *out, size_t cap)
{
    if (s->role != SESSION_CLIENT || s->state != SESSION_HELLO_SENT || s->key_index >= kr->count) {
        return RING_EINVAL;
    }
    if (cap < SESSION_CONFIRM_BYTES) {
        return RING_ENOBUFS;
    }
    uint8_t server_pk[32], rx[32], tx[32];
    size_t k = 0;
    int rv = hello_read(kr, SESSION_HELLO_SERVER, in, len, s->hello_hash, server_pk, &k);
    if (rv == 0 && k != s->key_index) {
        rv = RING_EAUTH;
    }
    if (rv == 0 && crypto_kx_client_session_keys(rx, tx, s->eph_pk, s->eph_sk, server_pk) != 0) {
        rv = RING_EAUTH;
    }
    if (rv != 0) {
        return fail(s, rv);
    }
    schedule(s, kr, tx, rx, in);
    sodium_memzero(rx, sizeof(rx));
    sodium_memzero(tx, sizeof(tx));
    s->state = SESSION_ESTABLISHED;
    return session_seal(s, NULL, 0, out, cap);
}

int session_server_confirm(struct session *s, const uint8_t *in, size_t len)
{
    if (s->role != SESSION_SERVER || s->state != SESSION_CONFIRM_WAIT) {
        return RING_EINVAL;
    }
    if (len != SESSION_CONFIRM_BYTES) {
        return fail(s, RING_EPROTO);
    }
    s->state = SESSION_ESTABLISHED;
    uint8_t none[1];
    ssize_t n = session_open(s, in, len, none, sizeof(none));
    return n == 0 ? 0 : (int)n;
}

static void frame_nonce(uint64_t n, uint8_t nonce[12])
{
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++) {
        nonce[4 + i] = (uint8_t)(n >> (8 * i));
    }
}

ssize_t session_seal(struct session *s, const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    if (s->state != SESSION_ESTABLISHED || s->tx_n == UINT64_MAX) {
        return RING_EINVAL;
    }
    if (cap < SESSION_OVERHEAD_BYTES || len > cap - SESSION_OVERHEAD_BYTES) {
        return RING_ENOBUFS;
    }
    uint8_t nonce[12];
    frame_nonce(s->tx_n++, nonce);
    unsigned long long n = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(out, &n, len > 0 ? in : out, len, NULL, 0, NULL,
                                              nonce, s->tx_key);
    return (ssize_t)n;
}

ssize_t session_open(struct session *s, const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    if (s->state != SESSION_ESTABLISHED) {
        return RING_EINVAL;
    }
    if (len < SESSION_OVERHEAD_BYTES) {
        return fail(s, RING_EPROTO);
    }
    if (cap < len - SESSION_OVERHEAD_BYTES) {
        return RING_ENOBUFS;
    }
    uint8_t nonce[12];
    frame_nonce(s->rx_n, nonce);
    unsigned long long n = 0;
    if (s->rx_n == UINT64_MAX || crypto_aead_chacha20poly1305_ietf_decrypt(
                                     out, &n, NULL, in, len, NULL, 0, nonce, s->rx_key) != 0) {
        return fail(s, RING_EAUTH);
    }
    s->rx_n++;
    return (ssize_t)n;
}
