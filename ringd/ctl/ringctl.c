/*
 * ringctl: the command line for ringd's local API.
 *
 *   ringctl [OPTIONS] COMMAND [COMMAND OPTIONS] [--] [ARGS]
 *
 * Options may come before or after the command; `--` ends them, so `ringctl lookup -- -n`
 * looks up the key "-n". Every command takes -h/--help. An option that takes a value and has
 * none, an unknown option and a bad value are usage errors. Durations are written as ringd's
 * flags write them (500ms, 2s, 1m: lib/config.c parses both).
 *
 * Exit status: 0 success; 1 ringd unreachable or an error answer; 2 usage; 3 (checksums) the
 * members disagree or some could not be asked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "config.h"
#include "ctl.h"
#include "ring/error.h"
#include "ring/seal.h"
#include "version.h"

#define DEFAULT_SOCKET     "/run/ringd/ringd.sock"
#define DEFAULT_TIMEOUT_MS 5000

/* A command: its name, what it takes (for its usage line), what it does, the options of its
 * own it accepts, and how many positional arguments. */
struct command {
    const char *name;
    const char *args;
    const char *summary; /* one line for `ringctl --help` */
    const char *help;    /* more for `ringctl COMMAND --help`, or "" */
    const char *options; /* lines of its own options' help, "" for none */
    int (*fn)(struct ctl *ctl, const struct ctl_args *a);
    int pos_min, pos_max;
    int connects; /* 0: the command opens its own connection (version) */
};

