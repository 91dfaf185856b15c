/*
 * proxy: the forwarding proxy's front (DESIGN.md, "Forwarding proxy"). An app sends plain
 * HTTP/1.1 to --proxy with the key in --key-header; each request is answered by the app of
 * the key's owner (proxy_ex.c). The same request reader serves streams that peers open to
 * forward requests here (mux.c), so a forwarded request is parsed and checked exactly like a
 * local one.
 *
 * One request per client is in flight at a time: a pipelined request waits, unparsed, until
 * the one before it is answered, which keeps answers in order (as nginx does) and bounds
 * what a client can make us hold to one read buffer.
 *
 * Slow and idle TCP clients: a request head must arrive whole within --header-timeout of the
 * accept (of its first byte, after a keep-alive wait) however slowly it trickles, as nginx's
 * client_header_timeout; a keep-alive client may wait --idle-timeout between requests; the
 * rest of a request and its answer are bounded by --request-timeout. When every slot is
 * taken, a new client closes the one idle or in its head the longest, never one whose
 * request is being answered, so a flood of idle or slow clients never locks an app out.
 */
#define _GNU_SOURCE /* POLLRDHUP: a client's half-close, seen without reading (px_client_lost) */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/ioctl.h>

#include "proxy_int.h"
#include "ring/fwd.h"
#include "unread.h"

const char *const ringd_proxy_error_names[PROXY_ERRORS] = {
#define RINGD_PROXY_ERROR_NAME(name, text) text,
    RINGD_PROXY_ERRORS(RINGD_PROXY_ERROR_NAME)
#undef RINGD_PROXY_ERROR_NAME
};
const char *const ringd_proxy_path_names[PROXY_PATHS] = { "local", "forward", "peer" };
const double ringd_proxy_latency_bounds_us[RINGD_PROXY_LATENCY_BUCKETS - 1] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 5000000,
};

static void client_feed(struct px_client *cl, const char *data, size_t len);

/* Parses the pipelined bytes held back while the previous request was answered. */
static void feed_held(struct px_client *cl)
{
    if (cl->feeding_held) {
        /* an answer made while held bytes were parsed (px_ex_parsed): the loop below goes
         * on with the rest, so pipelined requests answered at once never recurse */
        cl->feed_again = 1;
        return;
    }
    cl->feeding_held = 1;
    do {
        cl->feed_again = 0;
        char *held = cl->held;
        size_t held_len = cl->held_len;
        cl->held = NULL;
        cl->held_len = 0;
        if (held != NULL) {
            client_feed(cl, held, held_len);
            free(held);
        }
    } while (cl->feed_again && !cl->closing);
    cl->feeding_held = 0;
}

/* ---- closing ----------------------------------------------------------------------------- */

static void on_client_closed(uv_handle_t *h)
{
    struct px_client *cl = h->data;
    outq_free(&cl->out);
    free(cl);
}

static void client_close(struct px_client *cl)
{
    if (cl->closing) {
        return;
    }
    cl->closing = 1;
    struct ringd_proxy *p = cl->p;
    list_remove(&cl->link);
    p->client_count--;
    p->heads_held -= cl->head_held;
    cl->head_held = 0;
    struct px_ex *ex = cl->ex;
    cl->ex = NULL;
    if (ex != NULL) {
        px_ex_client_gone(ex);
        px_ex_free(ex);
    }
    free(cl->held);
    cl->held = NULL;
    if (cl->is_peer) {
        if (cl->ms != NULL) {
            mux_release(cl->ms);
            cl->ms = NULL;
        }
        /* freed by the next sweep: a parser callback may be running on it */
        list_push(&p->dead, &cl->link);
    } else {
        uv_close((uv_handle_t *)&cl->tcp, on_client_closed);
    }
}

/* |cl|'s client went away (a reset, a close, its stream cancelled by the entry ringd): a
 * request it had not had its whole answer for is abandoned, and counted (nginx logs 499). */
static void client_gone(struct px_client *cl)
{
    if (cl->ex != NULL && !cl->closing) {
        cl->p->m.proxy_abandoned++;
    }
    client_close(cl);
}

static void close_when_flushed(struct px_client *cl)
{
    if (cl->is_peer) {
        mux_fin(cl->ms);
        client_close(cl);
    } else if (outq_bytes(&cl->out) == 0) {
        client_close(cl);
    } else {
        cl->close_when_flushed = 1;
        uv_read_stop((uv_stream_t *)&cl->tcp);
    }
}

/* ---- the client side of an exchange ------------------------------------------------------ */

int px_client_write(struct px_client *cl, const void *data, size_t len)
{
    if (cl->is_peer) {
        return mux_write(cl->ms, data, len);
    }
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    return outq_write(&cl->out, &b, 1);
}

