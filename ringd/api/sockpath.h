/*
 * sockpath: claiming and releasing the local API's unix socket path without harming files
 * ringd does not own.
 *
 * A path is claimed only when nothing is there, or when a socket is there that nothing
 * answers on (a previous ringd that died without cleaning up). A regular file, a directory,
 * a link or a socket a live process listens on are left alone and reported. After bind, the
 * claim records the socket's device and inode, so release removes the path only while it is
 * still the socket this process created (another process may have replaced it meanwhile).
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

/* Records the socket just bound at |path| as this process's own. Returns 0 or a negative
 * errno from lstat. */
int sockpath_bound(struct sockpath_claim *c, const char *path);

/* Removes |path| if it is still the socket |c| recorded; otherwise leaves it. */
void sockpath_release(struct sockpath_claim *c, const char *path);

#endif
