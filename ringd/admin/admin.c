/*
 * admin: the admin HTTP server (default 127.0.0.1:7947): /metrics, /healthz, /livez,
 * /readyz[?verbose], /v1/members, /v1/ring, /v1/lookup?key=K[&n=N]. Requests are read by
 * http.c (GET and HEAD, bounded head); keep-alive is honoured; a bad request gets its status
 * and the connection closes. Every error is JSON, {"code", "message"} as the local API's
 * errors (code: a RING_E* name), whatever the path; every response has a Date.
 *
 * Slow and idle clients. Each connection has one timer for the phase it is in: a request head
 * must arrive whole within --header-timeout of the accept (of its first byte, after a
 * keep-alive wait), however slowly it trickles, as nginx's client_header_timeout and Go's
 * ReadHeaderTimeout; a keep-alive connection may wait --idle-timeout for its next request; an
 * answer must be taken within --send-timeout. When every slot is taken, a new connection
 * closes the one not being answered whose phase began longest ago (an idle keep-alive, or
 * the slowest head; when all are being answered, the answer waiting longest to be read)
 * instead of being refused, so a flood of slow connections never locks a probe out: it only
 * churns among itself.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "accept_pace.h"
#include "escape.h"
#include "evict_log.h"
#include "admin.h"
#include "err.h"
#include "http.h"
#include "list.h"
#include "metrics.h"
#include "prom.h"
#include "ring/error.h"
#include "ring/groups.h"
#include "sbuf.h"
#include "route.h"
#include "unread.h"

/* Connections open at once (a full listener evicts, see above): Prometheus, probes and a few
 * people need a handful. */
#define ADMIN_CONNS_MAX 64
/* The listen backlog (the kernel caps it at net.core.somaxconn). With 64, a connect flood of
 * 16,000 a second on the pod's IP overflowed it, and a kubelet probe's SYN dropped there was
 * retried only after a second: probes took 1-2 s though the loop was answering in
 * milliseconds. */
#define ADMIN_BACKLOG 1024
/* The largest response (a members list of a large cluster). */
#define ADMIN_RESPONSE_BYTES_MAX (32u << 20)
/* The methods every path answers (405 lists them in Allow); /v1/drain also takes POST. */
#define ADMIN_ALLOW       "GET, HEAD"
#define ADMIN_ALLOW_DRAIN "GET, HEAD, POST"
/* How often a waiting drain request checks the node. */
#define ADMIN_DRAIN_POLL_MS 20
/* A drain wait's bound when neither ?timeout= nor --drain-timeout gives one. */
#define ADMIN_DRAIN_WAIT_MS_DEFAULT 20000

struct admin_conn {
    struct ringd_admin *a;
    struct list link; /* in ringd_admin.conns */
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    char in[HTTP_HEAD_BYTES_MAX];
    size_t in_len;
    struct sbuf out;
    int phase;         /* enum admin_phase: what its timer waits for */
    uint64_t phase_ms; /* when that phase began (uv_now) */
    uint64_t heard_ms; /* when the client last sent a byte (or connected) */
    int spoke;         /* the client has sent a byte (read, or seen waiting unread) */
    int keep_alive;
    int writing;
    int closing;
    int handles_open;
    /* GET /v1/drain?wait=1: the answer waits until the node is drained (the idle timer polls
     * meanwhile) or |wait_deadline_ms|. */
    int waiting, wait_head;
    const char *allow; /* the Allow header of a 405 */
    uint64_t wait_deadline_ms;
};

/* A connection's phases, each with its own deadline; also the label of the timeouts. */
enum admin_phase { PHASE_HEAD, PHASE_IDLE, PHASE_SEND, PHASES };
static const char *const phase_names[PHASES] = { "header", "idle", "send" };

/* Admin's state, owned by main.c (ringd_admin_start()); the node's view is read through |d|. */
struct ringd_admin {
    struct ringd *d;
    uv_tcp_t listen;
    struct accept_pace pace;
    struct list conns;
    size_t conn_count;
    uint64_t http_requests;
    uint64_t evictions;
    struct evict_log evict_log;
    uint64_t timeouts[PHASES];
};

static void on_closed(uv_handle_t *h)
{
    struct admin_conn *c = h->data;
    if (--c->handles_open == 0) {
        sbuf_free(&c->out);
        free(c);
    }
}

static void conn_close(struct admin_conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = 1;
    struct ringd_admin *a = c->a;
    list_remove(&c->link);
    a->conn_count--;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
    uv_close((uv_handle_t *)&c->timer, on_closed);
    evict_log_flush(a->d, &a->evict_log, "admin");
}

/* ---- handlers: each writes a body into |b| and returns the status --------------------- */

/* An error body, the shape of the local API's errors: {"code": RING_E* name, "message"}, the
 * name converted from |err| (a negative errno) here, the one place admin packs an error, as the
 * API does (err.h): -ENODATA answers "EEMPTY". Returns |status|. */
