/*
 * envelope: gossip encryption on the wire (--keyfile). Every datagram and stream frame goes
 * out sealed with the keyring's primary key, stamped with this node's wall clock, and comes
 * in opened by whichever key of the ring it names (libring's seal module; proto/PROTOCOL.md,
 * section 10). This file only reads the key file (at start, on SIGHUP, and when the file
 * changes), draws nonces, and drops and counts what must not pass:
 *
 *   - with keys: a packet that fails to open (wrong key, tampered), a plaintext packet
 *     (unless --gossip-accept-plaintext), and a datagram that libring's replay filter refuses:
 *     stamped outside --replay-window of our clock (skew), or already seen (replay);
 *   - without keys (--insecure): any sealed packet.
 *
 * A node on the wrong side of that line never learns or changes the membership. Each kind of
 * refusal is logged, at most once per ENVELOPE_LOG_INTERVAL_MS, so a misconfigured peer shows
 * up in the logs without flooding them.
 */
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "daemon.h"
#include "err.h"
#include "ring/error.h"
#include "ring/replay.h"

/* A key file is a few lines; anything larger is not one. */
#define KEYFILE_BYTES_MAX        4096
#define ENVELOPE_LOG_INTERVAL_MS 10000
/* --insecure is repeated in the log this often, so it is not forgotten after the start. */
#define INSECURE_WARN_INTERVAL_MS (10 * 60 * 1000)
/* How often the key file's stat is checked: a Kubernetes Secret is updated in place (a
 * symlink swap) without any signal, so ringd looks. A stat every 5 s costs nothing. */
#define KEYFILE_POLL_MS 5000

static int read_small_file(const char *path, char *buf, size_t cap, size_t *len, char *err,
                           size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int rv = -errno;
        snprintf(err, errlen, "%s", strerror(-rv));
        return rv;
    }
    *len = fread(buf, 1, cap, f);
    int bad = ferror(f) || !feof(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "unreadable or larger than %d bytes", KEYFILE_BYTES_MAX);
        return UV_EFBIG;
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
        return UV_EIO;
    }
    char text[KEYFILE_BYTES_MAX + 1], err[160];
    size_t len = 0;
    struct seal_keyring kr;
    int rv = read_small_file(d->cfg.keyfile, text, sizeof(text), &len, err, sizeof(err));
    if (rv == 0 && seal_keyring_parse(&kr, text, len, err, sizeof(err)) != 0) {
        rv = UV_EINVAL;
    }
    sodium_memzero(text, sizeof(text));
    if (rv != 0) {
        /* On a reload the old keys stay: better the old ring than none. */
        ringd_log(&d->log, RINGD_LOG_ERROR, "keys", "file", d->cfg.keyfile, "error", err, NULL);
        return rv;
    }
    seal_keyring_clear(&d->keys);
    d->keys = kr;
    seal_keyring_clear(&kr);
    char fp[SEAL_FINGERPRINT_LEN], count[16], mode[8];
    seal_fingerprint(&d->keys, 0, fp);
    snprintf(count, sizeof(count), "%zu", d->keys.count);
    struct stat st;
    unsigned perm = stat(d->cfg.keyfile, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0;
    snprintf(mode, sizeof(mode), "%04o", perm);
    ringd_log(&d->log, RINGD_LOG_INFO, "keys", "file", d->cfg.keyfile, "keys", count, "primary", fp,
              "mode", mode, NULL);
    if ((perm & 022) != 0) {
        /* Readable by others is how Kubernetes mounts a Secret (only ringd's container has
         * it); writable by others means anyone there can put their key in. */
        ringd_log(&d->log, RINGD_LOG_WARN, "keys", "file", d->cfg.keyfile, "mode", mode, "why",
                  "the key file is writable by its group or others: anyone who can write it "
                  "can join the cluster at the next reload (chmod 600)",
                  NULL);
    }
    return 0;
}

int ringd_encrypting(const struct ringd *d)
{
    return d->keys.count > 0;
}

int ringd_streams_secure_out(const struct ringd *d)
{
    return ringd_encrypting(d) && !d->cfg.gossip_send_plaintext;
}

uint64_t ringd_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void warn_insecure(struct ringd *d)
{
    ringd_log(&d->log, RINGD_LOG_WARN, "insecure", "why",
              "--insecure: gossip is plaintext and unauthenticated; anyone who can reach the "
              "gossip port can join or forge members (give --keyfile)",
              NULL);
}

static void on_insecure_timer(uv_timer_t *t)
{
    warn_insecure(t->data);
}

static void on_keyfile_changed(uv_fs_poll_t *p, int status, const uv_stat_t *prev,
                               const uv_stat_t *curr)
{
    struct ringd *d = p->data;
    (void)prev;
    (void)curr;
    if (status == 0) {
        ringd_log(&d->log, RINGD_LOG_INFO, "reload", "what", "keys", "why", "key file changed",
                  NULL);
        (void)ringd_keys_load(d);
    } else {
        /* Gone or unreadable (told once, when that starts): the keys in memory stay. */
        ringd_log(&d->log, RINGD_LOG_WARN, "keys", "file", d->cfg.keyfile, "error",
                  uv_strerror(status), "why", "the key file cannot be read; the keys loaded stay",
                  NULL);
    }
}

