/*
 * proxy_int.h: what the forwarding proxy's files share.
 *
 *   proxy.c      the listener, client connections (TCP from the app, or a stream a peer
 *                opened), the request parser, the sweep timer
 *   proxy_ex.c   one exchange: route the request (local app, or the owner's ringd), stream
 *                its body up, the response back, retry on a new owner
 *   proxy_app.c  keep-alive connections to the local app (at most --proxy-max-app-conns; when
 *                all are busy a request waits its turn, proxy_ex.c)
 *
 * Every byte is streamed: a direction reads its source only while its sink holds under
 * PROXY_QUEUE_HIGH_BYTES, so a request of any size costs a few buffers per hop.
 */
#ifndef RINGD_PROXY_INT_H
#define RINGD_PROXY_INT_H

#include <http_parser.h>

#include "accept_pace.h"
#include "daemon.h"
#include "evict_log.h"
#include "httpmsg.h"
#include "list.h"
#include "mux.h"
#include "outq.h"
#include "proxy.h"

/* A sink holding more than this stops its source until it drains: a few reads' worth. */
#define PROXY_QUEUE_HIGH_BYTES (256u << 10)
/* A request whose bytes so far fit here can be re-sent to a new owner; larger ones, once
 * sent, cannot (they may be retried only before their first byte left). */
#define PROXY_REPLAY_BYTES_MAX (64u << 10)
/* Client connections open at once; a new one past it closes the TCP client idle or in its
 * request head the longest (proxy.c), or is closed itself when every one is busy. */
#define PROXY_CLIENTS_MAX 4096
/* Answers waiting in the proxy for clients that read them slowly or not at all, all TCP
 * clients together: past this, the client with the most waiting is closed (and counted), so
 * stalled readers cost at most this much however many they are (each holds up to about
 * PROXY_QUEUE_HIGH_BYTES before its upstream stops). Checked every loop iteration. */
#define PROXY_UNREAD_TOTAL_MAX (24u << 20)
/* What the TCP clients hold together of requests not yet answered: a head being read (its
 * bytes so far and PROXY_HEAD_HELD_BYTES for the exchange begun at its first byte), and the
 * pipelined bytes read ahead of the request being answered (up to PROXY_HELD_BYTES_MAX and
 * one read each). Past it, the client holding the most is closed (and counted), so slow heads
 * and pipelines cost at most this much however many they are: 4,096 clients each 16 KB into
 * a head held 129 MiB, and 1,896 waiting clients with 130 KB pipelined each 256 MiB. */
#define PROXY_HEADS_HELD_MAX  (16u << 20)
#define PROXY_HEAD_HELD_BYTES (8u << 10)
/* An idle keep-alive connection to the app is closed after this long (below the usual 60+ s
 * of app servers, so the proxy, not the app, closes it: no reuse race). */
#define PROXY_APP_IDLE_MS 30000
/* Timeouts and retries are checked this often. */
#define PROXY_SWEEP_MS 50
/* The first retry waits this long (or until the ring changes); each next one twice as long. */
#define PROXY_RETRY_BACKOFF_MS 100
/* Finished exchanges kept for reuse, with their buffers: a busy keep-alive proxy then
 * allocates nothing per request. */
#define PROXY_FREE_EXCHANGES_MAX 64
/* What the requests waiting for an app connection may hold together, each counted at what it
 * may come to hold while it waits: its head and body up to PROXY_REPLAY_BYTES_MAX (its
 * Content-Length's worth; the most when chunked), plus PROXY_WAITER_BYTES for the exchange
 * and its head as read. A request that would pass it gets 503 app_overloaded, as one past
 * --proxy-max-pending does: 1,024 waiters of 64 KiB each took ringd past 80 MB. */
#define PROXY_PENDING_BYTES_MAX (16u << 20)
#define PROXY_WAITER_BYTES      (4u << 10)
/* Pipelined bytes held for after the request being answered; at this much the client is
 * not read until the answer is out. */
#define PROXY_HELD_BYTES_MAX (64u << 10)
/* One read from a socket. */
#define PROXY_READ_BYTES (64u << 10)
/* --exclusive: a request for a shard whose lease is on its way here looks again this often
 * (and at every lease change), until --handoff-wait. */
#define PROXY_LEASE_POLL_MS 50
/* A request for a key whose owner is restarting (--delayed-rebalance) looks again this often
 * (and at every change of the view), until --request-timeout. */
#define PROXY_RESTART_POLL_MS 100
/* Requests waiting for restarting owners at once; past it, 503 owner_restarting at once, so
 * a busy restarting owner's traffic never fills the client slots other keys need. */
