/*
 * proxy_app: keep-alive connections from the proxy to the local app (--app). An exchange
 * takes an idle connection or opens one; when its response ends cleanly the connection goes
 * back on the idle list for the next request, like nginx's upstream keepalive.
 *
 * HTTP/1.1 has no request ids: a response is the answer to the request before it. Bytes the
 * app sends when no request is outstanding (a second response, a body after a HEAD's) would
 * be taken for the answer to the next request on that connection, so such a connection is
 * closed and counted (ringd_proxy_app_unsolicited_total) wherever they show: after a complete
 * response in the same read (proxy_ex.c), while the connection is idle, or waiting unread
 * when it is taken again (peeked at, one recv per reuse). Bytes the app sends after the next
 * request went out look like its answer; no HTTP/1.1 proxy can tell them apart.
 *
 * At most --proxy-max-app-conns connections are open, busy and idle. A request that finds all
 * of them busy is not failed (the app is busy, not down): it waits its turn (proxy_ex.c) for
 * the next one released or closed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy_int.h"

static void on_closed(uv_handle_t *h)
{
    struct px_app *a = h->data;
    outq_free(&a->out);
    free(a);
}

static void unlink_idle(struct px_app *a)
{
    struct ringd_proxy *p = a->p;
    for (struct px_app **q = &p->idle_apps; *q != NULL; q = &(*q)->idle_next) {
        if (*q == a) {
            *q = a->idle_next;
            break;
        }
    }
    a->idle = 0;
}

/* Closes |a|; its exchange, if any, is told by the caller. */
static void app_close(struct px_app *a)
{
    if (a->closing) {
        return;
    }
    a->closing = 1;
    struct ringd_proxy *p = a->p;
    if (a->idle) {
        unlink_idle(a);
    }
    list_remove(&a->link);
    p->app_count--;
    uv_close((uv_handle_t *)&a->tcp, on_closed);
}

/* The connection broke (or the app closed it). */
static void app_failed(struct px_app *a, int delivered)
{
    struct px_ex *ex = a->ex;
    a->ex = NULL;
    app_close(a);
    if (ex != NULL) {
        px_ex_up_failed(ex, delivered);
    }
}

static void on_out_done(struct outq *q, int status)
{
    struct px_app *a = (struct px_app *)((char *)q - offsetof(struct px_app, out));
    if (a->closing) {
        return;
    }
    if (status != 0) {
        app_failed(a, 1);
    } else if (a->ex != NULL) {
        px_ex_up_drained(a->ex);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct px_app *a = h->data;
    (void)suggested;
    *buf = uv_buf_init(a->p->rbuf, sizeof(a->p->rbuf));
}

static void app_read(struct px_app *a, ssize_t nread, const uv_buf_t *buf);

/* As the proxy's client reads: what one read causes leaves when it is handled. */
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct px_app *a = s->data;
    struct ringd_proxy *p = a->p;
    app_read(a, nread, buf);
    outq_batch_flush(&p->batch);
}

static void app_read(struct px_app *a, ssize_t nread, const uv_buf_t *buf)
{
    if (nread == 0) {
        return;
    }
    if (a->ex == NULL) {
        if (nread > 0) {
            a->p->m.proxy_app_unsolicited++; /* bytes nobody asked for */
        }
        app_close(a); /* an idle connection: EOF, or bytes nobody asked for */
        return;
    }
    if (nread == UV_EOF) {
        struct px_ex *ex = a->ex;
        px_ex_up_eof(ex); /* ends a close-delimited response, or fails the exchange */
        return;
    }
    if (nread < 0) {
        app_failed(a, 1);
        return;
    }
    px_ex_up_data(a->ex, buf->base, (size_t)nread);
}

static void on_connected(uv_connect_t *req, int status)
{
    struct px_app *a = req->data;
    if (a->closing) {
        return;
    }
    if (status != 0 || outq_attach(&a->out, (uv_stream_t *)&a->tcp) != 0) {
        app_failed(a, 0);
        return;
    }
    a->connected = 1;
    uv_tcp_nodelay(&a->tcp, 1);
    if (!a->paused && uv_read_start((uv_stream_t *)&a->tcp, on_alloc, on_read) != 0) {
        app_failed(a, 1);
    }
}

