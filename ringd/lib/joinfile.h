/*
 * joinfile: the --join-file format. Either a JSON array of seed strings
 *   ["10.0.0.5:7946", "dns:ringd.default.svc.cluster.local:7946"]
 * or, for hand-written files, one seed per line (blank lines and '#' comments skipped).
 * Seeds are what --join takes (ringd_seed_parse). Pure: ringd reads the file, this parses it.
 */
#ifndef RINGD_JOINFILE_H
#define RINGD_JOINFILE_H

#include <stddef.h>

#include "config.h"

/* The largest join file read (64 seeds of 253-byte names fit easily). */
#define RINGD_JOIN_FILE_BYTES_MAX (64u << 10)

/*
 * Parses |len| bytes of |text| into |seeds| (room for |max|), storing the count in |*n|.
 * Returns 0, or -EINVAL (syntax, a bad seed; one line in |err|), -E2BIG (more than
 * |max| seeds).
 */
int ringd_join_file_parse(const char *text, size_t len, struct ringd_seed *seeds, size_t max,
                          size_t *n, char *err, size_t errlen);

#endif
