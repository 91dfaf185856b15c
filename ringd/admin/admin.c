/*
 * admin: the admin HTTP server (default 127.0.0.1:7947): /metrics, /healthz, /readyz,
 * /v1/members, /v1/ring, /v1/lookup?key=K. Requests are read by http.c (GET only, bounded
 * head); keep-alive is honoured; a bad request gets its status and the connection closes.
 */
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "admin.h"
#include "http.h"
#include "metrics.h"
#include "ring/error.h"
#include "sbuf.h"
#include "route.h"

/* An idle or slow connection is closed after this long. */
#define ADMIN_IDLE_MS 30000
/* Connections open at once. */
#define ADMIN_CONNS_MAX 64
/* The largest response (a members list of a large cluster). */
#define ADMIN_RESPONSE_BYTES_MAX (32u << 20)

struct admin_conn {
    struct ringd *d;
    struct admin_conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    char in[HTTP_HEAD_BYTES_MAX];
    size_t in_len;
    struct sbuf out;
    int keep_alive;
    int writing;
    int closing;
    int handles_open;
};

struct ringd_admin {
    uv_tcp_t listen;
    struct admin_conn *conns;
    size_t conn_count;
    uint64_t http_requests;
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
    struct ringd_admin *a = c->d->admin;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        a->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    a->conn_count--;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
    uv_close((uv_handle_t *)&c->timer, on_closed);
}

/* ---- handlers: each writes a body into |b| and returns the status --------------------- */

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
    sbuf_printf(b, ",\"status\":\"%s\",\"incarnation\":%llu,\"weight\":%u,\"labels\":{",
                member_status_name(m->status), (unsigned long long)m->incarnation, m->weight);
    for (size_t i = 0; i < m->label_count; i++) {
        sbuf_adds(b, i > 0 ? "," : "");
        escape_json(b, m->labels[i].key, m->labels[i].key_len);
        sbuf_adds(b, ":");
        escape_json(b, m->labels[i].value, m->labels[i].value_len);
    }
    sbuf_printf(b, "},\"share\":%.6f}", share);
}

