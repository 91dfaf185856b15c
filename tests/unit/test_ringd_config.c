/* Unit tests for ringd's configuration: defaults, flags, environment and --help. */
#include <criterion/criterion.h>
#include <errno.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ring/error.h"
#include "ring/hashring.h"
#include "ring/lease.h"
#include "ring/swim.h"
#include "testmem.h"

#define ARGS_MAX 64

static struct ringd_config cfg;
static char err[512];

/* Parses a NULL-terminated argument list (without argv[0]) under a NULL-terminated env. */
static int parse_with(char **env, char **args)
{
    char *argv[ARGS_MAX] = { "ringd" };
    int argc = 1;
    while (args != NULL && args[argc - 1] != NULL) {
        cr_assert(lt(int, argc, ARGS_MAX));
        argv[argc] = args[argc - 1];
        argc++;
    }
    return ringd_config_parse(&cfg, argc, argv, env, err, sizeof(err));
}

#define ENV(...)  ((char *[]){ __VA_ARGS__, NULL })
#define ARGS(...) ((char *[]){ __VA_ARGS__, NULL })
#define NO_ENV    ENV("HOME=/root")

static void parse_ok(char **env, char **args)
{
    int rv = parse_with(env, args);
    cr_assert(eq(int, rv, 0), "parse failed: %s", err);
    cr_assert(eq(int, (int)strlen(err), 0));
}

static void parse_fails(char **env, char **args, const char *want)
{
    int rv = parse_with(env, args);
    cr_assert(eq(int, rv, -EINVAL));
    ASSERT_STR_EQ(err, want);
    cr_assert(eq(ptr, strchr(err, '\n'), NULL));
}

Test(ringd_config, defaults)
{
    parse_ok(ENV("POD_IP=10.1.2.3", "POD_NAME=web-0"), NULL);
    ASSERT_STR_EQ(cfg.id, "web-0");
    cr_assert(eq(sz, cfg.id_len, 5));
    ASSERT_STR_EQ(cfg.bind.host, "0.0.0.0");
    cr_assert(eq(u16, cfg.bind.port, 7946));
    cr_assert(eq(u8, cfg.bind.family, 4));
    ASSERT_STR_EQ(cfg.advertise.host, "10.1.2.3");
    cr_assert(eq(u16, cfg.advertise.port, 7946));
    cr_assert(eq(sz, cfg.seed_count, 0));
    ASSERT_STR_EQ(cfg.join_file, "");
    ASSERT_STR_EQ(cfg.socket_path, "/run/ringd/ringd.sock");
    ASSERT_STR_EQ(cfg.admin.host, "127.0.0.1");
    cr_assert(eq(u16, cfg.admin.port, 7947));
    ASSERT_STR_EQ(cfg.proxy.host, "");
    ASSERT_STR_EQ(cfg.app.host, "");
    ASSERT_STR_EQ(cfg.key_header, "X-Ring-Key");
    cr_assert(eq(u32, cfg.vnodes, HASHRING_VNODES_DEFAULT));
    cr_assert(eq(u32, cfg.weight, 1));
    cr_assert(eq(sz, cfg.label_count, 0));
    ASSERT_STR_EQ(cfg.group, "");
    ASSERT_STR_EQ(cfg.keyfile, "");
    /* ringd's timing flags default to libring's defaults. */
    struct swim_config lib = { 0 };
    swim_config_defaults(&lib);
    cr_assert(eq(u32, cfg.probe_interval_ms, lib.probe_interval_ms));
    cr_assert(eq(u32, cfg.probe_timeout_ms, lib.probe_timeout_ms));
    cr_assert(eq(u32, cfg.indirect_probes, lib.indirect_probes));
    cr_assert(eq(u32, cfg.suspect_mult, lib.suspicion_mult));
    cr_assert(eq(u32, cfg.sync_interval_ms, lib.sync_interval_ms));
    cr_assert(eq(u32, cfg.probe_interval_ms, 300));
    cr_assert(eq(u32, cfg.probe_timeout_ms, 150));
    cr_assert(eq(u32, cfg.suspect_mult, 2));
    cr_assert(eq(u8, cfg.log_level, RINGD_LOG_INFO));
    cr_assert(eq(u8, cfg.log_format, RINGD_LOG_TEXT));
    cr_assert(eq(u8, cfg.show_help, 0));
    cr_assert(eq(u8, cfg.show_version, 0));
}

