/*
 * proxy_ex: one exchange of the forwarding proxy. The request head is rewritten once
 * (httpmsg: hop-by-hop headers out, our own framing in) and sent to the key's owner: the
 * local app when this node owns the key, else a stream to the owner's ringd (mux.c), which
 * reads it like any client's request and checks ownership again (hop limit FWD_HOPS_MAX).
 *
 * Failures: while the request's bytes so far fit in the replay buffer, a failed owner is
 * retried after the ring changes (or a backoff passes: 100 ms, doubling, --proxy-retries
 * times) on whoever owns the key then, but only if the request cannot have reached the app
 * or may be repeated (an idempotent method, or X-Ring-Idempotent). A response already begun
 * cannot be retried: the client's connection is cut, as any proxy must.
 *
 * A busy app is not a failed one: when every connection to it is busy (--proxy-max-app-conns)
 * a request waits in arrival order for the next one, up to --proxy-max-pending of them, past
 * which the proxy answers 503 app_overloaded at once, as Envoy's max_pending_requests circuit
 * breaker and nginx's upstream queue do. A waiting request still ends at --request-timeout.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_int.h"
#include "way.h"
#include "ring/fwd.h"
#include "ring/groups.h"
#include "lease_glue.h"
#include "route.h"

/* Every waiting request holds a client slot (or a peer's stream): the queue's bound fits in
 * them. */
_Static_assert(RINGD_PROXY_PENDING_MAX <= PROXY_CLIENTS_MAX,
               "--proxy-max-pending's bound is larger than the client slots");

static enum px_step up_lost(struct px_ex *ex, int delivered);
static enum px_step take_app(struct px_ex *ex);
static void up_on_data(struct mux_stream *s, const uint8_t *data, size_t len);
static void up_on_fin(struct mux_stream *s);
static void up_on_reset(struct mux_stream *s, int delivered);
static void up_on_writable(struct mux_stream *s);
/* The stream to the owner's ringd as the upstream (defined at the end). */
static const struct mux_stream_cbs up_cbs;

/* Ready to read a response from the start: the parser, the head collected and the scan. */
static void response_reset(struct px_ex *ex)
{
    httpmsg_reset(&ex->rsp);
    httpmsg_scan_reset(&ex->resp_scan);
    http_parser_init(&ex->resp, HTTP_RESPONSE);
    ex->resp.data = ex;
}

/* Callbacks of the stream to the owner's ringd, when it is the upstream. */
struct px_ex *px_ex_new(struct px_client *cl)
{
    struct ringd_proxy *p = cl->p;
    struct ringd *d = p->d;
    struct px_ex *ex = p->free_ex;
    struct sbuf head, replay;
    if (ex != NULL) {
        p->free_ex = ex->wait_next;
        p->free_ex_count--;
        head = ex->head;
        replay = ex->replay;
        sbuf_reset(&head);
        sbuf_reset(&replay);
    } else {
        ex = malloc(sizeof(*ex));
        if (ex == NULL) {
            return NULL;
        }
        sbuf_init(&head, HTTPMSG_HEAD_BYTES_MAX + 4096);
        sbuf_init(&replay, PROXY_REPLAY_BYTES_MAX);
        httpmsg_init(&ex->req);
        httpmsg_init(&ex->rsp);
    }
    memset(ex, 0, offsetof(struct px_ex, req));
    ex->head = head;
    ex->replay = replay;
    ex->p = p;
    ex->cl = cl;
    ex->replayable = 1;
    ex->start_ms = uv_now(d->loop);
    ex->start_ns = uv_hrtime();
    ex->deadline_ms = ex->start_ms + d->cfg.proxy_timeout_ms;
    httpmsg_reset(&ex->req);
    response_reset(ex);
    return ex;
}

/* The exchange no longer waits for a restarting owner (it goes on, or ends). */
static void restart_wait_end(struct px_ex *ex)
{
    if (ex->restart_wait) {
        ex->restart_wait = 0;
        ex->p->restart_waiting--;
    }
}

/* The exchange leaves the queue for an app connection (it got one, or ends). */
static void app_unwait(struct px_ex *ex)
{
    if (ex->app_wait) {
        ex->app_wait = 0;
        list_remove(&ex->app_link);
        ex->p->app_pending--;
        ex->p->app_held -= ex->app_held;
    }
}

static void unwait(struct px_ex *ex)
{
    restart_wait_end(ex);
    app_unwait(ex);
    if (!ex->waiting_retry) {
        return;
    }
    ex->waiting_retry = 0;
    for (struct px_ex **link = &ex->p->waiting; *link != NULL; link = &(*link)->wait_next) {
        if (*link == ex) {
            *link = ex->wait_next;
            break;
        }
    }
    ex->wait_next = NULL;
}

/* Lets go of the upstream: an app connection is kept for reuse when |reusable|; a peer
 * stream not finished is reset, and one whose response has not ended too (the owner drops
 * the request, even from its queue for the app, rather than serve it to nobody). */
static void detach_up(struct px_ex *ex, int reusable)
{
    if (ex->up == UP_APP && ex->app != NULL) {
        px_app_release(ex->app, reusable);
    } else if (ex->up == UP_PEER && ex->ms != NULL) {
        if (ex->resp_done) {
            mux_release(ex->ms);
        } else {
            mux_cancel(ex->ms);
        }
    }
    ex->app = NULL;
    ex->ms = NULL;
    ex->up = UP_NONE;
    ex->up_paused = 0;
    ex->up_owed = 0;
}

static void ex_destroy(struct px_ex *ex)
{
    sbuf_free(&ex->head);
    sbuf_free(&ex->replay);
    httpmsg_free(&ex->req);
    httpmsg_free(&ex->rsp);
    free(ex);
}

void px_ex_free(struct px_ex *ex)
{
    if (ex == NULL) {
        return;
    }
    unwait(ex);
    detach_up(ex, 0);
    struct ringd_proxy *p = ex->p;
    if (p->free_ex_count < PROXY_FREE_EXCHANGES_MAX && !p->closing) {
        ex->wait_next = p->free_ex;
        p->free_ex = ex;
        p->free_ex_count++;
        return;
    }
    ex_destroy(ex);
}

