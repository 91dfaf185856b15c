/* prom: see prom.h. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "escape.h"
#include "prom.h"
#include "version.h"

/* /proc/self/stat is one line of about 300 bytes. */
#define PROC_STAT_BYTES_MAX 1024

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

void prom_gauge_f(struct sbuf *b, const char *name, const char *help, double v)
{
    prom_family(b, name, "gauge", help);
    sbuf_printf(b, "%s %.17g\n", name, v);
}

void prom_build_info(struct sbuf *b)
{
    char version[PROM_LABEL_BYTES_MAX], commit[PROM_LABEL_BYTES_MAX];
    prom_family(b, "ringd_build_info", "gauge",
                "Always 1; its labels say which build runs (commit from git when it was built).");
    sbuf_printf(b, "ringd_build_info{version=\"%s\",commit=\"%s\"} 1\n",
                prom_label(version, sizeof(version), ringd_version()),
                prom_label(commit, sizeof(commit), ringd_commit()));
}

/* Field |k| (0: the state, the first after the command name's closing parenthesis; so
 * proc(5)'s field k + 3) of /proc/self/stat's text, or 0. */
static unsigned long long stat_field(const char *stat, int k)
{
    const char *p = strrchr(stat, ')');
    if (p == NULL) {
        return 0;
    }
    p++;
    for (int i = 0; i <= k; i++) {
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            return 0;
        }
        if (i == k) {
            return strtoull(p, NULL, 10);
        }
        p += strcspn(p, " ");
    }
    return 0;
}

void prom_process_from(struct sbuf *b, const char *stat, long open_fds, unsigned long long max_fds,
                       long ticks, long page_bytes, unsigned long long boot_s)
{
    if (stat != NULL && ticks > 0) {
        double cpu = (double)(stat_field(stat, 11) + stat_field(stat, 12)) / (double)ticks;
        prom_family(b, "process_cpu_seconds_total", "counter",
                    "Total user and system CPU time spent in seconds.");
        sbuf_printf(b, "process_cpu_seconds_total %.9g\n", cpu);
        prom_one(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                 stat_field(stat, 21) * (unsigned long long)(page_bytes > 0 ? page_bytes : 0));
        prom_one(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                 stat_field(stat, 20));
        if (boot_s > 0) {
            double start = (double)boot_s + (double)stat_field(stat, 19) / (double)ticks;
            prom_gauge_f(b, "process_start_time_seconds",
                         "Start time of the process since unix epoch in seconds.", start);
        }
    }
    if (open_fds >= 0) {
        prom_one(b, "process_open_fds", "gauge", "Number of open file descriptors.",
                 (uint64_t)open_fds);
    }
    if (max_fds > 0) {
        prom_one(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                 max_fds);
    }
}

static long count_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL) {
        return -errno;
    }
    long n = 0;
    for (struct dirent *e = readdir(dir); e != NULL; e = readdir(dir)) {
        n += e->d_name[0] != '.';
    }
    closedir(dir);
    return n - 1; /* the directory's own descriptor */
}

/* The system's boot time (btime in /proc/stat), in seconds since the epoch, or 0. */
static unsigned long long boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    char line[256];
    unsigned long long bt = 0;
    while (f != NULL && bt == 0 && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "btime ", 6) == 0) {
            bt = strtoull(line + 6, NULL, 10);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return bt;
}

void prom_process(struct sbuf *b)
{
    char stat[PROC_STAT_BYTES_MAX];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t len = f != NULL ? fread(stat, 1, sizeof(stat) - 1, f) : 0;
    if (f != NULL) {
        fclose(f);
    }
    stat[len] = '\0';
    struct rlimit rl;
    unsigned long long max_fds =
        getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : 0;
    prom_process_from(b, len > 0 ? stat : NULL, count_fds(), max_fds, sysconf(_SC_CLK_TCK),
                      sysconf(_SC_PAGESIZE), boot_time());
}