Test(ringd_config, every_flag_sets_its_field)
{
    parse_ok(NO_ENV,
             ARGS("--id", "node-a", "--bind", "10.0.0.5:8000", "--advertise", "192.168.1.9:9000",
                  "--join", "10.0.0.1:7946,ringd-1.ringd:7946", "--join-file", "/etc/seeds",
                  "--socket", "/tmp/r.sock", "--admin", "0.0.0.0:9100", "--proxy=127.0.0.1:8081",
                  "--app=localhost:8080", "--key-header", "X-Shard", "--vnodes", "256", "--weight",
                  "3", "--label", "zone=eu-1", "--group", "g7", "--keyfile", "/etc/ring.keys",
                  "--probe-interval", "2s", "--probe-timeout", "300ms", "--indirect-probes", "0",
                  "--suspect-timeout", "6", "--sync-interval", "1m", "--log-level", "debug",
                  "--log-format", "json"));
    ASSERT_STR_EQ(cfg.id, "node-a");
    ASSERT_STR_EQ(cfg.bind.host, "10.0.0.5");
    cr_assert(eq(u16, cfg.bind.port, 8000));
    ASSERT_STR_EQ(cfg.advertise.host, "192.168.1.9");
    cr_assert(eq(u16, cfg.advertise.port, 9000));
    cr_assert(eq(sz, cfg.seed_count, 2));
    ASSERT_STR_EQ(cfg.seeds[1].addr.host, "ringd-1.ringd");
    cr_assert(eq(u8, cfg.seeds[1].addr.family, 0));
    ASSERT_STR_EQ(cfg.join_file, "/etc/seeds");
    ASSERT_STR_EQ(cfg.socket_path, "/tmp/r.sock");
    ASSERT_STR_EQ(cfg.admin.host, "0.0.0.0");
    cr_assert(eq(u16, cfg.proxy.port, 8081));
    ASSERT_STR_EQ(cfg.app.host, "localhost");
    ASSERT_STR_EQ(cfg.key_header, "X-Shard");
    cr_assert(eq(u32, cfg.vnodes, 256));
    cr_assert(eq(u32, cfg.weight, 3));
    cr_assert(eq(sz, cfg.label_count, 1));
    ASSERT_STR_EQ(cfg.labels[0].key, "zone");
    ASSERT_STR_EQ(cfg.labels[0].value, "eu-1");
    ASSERT_STR_EQ(cfg.group, "g7");
    cr_assert(eq(sz, cfg.group_len, 2));
    ASSERT_STR_EQ(cfg.keyfile, "/etc/ring.keys");
    cr_assert(eq(u32, cfg.probe_interval_ms, 2000));
    cr_assert(eq(u32, cfg.probe_timeout_ms, 300));
    cr_assert(eq(u32, cfg.indirect_probes, 0));
    cr_assert(eq(u32, cfg.suspect_mult, 6));
    cr_assert(eq(u32, cfg.sync_interval_ms, 60000));
    cr_assert(eq(u8, cfg.log_level, RINGD_LOG_DEBUG));
    cr_assert(eq(u8, cfg.log_format, RINGD_LOG_JSON));
}

Test(ringd_config, every_flag_reads_its_environment_variable)
{
    parse_ok(ENV("RINGD_ID=env-id", "RINGD_BIND=10.0.0.5:8000", "RINGD_ADVERTISE=10.0.0.6",
                 "RINGD_JOIN=dns:ringd.default.svc.cluster.local:7946", "RINGD_JOIN_FILE=/s",
                 "RINGD_SOCKET=/tmp/e.sock", "RINGD_ADMIN=127.0.0.1:1", "RINGD_PROXY=0.0.0.0:80",
                 "RINGD_APP=app:8080", "RINGD_KEY_HEADER=X-K", "RINGD_VNODES=64", "RINGD_WEIGHT=2",
                 "RINGD_LABEL=zone=a, rack=r1", "RINGD_GROUP=g", "RINGD_KEYFILE=/k",
                 "RINGD_PROBE_INTERVAL=500ms", "RINGD_PROBE_TIMEOUT=200ms",
                 "RINGD_INDIRECT_PROBES=5", "RINGD_SUSPECT_TIMEOUT=5", "RINGD_SYNC_INTERVAL=1h",
                 "RINGD_LOG_LEVEL=warn", "RINGD_LOG_FORMAT=json"),
             NULL);
    ASSERT_STR_EQ(cfg.id, "env-id");
    cr_assert(eq(u16, cfg.bind.port, 8000));
    ASSERT_STR_EQ(cfg.advertise.host, "10.0.0.6");
    cr_assert(eq(u16, cfg.advertise.port, 8000), "a host without port takes the bind port");
    cr_assert(eq(sz, cfg.seed_count, 1));
    cr_assert(eq(u8, cfg.seeds[0].dns, 1));
    ASSERT_STR_EQ(cfg.seeds[0].addr.host, "ringd.default.svc.cluster.local");
    cr_assert(eq(u16, cfg.seeds[0].addr.port, 7946));
    ASSERT_STR_EQ(cfg.join_file, "/s");
    ASSERT_STR_EQ(cfg.socket_path, "/tmp/e.sock");
    cr_assert(eq(u16, cfg.admin.port, 1));
    cr_assert(eq(u16, cfg.proxy.port, 80));
    ASSERT_STR_EQ(cfg.app.host, "app");
    ASSERT_STR_EQ(cfg.key_header, "X-K");
    cr_assert(eq(u32, cfg.vnodes, 64));
    cr_assert(eq(u32, cfg.weight, 2));
    cr_assert(eq(sz, cfg.label_count, 2));
    ASSERT_STR_EQ(cfg.labels[1].key, "rack");
    ASSERT_STR_EQ(cfg.labels[1].value, "r1");
    ASSERT_STR_EQ(cfg.group, "g");
    ASSERT_STR_EQ(cfg.keyfile, "/k");
    cr_assert(eq(u32, cfg.probe_interval_ms, 500));
    cr_assert(eq(u32, cfg.probe_timeout_ms, 200));
    cr_assert(eq(u32, cfg.indirect_probes, 5));
    cr_assert(eq(u32, cfg.suspect_mult, 5));
    cr_assert(eq(u32, cfg.sync_interval_ms, 3600000));
    cr_assert(eq(u8, cfg.log_level, RINGD_LOG_WARN));
    cr_assert(eq(u8, cfg.log_format, RINGD_LOG_JSON));
}