static const struct command commands[] = {
    { "members", "[--status S] [--label K=V] [--group G]", "the member table, sorted by id",
      "Each member's id, address, status, incarnation, labels and ring share.",
      "  --status S           only members of status S: alive, draining (alive, owning no\n"
      "                       keys), suspect, faulty, left (a comma-separated list, or\n"
      "                       repeat the option)\n"
      "  --label K=V          only members with label K=V (K alone: with label K);\n"
      "                       repeat to require several\n"
      "  --group G            the members of group G, asked of a contact there\n",
      ctl_members, 0, 0, 1 },
    { "lookup", "[-n N] [--] KEY", "the owner of KEY (-n N: its N owners)",
      "The owner of KEY; with -n N, its N owners in ring order (replicas). A key that\n"
      "starts with '-' goes after --.",
      "  -n N                 N owners (1..64), primary first\n", ctl_lookup, 1, 1, 1 },
    { "ring", "", "ring ownership per member, with a bar chart", "", "", ctl_ring, 0, 0, 1 },
    { "watch", "", "print every ring change until interrupted",
      "One line per ring change, and per change of the shards this node owns.", "", ctl_watch, 0, 0,
      1 },
    { "checksums", "", "ask every member for its checksums (exit 3: split)",
      "Asks every member over its gossip port for its membership and ring checksums and\n"
      "groups the members that agree; exit 3 when they disagree or some did not answer.",
      "", ctl_checksums, 0, 0, 1 },
    { "join", "[--] ADDR...", "join the cluster through ip:port seeds", "", "", ctl_join, 1,
      CTL_ARGS_MAX, 1 },
    { "leave", "", "leave the cluster gracefully (ringd then exits)", "", "", ctl_leave, 0, 0, 1 },
    { "force-leave", "[--] ID", "mark failed member ID as left everywhere",
      "Marks member ID, suspect or faulty and never coming back, as left: it is no longer\n"
      "probed and leaves every node's member table and ring as the news spreads by gossip\n"
      "(as Serf's force-leave). An alive member is refused (exit 1): it would refute it.",
      "", ctl_force_leave, 1, 1, 1 },
    { "drain", "[--cancel | --restart]", "give this node's keys away, wait until drained",
      "Drains this node: it stays a member and keeps forwarding, but owns no keys; every\n"
      "node moves its keys at once. Waits until every node has heard and what it was\n"
      "serving is done (exit 0), or --timeout (exit 1; default 20s here). Kubernetes: the\n"
      "app's preStop hook. --cancel takes the keys back (an app health check or a SIGTERM\n"
      "drain keeps them away until it ends). --restart (ringd --delayed-rebalance) keeps the\n"
      "keys instead: every node holds requests for them until this node is back from the\n"
      "restart that follows, so they move 0 times, not 2.",
      "  --cancel             end this operator drain or restart\n"
      "  --restart            hold the keys for a restart instead of giving them away\n",
      ctl_drain, 0, 0, 1 },
    { "wait-ready", "[--serving]", "wait until ringd has joined (exit 0) or --timeout",
      "Waits until the local ringd has joined and built its ring and is not leaving,\n"
      "retrying while its socket is not there yet: an app's start runs it first, so it\n"
      "starts once ringd can route (default --timeout here: 60s). With --serving, waits\n"
      "for /readyz's whole answer instead (also not draining, app healthy): not for the\n"
      "app itself, whose health check that includes.",
      "  --serving            wait for full readiness (/readyz)\n", ctl_wait_ready, 0, 0, 0 },
    { "stats", "", "counters and state of the local ringd", "", "", ctl_stats, 0, 0, 1 },
    { "keys", "[list | install KEY | use KEY | remove KEY]",
      "the cluster's keyring: list, or change it on every node",
      "The runtime keyring, on every alive member (as Serf's): list shows each key's\n"
      "fingerprint and how many nodes hold it; install adds KEY (base64, from ringctl keygen)\n"
      "as a secondary; use makes KEY (or its fingerprint) the primary; remove drops it (never\n"
      "the primary). Prints \"N/M nodes ok\" and each failure; exit 1 if any node failed.\n"
      "The runtime keyring is in memory: write the key file too (a reload replaces it).",
      "", ctl_keys, 0, 2, 1 },
    { "keygen", "[-o FILE] [--force]", "write a fresh cluster key (ringd --keyfile)",
      "A new random cluster key (32 bytes from libsodium, base64) for ringd --keyfile:\n"
      "printed, or written to FILE with mode 0600. Keep it secret; give every node the same.",
      "  -o, --output FILE    write the key to FILE (created 0600)\n"
      "  --force              replace FILE if it exists (its old key is lost)\n",
      ctl_keygen, 0, 0, 0 },
    { "groups", "", "sub-sharding: the groups known, sizes, contacts",
      "Every group known (ringd --group), its size, ring checksum and contacts.", "", ctl_groups, 0,
      0, 1 },
    { "shards", "", "the logical shards this node owns (ringd --shards)",
      "The logical shards this node owns and, with ringd --exclusive, each lease's state\n"
      "(acquiring, held, releasing, lost) and epoch.",
      "", ctl_shards, 0, 0, 1 },
    { "release", "SHARD", "hand a held shard on (ringd --exclusive)",
      "Tells ringd the app is done with SHARD (after a releasing notice): it moves to its\n"
      "next owner at once instead of after --release-timeout.",
      "", ctl_release, 1, 1, 1 },
    { "version", "", "ringctl's version and commit, then ringd's", "", "", ctl_version, 0, 0, 0 },
};

static const char global_options[] =
    "  --socket PATH        ringd's local API socket\n"
    "                       [$RINGD_SOCKET, else " DEFAULT_SOCKET "]\n"
    "  --keyfile PATH       the cluster key file, for the queries to peers' gossip\n"
    "                       ports (checksums, members --group) [$RINGD_KEYFILE]\n"
    "  --json, -o json      print JSON: one object (watch: one per line)\n"
    "  -o text              print tables for a person (the default)\n"
    "  --timeout DURATION   wait this long for an answer, e.g. 500ms, 2s, 1m [5s]\n"
    "  -h, --help           this help (after a command: that command's)\n"
    "  --version            print ringctl's version and exit\n";

