/* Unit tests for ringd's pure parts: the admin HTTP request reader, the join file, log lines,
 * text buffers, the huge-page allocator rings are built with. */
#include <criterion/criterion.h>
#include <errno.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "http.h"
#include "hugemem.h"
#include "joinfile.h"
#include "log.h"
#include "prom.h"
#include "sbuf.h"

static struct http_request req;

static int parse(const char *text)
{
    return http_parse_request(text, strlen(text), &req);
}

Test(ringd_http, reads_a_get_with_query_and_keep_alive)
{
    const char *text = "GET /v1/lookup?key=a%20b HTTP/1.1\r\nHost: x\r\n\r\nGET /next";
    int n = parse(text);
    cr_assert(eq(int, n, (int)(strstr(text, "GET /next") - text)));
    cr_assert(eq(str, req.method, "GET"));
    cr_assert(eq(str, req.path, "/v1/lookup"));
    cr_assert(eq(str, req.query, "key=a%20b"));
    cr_assert(eq(int, req.keep_alive, 1));
    char key[64];
    cr_assert(eq(int, http_query_param(req.query, "key", key, sizeof(key)), 3));
    cr_assert(eq(str, key, "a b"));
}

Test(ringd_http, reads_a_head_request)
{
    cr_assert(gt(int, parse("HEAD /metrics HTTP/1.1\r\n\r\n"), 0));
    cr_assert(eq(str, req.method, "HEAD"));
    cr_assert(eq(str, req.path, "/metrics"));
    cr_assert(eq(int, parse("PUT /metrics HTTP/1.1\r\n\r\n"), -EINVAL));
    cr_assert(eq(int, parse("HEADX /metrics HTTP/1.1\r\n\r\n"), -EINVAL));
}

Test(ringd_http, needs_more_bytes_until_the_blank_line)
{
    cr_assert(eq(int, parse("GET / HTTP/1.1\r\nHost: x\r\n"), 0));
    cr_assert(eq(int, parse(""), 0));
}

