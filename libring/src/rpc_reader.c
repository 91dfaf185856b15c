/*
 * rpc_reader: one connection's input buffer, cut into msgpack-RPC messages.
 *
 * The buffer holds [start, end) of unread bytes. Messages are handed out as views into it
 * and |start| moves past them without copying; the bytes move only when room is needed at
 * the end (in feed/buf), which is why views die at the next feed. Room comes first from
 * sliding the unread bytes to the front, then from doubling the buffer, never past
 * message_bytes_max + RPC_FEED_BYTES_MAX: the framer rejects any message that could not fit
 * message_bytes_max, so a waiting partial message plus one full read always fit.
 *
 * The buffer keeps its size once grown until the owner trims it (rpc_reader_trim()): a
 * server with a thousand connections that each once sent a large request would otherwise hold
 * a thousand large buffers.
 */
#include <string.h>

#include "ring/error.h"
#include "mem_int.h"
#include "rpc_int.h"

struct rpc_reader {
    struct ring_mem mem;
    uint8_t *buf;
    size_t cap;
    size_t start;
    size_t end;
    /* Bytes offered by the last rpc_reader_buf(), for rpc_reader_commit()'s check. */
    size_t offered;
    size_t message_bytes_max;
    size_t cap_max;
    uint32_t inflight;
    uint32_t inflight_max;
    struct rpc__frame frame;
    /* 0, or the fatal error every call now returns, and its reason. */
    int fatal;
    const char *fatal_detail;
};

static int config_resolve(const struct rpc_reader_config *cfg, size_t *bytes_max,
                          uint32_t *inflight_max)
{
    *bytes_max = RPC_MESSAGE_BYTES_MAX;
    *inflight_max = RPC_INFLIGHT_MAX;
    if (cfg == NULL) {
        return 0;
    }
    if (cfg->message_bytes_max > RPC_MESSAGE_BYTES_LIMIT ||
        cfg->inflight_max > RPC_INFLIGHT_LIMIT) {
        return RING_ERANGE;
    }
    *bytes_max = cfg->message_bytes_max ? cfg->message_bytes_max : *bytes_max;
    *inflight_max = cfg->inflight_max ? cfg->inflight_max : *inflight_max;
    return 0;
}

int rpc_reader_new(struct rpc_reader **out, const struct rpc_reader_config *cfg,
                   const struct ring_mem *mem)
{
    size_t bytes_max;
    uint32_t inflight_max;
    if (out == NULL) {
        return RING_EINVAL;
    }
    int rv = config_resolve(cfg, &bytes_max, &inflight_max);
    if (rv != 0) {
        return rv;
    }
    mem = mem != NULL ? mem : ring_mem_default();
    struct rpc_reader *r = ring__calloc(mem, 1, sizeof(*r));
    if (r == NULL) {
        return RING_ENOMEM;
    }
    r->mem = *mem;
    r->buf = ring__mallocarray(mem, RPC_READER_BYTES_INITIAL, 1);
    if (r->buf == NULL) {
        ring__free(mem, r);
        return RING_ENOMEM;
    }
    r->cap = RPC_READER_BYTES_INITIAL;
    r->message_bytes_max = bytes_max;
    r->cap_max = bytes_max + RPC_FEED_BYTES_MAX;
    r->inflight_max = inflight_max;
    rpc__frame_reset(&r->frame);
    *out = r;
    return 0;
}

void rpc_reader_del(struct rpc_reader *r)
{
    if (r == NULL) {
        return;
    }
    struct ring_mem mem = r->mem;
    ring__free(&mem, r->buf);
    ring__free(&mem, r);
}

static void compact(struct rpc_reader *r)
{
    if (r->start == 0) {
        return;
    }
    memmove(r->buf, r->buf + r->start, r->end - r->start);
    r->end -= r->start;
    r->start = 0;
}

static int grow(struct rpc_reader *r, size_t need)
{
    size_t cap = r->cap;
    while (cap < need) {
        cap *= 2;
    }
    cap = cap < r->cap_max ? cap : r->cap_max;
    uint8_t *buf = r->mem.realloc(r->buf, cap, r->mem.user_data);
    if (buf == NULL) {
        return RING_ENOMEM;
    }
    r->buf = buf;
    r->cap = cap;
    return 0;
}

/* Makes room for |want| more bytes at the end. */
static int reserve(struct rpc_reader *r, size_t want)
{
    if (r->fatal != 0) {
        return r->fatal;
    }
    if (r->cap - r->end >= want) {
        return 0;
    }
    compact(r);
    if (r->cap - r->end >= want) {
        return 0;
    }
    if (want > r->cap_max - r->end) {
        return RING_ENOBUFS;
    }
    return grow(r, r->end + want);
}