static void usage(FILE *f)
{
    fprintf(f, "usage: ringctl [OPTIONS] COMMAND [COMMAND OPTIONS] [--] [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < RING_ARRAY_LEN(commands); i++) {
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(f, "\noptions (before or after the command):\n%s", global_options);
    fprintf(f, "\n`ringctl COMMAND --help` describes a command. Exit status: 0; 1 ringd\n"
               "unreachable or an error answer; 2 usage; 3 checksums found a split.\n");
}

static void command_usage(FILE *f, const struct command *c)
{
    fprintf(f, "usage: ringctl %s%s%s\n\n%s\n", c->name, c->args[0] != '\0' ? " " : "", c->args,
            c->help[0] != '\0' ? c->help : c->summary);
    if (c->options[0] != '\0') {
        fprintf(f, "\noptions:\n%s", c->options);
    }
    fprintf(f, "\nglobal options:\n%s", global_options);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < RING_ARRAY_LEN(commands); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

/* ---- options ---------------------------------------------------------------------------- */

/* Why parsing stopped: PARSE_OK to go on, or an exit status (0 after a help or version). */
#define PARSE_OK (-1)

struct parser {
    int argc;
    char **argv;
    int i;
    const char *where; /* "ringctl" or "ringctl lookup" */
};

static int usage_error(const struct parser *p, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", p->where);
    fprintf(stderr, fmt, ctl_shown(arg));
    fprintf(stderr, " (see %s --help)\n", p->where);
    return CTL_EXIT_USAGE;
}

/* Whether argv[p->i] is option |name|, alone or as "name=value" (|*value| then points past
 * the '='). A short option also matches "-nVALUE". */
static int is_opt(const struct parser *p, const char *name, const char **value)
{
    const char *a = p->argv[p->i];
    size_t len = strlen(name);
    *value = NULL;
    if (strncmp(a, name, len) != 0) {
        return 0;
    }
    if (a[len] == '\0') {
        return 1;
    }
    if (a[len] == '=' || (name[1] != '-' && len == 2)) {
        *value = a + len + (a[len] == '=');
        return 1;
    }
    return 0;
}

/* The value of the option at argv[p->i]: |inline_value|, or the next argument. NULL (after a
 * usage error) when there is none. */
static const char *take_value(struct parser *p, const char *name, const char *inline_value)
{
    if (inline_value != NULL) {
        return inline_value;
    }
    if (p->i + 1 >= p->argc) {
        usage_error(p, "option %s needs a value", name);
        return NULL;
    }
    return p->argv[++p->i];
}

/* --socket, --keyfile, --json, -o/--output, --timeout: valid before and after the command. Returns
 * PARSE_OK when argv[p->i] was one of them, 0 when it was none, or a usage error. */
static int global_option(struct parser *p, struct ctl *ctl)
{
    const char *v;
    if (strcmp(p->argv[p->i], "--json") == 0) {
        ctl->json = 1;
        return PARSE_OK;
    }
    if (is_opt(p, "--socket", &v)) {
        ctl->socket = take_value(p, "--socket", v);
        return ctl->socket != NULL ? PARSE_OK : CTL_EXIT_USAGE;
    }
    if (is_opt(p, "--keyfile", &v)) {
        ctl->keyfile = take_value(p, "--keyfile", v);
        ctl->keyfile_explicit = 1;
        return ctl->keyfile != NULL ? PARSE_OK : CTL_EXIT_USAGE;
    }
    if (is_opt(p, "-o", &v) || is_opt(p, "--output", &v)) {
        const char *fmt = take_value(p, "-o", v);
        if (fmt == NULL) {
            return CTL_EXIT_USAGE;
        }
        if (strcmp(fmt, "json") != 0 && strcmp(fmt, "text") != 0) {
            return usage_error(p, "-o: unknown output format \"%s\" (expected json or text)", fmt);
        }
        ctl->json = strcmp(fmt, "json") == 0;
        return PARSE_OK;
    }
    if (is_opt(p, "--timeout", &v)) {
        const char *t = take_value(p, "--timeout", v);
        uint32_t ms;
        if (t == NULL) {
            return CTL_EXIT_USAGE;
        }
        int rv = ringd_duration_parse(t, &ms);
        if (rv != 0) {
            return usage_error(p,
                               rv == -EINVAL
                                   ? "--timeout: invalid duration \"%s\" (expected e.g. 500ms, 2s)"
                                   : "--timeout: duration \"%s\" is out of range (1ms to 24h)",
                               t);
        }
        ctl->timeout_ms = (int)ms;
        ctl->timeout_given = 1;
        return PARSE_OK;
    }
    return 0;
}

static int add_value(struct parser *p, const char **list, int *count, const char *name,
                     const char *v)
{
    if (v == NULL) {
        return CTL_EXIT_USAGE;
    }
    if (*count == CTL_VALUES_MAX) {
        return usage_error(p, "too many %s options", name);
    }
    list[(*count)++] = v;
    return PARSE_OK;
}

static int check_status(struct parser *p, const char *v)
{
    static const char *const names[] = { "alive",   "draining", "restarting",
                                         "suspect", "faulty",   "left" };
    for (const char *s = v; *s != '\0';) {
        size_t len = strcspn(s, ",");
        int known = 0;
        for (size_t i = 0; i < RING_ARRAY_LEN(names); i++) {
            known |= strlen(names[i]) == len && memcmp(names[i], s, len) == 0;
        }
        if (!known) {
            return usage_error(p,
                               "--status: unknown status in \"%s\" (expected alive, draining, "
                               "restarting, suspect, faulty or left)",
                               v);
        }
        s += len + (s[len] == ',');
    }
    return v[0] != '\0' ? PARSE_OK : usage_error(p, "--status: empty%s", "");
}

/* The options of command |c| itself. Same returns as global_option(). */
static int command_option(struct parser *p, const struct command *c, struct ctl_args *a)
{
    const char *v;
    int members = c->fn == ctl_members;
    if (c->fn == ctl_keygen && (is_opt(p, "-o", &v) || is_opt(p, "--output", &v))) {
        a->out_path = take_value(p, "-o", v);
        return a->out_path != NULL ? PARSE_OK : CTL_EXIT_USAGE;
    }
    if (c->fn == ctl_keygen && strcmp(p->argv[p->i], "--force") == 0) {
        a->force = 1;
        return PARSE_OK;
    }
    if (members && is_opt(p, "--group", &v)) {
        a->group = take_value(p, "--group", v);
        return a->group != NULL ? PARSE_OK : CTL_EXIT_USAGE;
    }
    if (members && is_opt(p, "--status", &v)) {
        v = take_value(p, "--status", v);
        int rv = v != NULL ? check_status(p, v) : CTL_EXIT_USAGE;
        return rv == PARSE_OK ? add_value(p, a->status, &a->status_count, "--status", v) : rv;
    }
    if (members && is_opt(p, "--label", &v)) {
        v = take_value(p, "--label", v);
        if (v != NULL && (v[0] == '\0' || v[0] == '=')) {
            return usage_error(p, "--label: \"%s\" names no key (expected K=V or K)", v);
        }
        return add_value(p, a->label, &a->label_count, "--label", v);
    }
    if (c->fn == ctl_drain && strcmp(p->argv[p->i], "--cancel") == 0) {
        if (a->restart) {
            return usage_error(p, "%s: --cancel and --restart exclude each other", "drain");
        }
        a->cancel = 1;
        return PARSE_OK;
    }
    if (c->fn == ctl_drain && strcmp(p->argv[p->i], "--restart") == 0) {
        if (a->cancel) {
            return usage_error(p, "%s: --cancel and --restart exclude each other", "drain");
        }
        a->restart = 1;
        return PARSE_OK;
    }
    if (c->fn == ctl_wait_ready && strcmp(p->argv[p->i], "--serving") == 0) {
        a->serving = 1;
        return PARSE_OK;
    }
    if (c->fn == ctl_lookup && is_opt(p, "-n", &v)) {
        v = take_value(p, "-n", v);
        char *end;
        a->n = v != NULL ? strtol(v, &end, 10) : 0;
        if (v == NULL) {
            return CTL_EXIT_USAGE;
        }
        if (v[0] < '0' || v[0] > '9' || *end != '\0' || a->n < 1 || a->n > 64) {
            return usage_error(p, "-n takes a number from 1 to 64, not \"%s\"", v);
        }
        return PARSE_OK;
    }
    return 0;
}

/* Parses argv[p->i..] for command |c| (NULL: the options before the command, up to the first
 * argument that is not an option). Returns PARSE_OK or an exit status. */
static int parse(struct parser *p, struct ctl *ctl, const struct command *c, struct ctl_args *a)
{
    int options_done = 0;
    for (; p->i < p->argc; p->i++) {
        const char *arg = p->argv[p->i];
        int rv = 0;
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = 1;
            continue;
        }
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            if (c == NULL) {
                return PARSE_OK; /* the command */
            }
            if (a->pos_count == c->pos_max) {
                return usage_error(p,
                                   c->pos_max == 0 ? "takes no arguments, not \"%s\""
                                                   : "one argument too many: \"%s\"",
                                   arg);
            }
            a->pos[a->pos_count++] = arg;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            c != NULL ? command_usage(stdout, c) : usage(stdout);
            return 0;
        }
        if (c == NULL && strcmp(arg, "--version") == 0) {
            printf("ringctl %s (commit %s)\n", ringd_version(), ringd_commit());
            return 0;
        }
        /* A command's own options first: keygen's -o is a file, not an output format. */
        if (c != NULL) {
            rv = command_option(p, c, a);
        }
        if (rv == 0) {
            rv = global_option(p, ctl);
        }
        if (rv == 0) {
            return usage_error(
                p, "unknown option %s (an argument that starts with '-' goes after --)", arg);
        }
        if (rv != PARSE_OK) {
            return rv;
        }
    }
    if (c != NULL && a->pos_count < c->pos_min) {
        return usage_error(p, "missing %s",
                           c->args[0] == '[' ? strrchr(c->args, ' ') + 1 : c->args);
    }
    return PARSE_OK;
}

