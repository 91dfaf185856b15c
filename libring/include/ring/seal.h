/*
 * seal: the encryption envelope of gossip and peer traffic (proto/PROTOCOL.md, section 10).
 *
 * With a cluster keyring, every datagram and every stream frame travels sealed with
 * XChaCha20-Poly1305 (libsodium's IETF AEAD) under the primary key:
 *
 *     0xc1 | version 2 | key id (4) | sent at (8) | nonce (24) | ciphertext | tag (16)
 *
 * The key id is the first four bytes of the key's BLAKE2b fingerprint, so a receiver picks
 * the right key of its keyring at once; every key of the ring opens, only the primary
 * seals, which is how keys rotate without downtime (add the new key everywhere, make it
 * primary everywhere, remove the old one). The header and a context byte (datagram or
 * stream) are authenticated as additional data, so a datagram cannot be replayed as a
 * stream frame. Nonces are 24 random bytes from the caller (ringd draws them from
 * libsodium's randombytes): with XChaCha20's nonce size, random nonces never repeat in
 * practice. "Sent at" is the sender's wall clock in Unix milliseconds (big-endian), which
 * with the nonce lets a receiver refuse replayed datagrams (ring/replay.h); version 1 had
 * neither and is refused.
 *
 * No I/O here: the caller reads the key file and supplies the nonces. libsodium must be
 * initialized (sodium_init()) before any call.
 */
#ifndef RING_SEAL_H
#define RING_SEAL_H

#include <sys/types.h>

#include "ring/base.h"

#define SEAL_KEY_BYTES 32
/* Keys held at once: a primary and a few being rotated in or out. */
#define SEAL_KEYS_MAX     8
#define SEAL_NONCE_BYTES  24
#define SEAL_SENT_OFFSET  6
#define SEAL_NONCE_OFFSET 14
#define SEAL_HEADER_BYTES (SEAL_NONCE_OFFSET + SEAL_NONCE_BYTES)
#define SEAL_TAG_BYTES    16
/* A sealed message is this much longer than its plaintext: ringd lowers swim's datagram
 * budget by it so sealed datagrams stay under 1,400 bytes. */
#define SEAL_OVERHEAD_BYTES (SEAL_HEADER_BYTES + SEAL_TAG_BYTES)
#define SEAL_MARKER         0xc1
#define SEAL_VERSION        2
/* A fingerprint as text: 16 hex digits and a NUL. */
#define SEAL_FINGERPRINT_LEN 17

/* What the sealed bytes are; authenticated, so one cannot pass for the other. */
enum seal_context {
    SEAL_DATAGRAM = 0,
    SEAL_STREAM = 1,
};

/* The keys, primary first. Plain data the caller owns; seal_keyring_clear() wipes it. */
struct seal_keyring {
    size_t count;
    uint8_t keys[SEAL_KEYS_MAX][SEAL_KEY_BYTES];
    uint8_t ids[SEAL_KEYS_MAX][4];
};

/*
 * Parses a key file's text (|len| bytes): one base64 key of 32 bytes per line, the first
 * being the primary; blank lines and lines starting with '#' are skipped. On error writes
 * one line for a person into |err| (|errlen| bytes, may be 0) and leaves |kr| empty.
 * Returns 0, or RING_EINVAL (a line that is not a base64 32-byte key, a repeated key, or no
 * key at all) or RING_E2BIG (more than SEAL_KEYS_MAX keys).
 */
RING_EXTERN int seal_keyring_parse(struct seal_keyring *kr, const char *text, size_t len, char *err,
                                   size_t errlen);

/* Wipes every key from |kr| (sodium_memzero) and empties it. */
RING_EXTERN void seal_keyring_clear(struct seal_keyring *kr);

/* Writes the fingerprint of key |i| of |kr| (the first 8 bytes of its BLAKE2b hash, hex)
 * into |out|. Safe to log and show: it reveals nothing of the key. */
RING_EXTERN void seal_fingerprint(const struct seal_keyring *kr, size_t i,
                                  char out[SEAL_FINGERPRINT_LEN]);

/*
 * The runtime keyring (`ringctl keys`, as Serf's): keys installed, made primary and removed
 * while ringd runs. Each is pure and keeps the ring's invariants: no key twice, at most
 * SEAL_KEYS_MAX, the primary never removed.
 *
 * seal_keyring_find() returns the index of the key whose 32 bytes are |key| (|len| 32) or
 * whose fingerprint is |key| (|len| 16, hex), or RING_ENOENT.
 * seal_keyring_install() appends |key| as a secondary: 0, RING_EEXIST, RING_E2BIG.
 * seal_keyring_use() makes key |i| the primary (the old one becomes the first secondary):
 * 0 or RING_ENOENT.
 * seal_keyring_remove() drops key |i|, wiping it: 0, RING_ENOENT, or RING_EINVAL for the
 * primary (make another key primary first).
 */
RING_EXTERN int seal_keyring_find(const struct seal_keyring *kr, const void *key, size_t len);
RING_EXTERN int seal_keyring_install(struct seal_keyring *kr, const uint8_t key[SEAL_KEY_BYTES]);
RING_EXTERN int seal_keyring_use(struct seal_keyring *kr, size_t i);
RING_EXTERN int seal_keyring_remove(struct seal_keyring *kr, size_t i);

/* 1 if |buf| starts like a sealed message (its first byte is SEAL_MARKER), else 0. */
RING_EXTERN int seal_is_sealed(const uint8_t *buf, size_t len);

/*
 * Seals |len| bytes of |in| for |context| under the primary key, stamped |sent_ms| (the
 * sender's Unix time in ms) with |nonce|, into |out| (|cap| bytes, at least len +
 * SEAL_OVERHEAD_BYTES). |in| and |out| must not overlap. Returns the sealed length, or
 * RING_EINVAL (empty keyring, bad context), RING_ENOBUFS.
 */
RING_EXTERN ssize_t seal_encrypt(const struct seal_keyring *kr, int context, uint64_t sent_ms,
                                 const uint8_t nonce[SEAL_NONCE_BYTES], const uint8_t *in,
                                 size_t len, uint8_t *out, size_t cap);

/*
 * Opens the sealed message |in| (|len| bytes) for |context| into |out| (|cap| bytes, at
 * least len - SEAL_OVERHEAD_BYTES) and stores in |*key_index| which key of the ring opened
 * it and in |*sent_ms| its authenticated time (either may be NULL; its nonce is at
 * in + SEAL_NONCE_OFFSET). Returns the plaintext length, or:
 *   RING_EPROTO    not a sealed message (wrong marker), or too short
 *   RING_EVERSION  a sealed message of another version
 *   RING_EAUTH     no key of the ring has its key id, or the tag does not verify (wrong
 *                  key, tampered bytes, or the other context)
 *   RING_ENOBUFS   |cap| too small
 */
RING_EXTERN ssize_t seal_decrypt(const struct seal_keyring *kr, int context, const uint8_t *in,
                                 size_t len, uint8_t *out, size_t cap, size_t *key_index,
                                 uint64_t *sent_ms);

#endif