Test(ringd_config, flags_override_environment)
{
    parse_ok(ENV("POD_IP=10.1.2.3", "RINGD_PROBE_INTERVAL=5s", "RINGD_JOIN=10.9.9.9:1,10.9.9.8:1",
                 "RINGD_LABEL=zone=a", "RINGD_LOG_LEVEL=error", "RINGD_ID=from-env"),
             ARGS("--probe-interval=2s", "--join", "10.0.0.1:7946", "--label", "rack=b", "--id",
                  "from-flag"));
    cr_assert(eq(u32, cfg.probe_interval_ms, 2000));
    /* List flags replace the variable's list; they do not merge with it. */
    cr_assert(eq(sz, cfg.seed_count, 1));
    ASSERT_STR_EQ(cfg.seeds[0].addr.host, "10.0.0.1");
    cr_assert(eq(sz, cfg.label_count, 1));
    ASSERT_STR_EQ(cfg.labels[0].key, "rack");
    cr_assert(eq(u8, cfg.log_level, RINGD_LOG_ERROR), "variables without a flag still apply");
    ASSERT_STR_EQ(cfg.id, "from-flag");
}

Test(ringd_config, repeated_flags_last_wins_or_accumulate)
{
    parse_ok(ENV("POD_IP=10.1.2.3"),
             ARGS("--vnodes", "10", "--vnodes", "20", "--join", "10.0.0.1:1", "--join",
                  "10.0.0.2:2,10.0.0.3:3", "--label", "a=1", "--label", "b=2", "--label", "a=3"));
    cr_assert(eq(u32, cfg.vnodes, 20));
    cr_assert(eq(sz, cfg.seed_count, 3));
    cr_assert(eq(u16, cfg.seeds[2].addr.port, 3));
    cr_assert(eq(sz, cfg.label_count, 2));
    ASSERT_STR_EQ(cfg.labels[0].value, "3");
}

Test(ringd_config, empty_variables_count_as_unset)
{
    parse_ok(ENV("POD_IP=10.1.2.3", "RINGD_VNODES=", "RINGD_JOIN=", "POD_NAME="), NULL);
    cr_assert(eq(u32, cfg.vnodes, HASHRING_VNODES_DEFAULT));
    ASSERT_STR_EQ(cfg.id, "10.1.2.3:7946");
}

Test(ringd_config, pod_ip_and_pod_name_supply_defaults)
{
    parse_ok(ENV("POD_IP=10.1.2.3", "POD_NAME=ringd-2"), ARGS("--bind", "0.0.0.0:9000"));
    ASSERT_STR_EQ(cfg.advertise.host, "10.1.2.3");
    cr_assert(eq(u16, cfg.advertise.port, 9000));
    ASSERT_STR_EQ(cfg.id, "ringd-2");

    /* No POD_NAME: the id is the advertise address as text. */
    parse_ok(ENV("POD_IP=fd00::7"), NULL);
    ASSERT_STR_EQ(cfg.advertise.host, "fd00::7");
    cr_assert(eq(u8, cfg.advertise.family, 6));
    ASSERT_STR_EQ(cfg.id, "[fd00::7]:7946");

    /* No POD_IP: a specific bind address is advertised. */
    parse_ok(NO_ENV, ARGS("--bind", "127.0.0.1:7000"));
    ASSERT_STR_EQ(cfg.advertise.host, "127.0.0.1");
    ASSERT_STR_EQ(cfg.id, "127.0.0.1:7000");

    /* Explicit flags beat both. */
    parse_ok(ENV("POD_IP=10.1.2.3", "POD_NAME=ringd-2"),
             ARGS("--advertise", "10.5.5.5:1234", "--id", "me"));
    ASSERT_STR_EQ(cfg.advertise.host, "10.5.5.5");
    cr_assert(eq(u16, cfg.advertise.port, 1234));
    ASSERT_STR_EQ(cfg.id, "me");
    parse_ok(NO_ENV, ARGS("--advertise", "[fd00::9]:5"));
    ASSERT_STR_EQ(cfg.advertise.host, "fd00::9");
    ASSERT_STR_EQ(cfg.id, "[fd00::9]:5");
    parse_ok(NO_ENV, ARGS("--advertise", "fd00::9"));
    cr_assert(eq(u16, cfg.advertise.port, 7946));
}

Test(ringd_config, every_duration_form)
{
    static const struct {
        const char *text;
        uint32_t ms;
    } cases[] = { { "1ms", 1 },    { "500ms", 500 },  { "2s", 2000 },      { "90s", 90000 },
                  { "1m", 60000 }, { "1h", 3600000 }, { "24h", 86400000 }, { "0001s", 1000 } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char arg[64];
        snprintf(arg, sizeof(arg), "--sync-interval=%s", cases[i].text);
        parse_ok(ENV("POD_IP=10.1.2.3"), ARGS(arg));
        cr_assert(eq(u32, cfg.sync_interval_ms, cases[i].ms), "%s", cases[i].text);
    }
    static const char *const bad[] = {
        "5x", "5", "s", "1.5s", "-1s", "5 s", "1S", "25h", "0s", ""
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char arg[64];
        snprintf(arg, sizeof(arg), "--sync-interval=%s", bad[i]);
        cr_assert(eq(int, parse_with(ENV("POD_IP=10.1.2.3"), ARGS(arg)), -EINVAL), "%s", bad[i]);
        cr_assert(eq(int, strncmp(err, "ringd: --sync-interval: ", 24), 0), "%s", err);
    }
}

