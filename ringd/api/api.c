/*
 * api: the local API's connections on the unix socket (proto/RPC.md). Each connection has an
 * rpc_reader that libuv reads straight into, and two output buffers: one being filled with
 * responses while the other is on the wire, swapped when a write completes, so pipelined
 * responses go out in batches without copies.
 *
 * Bounds: the reader holds at most one message plus one read. A connection's unsent output
 * is bounded by --api-output-max: past a quarter of it (a client that pipelines and does not
 * read) no request is read or answered until it drains, so requests wait in the client
 * rather than answers here, and a connection holds at most that plus one answer (a large
 * members() passes the bound alone, and is still sent); a watcher whose unread notifications
 * pass the bound is closed, and so is any connection whose pending answers are not taken
 * within --send-timeout. A closed watcher can call watch() again and ring() to catch up.
 *
 * Slow and idle clients: a message must arrive whole within --header-timeout of its first
 * byte; a connection with nothing to do (not a watcher) is closed after --api-timeout; a
 * sweep timer checks both. When every slot is taken, a new connection closes the one idle or
 * stuck mid-message the longest (then the one whose answers have waited longest for its
 * client to read them; watchers last) instead of being refused, so a flood of idle, slow or
 * non-reading connections never locks an app out.
 *
 * Every message gets what proto/RPC.md "Message kinds" says, as rpc_server_action() decides:
 * a request is answered by its msgid (an error response when it is malformed); a notification
 * runs with no answer; a response from a client is dropped; a message with no usable msgid
 * gets an error notification and the connection carries on; bytes that break framing get an
 * error notification and close that connection only. Each of those is counted (/metrics).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accept_pace.h"
#include "api.h"
#include "evict_log.h"
#include "err.h"
#include "list.h"
#include "ring/error.h"
#include "prom.h"
#include "sockpath.h"
#include "unread.h"

/* The most output one buffer may hold: one ring() or members() result of a large cluster,
 * which may pass --api-output-max when it is all the connection has queued. */
#define OUT_BYTES_MAX RINGD_API_OUTPUT_BYTES_MAX
/* The listen backlog of the socket (the kernel caps it at net.core.somaxconn). A client that
 * connects to a unix socket whose backlog is full fails at once with EAGAIN (TCP would retry):
 * with 128, a burst of connections made a third of a real client's non-blocking connects fail,
 * so the backlog is as deep as the slots. */
#define API_BACKLOG 1024
/* Connections open at once (a full listener evicts, see above). With reading stopped at a
 * quarter of --api-output-max, each costs at most about that plus one message. */
#define API_CONNS_MAX 1024
/* Connections admitted past API_CONNS_MAX while every connection that could make room has
 * sent a whole message or is younger than API_GRACE_MS (make_room()): a connection that sent
 * one is closed only for one that sends one too, not for one more idle stranger, nor for a
 * byte (1,023 watchers and the app's connection: a stranger that connected and said nothing,
 * or sent one byte, closed the app's), and a client whose request is on its way is not
 * closed for the next one of its burst (27 of 150 were, with 123 slots free). */
#define API_EXTRA_MAX 64
/* A connection this young that has sent no whole message yet may be a client whose request
 * is still on its way: it is closed only when the extra room is full too (as admin's grace). */
#define API_GRACE_MS 200
/* New connections that wait on probation when the slots and the room past them all hold
 * connections that sent a request: a newcomer may not close one of those until it sends one
 * too (then the one idle the longest goes), and one that has sent none within API_GRACE_MS
 * is closed. Without it, 1,088 idle clients that had each asked once kept out every client
 * that connects and then asks (all 40 of 40 were closed at once). */
#define API_PROBATION_MAX 64
/* The input buffers of all connections together. A message may be 1 MiB and is buffered
 * until it is whole, and a buffer grown for one kept its size: 1,088 connections each
 * holding most of a message that never ends took ringd to 1.1 GB. Past this, the connection
 * holding the most is closed (as the proxy bounds its request heads); a buffer is given back
 * once its message has been read. */
#define API_INPUT_BYTES_MAX (32u << 20)
/* Deadlines are checked this often. */
#define API_SWEEP_MS 200