size_t px_client_queued(const struct px_client *cl)
{
    return cl->is_peer ? mux_queued(cl->ms) : outq_bytes(&cl->out);
}

void px_client_want_drain(struct px_client *cl)
{
    if (cl->is_peer) {
        mux_want_writable(cl->ms);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Reads while nothing stands in the way. A client waiting for an answer stays read (what it
 * pipelines is held, up to PROXY_HELD_BYTES_MAX), so a keep-alive exchange costs no epoll
 * changes. */
static void update_reading(struct px_client *cl)
{
    if (cl->is_peer || cl->closing) {
        return;
    }
    int stop = cl->paused || cl->eof || cl->close_when_flushed ||
               (cl->waiting && cl->held_len >= PROXY_HELD_BYTES_MAX);
    if (stop && cl->reading) {
        uv_read_stop((uv_stream_t *)&cl->tcp);
        cl->reading = 0;
    } else if (!stop && !cl->reading) {
        if (uv_read_start((uv_stream_t *)&cl->tcp, on_alloc, on_read) != 0) {
            client_close(cl);
            return;
        }
        cl->reading = 1;
    }
}

static void account_head(struct px_client *cl);

/* Bytes read while a request is being answered: kept, unparsed, for after it. */
static void hold(struct px_client *cl, const char *data, size_t len)
{
    char *p = realloc(cl->held, cl->held_len + len);
    if (p == NULL) {
        client_close(cl);
        return;
    }
    memcpy(p + cl->held_len, data, len);
    cl->held = p;
    cl->held_len += len;
    update_reading(cl);
    account_head(cl);
}

void px_client_pause(struct px_client *cl)
{
    cl->paused = 1;
    update_reading(cl);
}

void px_client_resume(struct px_client *cl)
{
    cl->paused = 0;
    if (cl->is_peer && cl->owed > 0) {
        mux_consumed(cl->ms, cl->owed);
        cl->owed = 0;
    }
    update_reading(cl);
}

void px_client_done(struct px_client *cl, int keep)
{
    struct px_ex *ex = cl->ex;
    cl->ex = NULL;
    px_ex_free(ex);
    cl->active_ms = uv_now(cl->p->d->loop);
    if (!keep || cl->is_peer || cl->p->closing) {
        close_when_flushed(cl);
        return;
    }
    cl->paused = 0;
    cl->waiting = 0;
    cl->head_ms = cl->held_len > 0 ? cl->active_ms : 0; /* a pipelined head has begun */
    http_parser_pause(&cl->parser, 0);
    if (cl->feeding) {
        /* Never expected: an answer made while the request is still being parsed is
         * incomplete, so it closes. Were it to keep, parsing must not re-enter itself. */
        close_when_flushed(cl);
        return;
    }
    feed_held(cl);
    account_head(cl);
    if (!cl->closing && cl->eof && cl->ex == NULL && cl->held_len == 0) {
        close_when_flushed(cl); /* the client half-closed and every request is answered */
    } else if (!cl->closing && cl->eof && cl->ex != NULL && !cl->waiting) {
        /* the half-close came after part of a pipelined request, which can never be whole:
         * gone, as a client that stops mid-request (client_read()), its answers sent */
        cl->p->m.proxy_abandoned++;
        close_when_flushed(cl);
    } else if (!cl->closing) {
        update_reading(cl);
    }
}

void px_client_abort(struct px_client *cl)
{
    cl->p->m.proxy_errors[PROXY_ERR_ABORTED]++;
    if (cl->is_peer && cl->ms != NULL) {
        struct mux_stream *ms = cl->ms;
        cl->ms = NULL;
        mux_release(ms); /* no FIN sent yet: the peer sees a reset */
    }
    client_close(cl);
}

/* The client's socket, looked at without reading it: it is not read while its request waits
 * for an app connection (proxy_ex.c), so a reset or an early half-close is seen only here. A
 * reset shows as POLLERR or POLLHUP, a half-close as POLLRDHUP (Linux); after a half-close
 * the body can still complete only from the bytes already in the socket. */
int px_client_lost(struct px_client *cl)
{
    uv_os_fd_t fd;
    if (cl->is_peer || cl->closing) {
        return 0; /* a peer's stream reset reaches peer_on_reset at once */
    }
    if (uv_fileno((const uv_handle_t *)&cl->tcp, &fd) != 0) {
        client_gone(cl);
        return 1;
    }
    short ev = POLLIN;
#ifdef POLLRDHUP
    ev |= POLLRDHUP;
#endif
    struct pollfd pfd = { .fd = fd, .events = ev };
    if (poll(&pfd, 1, 0) != 1) {
        return 0; /* nothing happened: the client is there */
    }
    int lost = (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
#ifdef POLLRDHUP
    const http_parser *hp = &cl->parser;
    if (!lost && (pfd.revents & POLLRDHUP) && (hp->flags & F_CONTENTLENGTH) &&
        !(hp->flags & F_CHUNKED)) {
        /* http_parser counts down the body still to come */
        int queued = 0;
        lost = ioctl(fd, FIONREAD, &queued) != 0 || (uint64_t)queued < hp->content_length;
    }
#endif
    if (lost) {
        client_gone(cl);
    }
    return lost;
}

/* ---- the request parser ------------------------------------------------------------------ */

static int on_message_begin(http_parser *p)
{
    struct px_client *cl = p->data;
    cl->ex = px_ex_new(cl);
    return cl->ex != NULL ? 0 : PX_PARSER_STOP;
}

static int head_error(struct px_client *cl, int rv)
{
    if (rv == -ENOMEM) {
        px_ex_answer(cl->ex, 503, PROXY_ERR_APP_OVERLOADED,
                     "out of memory: ringd could not hold the request head", 1);
        cl->failed_parse = 1;
        return PX_PARSER_STOP;
    }
    if (rv != 0) {
        px_ex_answer(cl->ex, 431, PROXY_ERR_HEAD_TOO_LARGE, "request head too large", 1);
        cl->failed_parse = 1;
        return PX_PARSER_STOP;
    }
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct px_client *cl = p->data;
    return head_error(cl, httpmsg_on_text(&cl->ex->req, at, len));
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct px_client *cl = p->data;
    return head_error(cl, httpmsg_on_field(&cl->ex->req, at, len));
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct px_client *cl = p->data;
    return head_error(cl, httpmsg_on_value(&cl->ex->req, at, len));
}

static int on_headers_complete(http_parser *p)
{
    struct px_client *cl = p->data;
    cl->heads++;
    cl->head_ms = 0;
    if (px_ex_head(cl->ex) == PX_ANSWERED) {
        cl->failed_parse = 1;
        return PX_PARSER_STOP;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct px_client *cl = p->data;
    if (px_ex_body(cl->ex, at, len) == PX_ANSWERED) {
        cl->failed_parse = 1;
        return PX_PARSER_STOP;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct px_client *cl = p->data;
    /* Stop here: a pipelined request waits until this one is answered; its head is scanned
     * from its first byte when it is fed. */
    http_parser_pause(p, 1);
    httpmsg_scan_reset(&cl->scan);
    cl->waiting = 1;
    px_ex_request_done(cl->ex);
    return 0;
}

static const http_parser_settings request_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* A malformed request: 400 (or 413/431 from the limits) and the connection closes. */
static void parse_failed(struct px_client *cl)
{
    enum http_errno err = HTTP_PARSER_ERRNO(&cl->parser);
    if (cl->ex == NULL) {
        cl->ex = px_ex_new(cl);
        if (cl->ex == NULL) {
            client_close(cl);
            return;
        }
    }
    if (err == HPE_HEADER_OVERFLOW) {
        px_ex_fail(cl->ex, PROXY_ERR_HEAD_TOO_LARGE, "request head too large");
    } else {
        px_ex_fail(cl->ex, PROXY_ERR_BAD_REQUEST, http_errno_description(err));
    }
}

/* A request head http_parser would have taken, but whose raw bytes are malformed (bare LF or
 * CR, NUL, obs-fold): 400 and the connection closes. */
static void head_refused(struct px_client *cl, const char *why)
{
    if (cl->ex == NULL) {
        cl->ex = px_ex_new(cl);
        if (cl->ex == NULL) {
            client_close(cl);
            return;
        }
    }
    char text[128];
    snprintf(text, sizeof(text), "malformed request head: %s", why);
    px_ex_fail(cl->ex, PROXY_ERR_BAD_REQUEST, text);
}

/* Runs http_parser over |len| bytes, of which the first |head| end the head the scan saw
 * end (|ends|). http_parser must have found the end of the head there too: without
 * HTTP_PARSER_STRICT it does not check the letters of "HTTP/" in the request line, so it can
 * read the blank line as part of it and go on reading a head the scan no longer watches.
 * Returns PX_GOES_ON with the bytes parsed in |*parsed|, or PX_ANSWERED when the request was
 * refused for that. */
static enum px_step parse_request(struct px_client *cl, const char *data, size_t len, size_t head,
                                  int ends, size_t *parsed)
{
    uint32_t heads = cl->heads;
    size_t n = http_parser_execute(&cl->parser, &request_settings, data, head);
    *parsed = n;
    if (!ends || n < head || cl->closing || HTTP_PARSER_ERRNO(&cl->parser) != HPE_OK) {
        return PX_GOES_ON;
    }
    if (cl->heads == heads) {
        head_refused(cl, "malformed request line");
        return PX_ANSWERED;
    }
    if (head < len) {
        *parsed += http_parser_execute(&cl->parser, &request_settings, data + head, len - head);
    }
    return PX_GOES_ON;
}

/* Parses |len| bytes of requests (|len| 0: a peer ended its stream; a TCP client that stops
 * mid-request has gone away, client_read()). The head's raw bytes are scanned first: only a
 * head with clean lines reaches http_parser. */
static void client_feed(struct px_client *cl, const char *data, size_t len)
{
    size_t head = len;
    int ends = 0;
    if (len > 0 && !httpmsg_scan_done(&cl->scan)) {
        int rv = httpmsg_scan(&cl->scan, data, len, &head);
        if (rv < 0) {
            head_refused(cl, cl->scan.why);
            return;
        }
        ends = rv == 1;
    }
    size_t n = 0;
    cl->feeding++;
    enum px_step step = parse_request(cl, data, len, head, ends, &n);
    cl->feeding--;
    if (cl->closing || step == PX_ANSWERED) {
        return;
    }
    enum http_errno err = HTTP_PARSER_ERRNO(&cl->parser);
    if (err == HPE_PAUSED) {
        struct px_ex *ex = cl->ex;
        if (n < len && ex != NULL) {
            hold(cl, data + n, len - n); /* pipelined: parsed after this answer */
        } else {
            update_reading(cl);
        }
        if (!cl->closing && ex != NULL && cl->waiting) {
            px_ex_parsed(ex); /* the parser is out of the way: an answer may keep the client */
        }
        return;
    }
    if (err != HPE_OK) {
        if (!cl->failed_parse) {
            parse_failed(cl);
        }
        return;
    }
    if (len == 0 && cl->ex != NULL && !cl->waiting) {
        px_ex_fail(cl->ex, PROXY_ERR_BAD_REQUEST, "the peer ended its stream mid-request");
    }
}

/* ---- TCP clients ------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct px_client *cl = h->data;
    (void)suggested;
    *buf = uv_buf_init(cl->p->rbuf, sizeof(cl->p->rbuf));
}

static void client_read(struct px_client *cl, ssize_t nread, const uv_buf_t *buf);

/* What one read causes goes out when it is handled, not after every other connection's
 * read of this loop iteration: a response head and its body still leave together. */
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct px_client *cl = s->data;
    struct ringd_proxy *p = cl->p;
    client_read(cl, nread, buf);
    outq_batch_flush(&p->batch);
}

/* Counts what TCP client |cl| holds of requests not yet answered now (PROXY_HEADS_HELD_MAX):
 * the head being read, and the pipelined bytes read ahead of the request being answered;
 * past the bound closes the clients holding the most until within it. */
static void account_head(struct px_client *cl)
{
    struct ringd_proxy *p = cl->p;
    size_t now = !cl->closing && cl->ex != NULL && cl->head_ms != 0
                     ? PROXY_HEAD_HELD_BYTES + cl->ex->req.len
                     : 0;
    now += cl->closing ? 0 : cl->held_len;
    p->heads_held = p->heads_held - cl->head_held + now;
    cl->head_held = now;
    while (p->heads_held > PROXY_HEADS_HELD_MAX) {
        struct px_client *most = NULL;
        for (struct list *it = p->clients.next; it != &p->clients; it = it->next) {
            struct px_client *c = list_entry(it, struct px_client, link);
            if (most == NULL || c->head_held > most->head_held) {
                most = c;
            }
        }
        if (most == NULL || most->head_held == 0) {
            return;
        }
        p->m.proxy_client_head_overflows++;
        client_close(most);
    }
}

/* libuv reports a reset that arrived with the last bytes it read as an end of stream (it
 * sees the hangup after a short read), so a client that sent its request and reset at once
 * looked like one that half-closed and waits for its answer: its request stayed queued,
 * reached the app and counted as served. The socket's pending error tells them apart. */
static int client_was_reset(struct px_client *cl)
{
    uv_os_fd_t fd;
    int err = 0;
    socklen_t len = sizeof(err);
    return uv_fileno((const uv_handle_t *)&cl->tcp, &fd) == 0 &&
           getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0;
}

static void client_read(struct px_client *cl, ssize_t nread, const uv_buf_t *buf)
{
    if (nread == 0) {
        return;
    }
    cl->active_ms = uv_now(cl->p->d->loop);
    cl->spoke |= nread > 0;
    if (nread > 0 && cl->head_ms == 0 && cl->ex == NULL) {
        cl->head_ms = cl->active_ms; /* the first byte of the next request */
    }
    if (nread < 0) {
        /* A request begun and not whole (head or body) can never be now: its client went
         * away, as one that resets does (nginx's 499), rather than sent a bad request. The
         * app's connection, if its head went on, closes with it. */
        if ((cl->ex == NULL && cl->held_len == 0) || nread != UV_EOF ||
            (cl->ex != NULL && !cl->waiting) || client_was_reset(cl)) {
            client_gone(cl);
        } else {
            /* half-closed after whole requests: answer them, then close */
            cl->eof = 1;
            update_reading(cl);
        }
        return;
    }
    if (cl->waiting || cl->held_len > 0) {
        hold(cl, buf->base, (size_t)nread);
        return;
    }
    client_feed(cl, buf->base, (size_t)nread);
    account_head(cl);
}

static void on_client_out_done(struct outq *q, int status)
{
    struct px_client *cl = (struct px_client *)((char *)q - offsetof(struct px_client, out));
    if (cl->closing) {
        return;
    }
    if (status != 0) {
        client_gone(cl);
    } else if (cl->close_when_flushed) {
        client_close(cl);
    } else if (cl->ex != NULL) {
        px_ex_client_drained(cl->ex);
    }
}

static struct px_client *client_new(struct ringd_proxy *p, int is_peer)
{
    struct px_client *cl = calloc(1, sizeof(*cl));
    if (cl == NULL) {
        return NULL;
    }
    cl->p = p;
    cl->is_peer = is_peer;
    cl->active_ms = uv_now(p->d->loop);
    http_parser_init(&cl->parser, HTTP_REQUEST);
    cl->parser.data = cl;
    outq_init(&cl->out, on_client_out_done, &p->batch);
    cl->out.total = &p->unread_total;
    list_push(&p->clients, &cl->link);
    p->client_count++;
    return cl;
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

/* How readily TCP client |cl| gives its slot to a new one: 4 its client never sent a byte (an
 * idle flood's, never a keep-alive client's that asked before); 3 in a request head (a flood
 * of single bytes goes before the keep-alive clients that were answered); 2 idle between
 * requests (since |*since|); 1 still sending a request body, or leaving its answer unread; 0
 * never (its request is whole and waits on the app or a peer, bounded by --request-timeout, or
 * it is a peer's stream). */
static int eviction_rank(const struct px_client *cl, uint64_t *since)
{
    if (cl->is_peer || cl->closing) {
        return 0;
    }
    if (cl->ex == NULL || cl->head_ms != 0) {
        *since = cl->head_ms != 0 ? cl->head_ms : cl->active_ms;
        return !cl->spoke ? 4 : cl->head_ms != 0 ? 3 : 2;
    }
    *since = cl->ex->start_ms;
    return !cl->ex->req_done || outq_bytes(&cl->out) > 0 ? 1 : 0;
}

/* The TCP client a new one replaces when every slot is taken: the highest rank, and in it the
 * one in its phase the longest (of equals the one accepted first: the list runs newest
 * first); NULL if every client is being answered. */
static struct px_client *pick_victim(struct ringd_proxy *p)
{
    struct px_client *victim = NULL;
    int victim_rank = 0;
    uint64_t victim_since = 0;
    for (struct list *it = p->clients.next; it != &p->clients; it = it->next) {
        struct px_client *cl = list_entry(it, struct px_client, link);
        uint64_t since = 0;
        int rank = eviction_rank(cl, &since);
        if (rank > victim_rank || (rank == victim_rank && rank > 0 && since <= victim_since)) {
            victim = cl;
            victim_rank = rank;
            victim_since = since;
        }
    }
    return victim;
}

/* pick_victim(), but a client whose request waits unread in its socket has spoken (unread.h:
 * a client accepted in the same burst as a flood): it is marked so and another is picked.
 * Each client is looked at in the kernel once at most. */
static struct px_client *eviction_victim(struct ringd_proxy *p)
{
    for (;;) {
        struct px_client *victim = pick_victim(p);
        uv_os_fd_t fd;
        if (victim == NULL || victim->spoke ||
            uv_fileno((const uv_handle_t *)&victim->tcp, &fd) != 0 || !ringd_has_unread(fd)) {
            return victim;
        }
        victim->spoke = 1;
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct ringd_proxy *p = server->data;
    struct ringd *d = p->d;
    if (status != 0 || p->closing || accept_pace_wait(&p->pace)) {
        return;
    }
    struct px_client *victim = p->client_count >= PROXY_CLIENTS_MAX ? eviction_victim(p) : NULL;
    if (victim != NULL) {
        p->m.proxy_client_evictions++;
        evict_log_note(d, &p->evict_log, "proxy");
        client_close(victim);
    }
    struct px_client *cl = p->client_count < PROXY_CLIENTS_MAX ? client_new(p, 0) : NULL;
    if (cl == NULL) {
        /* over the limit: accept and close, so the client hears no rather than waits */
        p->m.proxy_client_refusals++;
        evict_log_refused(d, &p->evict_log, "proxy");
        uv_tcp_t *t = malloc(sizeof(*t));
        if (t != NULL) {
            uv_tcp_init(d->loop, t);
            t->data = t;
            if (uv_accept(server, (uv_stream_t *)t) != 0) {
                (void)0;
            }
            uv_close((uv_handle_t *)t, free_handle);
        }
        return;
    }
    p->m.proxy_clients++;
    cl->head_ms = cl->active_ms; /* the first head's deadline runs from the accept */
    uv_tcp_init(d->loop, &cl->tcp);
    cl->tcp.data = cl;
    if (uv_accept(server, (uv_stream_t *)&cl->tcp) != 0 ||
        outq_attach(&cl->out, (uv_stream_t *)&cl->tcp) != 0) {
        client_close(cl);
        return;
    }
    uv_tcp_nodelay(&cl->tcp, 1);
    update_reading(cl);
}

/* ---- peer clients (forwarded requests) --------------------------------------------------- */

static void peer_on_data(struct mux_stream *s, const uint8_t *data, size_t len)
{
    struct px_client *cl = mux_user(s);
    cl->active_ms = uv_now(cl->p->d->loop);
    client_feed(cl, (const char *)data, len);
    if (cl->closing) {
        return;
    }
    if (cl->paused || cl->waiting) {
        cl->owed += len;
    } else {
        mux_consumed(s, len);
    }
}

static void peer_on_fin(struct mux_stream *s)
{
    struct px_client *cl = mux_user(s);
    if (!cl->waiting) {
        client_feed(cl, NULL, 0);
    }
}

static void peer_on_reset(struct mux_stream *s, int delivered)
{
    struct px_client *cl = mux_user(s);
    (void)delivered;
    cl->ms = NULL;
    mux_release(s);
    client_gone(cl);
}

static void peer_on_writable(struct mux_stream *s)
{
    struct px_client *cl = mux_user(s);
    if (cl->ex != NULL) {
        px_ex_client_drained(cl->ex);
    }
}

static const struct mux_stream_cbs peer_cbs = {
    .on_data = peer_on_data,
    .on_fin = peer_on_fin,
    .on_reset = peer_on_reset,
    .on_writable = peer_on_writable,
};

void ringd_proxy_incoming(struct ringd_proxy *p, struct mux_stream *s, uint8_t hops,
                          uint64_t checksum)
{
    (void)checksum; /* ownership is checked per key, not by comparing whole rings */
    struct px_client *cl = !p->closing ? client_new(p, 1) : NULL;
    if (cl == NULL) {
        mux_set_cbs(s, &peer_cbs, NULL);
        mux_release(s);
        return;
    }
    cl->ms = s;
    cl->hops = hops;
    mux_set_cbs(s, &peer_cbs, cl);
}

/* ---- start, sweep, stop ------------------------------------------------------------------ */

static void free_dead(struct ringd_proxy *p)
{
    while (!list_empty(&p->dead)) {
        struct px_client *cl = list_entry(p->dead.next, struct px_client, link);
        list_remove(&cl->link);
        free(cl);
    }
}

/* Closes the clients with the most unread answer until what waits for all of them together
 * is within PROXY_UNREAD_TOTAL_MAX. */
static void bound_unread(struct ringd_proxy *p)
{
    while (p->unread_total > PROXY_UNREAD_TOTAL_MAX) {
        struct px_client *most = NULL;
        size_t most_bytes = 0;
        for (struct list *it = p->clients.next; it != &p->clients; it = it->next) {
            struct px_client *cl = list_entry(it, struct px_client, link);
            size_t q = cl->is_peer ? 0 : px_client_queued(cl);
            if (q > most_bytes) {
                most = cl;
                most_bytes = q;
            }
        }
        if (most == NULL) {
            return; /* only spare blocks: each at most OUTQ_SPARE_BYTES_MAX, freed as used */
        }
        p->m.proxy_client_overflows++;
        client_close(most);
        /* its memory leaves the sum when its handle has closed (outq_free): count it now */
        size_t held = outq_held(&most->out);
        most->out.total = NULL;
        p->unread_total -= held;
    }
}

static void on_sweep(uv_timer_t *t)
{
    struct ringd_proxy *p = t->data;
    struct ringd *d = p->d;
    uint64_t now = uv_now(d->loop);
    free_dead(p);
    evict_log_flush(d, &p->evict_log, "proxy");
    for (struct list *it = p->clients.next, *next; it != &p->clients; it = next) {
        next = it->next;
        struct px_client *cl = list_entry(it, struct px_client, link);
        if (!cl->is_peer && cl->head_ms != 0 && now - cl->head_ms >= d->cfg.header_timeout_ms) {
            p->m.proxy_client_timeouts[0]++;
            client_close(cl); /* as nginx: a head that does not arrive gets no answer */
        } else if (cl->ex != NULL) {
            px_ex_sweep(cl->ex, now);
        } else if (!cl->is_peer && now - cl->active_ms >= d->cfg.proxy_idle_timeout_ms) {
            p->m.proxy_client_timeouts[1]++;
            client_close(cl);
        }
    }
    px_app_sweep(p, now);
    ringd_mux_sweep(p->mux, now);
}

static void on_ring_rebuilt(void *ctx, const struct ringd_ring *old, int changed)
{
    (void)old;
    (void)changed;
    struct ringd_proxy *p = ctx;
    struct px_ex *ex = p->waiting;
    p->waiting = NULL;
    while (ex != NULL) {
        struct px_ex *next = ex->wait_next;
        ex->wait_next = NULL;
        ex->waiting_retry = 0;
        px_ex_retry(ex);
        ex = next;
    }
    px_ex_app_ring_changed(p);
    outq_batch_flush(&p->batch); /* retries the new ring started */
    outq_batch_flush(&p->batch_peer);
}

static void on_lease_changed(void *ctx, const struct lease_event *ev)
{
    struct ringd_proxy *p = ctx;
    if (p->closing || ev->state != LEASE_HELD) {
        return;
    }
    px_ex_lease_changed(p);
    outq_batch_flush(&p->batch);
}

static void proxy_close(struct ringd_proxy *p);

static void on_stopping(void *ctx)
{
    proxy_close(ctx);
}

/* What a drain waits for (node/drain.c): requests on the local app or waiting for a connection
 * to it, and requests a peer forwarded here (it routed by a ring in which we owned the key).
 * The local app's own requests going out do not count: the app keeps running while the node
 * drains. Once the node shuts down (SIGTERM: the app has stopped, or is stopping) every request
 * still being answered counts, so none is cut when the node exits (within --drain-timeout). */
static size_t on_in_flight(void *ctx)
{
    struct ringd_proxy *p = ctx;
    const struct ringd *d = p->d;
    size_t n = 0;
    for (struct list *l = p->clients.next; l != &p->clients; l = l->next) {
        const struct px_client *cl = list_entry(l, struct px_client, link);
        n += cl->ex != NULL &&
             (cl->is_peer || cl->ex->up == UP_APP || cl->ex->app_wait || d->shutting_down);
    }
    return n;
}

/* The batches' flushes: after the poll phase and before the loop blocks (what timers and
 * close callbacks wrote). The requests waiting for an app connection take the ones freed
 * first: here, not inside the exchange that released one, which is still being finished. */
static void on_flush_check(uv_check_t *c)
{
    struct ringd_proxy *p = c->data;
    px_ex_app_dispatch(p); /* app connections released or closed by this iteration's reads */
    outq_batch_flush(&p->batch);
    outq_batch_flush(&p->batch_peer);
    if (p->unread_total > PROXY_UNREAD_TOTAL_MAX) {
        bound_unread(p);
    }
}

static void on_flush_prepare(uv_prepare_t *h)
{
    struct ringd_proxy *p = h->data;
    px_ex_app_dispatch(p); /* ... and by its timers (sweep) and close callbacks */
    outq_batch_flush(&p->batch);
    outq_batch_flush(&p->batch_peer);
}

static int resolve_app(struct ringd_proxy *p)
{
    struct ringd *d = p->d;
    const struct ringd_hostport *app = &d->cfg.app;
    char port[8];
    snprintf(port, sizeof(port), "%u", app->port);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    uv_getaddrinfo_t req;
    int rv = uv_getaddrinfo(d->loop, &req, NULL, app->host, port, &hints);
    if (rv != 0) {
        ringd_log(&d->log, RINGD_LOG_ERROR, "resolve", "what", "--app", "host", app->host, "error",
                  uv_strerror(rv), NULL);
        return rv;
    }
    memcpy(&p->app_addr, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
    return 0;
}

/* Allocates the proxy and its mux. Returns NULL when out of memory. */
static struct ringd_proxy *proxy_new(struct ringd *d)
{
    struct ringd_proxy *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    p->d = d;
    p->mux = ringd_mux_new(p);
    if (p->mux == NULL) {
        free(p);
        return NULL;
    }
    list_init(&p->clients);
    list_init(&p->apps);
    list_init(&p->app_queue);
    list_init(&p->dead);
    return p;
}

/* Hands the node the proxy's callbacks, export and stream acceptor, all with |p| as their
 * context. Returns 0 or UV_ENOBUFS. */
static int attach(struct ringd_proxy *p)
{
    struct ringd *d = p->d;
    const struct ringd_node_cbs cbs = {
        .ring_rebuilt = on_ring_rebuilt,
        .lease_changed = on_lease_changed,
        .stopping = on_stopping,
        .in_flight = on_in_flight,
    };
    const struct ringd_export ex = {
        .name = "proxy", .prometheus = px_prometheus, .stats = px_stats, .ctx = p
    };
    int rv = ringd_node_subscribe(d, &cbs, p);
    if (rv == 0) {
        rv = ringd_node_export(d, &ex);
    }
    if (rv == 0) {
        rv = ringd_node_accept_streams(d, FWD_HELLO, ringd_mux_accept, p);
    }
    return rv;
}

uint32_t ringd_proxy_fds_max(const struct ringd_config *cfg)
{
    if (cfg->proxy.host[0] == '\0') {
        return 0;
    }
    return 1 + PROXY_CLIENTS_MAX + cfg->proxy_max_app_conns + mux_conns_max();
}

int ringd_proxy_start(struct ringd *d, struct ringd_proxy **out)
{
    *out = NULL;
    if (d->cfg.proxy.host[0] == '\0') {
        return 0;
    }
    struct ringd_proxy *p = proxy_new(d);
    if (p == NULL) {
        return UV_ENOMEM;
    }
    /* From here the node may call |p| back (its stop closes it): the caller frees it after
     * the loop, whether the start succeeds or not. */
    *out = p;
    int sub = attach(p);
    if (sub != 0) {
        return sub;
    }
    snprintf(p->owner_line, sizeof(p->owner_line), "%s: %s\r\n", HTTPMSG_OWNER_HEADER, d->cfg.id);
    http_parser_set_max_header_size(HTTPMSG_WIRE_BYTES_MAX);
    int rv = resolve_app(p);
    struct sockaddr_storage ss;
    if (rv == 0) {
        rv = ringd_bind_sockaddr(d, &d->cfg.proxy, &ss);
    }
    uv_tcp_init(d->loop, &p->listen);
    p->listen.data = p;
    accept_pace_init(d->loop, &p->pace, (uv_stream_t *)&p->listen, on_connection);
    uv_timer_init(d->loop, &p->sweep);
    p->sweep.data = p;
    uv_check_init(d->loop, &p->flush_check);
    p->flush_check.data = p;
    uv_check_start(&p->flush_check, on_flush_check);
    uv_prepare_init(d->loop, &p->flush_prepare);
    p->flush_prepare.data = p;
    uv_prepare_start(&p->flush_prepare, on_flush_prepare);
    if (rv == 0) {
        rv = uv_tcp_bind(&p->listen, (const struct sockaddr *)&ss, 0);
    }
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&p->listen, 511, on_connection);
    }
    if (rv != 0) {
        ringd_log(&d->log, RINGD_LOG_ERROR, "listen", "what", "proxy", "address", d->cfg.proxy.host,
                  "error", uv_strerror(rv), NULL);
        return rv;
    }
    uv_timer_start(&p->sweep, on_sweep, PROXY_SWEEP_MS, PROXY_SWEEP_MS);
    return 0;
}

/* The requests still waiting for an app connection when the node stops (the drain's deadline
 * passed with the app busy) are answered 503 app_overloaded, not cut: the app never saw them,
 * so their clients may send them again. The answers go to the kernel now (uv_try_write), before
 * every connection closes. */
static void answer_app_waiters(struct ringd_proxy *p)
{
    while (!list_empty(&p->app_queue)) {
        struct px_ex *ex = list_entry(p->app_queue.next, struct px_ex, app_link);
        px_ex_answer(ex, 503, PROXY_ERR_APP_OVERLOADED,
                     "ringd stopped before the app took the request", 1);
    }
    outq_batch_flush(&p->batch);
    outq_batch_flush(&p->batch_peer);
}

static void proxy_close(struct ringd_proxy *p)
{
    if (!p->closing) {
        p->closing = 1;
        answer_app_waiters(p);
        while (!list_empty(&p->clients)) {
            client_close(list_entry(p->clients.next, struct px_client, link));
        }
        p->waiting = NULL;
        px_app_close_all(p);
        accept_pace_close(&p->pace);
        ringd_close_handle((uv_handle_t *)&p->listen);
        ringd_close_handle((uv_handle_t *)&p->sweep);
        ringd_close_handle((uv_handle_t *)&p->flush_check);
        ringd_close_handle((uv_handle_t *)&p->flush_prepare);
    }
    ringd_mux_close_all(p->mux);
}

void ringd_proxy_free(struct ringd_proxy *p)
{
    if (p == NULL) {
        return;
    }
    px_ex_free_all(p);
    free_dead(p);
    ringd_mux_free(p->mux);
    free(p);
}