void px_ex_free_all(struct ringd_proxy *p)
{
    while (p->free_ex != NULL) {
        struct px_ex *ex = p->free_ex;
        p->free_ex = ex->wait_next;
        ex_destroy(ex);
    }
    p->free_ex_count = 0;
}

static void observe(struct px_ex *ex)
{
    struct ringd_proxy_counters *m = &ex->p->m;
    /* the monotonic high-resolution clock: uv_now() counts whole milliseconds of the loop's
     * cached time, which would leave the 100 to 500 us buckets empty */
    uint64_t us = (uv_hrtime() - ex->start_ns) / 1000;
    size_t b = 0;
    while (b < RINGD_PROXY_LATENCY_BUCKETS - 1 && (double)us > ringd_proxy_latency_bounds_us[b]) {
        b++;
    }
    m->proxy_requests[ex->path]++;
    m->proxy_latency[ex->path][b]++;
    m->proxy_latency_sum_us[ex->path] += us;
}

/* ---- answers the proxy makes itself ------------------------------------------------------ */

void px_ex_answer(struct px_ex *ex, int status, enum ringd_proxy_error why, const char *text,
                  int close)
{
    struct px_client *cl = ex->cl;
    ex->p->m.proxy_errors[why]++;
    unwait(ex);
    detach_up(ex, 0);
    if (ex->resp_started) {
        px_client_abort(cl);
        return;
    }
    close = close || !ex->req_done || !ex->client_keep_alive;
    sbuf_reset(&ex->head);
    httpmsg_write_error(&ex->head, status, ringd_proxy_error_names[why], text, close);
    if (!ex->head.failed) {
        (void)px_client_write(cl, ex->head.data, ex->head.len);
    }
    observe(ex);
    px_client_done(cl, !close);
}

void px_ex_fail(struct px_ex *ex, enum ringd_proxy_error why, const char *text)
{
    int status = why == PROXY_ERR_BODY_TOO_LARGE   ? 413
                 : why == PROXY_ERR_HEAD_TOO_LARGE ? 431
                 : why == PROXY_ERR_TIMEOUT        ? 504
                                                   : 400;
    px_ex_answer(ex, status, why, text, 1);
}

/* ---- request: upstream ------------------------------------------------------------------- */

static size_t up_queued(const struct px_ex *ex)
{
    if (ex->up == UP_APP) {
        return px_app_queued(ex->app);
    }
    return ex->up == UP_PEER ? mux_queued(ex->ms) : 0;
}

static void write_up(struct px_ex *ex, const char *data, size_t len)
{
    if (ex->up == UP_APP) {
        (void)px_app_write(ex->app, data, len); /* a failure comes back as up_lost */
    } else if (ex->up == UP_PEER) {
        (void)mux_write(ex->ms, data, len);
    }
}

/* Slows the client down while the upstream is full (or absent: a retry is pending). */
static void check_up_pressure(struct px_ex *ex)
{
    if (ex->up == UP_NONE || up_queued(ex) > PROXY_QUEUE_HIGH_BYTES) {
        px_client_pause(ex->cl);
        if (ex->up == UP_PEER) {
            mux_want_writable(ex->ms);
        }
    }
}

/* Sends request bytes up, keeping them for a retry while they fit. */
static void send_up(struct px_ex *ex, const char *data, size_t len)
{
    if (ex->replayable) {
        if (ex->replay.len + len > PROXY_REPLAY_BYTES_MAX) {
            ex->replayable = 0;
            sbuf_free(&ex->replay);
        } else {
            sbuf_add(&ex->replay, data, len);
        }
    }
    write_up(ex, data, len);
}

static int is_self(const struct ringd *d, const struct hashring_member *m)
{
    return m->id_len == d->cfg.id_len && memcmp(m->id, d->cfg.id, m->id_len) == 0;
}

static void wait_until(struct px_ex *ex, uint64_t at_ms);

/* The key's owner is restarting (--delayed-rebalance): its keys stay with it, so the request
 * waits for it to be back (or for the ring to give its keys away when it is not back in
 * time), looking again at every change of the view. Returns PX_WAITS or PX_ANSWERED. */
static enum px_step restart_gate(struct px_ex *ex)
{
    struct ringd *d = ex->p->d;
    uint64_t now = uv_now(d->loop);
    if (now >= ex->deadline_ms) {
        px_ex_answer(ex, 503, PROXY_ERR_OWNER_RESTARTING,
                     "the key's owner is restarting and was not back within --request-timeout", 0);
        return PX_ANSWERED;
    }
    if (!ex->restart_wait) {
        if (ex->p->restart_waiting >= PROXY_RESTART_WAITING_MAX) {
            /* the rest of the proxy's clients are for other keys: keep room for them */
            px_ex_answer(ex, 503, PROXY_ERR_OWNER_RESTARTING,
                         "the key's owner is restarting, and too many requests wait for "
                         "restarting owners already",
                         0);
            return PX_ANSWERED;
        }
        ex->p->restart_waiting++;
        ex->restart_wait = 1;
    }
    if (!ex->restart_waited) {
        ex->restart_waited = 1;
        ex->p->m.proxy_restart_waits++;
    }
    uint64_t at = now + PROXY_RESTART_POLL_MS;
    wait_until(ex, at < ex->deadline_ms ? at : ex->deadline_ms);
    return PX_WAITS;
}

/* Routes the key (route.h) and decides where the request goes (way.h): for PX_WAY_APP and
 * PX_WAY_FORWARD |*idx| is the owner's index in this node's ring, for PX_WAY_CONTACT |*to| is
 * the address of a contact of the key's group (sub-sharding). */
