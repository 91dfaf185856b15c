/*
 * rpc: msgpack-RPC framing for ringd's local API (DESIGN.md "Local API"), shared by ringd,
 * ringctl and the small C client. Sans-I/O: bytes go in, message views come out, and the
 * writers pack into a buffer the caller owns; no socket is ever touched here.
 *
 * Messages (the msgpack-RPC spec):
 *   request       [0, msgid, method, params]     msgid: uint32, method: str, params: array
 *   response      [1, msgid, error, result]      error: nil or {"code": str, "message": str}
 *   notification  [2, method, params]
 * The error code is the RING_E* name ("EINVAL", "ENOENT", ...): a string, so any client can
 * print or match it without our header, and stable while the numbers stay internal. Unknown
 * keys in an error map are skipped, so a server may add some (say "data") later.
 *
 * Reading. A connection owns one struct rpc_reader. The caller appends bytes as they arrive
 * (rpc_reader_feed(), or rpc_reader_buf() + rpc_reader_commit() to read straight into it)
 * and pulls complete messages one by one with rpc_reader_next(), which hands out views into
 * the reader's buffer: nothing is allocated per message. Requests may be pipelined: one read
 * may hold many requests and the tail of the next one.
 *
 * Two kinds of bad input, told apart by rpc_error_is_fatal():
 *   - fatal, "close this connection": bytes that are not a msgpack-RPC stream (the first
 *     byte of a message is not an array header, or the never-used byte 0xc1 appears:
 *     RING_EPROTO) or a message that cannot fit the size limit (RING_EMSGSIZE, reported as
 *     soon as declared lengths make it certain). msgpack has no length prefix, so after such
 *     bytes there is no way to find the next message.
 *   - per message, "answer with an error and carry on": a well-framed message whose envelope
 *     or params have the wrong types (RING_ETYPE), exceed a count, length or depth limit
 *     (RING_E2BIG) or carry a msgid outside uint32 (RING_ERANGE). The message is consumed;
 *     the view says whether its msgid was read, so the server can answer it.
 * Unknown methods and wrong params for a known method are the server's business; the
 * rpc_param_*() helpers return the codes to answer with.
 *
 * Serving. rpc_server_action() turns each outcome of rpc_reader_next() into what a server
 * does with it (proto/RPC.md "Message kinds"): a request is answered by its msgid; a
 * notification is executed and never answered; a response from a client is dropped; a
 * message with no usable msgid, and bytes that break framing, get an error notification
 * (rpc_pack_error_notification()). Exactly the messages it says to answer count as in flight,
 * so a server that follows it calls rpc_reader_answered() once per counted request, whatever
 * bytes arrive.
 *
 * Limits. Every length, count and depth is bounded by a named constant below; the reader's
 * buffer never exceeds message_bytes_max + RPC_FEED_BYTES_MAX, and the number of requests
 * handed out but not yet answered never exceeds inflight_max (then rpc_reader_next() returns
 * RING_EAGAIN: stop reading the socket until responses go out).
 */
#ifndef RING_RPC_H
#define RING_RPC_H

#include <msgpack.h>

#include "ring/base.h"
#include "ring/mem.h"

/* Default largest message a reader accepts. Requests are tiny (a key, a few addresses);
 * 1 MiB leaves room for a join() with many seeds and for ring() results of small clusters. */
#define RPC_MESSAGE_BYTES_MAX (1u << 20)
/* The largest message_bytes_max a reader may be configured with: a members() result of
 * 65,535 members of ~120 bytes (the same bound as codec's stream frames). */
#define RPC_MESSAGE_BYTES_LIMIT (16u << 20)
/* The most bytes one rpc_reader_feed() is guaranteed to fit once rpc_reader_next() returned
 * 0, and so the reader's headroom over message_bytes_max: libuv reads 64 KiB at a time. */