/* A peer's weight is clamped to --weight-max (proto/SWIM.md, "Limits between peers"): its
 * default is small, and this node's own --weight is within it. */
Test(ringd_config, weight_max_defaults_small_and_bounds_weight)
{
    parse_ok(ENV("POD_IP=10.1.2.3"), NULL);
    cr_assert(eq(u32, cfg.weight_max, SWIM_WEIGHT_MAX_DEFAULT));
    cr_assert(eq(u32, cfg.weight_max, 10));
    parse_ok(ENV("POD_IP=10.1.2.3", "RINGD_WEIGHT_MAX=50"), ARGS("--weight", "40"));
    cr_assert(eq(u32, cfg.weight_max, 50));
    cr_assert(eq(u32, cfg.weight, 40));
    parse_fails(ENV("POD_IP=10.1.2.3"), ARGS("--weight-max", "3", "--weight", "4"),
                "ringd: --weight: 4 is above --weight-max (3)");
}

Test(ringd_config, labels_are_bounded)
{
    parse_ok(ENV("POD_IP=10.1.2.3", "RINGD_LABEL=a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8"), NULL);
    cr_assert(eq(sz, cfg.label_count, MEMBER_LABELS_MAX));
    parse_fails(ENV("POD_IP=10.1.2.3", "RINGD_LABEL=a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9"), NULL,
                "ringd: RINGD_LABEL: too many labels (at most 8)");
    parse_fails(ENV("POD_IP=10.1.2.3"), ARGS("--label", "novalue"),
                "ringd: --label: invalid label \"novalue\" (expected key=value)");
    parse_fails(ENV("POD_IP=10.1.2.3"), ARGS("--label", "=v"),
                "ringd: --label: invalid label \"=v\" (expected key=value)");
    parse_fails(ENV("POD_IP=10.1.2.3"), ARGS("--label", "0123456789012345678901234567890123=v"),
                "ringd: --label: label \"0123456789012345678901234567890123=v\": key longer than "
                "31 bytes");
    parse_fails(ENV("POD_IP=10.1.2.3"), ARGS("--label", "k=a=b"),
                "ringd: --label: label \"a=b\": value byte 0x3d at offset 1 is not allowed "
                "(printable ASCII without spaces, '=' or ',' only)");
}

/* --id, --label, --group and $POD_NAME accept exactly what the wire does (member_text_check()),
 * and the message shows the refused bytes escaped, never raw. */
