/*
 * config: ringd's flags and environment (see config.h for the rules and the decisions).
 *
 * One table lists every flag: its name, value placeholder, default as shown by --help,
 * help text, section, and its value: a kind (duration, count, size, switch, enum, address,
 * string, wire text) with its bounds and the offset of its field in struct ringd_config.
 * Everything else is derived from it: the environment variable (RINGD_ + the name in upper
 * case, '-' as '_'), the --help layout, the lookup of a flag, and the parsing: one parser
 * per kind (set_value()), so two flags of one kind accept and refuse exactly the same
 * values with the same messages. The few values with a rule of their own (the --join and
 * --label lists, --key-header's token, --app-health's path, --suspect-timeout's hint) keep
 * a custom setter that says why. Parsing runs in three steps: a first pass over argv checks
 * the flags' syntax and catches --help/--version; then each option takes its value from its
 * flags, or else from its variable; last, the derived defaults (--advertise, --id) are
 * filled in and the values checked against each other.
 *
 * A parser writes one field, checks it against its row's bounds and, on a bad value, writes
 * the one-line error through bad(), which prefixes "ringd: <flag or variable>: ".
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "escape.h"
#include "ring/codec.h"
#include "ring/base.h"
#include "ring/error.h"
#include "ring/hashring.h"
#include "ring/shards.h"
#include "ring/swim.h"

#define DEFAULT_BIND       "0.0.0.0:7946"
#define DEFAULT_SOCKET     "/run/ringd/ringd.sock"
#define DEFAULT_ADMIN      "127.0.0.1:7947"
#define DEFAULT_KEY_HEADER "X-Ring-Key"
/* Environment variable names: "RINGD_" and the longest flag name. */
#define ENV_NAME_BYTES_MAX 48

/* Where errors go, and the flag or variable whose value is being read. */
struct errbuf {
    char *buf;
    size_t len;
    const char *source;
};

static int bad(struct errbuf *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The message quotes the value it refuses, which may hold anything: it is escaped whole
 * (escape_text()), so a terminal shows "\x1b" rather than obeying it. */
static int bad(struct errbuf *e, const char *fmt, ...)
{
    if (e->len == 0) {
        return -EINVAL;
    }
    char msg[1024];
    int top = strcmp(e->source, "ringd") == 0;
    int n = snprintf(msg, sizeof(msg), top ? "ringd: " : "ringd: %s: ", e->source);
    if (n >= 0 && (size_t)n < sizeof(msg)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
        va_end(ap);
    }
    escape_text_buf(e->buf, e->len, msg, strlen(msg));
    return -EINVAL;
}

/* ---- values ---------------------------------------------------------------------------- */

/* A decimal integer of digits only, at most |max|. Returns 0, -EINVAL (not digits only), or
 * -ERANGE (digits only, above |max|: 2^64 - 1 included, so the error says "out of range"). */
static int parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    int over = 0;
    if (len == 0) {
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return -EINVAL;
        }
        over |= v > (max - (uint64_t)(s[i] - '0')) / 10;
        if (!over) {
            v = v * 10 + (uint64_t)(s[i] - '0');
        }
    }
    if (over) {
        return -ERANGE;
    }
    *out = v;
    return 0;
}

static int unit_ms(const char *unit, uint64_t *ms)
{
    static const struct {
        const char *name;
        uint64_t ms;
    } units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 } };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i].name) == 0) {
            *ms = units[i].ms;
            return 0;
        }
    }
    return -EINVAL;
}

/* "500ms", "2s", "1m", "1h". Returns 0 or -EINVAL. */
static int parse_duration(const char *v, uint64_t *out_ms)
{
    size_t digits = strspn(v, "0123456789");
    uint64_t n;
    uint64_t ms;
    if (parse_uint(v, digits, RINGD_DURATION_MS_MAX, &n) != 0 || unit_ms(v + digits, &ms) != 0) {
        return -EINVAL;
    }
    *out_ms = n * ms;
    return 0;
}

int ringd_duration_parse(const char *v, uint32_t *out_ms)
{
    uint64_t ms;
    if (parse_duration(v, &ms) != 0) {
        return -EINVAL;
    }
    if (ms == 0 || ms > RINGD_DURATION_MS_MAX) {
        return -ERANGE;
    }
    *out_ms = (uint32_t)ms;
    return 0;
}

/* ---- addresses ------------------------------------------------------------------------- */

static int is_name(const char *host)
{
    size_t len = strlen(host);
    if (len == 0 || len > RINGD_HOST_BYTES_MAX || host[0] == '-' || host[0] == '.') {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)host[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '_') {
            return 0;
        }
    }
    return 1;
}

static uint8_t ip_family(const char *host)
{
    unsigned char buf[16];
    if (inet_pton(AF_INET, host, buf) == 1) {
        return 4;
    }
    if (inet_pton(AF_INET6, host, buf) == 1) {
        return 6;
    }
    return 0;
}

/* Splits "host:port" or "[v6]:port" (or, with |port_optional|, a bare host or "[v6]") into
 * |hp|; the port is 0 when absent. Returns 0 or -EINVAL with |*why| set. */
static int split_hostport(const char *v, int port_optional, struct ringd_hostport *hp,
                          const char **why)
{
    const char *host = v;
    size_t host_len;
    const char *port = NULL;
    if (port_optional && strlen(v) <= RINGD_HOST_BYTES_MAX && ip_family(v) == 6) {
        /* A bare IPv6 address: its colons are not a port separator. */
        host_len = strlen(v);
    } else if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
            *why = "unbalanced [ ] around an IPv6 address";
            return -EINVAL;
        }
        host = v + 1;
        host_len = (size_t)(close - host);
        port = close[1] == ':' ? close + 2 : NULL;
    } else {
        const char *colon = strrchr(v, ':');
        if (colon != NULL && strchr(v, ':') != colon) {
            *why = "put an IPv6 address in brackets, e.g. [::1]:7946";
            return -EINVAL;
        }
        host_len = colon != NULL ? (size_t)(colon - v) : strlen(v);
        port = colon != NULL ? colon + 1 : NULL;
    }
    if (host_len == 0 || host_len > RINGD_HOST_BYTES_MAX) {
        *why = host_len == 0 ? "missing host" : "host too long";
        return -EINVAL;
    }
    memcpy(hp->host, host, host_len);
    hp->host[host_len] = '\0';
    uint64_t n = 0;
    if (port == NULL && !port_optional) {
        *why = "missing port";
        return -EINVAL;
    }
    if (port != NULL && (parse_uint(port, strlen(port), 65535, &n) != 0 || n == 0)) {
        *why = "port must be 1 to 65535";
        return -EINVAL;
    }
    hp->port = (uint16_t)n;
    hp->family = ip_family(hp->host);
    return 0;
}