static int json_error(struct sbuf *b, int status, int err, const char *message)
{
    /* the wire's name for err */
    const char *code = ring_err_name(ringd_err_to_ring(err));
    sbuf_reset(b);
    sbuf_adds(b, "{\"code\":");
    escape_json(b, code, strlen(code));
    sbuf_adds(b, ",\"message\":");
    escape_json(b, message, strlen(message));
    sbuf_adds(b, "}\n");
    return status;
}

static void json_member(struct ringd *d, struct sbuf *b, const struct member *m)
{
    char addr[RING_ADDR_STRLEN];
    uint32_t idx;
    double share = 0;
    if (d->ring.ring != NULL && hashring_find(d->ring.ring, m->id, m->id_len, &idx) == 0) {
        share = d->ring.shares[idx];
    }
    sbuf_adds(b, "{\"id\":");
    escape_json(b, m->id, m->id_len);
    sbuf_adds(b, ",\"address\":");
    ringd_addr_str(&m->addr, addr);
    escape_json(b, addr, strlen(addr));
    sbuf_printf(b,
                ",\"status\":\"%s\",\"draining\":%s,\"restarting\":%s,\"incarnation\":%llu,"
                "\"weight\":%u,\"group\":",
                member_status_name(m->status),
                (m->flags & MEMBER_FLAG_DRAINING) != 0 ? "true" : "false",
                (m->flags & MEMBER_FLAG_RESTARTING) != 0 ? "true" : "false",
                (unsigned long long)m->incarnation, m->weight);
    escape_json(b, m->group, m->group_len);
    sbuf_adds(b, ",\"labels\":{");
    for (size_t i = 0; i < m->label_count; i++) {
        sbuf_adds(b, i > 0 ? "," : "");
        escape_json(b, m->labels[i].key, m->labels[i].key_len);
        sbuf_adds(b, ":");
        escape_json(b, m->labels[i].value, m->labels[i].value_len);
    }
    sbuf_printf(b, "},\"share\":%.6f}", share);
}

static int h_members(struct ringd_admin *a, const struct http_request *req, struct sbuf *b)
{
    (void)req;
    struct ringd *d = a->d;
    const struct members *t = swim_members(d->swim);
    sbuf_adds(b, "{\"members\":[");
    for (size_t i = 0; i < members_count(t); i++) {
        struct member m;
        members_get(t, i, &m);
        sbuf_adds(b, i > 0 ? "," : "");
        json_member(d, b, &m);
    }
    sbuf_adds(b, "]}\n");
    return 200;
}

static int h_ring(struct ringd_admin *a, const struct http_request *req, struct sbuf *b)
{
    (void)req;
    struct ringd *d = a->d;
    const struct hashring *r = d->ring.ring;
    if (r == NULL) {
        return json_error(b, 503, UV_EAGAIN, "the ring is not built yet");
    }
    /* checksums in JSON are 16 hex digits in a string, as ringctl shows them: a JSON number
     * above 2^53 loses digits in JavaScript and jq */
    sbuf_printf(b,
                "{\"checksum\":\"%016llx\",\"ring_checksum\":\"%016llx\",\"vnodes\":%u,"
                "\"points\":%zu,\"members\":[",
                (unsigned long long)d->ring.checksum, (unsigned long long)d->ring.checksum,
                hashring_vnodes(r), hashring_point_count(r));
    for (uint32_t i = 0; i < hashring_member_count(r); i++) {
        const struct hashring_member *m = hashring_member(r, i);
        char addr[RING_ADDR_STRLEN];
        sbuf_adds(b, i > 0 ? ",{\"id\":" : "{\"id\":");
        escape_json(b, m->id, m->id_len);
        ringd_addr_str(&d->ring.addrs[i], addr);
        sbuf_adds(b, ",\"address\":");
        escape_json(b, addr, strlen(addr));
        sbuf_printf(b, ",\"weight\":%u,\"share\":%.6f}", m->weight, d->ring.shares[i]);
    }
    sbuf_adds(b, "]}\n");
    return 200;
}

/* One routed answer's fields, the first preceded by |lead| ("," or ""): shard, group and
 * local when they apply, id, address (the local API's lookup map). */
static void lookup_fields(struct sbuf *b, const struct ringd_route *r, const char *lead)
{
    char addr[RING_ADDR_STRLEN];
    ringd_addr_str(&r->addr, addr);
    if (r->placed.shard != UINT32_MAX) {
        sbuf_printf(b, "%s\"shard\":%u,", lead, r->placed.shard);
        lead = "";
    }
    if (r->group != NULL) {
        sbuf_printf(b, "%s\"group\":", lead);
        escape_json(b, r->group, r->group_len);
        sbuf_adds(b, r->local ? ",\"local\":true," : ",\"local\":false,");
        lead = "";
    }
    sbuf_printf(b, "%s\"id\":", lead);
    escape_json(b, r->id, r->id_len);
    sbuf_adds(b, ",\"address\":");
    escape_json(b, addr, strlen(addr));
}

/* Owner |i| of a lookup_n route: the i-th replica in this node's ring, or the contact of
 * another group (its one answer). */
