#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

struct bench_procs bench_procs;

void bench_cleanup(const char *prog)
{
    struct bench_procs *p = &bench_procs;
    for (int i = 0; i < p->count; i++) {
        if (p->pids[i] > 0) {
            kill(p->pids[i], SIGKILL);
            waitpid(p->pids[i], NULL, 0);
            p->pids[i] = 0;
        }
    }
    if (p->tmpdir[0] != '\0') {
        char cmd[96];
        snprintf(cmd, sizeof(cmd), "rm -rf '%.63s'", p->tmpdir);
        if (system(cmd) != 0) {
            fprintf(stderr, "%s: could not remove %s\n", prog, p->tmpdir);
        }
        p->tmpdir[0] = '\0';
    }
}

void bench_on_signal(int sig)
{
    (void)sig;
    for (int i = 0; i < bench_procs.count; i++) {
        if (bench_procs.pids[i] > 0) {
            kill(bench_procs.pids[i], SIGKILL);
        }
    }
    _exit(130);
}

double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_sort(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
}

double bench_median(double *v, int n)
{
    bench_sort(v, n);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}