/* Parses an address: numeric (listen and advertise addresses) or also a name. */
static int set_hostport(const char *v, int numeric, int port_optional, struct ringd_hostport *hp,
                        struct errbuf *e)
{
    const char *why = NULL;
    struct ringd_hostport tmp = { { 0 }, 0, 0 };
    if (split_hostport(v, port_optional, &tmp, &why) != 0) {
        return bad(e, "invalid address \"%s\": %s", v, why);
    }
    if (numeric && tmp.family == 0) {
        return bad(e, "invalid address \"%s\": the host must be a numeric IP address", v);
    }
    if (tmp.family == 0 && !is_name(tmp.host)) {
        return bad(e, "invalid address \"%s\": \"%s\" is not an IP address or host name", v,
                   tmp.host);
    }
    *hp = tmp;
    return 0;
}

static int is_unspecified(const struct ringd_hostport *hp)
{
    return strcmp(hp->host, "0.0.0.0") == 0 || strcmp(hp->host, "::") == 0;
}

static void format_hostport(const struct ringd_hostport *hp, char *buf, size_t len)
{
    snprintf(buf, len, hp->family == 6 ? "[%s]:%u" : "%s:%u", hp->host, (unsigned)hp->port);
}

/* ---- lists ----------------------------------------------------------------------------- */

/* Calls |fn| on each comma-separated item of |v|, spaces around items trimmed; empty items
 * (a trailing comma) are skipped. */
static int each_item(const char *v, struct ringd_config *c, struct errbuf *e,
                     int (*fn)(const char *item, struct ringd_config *c, struct errbuf *e))
{
    char item[RINGD_VALUE_BYTES_MAX + 1];
    while (*v != '\0') {
        size_t len = strcspn(v, ",");
        size_t start = 0;
        while (start < len && isspace((unsigned char)v[start])) {
            start++;
        }
        size_t end = len;
        while (end > start && isspace((unsigned char)v[end - 1])) {
            end--;
        }
        memcpy(item, v + start, end - start);
        item[end - start] = '\0';
        int rv = end > start ? fn(item, c, e) : 0;
        if (rv != 0) {
            return rv;
        }
        v += len + (v[len] == ',');
    }
    return 0;
}

static int add_seed(const char *item, struct ringd_config *c, struct errbuf *e)
{
    if (c->seed_count == RINGD_SEEDS_MAX) {
        return bad(e, "too many seeds (at most %d)", RINGD_SEEDS_MAX);
    }
    struct ringd_seed *s = &c->seeds[c->seed_count];
    s->dns = strncmp(item, "dns:", 4) == 0;
    int rv = set_hostport(s->dns ? item + 4 : item, 0, 0, &s->addr, e);
    if (rv != 0) {
        return rv;
    }
    c->seed_count++;
    return 0;
}

int ringd_seed_parse(const char *item, struct ringd_seed *out, char *err, size_t errlen)
{
    struct errbuf e = { err, errlen, "seed" };
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    memset(out, 0, sizeof(*out));
    out->dns = strncmp(item, "dns:", 4) == 0;
    return set_hostport(out->dns ? item + 4 : item, 0, 0, &out->addr, &e);
}

/* What member_text_check() allows, for messages. */
static const char *text_rule(int kind)
{
    return kind == MEMBER_TEXT_LABEL_KEY || kind == MEMBER_TEXT_LABEL_VALUE
               ? "printable ASCII without spaces, '=' or ','"
               : "printable ASCII without spaces";
}

/* |v| against the wire's rule for |kind| (member_text_check(): the flags accept exactly what
 * gossip carries); its length was checked by kind_string(). |what| names it in the message. */
static int check_text(int kind, const char *v, const char *what, struct errbuf *e)
{
    size_t at;
    if (member_text_check(kind, v, strlen(v), &at) != 0) {
        return bad(e, "%s \"%s\": byte 0x%02x at offset %zu is not allowed (%s only)", what, v,
                   (unsigned char)v[at], at, text_rule(kind));
    }
    return 0;
}

static int check_label_part(const char *item, size_t len, int kind, struct errbuf *e)
{
    size_t at;
    int rv = member_text_check(kind, item, len, &at);
    const char *what = kind == MEMBER_TEXT_LABEL_KEY ? "key" : "value";
    if (rv == RING_EMSGSIZE) {
        return bad(e, "label \"%s\": %s longer than %zu bytes", item, what, at);
    }
    if (rv != 0) {
        return bad(e, "label \"%s\": %s byte 0x%02x at offset %zu is not allowed (%s only)", item,
                   what, (unsigned char)item[at], at, text_rule(kind));
    }
    return 0;
}

static int find_label(const struct ringd_config *c, const char *key, size_t key_len)
{
    for (size_t i = 0; i < c->label_count; i++) {
        if (c->labels[i].key_len == key_len && memcmp(c->labels[i].key, key, key_len) == 0) {
            return (int)i;
        }
    }
    return -EINVAL;
}

static int add_label(const char *item, struct ringd_config *c, struct errbuf *e)
{
    const char *eq = strchr(item, '=');
    if (eq == NULL || eq == item) {
        return bad(e, "invalid label \"%s\" (expected key=value)", item);
    }
    size_t key_len = (size_t)(eq - item);
    size_t value_len = strlen(eq + 1);
    int rv = check_label_part(item, key_len, MEMBER_TEXT_LABEL_KEY, e);
    if (rv == 0) {
        rv = check_label_part(eq + 1, value_len, MEMBER_TEXT_LABEL_VALUE, e);
    }
    if (rv != 0) {
        return rv;
    }
    int i = find_label(c, item, key_len);
    if (i < 0 && c->label_count == MEMBER_LABELS_MAX) {
        return bad(e, "too many labels (at most %d)", MEMBER_LABELS_MAX);
    }
    struct member_label *l = &c->labels[i < 0 ? c->label_count++ : (size_t)i];
    memcpy(l->key, item, key_len);
    l->key[key_len] = '\0';
    l->key_len = (uint8_t)key_len;
    memcpy(l->value, eq + 1, value_len + 1);
    l->value_len = (uint8_t)value_len;
    return 0;
}

/* ---- the table ------------------------------------------------------------------------- */

typedef int (*set_cb)(const char *value, struct ringd_config *c, struct errbuf *e);

enum section {
    SEC_NODE,
    SEC_CLUSTER,
    SEC_LOCAL,
    SEC_LIFE,
    SEC_RING,
    SEC_SWIM,
    SEC_LOG,
    SEC_COUNT,
};

