/* Unit tests for ringd's output escaping (escape.h): JSON strings, text for people,
 * Prometheus label values, and the log lines built on them. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "escape.h"
#include "jsoncheck.h"
#include "log.h"
#include "testmem.h"

#define OUT_BYTES_MAX (1u << 20)

/* escape_json() of |len| bytes of |s|, as a NUL-terminated string in a static buffer. */
static const char *json(const char *s, size_t len)
{
    static char out[OUT_BYTES_MAX];
    struct sbuf b;
    sbuf_init(&b, OUT_BYTES_MAX - 1);
    escape_json(&b, s, len);
    cr_assert(eq(int, b.failed, 0));
    memcpy(out, b.data, b.len + 1);
    sbuf_free(&b);
    return out;
}

static const char *text(const char *s, size_t len)
{
    static char out[OUT_BYTES_MAX];
    struct sbuf b;
    sbuf_init(&b, OUT_BYTES_MAX - 1);
    escape_text(&b, s, len);
    snprintf(out, sizeof(out), "%s", b.data != NULL ? b.data : "");
    sbuf_free(&b);
    return out;
}

static const char *prom(const char *s, size_t len)
{
    static char out[OUT_BYTES_MAX];
    struct sbuf b;
    sbuf_init(&b, OUT_BYTES_MAX - 1);
    escape_prom_label(&b, s, len);
    snprintf(out, sizeof(out), "%s", b.data != NULL ? b.data : "");
    sbuf_free(&b);
    return out;
}

static void assert_valid_json(const char *s)
{
    cr_assert(jsoncheck_valid(s, strlen(s)), "not valid JSON: %s", s);
}

Test(ringd_escape, json_escapes_every_control_character_as_u00xx)
{
    for (unsigned c = 0; c < 0x20; c++) {
        char in[3] = { 'a', (char)c, 'b' };
        char want[16];
        snprintf(want, sizeof(want), "\"a\\u%04xb\"", c);
        cr_assert(eq(str, (char *)json(in, 3), want), "byte 0x%02x", c);
    }
    cr_assert(eq(str, (char *)json("\x7f", 1), "\"\\u007f\""));
    for (unsigned c = 0x80; c < 0xa0; c++) { /* C1 controls, encoded as UTF-8 */
        char in[2] = { (char)0xc2, (char)c };
        char want[16];
        snprintf(want, sizeof(want), "\"\\u%04x\"", c);
        cr_assert(eq(str, (char *)json(in, 2), want), "U+%04X", c);
    }
    cr_assert(eq(str, (char *)json("q\"b\\s/", 6), "\"q\\\"b\\\\s/\""));
    cr_assert(eq(str, (char *)json("\xe2\x80\xa8\xe2\x80\xa9", 6), "\"\\u2028\\u2029\""));
    cr_assert(eq(str, (char *)json("", 0), "\"\""));
    cr_assert(eq(str, (char *)json("\x1b[2J", 4), "\"\\u001b[2J\""));
}

Test(ringd_escape, json_passes_valid_multibyte_through)
{
    static const char *const valid[] = {
        "caf\xc3\xa9",      /* U+00E9 */
        "\xc2\xa0",         /* U+00A0, the first after C1 */
        "\xe2\x82\xac",     /* U+20AC */
        "\xed\x9f\xbf",     /* U+D7FF, just below the surrogates */
        "\xee\x80\x80",     /* U+E000, just above them */
        "\xef\xbf\xbd",     /* U+FFFD itself */
        "\xf0\x9f\x98\x80", /* U+1F600 */
        "\xf4\x8f\xbf\xbf", /* U+10FFFF, the last */
        "\xe2\x80\xae",     /* U+202E: JSON need not escape it (escape_text() does) */
        "mixed \xce\xb1\xce\xb2\xce\xb3 ascii",
    };
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        char want[64];
        snprintf(want, sizeof(want), "\"%s\"", valid[i]);
        cr_assert(eq(str, (char *)json(valid[i], strlen(valid[i])), want), "case %zu", i);
    }
}