#define RPC_FEED_BYTES_MAX (64u << 10)
/* A reader starts with this much buffer and doubles it as messages need. */
#define RPC_READER_BYTES_INITIAL 4096
/* rpc_reader_buf() always offers at least this much space (or RING_ENOBUFS). */
#define RPC_READ_BYTES_MIN 512
/* Default requests handed out and not yet answered (pipelining depth); and the largest. */
#define RPC_INFLIGHT_MAX   64
#define RPC_INFLIGHT_LIMIT 4096
/* msgpack nesting in any message: the envelope is 1, params 2, a list param 3; a members()
 * result (array of maps with a labels map) is 4. */
#define RPC_DEPTH_MAX 16
/* Method names are short identifiers ("lookup_n", "owned_shards"). */
#define RPC_METHOD_BYTES_MAX 64
/* Params per request: the widest method, lookup_n(key, n), has 2. */
#define RPC_PARAMS_MAX 8
/* A str or bin param (a key, an address): keys are HTTP header values, 4 KiB at most. */
#define RPC_STR_BYTES_MAX 4096
/* Items over all list params of one request (join's seed addresses). */
#define RPC_PARAM_ITEMS_MAX 64
/* An error map: its keys, and its code (an error name such as "EINVAL"). */
#define RPC_ERROR_KEYS_MAX       8
#define RPC_ERROR_CODE_BYTES_MAX 32

enum rpc_kind {
    RPC_REQUEST = 0,
    RPC_RESPONSE = 1,
    RPC_NOTIFICATION = 2,
};

enum rpc_val_type {
    RPC_VAL_NIL = 0,
    RPC_VAL_BOOL,
    RPC_VAL_UINT,  /* any non-negative integer: |u| */
    RPC_VAL_INT,   /* a negative integer: |i| */
    RPC_VAL_FLOAT, /* float32 or float64: |f| */
    RPC_VAL_STR,   /* |s| */
    RPC_VAL_BIN,   /* |s| */
    RPC_VAL_LIST,  /* an array of str or bin: |list| indexes rpc_msg.items */
    RPC_VAL_UINTS, /* an array of non-negative integers: |list| indexes rpc_msg.uints */
};

/* Bytes inside the reader's buffer (or the parsed buffer): not NUL-terminated. */
struct rpc_bytes {
    const char *ptr;
    size_t len;
};

struct rpc_val {
    uint8_t type; /* enum rpc_val_type */
    union {
        int b;
        uint64_t u;
        int64_t i;
        double f;
        struct rpc_bytes s;
        struct {
            uint32_t first;
            uint32_t count;
        } list;
    } v;
};

/*
 * One decoded message. Its rpc_bytes point into the reader's buffer and stay valid until the
 * next rpc_reader_feed(), rpc_reader_buf() or rpc_reader_del() on that reader (or as long as
 * the buffer given to rpc_parse()).
 */
struct rpc_msg {
    uint8_t kind; /* enum rpc_kind */
    /* 1 when |msgid| was read (requests and responses), even if the rest was bad. */
    uint8_t has_msgid;
    uint32_t msgid;
    /* Requests and notifications. */
    struct rpc_bytes method;
    uint32_t param_count;
    struct rpc_val params[RPC_PARAMS_MAX];
    struct rpc_bytes items[RPC_PARAM_ITEMS_MAX];
    uint32_t item_count;
    /* The items of integer lists; items and uints share the RPC_PARAM_ITEMS_MAX bound. */
    uint64_t uints[RPC_PARAM_ITEMS_MAX];
    uint32_t uint_count;
    /* Responses: |is_error| 0 means success and |result| holds the result's msgpack bytes,
     * to decode with msgpack_unpack() or any decoder (its depth is within RPC_DEPTH_MAX).
     * Otherwise |error| is the RING_E* code named by |error_code| (RING_EPROTO for a name
     * this build does not know) and |error_message| the server's text. */
    uint8_t is_error;
    int error;
    struct rpc_bytes error_code;
    struct rpc_bytes error_message;
    struct rpc_bytes result;
    /* The whole message as received. */
    struct rpc_bytes raw;
    /* When decoding failed: a static one-line reason for the error response, else "". */
    const char *detail;
};

/* Every 0 field takes the default in brackets. */
struct rpc_reader_config {
    /* Largest message accepted [RPC_MESSAGE_BYTES_MAX], at most RPC_MESSAGE_BYTES_LIMIT. */
    size_t message_bytes_max;
    /* Requests handed out and not yet answered [RPC_INFLIGHT_MAX], at most
     * RPC_INFLIGHT_LIMIT. A client reader (which only reads responses) is never limited. */
    uint32_t inflight_max;
};