static void route_owner(struct ringd *d, const struct ringd_route *r, const uint32_t *owners, int i,
                        struct ringd_route *out)
{
    *out = *r;
    if (r->local) {
        const struct hashring_member *m = hashring_member(d->ring.ring, owners[i]);
        out->owner = owners[i];
        out->addr = d->ring.addrs[owners[i]];
        out->id = m->id;
        out->id_len = m->id_len;
    }
}

/* ?n=N: 1..HASHRING_REPLICAS_MAX, 1 when absent; 0 when malformed. */
static size_t lookup_n(const struct http_request *req)
{
    char v[8];
    int len = http_query_param(req->query, "n", v, sizeof(v));
    if (len == UV_ENOENT) {
        return 1;
    }
    char *end = v;
    long n = len > 0 && v[0] >= '0' && v[0] <= '9' ? strtol(v, &end, 10) : 0;
    return n >= 1 && n <= HASHRING_REPLICAS_MAX && *end == '\0' ? (size_t)n : 0;
}

/* /v1/lookup?key=K[&n=N]: {"key", the primary's fields, "owners": [N answers in ring order]},
 * the shape of `ringctl lookup --json` with or without -n. */
static int h_lookup(struct ringd_admin *a, const struct http_request *req, struct sbuf *b)
{
    struct ringd *d = a->d;
    char key[HTTP_TARGET_BYTES_MAX + 1];
    int len = http_query_param(req->query, "key", key, sizeof(key));
    if (len < 0) {
        return json_error(b, 400, UV_EINVAL, "missing or malformed ?key=");
    }
    size_t n = lookup_n(req);
    if (n == 0) {
        return json_error(b, 400, UV_ERANGE, "n must be an integer from 1 to 64");
    }
    uint32_t owners[HASHRING_REPLICAS_MAX];
    struct ringd_route r, one;
    int count = ringd_route_n(d, key, (size_t)len, n, owners, &r);
    if (count < 0) {
        return json_error(b, 503, count, ringd_route_strerror(count));
    }
    sbuf_adds(b, "{\"key\":");
    escape_json(b, key, (size_t)len);
    route_owner(d, &r, owners, 0, &one);
    lookup_fields(b, &one, ",");
    sbuf_adds(b, ",\"owners\":[");
    for (int i = 0; i < count; i++) {
        route_owner(d, &r, owners, i, &one);
        sbuf_adds(b, i > 0 ? ",{" : "{");
        lookup_fields(b, &one, "");
        sbuf_adds(b, "}");
    }
    sbuf_adds(b, "]}\n");
    return 200;
}

static int h_metrics(struct ringd_admin *a, const struct http_request *req, struct sbuf *b)
{
    (void)req;
    ringd_metrics_text(a->d, b, a->http_requests);
    return 200;
}

static int h_healthz(struct ringd_admin *a, const struct http_request *req, struct sbuf *b)
{
    (void)req;
    (void)a;
    sbuf_adds(b, "ok\n");
    return 200;
}

/* /readyz's checks, in /readyz?verbose's order; ringd_ready() is their conjunction. */
struct ready_check {
    const char *name;
    int ok;
    const char *why;   /* ?verbose's line */
    const char *brief; /* "not ready: ..." */
};

#define READY_CHECKS 6

static size_t ready_checks(struct ringd *d, struct ready_check *c)
{
    struct ringd_readiness r;
    ringd_readiness(d, &r);
    const char *app_why =
        d->app_health == RINGD_APP_STARTING ? "the app has not passed its health check yet"
        : d->app_passing ? "the app passes again; its keys come back once it has passed for "
                           "--app-health-holddown"
                         : "the app fails its health check";
    const struct ready_check all[] = {
        { "joined", r.joined, "no seed has answered yet", "not joined yet" },
        { "not_leaving", !r.leaving, "this node is leaving", "leaving" },
        { "ring_built", d->ring.ring != NULL, "the ring is not built yet",
          "the ring is not built yet" },
        { "groups_known", d->groups == NULL || groups_ready(d->groups),
          "the groups its peers know are not all known yet", "the ring is not built yet" },
        { "not_draining", !r.draining,
          r.restarting ? "this node holds its keys for a restart: requests for them wait"
                       : "this node is draining: it owns no keys",
          r.restarting ? "restarting" : "draining" },
        { "app_healthy", !r.app_checked || r.app_healthy, app_why, "the app is not healthy" },
    };
    _Static_assert(sizeof(all) / sizeof(all[0]) == READY_CHECKS, "READY_CHECKS");
    memcpy(c, all, sizeof(all));
    return RING_ARRAY_LEN(all);
}
/* 1 when the query names |check| in an exclude= parameter (Kubernetes' own /readyz takes
 * ?exclude=NAME, repeatable): a startup probe that must not wait for the app excludes
 * app_healthy and not_draining. */
static int excluded(const char *query, const char *check)
{
    size_t len = strlen(check);
    for (const char *p = query; *p != '\0';) {
        size_t n = strcspn(p, "&");
        if (n == 8 + len && memcmp(p, "exclude=", 8) == 0 && memcmp(p + 8, check, len) == 0) {
            return 1;
        }
        p += n + (p[n] == '&');
    }
    return 0;
}

