/*
 * sockpath: claiming and releasing the local API's unix socket path without harming files
 * ringd does not own.
 *
 * A path is claimed only when nothing is there, or when a socket is there that nothing
 * answers on (a previous ringd that died without cleaning up). A regular file, a directory,
 * a link or a socket a live process listens on are left alone and reported. The claim records
 * the socket's device and inode, so release removes the path only while it is still the
 * socket this process created (another process may have replaced it meanwhile). The socket
 * is made here, not by libuv (whose pipe handle unlinks its path on close, whatever is there
 * by then); the caller hands the fd to uv_pipe_open().
 */
#ifndef RINGD_SOCKPATH_H
#define RINGD_SOCKPATH_H

#include <sys/types.h>

struct sockpath_claim {
    dev_t dev;
    ino_t ino;
    int owned; /* set by sockpath_bound(): release may remove the path */
};

/* Makes |path| free for bind(). Returns 0 (nothing there, or a stale socket removed),
 * -EEXIST (something other than a socket is there), -EADDRINUSE (a live process answers on
 * the socket), or another negative errno from lstat/connect/unlink. |stale| is set to 1 when a
 * stale socket was removed. Connects synchronously: call it before the event loop runs. */
int sockpath_prepare(const char *path, int *stale);

/* Creates a listening unix socket (mode 0660, |backlog|) and makes it appear at |path| only
 * once it listens, atomically and without replacing anything: it is bound to a private name
 * beside |path|, then hard-linked to |path| (link(2) fails if something got there first) and
 * the private name removed. So a second ringd never sees our socket between bind and listen
 * and takes it for stale. Call sockpath_prepare() first. Returns the listening fd, or
 * -EADDRINUSE (something appeared at |path| meanwhile), -ENAMETOOLONG or another negative
 * errno. Records the socket in |c| for sockpath_release(). */
int sockpath_listen(struct sockpath_claim *c, const char *path, int backlog);

/* Removes |path| if it is still the socket |c| recorded; otherwise leaves it. */
void sockpath_release(struct sockpath_claim *c, const char *path);

#endif
