/* Unit tests for ringd's configuration: every kind of value at its bounds. Each kind has one
 * parser, so one flag of each kind stands for the others: 0, the most it takes, one more,
 * 2^64 - 1 and garbage, each accepted with its value or refused with its message. */
#include <criterion/criterion.h>
#include <errno.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ring/error.h"
#include "testmem.h"

#define U64_MAX_TEXT "18446744073709551615"

static struct ringd_config cfg;
static char err[512];

/* "--FLAG=VALUE" with POD_IP set; the proxy and app are on so --app-health may be given. */
static int parse_one(const char *flag, const char *value)
{
    char arg[512];
    snprintf(arg, sizeof(arg), "--%s=%s", flag, value);
    char *argv[] = { "ringd", "--proxy=127.0.0.1:7070", "--app=127.0.0.1:8080", arg, NULL };
    char *env[] = { "POD_IP=10.1.2.3", NULL };
    return ringd_config_parse(&cfg, 4, argv, env, err, sizeof(err));
}

/* A value refused with exactly |want| after "ringd: --FLAG: ". */
static void refused(const char *flag, const char *value, const char *want)
{
    char full[512];
    snprintf(full, sizeof(full), "ringd: --%s: %s", flag, want);
    cr_assert(eq(int, parse_one(flag, value), -EINVAL), "--%s=%s", flag, value);
    ASSERT_STR_EQ(err, full);
}

static void accepted(const char *flag, const char *value)
{
    cr_assert(eq(int, parse_one(flag, value), 0), "--%s=%s: %s", flag, value, err);
}

Test(ringd_config_kinds, count)
{
    accepted("indirect-probes", "0");
    cr_assert(eq(u32, cfg.indirect_probes, 0));
    accepted("indirect-probes", "16");
    cr_assert(eq(u32, cfg.indirect_probes, 16));
    refused("indirect-probes", "17", "17 is out of range (expected 0 to 16)");
    refused("vnodes", "0", "0 is out of range (expected 1 to 16384)");
    accepted("vnodes", "16384");
    cr_assert(eq(u32, cfg.vnodes, 16384));
    refused("vnodes", "16385", "16385 is out of range (expected 1 to 16384)");
    refused("vnodes", "4294967295", "4294967295 is out of range (expected 1 to 16384)");
    refused("vnodes", "4294967296", "4294967296 is out of range (expected 1 to 16384)");
    refused("vnodes", "99999999999999999999999",
            "99999999999999999999999 is out of range (expected 1 to 16384)");
    refused("vnodes", U64_MAX_TEXT, U64_MAX_TEXT " is out of range (expected 1 to 16384)");
    refused("vnodes", "-1", "invalid number \"-1\" (expected an integer from 1 to 16384)");
    refused("vnodes", "1k", "invalid number \"1k\" (expected an integer from 1 to 16384)");
    refused("vnodes", "", "invalid number \"\" (expected an integer from 1 to 16384)");
    accepted("shards", "65536");
    cr_assert(eq(u32, cfg.shards, 65536));
    refused("shards", "65537", "65537 is out of range (expected 0 to 65536)");
}

Test(ringd_config_kinds, duration)
{
    refused("sync-interval", "0", "invalid duration \"0\" (expected e.g. 500ms, 2s, 1m)");
    refused("sync-interval", "0ms", "duration \"0ms\" is out of range (expected 1ms to 24h)");
    accepted("sync-interval", "86400000ms");
    cr_assert(eq(u32, cfg.sync_interval_ms, 86400000));
    accepted("sync-interval", "1440m");
    cr_assert(eq(u32, cfg.sync_interval_ms, 86400000));
    /* The number before the unit is bounded by 24h in ms: past it, not a duration at all. */
    refused("sync-interval", "86400001ms",
            "invalid duration \"86400001ms\" (expected e.g. 500ms, 2s, 1m)");
    refused("sync-interval", "1441m", "duration \"1441m\" is out of range (expected 1ms to 24h)");
    refused("sync-interval", U64_MAX_TEXT "ms",
            "invalid duration \"" U64_MAX_TEXT "ms\" (expected e.g. 500ms, 2s, 1m)");
    refused("sync-interval", "2 s", "invalid duration \"2 s\" (expected e.g. 500ms, 2s, 1m)");
}

