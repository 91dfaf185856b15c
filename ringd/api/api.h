/*
 * api: the local API's methods (proto/RPC.md), separate from the connection handling in api.c
 * so the packing of each result reads on its own.
 */
#ifndef RINGD_API_H
#define RINGD_API_H

#include <msgpack.h>
#include <string.h>

#include "daemon.h"
#include "ring/rpc.h"

/* API latency histogram bucket upper bounds, in microseconds (the last is +Inf). */
#define RINGD_LATENCY_BUCKETS 12
extern const double ringd_latency_bounds_us[RINGD_LATENCY_BUCKETS - 1];

/* The deadlines that close a local API connection (ringd_api_timeouts_total's phases). */
enum { RINGD_API_PHASE_HEADER, RINGD_API_PHASE_IDLE, RINGD_API_PHASE_SEND, RINGD_API_PHASES };
extern const char *const ringd_api_phase_names[RINGD_API_PHASES];

/* The local API's counters. */
struct ringd_api_counters {
    uint64_t requests;
    uint64_t errors;
    uint64_t connections;          /* accepted so far */
    uint64_t protocol_errors;      /* connections closed for framing garbage */
    uint64_t notifications;        /* notifications received (never answered) */
    uint64_t notifications_failed; /* of those: malformed, or their call failed */
    uint64_t responses_ignored;    /* responses sent by clients, dropped */
    uint64_t unanswerable;         /* messages with no usable msgid: an error notification */
    uint64_t watchers_dropped;     /* watchers closed: their notifications piled up unread */
    uint64_t evictions;            /* connections closed for a new one: every slot taken */
    uint64_t output_overflows;     /* connections closed: unread output past the bound */
    uint64_t input_overflows;      /* connections closed: input buffers past API_INPUT_BYTES_MAX */
    uint64_t timeouts[RINGD_API_PHASES];
    uint64_t latency[RINGD_LATENCY_BUCKETS];
    uint64_t latency_sum_ns;
};

/* The local API: its listener, connections and counters (api.c). main.c holds it; the node
 * does not know it exists. */
struct ringd_api;

/* Starts the local API on --socket and subscribes to |node|; |*out| is the API, for
 * ringd_api_free() once the loop has ended, even when this fails (its callbacks may hold it).
 * Returns 0 or a negative errno (a uv error). */
/* The most file descriptors the local API holds at once (its listener and clients). */
uint32_t ringd_api_fds_max(void);
int ringd_api_start(struct ringd *node, struct ringd_api **out);
void ringd_api_free(struct ringd_api *api);
/* Open connections and the counters; for NULL (no API) 0 and all zero. */
size_t ringd_api_connections(const struct ringd_api *api);
const struct ringd_api_counters *ringd_api_counters(const struct ringd_api *api);
void ringd_api_observe(struct ringd_api *api, uint64_t latency_ns, int failed);
/* Packs the error response to request |msgid| for |err| (a negative errno from a method or
 * the reader): the wire's name for it is ringd_err_to_ring()'s, so an internal -ENODATA
 * answers "EEMPTY"; |message| NULL says ring_strerror() of that name. */
void ringd_api_pack_error(msgpack_packer *pk, uint32_t msgid, int err, const char *message);

/* A NUL-terminated string as a msgpack str (every result map's keys). */
static inline void api_pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* What a call asks of its connection besides the response. */
struct api_call {
    const struct ringd_api *api; /* the API answering, for stats() (NULL: none, counters 0) */
    int watch;                   /* start ring-change notifications */
    int leave;                   /* leave the cluster once the response is out */
    /* On error: a message for the error map (NULL for ring_strerror()). */
    const char *message;
    char message_buf[160];
};

/*
 * Answers request |m| from node |d|'s view: on success packs the whole response ([1, msgid,
 * nil, result]) through |pk| and returns 0; otherwise returns a negative errno to answer with
 * (the caller drops whatever was packed and packs the error with call->message through
 * ringd_api_pack_error()).
 */
int ringd_api_call(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                   struct api_call *call);

/* api_groups.c (--group): groups(). Returns 0 or UV_ENOENT (sub-sharding is off). */
int ringd_api_groups(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk);
/* The groups module's counters, as a map (stats()). */
void ringd_api_pack_groups_stats(struct ringd *d, msgpack_packer *pk);

/* api_life.c: drain() (|on| 1) and undrain() (0), an operator's drain; ready(), the
 * readiness checks. Return 0 or UV_EINVAL with call->message. */
int ringd_api_drain(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                    struct api_call *call, int on);
int ringd_api_ready(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                    struct api_call *call);

/* Packs the 5 params of a ring_changed notification (after rpc_pack_notification_begin):
 * checksum, members, added, removed, omitted. */
int ringd_api_pack_ring_changed(struct ringd *d, const struct ringd_ring *old, msgpack_packer *pk);
/* The params of a shards_changed notification: [ring_checksum, owned, acquired, released,
 * omitted] (proto/RPC.md). */
void ringd_api_pack_shards_changed(struct ringd *d, const uint32_t *old, size_t old_n,
                                   msgpack_packer *pk);
/* The params of a lease_changed notification (--exclusive): [shard, state, prev, epoch,
 * expires_in_ms], all uints (proto/RPC.md). */
void ringd_api_pack_lease_changed(struct ringd *d, const struct lease_event *ev,
                                  msgpack_packer *pk);

#endif
