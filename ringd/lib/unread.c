#include <sys/ioctl.h>

#include "unread.h"

int ringd_has_unread(int fd)
{
    int n = 0;
    return fd >= 0 && ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}