Test(ringd_config, text_values_follow_the_wire_rule_and_errors_are_escaped)
{
    static const struct {
        const char *env;
        const char *arg;
        const char *want;
    } cases[] = {
        { NULL, "--id=n\x1b[2J",
          "ringd: --id: id \"n\\x1b[2J\": byte 0x1b at offset 1 is not allowed (printable ASCII "
          "without spaces only)" },
        { NULL, "--id=caf\xc3\xa9",
          "ringd: --id: id \"caf\xc3\xa9\": byte 0xc3 at offset 3 is not allowed (printable "
          "ASCII without spaces only)" },
        { NULL, "--id=\xff",
          "ringd: --id: id \"\\xff\": byte 0xff at offset 0 is not allowed (printable ASCII "
          "without spaces only)" },
        { "POD_NAME=web\x07", NULL,
          "ringd: $POD_NAME: id \"web\\x07\": byte 0x07 at offset 3 is not allowed (printable "
          "ASCII without spaces only)" },
        { "RINGD_GROUP=g 1", NULL,
          "ringd: RINGD_GROUP: group \"g 1\": byte 0x20 at offset 1 is not allowed (printable "
          "ASCII without spaces only)" },
        { NULL, "--group=g\x1b]0;x\x07",
          "ringd: --group: group \"g\\x1b]0;x\\x07\": byte 0x1b at offset 1 is not allowed "
          "(printable ASCII without spaces only)" },
        { NULL, "--label=zone=\x1b[31mred",
          "ringd: --label: label \"\\x1b[31mred\": value byte 0x1b at offset 0 is not allowed "
          "(printable ASCII without spaces, '=' or ',' only)" },
        { NULL, "--label=k\x7f=v",
          "ringd: --label: label \"k\\x7f=v\": key byte 0x7f at offset 1 is not allowed "
          "(printable ASCII without spaces, '=' or ',' only)" },
        { NULL, "--bind=\x1b[2J:1",
          "ringd: --bind: invalid address \"\\x1b[2J:1\": the host must be a numeric IP "
          "address" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *env[] = { "POD_IP=10.1.2.3", (char *)cases[i].env, NULL };
        char *argv[] = { "ringd", (char *)cases[i].arg, NULL };
        int rv =
            ringd_config_parse(&cfg, cases[i].arg != NULL ? 2 : 1, argv, env, err, sizeof(err));
        cr_assert(eq(int, rv, -EINVAL), "%s", cases[i].want);
        ASSERT_STR_EQ(err, cases[i].want);
        for (const char *p = err; *p != '\0'; p++) {
            cr_assert(eq(int, *p == 0x1b, 0), "a raw ESC in: %s", err);
        }
    }
    parse_ok(ENV("POD_IP=10.1.2.3", "POD_NAME=web-0"),
             ARGS("--group", "eu_west-1.a", "--label", "v=1.2.3+build:7/x~y"));
    ASSERT_STR_EQ(cfg.id, "web-0");
    ASSERT_STR_EQ(cfg.group, "eu_west-1.a");
    ASSERT_STR_EQ(cfg.labels[0].value, "1.2.3+build:7/x~y");
}

Test(ringd_config, bad_values_each_with_its_message)
{
    static const struct {
        const char *arg;
        const char *want;
    } cases[] = {
        { "--probe-interval=5x",
          "ringd: --probe-interval: invalid duration \"5x\" (expected e.g. 500ms, 2s, 1m)" },
        { "--vnodes=0", "ringd: --vnodes: 0 is out of range (expected 1 to 16384)" },
        { "--vnodes=many",
          "ringd: --vnodes: invalid number \"many\" (expected an integer from 1 to 16384)" },
        { "--weight=1001", "ringd: --weight: 1001 is out of range (expected 1 to 1000)" },
        { "--weight-max=1001", "ringd: --weight-max: 1001 is out of range (expected 1 to 1000)" },
        { "--weight=11", "ringd: --weight: 11 is above --weight-max (10)" },
        { "--indirect-probes=17",
          "ringd: --indirect-probes: 17 is out of range (expected 0 to 16)" },
        { "--suspect-timeout=5s",
          "ringd: --suspect-timeout: \"5s\" is a duration, but this is a multiplier of the probe "
          "interval (e.g. 4; the timeout also scales with log10 of the cluster size)" },
        { "--bind=0.0.0.0", "ringd: --bind: invalid address \"0.0.0.0\": missing port" },
        { "--bind=host:7946",
          "ringd: --bind: invalid address \"host:7946\": the host must be a numeric IP address" },
        { "--bind=10.0.0.1:70000",
          "ringd: --bind: invalid address \"10.0.0.1:70000\": port must be 1 to 65535" },
        { "--admin=::1:80", "ringd: --admin: invalid address \"::1:80\": put an IPv6 address in "
                            "brackets, e.g. [::1]:7946" },
        { "--advertise=0.0.0.0:1",
          "ringd: --advertise: \"0.0.0.0:1\" is not an address peers can reach" },
        { "--join=10.0.0.1", "ringd: --join: invalid address \"10.0.0.1\": missing port" },
        { "--join=bad_host!:1", "ringd: --join: invalid address \"bad_host!:1\": \"bad_host!\" is "
                                "not an IP address or host name" },
        { "--log-level=verbose",
          "ringd: --log-level: invalid value \"verbose\" (expected debug, info, warn or error)" },
        { "--log-format=xml",
          "ringd: --log-format: invalid value \"xml\" (expected text or json)" },
        { "--key-header=X Key", "ringd: --key-header: invalid header name \"X Key\" (letters, "
                                "digits and -, at most 64 bytes)" },
        { "--id=a b", "ringd: --id: id \"a b\": byte 0x20 at offset 1 is not allowed (printable "
                      "ASCII without spaces only)" },
        { "--socket=", "ringd: --socket: must not be empty" },
        { "--probe-timeout=1s",
          "ringd: --probe-timeout: 1000ms must be shorter than --probe-interval (300ms)" },
        { "--proxy=127.0.0.1:8081", "ringd: --proxy: --proxy and --app go together: the proxy "
                                    "passes owned requests to the app" },
        { "--frobnicate=1", "ringd: unknown flag --frobnicate (see ringd --help)" },
        { "positional", "ringd: unexpected argument \"positional\" (see ringd --help)" },
        { "--weight", "ringd: --weight: missing value" },
        { "--app-health=/healthz", "ringd: --app-health: needs --app: the health check is a GET "
                                   "on the app" },
        { "--app-health=healthz", "ringd: --app-health: invalid path \"healthz\" (starts with /, "
                                  "at most 255 bytes)" },
        { "--app-health=/a b", "ringd: --app-health: byte 2 of the path is not printable ASCII "
                               "(no space, no control)" },
        { "--app-health=/\x1b[2J", "ringd: --app-health: byte 1 of the path is not printable "
                                   "ASCII (no space, no control)" },
        { "--app-health-threshold=0",
          "ringd: --app-health-threshold: 0 is out of range (expected 1 to 100)" },
        { "--app-health-interval=0",
          "ringd: --app-health-interval: invalid duration \"0\" (expected e.g. 500ms, 2s, 1m)" },
        { "--drain-timeout=soon",
          "ringd: --drain-timeout: invalid duration \"soon\" (expected e.g. 500ms, 2s, 1m)" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        parse_fails(ENV("POD_IP=10.1.2.3"), ARGS((char *)cases[i].arg), cases[i].want);
    }
}

Test(ringd_config, local_listener_limits_default_parse_and_bound)
{
    parse_ok(ENV("POD_IP=10.1.2.3"), NULL);
    cr_assert(eq(u32, cfg.header_timeout_ms, 10000));
    cr_assert(eq(u32, cfg.send_timeout_ms, 30000));
    cr_assert(eq(u32, cfg.api_idle_timeout_ms, 300000));
    cr_assert(eq(u32, cfg.api_output_max_bytes, 256u << 10));
    parse_ok(ENV("POD_IP=10.1.2.3", "RINGD_API_OUTPUT_MAX=1M"),
             ARGS("--header-timeout", "2s", "--send-timeout=500ms", "--api-timeout", "0"));
    cr_assert(eq(u32, cfg.header_timeout_ms, 2000));
    cr_assert(eq(u32, cfg.send_timeout_ms, 500));
    cr_assert(eq(u32, cfg.api_idle_timeout_ms, 0));
    cr_assert(eq(u32, cfg.api_output_max_bytes, 1u << 20));
    parse_ok(ENV("POD_IP=10.1.2.3"), ARGS("--api-output-max", "4096", "--api-timeout", "1m"));
    cr_assert(eq(u32, cfg.api_output_max_bytes, 4096));
    cr_assert(eq(u32, cfg.api_idle_timeout_ms, 60000));
    /* A duration that 0 turns off takes a zero with a unit too; one that 0 does not stays
     * refused, "0s" as "0". */
    parse_ok(ENV("POD_IP=10.1.2.3"),
             ARGS("--api-timeout", "0s", "--drain-timeout", "0ms", "--delayed-rebalance", "0m"));
    cr_assert(eq(u32, cfg.api_idle_timeout_ms, 0));
    cr_assert(eq(u32, cfg.drain_timeout_ms, 0));
    cr_assert(eq(u32, cfg.restart_hold_ms, 0));
    parse_fails(ENV("POD_IP=10.1.2.3"), ARGS("--header-timeout=0s"),
                "ringd: --header-timeout: duration \"0s\" is out of range (expected 1ms to 24h)");
    parse_fails(ENV("POD_IP=10.1.2.3"), ARGS("--api-output-max=1K"),
                "ringd: --api-output-max: size \"1K\" is too small (at least 4K)");
    parse_fails(ENV("POD_IP=10.1.2.3"), ARGS("--api-output-max=17M"),
                "ringd: --api-output-max: invalid size \"17M\" (expected bytes, or e.g. 64K, 1M; "
                "at most 16777216)");
    parse_fails(ENV("POD_IP=10.1.2.3"), ARGS("--header-timeout=0"),
                "ringd: --header-timeout: invalid duration \"0\" (expected e.g. 500ms, 2s, 1m)");
}

Test(ringd_config, proxy_pool_and_queue_flags_default_parse_and_bound)
{
    parse_ok(ENV("POD_IP=10.1.2.3"), NULL);
    cr_assert(eq(u32, cfg.proxy_max_app_conns, 1024));
    cr_assert(eq(u32, cfg.proxy_max_pending, 1024));
    parse_ok(ENV("POD_IP=10.1.2.3", "RINGD_PROXY_MAX_PENDING=0"),
             ARGS("--proxy-max-app-conns", "4"));
    cr_assert(eq(u32, cfg.proxy_max_app_conns, 4));
    cr_assert(eq(u32, cfg.proxy_max_pending, 0)); /* no queue: 503 at once */
    parse_fails(ENV("POD_IP=10.1.2.3"), ARGS("--proxy-max-app-conns=0"),
                "ringd: --proxy-max-app-conns: 0 is out of range (expected 1 to 65536)");
    parse_fails(ENV("POD_IP=10.1.2.3"), ARGS("--proxy-max-pending=4097"),
                "ringd: --proxy-max-pending: 4097 is out of range (expected 0 to 4096)");
}

Test(ringd_config, drain_and_app_health_flags)
{
    struct ringd_config c;
    char *argv[] = { "ringd",
                     "--advertise=10.0.0.1",
                     "--proxy=127.0.0.1:7070",
                     "--app=127.0.0.1:8080",
                     "--app-health=/healthz?full=1",
                     "--app-health-interval=500ms",
                     "--app-health-timeout=2s",
                     "--app-health-threshold=5",
                     "--app-health-holddown=0",
                     "--drain-timeout=0",
                     NULL };
    cr_assert(eq(int, ringd_config_parse(&c, 10, argv, NULL, err, sizeof(err)), 0), "%s", err);
    cr_assert(eq(str, c.app_health_path, "/healthz?full=1"));
    cr_assert(eq(u32, c.app_health_interval_ms, 500));
    cr_assert(eq(u32, c.app_health_timeout_ms, 500), "the timeout is capped by the interval");
    cr_assert(eq(u32, c.app_health_threshold, 5));
    cr_assert(eq(u32, c.app_health_holddown_ms, 0));
    cr_assert(eq(u32, c.drain_timeout_ms, 0), "0: leave at once");
    char *plain[] = { "ringd", "--advertise=10.0.0.1", NULL };
    cr_assert(eq(int, ringd_config_parse(&c, 2, plain, NULL, err, sizeof(err)), 0), "%s", err);
    cr_assert(eq(u32, c.drain_timeout_ms, 20000));
    cr_assert(eq(str, c.app_health_path, ""));
    cr_assert(eq(u32, c.app_health_interval_ms, 2000));
    cr_assert(eq(u32, c.app_health_threshold, 3));
    cr_assert(eq(u32, c.app_health_holddown_ms, 30000));
}

Test(ringd_config, environment_errors_name_the_variable)
{
    parse_fails(ENV("POD_IP=10.1.2.3", "RINGD_PROBE_INTERVAL=soon"), NULL,
                "ringd: RINGD_PROBE_INTERVAL: invalid duration \"soon\" (expected e.g. 500ms, "
                "2s, 1m)");
    parse_fails(ENV("POD_IP=not-an-ip"), NULL,
                "ringd: $POD_IP: invalid address \"not-an-ip\": the host must be a numeric IP "
                "address");
    parse_fails(NO_ENV, NULL,
                "ringd: --advertise: not set, and neither $POD_IP nor --bind 0.0.0.0 gives an "
                "address peers can reach (set e.g. --advertise 10.0.0.5)");
    char long_name[MEMBER_ID_BYTES_MAX + 16];
    memset(long_name, 'p', sizeof(long_name));
    memcpy(long_name, "POD_NAME=", 9);
    long_name[sizeof(long_name) - 1] = '\0';
    parse_fails(ENV("POD_IP=10.1.2.3", long_name), NULL,
                "ringd: $POD_NAME: too long (134 bytes, at most 128)");
}

Test(ringd_config, too_many_seeds)
{
    static char list[RINGD_SEEDS_MAX * 16 + 32];
    size_t off = 0;
    for (int i = 0; i <= RINGD_SEEDS_MAX; i++) {
        off += (size_t)snprintf(list + off, sizeof(list) - off, "10.0.%d.%d:1,", i / 250, i % 250);
    }
    parse_fails(ENV("POD_IP=10.1.2.3"), ARGS("--join", list),
                "ringd: --join: too many seeds (at most 64)");
}

Test(ringd_config, help_and_version_short_circuit)
{
    parse_ok(NO_ENV, ARGS("--help", "--bogus"));
    cr_assert(eq(u8, cfg.show_help, 1));
    parse_ok(NO_ENV, ARGS("-h"));
    cr_assert(eq(u8, cfg.show_help, 1));
    parse_ok(NO_ENV, ARGS("--version"));
    cr_assert(eq(u8, cfg.show_version, 1));
}

Test(ringd_config, help_mentions_every_flag_its_variable_and_default)
{
    static const char *const flags[] = {
        "id",
        "bind",
        "advertise",
        "join",
        "join-file",
        "socket",
        "admin",
        "proxy",
        "app",
        "key-header",
        "connect-timeout",
        "request-timeout",
        "idle-timeout",
        "header-timeout",
        "send-timeout",
        "api-timeout",
        "api-output-max",
        "proxy-retries",
        "max-body",
        "proxy-max-app-conns",
        "proxy-max-pending",
        "vnodes",
        "weight",
        "weight-max",
        "label",
        "group",
        "keyfile",
        "insecure",
        "gossip-accept-plaintext",
        "gossip-send-plaintext",
        "replay-window",
        "probe-interval",
        "probe-timeout",
        "indirect-probes",
        "suspect-timeout",
        "sync-interval",
        "log-level",
        "log-format",
        "exclusive",
        "lease",
        "lease-drift-ppm",
        "release-timeout",
        "handoff-wait",
        "drain-timeout",
        "app-health",
        "app-health-interval",
        "app-health-timeout",
        "app-health-threshold",
        "app-health-holddown",
    };
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ringd_config_usage(f);
    fclose(f);
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        char flag[64];
        char env[64];
        snprintf(flag, sizeof(flag), "  --%s ", flags[i]);
        snprintf(env, sizeof(env), " RINGD_");
        for (const char *p = flags[i]; *p; p++) {
            size_t n = strlen(env);
            env[n] = *p == '-' ? '_' : (char)(*p - 'a' + 'A');
            env[n + 1] = '\0';
        }
        strcat(env, " ");
        cr_assert(ne(ptr, strstr(text, flag), NULL), "--help lacks %s", flag);
        cr_assert(ne(ptr, strstr(text, env), NULL), "--help lacks %s", env);
    }
    static const char *const defaults[] = { "[0.0.0.0:7946]",   "[/run/ringd/ringd.sock]",
                                            "[127.0.0.1:7947]", "[X-Ring-Key]",
                                            "[1024]",           "[300ms]",
                                            "[150ms]",          "[30s]",
                                            "[info]",           "--help",
                                            "--version" };
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        cr_assert(ne(ptr, strstr(text, defaults[i]), NULL), "--help lacks %s", defaults[i]);
    }
    /* Aligned: every flag line starts its variable in the same column. */
    size_t column = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char *env = strstr(line, " RINGD_");
        if (strncmp(line, "  --", 4) != 0 || env == NULL) {
            continue;
        }
        column = column ? column : (size_t)(env - line);
        cr_assert(eq(sz, (size_t)(env - line), column), "misaligned: %s", line);
        cr_assert(le(sz, strlen(line), 100), "too wide: %s", line);
    }
    cr_assert(gt(sz, column, 0));
    free(text);
}