int main(int argc, char **argv)
{
    struct ctl ctl = { .socket = getenv("RINGD_SOCKET"), .timeout_ms = DEFAULT_TIMEOUT_MS };
    if (ctl.socket == NULL || ctl.socket[0] == '\0') {
        ctl.socket = DEFAULT_SOCKET;
    }
    struct parser p = { .argc = argc, .argv = argv, .i = 1, .where = "ringctl" };
    static struct ctl_args args;
    int rv = parse(&p, &ctl, NULL, &args);
    if (rv != PARSE_OK) {
        return rv;
    }
    if (p.i == argc) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    const struct command *c = find_command(argv[p.i]);
    if (c == NULL) {
        fprintf(stderr, "ringctl: unknown command \"%s\" (see ringctl --help)\n",
                ctl_shown(argv[p.i]));
        return CTL_EXIT_USAGE;
    }
    char where[64];
    snprintf(where, sizeof(where), "ringctl %s", c->name);
    p.where = where;
    p.i++;
    rv = parse(&p, &ctl, c, &args);
    if (rv != PARSE_OK) {
        return rv;
    }
    static struct seal_keyring keys;
    if (ctl.keyfile == NULL) {
        ctl.keyfile = getenv("RINGD_KEYFILE");
    }
    rv = c->fn != ctl_keygen ? ctl_load_peer_keys(ctl.keyfile, ctl.keyfile_explicit, &keys) : 0;
    if (rv != 0) {
        return rv;
    }
    if (keys.count > 0) {
        ctl.keys = &keys;
    }
    if (c->connects) {
        char err[512];
        rv = ringc_connect(&ctl.c, ctl.socket, err, sizeof(err));
        if (rv != 0) {
            fprintf(stderr, "ringctl: %s\n", ctl_shown(err));
            return CTL_EXIT_FAIL;
        }
    }
    rv = c->fn(&ctl, &args);
    ringc_close(ctl.c);
    seal_keyring_clear(&keys);
    return rv;
}
