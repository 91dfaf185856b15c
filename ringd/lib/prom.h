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

#endif