/* Secure by default: a key file or an explicit --insecure; switches take no value. */
Test(ringd_config, a_key_or_insecure_is_required_and_switches_take_no_value)
{
    parse_ok(NO_ENV, ARGS("--bind", "127.0.0.1:7946"));
    cr_assert(eq(int, ringd_config_require_key(&cfg, err, sizeof(err)), -EINVAL));
    cr_assert(ne(ptr, strstr(err, "no cluster key"), NULL), "%s", err);
    parse_ok(NO_ENV, ARGS("--bind", "127.0.0.1:7946", "--insecure"));
    cr_assert(eq(u8, cfg.insecure, 1));
    cr_assert(eq(int, ringd_config_require_key(&cfg, err, sizeof(err)), 0));
    parse_ok(ENV("RINGD_INSECURE=true"), ARGS("--bind", "127.0.0.1:7946"));
    cr_assert(eq(u8, cfg.insecure, 1));
    parse_ok(NO_ENV, ARGS("--bind", "127.0.0.1:7946", "--keyfile", "/k", "--gossip-send-plaintext",
                          "--gossip-accept-plaintext=yes", "--replay-window", "5s"));
    cr_assert(eq(u8, cfg.gossip_send_plaintext, 1));
    cr_assert(eq(u8, cfg.gossip_accept_plaintext, 1));
    cr_assert(eq(u32, cfg.replay_window_ms, 5000));
    cr_assert(eq(int, ringd_config_require_key(&cfg, err, sizeof(err)), 0));
    parse_fails(NO_ENV, ARGS("--bind", "127.0.0.1:7946", "--insecure", "--keyfile", "/k"),
                "ringd: --insecure: contradicts --keyfile: give one or the other");
    parse_fails(NO_ENV, ARGS("--bind", "127.0.0.1:7946", "--gossip-accept-plaintext"),
                "ringd: --gossip-accept-plaintext: needs --keyfile: it eases a plaintext cluster "
                "onto keys");
    parse_fails(NO_ENV, ARGS("--bind", "127.0.0.1:7946", "--insecure=maybe"),
                "ringd: --insecure: invalid value \"maybe\" (expected true or false)");
}

