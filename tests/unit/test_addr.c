/* Unit tests for the addr module. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "ring/addr.h"
#include "ring/error.h"
#include "testmem.h"

static struct ring_addr parse_ok(const char *text)
{
    struct ring_addr a;
    int rv = ring_addr_parse(text, strlen(text), &a);
    cr_assert(eq(int, rv, 0), "parse \"%s\": %s", text, ring_strerror(rv));
    return a;
}

Test(addr, parses_ipv4)
{
    struct ring_addr a = parse_ok("10.1.2.3:7946");
    const uint8_t want[16] = { 10, 1, 2, 3 };
    cr_assert(eq(u8, a.family, RING_ADDR_V4));
    cr_assert(eq(u16, a.port, 7946));
    cr_assert(eq(int, memcmp(a.ip, want, 16), 0));
}

Test(addr, parses_ipv6_and_port_bounds)
{
    struct ring_addr a = parse_ok("[2001:db8::1]:65535");
    const uint8_t want[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
    cr_assert(eq(u8, a.family, RING_ADDR_V6));
    cr_assert(eq(u16, a.port, 65535));
    cr_assert(eq(int, memcmp(a.ip, want, 16), 0));
    cr_assert(eq(u16, parse_ok("0.0.0.0:0").port, 0));
}

Test(addr, parse_uses_len_not_nul)
{
    struct ring_addr a;
    const char *text = "1.2.3.4:80trailing";
    cr_assert(eq(int, ring_addr_parse(text, 10, &a), 0));
    cr_assert(eq(u16, a.port, 80));
}

Test(addr, format_round_trips_canonical_text)
{
    const char *texts[] = { "1.2.3.4:80",
                            "255.255.255.255:65535",
                            "[::1]:7946",
                            "[::]:0",
                            "[2001:db8::ff00:42:8329]:1",
                            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
                            "[::ffff:1.2.3.4]:9" };
    for (size_t i = 0; i < RING_ARRAY_LEN(texts); i++) {
        struct ring_addr a = parse_ok(texts[i]);
        char buf[RING_ADDR_STRLEN];
        int n = ring_addr_format(&a, buf, sizeof(buf));
        cr_assert(eq(int, n, (int)strlen(texts[i])));
        ASSERT_STR_EQ(buf, texts[i]);
    }
}

Test(addr, format_canonicalizes_v6)
{
    struct ring_addr a = parse_ok("[2001:DB8:0:0:0:0:0:1]:5");
    char buf[RING_ADDR_STRLEN];
    cr_assert(eq(int, ring_addr_format(&a, buf, sizeof(buf)), 15));
    ASSERT_STR_EQ(buf, "[2001:db8::1]:5");
}

Test(addr, format_reports_small_buffer_and_bad_family)
{
    struct ring_addr a = parse_ok("1.2.3.4:80");
    char buf[RING_ADDR_STRLEN];
    cr_assert(eq(int, ring_addr_format(&a, buf, 10), RING_ENOBUFS));
    cr_assert(eq(int, ring_addr_format(&a, buf, 11), 10));
    struct ring_addr none = { 0 };
    cr_assert(eq(int, ring_addr_format(&none, buf, sizeof(buf)), RING_EINVAL));
}

Test(addr, malformed_inputs_are_einval)
{
    const char *bad[] = {
        "",
        "1.2.3.4",
        "1.2.3.4:",
        ":80",
        "1.2.3:80",
        "1.2.3.4.5:80",
        "256.1.1.1:80",
        "01.2.3.4:80",
        "1.2.3.4:65536",
        "1.2.3.4:123456",
        "1.2.3.4:-1",
        "1.2.3.4:+80",
        "1.2.3.4: 80",
        " 1.2.3.4:80",
        "1.2.3.4:8a",
        "localhost:80",
        "::1:80",
        "[::1]",
        "[::1]:",
        "[::1]80",
        "[::1:80",
        "[]:80",
        "[1.2.3.4]:80",
        "[fe80::1%eth0]:80",
        "[::1]:80:80",
        "[::1]]:80",
        "[:::1]:80",
        "1.2.3.4:80 ",
        "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1",
        "123456789012345678901234567890123456789012345678901234567890123:1",
    };
    for (size_t i = 0; i < RING_ARRAY_LEN(bad); i++) {
        struct ring_addr a = { .family = 99 };
        int rv = ring_addr_parse(bad[i], strlen(bad[i]), &a);
        cr_assert(eq(int, rv, RING_EINVAL), "\"%s\" parsed", bad[i]);
        cr_assert(eq(u8, a.family, 99), "\"%s\" wrote its output on failure", bad[i]);
    }
}

Test(addr, embedded_nul_is_einval)
{
    struct ring_addr a;
    cr_assert(eq(int, ring_addr_parse("1.2.3.4\0:80", 11, &a), RING_EINVAL));
    cr_assert(eq(int, ring_addr_parse("1.2.3.4:8\0", 10, &a), RING_EINVAL));
}

Test(addr, equal_compares_family_ip_and_port)
{
    struct ring_addr a = parse_ok("1.2.3.4:80");
    struct ring_addr b = parse_ok("1.2.3.4:80");
    cr_assert(eq(int, ring_addr_equal(&a, &b), 1));
    b.port = 81;
    cr_assert(eq(int, ring_addr_equal(&a, &b), 0));
    b = parse_ok("1.2.3.5:80");
    cr_assert(eq(int, ring_addr_equal(&a, &b), 0));
    b = parse_ok("[::ffff:1.2.3.4]:80");
    cr_assert(eq(int, ring_addr_equal(&a, &b), 0));
    struct ring_addr c = parse_ok("[::1]:80");
    struct ring_addr d = parse_ok("[::1]:80");
    cr_assert(eq(int, ring_addr_equal(&c, &d), 1));
}