/* --api-timeout, --drain-timeout, --app-health-holddown: a bare 0 is "off", 0ms is not. */
Test(ringd_config_kinds, duration_or_zero)
{
    accepted("drain-timeout", "0");
    cr_assert(eq(u32, cfg.drain_timeout_ms, 0));
    accepted("drain-timeout", "0s"); /* a zero with a unit, as Go and systemd take it */
    cr_assert(eq(u32, cfg.drain_timeout_ms, 0));
    refused("drain-timeout", "0x", "invalid duration \"0x\" (expected e.g. 500ms, 2s, 1m)");
    accepted("drain-timeout", "24h");
    cr_assert(eq(u32, cfg.drain_timeout_ms, 86400000));
    refused("drain-timeout", "25h", "duration \"25h\" is out of range (expected 1ms to 24h)");
    refused("api-timeout", "00", "invalid duration \"00\" (expected e.g. 500ms, 2s, 1m)");
    refused("app-health-holddown", U64_MAX_TEXT,
            "invalid duration \"" U64_MAX_TEXT "\" (expected e.g. 500ms, 2s, 1m)");
}

Test(ringd_config_kinds, size)
{
    refused("api-output-max", "0", "size \"0\" is too small (at least 4K)");
    refused("api-output-max", "4095", "size \"4095\" is too small (at least 4K)");
    accepted("api-output-max", "16M");
    cr_assert(eq(u32, cfg.api_output_max_bytes, 16u << 20));
    refused("api-output-max", "16777217",
            "invalid size \"16777217\" (expected bytes, or e.g. 64K, 1M; at most 16777216)");
    refused("api-output-max", U64_MAX_TEXT,
            "invalid size \"" U64_MAX_TEXT "\" (expected bytes, or e.g. 64K, 1M; at most "
            "16777216)");
    refused("api-output-max", "1k",
            "invalid size \"1k\" (expected bytes, or e.g. 64K, 1M; at most 16777216)");
    /* --max-body: 0 is no limit, and the most is 4294967295G (64 bits hold it). */
    accepted("max-body", "0");
    cr_assert(eq(u64, cfg.proxy_max_body_bytes, 0));
    accepted("max-body", "4294967295G");
    cr_assert(eq(u64, cfg.proxy_max_body_bytes, 4294967295ull << 30));
    refused("max-body", "4294967296",
            "invalid size \"4294967296\" (expected bytes, or e.g. 512K, 100M, 2G; 0: no limit)");
    refused("max-body", U64_MAX_TEXT,
            "invalid size \"" U64_MAX_TEXT "\" (expected bytes, or e.g. 512K, 100M, 2G; 0: no "
            "limit)");
    refused("max-body", "1T",
            "invalid size \"1T\" (expected bytes, or e.g. 512K, 100M, 2G; 0: no limit)");
}

Test(ringd_config_kinds, switch_and_enum)
{
    accepted("insecure", "0");
    cr_assert(eq(u8, cfg.insecure, 0));
    accepted("insecure", "1");
    cr_assert(eq(u8, cfg.insecure, 1));
    refused("insecure", "2", "invalid value \"2\" (expected true or false)");
    refused("insecure", U64_MAX_TEXT,
            "invalid value \"" U64_MAX_TEXT "\" (expected true or false)");
    refused("insecure", "TRUE", "invalid value \"TRUE\" (expected true or false)");
    accepted("log-level", "error");
    cr_assert(eq(u8, cfg.log_level, RINGD_LOG_ERROR));
    refused("log-level", "0", "invalid value \"0\" (expected debug, info, warn or error)");
    refused("log-format", "", "invalid value \"\" (expected text or json)");
}