static const char *const section_titles[SEC_COUNT] = {
    "Node",
    "Cluster",
    "Local API and proxy",
    "Drain and app health",
    "Ring",
    "Failure detection (SWIM)",
    "Logging",
};

/* What a value is; each kind has one parser (set_value()), with the row's bounds. */
enum kind {
    KIND_DURATION, /* "500ms", "2s", "1m", "1h": 1ms to 24h (ringd_duration_parse()) */
    KIND_COUNT,    /* a decimal integer from min to max */
    KIND_SIZE,     /* bytes, or an integer with K, M or G: min to max */
    KIND_SWITCH,   /* true/false, 1/0, yes/no; a flag given alone means true */
    KIND_ENUM,     /* one of |names|, stored as its index */
    KIND_ADDR,     /* host:port, in the forms its ADDR_* flags allow */
    KIND_STRING,   /* min to sizeof(field) - 1 bytes */
    KIND_TEXT,     /* a string under the wire's rule for |text| (member_text_check()) */
    KIND_CUSTOM,   /* its own setter, |set| */
};

/* Row flags. */
#define ZERO_OFF       0x01 /* duration: 0 ("0", "0s", ...) turns it off (stored as 0) */
#define SIZE_ZERO_NONE 0x02 /* size: 0 means no limit (and the message says so) */
#define ADDR_NUMERIC   0x04 /* a numeric IP, not a name (listen and advertise addresses) */
#define ADDR_PORT_OPT  0x08 /* the port may be left out (stored as 0) */
#define ADDR_EMPTY_OFF 0x10 /* "" clears it: the feature is off */
#define ADDR_REACHABLE 0x20 /* not 0.0.0.0 or :: (peers must be able to reach it) */

struct opt {
    const char *name;
    /* NULL for a switch (--insecure, --exclusive): alone it means "true", --name=false turns it
     * off. */
    const char *metavar;
    /* The default as --help shows it; NULL for none. */
    const char *def;
    const char *help;
    uint8_t section;
    /* 1 for a flag that may repeat, each occurrence adding to a list. */
    uint8_t repeats;
    /* The value (the macros below fill these in): its kind and flags, then its field's
     * offsetof and sizeof in struct ringd_config (integers are stored at that width). */
    uint8_t kind;
    uint8_t flags;
    size_t off;
    size_t bytes;
    /* KIND_COUNT, KIND_SIZE: the bounds; KIND_STRING, KIND_TEXT: the least length (the
     * most is the field's size less the NUL). */
    uint64_t min;
    uint64_t max;
    /* KIND_TEXT: member_text_check()'s kind, and the offset of the size_t length field. */
    int text;
    size_t len_off;
    /* KIND_ENUM: the names, NULL-terminated, in the order of the enum's values. */
    const char *const *names;
    /* KIND_CUSTOM. */
    set_cb set;
};

#define FIELD(f) offsetof(struct ringd_config, f), sizeof(((struct ringd_config *)0)->f)

#define DURATION(f)         KIND_DURATION, 0, FIELD(f), 0, 0, 0, 0, NULL, NULL
#define DURATION_OR_ZERO(f) KIND_DURATION, ZERO_OFF, FIELD(f), 0, 0, 0, 0, NULL, NULL
#define COUNT(f, lo, hi)    KIND_COUNT, 0, FIELD(f), lo, hi, 0, 0, NULL, NULL
#define SIZE(f, lo, hi, fl) KIND_SIZE, fl, FIELD(f), lo, hi, 0, 0, NULL, NULL
#define SWITCH(f)           KIND_SWITCH, 0, FIELD(f), 0, 0, 0, 0, NULL, NULL
#define ENUM(f, names)      KIND_ENUM, 0, FIELD(f), 0, 0, 0, 0, names, NULL
#define ADDR(f, fl)         KIND_ADDR, fl, FIELD(f), 0, 0, 0, 0, NULL, NULL
#define STRING(f, lo)       KIND_STRING, 0, FIELD(f), lo, 0, 0, 0, NULL, NULL
#define TEXT(f, lo, kind, len_f)                                                                   \
    KIND_TEXT, 0, FIELD(f), lo, 0, kind, offsetof(struct ringd_config, len_f), NULL, NULL
#define CUSTOM(fn) KIND_CUSTOM, 0, 0, 0, 0, 0, 0, 0, NULL, fn

/* ---- custom setters: only where a value has a rule no kind expresses ------------------- */

/* Lists: each comma-separated item is a seed or a label, and every occurrence adds to them. */
static int set_join(const char *v, struct ringd_config *c, struct errbuf *e)
{
    return each_item(v, c, e, add_seed);
}

static int set_label(const char *v, struct ringd_config *c, struct errbuf *e)
{
    return each_item(v, c, e, add_label);
}

