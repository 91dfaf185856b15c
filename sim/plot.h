/*
 * plot: SVG charts of a finished run, drawn by gnuplot (Debian: gnuplot-nox): the fraction
 * of nodes in agreement over time, the join or detection times as a CDF, and the datagrams
 * each node sent per second.
 */
#ifndef RINGSIM_PLOT_H
#define RINGSIM_PLOT_H

#include <stddef.h>

struct sim;

/* Writes the data, the script and the SVGs into |dir| (created if missing). Returns 0, or
 * -1 with a message in |err|. */
int plot_write(const struct sim *w, const char *dir, char *err, size_t cap);

#endif