static struct px_app *app_new(struct ringd_proxy *p)
{
    struct ringd *d = p->d;
    if (p->app_count >= d->cfg.proxy_max_app_conns) {
        return NULL;
    }
    struct px_app *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return NULL;
    }
    a->p = p;
    outq_init(&a->out, on_out_done, &p->batch);
    uv_tcp_init(d->loop, &a->tcp);
    a->tcp.data = a;
    a->connect.data = a;
    a->since_ms = uv_now(d->loop);
    list_push(&p->apps, &a->link);
    p->app_count++;
    p->m.proxy_app_connects++;
    if (uv_tcp_connect(&a->connect, &a->tcp, (const struct sockaddr *)&p->app_addr, on_connected) !=
        0) {
        app_close(a);
        return NULL;
    }
    return a;
}

/* 1 if idle connection |a| has bytes or an EOF waiting that its last read did not see: it
 * was released in the same loop iteration, or they came after the poll. */
static int stale(struct px_app *a)
{
    uv_os_fd_t fd;
    if (uv_fileno((const uv_handle_t *)&a->tcp, &fd) != 0) {
        return 1;
    }
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
        a->p->m.proxy_app_unsolicited++;
    }
    /* n == 0: the app closed it; an error other than "nothing there": it broke */
    return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

struct px_app *px_app_get(struct ringd_proxy *p, struct px_ex *ex)
{
    struct px_app *a;
    while ((a = p->idle_apps) != NULL) {
        unlink_idle(a);
        if (!stale(a)) {
            break;
        }
        app_close(a);
    }
    if (a != NULL) {
        a->reused = 1;
    } else {
        a = app_new(p);
        if (a == NULL) {
            return NULL;
        }
    }
    a->ex = ex; /* an idle connection is still reading (px_app_release) */
    a->paused = 0;
    return a;
}

int px_app_room(const struct ringd_proxy *p)
{
    return p->idle_apps != NULL || p->app_count < p->d->cfg.proxy_max_app_conns;
}

int px_app_write(struct px_app *a, const void *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    return outq_write(&a->out, &b, 1);
}

size_t px_app_queued(const struct px_app *a)
{
    return outq_bytes(&a->out);
}

void px_app_pause(struct px_app *a)
{
    a->paused = 1;
    if (a->connected) {
        uv_read_stop((uv_stream_t *)&a->tcp);
    }
}

void px_app_resume(struct px_app *a)
{
    a->paused = 0;
    if (a->connected && !a->closing &&
        uv_read_start((uv_stream_t *)&a->tcp, on_alloc, on_read) != 0) {
        app_failed(a, 1);
    }
}

void px_app_release(struct px_app *a, int reusable)
{
    a->ex = NULL;
    if (!reusable || !a->connected || a->closing || outq_bytes(&a->out) > 0 || a->p->closing) {
        app_close(a);
        return;
    }
    /* Keep reading: an idle connection that gets EOF or bytes is closed at once. */
    if (a->paused) {
        px_app_resume(a);
        if (a->closing) {
            return;
        }
    }
    struct ringd_proxy *p = a->p;
    a->idle = 1;
    a->since_ms = uv_now(p->d->loop);
    a->idle_next = p->idle_apps;
    p->idle_apps = a;
}

void px_app_sweep(struct ringd_proxy *p, uint64_t now_ms)
{
    const struct ringd *d = p->d;
    struct list *head = &p->apps;
    for (struct list *it = head->next, *next; it != head; it = next) {
        next = it->next;
        struct px_app *a = list_entry(it, struct px_app, link);
        uint64_t age = now_ms - a->since_ms;
        if (a->idle && age >= PROXY_APP_IDLE_MS) {
            app_close(a);
        } else if (!a->connected && age >= d->cfg.proxy_connect_timeout_ms) {
            app_failed(a, 0);
        }
    }
}

void px_app_close_all(struct ringd_proxy *p)
{
    while (!list_empty(&p->apps)) {
        struct px_app *a = list_entry(p->apps.next, struct px_app, link);
        a->ex = NULL;
        app_close(a);
    }
}