static enum px_way pick(struct px_ex *ex, uint32_t *idx, struct ring_addr *to)
{
    struct ringd *d = ex->p->d;
    const struct px_client *cl = ex->cl;
    ex->via_contact = 0;
    struct ringd_route r;
    int rv = ringd_route(d, ex->key, ex->key_len, &r);
    struct px_way_facts f = {
        .route_rv = rv, .from_peer = cl->is_peer, .hops = cl->hops, .hops_max = FWD_HOPS_MAX
    };
    if (rv != 0) {
        return px_way_decide(&f);
    }
    ex->shard = r.placed.shard;
    f.in_ring = r.local;
    if (r.local) {
        f.owner_is_self = is_self(d, hashring_member(d->ring.ring, r.owner));
        f.owner_restarting = d->ring.restarting != NULL && d->ring.restarting[r.owner];
        f.holding_own_keys = ringd_holding_own_keys(d);
        *idx = r.owner;
    } else {
        ex->via_contact = 1;
        snprintf(ex->contact_group, sizeof(ex->contact_group), "%.*s", (int)r.group_len, r.group);
        snprintf(ex->contact_id, sizeof(ex->contact_id), "%.*s", (int)r.id_len, r.id);
        *to = r.addr;
    }
    return px_way_decide(&f);
}

/* Puts |ex| on the proxy's wait list until |at_ms| (or a ring or lease change). */
static void wait_until(struct px_ex *ex, uint64_t at_ms)
{
    ex->waiting_retry = 1;
    ex->retry_at_ms = at_ms;
    ex->wait_next = ex->p->waiting;
    ex->p->waiting = ex;
    px_client_pause(ex->cl);
}

/* --exclusive: the ring makes this node the key's owner; its app gets the request only while
 * this node holds the shard's lease (lease_check, at this instant: a process paused past its
 * lease finds it ended here before it passes anything on). Returns PX_GOES_ON to serve
 * (ex->epoch set), PX_WAITS when it waits for the lease, PX_ANSWERED when it was answered. */
static enum px_step lease_gate(struct px_ex *ex)
{
    struct ringd *d = ex->p->d;
    uint64_t now = uv_now(d->loop);
    uint64_t until = ex->start_ms + d->cfg.proxy_lease_wait_ms;
    until = until < ex->deadline_ms ? until : ex->deadline_ms;
    switch (ringd_lease_gate(d, ex->shard, now, until, &ex->epoch)) {
    case LEASE_GATE_SERVE:
        return PX_GOES_ON;
    case LEASE_GATE_WAIT:
        ex->lease_wait = 1;
        wait_until(ex, now + PROXY_LEASE_POLL_MS < until ? now + PROXY_LEASE_POLL_MS : until);
        return PX_WAITS;
    case LEASE_GATE_NO_QUORUM:
        px_ex_answer(ex, 503, PROXY_ERR_NO_QUORUM,
                     "no quorum: this node cannot reach a majority of its cluster, so it holds "
                     "no shard",
                     0);
        return PX_ANSWERED;
    default:
        px_ex_answer(ex, 503, PROXY_ERR_NO_LEASE,
                     "no lease: the shard's lease did not reach its owner within --handoff-wait",
                     0);
        return PX_ANSWERED;
    }
}

static void overloaded(struct px_ex *ex)
{
    px_ex_answer(ex, 503, PROXY_ERR_APP_OVERLOADED,
                 "the app is busy: every connection to it is in use and the queue for one is "
                 "full (--proxy-max-pending requests, or 16 MiB of them)",
                 0);
}

void px_ex_parsed(struct px_ex *ex)
{
    if (ex->app_overloaded) {
        ex->app_overloaded = 0;
        overloaded(ex);
    }
}

/* What |ex| may come to hold while it waits for an app connection (PROXY_PENDING_BYTES_MAX):
 * its request's bytes, up to what a retry keeps (its whole body's when it has a length). A
 * request with neither Content-Length nor chunked framing has no body (RFC 9112 section 6.3;
 * HTTP/1.0 alike): a GET counts its head only. */
static size_t app_held_max(const struct px_ex *ex)
{
    const http_parser *hp = &ex->cl->parser;
    uint64_t body = 0;
    if (!ex->req_done && ex->chunked_up) {
        body = PROXY_REPLAY_BYTES_MAX;
    } else if (!ex->req_done && (hp->flags & F_CONTENTLENGTH)) {
        /* a Content-Length may be up to 2^64 - 2: capped before it is added */
        body = hp->content_length > PROXY_REPLAY_BYTES_MAX ? PROXY_REPLAY_BYTES_MAX
                                                           : hp->content_length;
    }
    uint64_t bytes = ex->replay.len + body;
    return PROXY_WAITER_BYTES +
           (size_t)(bytes < PROXY_REPLAY_BYTES_MAX ? bytes : PROXY_REPLAY_BYTES_MAX);
}

/* Every connection to the app is busy: |ex| waits for one behind the requests waiting already,
 * or before them when it was taken off the queue (|turn|) and found none after all. Returns
 * PX_WAITS, or PX_ANSWERED (503) when --proxy-max-pending wait already, or the waiters would
 * hold more than PROXY_PENDING_BYTES_MAX with it. */
static enum px_step app_enqueue(struct px_ex *ex, int turn)
{
    struct ringd_proxy *p = ex->p;
    size_t held = app_held_max(ex);
    if (!turn && (p->app_pending >= p->d->cfg.proxy_max_pending ||
                  p->app_held + held > PROXY_PENDING_BYTES_MAX)) {
        p->m.proxy_app_overflows++;
        const http_parser *hp = &ex->cl->parser;
        int no_body =
            !(hp->flags & F_CHUNKED) && (!(hp->flags & F_CONTENTLENGTH) || hp->content_length == 0);
        if (ex->cl->feeding && !ex->req_done && no_body) {
            /* Its head is its whole request: answered once the parser is past it
             * (px_ex_parsed), so the connection stays open for the next one. An answer now
             * would close it, and a closed connection costs the client a new one per retry. */
            ex->app_overloaded = 1;
            return PX_GOES_ON;
        }
        overloaded(ex);
        return PX_ANSWERED;
    }
    if (!turn) {
        p->m.proxy_app_queued++;
    }
    /* the newest at the front, the oldest at the back (where px_ex_app_dispatch takes) */
    list_push(turn ? p->app_queue.prev : &p->app_queue, &ex->app_link);
    ex->app_wait = 1;
    p->app_pending++;
    ex->app_held = held;
    p->app_held += held;
    px_client_pause(ex->cl);
    return PX_WAITS;
}