struct api_conn {
    struct ringd_api *api;
    struct list link; /* in ringd_api.conns */
    uv_pipe_t pipe;
    uv_write_t wreq;
    struct rpc_reader *reader;
    struct rpc_buf out;  /* being filled */
    struct rpc_buf wbuf; /* on the wire */
    int writing;
    int paused; /* reading stopped: too much output queued */
    int closing;
    int watching;
    int leave_after_write;
    int close_after_write; /* framing broke: send the error, then close */
    int spoke;             /* the client has sent a byte (read, or seen waiting unread) */
    int said;              /* ... and a well-formed request or notification */
    size_t input_bytes;    /* its reader's buffer, as counted in ringd_api.input_bytes */
    int probation;         /* waits past every slot and room until it says something */
    uint64_t accepted_ms;  /* uv_now at the accept */
    uint64_t active_ms;    /* last request answered, or accepted (uv_now) */
    uint64_t msg_ms;       /* the first byte of the message being read arrived; 0: none */
    uint64_t write_ms;     /* the write on the wire started */
};

struct ringd_api {
    struct ringd *d; /* the node: its view and config */
    uv_pipe_t listen;
    uv_timer_t sweep;
    struct sockpath_claim claim; /* the socket file, removed on close only if still ours */
    struct list conns;           /* open connections */
    size_t conn_count;
    size_t probation_count; /* connections on probation (API_PROBATION_MAX) */
    size_t input_bytes;     /* the connections' input buffers (API_INPUT_BYTES_MAX) */
    struct evict_log evict_log;
    struct accept_pace pace;
    struct ringd_api_counters m;
};

const struct ringd_api_counters *ringd_api_counters(const struct ringd_api *api)
{
    static const struct ringd_api_counters none;
    return api != NULL ? &api->m : &none;
}

/* The API's Prometheus families (a node export). */
static void prometheus(void *ctx, struct sbuf *b)
{
    const struct ringd_api *api = ctx;
    const struct ringd_api_counters *m = &api->m;
    prom_one(b, "ringd_api_requests_total", "counter", "Local API requests answered.", m->requests);
    prom_one(b, "ringd_api_errors_total", "counter", "Local API requests answered with an error.",
             m->errors);
    prom_one(b, "ringd_api_protocol_errors_total", "counter",
             "Local API connections closed for bytes that break framing.", m->protocol_errors);
    prom_one(b, "ringd_api_notifications_total", "counter",
             "Local API notifications received (run, never answered).", m->notifications);
    prom_one(b, "ringd_api_notifications_failed_total", "counter",
             "Local API notifications that were malformed or whose call failed.",
             m->notifications_failed);
    prom_one(b, "ringd_api_responses_ignored_total", "counter",
             "Responses sent by local API clients, which must not send any; dropped.",
             m->responses_ignored);
    prom_one(b, "ringd_api_unanswerable_total", "counter",
             "Local API messages with no usable msgid, answered by an error notification.",
             m->unanswerable);
    prom_one(b, "ringd_api_watchers_dropped_total", "counter",
             "Watchers closed because their unread notifications passed the backlog bound.",
             m->watchers_dropped);
    prom_one(b, "ringd_api_connections", "gauge", "Open local API connections.", api->conn_count);
    prom_one(b, "ringd_api_evictions_total", "counter",
             "Local API connections closed to make room for a new one, or a new one closed when "
             "every other had sent a request (every slot taken).",
             m->evictions);
    prom_one(b, "ringd_api_input_overflows_total", "counter",
             "Local API connections closed because the messages being received passed 32 MiB "
             "together (the one holding the most first).",
             m->input_overflows);
    prom_one(b, "ringd_api_output_overflows_total", "counter",
             "Local API connections closed because their unread output passed --api-output-max.",
             m->output_overflows);
    prom_family(b, "ringd_api_timeouts_total", "counter",
                "Local API connections closed at a deadline, by phase: header (a message not "
                "whole within --header-timeout), idle (--api-timeout), send (answers not taken "
                "within --send-timeout).");
    for (size_t i = 0; i < RINGD_API_PHASES; i++) {
        sbuf_printf(b, "ringd_api_timeouts_total{phase=\"%s\"} %llu\n", ringd_api_phase_names[i],
                    (unsigned long long)m->timeouts[i]);
    }
    const char *name = "ringd_api_request_duration_seconds";
    prom_family(b, name, "histogram", "Local API request handling time.");
    prom_histogram(b, name, "", m->latency, RINGD_LATENCY_BUCKETS, ringd_latency_bounds_us,
                   (double)m->latency_sum_ns / 1e9);
}

const char *const ringd_api_phase_names[RINGD_API_PHASES] = { "header", "idle", "send" };

const double ringd_latency_bounds_us[RINGD_LATENCY_BUCKETS - 1] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000, 100000,
};

