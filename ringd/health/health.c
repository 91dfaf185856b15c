/*
 * health: the app's health check and what follows from it (health.h). One check at a time:
 * the interval timer starts one when the previous connection is closed, the timeout timer
 * ends one that has not read a status line. Only the status line is read; the response is
 * dropped with the connection ("Connection: close"), so a large or endless body costs
 * nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "prom.h"
#include "sbuf.h"

/* The status line we read: "HTTP/1.1 200 OK" fits many times over; a longer first line is
 * not HTTP and fails the check. */
#define HEALTH_LINE_BYTES_MAX 256

struct ringd_health {
    struct ringd *d;
    struct sockaddr_storage app_addr;
    uv_timer_t interval, timeout;
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t wreq;
    int busy;     /* a check's connection is open or closing */
    int stopping; /* the node stops: no new check */
    char req[RINGD_APP_HEALTH_PATH_BYTES_MAX + RINGD_HOST_BYTES_MAX + 128];
    size_t req_len;
    char line[HEALTH_LINE_BYTES_MAX];
    size_t line_len;
    uint32_t fails_in_row;
    uint64_t last_fail_ms;
    uint64_t checks_ok, checks_failed, drains;
    int last_status; /* the last status line's code, 0 for none */
};

static void check_closed(uv_handle_t *h)
{
    struct ringd_health *hc = h->data;
    hc->busy = 0;
}

static void set_state(struct ringd_health *hc, int state, const char *event, unsigned drain)
{
    struct ringd *d = hc->d;
    char status[8], fails[12];
    snprintf(status, sizeof(status), "%d", hc->last_status);
    snprintf(fails, sizeof(fails), "%u", hc->fails_in_row);
    d->app_health = state;
    ringd_log(&d->log, state == RINGD_APP_UNHEALTHY ? RINGD_LOG_WARN : RINGD_LOG_INFO, event,
              "path", d->cfg.app_health_path, "status", status, "failures", fails, NULL);
    hc->drains += drain && !ringd_draining(d);
    (void)ringd_drain_set(d, RINGD_DRAIN_APP, (int)drain);
    if (state == RINGD_APP_HEALTHY) {
        (void)ringd_restart_set(d, RINGD_RESTART_STARTING, 0); /* its keys are served now */
    }
}

/* What a pass or a failure changes: the state machine of health.h. */
static void judge(struct ringd_health *hc, int ok)
{
    struct ringd *d = hc->d;
    uint64_t now = uv_now(d->loop);
    d->app_passing = ok;
    if (!ok) {
        hc->checks_failed++;
        hc->fails_in_row++;
        hc->last_fail_ms = now;
        if (d->app_health == RINGD_APP_HEALTHY && hc->fails_in_row >= d->cfg.app_health_threshold) {
            set_state(hc, RINGD_APP_UNHEALTHY, "app_unhealthy", 1);
        }
        return;
    }
    hc->checks_ok++;
    hc->fails_in_row = 0;
    if (d->app_health == RINGD_APP_STARTING) {
        set_state(hc, RINGD_APP_HEALTHY, "app_healthy", 0);
    } else if (d->app_health == RINGD_APP_UNHEALTHY &&
               now - hc->last_fail_ms >= d->cfg.app_health_holddown_ms) {
        set_state(hc, RINGD_APP_HEALTHY, "app_recovered", 0);
    }
}

static void finish(struct ringd_health *hc, int ok)
{
    if (!hc->busy || uv_is_closing((uv_handle_t *)&hc->tcp)) {
        return;
    }
    uv_timer_stop(&hc->timeout);
    uv_close((uv_handle_t *)&hc->tcp, check_closed);
    if (!hc->stopping) {
        judge(hc, ok);
    }
}