/* Gives |ex| a connection to the local app, unless others wait for one already: they go
 * first. Returns PX_GOES_ON (ex->up is UP_APP), PX_WAITS (app_enqueue), or PX_ANSWERED: 503
 * with the queue full, or 502 when a new connection failed at once (as a failed one). */
static enum px_step take_app(struct px_ex *ex)
{
    struct ringd_proxy *p = ex->p;
    int turn = ex->app_turn;
    ex->app_turn = 0;
    if (turn || p->app_pending == 0) {
        ex->app = px_app_get(p, ex);
        if (ex->app != NULL) {
            ex->up = UP_APP;
            return PX_GOES_ON;
        }
        if (px_app_room(p)) {
            return up_lost(ex, 0);
        }
    }
    return app_enqueue(ex, turn);
}

/* Sends what the exchange has of the request to its new upstream; the local app's copy of
 * the head carries the lease's epoch (--exclusive) before its blank line. */
static void send_replay(struct px_ex *ex)
{
    if (ex->up != UP_APP || ex->p->d->leases == NULL || ex->head_len < 2 ||
        ex->replay.len < ex->head_len) {
        write_up(ex, ex->replay.data, ex->replay.len);
        return;
    }
    char line[64];
    int n = snprintf(line, sizeof(line), "%s: %llu\r\n", HTTPMSG_EPOCH_HEADER,
                     (unsigned long long)ex->epoch);
    write_up(ex, ex->replay.data, ex->head_len - 2);
    write_up(ex, line, (size_t)n);
    write_up(ex, ex->replay.data + ex->head_len - 2, ex->replay.len - (ex->head_len - 2));
}

/* Connects the exchange to the key's owner (or a contact of its group) now and sends what
 * it has of the request. Returns PX_GOES_ON, PX_WAITS (for a retry, a lease or a restarting
 * owner: ex->up is UP_NONE) or PX_ANSWERED (answered, and freed). */
static enum px_step route(struct px_ex *ex)
{
    struct ringd *d = ex->p->d;
    struct px_client *cl = ex->cl;
    const struct ringd_ring *r = &d->ring;
    uint32_t idx = 0;
    struct ring_addr to;
    enum px_way way = pick(ex, &idx, &to);
    switch (way) {
    case PX_WAY_WAIT_JOIN:
        /* not joined yet, or every contact of the key's group failed here: wait for a ring
         * or group change (bounded by the retry budget) */
        ex->path = PROXY_PATH_FORWARD;
        return up_lost(ex, 0);
    case PX_WAY_NO_OWNER:
        px_ex_answer(ex, 503, PROXY_ERR_NO_OWNER, "no owner: the ring is empty", 0);
        return PX_ANSWERED;
    case PX_WAY_WAIT_RESTART:
        ex->path = PROXY_PATH_FORWARD;
        return restart_gate(ex);
    default:
        break;
    }
    response_reset(ex); /* a retry reads the new owner's answer from its first byte */
    if (way == PX_WAY_HOP_LIMIT) {
        px_ex_answer(ex, 503, PROXY_ERR_HOP_LIMIT,
                     "ring disagreement: the key's owner is elsewhere after the hop limit", 0);
        return PX_ANSWERED;
    }
    if (way == PX_WAY_APP) {
        ex->path = cl->is_peer ? PROXY_PATH_PEER : PROXY_PATH_LOCAL;
        enum px_step step = d->leases != NULL ? lease_gate(ex) : PX_GOES_ON;
        if (step != PX_GOES_ON) {
            return step;
        }
        step = take_app(ex);
        if (step != PX_GOES_ON) {
            return step;
        }
    } else {
        if (cl->is_peer && ex->attempts == 0) {
            ex->p->m.proxy_reforwards++;
        }
        ex->path = PROXY_PATH_FORWARD;
        const char *id = ex->contact_id;
        size_t id_len = strlen(ex->contact_id);
        if (way == PX_WAY_FORWARD) {
            to = r->addrs[idx];
            id = hashring_member(r->ring, idx)->id;
            id_len = hashring_member(r->ring, idx)->id_len;
        }
        memcpy(ex->up_id, id, id_len);
        ex->up_id_len = id_len;
        ex->up_hops = (uint8_t)(cl->is_peer ? cl->hops + 1 : 1);
        if (ex->attempts > 0 && !ring_addr_equal(&ex->owner_addr, &to)) {
            ex->p->m.proxy_reroutes++;
        }
        ex->owner_addr = to;
        ex->ms = mux_open(ex->p->mux, &ex->owner_addr, ex->up_hops, r->checksum, &up_cbs, ex);
        if (ex->ms == NULL) {
            return up_lost(ex, 0);
        }
        ex->up = UP_PEER;
    }
    send_replay(ex);
    if (ex->req_done && ex->up == UP_PEER) {
        mux_fin(ex->ms);
    }
    return PX_GOES_ON;
}

