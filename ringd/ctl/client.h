/*
 * client: a small blocking C client for ringd's local API (proto/RPC.md), used by ringctl and
 * the tests. One struct ringc is one connection; calls may be pipelined with ringc_send() and
 * ringc_read(), or made one at a time with ringc_call().
 *
 *   struct ringc *c;
 *   char err[256];
 *   if (ringc_connect(&c, "/run/ringd/ringd.sock", err, sizeof(err)) != 0) { puts(err); ... }
 *   const msgpack_object *res;
 *   if (ringc_call(c, &res, 1000, "lookup", "s", "user:42") == 0)
 *       ringc_get_str(res, "id", buf, sizeof(buf));
 *   ringc_close(c);
 *
 * Params are given by a format string, one letter per param:
 *   s  const char *           a NUL-terminated str
 *   b  const void *, size_t   a bin
 *   u  uint64_t               an unsigned integer
 *   l  const char *const *, size_t   an array of NUL-terminated strs
 *
 * Calls return 0; RINGC_ERESPONSE when ringd answered with an error (ringc_error() is its
 * RING_E* code, ringc_error_code() its name, ringc_error_message() why); or a negative errno
 * for the transport: -ECONNREFUSED, -ENOENT, -ETIMEDOUT, -ECONNRESET (ringd closed the
 * connection), -EPROTO (bytes that are not msgpack-RPC).
 */
#ifndef RINGD_CLIENT_H
#define RINGD_CLIENT_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "ring/addr.h"
#include "ring/rpc.h"

struct ringc;

#define RINGC_ERESPONSE 1

/* Connects to ringd's socket at |path|. On failure |err| gets a line for people, e.g.
 * "cannot reach ringd at /run/ringd/ringd.sock: no such file; is ringd running? see --socket" */
int ringc_connect(struct ringc **out, const char *path, char *err, size_t errlen);
void ringc_close(struct ringc *c);
int ringc_fd(const struct ringc *c);

/* Queues a request (see the format letters above); its msgid goes to |*msgid| (may be NULL).
 * Returns 0, -EINVAL (bad format) or -ENOMEM. */
int ringc_send(struct ringc *c, uint32_t *msgid, const char *method, const char *fmt, ...);
/* Writes every queued request. Returns 0 or a negative errno. */
int ringc_flush(struct ringc *c);
/* Queues raw bytes (tests: garbage, truncated frames). */
int ringc_send_raw(struct ringc *c, const void *data, size_t len);

/* Reads the next message (a response or notification; a request, which ringd never sends, is
 * handed out too and needs no answer) within |timeout_ms| (-1: forever).
 * Its views stay valid until the next call on |c|. Returns 0, -ETIMEDOUT, -ECONNRESET,
 * -EPROTO (framing broken) or -EBADMSG (one malformed message, skipped). */
int ringc_read(struct ringc *c, struct rpc_msg *msg, int timeout_ms);

/* Unpacks |msg|'s result (or a notification's params) into an object valid until the next
 * call on |c|. Returns 0 or -EPROTO. */
int ringc_unpack(struct ringc *c, const struct rpc_msg *msg, const msgpack_object **out);

/* Sends one request, waits for its response (skipping notifications) and unpacks the result
 * into |*result|. Returns 0, RINGC_ERESPONSE or a negative errno. */
int ringc_call(struct ringc *c, const msgpack_object **result, int timeout_ms, const char *method,
               const char *fmt, ...);

/* The last error response's RING_E* code (0 when none), code name and message. */
int ringc_error(const struct ringc *c);
const char *ringc_error_code(const struct ringc *c);
const char *ringc_error_message(const struct ringc *c);

/* Map helpers: the value of |key| in map |o|, or NULL. */
const msgpack_object *ringc_get(const msgpack_object *o, const char *key);
/* The value of |key| in map |o| if it is an array, else NULL (so a caller may walk
 * via.array whatever the bytes said). */
const msgpack_object *ringc_get_array(const msgpack_object *o, const char *key);
/* Copies a str/bin value of |key| with a NUL into |buf|; returns its length or -1. */
int ringc_get_str(const msgpack_object *o, const char *key, char *buf, size_t cap);
/* An unsigned integer value of |key|, or |def|. */
uint64_t ringc_get_u64(const msgpack_object *o, const char *key, uint64_t def);
/* A float or integer value of |key|, or |def|. */
double ringc_get_f64(const msgpack_object *o, const char *key, double def);

/* A peer's checksums, asked over its gossip port (TCP, one frame each way; ringctl
 * checksums). */
struct ringc_checksums {
    char id[129];
    uint64_t checksum;
    uint64_t ring_checksum;
    uint64_t members;
};
/* Returns 0, RINGC_ERESPONSE or a negative errno. */
int ringc_peer_checksums(const struct ring_addr *peer, int timeout_ms, struct ringc_checksums *out);

/* Keys for peer queries: with a cluster keyring set (ringctl --keyfile), every peer query is
 * sealed and its answer opened with it, as a node's own streams are; NULL: plaintext, which
 * only --insecure nodes answer. |kr| is copied; ringc_peer_keys(NULL) wipes the copy. */
struct seal_keyring;
void ringc_peer_keys(const struct seal_keyring *kr);

/* Any peer query (no params): "checksums", or "members" (the same answer as the local API's
 * members(), for `ringctl members --group` of another group). On 0, |*result| is valid until
 * ringc_peer_result_free(out), which is needed after any return. */
struct ringc_peer_result {
    msgpack_unpacked u;
    char *body;
};
int ringc_peer_call(const struct ring_addr *peer, int timeout_ms, const char *method,
                    struct ringc_peer_result *out, const msgpack_object **result);
void ringc_peer_result_free(struct ringc_peer_result *r);

#endif
