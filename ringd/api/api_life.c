/*
 * api_life: the local API's lifecycle methods: drain() and undrain() (an operator's drain,
 * node/drain.c) and ready() (the checks behind /readyz, for `ringctl wait-ready`). They
 * answer at once: a caller that waits for "drained" or "ready" polls, so no call holds a
 * connection's answers in order behind it.
 */
#include <string.h>

#include "api.h"

static void pack_bool(msgpack_packer *pk, const char *key, int v)
{
    api_pack_str(pk, key);
    if (v) {
        msgpack_pack_true(pk);
    } else {
        msgpack_pack_false(pk);
    }
}

static void pack_drain_state(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk)
{
    rpc_pack_result_begin(pk, m->msgid);
    msgpack_pack_map(pk, 5);
    pack_bool(pk, "draining", ringd_draining(d));
    pack_bool(pk, "restarting", ringd_restarting(d));
    pack_bool(pk, "drained", ringd_drained(d));
    api_pack_str(pk, "in_flight");
    msgpack_pack_uint64(pk, ringd_in_flight(d));
    pack_bool(pk, "leaving", d->leaving || d->shutting_down);
}

int ringd_api_drain(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                    struct api_call *call, int on)
{
    /* drain() gives the keys away; drain("restart") holds them for a restart
     * (--delayed-rebalance); undrain() ends either. */
    int restart = 0;
    if (on && m->param_count == 1) {
        struct rpc_bytes mode;
        if (rpc_param_bytes(m, 0, &mode) != 0 || mode.len != 7 ||
            memcmp(mode.ptr, "restart", 7) != 0) {
            call->message = "the one param, if any, must be \"restart\"";
            return UV_EINVAL;
        }
        restart = 1;
    } else if (m->param_count != 0) {
        call->message =
            on ? "this method takes no params or \"restart\"" : "this method takes no params";
        return UV_EINVAL;
    }
    int rv = 0;
    if (restart) {
        rv = ringd_restart_set(d, RINGD_RESTART_OPERATOR, 1);
        if (rv == UV_EALREADY) {
            rv = ringd_drain_set(d, RINGD_DRAIN_OPERATOR, 1); /* no keys to hold: drained */
        }
    } else {
        rv = ringd_drain_set(d, RINGD_DRAIN_OPERATOR, on);
        if (rv == 0 && !on) {
            rv = ringd_restart_set(d, RINGD_RESTART_OPERATOR, 0);
        }
    }
    if (rv == UV_ENOTSUP) {
        call->message = "this node runs without --delayed-rebalance, so its keys would not be held";
        return UV_EINVAL;
    }
    if (rv != 0) {
        call->message = "this node is leaving";
        return UV_EINVAL;
    }
    pack_drain_state(d, m, pk);
    return 0;
}

int ringd_api_ready(struct ringd *d, const struct rpc_msg *m, msgpack_packer *pk,
                    struct api_call *call)
{
    if (m->param_count != 0) {
        call->message = "this method takes no params";
        return UV_EINVAL;
    }
    struct ringd_readiness r;
    ringd_readiness(d, &r);
    rpc_pack_result_begin(pk, m->msgid);
    msgpack_pack_map(pk, 3);
    pack_bool(pk, "ready", r.ready);
    pack_bool(pk, "member_ready", r.member);
    api_pack_str(pk, "checks");
    msgpack_pack_map(pk, 5);
    pack_bool(pk, "joined", r.joined);
    pack_bool(pk, "ring_built", r.ring);
    pack_bool(pk, "not_leaving", !r.leaving);
    pack_bool(pk, "not_draining", !r.draining);
    pack_bool(pk, "app_healthy", !r.app_checked || r.app_healthy);
    return 0;
}
