/*
 * log: one line per event that matters, as text ("TIME LEVEL EVENT key=value ...") or as one
 * JSON object per line ({"ts", "level", "event", key: value, ...}), on stderr.
 *
 *   ringd_log(lg, RINGD_LOG_INFO, "member_changed", "id", id, "status", "suspect", NULL);
 *
 * Fields are NUL-terminated key/value string pairs ending with NULL; values are always
 * strings, so a log shipper never has to guess a type.
 */
#ifndef RINGD_LOG_H
#define RINGD_LOG_H

#include <stdint.h>
#include <stdio.h>

struct ringd_log {
    uint8_t level;  /* enum ringd_log_level: lines below it are dropped */
    uint8_t format; /* enum ringd_log_format */
    FILE *f;        /* NULL means stderr */
};

void ringd_log(const struct ringd_log *lg, int level, const char *event, ...)
    __attribute__((sentinel));

/* Formats one line (with its newline) into |buf|; returns its length (truncated lines end
 * with a newline too). |wall_ms| is the Unix time in milliseconds. Exposed for tests. */
size_t ringd_log_format(char *buf, size_t cap, int format, uint64_t wall_ms, int level,
                        const char *event, const char *const *kv, size_t kv_count);

#endif