#define PROXY_RESTART_WAITING_MAX (PROXY_CLIENTS_MAX / 2)
/* A request carrying this header (any value) may be retried like an idempotent one. */
#define PROXY_IDEMPOTENT_HEADER "X-Ring-Idempotent"

struct px_ex;

/* What became of an exchange after a step that may answer it. Not errors: when the proxy
 * answers a request with an error, the answer has already gone to the client. */
enum px_step {
    PX_GOES_ON = 0, /* it goes on: sent upstream, or its request is still being read */
    PX_WAITS,       /* it waits on the proxy's list (a retry, a lease, a restarting owner) */
    PX_ANSWERED,    /* it was answered or cut, and freed: the caller must not touch it */
};

/* What an http_parser callback returns to make it stop (HPE_CB_*): any value but 0 (and, from
 * on_headers_complete, 1 or 2) is http_parser's "stop", not an error code of ours. */
#define PX_PARSER_STOP (-1)

/* A connection to the local app. */
struct px_app {
    struct ringd_proxy *p;
    struct list link;         /* in ringd_proxy.apps: every app connection */
    struct px_app *idle_next; /* the idle list */
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct outq out;
    struct px_ex *ex; /* the exchange it serves; NULL when idle */
    int connected, closing, idle, reused, paused;
    uint64_t since_ms; /* connect started, or idle since */
};

/* A client: an app's TCP connection to the proxy port, or a stream a peer opened. */
struct px_client {
    struct ringd_proxy *p;
    struct list link; /* in ringd_proxy.clients, then .dead */
    int is_peer;
    uv_tcp_t tcp;          /* TCP clients */
    struct outq out;       /* TCP clients */
    struct mux_stream *ms; /* peer clients */
    uint8_t hops;          /* peer clients: the hop this request is on */
    http_parser parser;
    struct httpmsg_scan scan; /* the raw bytes of the request head being read */
    uint32_t heads;           /* request heads http_parser has read */
    struct px_ex *ex; /* the request being served: one at a time, so answers stay in order */
    char *held;       /* bytes read past a complete request (pipelined), parsed after it */
    size_t held_len;
    size_t owed;      /* peer clients: bytes to acknowledge once the upstream drains */
    int paused;       /* reading stopped: the upstream is full */
    int waiting;      /* a request is being answered: what arrives meanwhile is held */
    int reading;      /* TCP clients: uv_read_start is in effect */
    int eof;          /* TCP clients: the client sent everything (half-close) */
    int spoke;        /* TCP clients: the client has sent a byte (read, or seen waiting unread) */
    size_t head_held; /* TCP clients: what its head being read counts in ringd_proxy.heads_held */
    int closing, close_when_flushed, failed_parse;
    int feeding;                  /* inside client_feed (its parser must not be re-entered) */
    int feeding_held, feed_again; /* inside feed_held; an answer asked it for more meanwhile */
    uint64_t active_ms;
    /* TCP clients: when the request head being read began (the accept, or its first byte
     * after a keep-alive wait); 0 outside a head. --header-timeout runs from it. */
    uint64_t head_ms;
};

