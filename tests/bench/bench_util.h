/* Helpers the benchmark programs share: a monotonic clock, the median of a sample, and the
 * processes a benchmark starts (killed by PID, with its temp dir removed, however it ends). */
#ifndef RING_BENCH_UTIL_H
#define RING_BENCH_UTIL_H

#include <sys/types.h>

/* Processes one benchmark run may start. */
#define BENCH_PIDS_MAX 16

/* What bench_cleanup() undoes: the processes started and the temp dir ("" for none). */
struct bench_procs {
    char tmpdir[64];
    pid_t pids[BENCH_PIDS_MAX];
    int count;
};
extern struct bench_procs bench_procs;

/* Kills every process started (SIGKILL, reaped) and removes the temp dir; |prog| names the
 * benchmark in the message if the dir cannot be removed. */
void bench_cleanup(const char *prog);
/* A SIGINT/SIGTERM handler: kills the processes and exits 130. */
void bench_on_signal(int sig);

/* Nanoseconds on CLOCK_MONOTONIC. */
double bench_now_ns(void);

/* Sorts |v| (|n| values) ascending. */
void bench_sort(double *v, int n);

/* The median of |v| (|n| > 0 values); sorts |v| in place. */
double bench_median(double *v, int n);

#endif
