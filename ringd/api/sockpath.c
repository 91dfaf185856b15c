/*
 * sockpath: see sockpath.h. The stale-socket probe is a connect(): a listening socket accepts
 * (or its backlog is full, EAGAIN: still alive), a socket whose owner is gone refuses
 * (ECONNREFUSED). This is how redis, Docker and systemd tell a stale socket from a live one.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sockpath.h"

/* 0: nothing answers on |path|; -EADDRINUSE: something does; another negative errno. */
static int probe_listener(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    int rv = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? -EADDRINUSE : -errno;
    close(fd);
    if (rv == -EAGAIN || rv == -EINPROGRESS) {
        return -EADDRINUSE; /* a live listener with a full backlog */
    }
    return rv == -ECONNREFUSED ? 0 : rv;
}

int sockpath_prepare(const char *path, int *stale)
{
    *stale = 0;
    struct stat st;
    if (lstat(path, &st) != 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    if (!S_ISSOCK(st.st_mode)) {
        return -EEXIST;
    }
    int rv = probe_listener(path);
    if (rv != 0) {
        return rv;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        return -errno;
    }
    *stale = 1;
    return 0;
}

/* |path| with a private suffix, in |buf| (sizeof(struct sockaddr_un.sun_path)). */
static int private_name(const char *path, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s.%ld.tmp", path, (long)getpid());
    return n > 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

int sockpath_listen(struct sockpath_claim *c, const char *path, int backlog)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    int rv = private_name(path, sa.sun_path, sizeof(sa.sun_path));
    if (rv != 0) {
        return rv;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    (void)unlink(sa.sun_path); /* our own leftover: the name carries our pid */
    struct stat st;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(sa.sun_path, 0660) != 0 ||
        listen(fd, backlog) != 0) {
        rv = -errno;
    } else if (link(sa.sun_path, path) != 0) {
        rv = errno == EEXIST ? -EADDRINUSE : -errno;
    } else if (lstat(path, &st) != 0) {
        rv = -errno;
    } else {
        c->dev = st.st_dev;
        c->ino = st.st_ino;
        c->owned = 1;
    }
    (void)unlink(sa.sun_path);
    if (rv != 0) {
        close(fd);
        return rv;
    }
    return fd;
}

void sockpath_release(struct sockpath_claim *c, const char *path)
{
    struct stat st;
    if (c->owned && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == c->dev &&
        st.st_ino == c->ino) {
        unlink(path);
    }
    c->owned = 0;
}