Test(ringd_escape, json_replaces_every_invalid_utf8_byte)
{
    static const struct {
        const char *what;
        const char *in;
        const char *want;
    } cases[] = {
        { "lone continuation", "\x80", "\"\\ufffd\"" },
        { "continuation run",
          "a\xbf\xbf"
          "b",
          "\"a\\ufffd\\ufffdb\"" },
        { "overlong 2-byte '/'", "\xc0\xaf", "\"\\ufffd\\ufffd\"" },
        { "overlong 2-byte C1 lead", "\xc1\xbf", "\"\\ufffd\\ufffd\"" },
        { "overlong 3-byte", "\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"" },
        { "overlong 3-byte U+07FF", "\xe0\x9f\xbf", "\"\\ufffd\\ufffd\\ufffd\"" },
        { "overlong 4-byte", "\xf0\x80\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
        { "overlong 4-byte U+FFFF", "\xf0\x8f\xbf\xbf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
        { "high surrogate", "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },
        { "low surrogate", "\xed\xbf\xbf", "\"\\ufffd\\ufffd\\ufffd\"" },
        { "surrogate pair in CESU-8", "\xed\xa0\xbd\xed\xb8\x80",
          "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"" },
        { "above U+10FFFF", "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
        { "F5 lead", "\xf5\x80\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
        { "FE", "\xfe", "\"\\ufffd\"" },
        { "FF FE", "\xff\xfe", "\"\\ufffd\\ufffd\"" },
        { "truncated 2-byte at the end", "a\xc3", "\"a\\ufffd\"" },
        { "truncated 3-byte at the end", "\xe2\x82", "\"\\ufffd\\ufffd\"" },
        { "truncated 4-byte at the end", "\xf0\x9f\x98", "\"\\ufffd\\ufffd\\ufffd\"" },
        { "truncated 3-byte then ASCII",
          "\xe2\x82"
          "A",
          "\"\\ufffd\\ufffdA\"" },
        { "truncated then valid", "\xc3\xc3\xa9", "\"\\ufffd\xc3\xa9\"" },
        { "ESC [ then invalid", "\x1b[2J\xff", "\"\\u001b[2J\\ufffd\"" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = json(cases[i].in, strlen(cases[i].in));
        cr_assert(eq(str, (char *)got, (char *)cases[i].want), "%s", cases[i].what);
        assert_valid_json(got);
    }
    char nul[3] = { 'a', '\0', 'b' };
    cr_assert(eq(str, (char *)json(nul, 3), "\"a\\u0000b\""));
}

Test(ringd_escape, json_is_valid_for_any_bytes)
{
    char one[1];
    for (int c = 0; c < 256; c++) {
        one[0] = (char)c;
        assert_valid_json(json(one, 1));
    }
    static char in[4096];
    uint64_t seed = 7;
    for (int round = 0; round < 500; round++) {
        size_t len = test_rand(&seed) % sizeof(in);
        for (size_t i = 0; i < len; i++) {
            /* Bias toward the interesting bytes: controls, quotes, leads and continuations. */
            static const unsigned char picks[] = { 0x00, 0x1b, '"',  '\\', 0x7f, 0x80, 0xbf,
                                                   0xc0, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xff };
            uint64_t r = test_rand(&seed);
            in[i] = (char)(r % 2 ? picks[(r >> 8) % sizeof(picks)] : (unsigned char)(r >> 16));
        }
        const char *got = json(in, len);
        assert_valid_json(got);
        cr_assert(eq(ptr, (void *)strchr(got, 0x1b), NULL));
    }
}

Test(ringd_escape, utf8_next_reads_one_character)
{
    uint32_t cp;
    cr_assert(eq(sz, escape_utf8_next("A", 1, &cp), 1));
    cr_assert(eq(u32, cp, 'A'));
    cr_assert(eq(sz, escape_utf8_next("\xc3\xa9x", 3, &cp), 2));
    cr_assert(eq(u32, cp, 0xe9));
    cr_assert(eq(sz, escape_utf8_next("\xe2\x82\xac", 3, &cp), 3));
    cr_assert(eq(u32, cp, 0x20ac));
    cr_assert(eq(sz, escape_utf8_next("\xf4\x8f\xbf\xbf", 4, &cp), 4));
    cr_assert(eq(u32, cp, 0x10ffff));
    cr_assert(eq(sz, escape_utf8_next("\xe2\x82\xac", 2, &cp), 0), "cut by |len|");
    cr_assert(eq(u32, cp, 0xe2));
    cr_assert(eq(sz, escape_utf8_next("\xed\xa0\x80", 3, &cp), 0));
}

Test(ringd_escape, text_shows_control_bidi_and_invalid_bytes_as_hex)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        { "node-1", "node-1" },
        { "\x1b[2J", "\\x1b[2J" },
        { "\x1b]0;title\x07", "\\x1b]0;title\\x07" },
        { "a\tb\r\n", "a\\x09b\\x0d\\x0a" },
        { "del\x7f", "del\\x7f" },
        { "back\\slash", "back\\slash" },
        { "csi\xc2\x9b"
          "31m",
          "csi\\xc2\\x9b31m" },
        { "rlo\xe2\x80\xae"
          "txt",
          "rlo\\xe2\\x80\\xaetxt" },
        { "lri\xe2\x81\xa6", "lri\\xe2\\x81\\xa6" },
        { "bad\xff\xfe", "bad\\xff\\xfe" },
        { "cut\xe2\x82", "cut\\xe2\\x82" },
        { "caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac" },
        { "with space", "with space" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert(eq(str, (char *)text(cases[i].in, strlen(cases[i].in)), (char *)cases[i].want),
                  "case %zu", i);
    }
    char nul[2] = { '\0', 'x' };
    cr_assert(eq(str, (char *)text(nul, 2), "\\x00x"));
}

Test(ringd_escape, text_buf_cuts_between_whole_pieces)
{
    char buf[8];
    cr_assert(eq(str, (char *)escape_text_buf(buf, sizeof(buf), "abcdefghij", 10), "abcdefg"));
    cr_assert(eq(str, (char *)escape_text_buf(buf, sizeof(buf), "ab\x1b\x1b", 4), "ab\\x1b"));
    cr_assert(
        eq(str, (char *)escape_text_buf(buf, sizeof(buf), "abcde\xc3\xa9", 7), "abcde\xc3\xa9"));
    cr_assert(eq(str, (char *)escape_text_buf(buf, sizeof(buf), "abcdef\xc3\xa9", 8), "abcdef"));
    cr_assert(eq(str, (char *)escape_text_buf(buf, sizeof(buf), "abcdef\\", 7), "abcdef\\"));
    cr_assert(eq(str, (char *)escape_text_buf(buf, sizeof(buf), "abcde\\x", 7), "abcde\\x"));
    cr_assert(eq(str, (char *)escape_text_buf(buf, sizeof(buf), "", 0), ""));
    cr_assert(eq(str, (char *)escape_text_buf(buf, 1, "abc", 3), ""));
}

Test(ringd_escape, prom_label_follows_the_exposition_format)
{
    cr_assert(eq(str, (char *)prom("alive", 5), "alive"));
    cr_assert(eq(str, (char *)prom("a\"b\\c\nd", 7), "a\\\"b\\\\c\\nd"));
    cr_assert(eq(str, (char *)prom("\x1b[2J", 4), "\xef\xbf\xbd[2J"));
    cr_assert(eq(str, (char *)prom("x\xff", 2), "x\xef\xbf\xbd"));
    cr_assert(eq(str, (char *)prom("caf\xc3\xa9", 5), "caf\xc3\xa9"));
}

Test(ringd_escape, log_lines_escape_hostile_values_in_both_formats)
{
    char line[512];
    const char *kv[] = { "id", "n\x1b[2J", "key", "\xff\xfe", "ok", "plain" };
    ringd_log_format(line, sizeof(line), RINGD_LOG_TEXT, 0, 1, "e", kv, 6);
    cr_assert(eq(str, line,
                 "ts=1970-01-01T00:00:00.000Z level=info msg=e id=\"n\\u001b[2J\" "
                 "key=\"\\ufffd\\ufffd\" ok=plain\n"));
    size_t len = ringd_log_format(line, sizeof(line), RINGD_LOG_JSON, 0, 1, "e", kv, 6);
    cr_assert(jsoncheck_valid(line, len), "%s", line);
    cr_assert(eq(ptr, (void *)strchr(line, 0x1b), NULL));
    const char *utf8[] = { "city", "K\xc3\xb8"
                                   "benhavn" };
    ringd_log_format(line, sizeof(line), RINGD_LOG_TEXT, 0, 1, "e", utf8, 2);
    cr_assert(eq(str, line,
                 "ts=1970-01-01T00:00:00.000Z level=info msg=e city=\"K\xc3\xb8"
                 "benhavn\"\n"));
}

Test(ringd_escape, a_json_log_line_too_long_is_cut_in_its_values_and_stays_json)
{
    static char big[3000];
    for (size_t i = 0; i < sizeof(big) - 1; i++) {
        big[i] = i % 3 == 0 ? '\x1b' : i % 3 == 1 ? '\xe2' : 'x'; /* worst cases for escaping */
    }
    const char *kv[] = { "a", big, "b", "short", "c", big };
    for (size_t cap = 120; cap <= 4096; cap += 331) {
        char line[4096];
        size_t len = ringd_log_format(line, cap, RINGD_LOG_JSON, 0, 1, "event", kv, 6);
        cr_assert(le(sz, len, cap - 1));
        cr_assert(eq(chr, line[len - 1], '\n'));
        cr_assert(jsoncheck_valid(line, len - 1), "cap %zu: %s", cap, line);
        cr_assert(not(eq(ptr, strstr(line, "\"truncated\":true"), NULL)), "%s", line);
    }
    const char *small[] = { "a", "fits" };
    char line[256];
    ringd_log_format(line, sizeof(line), RINGD_LOG_JSON, 0, 1, "event", small, 2);
    cr_assert(eq(ptr, strstr(line, "truncated"), NULL));
}
