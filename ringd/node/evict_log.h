/*
 * evict_log: a full listener's evictions in the log, at most one line per listener every
 * EVICT_LOG_INTERVAL_MS, with how many connections it closed since the line before. Each is
 * counted in the listener's ringd_*_evictions_total already; without a line, 130,000 evictions
 * of a flood left nothing in the log, while the gossip port's refusals are logged. A listener
 * that has no connection it may close (the proxy's, every slot waiting on an answer) closes
 * the new one instead: those refusals get their own line on the same terms.
 */
#ifndef RINGD_EVICT_LOG_H
#define RINGD_EVICT_LOG_H

#include <stdint.h>

#define EVICT_LOG_INTERVAL_MS 10000

struct ringd;

struct evict_log {
    uint64_t logged_ms; /* the last line (uv_now), 0: none yet */
    uint64_t unlogged;  /* evictions since */
    uint64_t refused;   /* refusals since */
};

/* One eviction by |listener| ("admin", "api", "proxy"): logged now, or counted for the next
 * line. */
void evict_log_note(struct ringd *d, struct evict_log *l, const char *listener);

/* One new connection closed at its accept by |listener|: no other could make room. */
void evict_log_refused(struct ringd *d, struct evict_log *l, const char *listener);

/* Logs the evictions (and refusals) counted since the last line once EVICT_LOG_INTERVAL_MS has
 * passed, so the last burst's count is not left waiting for an eviction that may never come. The
 * API and the proxy call it from their sweeps; admin, which has no sweep, at every request and
 * whenever a connection closes (probes and scrapes keep coming). */
void evict_log_flush(struct ringd *d, struct evict_log *l, const char *listener);

#endif