struct rpc_reader;

/*
 * Creates a reader in |*out| with RPC_READER_BYTES_INITIAL bytes of buffer. |cfg| may be
 * NULL for the defaults, |mem| NULL for libc.
 *
 * Returns 0, or:
 *   RING_EINVAL  |out| is NULL
 *   RING_ERANGE  a config field is above its limit
 *   RING_ENOMEM  an allocation failed
 */
RING_EXTERN int rpc_reader_new(struct rpc_reader **out, const struct rpc_reader_config *cfg,
                               const struct ring_mem *mem);

/* Frees |r| and its buffer. |r| may be NULL. */
RING_EXTERN void rpc_reader_del(struct rpc_reader *r);

/*
 * Appends |len| bytes of |data| (all or nothing). May move the buffer: views from earlier
 * rpc_reader_next() calls become invalid. Once rpc_reader_next() has returned 0, a feed of up
 * to RPC_FEED_BYTES_MAX bytes always has room.
 *
 * Returns 0, or:
 *   RING_ENOBUFS  the bytes do not fit: pull messages with rpc_reader_next() first
 *   RING_ENOMEM   growing the buffer failed
 *   RING_EPROTO, RING_EMSGSIZE  the reader already failed fatally (see rpc_reader_next())
 */
RING_EXTERN int rpc_reader_feed(struct rpc_reader *r, const void *data, size_t len);

/*
 * Offers the free space at the end of the buffer, at least RPC_READ_BYTES_MIN bytes, to
 * read into directly (libuv's alloc_cb): |*buf| and |*len|. Tell the reader how many bytes
 * arrived with rpc_reader_commit(). Invalidates views as rpc_reader_feed() does.
 *
 * Returns 0, or RING_ENOBUFS, RING_ENOMEM or a fatal error as rpc_reader_feed().
 */
RING_EXTERN int rpc_reader_buf(struct rpc_reader *r, void **buf, size_t *len);

/* Records that |n| bytes were written into the space rpc_reader_buf() offered (n may be 0;
 * more than offered is a programmer error). */
RING_EXTERN void rpc_reader_commit(struct rpc_reader *r, size_t n);

/*
 * Pulls the next complete message into |*msg|.
 *
 * Returns 1 and a message; 0 when more bytes are needed; or one of:
 *   per message (the message is consumed; rpc_server_action() says what to send):
 *     RING_ETYPE   wrong envelope: unknown type, wrong arity, msgid/method/params/error of
 *                  the wrong msgpack type, a param of an unsupported type (map, ext, nested
 *                  array, or a list mixing strings and integers, or of anything else)
 *     RING_E2BIG   nesting deeper than RPC_DEPTH_MAX, a method, string, error code or list
 *                  over its limit, more than RPC_PARAMS_MAX params, RPC_PARAM_ITEMS_MAX
 *                  items or RPC_ERROR_KEYS_MAX error keys
 *     RING_ERANGE  a msgid that is negative or above UINT32_MAX
 *   RING_EAGAIN    inflight_max requests are unanswered: call rpc_reader_answered() first
 *   fatal (close the connection; every later call returns the same code):
 *     RING_EPROTO    the bytes are not a msgpack-RPC stream
 *     RING_EMSGSIZE  the message is larger than message_bytes_max
 * msg->detail holds a one-line reason for every error.
 */
RING_EXTERN int rpc_reader_next(struct rpc_reader *r, struct rpc_msg *msg);

/* Records that one request handed out by rpc_reader_next() has been answered: one for which
 * rpc_server_action() said RPC_ACTION_CALL or RPC_ACTION_REJECT (a request whose msgid was
 * read). Calling it with nothing in flight is a programmer error (asserted; without
 * assertions it does nothing). */
RING_EXTERN void rpc_reader_answered(struct rpc_reader *r);

/* Requests handed out and not yet answered. */
RING_EXTERN uint32_t rpc_reader_inflight(const struct rpc_reader *r);

