/*
 * session: authenticated sessions for the TCP streams of the gossip port (proto/PROTOCOL.md,
 * section 10.1). A sealed frame on its own (ring/seal.h) can be recorded and played again to
 * the same port, and a receiver learns whether a frame is genuine only after reading all of
 * it. A session fixes both for a connection:
 *
 *     client                                             server
 *     hello: ephemeral X25519 key, sealed, cluster key  ->
 *                           <-  hello: ephemeral key, sealed, bound to the client's hello
 *     confirm: an empty frame under the session key    ->
 *     frames, each direction under its own key, nonce = the frame's number
 *
 * Each hello is 79 bytes, so a server reads that much and no more from a stranger. Both
 * hellos are XChaCha20-Poly1305 under a key of the cluster's keyring (the key id picks it; the
 * server answers with the key the client used, so both keys of a rotation work), which only
 * key holders can make or read: a man in the middle cannot complete the handshake. The session
 * keys come from the ephemeral exchange (crypto_kx) AND the cluster key (keyed BLAKE2b over
 * the kx keys and the hash of both hellos), so a recorded connection played again meets a fresh
 * server key and its frames open under nothing. The client's confirm proves to the server that
 * the client holds the ephemeral secret, not just a recorded hello: only then does the server
 * read a frame of any size.
 *
 * After the handshake a frame is ChaCha20-Poly1305-IETF under the direction's key with the
 * frame's number (0, 1, 2, ...) as nonce, as Noise's transport: a frame dropped, repeated or
 * moved fails to open, and the first failure ends the session. Not crypto_secretstream: its
 * push side draws a random header inside libsodium, which this sans-I/O library may not do, and
 * its rekeying and final tag buy nothing here (streams are short and end with their own
 * message: a sync reply, a forwarding FIN).
 *
 * Pure: the caller supplies the randomness (SESSION_RANDOM_BYTES per hello) and the keyring.
 * libsodium must be initialized (sodium_init()) before any call.
 */
#ifndef RING_SESSION_H
#define RING_SESSION_H

#include <sys/types.h>

#include "ring/base.h"
#include "ring/seal.h"

/* The first two bytes of a hello: the seal envelope's marker (a byte msgpack never uses) and a
 * version of its own, so a hello is told from a sealed frame and from plaintext at once. */
#define SESSION_MARKER       SEAL_MARKER
#define SESSION_VERSION      2
#define SESSION_HELLO_CLIENT 1
#define SESSION_HELLO_SERVER 2
/* marker, version, type, key id (4), nonce (24), public key (32) sealed (+16) */
#define SESSION_HELLO_BYTES (3 + 4 + 24 + 32 + 16)
/* What a frame grows by under the session: the AEAD tag. */
#define SESSION_OVERHEAD_BYTES 16
/* The client's confirm: an empty frame under the session. */
#define SESSION_CONFIRM_BYTES SESSION_OVERHEAD_BYTES
/* Randomness per hello: the ephemeral key's seed (32) and the hello's nonce (24). */
#define SESSION_RANDOM_BYTES (32 + 24)
#define SESSION_KEY_BYTES    32

enum session_role {
    SESSION_CLIENT = 1,
    SESSION_SERVER = 2,
};

enum session_state {
    SESSION_IDLE = 0,     /* nothing sent or read */
    SESSION_HELLO_SENT,   /* client: waiting for the server's hello */
    SESSION_CONFIRM_WAIT, /* server: answered, waiting for the client's confirm */
    SESSION_ESTABLISHED,  /* frames flow both ways */
    SESSION_FAILED,       /* a check failed: every further call fails */
};

/* One connection's session. Plain data the caller owns (embed it, no allocation); its fields
 * are session.c's. session_clear() wipes it. */