enum px_step px_ex_head(struct px_ex *ex)
{
    struct ringd *d = ex->p->d;
    const http_parser *p = &ex->cl->parser;
    ex->client_http10 = p->http_major == 1 && p->http_minor == 0;
    ex->client_keep_alive = http_should_keep_alive(p);
    const char *method = http_method_str((enum http_method)p->method);
    size_t mlen = strnlen(method, sizeof(ex->method) - 1);
    memcpy(ex->method, method, mlen);
    ex->method[mlen] = '\0';
    ex->head_request = p->method == HTTP_HEAD;
    if (p->upgrade || p->method == HTTP_CONNECT) {
        px_ex_answer(ex, 501, PROXY_ERR_NOT_IMPLEMENTED,
                     "the proxy does not tunnel (CONNECT, Upgrade)", 1);
        return PX_ANSWERED;
    }
    int bad = httpmsg_check(&ex->req, d->cfg.key_header);
    if (bad == -EMSGSIZE) {
        px_ex_answer(ex, 431, PROXY_ERR_HEAD_TOO_LARGE, "request head too large", 1);
        return PX_ANSWERED;
    }
    if (bad != 0) {
        px_ex_answer(ex, 400, PROXY_ERR_BAD_REQUEST, "malformed header", 1);
        return PX_ANSWERED;
    }
    if (httpmsg_count(&ex->req, d->cfg.key_header) > 1) {
        char why[RINGD_HEADER_BYTES_MAX + 64];
        snprintf(why, sizeof(why), "more than one %s header: the key is ambiguous",
                 d->cfg.key_header);
        px_ex_answer(ex, 400, PROXY_ERR_BAD_REQUEST, why, 1);
        return PX_ANSWERED;
    }
    ex->key = httpmsg_get(&ex->req, d->cfg.key_header, &ex->key_len);
    if (ex->key == NULL || ex->key_len == 0) {
        char why[RINGD_HEADER_BYTES_MAX + 32];
        snprintf(why, sizeof(why), "missing %s header", d->cfg.key_header);
        px_ex_answer(ex, 400, PROXY_ERR_NO_KEY, why, 1);
        return PX_ANSWERED;
    }
    uint64_t max = d->cfg.proxy_max_body_bytes;
    if (max > 0 && (p->flags & F_CONTENTLENGTH) && p->content_length > max) {
        px_ex_answer(ex, 413, PROXY_ERR_BODY_TOO_LARGE, "request body over --max-body", 1);
        return PX_ANSWERED;
    }
    size_t n;
    ex->retryable = httpmsg_idempotent(ex->method) ||
                    httpmsg_get(&ex->req, PROXY_IDEMPOTENT_HEADER, &n) != NULL;
    ex->chunked_up = (p->flags & F_CHUNKED) != 0;
    struct httpmsg_framing f = {
        .content_length =
            !ex->chunked_up && (p->flags & F_CONTENTLENGTH) ? (int64_t)p->content_length : -1,
        .chunked = ex->chunked_up,
    };
    sbuf_reset(&ex->head);
    httpmsg_write_request(&ex->head, ex->method, &ex->req, d->cfg.key_header, NULL, &f);
    if (ex->head.failed) {
        px_ex_answer(ex, 431, PROXY_ERR_HEAD_TOO_LARGE, "request head too large", 1);
        return PX_ANSWERED;
    }
    sbuf_add(&ex->replay, ex->head.data, ex->head.len);
    ex->head_len = ex->head.len;
    return route(ex);
}

enum px_step px_ex_body(struct px_ex *ex, const char *at, size_t len)
{
    uint64_t max = ex->p->d->cfg.proxy_max_body_bytes;
    ex->body_bytes += len;
    if (max > 0 && ex->body_bytes > max) {
        px_ex_answer(ex, 413, PROXY_ERR_BODY_TOO_LARGE, "request body over --max-body", 1);
        return PX_ANSWERED;
    }
    if (ex->chunked_up) {
        char line[24];
        size_t n = httpmsg_chunk_line(line, len);
        send_up(ex, line, n);
        send_up(ex, at, len);
        send_up(ex, "\r\n", 2);
    } else {
        send_up(ex, at, len);
    }
    check_up_pressure(ex);
    return PX_GOES_ON;
}

void px_ex_request_done(struct px_ex *ex)
{
    if (ex->chunked_up) {
        send_up(ex, "0\r\n\r\n", 5);
    }
    ex->req_done = 1;
    if (ex->up == UP_PEER) {
        mux_fin(ex->ms);
    }
    if (ex->app_wait) {
        /* Whole, and held in |replay|: its client is read again while it waits, so one that
         * goes away (a reset) leaves the queue at once; what it pipelines is held. */
        px_client_resume(ex->cl);
    }
}

/* ---- failures and retries ---------------------------------------------------------------- */

static uint64_t backoff_ms(uint32_t attempt)
{
    return (uint64_t)PROXY_RETRY_BACKOFF_MS << (attempt < 16 ? attempt : 16);
}

/* The upstream failed (already detached). Returns PX_WAITS when a retry waits, or
 * PX_ANSWERED when the exchange was answered or cut (and freed). */
static enum px_step up_lost(struct px_ex *ex, int delivered)
{
    struct ringd *d = ex->p->d;
    int was_app = ex->path != PROXY_PATH_FORWARD;
    if (ex->via_contact && d->groups != NULL) {
        /* the next try takes another contact of that group */
        (void)groups_contact_failed(d->groups, ex->contact_group, strlen(ex->contact_group),
                                    ex->contact_id, strlen(ex->contact_id));
        ex->via_contact = 0;
    }
    if (ex->resp_started) {
        px_client_abort(ex->cl);
        return PX_ANSWERED;
    }
    int may_repeat = ex->replayable && (ex->retryable || !delivered);
    uint64_t now = uv_now(d->loop);
    if (was_app) {
        px_ex_answer(ex, 502, PROXY_ERR_APP_FAILED,
                     delivered ? "the app failed before answering" : "the app is unreachable", 0);
        return PX_ANSWERED;
    }
    if (!may_repeat) {
        px_ex_answer(ex, 502, PROXY_ERR_OWNER_UNREACHABLE,
                     "the owner failed; the request may have reached it, so it was not retried", 0);
        return PX_ANSWERED;
    }
    if (ex->attempts >= d->cfg.proxy_retries || now >= ex->deadline_ms) {
        if (ex->hop_limited) {
            px_ex_answer(ex, 503, PROXY_ERR_HOP_LIMIT,
                         "ring disagreement: the rings still disagreed after the retries", 0);
        } else {
            px_ex_answer(ex, 503, PROXY_ERR_NO_OWNER, "no owner answered: retries exhausted", 0);
        }
        return PX_ANSWERED;
    }
    wait_until(ex, now + backoff_ms(ex->attempts));
    return PX_WAITS;
}

