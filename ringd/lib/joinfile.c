/* joinfile: see joinfile.h. The JSON accepted is the subset a seed list needs: one array of
 * strings without escapes; anything else is an error that names the offset. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "joinfile.h"

#define SEED_TEXT_BYTES_MAX (RINGD_HOST_BYTES_MAX + 16)

struct cursor {
    const char *p;
    const char *end;
    const char *start;
};

static void skip_space(struct cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
        c->p++;
    }
}

static int syntax(const struct cursor *c, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "join file: %s at byte %zu", what, (size_t)(c->p - c->start));
    return -EINVAL;
}

static int add_seed(const char *s, size_t len, struct ringd_seed *seeds, size_t max, size_t *n,
                    char *err, size_t errlen)
{
    char item[SEED_TEXT_BYTES_MAX + 1];
    if (len == 0 || len > SEED_TEXT_BYTES_MAX) {
        snprintf(err, errlen, "join file: seed of %zu bytes", len);
        return -EINVAL;
    }
    if (*n == max) {
        snprintf(err, errlen, "join file: more than %zu seeds", max);
        return -E2BIG;
    }
    memcpy(item, s, len);
    item[len] = '\0';
    return ringd_seed_parse(item, &seeds[(*n)++], err, errlen);
}

static int parse_string(struct cursor *c, const char **s, size_t *len, char *err, size_t errlen)
{
    if (c->p == c->end || *c->p != '"') {
        return syntax(c, "expected a string", err, errlen);
    }
    const char *begin = ++c->p;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\' || (unsigned char)*c->p < 0x20) {
            return syntax(c, "escape or control byte in a seed", err, errlen);
        }
        c->p++;
    }
    if (c->p == c->end) {
        return syntax(c, "unterminated string", err, errlen);
    }
    *s = begin;
    *len = (size_t)(c->p++ - begin);
    return 0;
}

static int parse_json(struct cursor *c, struct ringd_seed *seeds, size_t max, size_t *n, char *err,
                      size_t errlen)
{
    c->p++; /* '[' */
    skip_space(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
    } else {
        for (;;) {
            const char *s;
            size_t len;
            skip_space(c);
            int rv = parse_string(c, &s, &len, err, errlen);
            if (rv == 0) {
                rv = add_seed(s, len, seeds, max, n, err, errlen);
            }
            if (rv != 0) {
                return rv;
            }
            skip_space(c);
            if (c->p < c->end && *c->p == ',') {
                c->p++;
                continue;
            }
            if (c->p < c->end && *c->p == ']') {
                c->p++;
                break;
            }
            return syntax(c, "expected ',' or ']'", err, errlen);
        }
    }
    skip_space(c);
    return c->p == c->end ? 0 : syntax(c, "trailing bytes", err, errlen);
}

static int parse_lines(struct cursor *c, struct ringd_seed *seeds, size_t max, size_t *n, char *err,
                       size_t errlen)
{
    while (c->p < c->end) {
        const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
        const char *eol = nl != NULL ? nl : c->end;
        const char *b = c->p;
        const char *e = eol;
        while (b < e && (*b == ' ' || *b == '\t')) {
            b++;
        }
        while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
            e--;
        }
        if (b < e && *b != '#') {
            int rv = add_seed(b, (size_t)(e - b), seeds, max, n, err, errlen);
            if (rv != 0) {
                return rv;
            }
        }
        c->p = nl != NULL ? nl + 1 : c->end;
    }
    return 0;
}

int ringd_join_file_parse(const char *text, size_t len, struct ringd_seed *seeds, size_t max,
                          size_t *n, char *err, size_t errlen)
{
    struct cursor c = { text, text + len, text };
    *n = 0;
    if (len > RINGD_JOIN_FILE_BYTES_MAX) {
        snprintf(err, errlen, "join file: larger than %u bytes", RINGD_JOIN_FILE_BYTES_MAX);
        return -E2BIG;
    }
    skip_space(&c);
    if (c.p < c.end && *c.p == '[') {
        return parse_json(&c, seeds, max, n, err, errlen);
    }
    return parse_lines(&c, seeds, max, n, err, errlen);
}