int ringd_envelope_start(struct ringd *d)
{
    if (!ringd_encrypting(d)) {
        warn_insecure(d);
        uv_timer_init(d->loop, &d->insecure_timer);
        d->insecure_timer.data = d;
        return uv_timer_start(&d->insecure_timer, on_insecure_timer, INSECURE_WARN_INTERVAL_MS,
                              INSECURE_WARN_INTERVAL_MS);
    }
    struct replay_config rc = { .window_ms = d->cfg.replay_window_ms };
    if (replay_new(&d->replay, &rc, NULL) != 0) {
        return UV_ENOMEM;
    }
    uv_fs_poll_init(d->loop, &d->keyfile_poll);
    d->keyfile_poll.data = d;
    return uv_fs_poll_start(&d->keyfile_poll, on_keyfile_changed, d->cfg.keyfile, KEYFILE_POLL_MS);
}

void ringd_envelope_stop(struct ringd *d)
{
    ringd_close_handle((uv_handle_t *)&d->insecure_timer);
    ringd_close_handle((uv_handle_t *)&d->keyfile_poll);
}

void ringd_envelope_free(struct ringd *d)
{
    seal_keyring_clear(&d->keys);
    replay_del(d->replay);
    d->replay = NULL;
}

ssize_t ringd_seal(struct ringd *d, int context, const uint8_t *in, size_t len, uint8_t *out,
                   size_t cap)
{
    if (!ringd_encrypting(d) || d->cfg.gossip_send_plaintext) {
        if (cap < len) {
            return UV_ENOBUFS;
        }
        memmove(out, in, len);
        return (ssize_t)len;
    }
    uint8_t nonce[SEAL_NONCE_BYTES];
    randombytes_buf(nonce, sizeof(nonce));
    ssize_t n = seal_encrypt(&d->keys, context, ringd_wall_ms(), nonce, in, len, out, cap);
    return n < 0 ? ringd_err_from_ring((int)n) : n;
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

/* A plaintext packet while we hold keys: refused, unless --gossip-accept-plaintext (or
 * --gossip-send-plaintext, which implies it) lets it through during a rollout. It is copied
 * into |out| so callers always get their plaintext where they asked for it. */
static const uint8_t *open_plaintext(struct ringd *d, const struct ring_addr *from,
                                     const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                                     size_t *out_len)
{
    if (!d->cfg.gossip_accept_plaintext && !d->cfg.gossip_send_plaintext) {
        d->m.plaintext_refused++;
        log_refusal(d, &d->plaintext_logged_ms, from,
                    "plaintext packet, but this node requires encryption (--keyfile)");
        return NULL;
    }
    if (len > cap) {
        d->m.plaintext_refused++;
        return NULL;
    }
    memmove(out, in, len);
    *out_len = len;
    return out;
}

/* The replay filter's verdict on an authenticated datagram: 0, or its refusal as errno
 * (counted, logged). */
static int admit(struct ringd *d, const struct ring_addr *from, uint64_t sent_ms,
                 const uint8_t *nonce)
{
    int rv = replay_admit(d->replay, sent_ms, nonce, ringd_wall_ms());
    if (rv == RING_ESKEW) {
        d->m.skew_refused++;
        log_refusal(d, &d->skew_logged_ms, from,
                    "sealed datagram stamped outside --replay-window of our clock (are the "
                    "clocks synchronized?)");
    } else if (rv != 0) {
        d->m.replays_refused++;
        log_refusal(d, &d->replay_logged_ms, from, "replayed sealed datagram");
    }
    return ringd_err_from_ring(rv);
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
        return open_plaintext(d, from, in, len, out, cap, out_len);
    }
    uint64_t sent_ms = 0;
    ssize_t n = seal_decrypt(&d->keys, context, in, len, out, cap, NULL, &sent_ms);
    if (n == RING_EVERSION) {
        /* a node of another release (seal version 1 carried no time): not an attack on the
         * key, so not counted as one */
        d->m.seal_version_refused++;
        log_refusal(d, &d->auth_logged_ms, from, "sealed packet of another seal version");
        return NULL;
    }
    if (n < 0) {
        d->m.auth_failures++;
        log_refusal(d, &d->auth_logged_ms, from, ring_strerror((int)n));
        return NULL;
    }
    /* Streams carry their own protection against replay; datagrams are checked here, after
     * authentication, so a stranger cannot fill the filter. */
    if (context == SEAL_DATAGRAM && admit(d, from, sent_ms, in + SEAL_NONCE_OFFSET) != 0) {
        return NULL;
    }
    *out_len = (size_t)n;
    return out;
}