/* Routes |ex| again after a wait and lets its client go on. */
static void go_on(struct px_ex *ex)
{
    enum px_step step = route(ex);
    if (step == PX_ANSWERED) {
        return;
    }
    ex->app_turn = 0; /* it went elsewhere, or waits on another list */
    if (step != PX_GOES_ON) {
        return;
    }
    if (up_queued(ex) <= PROXY_QUEUE_HIGH_BYTES) {
        px_client_resume(ex->cl);
    } else {
        check_up_pressure(ex); /* resumed when the upstream drains (a new peer connection's
                                  handshake holds what many streams wrote at once) */
    }
}

void px_ex_retry(struct px_ex *ex)
{
    int look_again = ex->lease_wait || ex->restart_wait;
    unwait(ex);
    if (!ex->replayable) {
        px_ex_answer(ex, 502, PROXY_ERR_OWNER_UNREACHABLE,
                     "the owner failed and the request is too large to send again", 0);
        return;
    }
    if (look_again) {
        ex->lease_wait = 0; /* a look at the lease or the owner again, not a retry */
    } else {
        ex->attempts++;
        ex->p->m.proxy_retries++;
    }
    go_on(ex);
}

void px_ex_app_dispatch(struct ringd_proxy *p)
{
    while (p->app_pending > 0 && !p->closing && px_app_room(p)) {
        struct px_ex *ex = list_entry(p->app_queue.prev, struct px_ex, app_link);
        app_unwait(ex);
        if (!ex->req_done && px_client_lost(ex->cl)) {
            continue; /* its client went away mid-body: the app never sees a cut request */
        }
        if (!ex->replayable) {
            /* its body went on arriving while it waited, past what the proxy holds */
            px_ex_answer(ex, 503, PROXY_ERR_APP_OVERLOADED,
                         "the app was busy and the request is too large to hold while it waits", 0);
            continue;
        }
        /* routed again: the ring may have given the key to another member meanwhile */
        ex->app_turn = 1;
        go_on(ex);
    }
}

void px_ex_lease_changed(struct ringd_proxy *p)
{
    struct px_ex **link = &p->waiting;
    struct px_ex *looking = NULL;
    while (*link != NULL) {
        struct px_ex *ex = *link;
        if (ex->lease_wait) {
            *link = ex->wait_next;
            ex->wait_next = looking;
            looking = ex;
        } else {
            link = &ex->wait_next;
        }
    }
    while (looking != NULL) {
        struct px_ex *ex = looking;
        looking = ex->wait_next;
        ex->wait_next = NULL;
        ex->waiting_retry = 0;
        px_ex_retry(ex);
    }
}

void px_ex_app_ring_changed(struct ringd_proxy *p)
{
    struct px_ex *moving = NULL;
    for (struct list *it = p->app_queue.next; it != &p->app_queue; it = it->next) {
        struct px_ex *ex = list_entry(it, struct px_ex, app_link);
        uint32_t idx = 0;
        struct ring_addr to;
        enum px_way way = pick(ex, &idx, &to);
        if (way == PX_WAY_FORWARD || way == PX_WAY_CONTACT) {
            ex->wait_next = moving; /* (free while it waits here: not on the retry list) */
            moving = ex;
        }
    }
    /* oldest first: the list was walked newest first, and |moving| reverses it */
    while (moving != NULL) {
        struct px_ex *ex = moving;
        moving = ex->wait_next;
        ex->wait_next = NULL;
        app_unwait(ex);
        go_on(ex);
    }
}

/* A request still arriving at its deadline gets 408, unless it waits for an app connection (it
 * is not read meanwhile, so it is no slow client): that one gets the 504 of a slow app. */
void px_ex_sweep(struct px_ex *ex, uint64_t now_ms)
{
    if (ex->restart_wait && ex->waiting_retry && now_ms >= ex->retry_at_ms) {
        px_ex_retry(ex); /* answers owner_restarting at the deadline */
    } else if (now_ms >= ex->deadline_ms && !ex->req_done && !ex->app_wait) {
        px_ex_answer(ex, 408, PROXY_ERR_TIMEOUT,
                     "the request did not arrive within --request-timeout", 1);
    } else if (now_ms >= ex->deadline_ms) {
        px_ex_answer(ex, 504, PROXY_ERR_TIMEOUT, "no answer within --request-timeout", 0);
    } else if (ex->waiting_retry && now_ms >= ex->retry_at_ms) {
        px_ex_retry(ex);
    }
}

void px_ex_client_gone(struct px_ex *ex)
{
    unwait(ex);
    detach_up(ex, 0);
}

/* ---- response ---------------------------------------------------------------------------- */

static void write_client(struct px_ex *ex, const char *data, size_t len)
{
    (void)px_client_write(ex->cl, data, len);
    /* Its own queue is full, or the stalled readers together hold PROXY_UNREAD_TOTAL_MAX: a
     * reading client drains and resumes at once, a stalled one is closed at the check. */
    int full = px_client_queued(ex->cl) > PROXY_QUEUE_HIGH_BYTES ||
               (!ex->cl->is_peer && ex->p->unread_total > PROXY_UNREAD_TOTAL_MAX);
    if (full && !ex->up_paused) {
        ex->up_paused = 1;
        if (ex->up == UP_APP) {
            px_app_pause(ex->app);
        }
        px_client_want_drain(ex->cl);
    }
}

/* The response cannot be passed on (|why| may be NULL: malformed). Returns what makes
 * http_parser stop. */
static int bad_response(struct px_ex *ex, const char *why)
{
    ex->interim = -1; /* marks the failure for px_ex_up_data */
    ex->bad_why = why;
    return PX_PARSER_STOP;
}

