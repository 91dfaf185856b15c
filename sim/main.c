/*
 * ringsim: a deterministic discrete-event simulator that runs libring's real swim code for
 * thousands of nodes on a virtual clock and a virtual network. This file is the command
 * line: parse, run, report, check. Exit 0 when the checkers pass, 1 when one fails (with
 * the seed and a replay command), 2 on a usage error.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring/members.h"

#include "plot.h"
#include "scenario.h"
#include "sim.h"

/* Nodes a run may have: 100,000 take about 10 GB with --groups 1000. */
#define SIM_NODES_MAX 1000000

static const char usage[] =
    "usage: ringsim --nodes N --scenario S [options]\n"
    "\n"
    "Runs N real swim nodes over a virtual network and clock, reproducibly from one seed.\n"
    "\n"
    "  --nodes N             nodes (1..65535; up to 1000000 with --groups)\n"
    "  --scenario S          join | kill | pause | partition | loss | churn | flap | leave |\n"
    "                        drain\n"
    "  --seed X              seed of every random choice [1]\n"
    "  --duration T          virtual time: 60s, 2m, 500ms, or seconds [60s]\n"
    "  --loss P              datagram and stream-segment loss, 0..1 or 10% [0; loss: 0.1]\n"
    "  --latency-ms M[,J]    one-way latency mean and +-jitter in ms [1,0.5]\n"
    "  --groups G            sub-sharding: G groups, node i in group i mod G [1: flat]\n"
    "  --exchange-interval-ms MS  cross-group exchange interval [libring's default]\n"
    "  --joiners K           join: K nodes join a converged cluster of N-K [N: cold start]\n"
    "  --kill K              kill, leave, drain: nodes killed (leaving) at once [1]\n"
    "  --churn R             churn: fraction of nodes restarted per minute [0.1]\n"
    "  --oneway              partition: cut one direction only\n"
    "  --probe-interval-ms, --probe-timeout-ms, --suspicion-mult, --suspicion-max-mult,\n"
    "  --suspicion-k         swim timing overrides [libring's defaults]\n"
    "  --no-gossip           no gossip fanout: updates ride only on probes\n"
    "  --exclusive           exclusive shard leases (ring/lease.h) and their checker\n"
    "  --shards S            shards with --exclusive [1024]\n"
    "  --lease-ms MS         the lease with --exclusive [libring's default, 3000]\n"
    "  --clock-drift P       each node's clock rate is off by up to P, 0..0.1 or 1%\n"
    "                        [with --exclusive: 1%, the leases' drift bound]\n"
    "  --json                print one JSON object instead of the text summary\n"
    "  --plot DIR            write SVG charts into DIR (needs gnuplot)\n"
    "  --help                this text\n"
    "\n"
    "join: N nodes bootstrap through 3 seeds (or K join a converged cluster); kill: K nodes\n"
    "die at 5 s; pause: a node stops for 10 s at 5 s; partition: two halves apart from 5 s to\n"
    "25 s; loss: steady loss; churn: restarts until 30 s before the end; flap: a node is\n"
    "unreachable 3 s of every 6 until 30 s before the end; leave: K nodes leave gracefully at\n"
    "5 s and exit 2 s later; drain: K nodes drain at 5 s (out of the ring, still members),\n"
    "then leave 3 s later and exit 2 s after that, as ringd does on SIGTERM.\n";

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "ringsim: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see ringsim --help)\n");
    exit(2);
}

static double parse_double(const char *flag, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        die("bad value for %s", flag);
    }
    return v;
}

static uint64_t parse_u64(const char *flag, const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi) {
        die("bad value for %s", flag);
    }
    return v;
}

static uint64_t parse_duration_ms(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double mult = 1000;
    if (strcmp(end, "ms") == 0) {
        mult = 1;
    } else if (strcmp(end, "m") == 0) {
        mult = 60000;
    } else if (strcmp(end, "s") != 0 && *end != '\0') {
        die("bad --duration \"%s\" (60s, 2m, 500ms)", s);
    }
    if (errno != 0 || end == s || v <= 0 || v * mult > 86400000.0) {
        die("bad --duration \"%s\" (60s, 2m, 500ms)", s);
    }
    return (uint64_t)(v * mult + 0.5);
}

/* A fraction, "0.2" or "20%", within [0, |hi|]. */
static double parse_fraction(const char *flag, const char *s, double hi)
{
    size_t len = strlen(s);
    if (len > 1 && s[len - 1] == '%') {
        char buf[64];
        if (len >= sizeof(buf)) {
            die("bad value for %s", flag);
        }
        memcpy(buf, s, len - 1);
        buf[len - 1] = '\0';
        return parse_double(flag, buf, 0, hi * 100) / 100;
    }
    return parse_double(flag, s, 0, hi);
}

static double parse_loss(const char *s)
{
    size_t len = strlen(s);
    if (len > 1 && s[len - 1] == '%') {
        char buf[64];
        if (len >= sizeof(buf)) {
            die("bad --loss \"%s\"", s);
        }
        memcpy(buf, s, len - 1);
        buf[len - 1] = '\0';
        return parse_double("--loss", buf, 0, 100) / 100;
    }
    return parse_double("--loss", s, 0, 1);
}