/* An HTTP token (RFC 9110 section 5.6.2): its own alphabet and message. */
static int set_key_header(const char *v, struct ringd_config *c, struct errbuf *e)
{
    size_t len = strlen(v);
    if (len == 0 || len > RINGD_HEADER_BYTES_MAX ||
        strspn(v, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != len) {
        return bad(e, "invalid header name \"%s\" (letters, digits and -, at most %d bytes)", v,
                   RINGD_HEADER_BYTES_MAX);
    }
    memcpy(c->key_header, v, len + 1);
    return 0;
}

/* An origin-form request target: "/" then printable ASCII; "" turns the check off. */
static int set_app_health(const char *v, struct ringd_config *c, struct errbuf *e)
{
    size_t len = strlen(v);
    if (len == 0) {
        c->app_health_path[0] = '\0';
        return 0;
    }
    if (v[0] != '/' || len > RINGD_APP_HEALTH_PATH_BYTES_MAX) {
        return bad(e, "invalid path \"%.64s\" (starts with /, at most %d bytes)", v,
                   RINGD_APP_HEALTH_PATH_BYTES_MAX);
    }
    for (size_t i = 0; i < len; i++) {
        if (v[i] < 0x21 || v[i] > 0x7e) {
            return bad(e, "byte %zu of the path is not printable ASCII (no space, no control)", i);
        }
    }
    memcpy(c->app_health_path, v, len + 1);
    return 0;
}

static int set_count(const char *v, uint64_t min, uint64_t max, uint32_t *out, struct errbuf *e);

/* A count, but a duration given by mistake gets a message that explains the multiplier. */
static int set_suspect_timeout(const char *v, struct ringd_config *c, struct errbuf *e)
{
    uint64_t ms;
    if (parse_duration(v, &ms) == 0) {
        return bad(e,
                   "\"%s\" is a duration, but this is a multiplier of the probe interval "
                   "(e.g. 4; the timeout also scales with log10 of the cluster size)",
                   v);
    }
    return set_count(v, 1, RINGD_SUSPECT_MULT_MAX, &c->suspect_mult, e);
}

static const char *const log_levels[] = { "debug", "info", "warn", "error", NULL };
static const char *const log_formats[] = { "text", "json", NULL };

static const struct opt opts[] = {
    { "id", "ID", "$POD_NAME, else advertise addr", "member id", SEC_NODE, 0,
      TEXT(id, 1, MEMBER_TEXT_ID, id_len) },
    { "bind", "IP:PORT", DEFAULT_BIND, "gossip listen address, UDP and TCP", SEC_NODE, 0,
      ADDR(bind, ADDR_NUMERIC) },
    { "advertise", "IP[:PORT]", "$POD_IP:bind port", "address peers reach us at", SEC_NODE, 0,
      ADDR(advertise, ADDR_NUMERIC | ADDR_PORT_OPT | ADDR_REACHABLE) },
    { "join", "SEEDS", NULL, "host:port,... or dns:NAME:PORT", SEC_CLUSTER, 1, CUSTOM(set_join) },
    { "join-file", "PATH", NULL, "file of seeds, one per line", SEC_CLUSTER, 0,
      STRING(join_file, 0) },
    { "keyfile", "PATH", NULL, "cluster key file (ringctl keygen); required", SEC_CLUSTER, 0,
      STRING(keyfile, 0) },
    { "insecure", NULL, NULL, "gossip in plaintext without --keyfile", SEC_CLUSTER, 0,
      SWITCH(insecure) },
    { "gossip-accept-plaintext", NULL, NULL, "with keys, accept plaintext (rollout)", SEC_CLUSTER,
      0, SWITCH(gossip_accept_plaintext) },
    { "gossip-send-plaintext", NULL, NULL, "with keys, send plaintext (rollout)", SEC_CLUSTER, 0,
      SWITCH(gossip_send_plaintext) },
    { "replay-window", "DURATION", "30s", "sealed datagram age/clock skew accepted", SEC_CLUSTER, 0,
      DURATION(replay_window_ms) },
    { "group", "NAME", NULL, "sub-sharding group of this node", SEC_CLUSTER, 0,
      TEXT(group, 0, MEMBER_TEXT_GROUP, group_len) },
    { "label", "KEY=VALUE", NULL, "member label, at most 8", SEC_CLUSTER, 1, CUSTOM(set_label) },
    { "socket", "PATH", DEFAULT_SOCKET, "local API socket", SEC_LOCAL, 0, STRING(socket_path, 1) },
    { "admin", "IP:PORT", DEFAULT_ADMIN, "admin HTTP address", SEC_LOCAL, 0,
      ADDR(admin, ADDR_NUMERIC) },
    { "proxy", "IP:PORT", NULL, "forwarding proxy address (off if unset)", SEC_LOCAL, 0,
      ADDR(proxy, ADDR_NUMERIC | ADDR_EMPTY_OFF) },
    { "app", "HOST:PORT", NULL, "app that serves owned requests", SEC_LOCAL, 0,
      ADDR(app, ADDR_EMPTY_OFF) },
    { "key-header", "NAME", DEFAULT_KEY_HEADER, "header holding the key", SEC_LOCAL, 0,
      CUSTOM(set_key_header) },
    { "connect-timeout", "DURATION", "1s", "proxy: connect to the app or a peer", SEC_LOCAL, 0,
      DURATION(proxy_connect_timeout_ms) },
    { "request-timeout", "DURATION", "30s", "proxy: whole request (504)", SEC_LOCAL, 0,
      DURATION(proxy_timeout_ms) },
    { "idle-timeout", "DURATION", "60s", "admin, proxy: idle keep-alive connection", SEC_LOCAL, 0,
      DURATION(proxy_idle_timeout_ms) },
    { "header-timeout", "DURATION", "10s", "admin, API, proxy: a request head to arrive", SEC_LOCAL,
      0, DURATION(header_timeout_ms) },
    { "send-timeout", "DURATION", "30s", "admin, API: a client that reads no answer", SEC_LOCAL, 0,
      DURATION(send_timeout_ms) },
    /* 0 turns it off: an app may keep one connection for its whole life. */
    { "api-timeout", "DURATION", "5m", "API: idle connection (not watchers); 0: none", SEC_LOCAL, 0,
      DURATION_OR_ZERO(api_idle_timeout_ms) },
    { "api-output-max", "SIZE", "256K", "API: unread output that closes a client", SEC_LOCAL, 0,
      SIZE(api_output_max_bytes, RINGD_API_OUTPUT_BYTES_MIN, RINGD_API_OUTPUT_BYTES_MAX, 0) },
    { "proxy-retries", "N", "5", "proxy: re-routes when an owner fails", SEC_LOCAL, 0,
      COUNT(proxy_retries, 0, RINGD_PROXY_RETRIES_MAX) },
    { "max-body", "SIZE", "0", "proxy: largest request body (413); 0: none", SEC_LOCAL, 0,
      SIZE(proxy_max_body_bytes, 0, UINT64_MAX, SIZE_ZERO_NONE) },
    { "proxy-max-app-conns", "N", "1024", "proxy: connections to the app at once", SEC_LOCAL, 0,
      COUNT(proxy_max_app_conns, 1, RINGD_PROXY_APP_CONNS_MAX) },
    /* 0: no waiting; a request that finds every app connection busy gets 503 at once. */
    { "proxy-max-pending", "N", "1024", "proxy: requests queued for the app", SEC_LOCAL, 0,
      COUNT(proxy_max_pending, 0, RINGD_PROXY_PENDING_MAX) },
    /* 0: leave at once, as before draining existed. */
    { "drain-timeout", "DURATION", "20s", "SIGTERM: drain this long, then leave", SEC_LIFE, 0,
      DURATION_OR_ZERO(drain_timeout_ms) },
    /* 0: off; at most RINGD_RESTART_HOLD_MS_MAX (checked with the other flags). */
    { "delayed-rebalance", "TIME", "0", "stop: hold keys to restart; 0: off", SEC_LIFE, 0,
      DURATION_OR_ZERO(restart_hold_ms) },
    { "app-health", "PATH", NULL, "GET PATH on --app; failing: drain (off if unset)", SEC_LIFE, 0,
      CUSTOM(set_app_health) },
    { "app-health-interval", "TIME", "2s", "time between app health checks", SEC_LIFE, 0,
      DURATION(app_health_interval_ms) },
    { "app-health-timeout", "TIME", "1s", "no answer this soon: fail", SEC_LIFE, 0,
      DURATION(app_health_timeout_ms) },
    { "app-health-threshold", "N", "3", "failures in a row before draining", SEC_LIFE, 0,
      COUNT(app_health_threshold, 1, RINGD_APP_HEALTH_THRESHOLD_MAX) },
    { "app-health-holddown", "TIME", "30s", "passing this long: keys back", SEC_LIFE, 0,
      DURATION_OR_ZERO(app_health_holddown_ms) },
    { "vnodes", "N", "1024", "ring points per unit of weight", SEC_RING, 0,
      COUNT(vnodes, 1, HASHRING_VNODES_MAX) },
    { "weight", "N", "1", "this node's ring weight (1..1000)", SEC_RING, 0,
      COUNT(weight, 1, HASHRING_WEIGHT_MAX) },
    { "weight-max", "N", "10", "largest weight a member may claim", SEC_RING, 0,
      COUNT(weight_max, 1, HASHRING_WEIGHT_MAX) },
    { "shards", "S", "0", "logical shards: key -> shard -> owner; 0: off", SEC_RING, 0,
      COUNT(shards, 0, SHARDS_MAX) },
    { "exclusive", NULL, NULL, "with --shards: serve a shard only under its lease", SEC_RING, 0,
      SWITCH(exclusive) },
    { "lease", "DURATION", "3s", "--exclusive: how long a granted lease lasts", SEC_RING, 0,
      DURATION(lease_ms) },
    { "lease-drift-ppm", "N", "10000", "--exclusive: clock-rate error bound", SEC_RING, 0,
      COUNT(lease_drift_ppm, 1, RINGD_LEASE_DRIFT_PPM_MAX) },
    { "release-timeout", "DURATION", "10s", "--exclusive: app's time to release", SEC_RING, 0,
      DURATION(lease_release_timeout_ms) },
    { "handoff-wait", "DURATION", "5s", "--exclusive: proxy's wait for a lease", SEC_LOCAL, 0,
      DURATION(proxy_lease_wait_ms) },
    { "probe-interval", "DURATION", "300ms", "time between probes", SEC_SWIM, 0,
      DURATION(probe_interval_ms) },
    { "probe-timeout", "DURATION", "150ms", "ack wait before indirect probes", SEC_SWIM, 0,
      DURATION(probe_timeout_ms) },
    { "indirect-probes", "N", "3", "members asked to probe a silent one", SEC_SWIM, 0,
      COUNT(indirect_probes, 0, RINGD_INDIRECT_PROBES_MAX) },
    { "suspect-timeout", "MULT", "2", "multiplier: x interval x log10(members)", SEC_SWIM, 0,
      CUSTOM(set_suspect_timeout) },
    { "sync-interval", "DURATION", "30s", "full sync with a random member", SEC_SWIM, 0,
      DURATION(sync_interval_ms) },
    { "log-level", "LEVEL", "info", "debug, info, warn or error", SEC_LOG, 0,
      ENUM(log_level, log_levels) },
    { "log-format", "FORMAT", "text", "text or json", SEC_LOG, 0, ENUM(log_format, log_formats) },
};

#define OPT_COUNT (sizeof(opts) / sizeof(opts[0]))

/* ---- the kinds' parsers ---------------------------------------------------------------- */

/* Stores |v| in the integer field of |o|, at its width (checked against the bounds first). */
static void store_uint(const struct opt *o, struct ringd_config *c, uint64_t v)
{
    unsigned char *p = (unsigned char *)c + o->off;
    uint8_t u8 = (uint8_t)v;
    uint32_t u32 = (uint32_t)v;
    if (o->bytes == sizeof(u8)) {
        memcpy(p, &u8, sizeof(u8));
    } else if (o->bytes == sizeof(u32)) {
        memcpy(p, &u32, sizeof(u32));
    } else {
        RING_ASSERT(o->bytes == sizeof(v));
        memcpy(p, &v, sizeof(v));
    }
}

static int set_count(const char *v, uint64_t min, uint64_t max, uint32_t *out, struct errbuf *e)
{
    uint64_t n;
    int rv = parse_uint(v, strlen(v), UINT32_MAX, &n);
    if (rv == -ERANGE) {
        return bad(e, "%s is out of range (expected %llu to %llu)", v, (unsigned long long)min,
                   (unsigned long long)max);
    }
    if (rv != 0) {
        return bad(e, "invalid number \"%s\" (expected an integer from %llu to %llu)", v,
                   (unsigned long long)min, (unsigned long long)max);
    }
    if (n < min || n > max) {
        return bad(e, "%llu is out of range (expected %llu to %llu)", (unsigned long long)n,
                   (unsigned long long)min, (unsigned long long)max);
    }
    *out = (uint32_t)n;
    return 0;
}

static int kind_count(const struct opt *o, const char *v, struct ringd_config *c, struct errbuf *e)
{
    uint32_t n = 0;
    int rv = set_count(v, o->min, o->max, &n, e);
    if (rv == 0) {
        store_uint(o, c, n);
    }
    return rv;
}

static int kind_duration(const struct opt *o, const char *v, struct ringd_config *c,
                         struct errbuf *e)
{
    uint32_t ms = 0;
    uint64_t zero = 1;
    /* "0", and a zero with a unit ("0s") as Go's and systemd's durations accept it. */
    if ((o->flags & ZERO_OFF) != 0 &&
        (strcmp(v, "0") == 0 || (parse_duration(v, &zero) == 0 && zero == 0))) {
        store_uint(o, c, 0);
        return 0;
    }
    int rv = ringd_duration_parse(v, &ms);
    if (rv == -EINVAL) {
        return bad(e, "invalid duration \"%s\" (expected e.g. 500ms, 2s, 1m)", v);
    }
    if (rv != 0) {
        return bad(e, "duration \"%s\" is out of range (expected 1ms to 24h)", v);
    }
    store_uint(o, c, ms);
    return 0;
}

/* Bytes, or digits (at most UINT32_MAX) and one of K, M, G. Returns 0 or -EINVAL. */
static int parse_size(const char *v, uint64_t *out)
{
    static const struct {
        char suffix;
        uint64_t mult;
    } units[] = { { 'K', 1ull << 10 }, { 'M', 1ull << 20 }, { 'G', 1ull << 30 } };
    size_t digits = strspn(v, "0123456789");
    uint64_t n = 0, mult = 1;
    int ok = digits > 0 && parse_uint(v, digits, UINT32_MAX, &n) == 0;
    if (ok && v[digits] != '\0') {
        ok = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (v[digits] == units[i].suffix && v[digits + 1] == '\0') {
                mult = units[i].mult;
                ok = 1;
            }
        }
    }
    *out = n * mult;
    return ok ? 0 : -EINVAL;
}

