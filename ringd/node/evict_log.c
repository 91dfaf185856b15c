#include <inttypes.h>
#include <stdio.h>

#include "daemon.h"
#include "evict_log.h"

void evict_log_note(struct ringd *d, struct evict_log *l, const char *listener)
{
    l->unlogged++;
    evict_log_flush(d, l, listener);
}

void evict_log_refused(struct ringd *d, struct evict_log *l, const char *listener)
{
    l->refused++;
    evict_log_flush(d, l, listener);
}

void evict_log_flush(struct ringd *d, struct evict_log *l, const char *listener)
{
    uint64_t now = uv_now(d->loop);
    if ((l->unlogged == 0 && l->refused == 0) ||
        (l->logged_ms != 0 && now - l->logged_ms < EVICT_LOG_INTERVAL_MS)) {
        return;
    }
    char n[24];
    if (l->unlogged != 0) {
        snprintf(n, sizeof(n), "%" PRIu64, l->unlogged);
        ringd_log(&d->log, RINGD_LOG_WARN, "connections_evicted", "listener", listener, "evicted",
                  n, "why", "every slot taken: more clients than slots, or a flood", NULL);
    }
    if (l->refused != 0) {
        snprintf(n, sizeof(n), "%" PRIu64, l->refused);
        ringd_log(&d->log, RINGD_LOG_WARN, "connections_refused", "listener", listener, "refused",
                  n, "why", "every slot holds a request waiting for its answer", NULL);
    }
    l->logged_ms = now;
    l->unlogged = 0;
    l->refused = 0;
}