static void parse_latency(const char *s, struct sim_opts *o)
{
    char buf[64];
    if (strlen(s) >= sizeof(buf)) {
        die("bad --latency-ms \"%s\"", s);
    }
    strcpy(buf, s);
    char *comma = strchr(buf, ',');
    if (comma != NULL) {
        *comma = '\0';
        o->jitter_ms = parse_double("--latency-ms jitter", comma + 1, 0, 10000);
    }
    o->latency_ms = parse_double("--latency-ms", buf, 0, 10000);
}

struct cli {
    struct sim_opts o;
    int json;
    int loss_set;
    int drift_set;
    const char *plot_dir;
};

static const char *value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        die("%s needs a value", argv[*i]);
    }
    return argv[++*i];
}

static void parse_flag(int argc, char **argv, int *i, struct cli *c)
{
    const char *f = argv[*i];
    struct sim_opts *o = &c->o;
    if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
        fputs(usage, stdout);
        exit(0);
    } else if (strcmp(f, "--json") == 0) {
        c->json = 1;
    } else if (strcmp(f, "--oneway") == 0) {
        o->oneway = 1;
    } else if (strcmp(f, "--nodes") == 0) {
        o->nodes = (uint32_t)parse_u64(f, value(argc, argv, i), 1, SIM_NODES_MAX);
    } else if (strcmp(f, "--scenario") == 0) {
        const char *v = value(argc, argv, i);
        o->scenario = scenario_parse(v);
        if (o->scenario == 0) {
            die("unknown scenario \"%s\"", v);
        }
    } else if (strcmp(f, "--seed") == 0) {
        o->seed = parse_u64(f, value(argc, argv, i), 0, UINT64_MAX);
    } else if (strcmp(f, "--duration") == 0) {
        o->duration_ms = parse_duration_ms(value(argc, argv, i));
    } else if (strcmp(f, "--loss") == 0) {
        o->loss = parse_loss(value(argc, argv, i));
        c->loss_set = 1;
    } else if (strcmp(f, "--latency-ms") == 0) {
        parse_latency(value(argc, argv, i), o);
    } else if (strcmp(f, "--groups") == 0) {
        o->groups = (uint32_t)parse_u64(f, value(argc, argv, i), 1, 65535);
    } else if (strcmp(f, "--exchange-interval-ms") == 0) {
        o->exchange_interval_ms = (uint32_t)parse_u64(f, value(argc, argv, i), 100, 600000);
    } else if (strcmp(f, "--joiners") == 0) {
        o->joiners = (uint32_t)parse_u64(f, value(argc, argv, i), 1, 65535);
    } else if (strcmp(f, "--kill") == 0) {
        o->kill = (uint32_t)parse_u64(f, value(argc, argv, i), 1, 256);
    } else if (strcmp(f, "--churn") == 0) {
        o->churn_per_min = parse_double(f, value(argc, argv, i), 0, 10);
    } else if (strcmp(f, "--probe-interval-ms") == 0) {
        o->probe_interval_ms = (uint32_t)parse_u64(f, value(argc, argv, i), 10, 600000);
    } else if (strcmp(f, "--probe-timeout-ms") == 0) {
        o->probe_timeout_ms = (uint32_t)parse_u64(f, value(argc, argv, i), 1, 600000);
    } else if (strcmp(f, "--suspicion-mult") == 0) {
        o->suspicion_mult = (uint32_t)parse_u64(f, value(argc, argv, i), 1, 100);
    } else if (strcmp(f, "--suspicion-max-mult") == 0) {
        o->suspicion_max_mult = (uint32_t)parse_u64(f, value(argc, argv, i), 1, 100);
    } else if (strcmp(f, "--suspicion-k") == 0) {
        o->suspicion_confirmations = (uint32_t)parse_u64(f, value(argc, argv, i), 1, 7);
    } else if (strcmp(f, "--no-gossip") == 0) {
        o->no_gossip = 1;
    } else if (strcmp(f, "--exclusive") == 0) {
        o->exclusive = 1;
    } else if (strcmp(f, "--shards") == 0) {
        o->shards = (uint32_t)parse_u64(f, value(argc, argv, i), 1, 65536);
    } else if (strcmp(f, "--lease-ms") == 0) {
        o->lease_ms = (uint32_t)parse_u64(f, value(argc, argv, i), 100, 600000);
    } else if (strcmp(f, "--clock-drift") == 0) {
        o->clock_drift = parse_fraction(f, value(argc, argv, i), 0.1);
        c->drift_set = 1;
    } else if (strcmp(f, "--plot") == 0) {
        c->plot_dir = value(argc, argv, i);
    } else {
        die("unknown option %s", f);
    }
}

