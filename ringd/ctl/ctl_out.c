/* ctl_out: see ctl.h. Every string ringd or a peer sent, and every echo of an argument, goes
 * through escape_text() (text) or escape_json() (JSON) before it is printed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "escape.h"

#define SHOWN_SLOTS 8
#define SHOWN_BYTES 1024
/* The largest JSON document ringctl prints (a members list of a large cluster). */
#define JSON_BYTES_MAX (64u << 20)

const char *ctl_shown_n(const char *s, size_t len)
{
    static char bufs[SHOWN_SLOTS][SHOWN_BYTES];
    static unsigned next;
    return escape_text_buf(bufs[next++ % SHOWN_SLOTS], SHOWN_BYTES, s, len);
}

const char *ctl_shown(const char *s)
{
    return ctl_shown_n(s, strlen(s));
}

static int is_checksum_key(const msgpack_object *k)
{
    static const char suffix[] = "checksum";
    size_t n = sizeof(suffix) - 1;
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size >= n &&
           memcmp(k->via.str.ptr + k->via.str.size - n, suffix, n) == 0;
}

static void map_key(struct sbuf *b, const msgpack_object *k)
{
    if (k->type == MSGPACK_OBJECT_STR) {
        escape_json(b, k->via.str.ptr, k->via.str.size);
        return;
    }
    struct sbuf kb; /* JSON keys are strings: another key type is written as its JSON text */
    sbuf_init(&kb, 1 << 16);
    ctl_to_json(&kb, k);
    escape_json(b, kb.data != NULL ? kb.data : "", kb.len);
    sbuf_free(&kb);
}

void ctl_to_json_pairs(struct sbuf *b, const msgpack_object *o)
{
    for (uint32_t i = 0; o->type == MSGPACK_OBJECT_MAP && i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        const msgpack_object *v = &o->via.map.ptr[i].val;
        sbuf_adds(b, ",");
        map_key(b, k);
        sbuf_adds(b, ":");
        if (is_checksum_key(k) && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            sbuf_printf(b, "\"%016llx\"", (unsigned long long)v->via.u64);
        } else {
            ctl_to_json(b, v);
        }
    }
}

void ctl_to_json(struct sbuf *b, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        sbuf_adds(b, "null");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        sbuf_adds(b, o->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        sbuf_printf(b, "%llu", (unsigned long long)o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        sbuf_printf(b, "%lld", (long long)o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        sbuf_printf(b, "%.9g", o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
    case MSGPACK_OBJECT_BIN:
        escape_json(b, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        sbuf_adds(b, "[");
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            sbuf_adds(b, i > 0 ? "," : "");
            ctl_to_json(b, &o->via.array.ptr[i]);
        }
        sbuf_adds(b, "]");
        break;
    case MSGPACK_OBJECT_MAP: {
        /* the pairs with their leading commas, then the first comma turned into the brace */
        size_t at = b->len;
        ctl_to_json_pairs(b, o);
        if (o->via.map.size > 0 && !b->failed && b->len > at) {
            b->data[at] = '{';
            sbuf_adds(b, "}");
        } else {
            sbuf_adds(b, "{}");
        }
        break;
    }
    default:
        sbuf_adds(b, "null");
        break;
    }
}

void ctl_print_json(const msgpack_object *o)
{
    struct sbuf b;
    sbuf_init(&b, JSON_BYTES_MAX);
    ctl_to_json(&b, o);
    printf("%s\n", b.data != NULL && !b.failed ? b.data : "null");
    fflush(stdout);
    sbuf_free(&b);
}

void ctl_json_checksum(struct sbuf *b, const char *key, uint64_t v)
{
    sbuf_printf(b, "\"%s\":\"%016llx\"", key, (unsigned long long)v);
}

void ctl_timestamp(char *buf, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char t[32];
    strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%03ldZ", t, ts.tv_nsec / 1000000);
}

int ctl_report(struct ctl *ctl, const char *what, int rv)
{
    if (rv == RINGC_ERESPONSE) {
        fprintf(stderr, "ringctl: %s: %s: %s\n", what, ctl_shown(ringc_error_code(ctl->c)),
                ctl_shown(ringc_error_message(ctl->c)));
    } else if (rv == -ETIMEDOUT) {
        fprintf(stderr, "ringctl: %s: no answer from ringd at %s within %d ms\n", what,
                ctl_shown(ctl->socket), ctl->timeout_ms);
    } else if (rv == -ECONNRESET) {
        fprintf(stderr, "ringctl: %s: ringd closed the connection\n", what);
    } else {
        fprintf(stderr, "ringctl: %s: %s\n", what, strerror(-rv));
    }
    return CTL_EXIT_FAIL;
}