Test(ringd_http, connection_close_and_http_1_0_end_the_connection)
{
    cr_assert(gt(int, parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"), 0));
    cr_assert(eq(int, req.keep_alive, 0));
    cr_assert(gt(int, parse("GET / HTTP/1.0\r\n\r\n"), 0));
    cr_assert(eq(int, req.keep_alive, 0));
}

Test(ringd_http, malformed_requests_get_their_error)
{
    static const struct {
        const char *text;
        int want;
    } cases[] = {
        { "PUT /metrics HTTP/1.1\r\n\r\n", -EINVAL },
        { "DELETE /v1/drain HTTP/1.1\r\n\r\n", -EINVAL },
        { "POSTX /v1/drain HTTP/1.1\r\n\r\n", -EINVAL },
        { "POST /v1/drain HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", -E2BIG },
        { "get / HTTP/1.1\r\n\r\n", -EPROTO },
        { "GET / HTTP/2.0\r\n\r\n", -EPROTO },
        { "GET noslash HTTP/1.1\r\n\r\n", -EPROTO },
        { "GET /\r\n\r\n", -EPROTO },
        { "GET / HTTP/1.1\r\nNo colon\r\n\r\n", -EPROTO },
        { "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", -EPROTO },
        { "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", -E2BIG },
        { "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", -E2BIG },
        { "GET / HTTP/1.1\nHost: x\r\n\r\n", -EPROTO },
        { "garbage\r\n\r\n", -EPROTO },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert(eq(int, parse(cases[i].text), cases[i].want), "case %zu: %s", i, cases[i].text);
    }
}

Test(ringd_http, a_post_without_a_body_is_read)
{
    cr_assert(gt(int, parse("POST /v1/drain?wait=1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 0));
    cr_assert(eq(str, req.method, "POST"));
    cr_assert(eq(str, req.path, "/v1/drain"));
    cr_assert(eq(str, req.query, "wait=1"));
}

Test(ringd_http, a_head_over_the_limit_is_refused)
{
    static char big[HTTP_HEAD_BYTES_MAX + 100];
    memset(big, 'a', sizeof(big) - 1);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    cr_assert(eq(int, parse(big), -EMSGSIZE));
}

Test(ringd_http, a_target_over_its_limit_is_told_apart_from_a_large_head)
{
    static char line[HTTP_TARGET_BYTES_MAX + 64];
    const char *start = "GET /v1/lookup?key=";
    size_t at = strlen(start);
    memcpy(line, start, at);
    size_t target = HTTP_TARGET_BYTES_MAX + 1; /* one over, from the '/' */
    memset(line + at, 'k', 4 + target - at);
    strcpy(line + 4 + target, " HTTP/1.1\r\n\r\n");
    cr_assert(eq(int, parse(line), -ERANGE), "a target of 2049 bytes, a head of 2 KiB");
    strcpy(line + 4 + target - 1, " HTTP/1.1\r\n\r\n");
    cr_assert(gt(int, parse(line), 0), "a target of 2048 bytes is read");
}

Test(ringd_http, query_params)
{
    char v[8];
    cr_assert(eq(int, http_query_param("a=1&key=x+y", "key", v, sizeof(v)), 3));
    cr_assert(eq(str, v, "x y"));
    cr_assert(eq(int, http_query_param("a=1", "key", v, sizeof(v)), -ENOENT));
    cr_assert(eq(int, http_query_param("key=%zz", "key", v, sizeof(v)), -EPROTO));
    cr_assert(eq(int, http_query_param("key=%4", "key", v, sizeof(v)), -EPROTO));
    cr_assert(eq(int, http_query_param("key=0123456789", "key", v, sizeof(v)), -ENOBUFS));
    cr_assert(eq(int, http_query_param("key", "key", v, sizeof(v)), 0));
}

static struct ringd_seed seeds[4];
static size_t n;
static char err[256];

static int parse_join(const char *text)
{
    return ringd_join_file_parse(text, strlen(text), seeds, 4, &n, err, sizeof(err));
}

Test(ringd_joinfile, json_list_of_seeds)
{
    cr_assert(eq(int, parse_join(" [\"10.0.0.1:7946\", \"dns:ringd.svc:7946\"]\n"), 0), "%s", err);
    cr_assert(eq(sz, n, 2));
    cr_assert(eq(str, seeds[0].addr.host, "10.0.0.1"));
    cr_assert(eq(u16, seeds[0].addr.port, 7946));
    cr_assert(eq(int, seeds[1].dns, 1));
    cr_assert(eq(str, seeds[1].addr.host, "ringd.svc"));
    cr_assert(eq(int, parse_join("[]"), 0));
    cr_assert(eq(sz, n, 0));
}

Test(ringd_joinfile, one_seed_per_line_with_comments)
{
    cr_assert(eq(int, parse_join("# seeds\n10.0.0.1:7946\n\n  [::1]:7000  \r\n"), 0), "%s", err);
    cr_assert(eq(sz, n, 2));
    cr_assert(eq(str, seeds[1].addr.host, "::1"));
    cr_assert(eq(u16, seeds[1].addr.port, 7000));
}

Test(ringd_joinfile, bad_files_say_why)
{
    cr_assert(eq(int, parse_join("[\"10.0.0.1:7946\""), -EINVAL));
    cr_assert(eq(int, parse_join("[\"10.0.0.1:7946\"] x"), -EINVAL));
    cr_assert(eq(int, parse_join("[10]"), -EINVAL));
    cr_assert(eq(int, parse_join("[\"a\\\"b:1\"]"), -EINVAL));
    cr_assert(eq(int, parse_join("[\"nohostport\"]"), -EINVAL));
    cr_assert(eq(int, parse_join("a:1\nb:2\nc:3\nd:4\ne:5\n"), -E2BIG));
    cr_assert(strstr(err, "more than 4 seeds") != NULL, "%s", err);
}

Test(ringd_log, text_is_logfmt_and_json_has_msg)
{
    char line[256];
    const char *kv[] = { "id", "n1", "why", "two words" };
    size_t len = ringd_log_format(line, sizeof(line), 0, 1700000000123ull, 1, "member", kv, 4);
    cr_assert(eq(str, line,
                 "ts=2023-11-14T22:13:20.123Z level=info msg=member id=n1 why=\"two words\"\n"));
    cr_assert(eq(sz, len, strlen(line)));
    ringd_log_format(line, sizeof(line), 1, 1700000000123ull, 2, "member", kv, 4);
    cr_assert(eq(str, line,
                 "{\"ts\":\"2023-11-14T22:13:20.123Z\",\"level\":\"warn\",\"msg\":\"member\","
                 "\"id\":\"n1\",\"why\":\"two words\"}\n"));
    /* a leap day, and the last millisecond of a year */
    ringd_log_format(line, sizeof(line), 0, 951782400000ull, 0, "e", NULL, 0);
    cr_assert(eq(str, line, "ts=2000-02-29T00:00:00.000Z level=debug msg=e\n"));
    ringd_log_format(line, sizeof(line), 0, 1704067199999ull, 3, "e", NULL, 0);
    cr_assert(eq(str, line, "ts=2023-12-31T23:59:59.999Z level=error msg=e\n"));
}

/* A field's JSON type is fixed by its key (log.c's table): counts are numbers, flags are
 * booleans, everything else a string, even when it looks like a number (an id "42"). */
Test(ringd_log, json_numbers_and_booleans_are_json_types)
{
    char line[512];
    const char *kv[] = { "members", "3",   "complete", "true", "incarnation", "1796231524",
                         "id",      "42",  "port",     "7946", "checksum",    "0123456789012345",
                         "seeds",   "oops" };
    ringd_log_format(line, sizeof(line), RINGD_LOG_JSON, 0, 1, "e", kv, 14);
    cr_assert(eq(str, line,
                 "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"level\":\"info\",\"msg\":\"e\","
                 "\"members\":3,\"complete\":true,\"incarnation\":1796231524,\"id\":\"42\","
                 "\"port\":7946,\"checksum\":\"0123456789012345\",\"seeds\":\"oops\"}\n"));
}

Test(ringd_log, a_crash_line_has_the_format_of_the_others)
{
    char line[256];
    size_t len = ringd_log_crash_line(line, sizeof(line), RINGD_LOG_JSON, 1700000000123ull, 6);
    cr_assert(eq(str, line,
                 "{\"ts\":\"2023-11-14T22:13:20.123Z\",\"level\":\"error\",\"msg\":\"crash\","
                 "\"signal\":\"SIGABRT\"}\n"));
    cr_assert(eq(sz, len, strlen(line)));
    ringd_log_crash_line(line, sizeof(line), RINGD_LOG_TEXT, 1700000000123ull, 11);
    cr_assert(eq(str, line, "ts=2023-11-14T22:13:20.123Z level=error msg=crash signal=SIGSEGV\n"));
}

Test(ringd_log, long_lines_are_cut_and_still_end_in_a_newline)
{
    char line[40];
    const char *kv[] = { "k", "a value far longer than the line buffer can hold" };
    size_t len = ringd_log_format(line, sizeof(line), 0, 0, 1, "e", kv, 2);
    cr_assert(eq(sz, len, sizeof(line) - 1));
    cr_assert(eq(chr, line[len - 1], '\n'));
}

Test(ringd_sbuf, appends_up_to_the_cap)
{
    struct sbuf b;
    sbuf_init(&b, 64);
    sbuf_adds(&b, "abc");
    cr_assert(eq(str, b.data, "abc"));
    sbuf_printf(&b, "%0100d", 1);
    cr_assert(eq(int, b.failed, 1));
    sbuf_free(&b);
}

/* The process families read from a /proc/self/stat line whose command name holds spaces and
 * parentheses (it may: it is the process's own name). */
Test(ringd_prom, process_families_from_proc_stat)
{
    const char *stat = "4242 (ri (n) gd) S 1 4242 4242 0 -1 4194560 500 0 0 0 150 50 0 0 20 0 "
                       "3 0 1000 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17";
    struct sbuf b;
    sbuf_init(&b, 1 << 16);
    prom_process_from(&b, stat, 12, 1024, 100, 4096, 1700000000ull);
    cr_assert(not(eq(ptr, strstr(b.data, "\nprocess_cpu_seconds_total 2\n"), NULL)), "%s", b.data);
    cr_assert(not(eq(ptr, strstr(b.data, "\nprocess_resident_memory_bytes 10485760\n"), NULL)),
              "%s", b.data);
    cr_assert(not(eq(ptr, strstr(b.data, "\nprocess_virtual_memory_bytes 104857600\n"), NULL)),
              "%s", b.data);
    cr_assert(not(eq(ptr, strstr(b.data, "\nprocess_start_time_seconds 1700000010\n"), NULL)), "%s",
              b.data);
    cr_assert(not(eq(ptr, strstr(b.data, "\nprocess_open_fds 12\n"), NULL)), "%s", b.data);
    cr_assert(not(eq(ptr, strstr(b.data, "\nprocess_max_fds 1024\n"), NULL)), "%s", b.data);
    cr_assert(not(eq(ptr, strstr(b.data, "# TYPE process_cpu_seconds_total counter\n"), NULL)));
    sbuf_reset(&b);
    prom_process_from(&b, NULL, -1, 0, 100, 4096, 0);
    cr_assert(eq(sz, b.len, 0), "nothing known, nothing written: %s", b.data);
    sbuf_free(&b);
}

Test(ringd_prom, build_info_has_version_and_commit)
{
    struct sbuf b;
    sbuf_init(&b, 1 << 16);
    prom_build_info(&b);
    cr_assert(not(eq(ptr, strstr(b.data, "\nringd_build_info{version=\""), NULL)), "%s", b.data);
    cr_assert(not(eq(ptr, strstr(b.data, "\",commit=\""), NULL)), "%s", b.data);
    cr_assert(not(eq(ptr, strstr(b.data, "\"} 1\n"), NULL)), "%s", b.data);
    sbuf_free(&b);
}

Test(ringd_hugemem, a_freed_huge_block_serves_the_next_of_its_size)
{
    const struct ring_mem *mem = ringd_hugemem();
    struct ringd_hugemem_stats before = ringd_hugemem_stats();
    size_t bytes = (size_t)3 << 20;
    /* The old ring's block and the new one's, as during a rebuild. */
    uint8_t *twin = mem->malloc(bytes, mem->user_data);
    uint8_t *a = mem->malloc(bytes, mem->user_data);
    cr_assert(not(eq(ptr, a, NULL)));
    memset(a, 0xab, bytes);
    mem->free(a, mem->user_data);
    /* A calloc of about the same size gets the block back, zeroed. */
    uint8_t *b = mem->calloc(bytes - 4096, 1, mem->user_data);
    cr_assert(eq(ptr, b, a));
    cr_assert(eq(u8, b[0], 0));
    cr_assert(eq(u8, b[bytes - 4097], 0));
    struct ringd_hugemem_stats after = ringd_hugemem_stats();
    cr_assert(eq(u64, after.reused - before.reused, 1));
    /* A much larger request does not take it: that block would be too small. */
    uint8_t *c = mem->malloc((size_t)16 << 20, mem->user_data);
    cr_assert(not(eq(ptr, c, NULL)));
    cr_assert(not(eq(ptr, c, b)));
    /* realloc() keeps the contents across huge and small blocks. */
    c[0] = 7;
    c = mem->realloc(c, 100, mem->user_data);
    cr_assert(eq(u8, c[0], 7));
    c = mem->realloc(c, (size_t)5 << 20, mem->user_data);
    cr_assert(eq(u8, c[0], 7));
    mem->free(c, mem->user_data);
    mem->free(b, mem->user_data);
    mem->free(twin, mem->user_data);
    mem->free(NULL, mem->user_data);
    /* With no live block of its size left, a freed block is not kept: the next one is new. */
    struct ringd_hugemem_stats end = ringd_hugemem_stats();
    uint8_t *d = mem->malloc(bytes, mem->user_data);
    cr_assert(eq(u64, ringd_hugemem_stats().mapped, end.mapped + 1));
    mem->free(d, mem->user_data);
}

Test(ringd_hugemem, a_small_block_realloced_to_huge_keeps_its_bytes)
{
    const struct ring_mem *mem = ringd_hugemem();
    uint8_t *p = mem->malloc(64, mem->user_data);
    memset(p, 5, 64);
    p = mem->realloc(p, (size_t)2 << 20, mem->user_data);
    cr_assert(not(eq(ptr, p, NULL)));
    cr_assert(eq(u8, p[63], 5));
    mem->free(p, mem->user_data);
}