/* Kubernetes' own warning for exclude= names that match no check ("warn: some health checks
 * cannot be excluded: no matches for ..."), so a typo in a probe's path shows. Names are
 * shown only when they are plain (lowercase letters, digits, '_'). */
static void warn_unknown_excludes(const char *query, const struct ready_check *c, size_t n,
                                  struct sbuf *b)
{
    int any = 0;
    for (const char *p = query; *p != '\0';) {
        size_t len = strcspn(p, "&");
        if (len >= 8 && memcmp(p, "exclude=", 8) == 0) {
            const char *name = p + 8;
            size_t name_len = len - 8, k = 0;
            while (k < n &&
                   !(strlen(c[k].name) == name_len && memcmp(c[k].name, name, name_len) == 0)) {
                k++;
            }
            int plain = name_len > 0 && name_len <= 32 &&
                        strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") >= name_len;
            if (k == n) {
                sbuf_adds(b, any ? ", "
                                 : "warn: some health checks cannot be excluded: no "
                                   "matches for ");
                if (plain) {
                    sbuf_printf(b, "\"%.*s\"", (int)name_len, name);
                } else {
                    sbuf_adds(b, "(a name that is not a check)");
                }
                any = 1;
            }
        }
        p += len + (p[len] == '&');
    }
    if (any) {
        sbuf_adds(b, "\n");
    }
}

/* /readyz[?verbose][&exclude=NAME...]: the checks' conjunction, less the excluded ones; with
 * verbose, one line per check as Kubernetes' own /readyz?verbose writes them ("[+]name ok",
 * "[-]name failed: why", "[+]name excluded: ok"). */
static int h_readyz(struct ringd_admin *a, const struct http_request *req, struct sbuf *b)
{
    struct ringd *d = a->d;
    char v[8];
    int verbose = http_query_param(req->query, "verbose", v, sizeof(v)) >= 0;
    struct ready_check c[READY_CHECKS];
    size_t n = ready_checks(d, c);
    const char *first_failed = NULL;
    /* The brief reason names the most telling failure: leaving before everything else. */
    static const int order[READY_CHECKS] = { 1, 0, 2, 3, 4, 5 };
    for (size_t k = 0; k < n; k++) {
        const struct ready_check *ck = &c[order[k]];
        if (!ck->ok && !excluded(req->query, ck->name) && first_failed == NULL) {
            first_failed = ck->brief;
        }
    }
    for (size_t i = 0; i < n && verbose; i++) {
        if (excluded(req->query, c[i].name)) {
            sbuf_printf(b, "[+]%s excluded: ok\n", c[i].name);
        } else if (c[i].ok) {
            sbuf_printf(b, "[+]%s ok\n", c[i].name);
        } else {
            sbuf_printf(b, "[-]%s failed: %s\n", c[i].name, c[i].why);
        }
    }
    if (verbose) {
        warn_unknown_excludes(req->query, c, n, b);
    }
    if (first_failed == NULL) {
        sbuf_adds(b, verbose ? "readyz check passed\n" : "ready\n");
        return 200;
    }
    if (verbose) {
        sbuf_adds(b, "readyz check failed\n");
    } else {
        sbuf_printf(b, "not ready: %s\n", first_failed);
    }
    return 503;
}

/* ---- /v1/drain ------------------------------------------------------------------------ */

/* The node's drain state as JSON. */
static void drain_state(struct ringd *d, struct sbuf *b)
{
    sbuf_printf(b,
                "{\"draining\":%s,\"restarting\":%s,\"drained\":%s,\"in_flight\":%zu,"
                "\"leaving\":%s}\n",
                ringd_draining(d) ? "true" : "false", ringd_restarting(d) ? "true" : "false",
                ringd_drained(d) ? "true" : "false", ringd_in_flight(d),
                d->leaving || d->shutting_down ? "true" : "false");
}

/* 1 when |name| is in the query as "1", "true" or alone; 0 when absent, "0" or "false";
 * UV_EINVAL for any other value. */
static int query_flag(const struct http_request *req, const char *name)
{
    char v[8];
    int n = http_query_param(req->query, name, v, sizeof(v));
    if (n == UV_ENOENT) {
        return 0;
    }
    /* compared with the decoded length: a %00 inside is not the end of the value */
    size_t len = n > 0 ? (size_t)n : 0;
    if (n == 0 || (len == 1 && v[0] == '1') || (len == 4 && memcmp(v, "true", 4) == 0)) {
        return 1; /* ?wait alone, as Kubernetes' ?verbose */
    }
    return (len == 1 && v[0] == '0') || (len == 5 && memcmp(v, "false", 5) == 0) ? 0 : UV_EINVAL;
}

/* ?timeout=D, else --drain-timeout, else the default. Returns 0 or UV_EINVAL. */
static int drain_wait_ms(struct ringd *d, const struct http_request *req, uint32_t *out)
{
    char v[32];
    int n = http_query_param(req->query, "timeout", v, sizeof(v));
    if (n == UV_ENOENT) {
        *out = d->cfg.drain_timeout_ms != 0 ? d->cfg.drain_timeout_ms : ADMIN_DRAIN_WAIT_MS_DEFAULT;
        return 0;
    }
    return n >= 0 && ringd_duration_parse(v, out) == 0 ? 0 : UV_EINVAL;
}