Test(ringd_config, exclusive_is_a_switch_with_its_lease_flags)
{
    parse_ok(NO_ENV, ARGS("--advertise", "10.0.0.1", "--shards", "64"));
    cr_assert(eq(u8, cfg.exclusive, 0), "off by default");
    cr_assert(eq(u32, cfg.lease_ms, 3000));
    cr_assert(eq(u32, cfg.lease_drift_ppm, 10000));
    cr_assert(eq(u32, cfg.lease_release_timeout_ms, 10000));
    cr_assert(eq(u32, cfg.proxy_lease_wait_ms, 5000));
    /* lease.h's defaults are ringd's */
    struct lease_config lib = { .id = "a", .id_len = 1, .shards = 1 };
    lease_config_defaults(&lib);
    cr_assert(eq(u32, cfg.lease_ms, lib.lease_ms));
    cr_assert(eq(u32, cfg.lease_drift_ppm, lib.drift_ppm));
    cr_assert(eq(u32, cfg.lease_release_timeout_ms, lib.release_timeout_ms));
    parse_ok(NO_ENV, ARGS("--advertise", "10.0.0.1", "--shards", "64", "--exclusive", "--lease",
                          "2s", "--lease-drift-ppm", "500", "--release-timeout", "30s",
                          "--handoff-wait", "250ms"));
    cr_assert(eq(u8, cfg.exclusive, 1), "alone, the switch is on");
    cr_assert(eq(u32, cfg.lease_ms, 2000));
    cr_assert(eq(u32, cfg.lease_drift_ppm, 500));
    cr_assert(eq(u32, cfg.lease_release_timeout_ms, 30000));
    cr_assert(eq(u32, cfg.proxy_lease_wait_ms, 250));
    parse_ok(NO_ENV, ARGS("--advertise", "10.0.0.1", "--shards", "8", "--exclusive=false"));
    cr_assert(eq(u8, cfg.exclusive, 0));
    parse_ok(ENV("RINGD_EXCLUSIVE=yes", "RINGD_SHARDS=8"), ARGS("--advertise", "10.0.0.1"));
    cr_assert(eq(u8, cfg.exclusive, 1));
}

