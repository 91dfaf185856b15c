/* log: see log.h. A line is built whole in a stack buffer and written with one fwrite, so lines
 * from one process never interleave. */
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* The JSON type of each key that is not a string. Every key ringd logs a count or a flag
 * under is here; docs/ringd.md ("Logs") lists them. */
enum field_type { FIELD_STRING, FIELD_NUMBER, FIELD_BOOL };
static const struct {
    const char *key;
    uint8_t type;
} field_types[] = {
    { "members", FIELD_NUMBER }, { "incarnation", FIELD_NUMBER }, { "port", FIELD_NUMBER },
    { "seeds", FIELD_NUMBER },   { "groups", FIELD_NUMBER },      { "owned", FIELD_NUMBER },
    { "shards", FIELD_NUMBER },  { "keys", FIELD_NUMBER },        { "waited_s", FIELD_NUMBER },
    { "nacks", FIELD_NUMBER },   { "new_members", FIELD_NUMBER }, { "complete", FIELD_BOOL },
    { "truncated", FIELD_BOOL },
};

static int field_type(const char *key)
{
    for (size_t i = 0; i < sizeof(field_types) / sizeof(field_types[0]); i++) {
        if (strcmp(key, field_types[i].key) == 0) {
            return field_types[i].type;
        }
    }
    return FIELD_STRING;
}

/* Whether |v| may be written bare as a JSON value of type |type|: an unsigned decimal
 * integer without leading zeros, or true/false. */
static int bare(const char *v, size_t len, int type)
{
    if (type == FIELD_BOOL) {
        return (len == 4 && memcmp(v, "true", 4) == 0) || (len == 5 && memcmp(v, "false", 5) == 0);
    }
    if (type != FIELD_NUMBER || len == 0 || len > 20 || (v[0] == '0' && len > 1)) {
        return 0;
    }
    return strspn(v, "0123456789") == len;
}

/* Days since 1970-01-01 as a civil date (Howard Hinnant's days_from_civil, inverted): pure
 * arithmetic, so the crash handler may use it too. */
static void civil(uint64_t days, unsigned *y, unsigned *m, unsigned *d)
{
    uint64_t z = days + 719468;
    uint64_t era = z / 146097;
    uint64_t doe = z - era * 146097;
    uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    uint64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = (unsigned)(yoe + era * 400 + (*m <= 2));
}

/* |n| as |width| decimal digits at |p|. */
static char *digits(char *p, uint64_t n, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + n % 10);
        n /= 10;
    }
    return p + width;
}

/* "2026-12-02T17:12:04.700Z" (24 bytes and a NUL) into |t|. */
static void format_ts(char t[25], uint64_t wall_ms)
{
    uint64_t secs = wall_ms / 1000;
    unsigned y, mo, d;
    civil(secs / 86400, &y, &mo, &d);
    char *p = t;
    p = digits(p, y, 4);
    *p++ = '-';
    p = digits(p, mo, 2);
    *p++ = '-';
    p = digits(p, d, 2);
    *p++ = 'T';
    p = digits(p, secs % 86400 / 3600, 2);
    *p++ = ':';
    p = digits(p, secs % 3600 / 60, 2);
    *p++ = ':';
    p = digits(p, secs % 60, 2);
    *p++ = '.';
    p = digits(p, wall_ms % 1000, 3);
    *p++ = 'Z';
    *p = '\0';
}

static void add_time(struct sbuf *b, uint64_t wall_ms)
{
    char t[25];
    format_ts(t, wall_ms);
    sbuf_adds(b, t);
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

static void text_value(struct sbuf *b, const char *v)
{
    if (needs_quotes(v)) {
        escape_json(b, v, strlen(v));
    } else {
        sbuf_adds(b, v);
    }
}

/* logfmt: ts=... level=... msg=... key=value ... */
static void format_text(struct sbuf *b, uint64_t wall_ms, int level, const char *event,
                        const char *const *kv, size_t kv_count)
{
    sbuf_adds(b, "ts=");
    add_time(b, wall_ms);
    sbuf_printf(b, " level=%s msg=", level_names[level]);
    text_value(b, event);
    for (size_t i = 0; i + 1 < kv_count; i += 2) {
        sbuf_printf(b, " %s=", kv[i]);
        text_value(b, kv[i + 1]);
    }
}

/* |value_bytes_max| below SIZE_MAX cuts every value to that many bytes and marks the line
 * "truncated" (a cut inside a UTF-8 sequence becomes U+FFFD: still valid JSON). */
static void format_json(struct sbuf *b, uint64_t wall_ms, int level, const char *event,
                        const char *const *kv, size_t kv_count, size_t value_bytes_max)
{
    sbuf_adds(b, "{\"ts\":\"");
    add_time(b, wall_ms);
    sbuf_printf(b, "\",\"level\":\"%s\",\"msg\":", level_names[level]);
    escape_json(b, event, strlen(event));
    for (size_t i = 0; i + 1 < kv_count; i += 2) {
        size_t len = strlen(kv[i + 1]);
        sbuf_adds(b, ",");
        escape_json(b, kv[i], strlen(kv[i]));
        sbuf_adds(b, ":");
        if (bare(kv[i + 1], len, field_type(kv[i]))) {
            sbuf_adds(b, kv[i + 1]); /* at most 20 bytes: never cut */
        } else {
            escape_json(b, kv[i + 1], len < value_bytes_max ? len : value_bytes_max);
        }
    }
    if (value_bytes_max != SIZE_MAX) {
        sbuf_adds(b, ",\"truncated\":true");
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

/* ---- crash lines ------------------------------------------------------------------------- */

static const char *signal_name(int signo)
{
    switch (signo) {
    case SIGSEGV:
        return "SIGSEGV";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    case SIGABRT:
        return "SIGABRT";
    default:
        return "signal";
    }
}

static size_t append(char *buf, size_t at, size_t cap, const char *s)
{
    size_t len = strlen(s);
    if (at + len < cap) {
        memcpy(buf + at, s, len);
        at += len;
    }
    return at;
}

size_t ringd_log_crash_line(char *buf, size_t cap, int format, uint64_t wall_ms, int signo)
{
    char t[25];
    format_ts(t, wall_ms);
    int json = format == RINGD_LOG_JSON;
    size_t n = 0;
    n = append(buf, n, cap, json ? "{\"ts\":\"" : "ts=");
    n = append(buf, n, cap, t);
    n = append(buf, n, cap,
               json ? "\",\"level\":\"error\",\"msg\":\"crash\",\"signal\":\""
                    : " level=error msg=crash signal=");
    n = append(buf, n, cap, signal_name(signo));
    n = append(buf, n, cap, json ? "\"}\n" : "\n");
    if (cap > 0) {
        buf[n < cap ? n : cap - 1] = '\0';
    }
    return n;
}

/* The handler's view of the log: set once before any handler is installed. */
static int crash_fd = 2;
static int crash_format;

static void on_crash(int signo)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char line[160];
    size_t len =
        ringd_log_crash_line(line, sizeof(line), crash_format,
                             (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, signo);
    ssize_t w = write(crash_fd, line, len);
    (void)w;
    /* SA_RESETHAND put the default action back: dying of the same signal keeps the exit
     * status and the core dump a supervisor expects */
    raise(signo);
}

void ringd_log_crash_handler_install(const struct ringd_log *lg)
{
    static const int fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
    crash_fd = lg->f != NULL ? fileno(lg->f) : 2;
    crash_format = lg->format;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_crash;
    sa.sa_flags = (int)SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
        sigaction(fatal[i], &sa, NULL);
    }
}
