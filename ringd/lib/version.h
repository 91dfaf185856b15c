/*
 * version: what this build is, for `ringd --version`, `ringctl version`, stats() and the
 * ringd_build_info metric. The commit is `git rev-parse --short=12 HEAD` when CMake ran
 * (configure time), or "unknown" for a build outside a git checkout.
 */
#ifndef RINGD_VERSION_H
#define RINGD_VERSION_H

/* The release version, e.g. "0.1.0". */
const char *ringd_version(void);
/* The commit built from, e.g. "918da48c0f1e", or "unknown". */
const char *ringd_commit(void);

#endif