/* 0 when every parameter of |query| is one of /v1/drain's, each given once, else UV_EINVAL: a
 * typo (Restart=1) would otherwise drain where a restart was meant. */
static int drain_params_known(const char *query)
{
    static const char *const names[] = { "wait", "cancel", "restart", "timeout" };
    unsigned seen = 0;
    for (const char *p = query; *p != '\0';) {
        size_t len = strcspn(p, "&");
        size_t name_len = strcspn(p, "=&");
        unsigned bit = 0;
        for (size_t i = 0; i < RING_ARRAY_LEN(names); i++) {
            if (strlen(names[i]) == name_len && memcmp(p, names[i], name_len) == 0) {
                bit = 1u << i;
            }
        }
        if (bit == 0 || (seen & bit) != 0) {
            return UV_EINVAL;
        }
        seen |= bit;
        p += len + (p[len] == '&');
    }
    return 0;
}

/*
 * GET without wait: the drain state, changing nothing. GET ?wait=1 (the preStop hook, since
 * a kubelet httpGet hook can only GET) and POST: drain; with wait, answer once drained (200)
 * or at the timeout (503). POST ?cancel=1 ends an operator's drain (or restart). With
 * ?restart=1 (--delayed-rebalance) the node announces a restart instead: it keeps its keys,
 * others hold requests for them, and "drained" means it may stop. HEAD: the state only.
 * Returns the status, or 0 when the answer waits (|*wait_ms| set).
 */
static int h_drain(struct ringd *d, const struct http_request *req, struct sbuf *b,
                   uint32_t *wait_ms)
{
    int post = strcmp(req->method, "POST") == 0;
    int get = strcmp(req->method, "GET") == 0;
    int wait = query_flag(req, "wait"), cancel = query_flag(req, "cancel");
    int restart = query_flag(req, "restart");
    if (drain_params_known(req->query) != 0) {
        return json_error(b, 400, UV_EINVAL,
                          "parameters: only wait, cancel, restart and timeout, each at most once");
    }
    if (drain_wait_ms(d, req, wait_ms) != 0) {
        return json_error(b, 400, UV_EINVAL, "timeout: expected a duration, e.g. 10s");
    }
    if (wait < 0 || cancel < 0 || restart < 0) {
        return json_error(b, 400, UV_EINVAL,
                          wait < 0     ? "wait: expected 1 or 0 (true or false)"
                          : cancel < 0 ? "cancel: expected 1 or 0 (true or false)"
                                       : "restart: expected 1 or 0 (true or false)");
    }
    if (post && cancel) {
        (void)ringd_drain_set(d, RINGD_DRAIN_OPERATOR, 0);
        (void)ringd_restart_set(d, RINGD_RESTART_OPERATOR, 0);
        drain_state(d, b);
        return 200;
    }
    if (post || (get && wait)) {
        int rv = restart ? ringd_restart_set(d, RINGD_RESTART_OPERATOR, 1)
                         : ringd_drain_set(d, RINGD_DRAIN_OPERATOR, 1);
        if (rv == UV_EALREADY) {
            /* a drained node has no keys to hold: the preStop hook waits for its drain */
            rv = ringd_drain_set(d, RINGD_DRAIN_OPERATOR, 1);
        }
        if (rv == UV_ENOTSUP) {
            return json_error(b, 409, UV_EINVAL,
                              "restart: this node runs without --delayed-rebalance, so its keys "
                              "would not be held");
        }
        if (rv != 0) {
            return json_error(b, 409, UV_EINVAL, "this node is leaving");
        }
        if (wait && !ringd_drained(d)) {
            return 0;
        }
    }
    drain_state(d, b);
    return 200;
}

typedef int (*handler_fn)(struct ringd_admin *a, const struct http_request *req, struct sbuf *b);

static const struct {
    const char *path;
    const char *type;
    handler_fn fn;
} routes[] = {
    { "/metrics", "text/plain; version=0.0.4; charset=utf-8", h_metrics },
    { "/healthz", "text/plain; charset=utf-8", h_healthz },
    { "/livez", "text/plain; charset=utf-8", h_healthz },
    { "/readyz", "text/plain; charset=utf-8", h_readyz },
    { "/v1/members", "application/json", h_members },
    { "/v1/ring", "application/json", h_ring },
    { "/v1/lookup", "application/json", h_lookup },
};

/* ---- connection ----------------------------------------------------------------------- */