Test(ringd_config, exclusive_needs_shards_no_group_and_a_usable_lease)
{
    parse_fails(NO_ENV, ARGS("--advertise", "10.0.0.1", "--exclusive"),
                "ringd: --exclusive: needs --shards S: leases are held per logical shard");
    parse_fails(NO_ENV,
                ARGS("--advertise", "10.0.0.1", "--shards", "8", "--exclusive", "--group", "g1"),
                "ringd: --exclusive: does not work with --group yet: leases are voted on by one "
                "membership");
    parse_fails(NO_ENV,
                ARGS("--advertise", "10.0.0.1", "--shards", "8", "--exclusive", "--lease", "50ms"),
                "ringd: --lease: 50ms is too short (at least 100ms: a lease must outlast a round "
                "trip)");
    parse_fails(NO_ENV,
                ARGS("--advertise", "10.0.0.1", "--shards", "8", "--exclusive", "--lease", "20m"),
                "ringd: --lease: 1200000ms is too long (at most 10m: the lease's wire field "
                "bounds it)");
    parse_fails(NO_ENV, ARGS("--advertise", "10.0.0.1", "--exclusive=maybe"),
                "ringd: --exclusive: invalid value \"maybe\" (expected true or false)");
    parse_fails(NO_ENV, ARGS("--advertise", "10.0.0.1", "--lease-drift-ppm", "100000"),
                "ringd: --lease-drift-ppm: 100000 is out of range (expected 1 to 99999)");
}
