/* ringd's open-file limit (fdlimit.h). */
#include <errno.h>
#include <sys/resource.h>

#include "fdlimit.h"

static uint64_t as_u64(rlim_t v)
{
    return v == RLIM_INFINITY ? UINT64_MAX : (uint64_t)v;
}

int ringd_fdlimit_raise(uint64_t *soft)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        *soft = 0;
        return -errno;
    }
    *soft = as_u64(rl.rlim_cur);
    if (rl.rlim_cur == rl.rlim_max) {
        return 0;
    }
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return -errno;
    }
    *soft = as_u64(rl.rlim_cur);
    return 0;
}
