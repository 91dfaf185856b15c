/*
 * ringctl's interface against real ringd processes: options parsed as ringd parses its flags
 * (durations, missing values, `--`, per-command help), version, members sorted and filtered,
 * JSON with checksums as hex strings, one shape for lookup, watch lines with a type and a
 * timestamp.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

/* Prints 1 when every line of stdin is a JSON object with the keys in argv[1] (comma-separated)
 * and "ts" (if asked) is an RFC 3339 UTC timestamp with milliseconds. */
#define PY_LINES_HAVE                                                                              \
    "python3 -c 'import json,re,sys\n"                                                             \
    "ks=sys.argv[1].split(\",\")\n"                                                                \
    "ls=[json.loads(l) for l in sys.stdin if l.strip()]\n"                                         \
    "ok=len(ls)>0 and all(all(k in d for k in ks) for d in ls)\n"                                  \
    "ok=ok and all(re.fullmatch(r\"\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\", "        \
    "d[\"ts\"]) "                                                                                  \
    "for d in ls if \"ts\" in d)\n"                                                                \
    "print(int(ok), len(ls), [d.get(\"type\") for d in ls])'"

static void setup(void)
{
    cluster_init();
}

static void teardown(void)
{
    cluster_stop();
}

TestSuite(ringctl, .init = setup, .fini = teardown, .timeout = 40);

static void converge(int n)
{
    int ms = cluster_wait(cluster_converged, (void *)(intptr_t)n, 10000);
    cr_assert(ge(int, ms, 0), "%d nodes did not converge in 10 s", n);
}

/* Runs `ringctl --socket <node i's> ARGS 2>&1`; returns its exit status. */
static int ctl(int i, const char *args, char *out, size_t cap)
{
    char cmd[2048], sock[128];
    snprintf(cmd, sizeof(cmd), "%s --socket %s %s 2>&1", RINGCTL_BIN,
             cluster_socket(i, sock, sizeof(sock)), args);
    return cluster_sh(cmd, out, cap);
}

Test(ringctl, options_parse_like_ringds_flags_and_bad_ones_exit_2)
{
    static char out[1 << 16];
    /* no ringd is needed to refuse these: exit 2 before connecting */
    const char *bad[] = {
        "--timeout abc members",
        "--timeout -5 members",
        "--timeout 5000 members",
        "--timeout 0s members",
        "--timeout members",
        "lookup -n",
        "lookup -n 0 k",
        "lookup -n x k",
        "lookup a b",
        "lookup",
        "ring extra",
        "members --status bogus",
        "members --label",
        "members -x",
        "-o yaml members",
        "join",
        "nosuch",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert(eq(int, ctl(0, bad[i], out, sizeof(out)), 2), "ringctl %s: %s", bad[i], out);
        cr_assert(not(eq(ptr, strstr(out, "ringctl"), NULL)), "ringctl %s: %s", bad[i], out);
    }
    cr_assert(eq(int, ctl(0, "--timeout abc members", out, sizeof(out)), 2));
    cr_assert(not(eq(ptr, strstr(out, "invalid duration \"abc\""), NULL)), "%s", out);
    const char *helps[] = { "members", "lookup", "ring", "watch",  "checksums", "join",
                            "leave",   "stats",  "keys", "groups", "shards",    "version" };
    for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
        char args[64], want[64];
        snprintf(args, sizeof(args), "%s --help", helps[i]);
        snprintf(want, sizeof(want), "usage: ringctl %s", helps[i]);
        cr_assert(eq(int, ctl(0, args, out, sizeof(out)), 0), "%s: %s", args, out);
        cr_assert(eq(ptr, strstr(out, want), out), "%s: %s", args, out);
        snprintf(args, sizeof(args), "%s -h", helps[i]);
        cr_assert(eq(int, ctl(0, args, out, sizeof(out)), 0), "%s: %s", args, out);
    }
    cr_assert(eq(int, ctl(0, "--version", out, sizeof(out)), 0), "%s", out);
    cr_assert(eq(ptr, strstr(out, "ringctl "), out), "%s", out);
    cr_assert(not(eq(ptr, strstr(out, "(commit "), NULL)), "%s", out);

    cluster_start(1);
    converge(1);
    /* a key that looks like an option goes after --; options may follow the key */
    cr_assert(eq(int, ctl(0, "--timeout 2s lookup -- --help", out, sizeof(out)), 0), "%s", out);
    cr_assert(eq(ptr, strstr(out, "--help -> n0 ("), out), "%s", out);
    cr_assert(eq(int, ctl(0, "lookup -n 1 --timeout=500ms -- -n", out, sizeof(out)), 0), "%s", out);
    cr_assert(eq(ptr, strstr(out, "-n -> n0 ("), out), "%s", out);
    cr_assert(eq(int, ctl(0, "lookup user:1 -n1 -o json", out, sizeof(out)), 0), "%s", out);
    cr_assert(eq(ptr, strstr(out, "{\"key\":\"user:1\""), out), "%s", out);
    cr_assert(eq(int, ctl(0, "version", out, sizeof(out)), 0), "%s", out);
    cr_assert(not(eq(ptr, strstr(out, "\nringd "), NULL)), "%s", out);
    cr_assert(
        eq(int, ctl(0, "version -o json | " PY_LINES_HAVE " ringctl,ringd", out, sizeof(out)), 0));
    cr_assert(eq(ptr, strstr(out, "1 1"), out), "%s", out);
}