Test(ringd_config_kinds, address)
{
    refused("admin", "127.0.0.1:0", "invalid address \"127.0.0.1:0\": port must be 1 to 65535");
    accepted("admin", "127.0.0.1:65535");
    cr_assert(eq(u16, cfg.admin.port, 65535));
    refused("admin", "127.0.0.1:65536",
            "invalid address \"127.0.0.1:65536\": port must be 1 to 65535");
    refused("admin", "127.0.0.1:" U64_MAX_TEXT,
            "invalid address \"127.0.0.1:" U64_MAX_TEXT "\": port must be 1 to 65535");
    refused("admin", "garbage", "invalid address \"garbage\": missing port");
    accepted("app", "app.default.svc:8080");
    ASSERT_STR_EQ(cfg.app.host, "app.default.svc");
    cr_assert(eq(u8, cfg.app.family, 0), "a name");
    refused("advertise", "::", "\"::\" is not an address peers can reach");
}

Test(ringd_config_kinds, string_and_text)
{
    char path[RINGD_SOCKET_PATH_BYTES_MAX + 2];
    memset(path, 'p', sizeof(path) - 1);
    path[0] = '/';
    path[RINGD_SOCKET_PATH_BYTES_MAX] = '\0';
    refused("socket", "", "must not be empty");
    accepted("socket", path);
    cr_assert(eq(sz, strlen(cfg.socket_path), RINGD_SOCKET_PATH_BYTES_MAX));
    path[RINGD_SOCKET_PATH_BYTES_MAX] = 'p';
    path[RINGD_SOCKET_PATH_BYTES_MAX + 1] = '\0';
    refused("socket", path, "too long (108 bytes, at most 107)");
    char group[MEMBER_GROUP_BYTES_MAX + 2];
    memset(group, 'g', sizeof(group) - 1);
    group[MEMBER_GROUP_BYTES_MAX] = '\0';
    accepted("group", group);
    cr_assert(eq(sz, cfg.group_len, MEMBER_GROUP_BYTES_MAX));
    group[MEMBER_GROUP_BYTES_MAX] = 'g';
    group[MEMBER_GROUP_BYTES_MAX + 1] = '\0';
    refused("group", group, "too long (64 bytes, at most 63)");
    accepted("group", "");
    cr_assert(eq(sz, cfg.group_len, 0));
    refused("id", "", "must not be empty");
    refused("id", "a\tb",
            "id \"a\\x09b\": byte 0x09 at offset 1 is not allowed (printable ASCII without spaces "
            "only)");
}

/* Every default --help shows in [brackets] is the one ringd takes: given as a flag, it
 * leaves the configuration exactly as no flag does (--id and --advertise show where their
 * defaults come from, not a value). */
Test(ringd_config_kinds, every_default_help_shows_is_the_default)
{
    char *env[] = { "POD_IP=10.1.2.3", NULL };
    char *bare[] = { "ringd", NULL };
    static struct ringd_config want;
    cr_assert(eq(int, ringd_config_parse(&want, 1, bare, env, err, sizeof(err)), 0), "%s", err);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ringd_config_usage(f);
    fclose(f);
    int checked = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char flag[64];
        char *open = strrchr(line, '[');
        if (sscanf(line, "  --%63s", flag) != 1 || open == NULL || line[strlen(line) - 1] != ']' ||
            open[1] == '$') {
            continue;
        }
        char arg[128];
        snprintf(arg, sizeof(arg), "--%s=%.*s", flag, (int)(strlen(open) - 2), open + 1);
        char *argv[] = { "ringd", arg, NULL };
        cr_assert(eq(int, ringd_config_parse(&cfg, 2, argv, env, err, sizeof(err)), 0), "%s: %s",
                  arg, err);
        cr_assert(eq(int, memcmp(&cfg, &want, sizeof(cfg)), 0), "%s is not the default", arg);
        checked++;
    }
    free(text);
    cr_assert(ge(int, checked, 30), "only %d defaults found in --help", checked);
}
