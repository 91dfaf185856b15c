/*
 * seeds: turns --join, --join-file and API join() seeds into the numeric list swim_join()
 * takes. Names are resolved with uv_getaddrinfo (a "dns:NAME:PORT" seed contributes every
 * address, a plain "host:port" its first). A round resolves everything; when it ends and the
 * list differs from the one swim has, swim_join() replaces it (swim retries the join with
 * backoff by itself). Rounds repeat while there are names or a join file: often until the
 * names resolve (pods that start before DNS has them), then slowly, so a headless Service's
 * new pods become seeds. SIGHUP re-reads the join file and starts a round at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "subshard.h"
#include "joinfile.h"
#include "ring/error.h"

/* Re-resolve every 30 s once names resolve; every 2 s while one does not. */
#define RESOLVE_MS       30000
#define RESOLVE_RETRY_MS 2000
/* While no seed has answered, a warning this often: a node that has not joined answers no
 * lookups (route.h), and an operator should see why in the log without --log-level debug.
 * The first comes after a few join attempts (swim retries with backoff from 200 ms). */
#define UNANSWERED_WARN_MS 5000

struct ringd_seeds {
    struct ringd *d;
    struct ringd_seed list[RINGD_SEEDS_MAX * 2]; /* flags, then the join file */
    size_t count;
    struct ring_addr api[SWIM_SEEDS_MAX];
    size_t api_count;
    struct ring_addr round_addrs[SWIM_SEEDS_MAX];
    size_t round_count;
    struct ring_addr joined[SWIM_SEEDS_MAX];
    size_t joined_count;
    int joined_once;
    uint32_t round;
    int pending;
    int round_failed;
    uv_timer_t timer;
    uv_timer_t warn_timer; /* UNANSWERED_WARN_MS while not joined */
    uint64_t started_ms;
};

struct resolve {
    uv_getaddrinfo_t req;
    struct ringd_seeds *s;
    uint32_t round;
    uint16_t port;
    uint8_t all; /* dns: every address */
    char host[RINGD_HOST_BYTES_MAX + 1];
};

static void add_addr(struct ringd_seeds *s, const struct ring_addr *a)
{
    for (size_t i = 0; i < s->round_count; i++) {
        if (ring_addr_equal(&s->round_addrs[i], a)) {
            return;
        }
    }
    if (s->round_count < SWIM_SEEDS_MAX) {
        s->round_addrs[s->round_count++] = *a;
    }
}

static int same_set(const struct ring_addr *a, size_t na, const struct ring_addr *b, size_t nb)
{
    if (na != nb) {
        return 0;
    }
    for (size_t i = 0; i < na; i++) {
        int found = 0;
        for (size_t j = 0; j < nb && !found; j++) {
            found = ring_addr_equal(&a[i], &b[j]);
        }
        if (!found) {
            return 0;
        }
    }
    return 1;
}

static int only_self(const struct ringd *d, const struct ring_addr *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!ring_addr_equal(&a[i], &d->self)) {
            return 0;
        }
    }
    return 1;
}

static void on_timer(uv_timer_t *t);