void ringd_api_observe(struct ringd_api *api, uint64_t latency_ns, int failed)
{
    api->m.requests++;
    api->m.errors += failed != 0;
    api->m.latency_sum_ns += latency_ns;
    size_t b = 0;
    while (b < RINGD_LATENCY_BUCKETS - 1 &&
           (double)latency_ns / 1000.0 > ringd_latency_bounds_us[b]) {
        b++;
    }
    api->m.latency[b]++;
}

size_t ringd_api_connections(const struct ringd_api *api)
{
    return api != NULL ? api->conn_count : 0;
}

static void on_conn_closed(uv_handle_t *h)
{
    struct api_conn *c = h->data;
    rpc_reader_del(c->reader);
    rpc_buf_free(&c->out);
    rpc_buf_free(&c->wbuf);
    free(c);
}

static void conn_close(struct api_conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = 1;
    struct ringd_api *api = c->api;
    list_remove(&c->link);
    api->conn_count--;
    api->probation_count -= (size_t)c->probation;
    c->probation = 0;
    api->input_bytes -= c->input_bytes;
    c->input_bytes = 0;
    uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

/* Output queued and not yet taken by the client. */
static size_t queued(const struct api_conn *c)
{
    return c->out.len + c->wbuf.len;
}

/* Reading stops at this much queued output: a quarter of --api-output-max. */
static size_t out_low(const struct api_conn *c)
{
    return c->api->d->cfg.api_output_max_bytes / 4;
}

static void flush(struct api_conn *c);
static void process(struct api_conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void account_input(struct api_conn *c);
static void end_probation(struct api_conn *c);

static void on_written(uv_write_t *w, int status)
{
    struct api_conn *c = w->data;
    c->writing = 0;
    rpc_buf_truncate(&c->wbuf, 0);
    if (c->closing) {
        return;
    }
    if (status != 0) {
        conn_close(c);
        return;
    }
    if (c->leave_after_write) {
        c->leave_after_write = 0;
        ringd_leave(c->api->d, "leave() from the local API");
    }
    flush(c);
    if (!c->writing && c->close_after_write) {
        conn_close(c);
        return;
    }
    if (c->paused && queued(c) < out_low(c)) {
        c->paused = 0;
        process(c); /* requests that were buffered while paused */
        account_input(c);
        if (!c->closing && !c->paused &&
            uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0) {
            conn_close(c);
        }
    }
}

static void flush(struct api_conn *c)
{
    if (c->writing || c->closing || c->out.len == 0) {
        return;
    }
    struct rpc_buf t = c->wbuf;
    c->wbuf = c->out;
    c->out = t;
    uv_buf_t b = uv_buf_init(c->wbuf.data, (unsigned)c->wbuf.len);
    c->writing = 1;
    c->write_ms = uv_now(c->api->d->loop);
    if (uv_write(&c->wreq, (uv_stream_t *)&c->pipe, &b, 1, on_written) != 0) {
        c->writing = 0;
        conn_close(c);
    }
}

void ringd_api_pack_error(msgpack_packer *pk, uint32_t msgid, int err, const char *message)
{
    int code = ringd_err_to_ring(err); /* the wire's name for |err| */
    const char *msg = message != NULL ? message : ring_strerror(code);
    rpc_pack_error(pk, msgid, code, msg, strlen(msg));
}

/* Answers request |m| (RPC_ACTION_CALL, or RPC_ACTION_REJECT with its |decode_err|, a
 * negative errno). |*t_ns| is when the previous answer of this batch was done (or the batch
 * started): one clock read per request times both, decoding included. */
static void answer(struct api_conn *c, const struct rpc_msg *m, int decode_err, uint64_t *t_ns)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c->out, rpc_buf_write);
    size_t mark = c->out.len;
    struct api_call call;
    call.api = c->api;
    call.watch = 0;
    call.leave = 0;
    call.message = decode_err != 0 ? m->detail : NULL;
    int rv = decode_err;
    if (rv == 0) {
        rv = ringd_api_call(c->api->d, m, &pk, &call);
        if (rv == 0 && c->out.error != 0) {
            rv = ringd_err_from_ring(c->out.error);
            call.message = "the result does not fit the connection's output buffer";
        }
    }
    if (rv != 0) {
        rpc_buf_truncate(&c->out, mark);
        ringd_api_pack_error(&pk, m->msgid, rv, call.message);
    }
    c->watching |= call.watch;
    c->leave_after_write |= call.leave;
    uint64_t t1 = uv_hrtime();
    ringd_api_observe(c->api, t1 - *t_ns, rv != 0);
    *t_ns = t1;
}