static void parse(int argc, char **argv, struct cli *c)
{
    memset(c, 0, sizeof(*c));
    c->o.seed = 1;
    c->o.duration_ms = 60000;
    c->o.latency_ms = 1;
    c->o.jitter_ms = 0.5;
    for (int i = 1; i < argc; i++) {
        parse_flag(argc, argv, &i, c);
    }
    if (c->o.nodes == 0) {
        die("%s", "--nodes is required");
    }
    if (c->o.scenario == 0) {
        die("%s", "--scenario is required");
    }
    if (c->o.nodes > MEMBERS_MAX && c->o.groups <= 1) {
        die("%s", "more than 65535 nodes need --groups (a flat member table holds 65535)");
    }
    if (c->o.groups > c->o.nodes) {
        die("%s", "--groups must not exceed --nodes");
    }
    if (c->o.scenario == SIM_LOSS && !c->loss_set) {
        c->o.loss = 0.1;
    }
    if (c->o.kill >= c->o.nodes &&
        (c->o.scenario == SIM_KILL || c->o.scenario == SIM_LEAVE || c->o.scenario == SIM_DRAIN)) {
        die("%s", "--kill must be below --nodes");
    }
    if (c->o.exclusive && c->o.groups > 1) {
        die("%s", "--exclusive does not run with --groups");
    }
    if (c->o.exclusive && !c->drift_set) {
        c->o.clock_drift = 0.01;
    }
}

/* The command that replays this run exactly. */
static void replay(const struct cli *c, char *buf, size_t cap)
{
    const struct sim_opts *o = &c->o;
    int n = snprintf(buf, cap,
                     "ringsim --nodes %u --scenario %s --seed %llu --duration %llums --loss %.17g "
                     "--latency-ms %.17g,%.17g",
                     o->nodes, scenario_name(o->scenario), (unsigned long long)o->seed,
                     (unsigned long long)o->duration_ms, o->loss, o->latency_ms, o->jitter_ms);
    const char *flags[] = { "--joiners",          "--kill",           "--probe-interval-ms",
                            "--probe-timeout-ms", "--suspicion-mult", "--suspicion-max-mult",
                            "--suspicion-k" };
    uint32_t vals[] = { o->joiners,
                        o->kill,
                        o->probe_interval_ms,
                        o->probe_timeout_ms,
                        o->suspicion_mult,
                        o->suspicion_max_mult,
                        o->suspicion_confirmations };
    for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]) && n > 0 && (size_t)n < cap; k++) {
        if (vals[k] != 0) {
            n += snprintf(buf + n, cap - (size_t)n, " %s %u", flags[k], vals[k]);
        }
    }
    if (n > 0 && (size_t)n < cap && o->churn_per_min > 0) {
        n += snprintf(buf + n, cap - (size_t)n, " --churn %.17g", o->churn_per_min);
    }
    if (n > 0 && (size_t)n < cap && o->groups > 1) {
        n += snprintf(buf + n, cap - (size_t)n, " --groups %u", o->groups);
    }
    if (n > 0 && (size_t)n < cap && o->exchange_interval_ms > 0) {
        n += snprintf(buf + n, cap - (size_t)n, " --exchange-interval-ms %u",
                      o->exchange_interval_ms);
    }
    if (n > 0 && (size_t)n < cap && o->no_gossip) {
        n += snprintf(buf + n, cap - (size_t)n, " --no-gossip");
    }
    if (n > 0 && (size_t)n < cap && o->oneway) {
        n += snprintf(buf + n, cap - (size_t)n, " --oneway");
    }
    if (n > 0 && (size_t)n < cap && o->exclusive) {
        n += snprintf(buf + n, cap - (size_t)n, " --exclusive --clock-drift %.17g", o->clock_drift);
    }
    if (n > 0 && (size_t)n < cap && o->exclusive && o->shards != 0) {
        n += snprintf(buf + n, cap - (size_t)n, " --shards %u", o->shards);
    }
    if (n > 0 && (size_t)n < cap && o->exclusive && o->lease_ms != 0) {
        snprintf(buf + n, cap - (size_t)n, " --lease-ms %u", o->lease_ms);
    }
}

int main(int argc, char **argv)
{
    struct cli c;
    parse(argc, argv, &c);
    /* Sync messages are megabytes at 10,000 nodes: keep them in the heap instead of an
     * mmap and munmap (and page faults) per message. */
    (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
    (void)mallopt(M_TRIM_THRESHOLD, 512 << 20);
    static struct sim w;
    char err[512];
    if (sim_init(&w, &c.o, err, sizeof(err)) != 0) {
        fprintf(stderr, "ringsim: %s\n", err);
        sim_free(&w);
        return 2;
    }
    sim_run(&w);
    metrics_report(&w, c.json, stdout);
    int rc = 0;
    if (c.plot_dir != NULL && plot_write(&w, c.plot_dir, err, sizeof(err)) != 0) {
        fprintf(stderr, "ringsim: %s\n", err);
        rc = 2;
    }
    if (metrics_check(&w, err, sizeof(err)) != 0) {
        char cmd[1024];
        replay(&c, cmd, sizeof(cmd));
        fprintf(stderr, "ringsim: FAILED seed=%llu: %s (replay: %s)\n",
                (unsigned long long)c.o.seed, err, cmd);
        rc = 1;
    }
    sim_free(&w);
    return rc;
}
