/*
 * log: one line per event that matters, on stderr, as logfmt text ("ts=TIME level=LEVEL
 * msg=EVENT key=value ...") or as one JSON object per line ({"ts", "level", "msg", key:
 * value, ...}): the field names Loki, Vector, Datadog and the Go and Rust loggers (slog,
 * zap, tracing) read without configuration.
 *
 *   ringd_log(lg, RINGD_LOG_INFO, "member_changed", "id", id, "status", "suspect", NULL);
 *
 * Fields are NUL-terminated key/value string pairs ending with NULL. In JSON a field's type
 * is fixed by its key, never guessed from its value: the keys of counts (members,
 * incarnation, port, ...) are numbers and those of flags (complete) booleans, by the table
 * in log.c; every other key is a string, even when its value looks like a number (an id
 * "42"). A value that does not fit its key's type is written as a string.
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

/* Writes a line "crash" with the signal's name (SIGSEGV, SIGABRT, ...) in |format| into
 * |buf|, without locale, allocation or stdio: it is called from a signal handler. Returns its
 * length, newline included. Exposed for tests. */
size_t ringd_log_crash_line(char *buf, size_t cap, int format, uint64_t wall_ms, int signo);

/* Makes a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT: an assertion) write a
 * crash line in |lg|'s format to its stream before the process dies of it as it would have.
 * An assertion's own message (file, line, expression) comes first, from libring, as plain
 * text. */
void ringd_log_crash_handler_install(const struct ringd_log *lg);

#endif