/* Bytes buffered and not yet returned as messages (nonzero at EOF means a cut message). */
RING_EXTERN size_t rpc_reader_pending(const struct rpc_reader *r);

/* Bytes of buffer the reader holds now (at most message_bytes_max + RPC_FEED_BYTES_MAX). */
RING_EXTERN size_t rpc_reader_capacity(const struct rpc_reader *r);

/* Gives back the buffer past RPC_READER_BYTES_INITIAL once what is pending fits in that, as
 * after a large message has been pulled: a server with many connections then holds large
 * buffers only for the large messages still arriving. Invalidates views as
 * rpc_reader_feed() does. A shrink that fails keeps the buffer as it is. */
RING_EXTERN void rpc_reader_trim(struct rpc_reader *r);

/*
 * Decodes the one message at the start of |data| (|len| bytes, e.g. a reply read whole)
 * into |*msg|, with the default limits (RPC_MESSAGE_BYTES_MAX; a larger message needs a
 * reader configured for it), and stores its length in |*used| (may be NULL); the views point
 * into |data|.
 *
 * Returns 0, RING_ETRUNC when |data| ends inside the message, or any error of
 * rpc_reader_next() other than RING_EAGAIN (*used is set for per-message errors).
 */
RING_EXTERN int rpc_parse(const void *data, size_t len, struct rpc_msg *msg, size_t *used);

/* Returns 1 if |err| (from rpc_reader_next()) means the connection must be closed. */
RING_EXTERN int rpc_error_is_fatal(int err);

/* What a server does with one outcome of rpc_reader_next() (proto/RPC.md "Message kinds"). */
enum rpc_action {
    /* 0 or RING_EAGAIN: nothing to do until more bytes arrive (or answers go out). */
    RPC_ACTION_WAIT = 0,
    /* A well-formed request: call its method, send a response to msg->msgid, then
     * rpc_reader_answered(). */
    RPC_ACTION_CALL,
    /* A request whose msgid was read but that is otherwise bad: send
     * rpc_pack_error(msg->msgid, rv, msg->detail), then rpc_reader_answered(). */
    RPC_ACTION_REJECT,
    /* A well-formed notification: call its method and send nothing, whatever happens. */
    RPC_ACTION_NOTIFY,
    /* A response (clients must not send one), or a malformed notification: send nothing,
     * count it (msg->kind says which). */
    RPC_ACTION_DROP,
    /* A message with no usable msgid (a request whose msgid is not a uint32, an unknown or
     * missing type): send rpc_pack_error_notification(rv, msg->detail) and carry on. */
    RPC_ACTION_UNANSWERABLE,
    /* Bytes that break framing: send rpc_pack_error_notification(rv, msg->detail), then
     * close the connection once it is written. */
    RPC_ACTION_CLOSE,
};

/* Returns the enum rpc_action for |rv|, the return of rpc_reader_next(), and |msg|, the
 * message it filled (not read for 0 and RING_EAGAIN). */
RING_EXTERN int rpc_server_action(int rv, const struct rpc_msg *msg);

/* Returns the RING_E* code named |name| (|len| bytes, e.g. "ENOENT"), or RING_EPROTO. */
RING_EXTERN int rpc_error_from_name(const char *name, size_t len);

/*
 * Param accessors for servers: each returns 0, or the code to answer with:
 *   RING_EINVAL  there is no param |i|
 *   RING_ETYPE   param |i| has another type
 *   RING_ERANGE  (rpc_param_uint) the value is above |max|
 */
/* A str or bin param. */
RING_EXTERN int rpc_param_bytes(const struct rpc_msg *m, uint32_t i, struct rpc_bytes *out);
/* A non-negative integer param, at most |max|. */
RING_EXTERN int rpc_param_uint(const struct rpc_msg *m, uint32_t i, uint64_t max, uint64_t *out);
/* A list param: |*items| points at |*count| entries of m->items (an empty array is a list). */
RING_EXTERN int rpc_param_list(const struct rpc_msg *m, uint32_t i, const struct rpc_bytes **items,
                               uint32_t *count);