/* "HTTP/1.x NNN": 2xx and 3xx pass, as a kubelet probe's do. */
static int status_of(const char *line, size_t len)
{
    if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ') {
        return 0;
    }
    int code = 0;
    for (int i = 9; i < 12; i++) {
        if (line[i] < '0' || line[i] > '9') {
            return 0;
        }
        code = code * 10 + (line[i] - '0');
    }
    return len == 12 || line[12] == ' ' ? code : 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct ringd_health *hc = h->data;
    (void)suggested;
    *buf = uv_buf_init(hc->line + hc->line_len, (unsigned)(sizeof(hc->line) - hc->line_len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct ringd_health *hc = s->data;
    (void)buf;
    if (nread < 0) {
        finish(hc, 0); /* closed or reset before a status line */
        return;
    }
    hc->line_len += (size_t)nread;
    const char *eol = memchr(hc->line, '\n', hc->line_len);
    if (eol == NULL) {
        if (hc->line_len == sizeof(hc->line)) {
            finish(hc, 0);
        }
        return;
    }
    size_t len = (size_t)(eol - hc->line);
    len -= len > 0 && hc->line[len - 1] == '\r';
    hc->last_status = status_of(hc->line, len);
    finish(hc, hc->last_status >= 200 && hc->last_status < 400);
}

static void on_written(uv_write_t *w, int status)
{
    struct ringd_health *hc = w->data;
    if (status != 0) {
        finish(hc, 0);
    }
}

static void on_connect(uv_connect_t *c, int status)
{
    struct ringd_health *hc = c->data;
    if (status != 0) {
        finish(hc, 0);
        return;
    }
    uv_buf_t b = uv_buf_init(hc->req, (unsigned)hc->req_len);
    if (uv_write(&hc->wreq, (uv_stream_t *)&hc->tcp, &b, 1, on_written) != 0 ||
        uv_read_start((uv_stream_t *)&hc->tcp, on_alloc, on_read) != 0) {
        finish(hc, 0);
    }
}

static void on_timeout(uv_timer_t *t)
{
    struct ringd_health *hc = t->data;
    hc->last_status = 0;
    finish(hc, 0);
}

static void on_interval(uv_timer_t *t)
{
    struct ringd_health *hc = t->data;
    if (hc->busy || hc->stopping) {
        return; /* the last connection is still closing: at most one check at a time */
    }
    hc->busy = 1;
    hc->line_len = 0;
    hc->last_status = 0;
    uv_tcp_init(hc->d->loop, &hc->tcp);
    hc->tcp.data = hc;
    uv_timer_start(&hc->timeout, on_timeout, hc->d->cfg.app_health_timeout_ms, 0);
    if (uv_tcp_connect(&hc->connect, &hc->tcp, (const struct sockaddr *)&hc->app_addr,
                       on_connect) != 0) {
        finish(hc, 0);
    }
}

static void on_stopping(void *ctx)
{
    struct ringd_health *hc = ctx;
    hc->stopping = 1;
    ringd_close_handle((uv_handle_t *)&hc->interval);
    ringd_close_handle((uv_handle_t *)&hc->timeout);
    if (hc->busy) {
        ringd_close_handle((uv_handle_t *)&hc->tcp);
    }
}

static void health_prometheus(void *ctx, struct sbuf *b)
{
    struct ringd_health *hc = ctx;
    const struct ringd *d = hc->d;
    prom_one(b, "ringd_app_healthy", "gauge", "1 while the app passes its health check.",
             d->app_health == RINGD_APP_HEALTHY);
    prom_family(b, "ringd_app_health_checks_total", "counter", "App health checks by result.");
    sbuf_printf(b, "ringd_app_health_checks_total{result=\"pass\"} %llu\n",
                (unsigned long long)hc->checks_ok);
    sbuf_printf(b, "ringd_app_health_checks_total{result=\"fail\"} %llu\n",
                (unsigned long long)hc->checks_failed);
    prom_one(b, "ringd_app_health_drains_total", "counter",
             "Times a failing app health check drained this node.", hc->drains);
}

static void health_stats(void *ctx, msgpack_packer *pk)
{
    struct ringd_health *hc = ctx;
    const struct ringd *d = hc->d;
    static const char *const names[] = { "unchecked", "starting", "healthy", "unhealthy" };
    const char *state = names[d->app_health];
    msgpack_pack_map(pk, 4);
    msgpack_pack_str_with_body(pk, "state", 5);
    msgpack_pack_str_with_body(pk, state, strlen(state));
    msgpack_pack_str_with_body(pk, "checks_passed", 13);
    msgpack_pack_uint64(pk, hc->checks_ok);
    msgpack_pack_str_with_body(pk, "checks_failed", 13);
    msgpack_pack_uint64(pk, hc->checks_failed);
    msgpack_pack_str_with_body(pk, "drains", 6);
    msgpack_pack_uint64(pk, hc->drains);
}

static int resolve_app(struct ringd_health *hc)
{
    const struct ringd_hostport *app = &hc->d->cfg.app;
    char port[8];
    snprintf(port, sizeof(port), "%u", app->port);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    uv_getaddrinfo_t req;
    int rv = uv_getaddrinfo(hc->d->loop, &req, NULL, app->host, port, &hints);
    if (rv != 0) {
        return rv;
    }
    memcpy(&hc->app_addr, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
    return 0;
}

int ringd_health_start(struct ringd *d, struct ringd_health **out)
{
    *out = NULL;
    if (d->cfg.app_health_path[0] == '\0') {
        return 0;
    }
    struct ringd_health *hc = calloc(1, sizeof(*hc));
    if (hc == NULL) {
        return UV_ENOMEM;
    }
    *out = hc; /* from here its callbacks may hold it: freed only after the loop */
    hc->d = d;
    const struct ringd_node_cbs cbs = { .stopping = on_stopping };
    const struct ringd_export ex = {
        .name = "app_health", .prometheus = health_prometheus, .stats = health_stats, .ctx = hc
    };
    int rv = ringd_node_subscribe(d, &cbs, hc);
    if (rv == 0) {
        rv = ringd_node_export(d, &ex);
    }
    if (rv == 0) {
        rv = resolve_app(hc);
    }
    if (rv != 0) {
        ringd_log(&d->log, RINGD_LOG_ERROR, "app_health", "error", uv_strerror(rv), NULL);
        return rv;
    }
    int n = snprintf(hc->req, sizeof(hc->req),
                     "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: ringd-health\r\n"
                     "Accept: */*\r\nConnection: close\r\n\r\n",
                     d->cfg.app_health_path, d->cfg.app.host, d->cfg.app.port);
    hc->req_len = (size_t)n < sizeof(hc->req) ? (size_t)n : sizeof(hc->req) - 1;
    uv_timer_init(d->loop, &hc->interval);
    uv_timer_init(d->loop, &hc->timeout);
    hc->interval.data = hc;
    hc->timeout.data = hc;
    hc->connect.data = hc;
    hc->wreq.data = hc;
    /* Until the app first passes, the node owns no keys: it joins drained. With
     * --delayed-rebalance it joins holding its keys instead (a restarted node's keys never
     * left it; a new node's wait for its app), at most that long (node/restart.c). */
    d->app_health = RINGD_APP_STARTING;
    rv = d->cfg.restart_hold_ms > 0 ? ringd_restart_set(d, RINGD_RESTART_STARTING, 1)
                                    : ringd_drain_set(d, RINGD_DRAIN_APP, 1);
    if (rv == 0) {
        rv = uv_timer_start(&hc->interval, on_interval, 0, d->cfg.app_health_interval_ms);
    }
    return rv;
}

void ringd_health_free(struct ringd_health *hc)
{
    free(hc);
}
