/*
 * ctl_keygen: `ringctl keygen [-o FILE] [--force]`, a fresh cluster key for ringd --keyfile;
 * and ringctl's own --keyfile, the keys its peer queries (checksums, members --group) are
 * sealed with, since a keyed node answers nothing else.
 *
 * 32 bytes from libsodium's randombytes, base64 on one line: the key file format
 * (proto/PROTOCOL.md, section 10). A file is created mode 0600 and an existing one is never
 * replaced without --force: overwriting a cluster's only copy of its key would lock every
 * node that reloads it out of the cluster.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ctl.h"
#include "err.h"
#include "ring/seal.h"

/* Writes all of |len| bytes of |buf| to |fd|. Returns 0 or a negative errno. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        if (n == 0) {
            return -EIO;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Opens |path| for the key, saying why not on stderr. Returns the fd or a negative errno. */
static int open_key_file(const char *path, int force)
{
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (force ? O_TRUNC : O_EXCL);
    int fd = open(path, flags, 0600);
    if (fd < 0) {
        int e = errno;
        fprintf(stderr, "ringctl keygen: %s: %s%s\n", ctl_shown(path), strerror(e),
                e == EEXIST ? " (--force replaces it; the old key is then gone)" : "");
        return -e;
    }
    /* A replaced file keeps its old mode: make it 0600 like a new one. */
    if (fchmod(fd, 0600) != 0) {
        int e = errno;
        fprintf(stderr, "ringctl keygen: %s: %s\n", ctl_shown(path), strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}

int ctl_keygen(struct ctl *ctl, const struct ctl_args *a)
{
    (void)ctl;
    if (sodium_init() < 0) {
        fprintf(stderr, "ringctl keygen: libsodium failed to start\n");
        return CTL_EXIT_FAIL;
    }
    uint8_t key[SEAL_KEY_BYTES];
    char line[sodium_base64_ENCODED_LEN(SEAL_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL) + 1];
    randombytes_buf(key, sizeof(key));
    sodium_bin2base64(line, sizeof(line) - 1, key, sizeof(key), sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(key, sizeof(key));
    size_t len = strlen(line);
    line[len++] = '\n';
    /* "-o -" is standard output, as for most tools that take an output file */
    int to_stdout = a->out_path == NULL || strcmp(a->out_path, "-") == 0;
    int fd = to_stdout ? STDOUT_FILENO : open_key_file(a->out_path, a->force);
    int rv = fd >= 0 ? write_all(fd, line, len) : fd;
    if (rv != 0 && fd >= 0) {
        fprintf(stderr, "ringctl keygen: write: %s\n", strerror(-rv));
    }
    if (fd >= 0 && fd != STDOUT_FILENO && close(fd) != 0 && rv == 0) {
        rv = -errno;
        fprintf(stderr, "ringctl keygen: close: %s\n", strerror(-rv));
    }
    sodium_memzero(line, sizeof(line));
    return rv == 0 ? 0 : CTL_EXIT_FAIL;
}

/* A key file is a few lines (ringd's envelope.c has the same bound). */
#define CTL_KEYFILE_BYTES_MAX 4096

int ctl_load_peer_keys(const char *path, int explicit, struct seal_keyring *kr)
{
    if (path == NULL || path[0] == '\0') {
        return 0;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "ringctl: libsodium failed to start\n");
        return CTL_EXIT_FAIL;
    }
    char text[CTL_KEYFILE_BYTES_MAX + 1], err[160] = "";
    size_t len = 0;
    FILE *f = fopen(path, "rb");
    if (f != NULL) {
        len = fread(text, 1, sizeof(text), f);
        fclose(f);
    }
    int rv = f == NULL ? -errno
             : len > CTL_KEYFILE_BYTES_MAX
                 ? -EFBIG
                 : ringd_err_from_ring(seal_keyring_parse(kr, text, len, err, sizeof(err)));
    sodium_memzero(text, sizeof(text));
    if (rv != 0) {
        /* $RINGD_KEYFILE may name ringd's file, unreadable here: peer queries go plaintext. */
        fprintf(stderr, "ringctl: %s%s: %s\n", explicit ? "--keyfile " : "$RINGD_KEYFILE ",
                ctl_shown(path),
                f == NULL        ? strerror(-rv)
                : err[0] != '\0' ? err
                                 : "too large");
        return explicit ? CTL_EXIT_FAIL : 0;
    }
    return 0;
}