/* An integer list param: |*vals| points at |*count| entries of m->uints (an empty array is
 * a string list: take it for an empty integer list too). */
RING_EXTERN int rpc_param_uints(const struct rpc_msg *m, uint32_t i, const uint64_t **vals,
                                uint32_t *count);

/* Returns 1 if |m|'s method is |name| (NUL-terminated), else 0. */
RING_EXTERN int rpc_method_is(const struct rpc_msg *m, const char *name);

/*
 * rpc_buf: a growable output buffer with a cap, allocated through a ring_mem, that
 * msgpack-c's packer writes into: msgpack_packer_init(&pk, &buf, rpc_buf_write). A server
 * keeps one per connection and appends responses and notifications to it.
 */
struct rpc_buf {
    struct ring_mem mem;
    char *data;
    /* Bytes written, bytes allocated, and the most |len| may reach. */
    size_t len;
    size_t cap;
    size_t bytes_max;
    /* 0, or why the last write failed (RING_ENOMEM, RING_EMSGSIZE); cleared by truncate. */
    int error;
};

/* Initialises an empty |b| whose length may not exceed |bytes_max| (0 means
 * RPC_MESSAGE_BYTES_LIMIT). |mem| may be NULL for libc. Allocates nothing yet. */
RING_EXTERN void rpc_buf_init(struct rpc_buf *b, const struct ring_mem *mem, size_t bytes_max);

/* Frees |b|'s storage; |b| may be initialised again. */
RING_EXTERN void rpc_buf_free(struct rpc_buf *b);

/* msgpack_packer_write callback: appends |len| bytes to the rpc_buf |data|. Returns 0, or -1
 * and sets b->error (RING_ENOMEM, RING_EMSGSIZE past bytes_max). */
RING_EXTERN int rpc_buf_write(void *data, const char *buf, size_t len);

/* Cuts |b| back to |len| bytes (a mark taken before a message, to drop it if packing its
 * result failed) and clears b->error. */
RING_EXTERN void rpc_buf_truncate(struct rpc_buf *b, size_t len);

/* Drops the first |n| bytes (sent to the socket); |n| <= b->len. */
RING_EXTERN void rpc_buf_consume(struct rpc_buf *b, size_t n);

/*
 * Writers. Each packs through |pk| (any msgpack_packer; with an rpc_buf behind it a failed
 * write reports the buffer's error). The *_begin writers pack the envelope up to the params
 * array header or the result: the caller then packs exactly |param_count| params, or exactly
 * one result object, with msgpack_pack_*().
 *
 * Each returns 0, or:
 *   RING_EINVAL  a method that is empty or over RPC_METHOD_BYTES_MAX, |param_count| over
 *                RPC_PARAMS_MAX, |err| not a RING_E* code, a message over RPC_STR_BYTES_MAX
 *   RING_ENOMEM, RING_EMSGSIZE  the rpc_buf could not take the bytes (RING_ENOMEM for a
 *                failed write to another kind of packer)
 */
RING_EXTERN int rpc_pack_request_begin(msgpack_packer *pk, uint32_t msgid, const char *method,
                                       size_t method_len, uint32_t param_count);
RING_EXTERN int rpc_pack_notification_begin(msgpack_packer *pk, const char *method,
                                            size_t method_len, uint32_t param_count);
RING_EXTERN int rpc_pack_result_begin(msgpack_packer *pk, uint32_t msgid);
/* A whole error response: [1, msgid, {"code": ring_err_name(err), "message": message}, nil].
 * |message| may be NULL for ring_strerror(err). */
RING_EXTERN int rpc_pack_error(msgpack_packer *pk, uint32_t msgid, int err, const char *message,
                               size_t message_len);
/* A whole error notification, for what cannot be answered by a msgid (RPC_ACTION_UNANSWERABLE,
 * RPC_ACTION_CLOSE): [2, "error", [ring_err_name(err), message]]. The params are two strings,
 * not an error map, because notification params hold only scalars and lists of strings.
 * |message| may be NULL for ring_strerror(err). */
RING_EXTERN int rpc_pack_error_notification(msgpack_packer *pk, int err, const char *message,
                                            size_t message_len);

#endif