static int kind_size(const struct opt *o, const char *v, struct ringd_config *c, struct errbuf *e)
{
    uint64_t n = 0;
    int ok = parse_size(v, &n) == 0;
    if (!ok && (o->flags & SIZE_ZERO_NONE) != 0) {
        return bad(e, "invalid size \"%s\" (expected bytes, or e.g. 512K, 100M, 2G; 0: no limit)",
                   v);
    }
    if (!ok || n > o->max) {
        return bad(e, "invalid size \"%s\" (expected bytes, or e.g. 64K, 1M; at most %llu)", v,
                   (unsigned long long)o->max);
    }
    if (n < o->min) {
        return bad(e, "size \"%s\" is too small (at least %lluK)", v,
                   (unsigned long long)(o->min >> 10));
    }
    store_uint(o, c, n);
    return 0;
}

/* One of |names| (NULL-terminated): its index in |*out|; |expected| for the message. */
static int pick_name(const char *v, const char *const *names, const char *expected, uint8_t *out,
                     struct errbuf *e)
{
    for (uint8_t i = 0; names[i] != NULL; i++) {
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return bad(e, "invalid value \"%s\" (expected %s)", v, expected);
}

/* A switch: given alone it means "true"; its variable (or --flag=VALUE) says true/false. */
static int kind_switch(const struct opt *o, const char *v, struct ringd_config *c, struct errbuf *e)
{
    static const char *const names[] = { "false", "true", "0", "1", "no", "yes", NULL };
    uint8_t k = 0;
    int rv = pick_name(v, names, "true or false", &k, e);
    if (rv == 0) {
        store_uint(o, c, k % 2);
    }
    return rv;
}

/* The names as a person reads them: "a, b or c". */
static void names_text(const char *const *names, char *buf, size_t len)
{
    size_t n = 0;
    while (names[n] != NULL) {
        n++;
    }
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && at < len; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = snprintf(buf + at, len - at, "%s%s", sep, names[i]);
        at += w > 0 ? (size_t)w : 0;
    }
}