struct session {
    int role;
    int state;
    size_t key_index; /* the keyring's key the hellos are sealed with */
    uint8_t eph_sk[32], eph_pk[32];
    uint8_t hello_hash[32]; /* BLAKE2b-256 of the client's hello */
    uint8_t tx_key[SESSION_KEY_BYTES], rx_key[SESSION_KEY_BYTES];
    uint64_t tx_n, rx_n; /* the next frame's number each way */
};

/* Starts |s| for |role| (SESSION_CLIENT or SESSION_SERVER). */
RING_EXTERN void session_init(struct session *s, int role);
/* Wipes every key in |s| (sodium_memzero); |s| is FAILED afterwards. */
RING_EXTERN void session_clear(struct session *s);
RING_EXTERN int session_state(const struct session *s);

/*
 * Client: writes its hello (SESSION_HELLO_BYTES) into |out| (|cap| bytes), sealed with |kr|'s
 * primary key, from |random|. Returns SESSION_HELLO_BYTES, or RING_EINVAL (not an idle client,
 * empty keyring), RING_ENOBUFS.
 */
RING_EXTERN ssize_t session_client_hello(struct session *s, const struct seal_keyring *kr,
                                         const uint8_t random[SESSION_RANDOM_BYTES], uint8_t *out,
                                         size_t cap);

/*
 * Server: reads the client's hello |in| (|len| bytes) and writes its own into |out| (|cap|
 * bytes) from |random|; then waits for the confirm. Returns SESSION_HELLO_BYTES, or (|s| FAILED
 * on every error but RING_EINVAL and RING_ENOBUFS):
 *   RING_EPROTO    not a client hello (wrong marker, type or length)
 *   RING_EVERSION  a hello of another version
 *   RING_EAUTH     no key of |kr| has its key id, or it does not open (wrong key, tampered),
 *                  or its key is not a valid X25519 public key
 *   RING_EINVAL    not an idle server; RING_ENOBUFS |cap| too small
 */
RING_EXTERN ssize_t session_server_hello(struct session *s, const struct seal_keyring *kr,
                                         const uint8_t random[SESSION_RANDOM_BYTES],
                                         const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/*
 * Client: reads the server's hello |in| and writes the confirm (SESSION_CONFIRM_BYTES) into
 * |out|; the session is then established. Returns SESSION_CONFIRM_BYTES, or the errors of
 * session_server_hello() (RING_EAUTH also when the hello answers another client hello, or is
 * sealed with another key than the client's).
 */
RING_EXTERN ssize_t session_client_finish(struct session *s, const struct seal_keyring *kr,
                                          const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/*
 * Server: reads the client's confirm |in|; the session is then established. Returns 0, or
 * RING_EPROTO (not SESSION_CONFIRM_BYTES long), RING_EAUTH (does not open: a replayed hello's
 * sender has no session key), RING_EINVAL (not waiting for it). |s| is FAILED on every error
 * but RING_EINVAL.
 */
RING_EXTERN int session_server_confirm(struct session *s, const uint8_t *in, size_t len);

/*
 * Seals the next frame's |len| bytes of |in| into |out| (|cap| bytes, at least len +
 * SESSION_OVERHEAD_BYTES; may be |in|). Returns the sealed length, or RING_EINVAL (not
 * established), RING_ENOBUFS.
 */
RING_EXTERN ssize_t session_seal(struct session *s, const uint8_t *in, size_t len, uint8_t *out,
                                 size_t cap);

/*
 * Opens the next frame |in| (|len| bytes) into |out| (|cap| bytes, at least len -
 * SESSION_OVERHEAD_BYTES; may be |in|). Returns the plaintext length, or RING_EPROTO (shorter
 * than a tag), RING_EAUTH (tampered, replayed, reordered, dropped before, or another session's;
 * |s| is FAILED), RING_EINVAL (not established), RING_ENOBUFS.
 */
RING_EXTERN ssize_t session_open(struct session *s, const uint8_t *in, size_t len, uint8_t *out,
                                 size_t cap);

#endif
