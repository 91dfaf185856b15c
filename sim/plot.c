/* plot: data files and a gnuplot script per run; see plot.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plot.h"
#include "scenario.h"
#include "sim.h"

static FILE *open_in(const char *dir, const char *name, char *err, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        snprintf(err, cap, "--plot: cannot write %s: %s", path, strerror(errno));
    }
    return f;
}

static int write_samples(const struct sim *w, const char *dir, char *err, size_t cap)
{
    FILE *f = open_in(dir, "agreement.dat", err, cap);
    if (f == NULL) {
        return -1;
    }
    for (uint32_t k = 0; k < w->m.sample_count; k++) {
        const struct sim_sample *s = &w->m.samples[k];
        fprintf(f, "%.3f %.6f\n", (double)s->at_us / 1e6, s->up ? (double)s->agree / s->up : 0.0);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* A CDF: sorted times against the fraction of |total| reached. */
static int write_cdf(const char *dir, const char *name, const double *v, size_t k, size_t total,
                     char *err, size_t cap)
{
    FILE *f = open_in(dir, name, err, cap);
    if (f == NULL) {
        return -1;
    }
    fprintf(f, "0 0\n");
    for (size_t i = 0; i < k; i++) {
        fprintf(f, "%.6f %.6f\n", v[i], (double)(i + 1) / (double)total);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static int write_traffic(const struct sim *w, const char *dir, char *err, size_t cap)
{
    FILE *f = open_in(dir, "traffic.dat", err, cap);
    if (f == NULL) {
        return -1;
    }
    double secs = (double)w->end_us / 1e6;
    for (uint32_t i = 0; i < w->n; i++) {
        if (w->nodes[i].up) {
            const struct swim_stats *st = swim_stats(w->nodes[i].s);
            fprintf(f, "%u %.3f %.1f\n", i, (double)st->msgs_out / secs,
                    (double)(st->bytes_out + st->stream_bytes_out) / secs);
        }
    }
    return fclose(f) == 0 ? 0 : -1;
}

static const char script[] =
    "set terminal svg size 900,500 dynamic background rgb 'white'\n"
    "set grid\n"
    "set key bottom right\n"
    "set output 'convergence.svg'\n"
    "set title '%s, %u nodes: fraction of running nodes in agreement'\n"
    "set xlabel 'virtual time (s)'\nset ylabel 'fraction'\nset yrange [0:1.05]\n"
    "plot 'agreement.dat' using 1:2 with lines lw 2 title 'same membership + ring checksum'\n"
    "set output 'cdf.svg'\n"
    "set title '%s, %u nodes: %s'\n"
    "set xlabel 'seconds after the event'\n"
    "plot 'cdf.dat' using 1:2 with steps lw 2 title 'fraction of nodes'\n"
    "set output 'traffic.svg'\n"
    "set title '%s, %u nodes: datagrams sent per node per second'\n"
    "set xlabel 'node'\nset ylabel 'datagrams/s'\nset autoscale y\nset key top right\n"
    "plot 'traffic.dat' using 1:2 with points pt 7 ps 0.3 title 'per node'\n";

int plot_write(const struct sim *w, const char *dir, char *err, size_t cap)
{
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        snprintf(err, cap, "--plot needs gnuplot: apt-get install -y gnuplot-nox");
        return -1;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, cap, "--plot: cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    int join = w->opts.scenario == SIM_JOIN;
    double *v;
    size_t k = join ? metrics_join_times(w, &v) : metrics_detection_times(w, &v);
    size_t total = join ? w->n : (size_t)w->m.watch_count * (w->up ? w->up : 1);
    int rv = v == NULL ? -1 : write_cdf(dir, "cdf.dat", v, k, total, err, cap);
    free(v);
    if (rv != 0 || write_samples(w, dir, err, cap) != 0 || write_traffic(w, dir, err, cap) != 0) {
        return -1;
    }
    FILE *f = open_in(dir, "plot.gp", err, cap);
    if (f == NULL) {
        return -1;
    }
    const char *name = scenario_name(w->opts.scenario);
    const char *what = join ? "when each node knew every node (CDF)"
                            : "when each node marked the killed node faulty (CDF)";
    fprintf(f, script, name, w->n, name, w->n, what, name, w->n);
    fclose(f);
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "cd '%s' && gnuplot plot.gp", dir);
    if (system(cmd) != 0) {
        snprintf(err, cap, "--plot: gnuplot failed in %s", dir);
        return -1;
    }
    return 0;
}
