/* prom: see prom.h. */
#include <string.h>

#include "escape.h"
#include "prom.h"

const char *prom_label(char *buf, size_t cap, const char *v)
{
    struct sbuf b;
    sbuf_init(&b, cap - 1);
    escape_prom_label(&b, v, strlen(v));
    memcpy(buf, b.data != NULL ? b.data : "", b.len);
    buf[b.len] = '\0';
    sbuf_free(&b);
    return buf;
}

void prom_family(struct sbuf *b, const char *name, const char *type, const char *help)
{
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_one(struct sbuf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    prom_family(b, name, type, help);
    sbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

void prom_in_out(struct sbuf *b, const char *name, const char *help, uint64_t in, uint64_t out)
{
    prom_family(b, name, "counter", help);
    sbuf_printf(b, "%s{direction=\"in\"} %llu\n%s{direction=\"out\"} %llu\n", name,
                (unsigned long long)in, name, (unsigned long long)out);
}

void prom_histogram(struct sbuf *b, const char *name, const char *label, const uint64_t *counts,
                    size_t n, const double *bounds_us, double sum_s)
{
    uint64_t cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += counts[i];
        if (i + 1 < n) {
            sbuf_printf(b, "%s_bucket{%sle=\"%g\"} %llu\n", name, label, bounds_us[i] / 1e6,
                        (unsigned long long)cum);
        } else {
            sbuf_printf(b, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, label, (unsigned long long)cum);
        }
    }
    size_t len = 0;
    while (label[len] != '\0') {
        len++;
    }
    /* the label without its trailing comma, in braces, or nothing */
    if (len > 0) {
        sbuf_printf(b, "%s_sum{%.*s} %.9f\n%s_count{%.*s} %llu\n", name, (int)(len - 1), label,
                    sum_s, name, (int)(len - 1), label, (unsigned long long)cum);
    } else {
        sbuf_printf(b, "%s_sum %.9f\n%s_count %llu\n", name, sum_s, name, (unsigned long long)cum);
    }
}