/* One request and its response. The small fields come first: px_ex_new clears only them. */
struct px_ex {
    struct ringd_proxy *p;
    struct px_client *cl;
    struct px_ex *wait_next; /* the proxy's retry list */
    struct list app_link;    /* in ringd_proxy.app_queue while app_wait */
    struct sbuf head;        /* scratch for heads and chunk framing written onward */
    struct sbuf replay;      /* the request bytes sent upstream, while they fit */
    char method[HTTPMSG_METHOD_BYTES_MAX + 1];
    const char *key; /* in req */
    size_t key_len;
    int path; /* enum ringd_proxy_path */
    int up;   /* UP_* */
    struct px_app *app;
    struct mux_stream *ms;
    struct ring_addr owner_addr;         /* UP_PEER: where it went */
    uint8_t up_hops;                     /* ... the hop count it went with */
    char up_id[MEMBER_ID_BYTES_MAX + 1]; /* ... the member id it went to */
    size_t up_id_len;
    int via_contact; /* ... a contact of the key's group (sub-sharding): */
    char contact_group[MEMBER_GROUP_BYTES_MAX + 1];
    char contact_id[MEMBER_ID_BYTES_MAX + 1];
    int retryable;  /* idempotent, or marked so by the app */
    int replayable; /* every request byte so far is in |replay| */
    int chunked_up; /* the request body goes up chunked */
    int head_request;
    int client_http10, client_keep_alive;
    int req_done, resp_started, resp_chunked, resp_close, interim, resp_done, up_eof;
    int peer_refused;     /* the owner's ringd answered that no app got it: retry */
    int hop_limited;      /* ... the last time because of the hop limit */
    int up_paused;        /* the upstream's reading is stopped: the client is full */
    int up_extra;         /* the upstream sent bytes after the complete response */
    const char *bad_why;  /* why the response could not be passed on (502), or NULL */
    const char *scan_why; /* ... its head's raw bytes were malformed (httpmsg_scan) */
    size_t up_owed;       /* UP_PEER: bytes to acknowledge once the client drains */
    int waiting_retry;
    int lease_wait;     /* ... for the shard's lease, not after a failure (--exclusive) */
    int restart_wait;   /* ... for the key's owner to be back from a restart */
    int restart_waited; /* it has waited for a restarting owner (counted once) */
    int app_wait;       /* it waits in ringd_proxy.app_queue for an app connection */
    int app_turn;       /* ... and was taken off it: it goes before the others still there */
    int app_overloaded; /* the queue was full when its head came: 503 once it is whole */
    size_t app_held;    /* while app_wait: what it counts in ringd_proxy.app_held */
    uint32_t shard;     /* the key's logical shard (--shards) */
    uint64_t epoch;     /* the lease's epoch when it went to our app (--exclusive) */
    size_t head_len;    /* the request head's bytes at the start of |replay| */
    uint32_t attempts;
    uint64_t body_bytes;
    uint64_t start_ms, deadline_ms, retry_at_ms;
    uint64_t start_ns; /* uv_hrtime() at the first byte: latency needs more than uv_now's ms */
    http_parser resp;
    struct httpmsg_scan resp_scan; /* the raw bytes of the response head being read */
    uint32_t resp_heads;           /* response heads http_parser has read */
    /* Large, filled as they arrive. */
    struct httpmsg req;
    struct httpmsg rsp;
};

enum { UP_NONE, UP_APP, UP_PEER };

/* The proxy's paths: a request served by the local app for a local client, forwarded to a
 * peer, or served by the local app for a peer that forwarded it. */
enum ringd_proxy_path {
    PROXY_PATH_LOCAL,
    PROXY_PATH_FORWARD,
    PROXY_PATH_PEER,
    PROXY_PATHS,
};

/* Why the proxy answered with an error (or cut a response short); also X-Ring-Error. */
#define RINGD_PROXY_ERRORS(X)                                                                      \
    X(BAD_REQUEST, "bad_request")             /* 400: malformed HTTP */                            \
    X(NO_KEY, "no_key")                       /* 400: no key header */                             \
    X(BODY_TOO_LARGE, "body_too_large")       /* 413 */                                            \
    X(HEAD_TOO_LARGE, "head_too_large")       /* 431 */                                            \
    X(NOT_IMPLEMENTED, "not_implemented")     /* 501: CONNECT, Upgrade */                          \
    X(APP_FAILED, "app_failed")               /* 502: the owner's app failed or is down */         \
    X(OWNER_UNREACHABLE, "owner_unreachable") /* 502: may have reached it, not retried */          \
    X(NO_OWNER, "no_owner")                   /* 503: empty ring, or retries exhausted */          \
    X(HOP_LIMIT, "hop_limit")                 /* 503: the rings disagree past the hop limit */     \
    X(NO_QUORUM, "no_quorum")                 /* 503: --exclusive, on a minority side */           \
    X(NO_LEASE, "no_lease")                   /* 503: --exclusive, the lease is still moving */    \
    X(OWNER_RESTARTING, "owner_restarting")   /* 503: its owner was not back in time */            \
    X(APP_OVERLOADED, "app_overloaded")       /* 503: every app connection busy, queue full */     \
    X(TIMEOUT, "timeout")                     /* 504, or 408 for a slow client */                  \
    X(ABORTED, "aborted")                     /* the response was cut short */

enum ringd_proxy_error {
#define RINGD_PROXY_ERROR_ENUM(name, text) PROXY_ERR_##name,
    RINGD_PROXY_ERRORS(RINGD_PROXY_ERROR_ENUM)
#undef RINGD_PROXY_ERROR_ENUM
        PROXY_ERRORS,
};
extern const char *const ringd_proxy_error_names[PROXY_ERRORS];
extern const char *const ringd_proxy_path_names[PROXY_PATHS];

/* Proxy latency histogram bucket upper bounds, in microseconds (the last is +Inf). */
#define RINGD_PROXY_LATENCY_BUCKETS 14
extern const double ringd_proxy_latency_bounds_us[RINGD_PROXY_LATENCY_BUCKETS - 1];

