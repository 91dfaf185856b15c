/*
 * unread: whether a client has sent bytes ringd has not read yet.
 *
 * Every listener of ringd's makes room for a new connection, when its slots are full, by
 * closing one that is not doing its part; the first to go is one whose client has never sent
 * a byte. A connection accepted a moment ago looks like that until the loop reads it, and in
 * a burst of accepts (a flood that filled the backlog while the loop was busy) that moment
 * is long enough to close a real client whose request is already in its socket: the
 * kernel's count of bytes waiting says which is which.
 */
#ifndef RINGD_UNREAD_H
#define RINGD_UNREAD_H

/* Whether socket |fd| holds bytes not yet read (FIONREAD); 0 when it holds none or cannot
 * say. */
int ringd_has_unread(int fd);

#endif
