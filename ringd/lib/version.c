/* version: see version.h. Only this file sees RINGD_COMMIT, so a new commit recompiles one
 * file. */
#include "version.h"
#include "config.h"

#ifndef RINGD_COMMIT
#define RINGD_COMMIT "unknown"
#endif

const char *ringd_version(void)
{
    return RINGD_VERSION;
}

const char *ringd_commit(void)
{
    return RINGD_COMMIT[0] != '\0' ? RINGD_COMMIT : "unknown";
}