static int kind_enum(const struct opt *o, const char *v, struct ringd_config *c, struct errbuf *e)
{
    char expected[128];
    names_text(o->names, expected, sizeof(expected));
    uint8_t k = 0;
    int rv = pick_name(v, o->names, expected, &k, e);
    if (rv == 0) {
        store_uint(o, c, k);
    }
    return rv;
}

static int kind_addr(const struct opt *o, const char *v, struct ringd_config *c, struct errbuf *e)
{
    struct ringd_hostport *hp = (struct ringd_hostport *)((unsigned char *)c + o->off);
    if ((o->flags & ADDR_EMPTY_OFF) != 0) {
        memset(hp, 0, sizeof(*hp));
        if (v[0] == '\0') {
            return 0;
        }
    }
    int rv =
        set_hostport(v, (o->flags & ADDR_NUMERIC) != 0, (o->flags & ADDR_PORT_OPT) != 0, hp, e);
    if (rv == 0 && (o->flags & ADDR_REACHABLE) != 0 && is_unspecified(hp)) {
        rv = bad(e, "\"%s\" is not an address peers can reach", v);
    }
    return rv;
}

static int kind_string(const struct opt *o, const char *v, struct ringd_config *c, struct errbuf *e)
{
    size_t len = strlen(v);
    size_t max = o->bytes - 1;
    if (len < o->min) {
        return bad(e, "must not be empty");
    }
    if (len > max) {
        return bad(e, "too long (%zu bytes, at most %zu)", len, max);
    }
    memcpy((unsigned char *)c + o->off, v, len + 1);
    return 0;
}

/* A string, then the wire's rule (the flags accept exactly what gossip carries); its length
 * goes in the size_t at |len_off| (0 when refused). */
static int kind_text(const struct opt *o, const char *v, struct ringd_config *c, struct errbuf *e)
{
    int rv = kind_string(o, v, c, e);
    if (rv == 0) {
        rv = check_text(o->text, v, o->name, e);
    }
    size_t len = rv == 0 ? strlen(v) : 0;
    memcpy((unsigned char *)c + o->len_off, &len, sizeof(len));
    return rv;
}

/* Parses |v| as |o|'s kind into its field. */
static int set_value(const struct opt *o, const char *v, struct ringd_config *c, struct errbuf *e)
{
    switch (o->kind) {
    case KIND_DURATION:
        return kind_duration(o, v, c, e);
    case KIND_COUNT:
        return kind_count(o, v, c, e);
    case KIND_SIZE:
        return kind_size(o, v, c, e);
    case KIND_SWITCH:
        return kind_switch(o, v, c, e);
    case KIND_ENUM:
        return kind_enum(o, v, c, e);
    case KIND_ADDR:
        return kind_addr(o, v, c, e);
    case KIND_STRING:
        return kind_string(o, v, c, e);
    case KIND_TEXT:
        return kind_text(o, v, c, e);
    case KIND_CUSTOM:
        break;
    }
    RING_ASSERT(o->kind == KIND_CUSTOM && o->set != NULL);
    return o->set(v, c, e);
}

static void env_name(const struct opt *o, char *buf, size_t len)
{
    int n = snprintf(buf, len, "RINGD_%s", o->name);
    for (int i = 6; i < n && (size_t)i < len; i++) {
        buf[i] = buf[i] == '-' ? '_' : (char)toupper((unsigned char)buf[i]);
    }
}

/* The value of |name| in |envp|, or NULL when unset or empty. */
static const char *env_get(char **envp, const char *name)
{
    size_t len = strlen(name);
    const char *found = NULL;
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=') {
            found = envp[i] + len + 1;
        }
    }
    return found != NULL && found[0] != '\0' ? found : NULL;
}

static const struct opt *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < OPT_COUNT; i++) {
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0) {
            return &opts[i];
        }
    }
    return NULL;
}

/* The row of a flag this file names itself (defaults, derived values): it exists. */
static const struct opt *opt_named(const char *name)
{
    const struct opt *o = find_opt(name, strlen(name));
    RING_ASSERT(o != NULL);
    return o;
}

/* ---- argv ------------------------------------------------------------------------------ */

/* The flag at argv[*i]: its option and value; advances *i past it. Returns 0, 1 for --help
 * or --version (|c|'s show_* set), or -EINVAL. */