/* The proxy's counters. */
struct ringd_proxy_counters {
    uint64_t proxy_requests[PROXY_PATHS]; /* completed, errors included */
    uint64_t proxy_latency[PROXY_PATHS][RINGD_PROXY_LATENCY_BUCKETS];
    uint64_t proxy_latency_sum_us[PROXY_PATHS];
    uint64_t proxy_errors[PROXY_ERRORS];
    uint64_t proxy_retries;               /* re-attempts after an owner failed */
    uint64_t proxy_restart_waits;         /* requests that waited for a restarting owner */
    uint64_t proxy_reroutes;              /* re-attempts that went to a different owner */
    uint64_t proxy_reforwards;            /* requests from a peer passed on: the key was not ours */
    uint64_t proxy_clients;               /* client connections accepted */
    uint64_t proxy_client_evictions;      /* TCP clients closed for a new one: every slot taken */
    uint64_t proxy_client_overflows;      /* TCP clients closed: PROXY_UNREAD_TOTAL_MAX passed */
    uint64_t proxy_client_refusals;       /* TCP clients closed at accept: none could be evicted */
    uint64_t proxy_client_head_overflows; /* ... PROXY_HEADS_HELD_MAX passed */
    uint64_t proxy_client_timeouts[2];    /* TCP clients closed: head (--header-timeout), idle */
    uint64_t proxy_app_connects;
    uint64_t proxy_app_unsolicited; /* app connections closed: bytes came, no request out */
    uint64_t proxy_app_queued;      /* requests that waited for an app connection */
    uint64_t proxy_app_overflows;   /* ... that found --proxy-max-pending waiting: 503 */
    uint64_t proxy_abandoned;       /* requests whose client went away before their answer */
    uint64_t proxy_peer_conns_in, proxy_peer_conns_out;
    uint64_t proxy_peer_connect_failures;
    uint64_t proxy_peer_protocol_errors;
    /* Forwarding limits (mux.c): incoming connections refused or evicted at the cap, OPENs
     * refused at the per-connection or total stream cap, incoming streams reset for idling,
     * frames that fail to open under the connection's session. */
    uint64_t proxy_peer_conns_refused, proxy_peer_conns_evicted;
    uint64_t proxy_peer_streams_refused, proxy_peer_streams_idle;
    uint64_t proxy_peer_auth_failures;
};

/* proxy_metrics.c: the proxy's Prometheus families and stats() section (a node export;
 * |ctx| the proxy). */
void px_prometheus(void *ctx, struct sbuf *b);
void px_stats(void *ctx, msgpack_packer *pk);

/* The proxy's state, owned by main.c (ringd_proxy_start). */
struct ringd_proxy {
    struct ringd *d;       /* the node: its view, config, loop and log */
    struct ringd_mux *mux; /* the peer connections (mux.c), owned here */
    struct ringd_proxy_counters m;
    uv_tcp_t listen;
    struct accept_pace pace;
    struct evict_log evict_log;
    uv_timer_t sweep;
    /* Socket writes are batched (outq.h). To apps and proxy clients: flushed at the end of
     * the read callback that caused them (a response head and body leave together, without
     * waiting for other connections). To peers: once per loop iteration, after the poll
     * phase (check) and before the loop blocks (prepare), so the frames of every stream to
     * one peer leave in one write. */
    struct outq_batch batch;
    struct outq_batch batch_peer;
    uv_check_t flush_check;
    uv_prepare_t flush_prepare;
    struct sockaddr_storage app_addr;
    struct list clients;
    size_t client_count;
    size_t unread_total;    /* the TCP clients' queued answer bytes (outq.total) */
    size_t heads_held;      /* what their heads being read hold (PROXY_HEADS_HELD_MAX) */
    size_t restart_waiting; /* exchanges waiting for a restarting owner (restart_wait) */
    struct list apps;
    struct px_app *idle_apps;
    size_t app_count;
    /* Exchanges waiting for an app connection, newest first (list_push): the oldest, at
     * app_queue.prev, gets the next one (px_ex_app_dispatch). */
    struct list app_queue;
    size_t app_pending;
    size_t app_held; /* what they may hold together (PROXY_PENDING_BYTES_MAX) */
    struct px_ex *waiting;
    struct list dead;      /* peer clients closed, freed by the next sweep */
    struct px_ex *free_ex; /* finished exchanges for reuse (wait_next links them) */
    size_t free_ex_count;
    int closing;
    char owner_line[MEMBER_ID_BYTES_MAX + 32]; /* "X-Ring-Owner: <our id>\r\n" */
    char rbuf[PROXY_READ_BYTES];
};

