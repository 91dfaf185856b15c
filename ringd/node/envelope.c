/*
 * envelope: gossip encryption on the wire (--keyfile). Every datagram and stream frame goes
 * out sealed with the keyring's primary key and comes in opened by whichever key of the ring
 * it names (libring's seal module; proto/PROTOCOL.md, section 10). This file only reads the
 * key file, draws nonces, and drops and counts what must not pass:
 *
 *   - with keys: a packet that fails to open (wrong key, tampered) and any plaintext packet;
 *   - without keys: any sealed packet.
 *
 * A node on the wrong side of that line never learns or changes the membership. Each kind of
 * refusal is logged, at most once per ENVELOPE_LOG_INTERVAL_MS, so a misconfigured peer shows
 * up in the logs without flooding them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "ring/error.h"

/* A key file is a few lines; anything larger is not one. */
#define KEYFILE_BYTES_MAX        4096
#define ENVELOPE_LOG_INTERVAL_MS 10000

static int read_small_file(const char *path, char *buf, size_t cap, size_t *len, char *err,
                           size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    *len = fread(buf, 1, cap, f);
    int bad = ferror(f) || !feof(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "unreadable or larger than %d bytes", KEYFILE_BYTES_MAX);
        return -1;
    }
    return 0;
}

int ringd_keys_load(struct ringd *d)
{
    if (d->cfg.keyfile[0] == '\0') {
        return 0;
    }
    if (sodium_init() < 0) {
        ringd_log(&d->log, RINGD_LOG_ERROR, "keys", "error", "libsodium failed to start", NULL);
        return -1;
    }
    char text[KEYFILE_BYTES_MAX + 1], err[160];
    size_t len = 0;
    struct seal_keyring kr;
    int rv = read_small_file(d->cfg.keyfile, text, sizeof(text), &len, err, sizeof(err));
    if (rv == 0 && seal_keyring_parse(&kr, text, len, err, sizeof(err)) != 0) {
        rv = -1;
    }
    sodium_memzero(text, sizeof(text));
    if (rv != 0) {
        /* On a reload the old keys stay: better the old ring than none. */
        ringd_log(&d->log, RINGD_LOG_ERROR, "keys", "file", d->cfg.keyfile, "error", err, NULL);
        return -1;
    }
    seal_keyring_clear(&d->keys);
    d->keys = kr;
    seal_keyring_clear(&kr);
    char fp[SEAL_FINGERPRINT_LEN], count[16];
    seal_fingerprint(&d->keys, 0, fp);
    snprintf(count, sizeof(count), "%zu", d->keys.count);
    ringd_log(&d->log, RINGD_LOG_INFO, "keys", "file", d->cfg.keyfile, "keys", count, "primary", fp,
              NULL);
    return 0;
}

int ringd_encrypting(const struct ringd *d)
{
    return d->keys.count > 0;
}

ssize_t ringd_seal(struct ringd *d, int context, const uint8_t *in, size_t len, uint8_t *out,
                   size_t cap)
{
    if (!ringd_encrypting(d)) {
        if (cap < len) {
            return RING_ENOBUFS;
        }
        memmove(out, in, len);
        return (ssize_t)len;
    }
    uint8_t nonce[SEAL_NONCE_BYTES];
    randombytes_buf(nonce, sizeof(nonce));
    return seal_encrypt(&d->keys, context, nonce, in, len, out, cap);
}

static void log_refusal(struct ringd *d, uint64_t *last_ms, const struct ring_addr *from,
                        const char *why)
{
    uint64_t now = uv_now(d->loop);
    if (*last_ms != 0 && now - *last_ms < ENVELOPE_LOG_INTERVAL_MS) {
        return;
    }
    *last_ms = now;
    char addr[RING_ADDR_STRLEN];
    ringd_log(&d->log, RINGD_LOG_WARN, "dropped", "from", ringd_addr_str(from, addr), "why", why,
              NULL);
}

const uint8_t *ringd_open(struct ringd *d, int context, const struct ring_addr *from,
                          const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    int sealed = seal_is_sealed(in, len);
    if (!ringd_encrypting(d)) {
        if (sealed) {
            d->m.sealed_refused++;
            log_refusal(d, &d->sealed_logged_ms, from,
                        "sealed packet, but this node has no --keyfile");
            return NULL;
        }
        *out_len = len;
        return in;
    }
    if (!sealed) {
        d->m.plaintext_refused++;
        log_refusal(d, &d->plaintext_logged_ms, from,
                    "plaintext packet, but this node requires encryption (--keyfile)");
        return NULL;
    }
    ssize_t n = seal_decrypt(&d->keys, context, in, len, out, cap, NULL);
    if (n < 0) {
        d->m.auth_failures++;
        log_refusal(d, &d->auth_logged_ms, from, ring_strerror((int)n));
        return NULL;
    }
    *out_len = (size_t)n;
    return out;
}