/* The Date header's value (RFC 9110 IMF-fixdate), e.g. "Tue, 02 Dec 2026 17:12:04 GMT". */
static void http_date(char *buf, size_t cap)
{
    static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(buf, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The response to a request; a HEAD gets the same head with no body. */
static void respond(struct admin_conn *c, int status, const char *type, const struct sbuf *body,
                    int head)
{
    sbuf_reset(&c->out);
    const char *data = body->data != NULL ? body->data : "";
    size_t len = body->len;
    if (body->failed) {
        status = 500;
        type = "application/json";
        data = "{\"code\":\"E2BIG\",\"message\":\"response too large\"}\n";
        len = strlen(data);
    }
    char date[40];
    http_date(date, sizeof(date));
    sbuf_printf(&c->out,
                "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                "%s%s%sConnection: %s\r\n\r\n",
                status, http_reason(status), date, type, len, status == 405 ? "Allow: " : "",
                status == 405 ? c->allow : "", status == 405 ? "\r\n" : "",
                c->keep_alive ? "keep-alive" : "close");
    if (!head) {
        sbuf_add(&c->out, data, len);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void handle(struct admin_conn *c);
static void send_out(struct admin_conn *c);

/* A waiting drain request: answer once drained, cancelled, or out of time. */
static void on_drain_poll(uv_timer_t *t)
{
    struct admin_conn *c = t->data;
    struct ringd *d = c->a->d;
    int drained = ringd_drained(d);
    if (!drained && (ringd_draining(d) || ringd_restarting(d)) &&
        uv_now(d->loop) < c->wait_deadline_ms) {
        return;
    }
    c->waiting = 0; /* send_out() arms the send deadline */
    struct sbuf body;
    sbuf_init(&body, ADMIN_RESPONSE_BYTES_MAX);
    drain_state(d, &body);
    respond(c, drained ? 200 : 503, "application/json", &body, c->wait_head);
    sbuf_free(&body);
    send_out(c);
}

static void wait_drained(struct admin_conn *c, uint32_t wait_ms, int head)
{
    c->waiting = 1;
    c->wait_head = head;
    c->wait_deadline_ms = uv_now(c->a->d->loop) + wait_ms;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_start(&c->timer, on_drain_poll, ADMIN_DRAIN_POLL_MS, ADMIN_DRAIN_POLL_MS);
}

static void on_deadline(uv_timer_t *t);

/* Enters |phase| and arms its deadline. */
static void set_phase(struct admin_conn *c, enum admin_phase phase)
{
    const struct ringd_config *cfg = &c->a->d->cfg;
    uint64_t ms = phase == PHASE_HEAD   ? cfg->header_timeout_ms
                  : phase == PHASE_IDLE ? cfg->proxy_idle_timeout_ms
                                        : cfg->send_timeout_ms;
    c->phase = phase;
    c->phase_ms = uv_now(c->a->d->loop);
    uv_timer_start(&c->timer, on_deadline, ms, 0);
}

static void on_deadline(uv_timer_t *t)
{
    struct admin_conn *c = t->data;
    c->a->timeouts[c->phase]++;
    conn_close(c);
}

static void on_written(uv_write_t *w, int status)
{
    struct admin_conn *c = w->data;
    c->writing = 0;
    if (c->closing) {
        return;
    }
    if (status != 0 || !c->keep_alive) {
        conn_close(c);
        return;
    }
    /* the next request's deadline runs from its first byte; one already buffered (pipelined)
     * has had its chance */
    set_phase(c, c->in_len > 0 ? PHASE_HEAD : PHASE_IDLE);
    handle(c); /* a pipelined request may already be buffered */
    if (!c->closing && !c->writing && !c->waiting &&
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
    }
}

static void send_out(struct admin_conn *c)
{
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    c->writing = 1;
    set_phase(c, PHASE_SEND);
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        c->writing = 0;
        conn_close(c);
    }
}

/* A request http.c refused (|rv|, http.h's codes), as an error body; returns its status. */
static int request_error(struct sbuf *b, int rv)
{
    if (rv == UV_EINVAL) {
        return json_error(b, 405, rv, "only GET and HEAD are served here (and POST on /v1/drain)");
    }
    if (rv == UV_EMSGSIZE) {
        return json_error(b, 431, rv, "request head too large");
    }
    if (rv == UV_ERANGE) {
        return json_error(b, 414, UV_EMSGSIZE, "request target longer than 2048 bytes");
    }
    if (rv == UV_E2BIG) {
        return json_error(b, 400, UV_EPROTO,
                          "admin reads no request body: send none (or Content-Length: 0)");
    }
    return json_error(b, 400, UV_EPROTO, "malformed HTTP request");
}

static void handle(struct admin_conn *c)
{
    struct http_request req;
    int rv = http_parse_request(c->in, c->in_len, &req);
    if (rv == 0) {
        return;
    }
    struct ringd_admin *a = c->a;
    struct ringd *d = a->d;
    a->http_requests++;
    evict_log_flush(d, &a->evict_log, "admin");
    struct sbuf body;
    sbuf_init(&body, ADMIN_RESPONSE_BYTES_MAX);
    int status = 404;
    const char *type = "text/plain; charset=utf-8";
    int head = 0;
    c->allow = ADMIN_ALLOW;
    if (rv < 0) {
        /* UV_EINVAL (a method not served) comes after the target was read. */
        if (rv == UV_EINVAL && strcmp(req.path, "/v1/drain") == 0) {
            c->allow = ADMIN_ALLOW_DRAIN;
        }
        c->keep_alive = 0;
        status = request_error(&body, rv);
        type = "application/json";
    } else {
        head = strcmp(req.method, "HEAD") == 0;
        c->keep_alive = req.keep_alive;
        memmove(c->in, c->in + rv, c->in_len - (size_t)rv);
        c->in_len -= (size_t)rv;
        int drain = strcmp(req.path, "/v1/drain") == 0;
        c->allow = drain ? ADMIN_ALLOW_DRAIN : ADMIN_ALLOW;
        if (strcmp(req.method, "POST") == 0 && !drain) {
            status = json_error(&body, 405, UV_EINVAL, "only GET and HEAD are served here");
        } else if (drain) {
            uint32_t wait_ms = 0;
            type = "application/json";
            status = h_drain(d, &req, &body, &wait_ms);
            if (status == 0) {
                sbuf_free(&body);
                wait_drained(c, wait_ms, head);
                return;
            }
        }
        for (size_t i = 0; i < RING_ARRAY_LEN(routes) && status == 404 && body.len == 0; i++) {
            if (strcmp(req.path, routes[i].path) == 0) {
                type = routes[i].type;
                status = routes[i].fn(a, &req, &body);
            }
        }
        if (status == 404 && body.len == 0) {
            json_error(&body, 404, UV_ENOENT,
                       "not found; try /metrics /healthz /livez /readyz /v1/members /v1/ring "
                       "/v1/lookup?key=K /v1/drain");
        }
        if (status >= 400 && body.len > 0 && body.data[0] == '{') {
            type = "application/json"; /* every error is JSON, whatever the path */
        }
    }
    respond(c, status, type, &body, head);
    sbuf_free(&body);
    send_out(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct admin_conn *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(sizeof(c->in) - c->in_len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct admin_conn *c = s->data;
    (void)buf;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread > 0 && c->phase == PHASE_IDLE) {
        set_phase(c, PHASE_HEAD); /* the first byte of the next request: its deadline starts */
    }
    if (nread > 0) {
        c->heard_ms = uv_now(c->a->d->loop);
        c->spoke = 1;
    }
    c->in_len += (size_t)nread;
    handle(c);
}

/* How long |c| has kept its slot without the client doing its part: a head since it began
 * (trickled bytes do not count), else since the client last sent a byte, so an idle
 * keep-alive and a client that pipelined requests and takes no answer age alike, while a
 * client whose request just arrived is young whatever its answer's phase. */
static uint64_t conn_since(const struct admin_conn *c)
{
    return c->phase == PHASE_HEAD ? c->phase_ms : c->heard_ms;
}

/* A connection silent, or in its head, for less than this is no flood's yet: it may be a probe
 * whose request is on its way or being read, and is ranked among the others by its age. */
#define ADMIN_GRACE_MS 200

/* Higher goes first: 4 silent past ADMIN_GRACE_MS; 3 stuck in a head past it (a flood of single
 * bytes); 2 the others (idle keep-alive, unread answers, fresh), by conn_since(); 1 a request
 * that has arrived and waits to be read (unread.h: a probe accepted with a flood); 0 a drain
 * waiter. */
static int eviction_rank(const struct admin_conn *c)
{
    uint64_t now = uv_now(c->a->d->loop);
    if (c->waiting) {
        return 0;
    }
    if (!c->spoke) {
        return now - c->heard_ms >= ADMIN_GRACE_MS ? 4 : 2;
    }
    if (c->phase == PHASE_HEAD && c->in_len == 0) {
        return 1;
    }
    return c->phase == PHASE_HEAD && now - c->phase_ms >= ADMIN_GRACE_MS ? 3 : 2;
}

/* The connection to close for a new one when every slot is taken, by what has been read from
 * each (eviction_rank(), higher first): one whose client never spoke, then one in a request
 * head (a flood of single bytes goes before idle keep-alive clients), each after
 * ADMIN_GRACE_MS (before, a probe's request may still be on its way), then the others; among
 * equals the one that has kept its slot longest without doing its part (conn_since(); then
 * the one accepted first, the list running newest first), so a probe that just arrived is
 * never the one while older connections hold slots, and clients that ask and never read cannot
 * hold every slot. A preStop hook waiting for the drain goes last. */
static struct admin_conn *pick_victim(struct ringd_admin *a)
{
    struct admin_conn *victim = NULL;
    for (struct list *it = a->conns.next; it != &a->conns; it = it->next) {
        struct admin_conn *c = list_entry(it, struct admin_conn, link);
        int rank = eviction_rank(c);
        if (victim == NULL || rank > eviction_rank(victim) ||
            (rank == eviction_rank(victim) && conn_since(c) <= conn_since(victim))) {
            victim = c;
        }
    }
    return victim;
}

/* pick_victim(), but a client whose request waits unread in its socket has spoken (unread.h:
 * a probe accepted in the same burst as a flood): it is marked so and another is picked. Each
 * connection is looked at in the kernel once at most. */
static struct admin_conn *eviction_victim(struct ringd_admin *a)
{
    for (;;) {
        struct admin_conn *victim = pick_victim(a);
        uv_os_fd_t fd;
        if (victim == NULL || victim->spoke ||
            uv_fileno((const uv_handle_t *)&victim->tcp, &fd) != 0 || !ringd_has_unread(fd)) {
            return victim;
        }
        victim->spoke = 1;
    }
}

/* Reads and answers what the client sent before it was accepted: in a burst, dozens are
 * accepted before the loop reads any, and a probe among them whose request waited unread
 * was only one more of the oldest, closed with the burst's first (7 probes in 10 made after
 * the 20th of 100 connections that each pipelined requests). Answered, it is an idle
 * keep-alive: if it goes now, its answer is already on its way and it closes cleanly. */
static void read_waiting(struct admin_conn *c)
{
    uv_os_fd_t fd;
    /* not before the first ring, built at the end of the loop's first turn (api.c) */
    if (c->a->d->ring.ring == NULL || uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0) {
        return;
    }
    ssize_t n = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
    if (n > 0) {
        uv_buf_t buf = uv_buf_init(c->in + c->in_len, (unsigned)n);
        on_read((uv_stream_t *)&c->tcp, n, &buf);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct ringd_admin *a = server->data;
    struct ringd *d = a->d;
    if (status != 0 || accept_pace_wait(&a->pace)) {
        return;
    }
    struct admin_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return;
    }
    c->a = a;
    sbuf_init(&c->out, ADMIN_RESPONSE_BYTES_MAX + 1024);
    uv_tcp_init(d->loop, &c->tcp);
    uv_timer_init(d->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->wreq.data = c;
    c->handles_open = 2;
    struct admin_conn *victim = a->conn_count >= ADMIN_CONNS_MAX ? eviction_victim(a) : NULL;
    if (victim != NULL) {
        a->evictions++;
        evict_log_note(d, &a->evict_log, "admin");
        conn_close(victim);
    }
    c->allow = ADMIN_ALLOW;
    list_push(&a->conns, &c->link);
    a->conn_count++;
    set_phase(c, PHASE_HEAD);
    c->heard_ms = c->phase_ms;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || a->conn_count > ADMIN_CONNS_MAX ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
        return;
    }
    read_waiting(c);
}

/* The node stops: the listener and every connection close, so the loop can end. */
static void on_stopping(void *ctx)
{
    struct ringd_admin *a = ctx;
    while (!list_empty(&a->conns)) {
        conn_close(list_entry(a->conns.next, struct admin_conn, link));
    }
    accept_pace_close(&a->pace);
    ringd_close_handle((uv_handle_t *)&a->listen);
}

/* Admin's listener families (a node export). */
static void prometheus(void *ctx, struct sbuf *b)
{
    struct ringd_admin *a = ctx;
    prom_one(b, "ringd_admin_connections", "gauge", "Open admin HTTP connections.", a->conn_count);
    prom_one(b, "ringd_admin_evictions_total", "counter",
             "Admin HTTP connections closed to make room for a new one (every slot taken).",
             a->evictions);
    prom_family(b, "ringd_admin_timeouts_total", "counter",
                "Admin HTTP connections closed at a deadline, by phase: header (a request head "
                "not whole within --header-timeout), idle (--idle-timeout), send (an answer not "
                "taken within --send-timeout).");
    for (size_t i = 0; i < PHASES; i++) {
        sbuf_printf(b, "ringd_admin_timeouts_total{phase=\"%s\"} %llu\n", phase_names[i],
                    (unsigned long long)a->timeouts[i]);
    }
}

uint32_t ringd_admin_fds_max(void)
{
    return ADMIN_CONNS_MAX + 1;
}

int ringd_admin_start(struct ringd *d, struct ringd_admin **out)
{
    struct ringd_admin *a = calloc(1, sizeof(*a));
    *out = a;
    if (a == NULL) {
        return UV_ENOMEM;
    }
    a->d = d;
    list_init(&a->conns);
    const struct ringd_node_cbs cbs = { .stopping = on_stopping };
    const struct ringd_export ex = { .prometheus = prometheus, .ctx = a };
    int rv = ringd_node_subscribe(d, &cbs, a);
    if (rv == 0) {
        rv = ringd_node_export(d, &ex);
    }
    if (rv != 0) {
        return rv;
    }
    struct sockaddr_storage ss;
    rv = ringd_bind_sockaddr(d, &d->cfg.admin, &ss);
    uv_tcp_init(d->loop, &a->listen);
    a->listen.data = a;
    accept_pace_init(d->loop, &a->pace, (uv_stream_t *)&a->listen, on_connection);
    if (rv == 0) {
        rv = uv_tcp_bind(&a->listen, (const struct sockaddr *)&ss, 0);
    }
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&a->listen, ADMIN_BACKLOG, on_connection);
    }
    char port[8];
    snprintf(port, sizeof(port), "%u", d->cfg.admin.port);
    if (rv != 0) {
        ringd_log(&d->log, RINGD_LOG_ERROR, "listen", "what", "admin http", "address",
                  d->cfg.admin.host, "port", port, "error", uv_strerror(rv), NULL);
        return rv;
    }
    ringd_log(&d->log, RINGD_LOG_INFO, "listen", "what", "admin http", "address", d->cfg.admin.host,
              "port", port, NULL);
    return 0;
}

void ringd_admin_free(struct ringd_admin *a)
{
    free(a);
}