/* proxy.c: the client side of an exchange. */
/* Returns 0 or a uv error (the client's connection or stream is dead). */
int px_client_write(struct px_client *cl, const void *data, size_t len);
size_t px_client_queued(const struct px_client *cl);
void px_client_want_drain(struct px_client *cl);
void px_client_pause(struct px_client *cl);
void px_client_resume(struct px_client *cl);
/* The exchange is over (answered): the client reads its next request, or closes once its
 * answer is out when |keep| is 0. Frees the exchange. */
void px_client_done(struct px_client *cl, int keep);
/* The response was cut short: the client connection is closed (a peer stream reset). */
void px_client_abort(struct px_client *cl);
/* 1 when TCP client |cl|, not read while its request waited, reset its connection or
 * half-closed before the rest of its body: it is closed then (its exchange freed). */
int px_client_lost(struct px_client *cl);

/* proxy_ex.c */
struct px_ex *px_ex_new(struct px_client *cl);
/* A lease changed (--exclusive): the requests waiting for one look again. */
void px_ex_lease_changed(struct ringd_proxy *p);
/* Connections to the app may be free (one released, or closed): the requests waiting for one
 * get them, oldest first. Called once per loop iteration while any wait. */
void px_ex_app_dispatch(struct ringd_proxy *p);
/* The ring changed: the requests waiting for an app connection whose key has another owner
 * now go to it at once, rather than wait for this node's app. */
void px_ex_app_ring_changed(struct ringd_proxy *p);
/* Finishes with |ex|: kept for reuse (up to PROXY_FREE_EXCHANGES_MAX) or freed. */
void px_ex_free(struct px_ex *ex);
/* Frees the exchanges kept for reuse. */
void px_ex_free_all(struct ringd_proxy *p);
/* The request head is complete (cl->parser has it). Returns PX_GOES_ON, PX_WAITS (for a
 * retry, a lease or a restarting owner: reading goes on, paused), or PX_ANSWERED when the
 * exchange was answered with an error and the client must stop parsing. */
enum px_step px_ex_head(struct px_ex *ex);
/* Body bytes of the request. Returns PX_GOES_ON, or PX_ANSWERED (over --max-body). */
enum px_step px_ex_body(struct px_ex *ex, const char *at, size_t len);
void px_ex_request_done(struct px_ex *ex);
/* The request is whole and the client's parser has stopped after it: an answer the proxy made
 * up while parsing it (a full queue) goes out now, keeping the connection. */
void px_ex_parsed(struct px_ex *ex);
/* The client's parser failed mid-request (status 400/413/431) or the client went away. */
void px_ex_fail(struct px_ex *ex, enum ringd_proxy_error why, const char *text);
void px_ex_client_gone(struct px_ex *ex);
void px_ex_client_drained(struct px_ex *ex);
void px_ex_sweep(struct px_ex *ex, uint64_t now_ms);
void px_ex_retry(struct px_ex *ex);
/* From the app connection. */
void px_ex_up_data(struct px_ex *ex, const char *data, size_t len);
void px_ex_up_eof(struct px_ex *ex);
void px_ex_up_failed(struct px_ex *ex, int delivered);
void px_ex_up_drained(struct px_ex *ex);
/* Answers |ex| with a proxy-made error; the client closes after it when |close|. */
void px_ex_answer(struct px_ex *ex, int status, enum ringd_proxy_error why, const char *text,
                  int close);

/* proxy_app.c */
/* An idle connection to the app for |ex|, or a new one while there are fewer than
 * --proxy-max-app-conns; NULL when every one is busy (px_app_room() is 0) or a new one failed
 * at once. */
struct px_app *px_app_get(struct ringd_proxy *p, struct px_ex *ex);
/* 1 when px_app_get() would find a connection: one is idle, or the pool has room. */
int px_app_room(const struct ringd_proxy *p);
/* Returns 0 or a uv error (the exchange hears of it through px_ex_up_failed). */
int px_app_write(struct px_app *a, const void *data, size_t len);
size_t px_app_queued(const struct px_app *a);
void px_app_pause(struct px_app *a);
void px_app_resume(struct px_app *a);
/* The exchange is done with |a|: kept for the next request when |reusable|, else closed. */
void px_app_release(struct px_app *a, int reusable);
void px_app_sweep(struct ringd_proxy *p, uint64_t now_ms);
void px_app_close_all(struct ringd_proxy *p);

#endif