static void finish_round(struct ringd_seeds *s)
{
    struct ringd *d = s->d;
    for (size_t i = 0; i < s->api_count; i++) {
        add_addr(s, &s->api[i]);
    }
    if (!s->joined_once || !same_set(s->round_addrs, s->round_count, s->joined, s->joined_count)) {
        int rv = swim_join(d->swim, s->round_addrs, s->round_count, uv_now(d->loop));
        ringd_groups_join(d, s->round_addrs, s->round_count);
        char n[12];
        snprintf(n, sizeof(n), "%zu", s->round_count);
        if (rv != 0) {
            ringd_log(&d->log, RINGD_LOG_ERROR, "join", "seeds", n, "error", ring_strerror(rv),
                      NULL);
        } else {
            ringd_log(&d->log, RINGD_LOG_INFO, "join", "seeds", n, NULL);
            memcpy(s->joined, s->round_addrs, s->round_count * sizeof(s->round_addrs[0]));
            s->joined_count = s->round_count;
            s->joined_once = 1;
            /* A cluster of one only when no seed was configured, or every seed is this node:
             * seeds that do not resolve (yet) or a join file that cannot be read leave the
             * node unjoined, not the owner of every key. */
            int configured = s->count > 0 || s->api_count > 0 || d->cfg.join_file[0] != '\0';
            if (only_self(d, s->round_addrs, s->round_count) &&
                (!configured || s->round_count > 0)) {
                d->joined = 1; /* nobody else to join: a cluster of one */
            }
        }
        ringd_pump(d);
    }
    int names = d->cfg.join_file[0] != '\0';
    for (size_t i = 0; i < s->count; i++) {
        names |= s->list[i].addr.family == 0;
    }
    if (names) {
        uv_timer_start(&s->timer, on_timer, s->round_failed ? RESOLVE_RETRY_MS : RESOLVE_MS, 0);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct resolve *r = req->data;
    struct ringd_seeds *s = r->s;
    if (!s->d->stopping && r->round == s->round) {
        struct ring_addr a;
        int any = 0;
        for (struct addrinfo *ai = status == 0 ? res : NULL; ai != NULL; ai = ai->ai_next) {
            if (ringd_addr_from_sockaddr(ai->ai_addr, &a) == 0) {
                a.port = r->port;
                add_addr(s, &a);
                any = 1;
                if (!r->all) {
                    break;
                }
            }
        }
        if (!any) {
            s->round_failed = 1;
            ringd_log(&s->d->log, RINGD_LOG_WARN, "resolve", "host", r->host, "error",
                      status != 0 ? uv_strerror(status) : "no addresses", NULL);
        }
        if (--s->pending == 0) {
            finish_round(s);
        }
    }
    uv_freeaddrinfo(res);
    free(r);
}

static void resolve_name(struct ringd_seeds *s, const struct ringd_seed *seed)
{
    struct resolve *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        s->round_failed = 1;
        return;
    }
    r->s = s;
    r->round = s->round;
    r->port = seed->addr.port;
    r->all = seed->dns;
    r->req.data = r;
    snprintf(r->host, sizeof(r->host), "%s", seed->addr.host);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    s->pending++;
    int rv = uv_getaddrinfo(s->d->loop, &r->req, on_resolved, r->host, NULL, &hints);
    if (rv != 0) {
        s->pending--;
        s->round_failed = 1;
        free(r);
    }
}

static void add_numeric(struct ringd_seeds *s, const struct ringd_seed *seed)
{
    char text[RINGD_HOST_BYTES_MAX + 16];
    snprintf(text, sizeof(text), seed->addr.family == 6 ? "[%s]:%u" : "%s:%u", seed->addr.host,
             seed->addr.port);
    struct ring_addr a;
    if (ring_addr_parse(text, strlen(text), &a) == 0) {
        add_addr(s, &a);
    }
}

/* Rebuilds the seed list from the flags and the join file. */
static void read_list(struct ringd_seeds *s)
{
    struct ringd *d = s->d;
    memcpy(s->list, d->cfg.seeds, d->cfg.seed_count * sizeof(d->cfg.seeds[0]));
    s->count = d->cfg.seed_count;
    if (d->cfg.join_file[0] == '\0') {
        return;
    }
    FILE *f = fopen(d->cfg.join_file, "r");
    char *text = malloc(RINGD_JOIN_FILE_BYTES_MAX + 1);
    size_t len = f != NULL && text != NULL ? fread(text, 1, RINGD_JOIN_FILE_BYTES_MAX + 1, f) : 0;
    size_t n = 0;
    char err[256] = "cannot read the file";
    int rv = f != NULL && text != NULL && !ferror(f)
                 ? ringd_join_file_parse(text, len, s->list + s->count, RINGD_SEEDS_MAX, &n, err,
                                         sizeof(err))
                 : UV_EINVAL;
    if (rv != 0) {
        ringd_log(&d->log, RINGD_LOG_WARN, "join_file", "path", d->cfg.join_file, "error", err,
                  NULL);
    } else {
        s->count += n;
    }
    if (f != NULL) {
        fclose(f);
    }
    free(text);
}