static int next_flag(int argc, char **argv, int *i, const struct opt **o, const char **value,
                     struct ringd_config *c, struct errbuf *e)
{
    const char *a = argv[(*i)++];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
        c->show_help = 1;
        return 1;
    }
    if (strcmp(a, "--version") == 0) {
        c->show_version = 1;
        return 1;
    }
    e->source = "ringd";
    if (strncmp(a, "--", 2) != 0) {
        return bad(e, "unexpected argument \"%s\" (see ringd --help)", a);
    }
    const char *eq = strchr(a, '=');
    size_t len = eq != NULL ? (size_t)(eq - a - 2) : strlen(a + 2);
    *o = find_opt(a + 2, len);
    if (*o == NULL) {
        return bad(e, "unknown flag %.*s (see ringd --help)", (int)(len + 2), a);
    }
    e->source = a;
    if ((*o)->metavar == NULL) {
        *value = eq != NULL ? eq + 1 : "true";
        return 0;
    }
    if (eq == NULL && *i >= argc) {
        return bad(e, "missing value");
    }
    *value = eq != NULL ? eq + 1 : argv[(*i)++];
    return 0;
}

/* Checks every flag's syntax; stops early for --help or --version. */
static int scan_flags(int argc, char **argv, struct ringd_config *c, struct errbuf *e)
{
    for (int i = 1; i < argc;) {
        const struct opt *o = NULL;
        const char *value = NULL;
        int rv = next_flag(argc, argv, &i, &o, &value, c, e);
        if (rv != 0) {
            return rv;
        }
        if (strlen(value) > RINGD_VALUE_BYTES_MAX) {
            return bad(e, "value too long (at most %d bytes)", RINGD_VALUE_BYTES_MAX);
        }
    }
    return 0;
}

/* Applies every occurrence of |o| in argv, in order: a later value replaces an earlier one,
 * or adds to the list of a repeatable flag. Returns how many, or -EINVAL. */
static int apply_flags(const struct opt *o, int argc, char **argv, struct ringd_config *c,
                       struct errbuf *e)
{
    int seen = 0;
    char source[ENV_NAME_BYTES_MAX + 3];
    snprintf(source, sizeof(source), "--%s", o->name);
    for (int i = 1; i < argc;) {
        const struct opt *found = NULL;
        const char *value = NULL;
        next_flag(argc, argv, &i, &found, &value, c, e);
        if (found != o) {
            continue;
        }
        e->source = source;
        int rv = set_value(o, value, c, e);
        if (rv != 0) {
            return rv;
        }
        seen++;
    }
    return seen;
}

static int apply_option(const struct opt *o, int argc, char **argv, char **envp,
                        struct ringd_config *c, struct errbuf *e, int *explicit)
{
    int seen = apply_flags(o, argc, argv, c, e);
    if (seen < 0) {
        return seen;
    }
    char name[ENV_NAME_BYTES_MAX];
    env_name(o, name, sizeof(name));
    const char *value = env_get(envp, name);
    *explicit = seen > 0 || value != NULL;
    if (seen > 0 || value == NULL) {
        return 0;
    }
    e->source = name;
    return set_value(o, value, c, e);
}

/* ---- defaults and derived values ------------------------------------------------------- */

static void set_defaults(struct ringd_config *c)
{
    struct errbuf none = { NULL, 0, "" };
    memset(c, 0, sizeof(*c));
    set_value(opt_named("bind"), DEFAULT_BIND, c, &none);
    set_value(opt_named("admin"), DEFAULT_ADMIN, c, &none);
    set_value(opt_named("socket"), DEFAULT_SOCKET, c, &none);
    set_value(opt_named("key-header"), DEFAULT_KEY_HEADER, c, &none);
    c->vnodes = HASHRING_VNODES_DEFAULT;
    c->weight = 1;
    c->weight_max = SWIM_WEIGHT_MAX_DEFAULT;
    c->probe_interval_ms = 300;
    c->probe_timeout_ms = 150;
    c->indirect_probes = 3;
    c->suspect_mult = 2;
    c->sync_interval_ms = 30000;
    c->replay_window_ms = 30000;
    c->proxy_connect_timeout_ms = 1000;
    c->proxy_timeout_ms = 30000;
    c->proxy_idle_timeout_ms = 60000;
    c->proxy_retries = 5;
    c->proxy_max_app_conns = 1024;
    c->proxy_max_pending = 1024;
    c->header_timeout_ms = 10000;
    c->send_timeout_ms = 30000;
    c->api_idle_timeout_ms = 300000;
    c->api_output_max_bytes = 256u << 10;
    c->lease_ms = 3000;
    c->lease_drift_ppm = 10000;
    c->lease_release_timeout_ms = 10000;
    c->proxy_lease_wait_ms = 5000;
    c->drain_timeout_ms = 20000;
    c->app_health_interval_ms = 2000;
    c->app_health_timeout_ms = 1000;
    c->app_health_threshold = 3;
    c->app_health_holddown_ms = 30000;
    c->log_level = RINGD_LOG_INFO;
    c->log_format = RINGD_LOG_TEXT;
}

static int derive_advertise(struct ringd_config *c, int explicit, char **envp, struct errbuf *e)
{
    if (explicit) {
        c->advertise.port = c->advertise.port != 0 ? c->advertise.port : c->bind.port;
        return 0;
    }
    const char *pod_ip = env_get(envp, "POD_IP");
    if (pod_ip != NULL) {
        e->source = "$POD_IP";
        int rv = set_value(opt_named("advertise"), pod_ip, c, e);
        if (rv == 0 && c->advertise.port != 0) {
            return bad(e, "\"%s\" must be an address without a port", pod_ip);
        }
        c->advertise.port = c->bind.port;
        return rv;
    }
    if (!is_unspecified(&c->bind)) {
        c->advertise = c->bind;
        return 0;
    }
    e->source = "--advertise";
    return bad(e,
               "not set, and neither $POD_IP nor --bind %s gives an address peers can reach "
               "(set e.g. --advertise 10.0.0.5)",
               c->bind.host);
}

static int derive_id(struct ringd_config *c, int explicit, char **envp, struct errbuf *e)
{
    if (explicit) {
        return 0;
    }
    const char *pod_name = env_get(envp, "POD_NAME");
    if (pod_name != NULL) {
        e->source = "$POD_NAME";
        return set_value(opt_named("id"), pod_name, c, e);
    }
    char text[RINGD_HOST_BYTES_MAX + 10];
    format_hostport(&c->advertise, text, sizeof(text));
    e->source = "--id";
    return set_value(opt_named("id"), text, c, e);
}

