/* jsoncheck: see jsoncheck.h. Recursive descent over a cursor; nesting is bounded. */
#include <string.h>

#include "jsoncheck.h"

#define DEPTH_MAX 64

struct cur {
    const unsigned char *p, *end;
};

static void ws(struct cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
        c->p++;
    }
}

static int lit(struct cur *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) {
        return 0;
    }
    c->p += n;
    return 1;
}

static int digits(struct cur *c)
{
    const unsigned char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        c->p++;
    }
    return c->p > start;
}

static int number(struct cur *c)
{
    if (c->p < c->end && *c->p == '-') {
        c->p++;
    }
    if (c->p < c->end && *c->p == '0') {
        c->p++;
    } else if (!digits(c)) {
        return 0;
    }
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!digits(c)) {
            return 0;
        }
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
            c->p++;
        }
        return digits(c);
    }
    return 1;
}

/* One UTF-8 character of 2..4 bytes at c->p (RFC 3629 table 3-7). */
static int utf8_char(struct cur *c)
{
    static const struct {
        unsigned char first_lo, first_hi, second_lo, second_hi;
        int len;
    } rows[] = {
        { 0xc2, 0xdf, 0x80, 0xbf, 2 }, { 0xe0, 0xe0, 0xa0, 0xbf, 3 }, { 0xe1, 0xec, 0x80, 0xbf, 3 },
        { 0xed, 0xed, 0x80, 0x9f, 3 }, { 0xee, 0xef, 0x80, 0xbf, 3 }, { 0xf0, 0xf0, 0x90, 0xbf, 4 },
        { 0xf1, 0xf3, 0x80, 0xbf, 4 }, { 0xf4, 0xf4, 0x80, 0x8f, 4 },
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        if (*c->p < rows[r].first_lo || *c->p > rows[r].first_hi) {
            continue;
        }
        if (c->end - c->p < rows[r].len || c->p[1] < rows[r].second_lo ||
            c->p[1] > rows[r].second_hi) {
            return 0;
        }
        for (int k = 2; k < rows[r].len; k++) {
            if (c->p[k] < 0x80 || c->p[k] > 0xbf) {
                return 0;
            }
        }
        c->p += rows[r].len;
        return 1;
    }
    return 0;
}

static int string(struct cur *c)
{
    c->p++; /* the opening quote */
    while (c->p < c->end) {
        unsigned char ch = *c->p;
        if (ch == '"') {
            c->p++;
            return 1;
        }
        if (ch < 0x20) {
            return 0;
        }
        if (ch >= 0x80) {
            if (!utf8_char(c)) {
                return 0;
            }
            continue;
        }
        c->p++;
        if (ch != '\\') {
            continue;
        }
        if (c->p >= c->end || strchr("\"\\/bfnrtu", *c->p) == NULL || *c->p == '\0') {
            return 0;
        }
        if (*c->p++ == 'u') {
            for (int k = 0; k < 4; k++, c->p++) {
                if (c->p >= c->end || strchr("0123456789abcdefABCDEF", *c->p) == NULL ||
                    *c->p == '\0') {
                    return 0;
                }
            }
        }
    }
    return 0;
}

static int value(struct cur *c, int depth);

static int members(struct cur *c, int depth, char close, int keyed)
{
    c->p++; /* the opening bracket */
    ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 1;
    }
    for (;;) {
        ws(c);
        if (keyed) {
            if (c->p >= c->end || *c->p != '"' || !string(c)) {
                return 0;
            }
            ws(c);
            if (c->p >= c->end || *c->p++ != ':') {
                return 0;
            }
        }
        if (!value(c, depth + 1)) {
            return 0;
        }
        ws(c);
        if (c->p >= c->end) {
            return 0;
        }
        if (*c->p == close) {
            c->p++;
            return 1;
        }
        if (*c->p++ != ',') {
            return 0;
        }
    }
}

static int value(struct cur *c, int depth)
{
    ws(c);
    if (c->p >= c->end || depth > DEPTH_MAX) {
        return 0;
    }
    switch (*c->p) {
    case '{':
        return members(c, depth, '}', 1);
    case '[':
        return members(c, depth, ']', 0);
    case '"':
        return string(c);
    case 't':
        return lit(c, "true");
    case 'f':
        return lit(c, "false");
    case 'n':
        return lit(c, "null");
    default:
        return number(c);
    }
}

int jsoncheck_valid(const char *s, size_t len)
{
    struct cur c = { (const unsigned char *)s, (const unsigned char *)s + len };
    if (!value(&c, 0)) {
        return 0;
    }
    ws(&c);
    return c.p == c.end;
}
