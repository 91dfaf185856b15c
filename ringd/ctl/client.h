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
 * Calls return 0 or a negative errno (ringd's error family, err.h). RINGC_ERESPONSE
 * (-EREMOTEIO) says ringd answered with an error: ringc_error_code() is the answer's name as
 * the wire spells it ("EINVAL", "EEMPTY": docs/api.md), ringc_error_message() why, and
 * ringc_error() the same code in the errno family. Any other errno is the transport's or this
 * side's: -ECONNREFUSED, -ENOENT, -ETIMEDOUT, -ECONNRESET (ringd closed the connection),
 * -EPROTO (bytes that are not msgpack-RPC), -EINVAL (a bad format string), -ENOMEM. A socket
 * never fails with EREMOTEIO, so the two cannot be confused.
 */
#ifndef RINGD_CLIENT_H
#define RINGD_CLIENT_H

#include <errno.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "ring/addr.h"
#include "ring/rpc.h"

struct ringc;

/* ringd answered the call with an error (see above). */
#define RINGC_ERESPONSE (-EREMOTEIO)

/* Connects to ringd's socket at |path|. Returns 0 or a negative errno (-ENOENT, -ECONNREFUSED,
 * -EACCES, -ENAMETOOLONG, -ENOMEM); on failure |err| gets a line for people, e.g.
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
 * into |*result|. Returns 0 or a negative errno (RINGC_ERESPONSE: ringd answered an error). */
int ringc_call(struct ringc *c, const msgpack_object **result, int timeout_ms, const char *method,
               const char *fmt, ...);

/* The last error answer of ringc_call(): its code as a negative errno (ringd_err_from_ring()
 * of the wire's code: "EEMPTY" is -ENODATA, a name this build does not know -EPROTO; 0 when
 * the last call had none), its name as the wire spells it, and its message. */
int ringc_error(const struct ringc *c);
const char *ringc_error_code(const struct ringc *c);
const char *ringc_error_message(const struct ringc *c);

/* Map helpers: the value of |key| in map |o|, or NULL. */
const msgpack_object *ringc_get(const msgpack_object *o, const char *key);
/* The value of |key| in map |o| if it is an array, else NULL (so a caller may walk
 * via.array whatever the bytes said). */
const msgpack_object *ringc_get_array(const msgpack_object *o, const char *key);
/* Copies a str/bin value of |key| with a NUL into |buf|; returns its length, or -ENOENT when
 * |o| has no str or bin under |key| (or |cap| is 0). */
int ringc_get_str(const msgpack_object *o, const char *key, char *buf, size_t cap);
/* An unsigned integer value of |key|, or |def|. */
uint64_t ringc_get_u64(const msgpack_object *o, const char *key, uint64_t def);
/* A float or integer value of |key|, or |def|. */
double ringc_get_f64(const msgpack_object *o, const char *key, double def);

/* A peer's checksums, asked over its gossip port (TCP, one frame each way; ringctl
 * checksums). With |keys| (the cluster's keyring, may be NULL) the query runs the gossip
 * port's session handshake first (ring/session.h), as ringd's own streams do: an encrypted
 * cluster answers nothing else. */
struct seal_keyring;
struct ringc_checksums {
    char id[129];
    uint64_t checksum;
    uint64_t ring_checksum;
    uint64_t members;
};
/* Returns 0 or a negative errno: RINGC_ERESPONSE when the peer answered an error, -EACCES
 * when its hello does not open under |keys|, -EPROTO for a reply that is not one. */
int ringc_peer_checksums(const struct ring_addr *peer, const struct seal_keyring *keys,
                         int timeout_ms, struct ringc_checksums *out);

/* Any peer query (no params): "checksums", or "members" (the same answer as the local API's
 * members(), for `ringctl members --group` of another group). On 0, |*result| is valid until
 * ringc_peer_result_free(out), which is needed after any return. Returns as
 * ringc_peer_checksums(). */
struct ringc_peer_result {
    msgpack_unpacked u;
    char *body;
};
int ringc_peer_call(const struct ring_addr *peer, const struct seal_keyring *keys, int timeout_ms,
                    const char *method, struct ringc_peer_result *out,
                    const msgpack_object **result);
void ringc_peer_result_free(struct ringc_peer_result *r);

#endif
