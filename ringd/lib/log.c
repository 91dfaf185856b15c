/* log: see log.h. A line is built whole in a stack buffer and written with one fwrite, so lines
 * from one process never interleave. */
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "escape.h"
#include "log.h"
#include "sbuf.h"

/* Longest line; longer ones are cut (and still end with a newline). */
#define LOG_LINE_BYTES_MAX 2048
/* A line is built whole (up to this much) and then cut to the caller's buffer. */
#define LOG_BUILD_BYTES_MAX (64u << 10)
/* Key/value pairs in one line. */
#define LOG_FIELDS_MAX 16

static const char *const level_names[] = { "debug", "info", "warn", "error" };

static void add_time(struct sbuf *b, uint64_t wall_ms)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char t[32];
    strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
    sbuf_printf(b, "%s.%03uZ", t, (unsigned)(wall_ms % 1000));
}

/* A text value goes bare only when it is printable ASCII without '"', '=' or '\'; anything
 * else is quoted and escaped as a JSON string, so no byte of it reaches a terminal raw. */
static int needs_quotes(const char *v)
{
    if (v[0] == '\0') {
        return 1;
    }
    for (; *v != '\0'; v++) {
        unsigned char ch = (unsigned char)*v;
        if (ch <= ' ' || ch >= 0x7f || ch == '"' || ch == '=' || ch == '\\') {
            return 1;
        }
    }
    return 0;
}

static void format_text(struct sbuf *b, uint64_t wall_ms, int level, const char *event,
                        const char *const *kv, size_t kv_count)
{
    add_time(b, wall_ms);
    sbuf_printf(b, " %-5s %s", level_names[level], event);
    for (size_t i = 0; i + 1 < kv_count; i += 2) {
        sbuf_printf(b, " %s=", kv[i]);
        if (needs_quotes(kv[i + 1])) {
            escape_json(b, kv[i + 1], strlen(kv[i + 1]));
        } else {
            sbuf_adds(b, kv[i + 1]);
        }
    }
}

/* |value_bytes_max| below SIZE_MAX cuts every value to that many bytes and marks the line
 * "truncated" (a cut inside a UTF-8 sequence becomes U+FFFD: still valid JSON). */
static void format_json(struct sbuf *b, uint64_t wall_ms, int level, const char *event,
                        const char *const *kv, size_t kv_count, size_t value_bytes_max)
{
    sbuf_adds(b, "{\"ts\":\"");
    add_time(b, wall_ms);
    sbuf_printf(b, "\",\"level\":\"%s\",\"event\":", level_names[level]);
    escape_json(b, event, strlen(event));
    for (size_t i = 0; i + 1 < kv_count; i += 2) {
        size_t len = strlen(kv[i + 1]);
        sbuf_adds(b, ",");
        escape_json(b, kv[i], strlen(kv[i]));
        sbuf_adds(b, ":");
        escape_json(b, kv[i + 1], len < value_bytes_max ? len : value_bytes_max);
    }
    if (value_bytes_max != SIZE_MAX) {
        sbuf_adds(b, ",\"truncated\":\"true\"");
    }
    sbuf_adds(b, "}");
}

/* A JSON line too long for |cap| cannot be cut at the end (it would not parse): its values
 * are cut instead, each to an equal share of the room they have (an escaped byte takes at
 * most 6). */
static void format_json_fit(struct sbuf *b, size_t cap, uint64_t wall_ms, int level,
                            const char *event, const char *const *kv, size_t kv_count)
{
    format_json(b, wall_ms, level, event, kv, kv_count, SIZE_MAX);
    if (!b->failed && b->len + 2 <= cap) {
        return;
    }
    sbuf_reset(b);
    format_json(b, wall_ms, level, event, kv, kv_count, 0);
    size_t room = cap > b->len + 2 ? cap - b->len - 2 : 0;
    size_t share = kv_count >= 2 ? room / (kv_count / 2) / 6 : 0;
    sbuf_reset(b);
    format_json(b, wall_ms, level, event, kv, kv_count, share);
    if (b->failed || b->len + 2 > cap) {
        sbuf_reset(b); /* not even the keys fit: keep the event alone */
        format_json(b, wall_ms, level, event, kv, 0, 0);
    }
}

size_t ringd_log_format(char *buf, size_t cap, int format, uint64_t wall_ms, int level,
                        const char *event, const char *const *kv, size_t kv_count)
{
    struct sbuf b;
    sbuf_init(&b, LOG_BUILD_BYTES_MAX);
    if (format == RINGD_LOG_JSON) {
        format_json_fit(&b, cap, wall_ms, level, event, kv, kv_count);
    } else {
        format_text(&b, wall_ms, level, event, kv, kv_count);
    }
    size_t n = b.len;
    if (n + 2 > cap) {
        n = cap >= 2 ? cap - 2 : 0;
    }
    if (cap >= 2) {
        memcpy(buf, b.data != NULL ? b.data : "", n);
        buf[n++] = '\n';
        buf[n] = '\0';
    }
    sbuf_free(&b);
    return n;
}

void ringd_log(const struct ringd_log *lg, int level, const char *event, ...)
{
    if (level < lg->level || level > RINGD_LOG_ERROR) {
        return;
    }
    const char *kv[LOG_FIELDS_MAX * 2];
    size_t n = 0;
    va_list ap;
    va_start(ap, event);
    for (const char *s = va_arg(ap, const char *); s != NULL && n < LOG_FIELDS_MAX * 2;
         s = va_arg(ap, const char *)) {
        kv[n++] = s;
    }
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t wall_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    char line[LOG_LINE_BYTES_MAX];
    size_t len = ringd_log_format(line, sizeof(line), lg->format, wall_ms, level, event, kv, n);
    FILE *f = lg->f != NULL ? lg->f : stderr;
    fwrite(line, 1, len, f);
    fflush(f);
}