int rpc_reader_feed(struct rpc_reader *r, const void *data, size_t len)
{
    int rv = reserve(r, len);
    if (rv != 0) {
        return rv;
    }
    if (len > 0) {
        memcpy(r->buf + r->end, data, len);
    }
    r->end += len;
    r->offered = 0;
    return 0;
}

int rpc_reader_buf(struct rpc_reader *r, void **buf, size_t *len)
{
    int rv = reserve(r, RPC_READ_BYTES_MIN);
    if (rv != 0) {
        *buf = NULL;
        *len = 0;
        return rv;
    }
    r->offered = r->cap - r->end;
    *buf = r->buf + r->end;
    *len = r->offered;
    return 0;
}

void rpc_reader_commit(struct rpc_reader *r, size_t n)
{
    RING_ASSERT(n <= r->offered);
    r->end += n;
    r->offered = 0;
}

static int set_fatal(struct rpc_reader *r, int rv, const char *detail, struct rpc_msg *msg)
{
    r->fatal = rv;
    r->fatal_detail = detail;
    msg->detail = detail;
    return rv;
}

/* Whether a server answers |msg| by its msgid: a request whose msgid was read, whatever else
 * is wrong with it. These, and only these, count as in flight. */
static int answerable(const struct rpc_msg *msg)
{
    return msg->kind == RPC_REQUEST && msg->has_msgid;
}

/* Hands out the framed message of |len| bytes at |start|. */
static int take_message(struct rpc_reader *r, size_t len, struct rpc_msg *msg)
{
    int rv = rpc__decode(r->buf + r->start, len, msg);
    r->start += len;
    if (r->start == r->end) {
        /* Nothing unread: the next bytes may go to the front (the data stays in place). */
        r->start = r->end = 0;
    }
    rpc__frame_reset(&r->frame);
    if (answerable(msg)) {
        r->inflight++;
    }
    return rv < 0 ? rv : 1;
}

int rpc_reader_next(struct rpc_reader *r, struct rpc_msg *msg)
{
    size_t len = 0;
    const char *detail = "";
    if (r->fatal != 0) {
        msg->detail = r->fatal_detail;
        return r->fatal;
    }
    if (r->inflight >= r->inflight_max) {
        msg->detail = "too many requests in flight";
        return RING_EAGAIN;
    }
    int rv = rpc__frame_scan(&r->frame, r->buf + r->start, r->end - r->start, r->message_bytes_max,
                             &len, &detail);
    if (rv < 0) {
        return set_fatal(r, rv, detail, msg);
    }
    if (rv == 0) {
        msg->detail = "";
        return 0;
    }
    return take_message(r, len, msg);
}

void rpc_reader_answered(struct rpc_reader *r)
{
    RING_ASSERT(r->inflight > 0);
    /* Never wrap, even without assertions: a count of 2^32-1 would stall the reader for good
     * (every rpc_reader_next() would be RING_EAGAIN). */
    if (r->inflight > 0) {
        r->inflight--;
    }
}

int rpc_server_action(int rv, const struct rpc_msg *msg)
{
    if (rv == 0 || rv == RING_EAGAIN) {
        return RPC_ACTION_WAIT;
    }
    if (rpc_error_is_fatal(rv)) {
        return RPC_ACTION_CLOSE;
    }
    if (answerable(msg)) {
        return rv == 1 ? RPC_ACTION_CALL : RPC_ACTION_REJECT;
    }
    if (msg->kind == RPC_NOTIFICATION) {
        return rv == 1 ? RPC_ACTION_NOTIFY : RPC_ACTION_DROP;
    }
    if (msg->kind == RPC_RESPONSE) {
        return RPC_ACTION_DROP;
    }
    /* A request without its msgid, or a message whose type was not 0, 1 or 2 (the decoder
     * leaves those as RPC_REQUEST): a well-formed one always has its msgid. */
    return RPC_ACTION_UNANSWERABLE;
}

uint32_t rpc_reader_inflight(const struct rpc_reader *r)
{
    return r->inflight;
}

size_t rpc_reader_pending(const struct rpc_reader *r)
{
    return r->end - r->start;
}

size_t rpc_reader_capacity(const struct rpc_reader *r)
{
    return r->cap;
}

void rpc_reader_trim(struct rpc_reader *r)
{
    if (r->cap <= RPC_READER_BYTES_INITIAL || r->end - r->start > RPC_READER_BYTES_INITIAL) {
        return;
    }
    compact(r);
    uint8_t *buf = r->mem.realloc(r->buf, RPC_READER_BYTES_INITIAL, r->mem.user_data);
    if (buf != NULL) {
        r->buf = buf;
        r->cap = RPC_READER_BYTES_INITIAL;
    }
    r->offered = 0;
}