Test(ringctl, members_are_sorted_by_id_and_filtered_by_status_and_label)
{
    const char *zones[] = { "zone=z0", "zone=z1", "zone=z0" };
    for (int i = 0; i < 3; i++) {
        cl.extra_args[i][0] = "--label";
        cl.extra_args[i][1] = zones[i];
    }
    cluster_start(3);
    converge(3);
    static char out[1 << 16];
    for (int node = 0; node < 3; node++) {
        cr_assert(eq(int, ctl(node, "members", out, sizeof(out)), 0), "%s", out);
        const char *a = strstr(out, "\nn0 "), *b = strstr(out, "\nn1 "), *c = strstr(out, "\nn2 ");
        cr_assert(a != NULL && b != NULL && c != NULL && a < b && b < c, "not sorted:\n%s", out);
    }
    cr_assert(eq(int, ctl(2, "members --label zone=z0", out, sizeof(out)), 0), "%s", out);
    cr_assert(strstr(out, "\nn0 ") != NULL && strstr(out, "\nn2 ") != NULL, "%s", out);
    cr_assert(eq(ptr, strstr(out, "\nn1 "), NULL), "%s", out);
    cr_assert(eq(
        int, ctl(2, "members --label zone --status=alive --label zone=z1", out, sizeof(out)), 0));
    cr_assert(strstr(out, "\nn1 ") != NULL && strstr(out, "\nn0 ") == NULL, "%s", out);
    cr_assert(eq(int, ctl(2, "members --status faulty,left", out, sizeof(out)), 0), "%s", out);
    cr_assert(eq(ptr, strstr(out, "\nn"), NULL), "%s", out);
    /* -o json is --json; the list is sorted and filtered the same way */
    cr_assert(eq(int, ctl(1, "members -o json --label zone=z0", out, sizeof(out)), 0), "%s", out);
    cr_assert(eq(ptr, strstr(out, "{\"members\":[{\"id\":\"n0\""), out), "%s", out);
    cr_assert(not(eq(ptr, strstr(out, "},{\"id\":\"n2\""), NULL)), "%s", out);
    cr_assert(eq(ptr, strstr(out, "\"n1\""), NULL), "%s", out);
}

/* The hex of the text output's "ring XXXXXXXXXXXXXXXX:" line, or "". */
static void ring_hex(int node, char hex[17])
{
    char out[4096];
    hex[0] = '\0';
    cr_assert(eq(int, ctl(node, "ring", out, sizeof(out)), 0), "%s", out);
    cr_assert(eq(ptr, strstr(out, "ring "), out), "%s", out);
    memcpy(hex, out + 5, 16);
    hex[16] = '\0';
}

Test(ringctl, json_checksums_are_the_hex_strings_text_shows_and_lookup_has_one_shape)
{
    cluster_start(2);
    converge(2);
    static char out[1 << 16];
    char hex[17], want[64];
    ring_hex(0, hex);
    snprintf(want, sizeof(want), "\"ring_checksum\":\"%s\"", hex);
    const char *cmds[] = { "ring --json", "stats --json", "checksums --json" };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        cr_assert(eq(int, ctl(0, cmds[i], out, sizeof(out)), 0), "%s: %s", cmds[i], out);
        cr_assert(not(eq(ptr, strstr(out, want), NULL)), "%s: no %s in %s", cmds[i], want, out);
    }
    /* no checksum anywhere is a JSON number */
    cr_assert(eq(int,
                 ctl(0,
                     "stats --json | python3 -c 'import json,sys\n"
                     "d=json.load(sys.stdin)\n"
                     "bad=[k for k in d if \"checksum\" in k and not isinstance(d[k],str)]\n"
                     "print(bad); sys.exit(1 if bad else 0)'",
                     out, sizeof(out)),
                 0),
              "%s", out);
    /* lookup --json: the same keys with and without -n, "owners" a list either way */
    char one[4096], two[4096];
    cr_assert(eq(int,
                 ctl(1,
                     "lookup user:7 --json | python3 -c 'import json,sys; "
                     "print(sorted(json.load(sys.stdin)))'",
                     one, sizeof(one)),
                 0));
    cr_assert(eq(int,
                 ctl(1,
                     "lookup user:7 -n 2 --json | python3 -c 'import json,sys; "
                     "print(sorted(json.load(sys.stdin)))'",
                     two, sizeof(two)),
                 0));
    cr_assert(eq(str, one, two));
    cr_assert(eq(str, one, "['address', 'id', 'key', 'owners']\n"));
}

