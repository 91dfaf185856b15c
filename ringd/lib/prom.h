/*
 * prom: writers of the Prometheus text exposition format (version 0.0.4) into an sbuf, shared
 * by every subsystem that exports metrics.
 */
#ifndef RINGD_PROM_H
#define RINGD_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

/* Room for one escaped label value; ours are short names. */
#define PROM_LABEL_BYTES_MAX 64

/* |v| as a label value (escape_prom_label(): '\', '"' and newline escaped, the rest valid
 * UTF-8) in |buf|, cut to fit. Our values are fixed names today, but a label value must never
 * break the exposition, whatever a future one holds. Returns |buf|. */
const char *prom_label(char *buf, size_t cap, const char *v);

/* "# HELP name help" and "# TYPE name type". */
void prom_family(struct sbuf *b, const char *name, const char *type, const char *help);
/* A family with one unlabelled sample. */
void prom_one(struct sbuf *b, const char *name, const char *type, const char *help, uint64_t v);
/* A counter family with samples {direction="in"} and {direction="out"}. */
void prom_in_out(struct sbuf *b, const char *name, const char *help, uint64_t in, uint64_t out);
/* The samples of one histogram series: |counts| per bucket (|n| buckets, the last +Inf),
 * bucket bounds |bounds_us| (n - 1 of them, microseconds), |sum_s| seconds; |label| is
 * "" or a label pair with a trailing comma (e.g. path="local",). */
void prom_histogram(struct sbuf *b, const char *name, const char *label, const uint64_t *counts,
                    size_t n, const double *bounds_us, double sum_s);

/* A gauge family with one unlabelled sample of any value (a checksum: float64 in
 * Prometheus, so compare values, do not decode them). */
void prom_gauge_f(struct sbuf *b, const char *name, const char *help, double v);

/* ringd_build_info{version, commit} 1: which build runs (version.h). */
void prom_build_info(struct sbuf *b);

/* The process families the Prometheus client libraries export under the same names:
 * process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds. Read from /proc/self; a
 * family whose source cannot be read is left out (another OS, a sandbox). */
void prom_process(struct sbuf *b);

/* The same, from the text of /proc/self/stat (|stat|), the number of open fds, the fd limit
 * (0: unknown), the clock ticks per second, the page size and the boot time in seconds since
 * the epoch (0: unknown). Exposed for tests. */
void prom_process_from(struct sbuf *b, const char *stat, long open_fds, unsigned long long max_fds,
                       long ticks, long page_bytes, unsigned long long boot_s);

#endif