/* A packer callback that drops what it is given: a notification's result goes nowhere. */
static int discard(void *data, const char *buf, size_t len)
{
    (void)data;
    (void)buf;
    (void)len;
    return 0;
}

/* Runs notification |m| as the request of the same method would run, and sends nothing
 * (msgpack-RPC: a notification has no response). watch() starts notifications on this
 * connection; leave() leaves at once, there being no response to wait for. */
static void notified(struct api_conn *c, const struct rpc_msg *m)
{
    struct ringd_api *api = c->api;
    msgpack_packer pk;
    msgpack_packer_init(&pk, NULL, discard);
    struct api_call call;
    call.api = api;
    call.watch = 0;
    call.leave = 0;
    call.message = NULL;
    api->m.notifications++;
    if (ringd_api_call(api->d, m, &pk, &call) != 0) {
        api->m.notifications_failed++;
        return;
    }
    c->watching |= call.watch;
    if (call.leave) {
        ringd_leave(api->d, "leave() notification from the local API");
    }
}

/* Queues an error notification for |err| (a negative errno), for what cannot be answered by
 * a msgid. */
static void notify_error(struct api_conn *c, int err, const char *detail)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c->out, rpc_buf_write);
    /* the wire's name for |err|, as in ringd_api_pack_error() */
    rpc_pack_error_notification(&pk, ringd_err_to_ring(err), detail, strlen(detail));
}

/* Framing broke (|err|, a negative errno): say why in an error notification (nothing after it
 * can be framed, so there is no msgid to answer), then close once it is written. */
static void fail_connection(struct api_conn *c, int err, const char *detail)
{
    c->api->m.protocol_errors++;
    notify_error(c, err, detail);
    c->close_after_write = 1;
    uv_read_stop((uv_stream_t *)&c->pipe);
    flush(c);
    if (!c->writing) {
        conn_close(c);
    }
}

/* Does what proto/RPC.md "Message kinds" says with message |m| (|err|: what
 * rpc_reader_next() said of it, as a negative errno) for every action but WAIT and CLOSE.
 * Exactly the requests the reader counted in flight are answered and reported answered. */
static void serve(struct api_conn *c, int action, int err, const struct rpc_msg *m, uint64_t *t_ns)
{
    struct ringd_api *api = c->api;
    switch (action) {
    case RPC_ACTION_CALL:
    case RPC_ACTION_REJECT:
        answer(c, m, action == RPC_ACTION_CALL ? 0 : err, t_ns);
        rpc_reader_answered(c->reader);
        break;
    case RPC_ACTION_NOTIFY:
        notified(c, m);
        break;
    case RPC_ACTION_DROP:
        if (m->kind == RPC_RESPONSE) {
            api->m.responses_ignored++;
        } else {
            api->m.notifications++;
            api->m.notifications_failed++;
        }
        break;
    default: /* RPC_ACTION_UNANSWERABLE */
        api->m.unanswerable++;
        notify_error(c, err, m->detail);
        break;
    }
}

