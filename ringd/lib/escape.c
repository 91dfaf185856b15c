/* escape: see escape.h. Each writer walks the input once, copying runs of bytes that need
 * nothing in one append, so the common case (an ASCII id) costs one memcpy. */
#include <string.h>

#include "escape.h"

/* U+FFFD REPLACEMENT CHARACTER in UTF-8. */
#define REPLACEMENT_UTF8 "\xef\xbf\xbd"

size_t escape_utf8_next(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char lo = 0x80, hi = 0xbf; /* the range of the second byte (RFC 3629 section 4) */
    size_t n;
    uint32_t v;
    *cp = p[0];
    if (p[0] < 0x80) {
        return 1;
    }
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        v = p[0] & 0x1fu;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        v = p[0] & 0x0fu;
        lo = p[0] == 0xe0 ? 0xa0 : lo; /* no overlong forms */
        hi = p[0] == 0xed ? 0x9f : hi; /* no surrogates */
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        v = p[0] & 0x07u;
        lo = p[0] == 0xf0 ? 0x90 : lo; /* no overlong forms */
        hi = p[0] == 0xf4 ? 0x8f : hi; /* nothing above U+10FFFF */
    } else {
        return 0; /* a continuation byte, C0/C1 (overlong), or F5..FF */
    }
    if (len < n) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if (p[i] < lo || p[i] > hi) {
            return 0;
        }
        lo = 0x80;
        hi = 0xbf;
        v = v << 6 | (p[i] & 0x3fu);
    }
    *cp = v;
    return n;
}

static int is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

static void add_hex4(struct sbuf *b, const char *prefix, uint32_t v)
{
    static const char hex[] = "0123456789abcdef";
    char e[6] = { prefix[0],        prefix[1],        hex[v >> 12 & 15],
                  hex[v >> 8 & 15], hex[v >> 4 & 15], hex[v & 15] };
    sbuf_add(b, e, sizeof(e));
}

void escape_json(struct sbuf *b, const char *s, size_t len)
{
    sbuf_add(b, "\"", 1);
    size_t run = 0, i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = escape_utf8_next(s + i, len - i, &cp);
        if (n != 0 && !is_control(cp) && cp != '"' && cp != '\\' && cp != 0x2028 && cp != 0x2029) {
            i += n;
            continue;
        }
        sbuf_add(b, s + run, i - run);
        if (n == 0) {
            sbuf_add(b, "\\ufffd", 6);
            n = 1;
        } else if (cp == '"' || cp == '\\') {
            char esc[2] = { '\\', (char)cp };
            sbuf_add(b, esc, 2);
        } else {
            add_hex4(b, "\\u", cp);
        }
        i += n;
        run = i;
    }
    sbuf_add(b, s + run, len - run);
    sbuf_add(b, "\"", 1);
}

/* Bidirectional formatting characters: they reorder what a terminal shows ("Trojan Source",
 * CVE-2021-42574), so a person must see them as bytes. */
static int is_bidi(uint32_t cp)
{
    return cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

void escape_text(struct sbuf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0, i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = escape_utf8_next(s + i, len - i, &cp);
        if (n != 0 && !is_control(cp) && !is_bidi(cp)) {
            i += n;
            continue;
        }
        sbuf_add(b, s + run, i - run);
        n = n == 0 ? 1 : n;
        for (size_t k = 0; k < n; k++) {
            unsigned char ch = (unsigned char)s[i + k];
            char e[4] = { '\\', 'x', hex[ch >> 4], hex[ch & 15] };
            sbuf_add(b, e, sizeof(e));
        }
        i += n;
        run = i;
    }
    sbuf_add(b, s + run, len - run);
}

const char *escape_text_buf(char *dst, size_t cap, const char *s, size_t len)
{
    struct sbuf b;
    sbuf_init(&b, 4 * len + 1); /* "\xNN" per byte at most */
    escape_text(&b, s, len);
    /* Cut between whole pieces: an escape ("\xNN") or one UTF-8 character. */
    size_t n = 0;
    while (b.data != NULL && n < b.len) {
        uint32_t cp;
        size_t piece = b.data[n] == '\\' && n + 4 <= b.len && b.data[n + 1] == 'x'
                           ? 4
                           : escape_utf8_next(b.data + n, b.len - n, &cp);
        if (piece == 0 || n + piece > cap - 1) {
            break;
        }
        n += piece;
    }
    memcpy(dst, b.data != NULL ? b.data : "", n);
    dst[n] = '\0';
    sbuf_free(&b);
    return dst;
}

void escape_prom_label(struct sbuf *b, const char *s, size_t len)
{
    size_t run = 0, i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = escape_utf8_next(s + i, len - i, &cp);
        if (n != 0 && !is_control(cp) && cp != '"' && cp != '\\') {
            i += n;
            continue;
        }
        sbuf_add(b, s + run, i - run);
        if (n != 0 && (cp == '"' || cp == '\\')) {
            char esc[2] = { '\\', (char)cp };
            sbuf_add(b, esc, 2);
        } else if (n != 0 && cp == '\n') {
            sbuf_add(b, "\\n", 2);
        } else {
            sbuf_add(b, REPLACEMENT_UTF8, 3);
        }
        i += n != 0 ? n : 1;
        run = i;
    }
    sbuf_add(b, s + run, len - run);
}