/* keygen: a base64 32-byte key on stdout, or a new 0600 file that is never overwritten
 * without --force; "-o -" is stdout. Needs no ringd. */
Test(ringctl, keygen_writes_a_fresh_key_and_never_overwrites_without_force)
{
    char out[512], cmd[1024], path[200], first[128], second[128];
    snprintf(cmd, sizeof(cmd), "%s keygen", RINGCTL_BIN);
    cr_assert(eq(int, cluster_sh(cmd, first, sizeof(first)), 0), "%s", first);
    cr_assert(eq(sz, strlen(first), 45), "%s", first); /* 44 base64 chars and a newline */
    cr_assert(eq(int, cluster_sh(cmd, second, sizeof(second)), 0));
    cr_assert(ne(str, first, second), "two keys alike");
    snprintf(path, sizeof(path), "%s/k", cl.dir);
    snprintf(cmd, sizeof(cmd), "cd %s && %s keygen -o - && test ! -e ./-", cl.dir, RINGCTL_BIN);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "-o -: %s", out);
    cr_assert(eq(sz, strlen(out), 45), "%s", out);
    snprintf(cmd, sizeof(cmd), "umask 000; %s keygen -o %s && stat -c %%a %s", RINGCTL_BIN, path,
             path);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
    cr_assert(eq(str, out, "600\n"));
    snprintf(cmd, sizeof(cmd), "%s keygen -o %s 2>&1", RINGCTL_BIN, path);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 1), "overwrote: %s", out);
    cr_assert(ne(ptr, strstr(out, path), NULL), "the message names the file: %s", out);
    snprintf(cmd, sizeof(cmd), "cat %s", path);
    cr_assert(eq(int, cluster_sh(cmd, first, sizeof(first)), 0));
    snprintf(cmd, sizeof(cmd), "%s keygen --force -o %s && cat %s", RINGCTL_BIN, path, path);
    cr_assert(eq(int, cluster_sh(cmd, second, sizeof(second)), 0), "%s", second);
    cr_assert(ne(str, first, second), "--force did not replace the key");
}

/* A node whose seed never answers has not joined: its checksums compare nothing, and say
 * so (exit 3) rather than "agree". */
Test(ringctl, checksums_on_a_node_that_never_joined_exits_3)
{
    cluster_start_node(0, 1); /* node 1, its seed, is never started */
    static char out[4096];
    int rv = ctl(0, "checksums", out, sizeof(out));
    cr_assert(eq(int, rv, 3), "%s", out);
    cr_assert(ne(ptr, strstr(out, "has not joined yet"), NULL), "%s", out);
}

/* n2 frozen until node 0 holds it faulty. */
static int n2_faulty_at_0(void *arg)
{
    (void)arg;
    char status[16] = "";
    uint64_t inc = 0;
    return cluster_member(0, "n2", status, sizeof(status), &inc) == 0 &&
           strcmp(status, "faulty") == 0;
}

/* checksums asks the members held faulty too (across a partition they answer with their own
 * checksums: a split); a faulty one that does not answer is listed as down, exit 0, and an
 * alive one that does not answer is unreachable, exit 3. */
Test(ringctl, checksums_asks_faulty_members_and_lists_them_down)
{
    cluster_start(3);
    converge(3);
    static char out[1 << 16];
    cluster_signal(2, SIGSTOP);
    cr_assert(ge(int, cluster_wait(n2_faulty_at_0, NULL, 15000), 0), "n2 never faulty at n0");
    int rv = ctl(0, "--timeout 500ms checksums --json", out, sizeof(out));
    cluster_signal(2, SIGCONT);
    cr_assert(eq(int, rv, 0), "%s", out);
    cr_assert(ne(ptr, strstr(out, "\"asked\":3"), NULL), "the faulty member was not asked: %s",
              out);
    cr_assert(ne(ptr, strstr(out, "\"down\":[{\"id\":\"n2\""), NULL), "%s", out);
    cr_assert(ne(ptr, strstr(out, "\"unreachable\":[]"), NULL), "%s", out);
}

Test(ringctl, watch_json_lines_have_a_type_and_a_timestamp)
{
    cluster_start_node(0, -1);
    converge(1);
    char cmd[1024], sock[128], out[8192];
    snprintf(cmd, sizeof(cmd), "timeout 4 %s --socket %s watch --json > %s/watch.json &",
             RINGCTL_BIN, cluster_socket(0, sock, sizeof(sock)), cl.dir);
    cr_assert(eq(int, system(cmd), 0));
    cluster_sleep_ms(300);
    cluster_start_node(1, 0);
    converge(2);
    cluster_sleep_ms(300);
    snprintf(cmd, sizeof(cmd), PY_LINES_HAVE " type,ts,ring_checksum,ring_members < %s/watch.json",
             cl.dir);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
    cr_assert(eq(ptr, strstr(out, "1 "), out), "%s", out);
    cr_assert(not(eq(ptr, strstr(out, "['ring', 'ring_changed'"), NULL)), "%s", out);
}
