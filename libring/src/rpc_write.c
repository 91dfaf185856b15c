/*
 * rpc_write: msgpack-RPC envelopes packed with msgpack-c's packer, and rpc_buf, a capped
 * growable buffer for the packer to write into.
 *
 * The writers pack only the envelope; the caller packs params or the result itself with
 * msgpack_pack_*(), so results of any shape (members(), ring(), stats()) need no
 * intermediate representation. A failed pack leaves a partial message in the buffer: take a
 * mark (b->len) before, and rpc_buf_truncate() back to it.
 */
#include <string.h>

#include "ring/error.h"
#include "mem_int.h"
#include "rpc_int.h"

#define BUF_BYTES_INITIAL 256

void rpc_buf_init(struct rpc_buf *b, const struct ring_mem *mem, size_t bytes_max)
{
    memset(b, 0, sizeof(*b));
    b->mem = mem != NULL ? *mem : *ring_mem_default();
    b->bytes_max = bytes_max != 0 ? bytes_max : RPC_MESSAGE_BYTES_LIMIT;
}

void rpc_buf_free(struct rpc_buf *b)
{
    ring__free(&b->mem, b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->error = 0;
}

static int buf_grow(struct rpc_buf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : BUF_BYTES_INITIAL;
    while (cap < need) {
        cap = cap > b->bytes_max / 2 ? b->bytes_max : cap * 2;
    }
    char *data = b->mem.realloc(b->data, cap, b->mem.user_data);
    if (data == NULL) {
        return RING_ENOMEM;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

int rpc_buf_write(void *data, const char *buf, size_t len)
{
    struct rpc_buf *b = data;
    if (len > b->bytes_max - b->len) {
        b->error = RING_EMSGSIZE;
        return -1;
    }
    if (len > b->cap - b->len) {
        int rv = buf_grow(b, b->len + len);
        if (rv != 0) {
            b->error = rv;
            return -1;
        }
    }
    if (len > 0) {
        memcpy(b->data + b->len, buf, len);
    }
    b->len += len;
    return 0;
}

void rpc_buf_truncate(struct rpc_buf *b, size_t len)
{
    RING_ASSERT(len <= b->len);
    b->len = len;
    b->error = 0;
}

void rpc_buf_consume(struct rpc_buf *b, size_t n)
{
    RING_ASSERT(n <= b->len);
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* The error of a failed msgpack_pack_*(): the rpc_buf's reason when one is behind |pk|. */
static int pack_failed(const msgpack_packer *pk)
{
    if (pk->callback == rpc_buf_write) {
        const struct rpc_buf *b = pk->data;
        return b->error != 0 ? b->error : RING_ENOMEM;
    }
    return RING_ENOMEM;
}

static int pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    if (msgpack_pack_str(pk, len) != 0 || msgpack_pack_str_body(pk, s, len) != 0) {
        return -1;
    }
    return 0;
}

static int method_ok(const char *method, size_t method_len, uint32_t param_count)
{
    return method != NULL && method_len > 0 && method_len <= RPC_METHOD_BYTES_MAX &&
           param_count <= RPC_PARAMS_MAX;
}

int rpc_pack_request_begin(msgpack_packer *pk, uint32_t msgid, const char *method,
                           size_t method_len, uint32_t param_count)
{
    if (!method_ok(method, method_len, param_count)) {
        return RING_EINVAL;
    }
    if (msgpack_pack_array(pk, 4) != 0 || msgpack_pack_uint8(pk, RPC_REQUEST) != 0 ||
        msgpack_pack_uint32(pk, msgid) != 0 || pack_str(pk, method, method_len) != 0 ||
        msgpack_pack_array(pk, param_count) != 0) {
        return pack_failed(pk);
    }
    return 0;
}

int rpc_pack_notification_begin(msgpack_packer *pk, const char *method, size_t method_len,
                                uint32_t param_count)
{
    if (!method_ok(method, method_len, param_count)) {
        return RING_EINVAL;
    }
    if (msgpack_pack_array(pk, 3) != 0 || msgpack_pack_uint8(pk, RPC_NOTIFICATION) != 0 ||
        pack_str(pk, method, method_len) != 0 || msgpack_pack_array(pk, param_count) != 0) {
        return pack_failed(pk);
    }
    return 0;
}

int rpc_pack_result_begin(msgpack_packer *pk, uint32_t msgid)
{
    if (msgpack_pack_array(pk, 4) != 0 || msgpack_pack_uint8(pk, RPC_RESPONSE) != 0 ||
        msgpack_pack_uint32(pk, msgid) != 0 || msgpack_pack_nil(pk) != 0) {
        return pack_failed(pk);
    }
    return 0;
}

static int pack_error_map(msgpack_packer *pk, const char *code, const char *message,
                          size_t message_len)
{
    if (msgpack_pack_map(pk, 2) != 0 || pack_str(pk, "code", 4) != 0 ||
        pack_str(pk, code, strlen(code)) != 0 || pack_str(pk, "message", 7) != 0 ||
        pack_str(pk, message, message_len) != 0) {
        return -1;
    }
    return 0;
}

int rpc_pack_error(msgpack_packer *pk, uint32_t msgid, int err, const char *message,
                   size_t message_len)
{
    if (err >= 0 || err <= -RING__EINDEX_END) {
        return RING_EINVAL;
    }
    if (message == NULL) {
        message = ring_strerror(err);
        message_len = strlen(message);
    }
    if (message_len > RPC_STR_BYTES_MAX) {
        return RING_EINVAL;
    }
    if (msgpack_pack_array(pk, 4) != 0 || msgpack_pack_uint8(pk, RPC_RESPONSE) != 0 ||
        msgpack_pack_uint32(pk, msgid) != 0 ||
        pack_error_map(pk, ring_err_name(err), message, message_len) != 0 ||
        msgpack_pack_nil(pk) != 0) {
        return pack_failed(pk);
    }
    return 0;
}

int rpc_pack_error_notification(msgpack_packer *pk, int err, const char *message,
                                size_t message_len)
{
    if (err >= 0 || err <= -RING__EINDEX_END) {
        return RING_EINVAL;
    }
    if (message == NULL) {
        message = ring_strerror(err);
        message_len = strlen(message);
    }
    if (message_len > RPC_STR_BYTES_MAX) {
        return RING_EINVAL;
    }
    const char *code = ring_err_name(err);
    int rv = rpc_pack_notification_begin(pk, "error", 5, 2);
    if (rv != 0) {
        return rv;
    }
    if (pack_str(pk, code, strlen(code)) != 0 || pack_str(pk, message, message_len) != 0) {
        return pack_failed(pk);
    }
    return 0;
}