static void process(struct api_conn *c)
{
    struct rpc_msg m;
    uint64_t t_ns = uv_hrtime();
    for (;;) {
        if (c->close_after_write || c->closing) {
            return;
        }
        if (queued(c) >= out_low(c)) {
            c->paused = 1;
            uv_read_stop((uv_stream_t *)&c->pipe);
            break;
        }
        int rv = rpc_reader_next(c->reader, &m);
        int action = rpc_server_action(rv, &m);
        /* Every request is answered before the next is read, so the reader's try-again (too
         * many in flight) cannot happen here; it would end the batch as 0 does. */
        if (action == RPC_ACTION_WAIT) {
            /* a message begun and not whole: its deadline runs from the first byte seen */
            size_t pending = rpc_reader_pending(c->reader);
            c->msg_ms = pending == 0 ? 0 : c->msg_ms != 0 ? c->msg_ms : uv_now(c->api->d->loop);
            break;
        }
        c->msg_ms = 0;
        c->active_ms = uv_now(c->api->d->loop);
        if (action == RPC_ACTION_CLOSE) {
            fail_connection(c, ringd_err_from_ring(rv), m.detail);
            return;
        }
        c->said |= action == RPC_ACTION_CALL || action == RPC_ACTION_NOTIFY;
        if (c->said && c->probation) {
            end_probation(c);
        }
        serve(c, action, ringd_err_from_ring(rv), &m, &t_ns);
    }
    flush(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct api_conn *c = h->data;
    void *p;
    size_t len;
    (void)suggested;
    if (rpc_reader_buf(c->reader, &p, &len) != 0) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init(p, (unsigned)(len > RPC_FEED_BYTES_MAX ? RPC_FEED_BYTES_MAX : len));
}

/* Gives back what |c|'s reader grew for messages it has read, and counts what it holds now
 * (API_INPUT_BYTES_MAX); past the bound, closes the connections holding the most until
 * within it. */
static void account_input(struct api_conn *c)
{
    struct ringd_api *api = c->api;
    if (c->closing) {
        return;
    }
    rpc_reader_trim(c->reader);
    size_t now = rpc_reader_capacity(c->reader);
    api->input_bytes = api->input_bytes - c->input_bytes + now;
    c->input_bytes = now;
    while (api->input_bytes > API_INPUT_BYTES_MAX) {
        struct api_conn *most = NULL;
        for (struct list *it = api->conns.next; it != &api->conns; it = it->next) {
            struct api_conn *o = list_entry(it, struct api_conn, link);
            if (most == NULL || o->input_bytes > most->input_bytes) {
                most = o;
            }
        }
        if (most == NULL) {
            return;
        }
        api->m.input_overflows++;
        conn_close(most);
        /* its buffer goes now, not at the close callback: one loop iteration's reads can
         * grow and close hundreds of them (and nothing reads a closed connection's) */
        rpc_reader_del(most->reader);
        most->reader = NULL;
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct api_conn *c = s->data;
    if (nread == UV_ENOBUFS || (nread < 0)) {
        conn_close(c);
        return;
    }
    (void)buf;
    if (nread > 0 && c->msg_ms == 0) {
        c->msg_ms = uv_now(c->api->d->loop); /* a message may begin here: process() decides */
    }
    c->spoke |= nread > 0;
    rpc_reader_commit(c->reader, (size_t)nread);
    process(c);
    account_input(c);
}

/* How readily |c| gives its slot to a new connection (higher first), and since when it has
 * been in that state (|*since|, older first). Past API_GRACE_MS: 7 its client never sent a
 * byte (an idle flood's, never the connection of an app that asked before); 6 it sent bytes
 * but no well-formed message yet (read or still unread: a flood of single bytes). Younger,
 * either is 5, oldest first: a client that connects and then asks is silent for a moment, and
 * ranked above a flood's byte-senders it went first under a flood of single bytes (half of the
 * real clients were reset). 4 stuck mid-message after a whole one; 3 idle; 2 waiting for the
 * client to take its answers (a client that asks and never reads); 1 a watcher, which is idle
 * by design and closed last. Above 5 a connection is unprotected (make_room()). */
static int eviction_rank(const struct api_conn *c, uint64_t now, uint64_t *since)
{
    if (!c->said && now - c->accepted_ms < API_GRACE_MS) {
        *since = c->accepted_ms;
        return 5;
    }
    if (!c->spoke) {
        *since = c->active_ms;
        return 7;
    }
    if (!c->said) {
        *since = c->msg_ms != 0 ? c->msg_ms : c->active_ms;
        return 6;
    }
    if (c->watching) {
        *since = c->active_ms;
        return 1;
    }
    if (c->writing) {
        *since = c->write_ms;
        return 2;
    }
    *since = c->msg_ms != 0 ? c->msg_ms : c->active_ms;
    return c->msg_ms != 0 ? 4 : 3;
}

#define API_RANK_UNPROTECTED 6

/* The connection a new one replaces when every slot is taken: the highest rank, and in it the
 * one in its state the longest (of equals the one accepted first: the list runs newest
 * first); never one on probation, which has no slot. Its rank goes to |*rank|. */
static struct api_conn *pick_victim(struct ringd_api *api, const struct api_conn *spare,
                                    int *rank_out)
{
    struct api_conn *victim = NULL;
    int victim_rank = 0;
    uint64_t victim_since = 0;
    uint64_t now = uv_now(api->d->loop);
    for (struct list *it = api->conns.next; it != &api->conns; it = it->next) {
        struct api_conn *c = list_entry(it, struct api_conn, link);
        if (c == spare || c->probation) {
            continue;
        }
        uint64_t since = 0;
        int rank = eviction_rank(c, now, &since);
        if (rank > victim_rank || (rank == victim_rank && since <= victim_since)) {
            victim = c;
            victim_rank = rank;
            victim_since = since;
        }
    }
    *rank_out = victim_rank;
    return victim;
}

/* pick_victim() of those but |spare|, but a client whose request waits unread in its socket
 * has spoken (unread.h: a client accepted in the same burst as a flood): it is marked so and
 * another is picked. Each connection is looked at in the kernel once at most. */
static struct api_conn *eviction_victim(struct ringd_api *api, const struct api_conn *spare,
                                        int *rank)
{
    for (;;) {
        struct api_conn *victim = pick_victim(api, spare, rank);
        uv_os_fd_t fd;
        if (victim == NULL || victim->spoke ||
            uv_fileno((const uv_handle_t *)&victim->pipe, &fd) != 0 || !ringd_has_unread(fd)) {
            return victim;
        }
        victim->spoke = 1;
    }
}

/* The deadline |c| has passed at |now| (a RINGD_API_PHASE_*), or RINGD_API_PHASES for
 * none. */
static int deadline_passed(const struct api_conn *c, uint64_t now)
{
    const struct ringd_config *cfg = &c->api->d->cfg;
    if (c->writing) {
        return now - c->write_ms >= cfg->send_timeout_ms ? RINGD_API_PHASE_SEND : RINGD_API_PHASES;
    }
    if (c->msg_ms != 0) {
        return now - c->msg_ms >= cfg->header_timeout_ms ? RINGD_API_PHASE_HEADER
                                                         : RINGD_API_PHASES;
    }
    if (!c->watching && cfg->api_idle_timeout_ms != 0 && queued(c) == 0 &&
        now - c->active_ms >= cfg->api_idle_timeout_ms) {
        return RINGD_API_PHASE_IDLE;
    }
    return RINGD_API_PHASES;
}

static void on_sweep(uv_timer_t *t)
{
    struct ringd_api *api = t->data;
    uint64_t now = uv_now(api->d->loop);
    evict_log_flush(api->d, &api->evict_log, "api");
    for (struct list *it = api->conns.next, *next; it != &api->conns; it = next) {
        next = it->next;
        struct api_conn *c = list_entry(it, struct api_conn, link);
        int phase = deadline_passed(c, now);
        if (phase < RINGD_API_PHASES) {
            api->m.timeouts[phase]++;
            conn_close(c);
        } else if (c->probation && now - c->accepted_ms >= API_GRACE_MS) {
            api->m.evictions++; /* it said nothing, and every slot holds one that did */
            evict_log_note(api->d, &api->evict_log, "api");
            conn_close(c);
        }
    }
}

/* Past API_CONNS_MAX with new connection |c| open: the one eviction_rank() ranks first
 * goes when it is unprotected (it never spoke, or spoke no whole message, for API_GRACE_MS).
 * When it is protected (it sent a whole message, or is a newcomer whose request may be on its
 * way) |c| waits past the slots instead, up to API_EXTRA_MAX: newcomers do not close each
 * other in a burst, and a stranger never closes a connection that asked. Past that room too,
 * |c|, if it has sent no whole message, waits on probation (API_PROBATION_MAX;
 * end_probation(), and the sweep closes it after API_GRACE_MS); when probation is full the
 * one ranked first goes, but not one that sent a whole message for |c|: then |c| goes. |c|'s
 * waiting request has been read (read_waiting()), so a client that sent one with its connect counts
 * as one that asked. */
static void make_room(struct ringd_api *api, struct api_conn *c)
{
    size_t held = api->conn_count - api->probation_count;
    if (held <= API_CONNS_MAX) {
        return;
    }
    int rank = 0;
    struct api_conn *victim = eviction_victim(api, c, &rank);
    if (victim != NULL && rank < API_RANK_UNPROTECTED) {
        if (held <= API_CONNS_MAX + API_EXTRA_MAX) {
            return;
        }
        if (!c->said && api->probation_count < API_PROBATION_MAX) {
            /* whether the one that would go asked or is as new as |c|: one arriving 20 ms
             * after another closed it before it could ask */
            c->probation = 1;
            api->probation_count++;
            return;
        }
        if (victim->said && !c->said) {
            victim = c;
        }
    }
    api->m.evictions++;
    evict_log_note(api->d, &api->evict_log, "api");
    conn_close(victim != NULL ? victim : c);
}

/* |c| on probation has sent a request: it takes a slot, and when every slot and the room past
 * them are held, the one eviction_rank() ranks first makes room (by then one that sent a
 * request too, idle the longest, or a newcomer that has not yet). */
static void end_probation(struct api_conn *c)
{
    struct ringd_api *api = c->api;
    c->probation = 0;
    api->probation_count--;
    if (api->conn_count - api->probation_count <= API_CONNS_MAX + API_EXTRA_MAX) {
        return;
    }
    int rank = 0;
    struct api_conn *victim = eviction_victim(api, c, &rank);
    if (victim != NULL) {
        api->m.evictions++;
        evict_log_note(api->d, &api->evict_log, "api");
        conn_close(victim);
    }
}

/* Reads what the client sent before it was accepted, and answers it, so that a client whose
 * request came with its connect has asked before make_room() decides (in a burst, hundreds are
 * accepted before the loop reads any). What is not there yet is read when it comes. */
static void read_waiting(struct api_conn *c)
{
    uv_os_fd_t fd;
    void *p;
    size_t len;
    /* Not before the first ring: it is built at the end of the loop's first turn, and a
     * request read at an accept in that turn was told "the ring is not built yet" where one
     * turn later it gets its answer (or "not joined yet"). */
    if (c->api->d->ring.ring == NULL || uv_fileno((const uv_handle_t *)&c->pipe, &fd) != 0 ||
        rpc_reader_buf(c->reader, &p, &len) != 0) {
        return;
    }
    ssize_t n = recv(fd, p, len > RPC_FEED_BYTES_MAX ? RPC_FEED_BYTES_MAX : len, MSG_DONTWAIT);
    if (n > 0) {
        uv_buf_t buf = uv_buf_init(p, (unsigned)n);
        on_read((uv_stream_t *)&c->pipe, n, &buf);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct ringd_api *api = server->data;
    if (status != 0 || accept_pace_wait(&api->pace)) {
        return;
    }
    struct api_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return;
    }
    c->api = api;
    uv_pipe_init(api->d->loop, &c->pipe, 0);
    c->pipe.data = c;
    c->wreq.data = c;
    rpc_buf_init(&c->out, NULL, OUT_BYTES_MAX);
    rpc_buf_init(&c->wbuf, NULL, OUT_BYTES_MAX);
    c->accepted_ms = c->active_ms = uv_now(api->d->loop);
    list_push(&api->conns, &c->link);
    api->conn_count++;
    api->m.connections++;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0 ||
        rpc_reader_new(&c->reader, NULL, NULL) != 0) {
        conn_close(c);
        return;
    }
    read_waiting(c);
    if (!c->closing) {
        make_room(api, c);
    }
    if (c->closing ||
        (!c->paused && uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0)) {
        conn_close(c);
    }
}

/* Sends the notification |method| with the 5 params packed in |params| to every watcher.
 * The params are packed once, for all of them. */
static void notify_watchers(struct ringd_api *api, const char *method, struct rpc_buf *params)
{
    struct list *head = &api->conns;
    for (struct list *it = head->next, *next; it != head && params->error == 0; it = next) {
        next = it->next;
        struct api_conn *c = list_entry(it, struct api_conn, link);
        if (!c->watching) {
            continue;
        }
        if (queued(c) > api->d->cfg.api_output_max_bytes) {
            api->m.watchers_dropped++;
            api->m.output_overflows++;
            conn_close(c); /* a watcher that does not read */
            continue;
        }
        msgpack_packer pk;
        msgpack_packer_init(&pk, &c->out, rpc_buf_write);
        rpc_pack_notification_begin(&pk, method, strlen(method), 5);
        pk.callback(pk.data, params->data, params->len);
        if (c->out.error != 0) {
            conn_close(c); /* a watcher that does not read */
            continue;
        }
        flush(c);
    }
    rpc_buf_free(params);
}

static void ring_changed(struct ringd_api *api, const struct ringd_ring *old)
{
    struct rpc_buf b;
    msgpack_packer pk;
    rpc_buf_init(&b, NULL, 0);
    msgpack_packer_init(&pk, &b, rpc_buf_write);
    ringd_api_pack_ring_changed(api->d, old, &pk);
    notify_watchers(api, "ring_changed", &b);
}

static void on_shards_changed(void *ctx, const uint32_t *old, size_t old_n)
{
    struct ringd_api *api = ctx;
    struct rpc_buf b;
    msgpack_packer pk;
    rpc_buf_init(&b, NULL, 0);
    msgpack_packer_init(&pk, &b, rpc_buf_write);
    ringd_api_pack_shards_changed(api->d, old, old_n, &pk);
    notify_watchers(api, "shards_changed", &b);
}

static void on_lease_changed(void *ctx, const struct lease_event *ev)
{
    struct ringd_api *api = ctx;
    struct rpc_buf b;
    msgpack_packer pk;
    rpc_buf_init(&b, NULL, 0);
    msgpack_packer_init(&pk, &b, rpc_buf_write);
    ringd_api_pack_lease_changed(api->d, ev, &pk);
    notify_watchers(api, "lease_changed", &b);
}

static void on_ring_rebuilt(void *ctx, const struct ringd_ring *old, int changed)
{
    if (changed) {
        ring_changed(ctx, old);
    }
}

/* The node stops: every connection and the listener close, and the socket file goes if it
 * is still ours. */
static void on_stopping(void *ctx)
{
    struct ringd_api *api = ctx;
    while (!list_empty(&api->conns)) {
        conn_close(list_entry(api->conns.next, struct api_conn, link));
    }
    if (!uv_is_closing((uv_handle_t *)&api->sweep)) {
        uv_close((uv_handle_t *)&api->sweep, NULL);
    }
    accept_pace_close(&api->pace);
    if (!uv_is_closing((uv_handle_t *)&api->listen)) {
        uv_close((uv_handle_t *)&api->listen, NULL);
        sockpath_release(&api->claim, api->d->cfg.socket_path);
    }
}

/* Makes the socket path free for bind, or says clearly why it is not ours to take. */
static int claim_path(struct ringd_api *api, const char *path)
{
    struct ringd *d = api->d;
    int stale = 0;
    int rv = sockpath_prepare(path, &stale);
    if (stale) {
        ringd_log(&d->log, RINGD_LOG_INFO, "socket_removed", "path", path, "why",
                  "stale: nothing listens on it", NULL);
    }
    const char *why = rv == UV_EEXIST       ? "exists and is not a socket; not removing it"
                      : rv == UV_EADDRINUSE ? "another process is listening on it"
                                            : NULL;
    if (why != NULL) {
        ringd_log(&d->log, RINGD_LOG_ERROR, "listen", "what", "local api", "path", path, "error",
                  why, NULL);
    } else if (rv != 0) {
        ringd_log(&d->log, RINGD_LOG_ERROR, "listen", "what", "local api", "path", path, "error",
                  uv_strerror(rv), NULL);
    }
    return rv;
}

uint32_t ringd_api_fds_max(void)
{
    return API_CONNS_MAX + API_EXTRA_MAX + API_PROBATION_MAX + 1;
}

int ringd_api_start(struct ringd *d, struct ringd_api **out)
{
    struct ringd_api *api = calloc(1, sizeof(*api));
    *out = api;
    if (api == NULL) {
        return UV_ENOMEM;
    }
    api->d = d;
    list_init(&api->conns);
    /* first: on_stopping() closes both */
    uv_timer_init(d->loop, &api->sweep);
    uv_pipe_init(d->loop, &api->listen, 0);
    accept_pace_init(d->loop, &api->pace, (uv_stream_t *)&api->listen, on_connection);
    api->sweep.data = api;
    api->listen.data = api;
    const struct ringd_node_cbs cbs = {
        .ring_rebuilt = on_ring_rebuilt,
        .shards_changed = on_shards_changed,
        .lease_changed = on_lease_changed,
        .stopping = on_stopping,
    };
    const struct ringd_export ex = { .prometheus = prometheus, .ctx = api };
    int sub = ringd_node_subscribe(d, &cbs, api);
    if (sub == 0) {
        sub = ringd_node_export(d, &ex);
    }
    if (sub != 0) {
        return sub;
    }
    const char *path = d->cfg.socket_path;
    uv_timer_start(&api->sweep, on_sweep, API_SWEEP_MS, API_SWEEP_MS);
    int rv = claim_path(api, path);
    if (rv != 0) {
        return rv;
    }
    int fd = sockpath_listen(&api->claim, path, API_BACKLOG);
    rv = fd < 0 ? fd : uv_pipe_open(&api->listen, fd);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&api->listen, API_BACKLOG, on_connection);
    } else if (fd >= 0) {
        close(fd);
    }
    if (rv == UV_EADDRINUSE) {
        ringd_log(&d->log, RINGD_LOG_ERROR, "listen", "what", "local api", "path", path, "error",
                  "another process created it while this one started", NULL);
        return rv;
    }
    if (rv != 0) {
        ringd_log(&d->log, RINGD_LOG_ERROR, "listen", "what", "local api", "path", path, "error",
                  uv_strerror(rv), NULL);
        return rv;
    }
    ringd_log(&d->log, RINGD_LOG_INFO, "listen", "what", "local api", "path", path, NULL);
    return 0;
}

void ringd_api_free(struct ringd_api *api)
{
    free(api);
}