static int h_members(struct ringd *d, const struct http_request *req, struct sbuf *b)
{
    (void)req;
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

static int h_ring(struct ringd *d, const struct http_request *req, struct sbuf *b)
{
    (void)req;
    const struct hashring *r = d->ring.ring;
    if (r == NULL) {
        sbuf_adds(b, "{\"error\":\"the ring is not built yet\"}\n");
        return 503;
    }
    sbuf_printf(b, "{\"checksum\":%llu,\"vnodes\":%u,\"points\":%zu,\"members\":[",
                (unsigned long long)d->ring.checksum, hashring_vnodes(r), hashring_point_count(r));
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

static int h_lookup(struct ringd *d, const struct http_request *req, struct sbuf *b)
{
    char key[HTTP_TARGET_BYTES_MAX + 1];
    int len = http_query_param(req->query, "key", key, sizeof(key));
    if (len < 0) {
        sbuf_adds(b, "{\"error\":\"missing or malformed ?key=\"}\n");
        return 400;
    }
    struct ringd_route r;
    int rv = ringd_route(d, key, (size_t)len, &r);
    if (rv != 0) {
        sbuf_adds(b, "{\"error\":");
        escape_json(b, ringd_route_strerror(rv), strlen(ringd_route_strerror(rv)));
        sbuf_adds(b, "}\n");
        return 503;
    }
    char addr[RING_ADDR_STRLEN];
    ringd_addr_str(&r.addr, addr);
    sbuf_adds(b, "{\"key\":");
    escape_json(b, key, (size_t)len);
    if (r.placed.shard != UINT32_MAX) {
        sbuf_printf(b, ",\"shard\":%u", r.placed.shard);
    }
    if (r.group != NULL) {
        sbuf_adds(b, ",\"group\":");
        escape_json(b, r.group, r.group_len);
        sbuf_adds(b, r.local ? ",\"local\":true" : ",\"local\":false");
    }
    sbuf_adds(b, ",\"id\":");
    escape_json(b, r.id, r.id_len);
    sbuf_adds(b, ",\"address\":");
    escape_json(b, addr, strlen(addr));
    sbuf_adds(b, "}\n");
    return 200;
}

static int h_metrics(struct ringd *d, const struct http_request *req, struct sbuf *b)
{
    (void)req;
    ringd_metrics_text(d, b, d->admin->http_requests);
    return 200;
}

static int h_healthz(struct ringd *d, const struct http_request *req, struct sbuf *b)
{
    (void)req;
    (void)d;
    sbuf_adds(b, "ok\n");
    return 200;
}

static int h_readyz(struct ringd *d, const struct http_request *req, struct sbuf *b)
{
    (void)req;
    if (ringd_ready(d)) {
        sbuf_adds(b, "ready\n");
        return 200;
    }
    sbuf_adds(b, d->leaving   ? "not ready: leaving\n"
                 : !d->joined ? "not ready: not joined yet\n"
                              : "not ready: the ring is not built yet\n");
    return 503;
}

typedef int (*handler_fn)(struct ringd *d, const struct http_request *req, struct sbuf *b);

static const struct {
    const char *path;
    const char *type;
    handler_fn fn;
} routes[] = {
    { "/metrics", "text/plain; version=0.0.4; charset=utf-8", h_metrics },
    { "/healthz", "text/plain; charset=utf-8", h_healthz },
    { "/readyz", "text/plain; charset=utf-8", h_readyz },
    { "/v1/members", "application/json", h_members },
    { "/v1/ring", "application/json", h_ring },
    { "/v1/lookup", "application/json", h_lookup },
};

/* ---- connection ----------------------------------------------------------------------- */

static void respond(struct admin_conn *c, int status, const char *type, const struct sbuf *body)
{
    sbuf_reset(&c->out);
    const char *data = body->data != NULL ? body->data : "";
    size_t len = body->len;
    if (body->failed) {
        status = 500;
        data = "response too large\n";
        len = strlen(data);
    }
    sbuf_printf(&c->out,
                "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                "Connection: %s\r\n\r\n",
                status, http_reason(status), type, len, c->keep_alive ? "keep-alive" : "close");
    sbuf_add(&c->out, data, len);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void handle(struct admin_conn *c);

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
    uv_timer_again(&c->timer);
    handle(c); /* a pipelined request may already be buffered */
    if (!c->closing && !c->writing &&
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
    }
}

static void send_out(struct admin_conn *c)
{
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    c->writing = 1;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        c->writing = 0;
        conn_close(c);
    }
}

static int error_status(int rv)
{
    return rv == RING_EINVAL ? 405 : rv == RING_EMSGSIZE ? 431 : 400;
}

static void handle(struct admin_conn *c)
{
    struct http_request req;
    int rv = http_parse_request(c->in, c->in_len, &req);
    if (rv == 0) {
        return;
    }
    struct ringd *d = c->d;
    d->admin->http_requests++;
    struct sbuf body;
    sbuf_init(&body, ADMIN_RESPONSE_BYTES_MAX);
    int status = 404;
    const char *type = "text/plain; charset=utf-8";
    if (rv < 0) {
        c->keep_alive = 0;
        status = error_status(rv);
        sbuf_printf(&body, "%s\n", http_reason(status));
    } else {
        c->keep_alive = req.keep_alive;
        memmove(c->in, c->in + rv, c->in_len - (size_t)rv);
        c->in_len -= (size_t)rv;
        for (size_t i = 0; i < RING_ARRAY_LEN(routes); i++) {
            if (strcmp(req.path, routes[i].path) == 0) {
                type = routes[i].type;
                status = routes[i].fn(d, &req, &body);
            }
        }
        if (status == 404 && body.len == 0) {
            sbuf_adds(&body, "not found; try /metrics /healthz /readyz /v1/members /v1/ring "
                             "/v1/lookup?key=K\n");
        }
    }
    respond(c, status, type, &body);
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
    c->in_len += (size_t)nread;
    handle(c);
}

static void on_idle(uv_timer_t *t)
{
    conn_close(t->data);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct ringd *d = server->data;
    struct ringd_admin *a = d->admin;
    struct admin_conn *c = status == 0 ? calloc(1, sizeof(*c)) : NULL;
    if (c == NULL) {
        return;
    }
    c->d = d;
    sbuf_init(&c->out, ADMIN_RESPONSE_BYTES_MAX + 1024);
    uv_tcp_init(d->loop, &c->tcp);
    uv_timer_init(d->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->wreq.data = c;
    c->handles_open = 2;
    c->next = a->conns;
    if (a->conns != NULL) {
        a->conns->prev = c;
    }
    a->conns = c;
    a->conn_count++;
    uv_timer_start(&c->timer, on_idle, ADMIN_IDLE_MS, ADMIN_IDLE_MS);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || a->conn_count > ADMIN_CONNS_MAX ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
    }
}

static void on_stopping(void *ctx)
{
    ringd_admin_close(ctx);
}

int ringd_admin_start(struct ringd *d)
{
    struct ringd_admin *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return UV_ENOMEM;
    }
    d->admin = a;
    const struct ringd_node_cbs cbs = { .stopping = on_stopping };
    int rv = ringd_node_subscribe(d, &cbs, d);
    if (rv != 0) {
        return rv;
    }
    struct sockaddr_storage ss;
    rv = ringd_bind_sockaddr(d, &d->cfg.admin, &ss);
    uv_tcp_init(d->loop, &a->listen);
    a->listen.data = d;
    if (rv == 0) {
        rv = uv_tcp_bind(&a->listen, (const struct sockaddr *)&ss, 0);
    }
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&a->listen, 64, on_connection);
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

void ringd_admin_close(struct ringd *d)
{
    struct ringd_admin *a = d->admin;
    if (a == NULL) {
        return;
    }
    while (a->conns != NULL) {
        conn_close(a->conns);
    }
    ringd_close_handle((uv_handle_t *)&a->listen);
}

void ringd_admin_free(struct ringd *d)
{
    free(d->admin);
    d->admin = NULL;
}
