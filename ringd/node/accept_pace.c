#include "accept_pace.h"

static void on_next_turn(uv_idle_t *h)
{
    struct accept_pace *ap = h->data;
    uv_idle_stop(h);
    ap->taken = 0;
    if (ap->waiting) {
        ap->waiting = 0;
        ap->cb(ap->server, 0); /* it accepts, and libuv watches the listener again */
    }
}

int accept_pace_init(uv_loop_t *loop, struct accept_pace *ap, uv_stream_t *server,
                     uv_connection_cb cb)
{
    ap->server = server;
    ap->cb = cb;
    ap->taken = 0;
    ap->waiting = 0;
    int rv = uv_idle_init(loop, &ap->next_turn);
    ap->next_turn.data = ap;
    return rv;
}

int accept_pace_wait(struct accept_pace *ap)
{
    if (ap->taken == 0) {
        /* the first of a turn: the count starts again once the loop has turned */
        uv_idle_start(&ap->next_turn, on_next_turn);
    }
    if (ap->taken >= ACCEPT_PACE_TURN) {
        ap->waiting = 1;
        return 1;
    }
    ap->taken++;
    return 0;
}

void accept_pace_close(struct accept_pace *ap)
{
    uv_handle_t *h = (uv_handle_t *)&ap->next_turn;
    ap->waiting = 0;
    if (h->loop != NULL && !uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}