static void start_round(struct ringd_seeds *s)
{
    s->round++;
    s->pending = 0;
    s->round_failed = 0;
    s->round_count = 0;
    read_list(s);
    /* One extra count while names are queued, so a synchronous failure cannot finish early. */
    s->pending++;
    for (size_t i = 0; i < s->count; i++) {
        if (s->list[i].addr.family == 0) {
            resolve_name(s, &s->list[i]);
        } else {
            add_numeric(s, &s->list[i]);
        }
    }
    if (--s->pending == 0) {
        finish_round(s);
    }
}

static void on_timer(uv_timer_t *t)
{
    start_round(t->data);
}

/* The seeds swim joins through, as text: "a:1,b:2" (cut short past |cap|). */
static void seeds_text(const struct ringd_seeds *s, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < s->joined_count && len + RING_ADDR_STRLEN + 2 < cap; i++) {
        char addr[RING_ADDR_STRLEN];
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i > 0 ? "," : "",
                                ringd_addr_str(&s->joined[i], addr));
    }
}

static void on_warn_timer(uv_timer_t *t)
{
    struct ringd_seeds *s = t->data;
    struct ringd *d = s->d;
    if (d->joined || d->leaving) {
        uv_timer_stop(t);
        return;
    }
    char seeds[512], waited[24];
    seeds_text(s, seeds, sizeof(seeds));
    snprintf(waited, sizeof(waited), "%llu",
             (unsigned long long)((uv_now(d->loop) - s->started_ms) / 1000));
    ringd_log(&d->log, RINGD_LOG_WARN, "not_joined", "why",
              s->joined_count == 0 ? "no seed resolved yet" : "no seed has answered", "seeds",
              seeds, "waited_s", waited, "lookups", "refused until joined", NULL);
}

int ringd_seeds_start(struct ringd *d)
{
    struct ringd_seeds *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return UV_ENOMEM;
    }
    s->d = d;
    d->seeds = s;
    uv_timer_init(d->loop, &s->timer);
    s->timer.data = s;
    uv_timer_init(d->loop, &s->warn_timer);
    s->warn_timer.data = s;
    s->started_ms = uv_now(d->loop);
    uv_timer_start(&s->warn_timer, on_warn_timer, UNANSWERED_WARN_MS, UNANSWERED_WARN_MS);
    start_round(s);
    return 0;
}

void ringd_seeds_reload(struct ringd *d)
{
    if (d->seeds != NULL && !d->stopping) {
        uv_timer_stop(&d->seeds->timer);
        start_round(d->seeds);
    }
}

int ringd_seeds_add(struct ringd *d, const struct ring_addr *addrs, size_t n)
{
    struct ringd_seeds *s = d->seeds;
    for (size_t i = 0; i < n; i++) {
        int dup = 0;
        for (size_t j = 0; j < s->api_count && !dup; j++) {
            dup = ring_addr_equal(&s->api[j], &addrs[i]);
        }
        if (dup) {
            continue;
        }
        if (s->api_count == SWIM_SEEDS_MAX) {
            return UV_E2BIG;
        }
        s->api[s->api_count++] = addrs[i];
    }
    /* Join through them now even if the set is unchanged: the caller asked for a join. */
    s->joined_once = 0;
    ringd_seeds_reload(d);
    return 0;
}

void ringd_seeds_close(struct ringd *d)
{
    if (d->seeds != NULL) {
        ringd_close_handle((uv_handle_t *)&d->seeds->timer);
        ringd_close_handle((uv_handle_t *)&d->seeds->warn_timer);
    }
}