static int check_together(const struct ringd_config *c, struct errbuf *e)
{
    if (c->probe_timeout_ms >= c->probe_interval_ms) {
        e->source = "--probe-timeout";
        return bad(e, "%ums must be shorter than --probe-interval (%ums)", c->probe_timeout_ms,
                   c->probe_interval_ms);
    }
    if (c->weight > c->weight_max) {
        e->source = "--weight";
        return bad(e, "%u is above --weight-max (%u)", c->weight, c->weight_max);
    }
    if ((c->proxy.host[0] == '\0') != (c->app.host[0] == '\0')) {
        e->source = c->proxy.host[0] == '\0' ? "--app" : "--proxy";
        return bad(e, "--proxy and --app go together: the proxy passes owned requests to the app");
    }
    if (c->insecure && c->keyfile[0] != '\0') {
        e->source = "--insecure";
        return bad(e, "contradicts --keyfile: give one or the other");
    }
    if ((c->gossip_accept_plaintext || c->gossip_send_plaintext) && c->keyfile[0] == '\0') {
        e->source =
            c->gossip_send_plaintext ? "--gossip-send-plaintext" : "--gossip-accept-plaintext";
        return bad(e, "needs --keyfile: it eases a plaintext cluster onto keys");
    }
    if (c->exclusive && c->shards == 0) {
        e->source = "--exclusive";
        return bad(e, "needs --shards S: leases are held per logical shard");
    }
    if (c->exclusive && c->group_len > 0) {
        e->source = "--exclusive";
        return bad(e, "does not work with --group yet: leases are voted on by one membership");
    }
    if (c->exclusive && c->lease_ms < RINGD_LEASE_MS_MIN) {
        e->source = "--lease";
        return bad(e, "%ums is too short (at least 100ms: a lease must outlast a round trip)",
                   c->lease_ms);
    }
    if (c->exclusive && c->lease_ms > CODEC_LEASE_MS_MAX) {
        e->source = "--lease";
        return bad(e, "%ums is too long (at most 10m: the lease's wire field bounds it)",
                   c->lease_ms);
    }
    if (c->restart_hold_ms > RINGD_RESTART_HOLD_MS_MAX) {
        e->source = "--delayed-rebalance";
        return bad(e,
                   "%ums is too long (at most 10m: keys wait this long for a node that may "
                   "not come back)",
                   c->restart_hold_ms);
    }
    if (c->app_health_path[0] != '\0' && c->app.host[0] == '\0') {
        e->source = "--app-health";
        return bad(e, "needs --app: the health check is a GET on the app");
    }
    return 0;
}

static int parse(struct ringd_config *c, int argc, char **argv, char **envp, struct errbuf *e)
{
    int rv = scan_flags(argc, argv, c, e);
    if (rv != 0) {
        return rv < 0 ? rv : 0;
    }
    int explicit_id = 0;
    int explicit_advertise = 0;
    for (size_t k = 0; k < OPT_COUNT && rv == 0; k++) {
        int explicit = 0;
        rv = apply_option(&opts[k], argc, argv, envp, c, e, &explicit);
        explicit_id |= &opts[k] == opt_named("id") && explicit;
        explicit_advertise |= &opts[k] == opt_named("advertise") && explicit;
    }
    if (rv == 0) {
        rv = derive_advertise(c, explicit_advertise, envp, e);
    }
    if (rv == 0) {
        rv = derive_id(c, explicit_id, envp, e);
    }
    /* One check at a time: a check gets at most the interval. */
    if (c->app_health_timeout_ms > c->app_health_interval_ms) {
        c->app_health_timeout_ms = c->app_health_interval_ms;
    }
    return rv == 0 ? check_together(c, e) : rv;
}

int ringd_config_require_key(const struct ringd_config *c, char *err, size_t errlen)
{
    if (c->keyfile[0] != '\0' || c->insecure) {
        return 0;
    }
    snprintf(err, errlen,
             "ringd: no cluster key: gossip is authenticated by default. Give --keyfile PATH "
             "(make one with `ringctl keygen -o PATH`), or --insecure to gossip in plaintext");
    return -EINVAL;
}

int ringd_config_parse(struct ringd_config *out, int argc, char **argv, char **envp, char *err,
                       size_t errlen)
{
    struct errbuf e = { err, errlen, "ringd" };
    if (errlen > 0) {
        err[0] = '\0';
    }
    set_defaults(out);
    int rv = parse(out, argc, argv, envp, &e);
    if (rv != 0) {
        set_defaults(out);
    }
    return rv;
}

/* ---- --help ---------------------------------------------------------------------------- */

#define USAGE_FLAG_COLUMNS 26
#define USAGE_ENV_COLUMNS  21

static void usage_option(FILE *f, const struct opt *o)
{
    char flag[64];
    char env[ENV_NAME_BYTES_MAX];
    snprintf(flag, sizeof(flag), "--%s %s", o->name, o->metavar != NULL ? o->metavar : "");
    env_name(o, env, sizeof(env));
    fprintf(f, "  %-*s %-*s %s", USAGE_FLAG_COLUMNS, flag, USAGE_ENV_COLUMNS, env, o->help);
    if (o->repeats) {
        fputs(" (repeatable)", f);
    }
    if (o->def != NULL) {
        fprintf(f, " [%s]", o->def);
    }
    fputc('\n', f);
}

void ringd_config_usage(FILE *f)
{
    fputs("Usage: ringd [FLAG VALUE | --FLAG=VALUE]...\n"
          "\n"
          "ringd runs beside an application: it gossips with the other ringd's (SWIM),\n"
          "keeps a consistent-hash ring of the live members, answers lookups on a unix\n"
          "socket and can forward HTTP requests to the owner of their key.\n"
          "\n"
          "Every flag also reads the environment variable shown; a flag overrides it.\n"
          "Defaults are in [brackets]. Durations: 500ms, 2s, 1m, 1h.\n",
          f);
    for (int s = 0; s < SEC_COUNT; s++) {
        fprintf(f, "\n%s:\n", section_titles[s]);
        for (size_t k = 0; k < OPT_COUNT; k++) {
            if (opts[k].section == s) {
                usage_option(f, &opts[k]);
            }
        }
    }
    fprintf(f, "\nOther:\n  %-*s %-*s %s\n  %-*s %-*s %s\n", USAGE_FLAG_COLUMNS, "-h, --help",
            USAGE_ENV_COLUMNS, "", "print this help and exit", USAGE_FLAG_COLUMNS, "--version",
            USAGE_ENV_COLUMNS, "", "print the version and commit and exit");
    fputs("\nExit status: 0 on success, 2 for a bad flag or value, 1 for other errors.\n", f);
}