/* What a response head callback returns for httpmsg's |rv|. */
static int rsp_head_error(struct px_ex *ex, int rv)
{
    if (rv == 0) {
        return 0;
    }
    return bad_response(ex, rv == -ENOMEM ? "out of memory: ringd could not hold the response head"
                                          : NULL);
}

static int on_status(http_parser *p, const char *at, size_t len)
{
    struct px_ex *ex = p->data;
    return rsp_head_error(ex, httpmsg_on_text(&ex->rsp, at, len));
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct px_ex *ex = p->data;
    return rsp_head_error(ex, httpmsg_on_field(&ex->rsp, at, len));
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct px_ex *ex = p->data;
    return rsp_head_error(ex, httpmsg_on_value(&ex->rsp, at, len));
}

static int cause_is(const struct httpmsg_served *sv, enum ringd_proxy_error e)
{
    const char *name = ringd_proxy_error_names[e];
    return sv->cause != NULL && sv->cause_len == strlen(name) &&
           memcmp(sv->cause, name, sv->cause_len) == 0;
}

/* Checks who the answer of the owner's ringd says served the request (PROTOCOL.md section 11)
 * and writes the X-Ring-Owner and X-Ring-Error lines it goes on with into |lines| (|cap|
 * bytes): the ones checked here, never a copy passed through unread. |*refused| is 1 for a
 * ringd's answer that no app got the request (hop_limit, no_owner). Returns 0, or UV_EPROTO for
 * an answer no ringd sends. */
