/* Helpers the benchmark programs share: a monotonic clock and the median of a sample. */
#ifndef RING_BENCH_UTIL_H
#define RING_BENCH_UTIL_H

/* Nanoseconds on CLOCK_MONOTONIC. */
double bench_now_ns(void);

/* Sorts |v| (|n| values) ascending. */
void bench_sort(double *v, int n);

/* The median of |v| (|n| > 0 values); sorts |v| in place. */
double bench_median(double *v, int n);

#endif