static int check_served(struct px_ex *ex, char *lines, size_t cap, int *refused)
{
    struct httpmsg_served sv;
    int rv = httpmsg_served(&ex->rsp, &sv);
    if (rv != 0) {
        return rv; /* -EPROTO */
    }
    int known = sv.cause == NULL;
    for (int e = 0; e < PROXY_ERRORS && !known; e++) {
        known = e != PROXY_ERR_ABORTED && cause_is(&sv, (enum ringd_proxy_error)e);
    }
    /* At the last hop the peer cannot pass the request on, so an app's answer names the peer
     * itself. Before it, the peer may have passed it on, and checked the answer it got so. */
    int other = sv.owner != NULL &&
                (sv.owner_len != ex->up_id_len || memcmp(sv.owner, ex->up_id, sv.owner_len) != 0);
    if (!known || (other && ex->up_hops >= FWD_HOPS_MAX)) {
        return UV_EPROTO;
    }
    ex->hop_limited = sv.owner == NULL && cause_is(&sv, PROXY_ERR_HOP_LIMIT);
    *refused = ex->hop_limited || (sv.owner == NULL && cause_is(&sv, PROXY_ERR_NO_OWNER));
    int n = 0;
    lines[0] = '\0';
    if (sv.owner != NULL) {
        n = snprintf(lines, cap, "%s: %.*s\r\n", HTTPMSG_OWNER_HEADER, (int)sv.owner_len, sv.owner);
    }
    if (sv.cause != NULL) {
        snprintf(lines + n, cap - (size_t)n, "%s: %.*s\r\n", HTTPMSG_ERROR_HEADER,
                 (int)sv.cause_len, sv.cause);
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct px_ex *ex = p->data;
    int status = p->status_code;
    ex->resp_heads++;
    if (status == 101 || status < 100) {
        return bad_response(ex, NULL);
    }
    struct httpmsg_framing f = { .content_length = -1 };
    sbuf_reset(&ex->head);
    if (status < 200) {
        /* 100 Continue and friends pass to HTTP/1.1 clients; the final answer follows */
        ex->interim = 1;
        if (!ex->client_http10) {
            httpmsg_write_response(&ex->head, status, &ex->rsp, NULL, &f);
            write_client(ex, ex->head.data, ex->head.len);
        }
        httpmsg_reset(&ex->rsp);
        return 0;
    }
    /* the app's copies of ringd's headers are dropped (httpmsg); ours go in their place */
    char peer_lines[MEMBER_ID_BYTES_MAX + HTTPMSG_CAUSE_BYTES_MAX + 64];
    const char *lines = ex->p->owner_line;
    int refused = 0;
    if (ex->up == UP_PEER) {
        if (check_served(ex, peer_lines, sizeof(peer_lines), &refused) != 0) {
            return bad_response(ex, "the owner sent an answer that does not say who served it");
        }
        lines = peer_lines;
    }
    if (ex->up == UP_PEER && !ex->cl->is_peer && status == 503 && refused) {
        /* No app saw it (a ring in flux past the hop limit, or an empty ring there): like
         * a failed owner, it may go again once the ring settles. Only the first ringd
         * retries, so retries never multiply along the path. */
        ex->peer_refused = 1;
        http_parser_pause(p, 1);
        return 0;
    }
    int has_length = (p->flags & F_CONTENTLENGTH) && !(p->flags & F_CHUNKED);
    if (ex->head_request || status == 204 || status == 304) {
        f.content_length = has_length && status != 204 ? (int64_t)p->content_length : -1;
    } else if (has_length) {
        f.content_length = (int64_t)p->content_length;
    } else if (ex->client_http10) {
        ex->resp_close = 1; /* the body ends when the connection does */
    } else {
        f.chunked = ex->resp_chunked = 1;
    }
    if (!ex->client_keep_alive || !ex->req_done) {
        ex->resp_close = 1;
    }
    f.close = ex->resp_close;
    httpmsg_write_response(&ex->head, status, &ex->rsp, lines, &f);
    if (ex->head.failed) {
        return bad_response(ex, NULL);
    }
    ex->resp_started = 1;
    write_client(ex, ex->head.data, ex->head.len);
    return ex->head_request ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct px_ex *ex = p->data;
    if (ex->resp_chunked) {
        char line[24];
        size_t n = httpmsg_chunk_line(line, len);
        write_client(ex, line, n);
        write_client(ex, at, len);
        write_client(ex, "\r\n", 2);
    } else {
        write_client(ex, at, len);
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct px_ex *ex = p->data;
    if (ex->interim == 1) {
        ex->interim = 0;
        httpmsg_scan_reset(&ex->resp_scan); /* the final response's head follows */
        return 0;
    }
    if (ex->resp_chunked) {
        write_client(ex, "0\r\n\r\n", 5);
    }
    ex->resp_done = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings response_settings = {
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* The response is complete: the upstream is released (an app connection kept when it may be
 * reused) and the client goes on. */
static void complete(struct px_ex *ex)
{
    if (ex->up_extra && ex->up == UP_APP) {
        /* Bytes nobody asked for (a second response, a body after a HEAD's): kept, the
         * connection would hand them to the next request as its answer. */
        ex->p->m.proxy_app_unsolicited++;
    }
    int reusable =
        ex->req_done && !ex->up_eof && !ex->up_extra && http_should_keep_alive(&ex->resp);
    detach_up(ex, reusable);
    observe(ex);
    int keep = ex->client_keep_alive && !ex->resp_close && ex->req_done;
    px_client_done(ex->cl, keep);
}

/* The upstream's bytes could not be parsed as a response, or not passed on: 502. */
static void response_failed(struct px_ex *ex)
{
    int from_app = ex->up == UP_APP;
    char why[160];
    if (ex->scan_why != NULL) {
        snprintf(why, sizeof(why), "the %s sent a malformed response head: %s",
                 from_app ? "app" : "owner", ex->scan_why);
    } else if (ex->bad_why != NULL) {
        snprintf(why, sizeof(why), "%s", ex->bad_why);
    } else {
        snprintf(why, sizeof(why), "the %s sent a malformed response", from_app ? "app" : "owner");
    }
    detach_up(ex, 0);
    px_ex_answer(ex, 502, from_app ? PROXY_ERR_APP_FAILED : PROXY_ERR_OWNER_UNREACHABLE, why, 0);
}

/* Parses |len| bytes of the response; stops at its end (resp_done), at a peer's refusal or at
 * an error. Each head's raw bytes are scanned before http_parser sees them, as a request's
 * are (a 100 Continue's head, then the final one's), and http_parser must find the head's
 * end where the scan does (proxy.c, parse_request). Returns the bytes parsed, or UV_EPROTO for a
 * malformed head (scan_why says why). */
static ssize_t parse_response(struct px_ex *ex, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len && HTTP_PARSER_ERRNO(&ex->resp) == HPE_OK) {
        size_t n = len - off;
        int ends = 0;
        if (!httpmsg_scan_done(&ex->resp_scan)) {
            int rv = httpmsg_scan(&ex->resp_scan, data + off, n, &n);
            if (rv < 0) {
                ex->scan_why = ex->resp_scan.why;
                return UV_EPROTO;
            }
            ends = rv == 1;
        }
        uint32_t heads = ex->resp_heads;
        size_t got = http_parser_execute(&ex->resp, &response_settings, data + off, n);
        off += got;
        if (ends && got == n && ex->resp_heads == heads && HTTP_PARSER_ERRNO(&ex->resp) == HPE_OK) {
            ex->scan_why = "malformed status line";
            return UV_EPROTO;
        }
    }
    return (ssize_t)off;
}

void px_ex_up_data(struct px_ex *ex, const char *data, size_t len)
{
    ssize_t n = parse_response(ex, data, len);
    if (n < 0) {
        response_failed(ex);
        return;
    }
    if (ex->peer_refused) {
        ex->peer_refused = 0;
        detach_up(ex, 0);
        response_reset(ex);
        (void)up_lost(ex, 0);
        return;
    }
    if (ex->resp_done) {
        ex->up_extra = (size_t)n < len;
        complete(ex);
        return;
    }
    if (HTTP_PARSER_ERRNO(&ex->resp) != HPE_OK) {
        response_failed(ex);
        return;
    }
    if (ex->up == UP_PEER && len > 0) {
        if (ex->up_paused) {
            ex->up_owed += len;
        } else {
            mux_consumed(ex->ms, len);
        }
    }
}

void px_ex_up_eof(struct px_ex *ex)
{
    ex->up_eof = 1;
    http_parser_execute(&ex->resp, &response_settings, NULL, 0);
    if (ex->resp_done) {
        complete(ex);
        return;
    }
    detach_up(ex, 0);
    (void)up_lost(ex, 1);
}

void px_ex_up_failed(struct px_ex *ex, int delivered)
{
    ex->app = NULL; /* proxy_app closed it */
    ex->up = UP_NONE;
    (void)up_lost(ex, delivered);
}

void px_ex_up_drained(struct px_ex *ex)
{
    if (ex->cl->paused && !ex->waiting_retry && up_queued(ex) <= PROXY_QUEUE_HIGH_BYTES) {
        px_client_resume(ex->cl);
    }
}

void px_ex_client_drained(struct px_ex *ex)
{
    if (!ex->up_paused) {
        return;
    }
    ex->up_paused = 0;
    if (ex->up == UP_APP) {
        px_app_resume(ex->app);
    } else if (ex->up == UP_PEER && ex->up_owed > 0) {
        size_t owed = ex->up_owed;
        ex->up_owed = 0;
        mux_consumed(ex->ms, owed);
    }
}

/* ---- the peer stream as an upstream ------------------------------------------------------ */

static void up_on_data(struct mux_stream *s, const uint8_t *data, size_t len)
{
    px_ex_up_data(mux_user(s), (const char *)data, len);
}

static void up_on_fin(struct mux_stream *s)
{
    px_ex_up_eof(mux_user(s));
}

static void up_on_reset(struct mux_stream *s, int delivered)
{
    struct px_ex *ex = mux_user(s);
    ex->ms = NULL;
    ex->up = UP_NONE;
    mux_release(s);
    (void)up_lost(ex, delivered);
}

static void up_on_writable(struct mux_stream *s)
{
    px_ex_up_drained(mux_user(s));
}

static const struct mux_stream_cbs up_cbs = {
    .on_data = up_on_data,
    .on_fin = up_on_fin,
    .on_reset = up_on_reset,
    .on_writable = up_on_writable,
};
