/*
 * bench_proxy: ringd's forwarding proxy against nginx, with wrk, in the same run.
 *
 * Five cases, each `GET /` with an `X-Ring-Key` header (the same request bytes everywhere:
 * one wrk Lua script cycling over 64 keys), keep-alive, closed loop:
 *
 *   direct        wrk -> ring_testapp app0                      what the app alone does
 *   ringd_local   wrk -> ringd S (single-node ring) -> app0      the proxy, key owned here
 *   ringd_hop     wrk -> ringd A -> ringd B -> app1              2-node ring, keys B owns
 *   nginx         wrk -> nginx -> app0                           the same single hop
 *   ringd_excl    wrk -> ringd X (--shards 64 --exclusive,      ringd_local, with every
 *                        single-node ring, holds every lease)   request under its lease
 *
 * nginx runs in the foreground as one process (master_process off: one event loop like ringd,
 * and a PID we own) from a config in the temp dir: upstream keepalive 32, proxy_http_version
 * 1.1, Connection "" and keepalive_requests raised on both sides so it never closes a
 * connection under load (its default of 1000 would reconnect wrk and the upstream every 1000
 * requests: the target is measured against nginx at its best).
 *
 * Each case runs for --duration seconds per round, rounds interleaved (the start case rotates
 * each round) so every case sees the same machine noise; the figures are medians over rounds.
 * wrk defaults to 1 thread and 32 connections: the machine has 2 cores, the servers are
 * single-threaded event loops, and a second wrk thread would take the core the proxy and the
 * app share (32 connections fill nginx's keepalive pool exactly, so nginx never opens an
 * upstream connection per request). --pin puts this program and wrk on CPU 0 and every server
 * on CPU 1, so the load generator never steals the servers' core; without it the kernel
 * places them. That is the default: on the shared development machine pinning made every case
 * several times slower (direct 6.8k req/s pinned against 41k not, in one run), as the other
 * tenants' load lands on the pinned cores too. Besides req/s and wrk's p50/p99,
 * each case reports the proxy processes' CPU time per request (from /proc), which noise from
 * other processes affects much less than throughput.
 *
 * Targets: ringd_local >= 1.0x nginx's req/s with p99 <= nginx's; ringd_hop >= 0.5x
 * ringd_local; ringd_excl >= 0.95x ringd_local (the lease check costs at most 5%). Before
 * measuring, one request per case checks the route (X-App-Id, and X-Ring-Owner through ringd); a
 * case that cannot answer is reported unavailable, with why, and its targets fail. Every process
 * started is killed by its PID at the end, also on error or Ctrl-C, and the temp dir removed.
 *
 *   bench_proxy [--duration S] [--rounds R] [--quick] [--threads T] [--connections C]
 *               [--pin] [--json] [--ringd PATH] [--wrk PATH] [--nginx PATH]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "client.h"
#include "httpc.h"
#include "testapp.h"

#define ROUNDS_MAX    9
#define KEYS          64
#define PROBE_MS      3000
#define START_MS      15000
#define RESULT_PREFIX "WRKJSON "

enum { CASE_DIRECT, CASE_LOCAL, CASE_HOP, CASE_NGINX, CASE_EXCL, CASES };

/* Ports, as offsets from a base picked by PID. */
enum {
    P_APP0,
    P_APP1,
    P_NGINX,
    P_S_GOSSIP,
    P_S_ADMIN,
    P_S_PROXY,
    P_A_GOSSIP,
    P_A_ADMIN,
    P_A_PROXY,
    P_B_GOSSIP,
    P_B_ADMIN,
    P_B_PROXY,
    P_X_GOSSIP,
    P_X_ADMIN,
    P_X_PROXY,
    P_COUNT
};

struct options {
    int duration_s;
    int warmup_s;
    int rounds;
    int threads;
    int connections;
    int pin;
    int json;
    const char *ringd;
    const char *wrk;
    const char *nginx;
};

struct run {
    double rps, p50_us, p99_us, cpu_us_per_req;
    long errors;
};

struct bench_case {
    const char *name;
    const char *what;
    int port;
    const char *want_app;   /* X-App-Id of the app that must answer */
    const char *want_owner; /* X-Ring-Owner, NULL when not through ringd */
    pid_t proxy_pids[2];    /* whose CPU time counts as the proxy's */
    const char *log;        /* the first proxy process's log, in the temp dir */
    int available;
    char why[160];  /* why it is unavailable */
    char note[160]; /* a route check that failed without stopping the measurement */
    struct run rounds[ROUNDS_MAX];
    int runs;
    struct run med;
    long errors;
};

static int base_port;

static void die(const char *what)
{
    fprintf(stderr, "bench_proxy: %s\n", what);
    bench_cleanup("bench_proxy");
    exit(1);
}

static int port(int which)
{
    return base_port + which;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ---- processes ---- */

static void pin_to(pid_t pid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(pid, sizeof(set), &set) != 0) {
        fprintf(stderr, "bench_proxy: cannot pin pid %d to CPU %d: %s\n", (int)pid, cpu,
                strerror(errno));
    }
}

static pid_t track(const struct options *o, pid_t pid)
{
    if (bench_procs.count == BENCH_PIDS_MAX) {
        die("too many processes");
    }
    bench_procs.pids[bench_procs.count++] = pid;
    if (o->pin) {
        pin_to(pid, 1);
    }
    return pid;
}

static pid_t spawn(const struct options *o, char *const argv[], const char *log_name)
{
    char log_path[128];
    snprintf(log_path, sizeof(log_path), "%s/%s", bench_procs.tmpdir, log_name);
    pid_t pid = fork();
    if (pid < 0) {
        die("fork failed");
    }
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return track(o, pid);
}

static pid_t start_app(const struct options *o, int which, const char *id)
{
    struct testapp t;
    if (testapp_start(&t, port(which), id, NULL) != 0) {
        die("ring_testapp did not start");
    }
    return track(o, t.pid);
}

/* Starts ringd |id| with its proxy in front of |app_port|; joins |join_port| unless 0; with
 * |exclusive|, --shards 64 --exclusive. */
static pid_t start_ringd(const struct options *o, const char *id, int first, int app_port,
                         int join_port, int exclusive)
{
    char bind[32], admin[32], proxy[32], app[32], sock[96], join[32], log[32];
    snprintf(bind, sizeof(bind), "127.0.0.1:%d", port(first));
    snprintf(admin, sizeof(admin), "127.0.0.1:%d", port(first + 1));
    snprintf(proxy, sizeof(proxy), "127.0.0.1:%d", port(first + 2));
    snprintf(app, sizeof(app), "127.0.0.1:%d", app_port);
    snprintf(sock, sizeof(sock), "%s/%s.sock", bench_procs.tmpdir, id);
    snprintf(join, sizeof(join), "127.0.0.1:%d", join_port);
    snprintf(log, sizeof(log), "%s.log", id);
    char *argv[] = { (char *)o->ringd, "--id", (char *)id, "--bind", bind, "--admin", admin,
                     "--socket", sock, "--proxy", proxy, "--app", app, "--log-level", "warn",
                     /* plaintext, as the figures in BENCHMARKS.md were taken */
                     "--insecure", NULL, NULL, NULL, NULL, NULL, NULL };
    int n = 16;
    if (join_port != 0) {
        argv[n++] = "--join";
        argv[n++] = join;
    }
    if (exclusive) {
        argv[n++] = "--shards";
        argv[n++] = "64";
        argv[n++] = "--exclusive";
    }
    return spawn(o, argv, log);
}

static void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", bench_procs.tmpdir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        die("cannot write a file in the temp dir");
    }
}

static pid_t start_nginx(const struct options *o)
{
    char conf[2048];
    snprintf(conf, sizeof(conf),
             "daemon off;\nmaster_process off;\nworker_processes 1;\npid %s/nginx.pid;\n"
             "error_log %s/nginx-error.log warn;\n"
             "events { worker_connections 1024; }\n"
             "http {\n  access_log off;\n  keepalive_requests 1000000;\n"
             "  client_body_temp_path %s/nginx-body;\n  proxy_temp_path %s/nginx-proxy;\n"
             "  fastcgi_temp_path %s/nginx-fastcgi;\n  uwsgi_temp_path %s/nginx-uwsgi;\n"
             "  scgi_temp_path %s/nginx-scgi;\n"
             "  upstream app {\n    server 127.0.0.1:%d;\n    keepalive 32;\n"
             "    keepalive_requests 1000000;\n  }\n"
             "  server {\n    listen 127.0.0.1:%d;\n    location / {\n"
             "      proxy_pass http://app;\n      proxy_http_version 1.1;\n"
             "      proxy_set_header Connection \"\";\n    }\n  }\n}\n",
             bench_procs.tmpdir, bench_procs.tmpdir, bench_procs.tmpdir, bench_procs.tmpdir,
             bench_procs.tmpdir, bench_procs.tmpdir, bench_procs.tmpdir, port(P_APP0),
             port(P_NGINX));
    write_file("nginx.conf", conf);
    char prefix[80], conf_path[96], err_path[96];
    snprintf(prefix, sizeof(prefix), "%s/", bench_procs.tmpdir);
    snprintf(conf_path, sizeof(conf_path), "%s/nginx.conf", bench_procs.tmpdir);
    snprintf(err_path, sizeof(err_path), "%s/nginx-error.log", bench_procs.tmpdir);
    char *argv[] = { (char *)o->nginx, "-p", prefix, "-c", conf_path, "-e", err_path, NULL };
    return spawn(o, argv, "nginx.log");
}

/* ---- ringd's local API ---- */

static struct ringc *api(const char *id)
{
    char sock[96], err[256];
    struct ringc *c;
    snprintf(sock, sizeof(sock), "%s/%s.sock", bench_procs.tmpdir, id);
    return ringc_connect(&c, sock, err, sizeof(err)) == 0 ? c : NULL;
}

static int alive_members(const char *id)
{
    struct ringc *c = api(id);
    const msgpack_object *res;
    int alive = -1;
    if (c != NULL && ringc_call(c, &res, 1000, "stats", "") == 0) {
        const msgpack_object *m = ringc_get(res, "members");
        alive = m != NULL ? (int)ringc_get_u64(m, "alive", 0) : -1;
    }
    ringc_close(c);
    return alive;
}

/* Shards ringd |id| holds the lease of (--exclusive), or -1. */
static int leases_held(const char *id)
{
    struct ringc *c = api(id);
    const msgpack_object *res;
    int held = -1;
    if (c != NULL && ringc_call(c, &res, 1000, "shards", "") == 0) {
        const msgpack_object *l = ringc_get(res, "leases");
        held = 0;
        for (uint32_t i = 0; l != NULL && i < l->via.array.size; i++) {
            held += ringc_get_u64(&l->via.array.ptr[i], "state", 0) == 2;
        }
    }
    ringc_close(c);
    return held;
}

static void wait_leases(const char *id, int want)
{
    for (int t = 0; t < START_MS; t += 50, sleep_ms(50)) {
        if (leases_held(id) == want) {
            return;
        }
    }
    char msg[128];
    snprintf(msg, sizeof(msg), "ringd %s did not hold %d leases in %d ms", id, want, START_MS);
    die(msg);
}

static void wait_ring(const char *id, int want)
{
    for (int t = 0; t < START_MS; t += 50, sleep_ms(50)) {
        if (alive_members(id) == want) {
            return;
        }
    }
    char msg[128];
    snprintf(msg, sizeof(msg), "ringd %s did not see %d alive members in %d ms", id, want,
             START_MS);
    die(msg);
}

/* Fills |keys| with KEYS keys that ringd |via| says |owner| owns. */
static void keys_owned_by(const char *via, const char *owner, char keys[KEYS][32])
{
    struct ringc *c = api(via);
    if (c == NULL) {
        die("cannot reach ringd's local API");
    }
    int found = 0;
    for (int i = 0; found < KEYS && i < 100000; i++) {
        char key[32], id[64];
        const msgpack_object *res;
        snprintf(key, sizeof(key), "user:%d", i);
        if (ringc_call(c, &res, 1000, "lookup", "s", key) != 0) {
            die("lookup failed");
        }
        if (ringc_get_str(res, "id", id, sizeof(id)) > 0 && strcmp(id, owner) == 0) {
            memcpy(keys[found++], key, sizeof(key));
        }
    }
    ringc_close(c);
    if (found < KEYS) {
        die("the ring gave the owner no keys");
    }
}

/* ---- the cases ---- */

static void write_lua(char keys[KEYS][32])
{
    static char lua[8192];
    size_t n = (size_t)snprintf(lua, sizeof(lua), "local keys = {");
    for (int i = 0; i < KEYS; i++) {
        n += (size_t)snprintf(lua + n, sizeof(lua) - n, "%s\"%s\"", i ? ", " : "", keys[i]);
    }
    snprintf(lua + n, sizeof(lua) - n,
             "}\nlocal reqs = {}\nlocal n = 0\n"
             "init = function(args)\n"
             "  for i, k in ipairs(keys) do\n"
             "    reqs[i] = wrk.format(\"GET\", \"/\", { [\"X-Ring-Key\"] = k })\n"
             "  end\nend\n"
             "request = function()\n  n = n %% #reqs + 1\n  return reqs[n]\nend\n"
             "done = function(summary, latency, requests)\n"
             "  local e = summary.errors\n"
             "  io.write(string.format('" RESULT_PREFIX "%%d %%d %%d %%d %%d %%d %%d %%.1f "
             "%%.1f\\n', summary.requests, summary.duration, e.connect, e.read, e.write, "
             "e.status, e.timeout, latency:percentile(50), latency:percentile(99)))\n"
             "end\n");
    write_file("keys.lua", lua);
}

/* The last line of |log_name| in the temp dir into |buf| ("" when none). */
static void last_log_line(const char *log_name, char *buf, size_t cap)
{
    char path[128], line[256];
    snprintf(path, sizeof(path), "%s/%s", bench_procs.tmpdir, log_name);
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n\"\\")] = '\0'; /* it goes into JSON */
        if (line[0] != '\0') {
            snprintf(buf, cap, "%.*s", (int)(cap - 1), line);
        }
    }
    fclose(f);
}

/* When the case's proxy process has exited, says so in |bc->why| with its log's last line. */
static void explain_exit(struct bench_case *bc)
{
    int status;
    pid_t pid = bc->proxy_pids[0];
    if (pid <= 0 || waitpid(pid, &status, WNOHANG) != pid) {
        return;
    }
    for (int i = 0; i < bench_procs.count; i++) {
        bench_procs.pids[i] = bench_procs.pids[i] == pid ? 0 : bench_procs.pids[i];
    }
    char line[120];
    last_log_line(bc->log, line, sizeof(line));
    snprintf(bc->why, sizeof(bc->why), "the proxy exited with status %d; %s: %s",
             WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), bc->log,
             line[0] != '\0' ? line : "(empty)");
}

/* Sends one request as wrk would and checks who answered. Returns 0, or -1 with |why|. */
static int probe(struct bench_case *bc, const char *key)
{
    static struct httpc_resp r;
    char req[256];
    struct httpc *h = httpc_connect(bc->port);
    if (h == NULL) {
        snprintf(bc->why, sizeof(bc->why), "connection refused on port %d", bc->port);
        return -1;
    }
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Ring-Key: %s\r\n\r\n", key);
    int rv = httpc_send_str(h, req);
    if (rv == 0) {
        rv = httpc_read(h, &r, PROBE_MS);
    }
    httpc_close(h);
    if (rv != 0) {
        snprintf(bc->why, sizeof(bc->why), "no HTTP answer (%s)", strerror(-rv));
        return -1;
    }
    const char *app = httpc_header(&r, "X-App-Id");
    const char *owner = httpc_header(&r, "X-Ring-Owner");
    if (r.status != 200 || app == NULL || strcmp(app, bc->want_app) != 0) {
        snprintf(bc->why, sizeof(bc->why), "answered %d by app %s, want 200 by %s", r.status,
                 app != NULL ? app : "(none)", bc->want_app);
        return -1;
    }
    if (bc->want_owner != NULL && (owner == NULL || strcmp(owner, bc->want_owner) != 0)) {
        snprintf(bc->note, sizeof(bc->note), "X-Ring-Owner: %s, want %s",
                 owner != NULL ? owner : "(none)", bc->want_owner);
    }
    return 0;
}

static double cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command (which may hold spaces): state is field 3, utime 14, stime 15. */
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
        return 0;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double proxy_cpu_s(const struct bench_case *bc)
{
    double s = 0;
    for (int i = 0; i < 2; i++) {
        s += bc->proxy_pids[i] > 0 ? cpu_s(bc->proxy_pids[i]) : 0;
    }
    return s;
}

/* One wrk run of |seconds| against |bc|; returns -1 when wrk printed no result. */
static int run_wrk(const struct options *o, struct bench_case *bc, int seconds, struct run *out)
{
    char cmd[512], line[512];
    snprintf(cmd, sizeof(cmd),
             "'%s' -t %d -c %d -d %ds --timeout 5s -s '%s/keys.lua' "
             "http://127.0.0.1:%d/ 2>&1",
             o->wrk, o->threads, o->connections, seconds, bench_procs.tmpdir, bc->port);
    double cpu0 = proxy_cpu_s(bc);
    FILE *f = popen(cmd, "r");
    if (f == NULL) {
        die("cannot run wrk");
    }
    int found = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        long req, dur_us, e[5];
        double p50, p99;
        if (strncmp(line, RESULT_PREFIX, strlen(RESULT_PREFIX)) == 0 &&
            sscanf(line + strlen(RESULT_PREFIX), "%ld %ld %ld %ld %ld %ld %ld %lf %lf", &req,
                   &dur_us, &e[0], &e[1], &e[2], &e[3], &e[4], &p50, &p99) == 9) {
            out->rps = dur_us > 0 ? (double)req / ((double)dur_us / 1e6) : 0;
            out->p50_us = p50;
            out->p99_us = p99;
            out->errors = e[0] + e[1] + e[2] + e[3] + e[4];
            out->cpu_us_per_req = req > 0 ? (proxy_cpu_s(bc) - cpu0) * 1e6 / (double)req : 0;
            found = 1;
        }
    }
    if (pclose(f) != 0 || !found) {
        snprintf(bc->why, sizeof(bc->why), "wrk gave no result (is wrk installed?)");
        return -1;
    }
    return 0;
}

static void run_rounds(const struct options *o, struct bench_case *cases)
{
    for (int i = 0; i < CASES; i++) {
        struct run warm;
        if (cases[i].available && o->warmup_s > 0 && run_wrk(o, &cases[i], o->warmup_s, &warm)) {
            cases[i].available = 0;
        }
    }
    for (int r = 0; r < o->rounds; r++) {
        for (int k = 0; k < CASES; k++) {
            struct bench_case *bc = &cases[(r + k) % CASES];
            if (!bc->available) {
                continue;
            }
            if (run_wrk(o, bc, o->duration_s, &bc->rounds[bc->runs]) != 0) {
                bc->available = 0;
                continue;
            }
            bc->errors += bc->rounds[bc->runs].errors;
            if (!o->json) {
                fprintf(stderr, "  round %d %-12s %9.0f req/s  p50 %7.0f us  p99 %7.0f us\n", r + 1,
                        bc->name, bc->rounds[bc->runs].rps, bc->rounds[bc->runs].p50_us,
                        bc->rounds[bc->runs].p99_us);
            }
            bc->runs++;
        }
    }
}

static void medians(struct bench_case *bc)
{
    double v[4][ROUNDS_MAX];
    for (int i = 0; i < bc->runs; i++) {
        v[0][i] = bc->rounds[i].rps;
        v[1][i] = bc->rounds[i].p50_us;
        v[2][i] = bc->rounds[i].p99_us;
        v[3][i] = bc->rounds[i].cpu_us_per_req;
    }
    if (bc->runs == 0) {
        bc->available = 0;
        return;
    }
    bc->med.rps = bench_median(v[0], bc->runs);
    bc->med.p50_us = bench_median(v[1], bc->runs);
    bc->med.p99_us = bench_median(v[2], bc->runs);
    bc->med.cpu_us_per_req = bench_median(v[3], bc->runs);
}

/* ---- results ---- */

struct verdict {
    int known; /* both cases measured */
    double value;
    int pass;
};

static struct verdict ratio(const struct bench_case *x, const struct bench_case *y, int p99,
                            double limit, int at_least)
{
    struct verdict v = { 0 };
    if (!x->available || !y->available) {
        return v;
    }
    v.known = 1;
    v.value = p99 ? x->med.p99_us / y->med.p99_us : x->med.rps / y->med.rps;
    v.pass = at_least ? v.value >= limit : v.value <= limit;
    return v;
}

static void json_verdict(const char *name, struct verdict v, const char *sep)
{
    if (v.known) {
        printf("\"%s\": %.3f%s", name, v.value, sep);
    } else {
        printf("\"%s\": null%s", name, sep);
    }
}

static void print_json(const struct options *o, const struct bench_case *cases,
                       const struct verdict *v)
{
    printf("{\"benchmark\": \"proxy\", \"tool\": \"wrk\", \"threads\": %d, \"connections\": %d, "
           "\"duration_s\": %d, \"rounds\": %d, \"pinned\": %s, \"keys\": %d,\n  \"cases\": {\n",
           o->threads, o->connections, o->duration_s, o->rounds, o->pin ? "true" : "false", KEYS);
    for (int i = 0; i < CASES; i++) {
        const struct bench_case *bc = &cases[i];
        const char *sep = i + 1 < CASES ? "," : "";
        if (!bc->available) {
            printf("    \"%s\": {\"available\": false, \"error\": \"%s\"}%s\n", bc->name, bc->why,
                   sep);
            continue;
        }
        printf("    \"%s\": {\"available\": true, \"rps\": %.0f, \"p50_us\": %.0f, "
               "\"p99_us\": %.0f, \"errors\": %ld",
               bc->name, bc->med.rps, bc->med.p50_us, bc->med.p99_us, bc->errors);
        if (bc->proxy_pids[0] > 0) {
            printf(", \"proxy_cpu_us_per_req\": %.2f", bc->med.cpu_us_per_req);
        }
        if (bc->note[0] != '\0') {
            printf(", \"note\": \"%s\"", bc->note);
        }
        printf(", \"rps_rounds\": [");
        for (int r = 0; r < bc->runs; r++) {
            printf("%s%.0f", r ? ", " : "", bc->rounds[r].rps);
        }
        printf("]}%s\n", sep);
    }
    printf("  },\n  ");
    json_verdict("ratio_vs_nginx", v[0], ", ");
    json_verdict("p99_vs_nginx", v[1], ", ");
    json_verdict("hop_ratio", v[2], ", ");
    json_verdict("exclusive_ratio", v[3], ",\n  ");
    printf("\"targets\": {\"ratio_vs_nginx_min\": 1.0, \"p99_vs_nginx_max\": 1.0, "
           "\"hop_ratio_min\": 0.5, \"exclusive_ratio_min\": 0.95},\n  \"pass\": "
           "{\"ratio_vs_nginx\": %s, \"p99_vs_nginx\": %s, \"hop_ratio\": %s, "
           "\"exclusive_ratio\": %s}}\n",
           v[0].known && v[0].pass ? "true" : "false", v[1].known && v[1].pass ? "true" : "false",
           v[2].known && v[2].pass ? "true" : "false", v[3].known && v[3].pass ? "true" : "false");
}

static void text_verdict(const char *what, struct verdict v, const char *target)
{
    if (v.known) {
        printf("  %-36s %6.3f  (target %s)  %s\n", what, v.value, target, v.pass ? "PASS" : "FAIL");
    } else {
        printf("  %-36s    n/a  (target %s)  FAIL: not measured\n", what, target);
    }
}

static void print_text(const struct options *o, const struct bench_case *cases,
                       const struct verdict *v)
{
    printf("bench_proxy: wrk -t%d -c%d, %d s x %d rounds interleaved (medians), GET / with "
           "X-Ring-Key%s\n\n",
           o->threads, o->connections, o->duration_s, o->rounds,
           o->pin ? ", wrk on CPU 0, servers on CPU 1" : "");
    printf("  %-12s %-36s %10s %9s %9s %12s\n", "case", "path", "req/s", "p50 us", "p99 us",
           "proxy cpu/req");
    for (int i = 0; i < CASES; i++) {
        const struct bench_case *bc = &cases[i];
        if (!bc->available) {
            printf("  %-12s %-36s unavailable: %s\n", bc->name, bc->what, bc->why);
            continue;
        }
        printf("  %-12s %-36s %10.0f %9.0f %9.0f", bc->name, bc->what, bc->med.rps, bc->med.p50_us,
               bc->med.p99_us);
        if (bc->proxy_pids[0] > 0) {
            printf(" %10.2f us", bc->med.cpu_us_per_req);
        }
        printf("%s%s%s\n", bc->errors ? "  (errors seen)" : "", bc->note[0] ? "  note: " : "",
               bc->note);
    }
    printf("\n");
    text_verdict("ringd_local / nginx req/s", v[0], ">= 1.0");
    text_verdict("ringd_local / nginx p99", v[1], "<= 1.0");
    text_verdict("ringd_hop / ringd_local req/s", v[2], ">= 0.5");
    text_verdict("ringd_excl / ringd_local req/s", v[3], ">= 0.95");
}

/* ---- main ---- */

static int parse_options(struct options *o, int argc, char **argv)
{
    *o = (struct options){ .duration_s = 10,
                           .warmup_s = 1,
                           .rounds = 3,
                           .threads = 1,
                           .connections = 32,
                           .ringd = RINGD_BIN,
                           .wrk = "wrk",
                           .nginx = "nginx" };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            o->duration_s = 3;
            continue;
        } else if (strcmp(a, "--pin") == 0) {
            o->pin = 1;
            continue;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (v == NULL) {
            return -1;
        } else if (strcmp(a, "--duration") == 0) {
            o->duration_s = atoi(v);
        } else if (strcmp(a, "--rounds") == 0) {
            o->rounds = atoi(v);
        } else if (strcmp(a, "--threads") == 0) {
            o->threads = atoi(v);
        } else if (strcmp(a, "--connections") == 0) {
            o->connections = atoi(v);
        } else if (strcmp(a, "--ringd") == 0) {
            o->ringd = v;
        } else if (strcmp(a, "--wrk") == 0) {
            o->wrk = v;
        } else if (strcmp(a, "--nginx") == 0) {
            o->nginx = v;
        } else {
            return -1;
        }
        i++;
    }
    return o->duration_s >= 1 && o->rounds >= 1 && o->rounds <= ROUNDS_MAX && o->threads >= 1 &&
                   o->connections >= o->threads
               ? 0
               : -1;
}

static void setup_cases(struct bench_case *c, const pid_t *ringd, pid_t nginx)
{
    c[CASE_DIRECT] = (struct bench_case){
        .name = "direct", .what = "wrk -> app0", .port = port(P_APP0), .want_app = "app0"
    };
    c[CASE_LOCAL] = (struct bench_case){ .name = "ringd_local",
                                         .what = "wrk -> ringd S (owns all) -> app0",
                                         .port = port(P_S_PROXY),
                                         .want_app = "app0",
                                         .want_owner = "S",
                                         .log = "S.log",
                                         .proxy_pids = { ringd[0] } };
    c[CASE_HOP] = (struct bench_case){ .name = "ringd_hop",
                                       .what = "wrk -> ringd A -> ringd B -> app1",
                                       .port = port(P_A_PROXY),
                                       .want_app = "app1",
                                       .want_owner = "B",
                                       .log = "A.log",
                                       .proxy_pids = { ringd[1], ringd[2] } };
    c[CASE_NGINX] = (struct bench_case){ .name = "nginx",
                                         .what = "wrk -> nginx -> app0",
                                         .port = port(P_NGINX),
                                         .want_app = "app0",
                                         .log = "nginx-error.log",
                                         .proxy_pids = { nginx } };
    c[CASE_EXCL] = (struct bench_case){ .name = "ringd_excl",
                                        .what = "wrk -> ringd X (--exclusive) -> app0",
                                        .port = port(P_X_PROXY),
                                        .want_app = "app0",
                                        .want_owner = "X",
                                        .log = "X.log",
                                        .proxy_pids = { ringd[3] } };
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_options(&o, argc, argv) != 0) {
        fprintf(stderr, "usage: bench_proxy [--duration S] [--rounds 1..9] [--quick] "
                        "[--threads T] [--connections C] [--pin] [--json] [--ringd PATH] "
                        "[--wrk PATH] [--nginx PATH]\n");
        return 2;
    }
    snprintf(bench_procs.tmpdir, sizeof(bench_procs.tmpdir), "/tmp/bench_proxy-XXXXXX");
    if (mkdtemp(bench_procs.tmpdir) == NULL) {
        bench_procs.tmpdir[0] = '\0';
        die("mkdtemp failed");
    }
    base_port = 40000 + (int)(getpid() % 600) * 16;
    signal(SIGINT, bench_on_signal);
    signal(SIGTERM, bench_on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (o.pin) {
        pin_to(0, 0); /* this program, so wrk (its child) runs on CPU 0 too */
    }

    start_app(&o, P_APP0, "app0");
    start_app(&o, P_APP1, "app1");
    pid_t ringd[4];
    ringd[0] = start_ringd(&o, "S", P_S_GOSSIP, port(P_APP0), 0, 0);
    ringd[1] = start_ringd(&o, "A", P_A_GOSSIP, port(P_APP0), 0, 0);
    ringd[2] = start_ringd(&o, "B", P_B_GOSSIP, port(P_APP1), port(P_A_GOSSIP), 0);
    ringd[3] = start_ringd(&o, "X", P_X_GOSSIP, port(P_APP0), 0, 1);
    pid_t nginx = start_nginx(&o);
    wait_ring("S", 1);
    wait_ring("A", 2);
    wait_ring("B", 2);
    wait_ring("X", 1);
    wait_leases("X", 64); /* a lease after it starts, it claims (LEASES.md) */

    char keys[KEYS][32];
    keys_owned_by("A", "B", keys);
    write_lua(keys);
    static struct bench_case cases[CASES];
    setup_cases(cases, ringd, nginx);
    for (int i = 0; i < CASES; i++) {
        /* nginx may take a moment to listen; the others are up by now. */
        for (int t = 0; t < 20 && !cases[i].available; t++) {
            cases[i].available = probe(&cases[i], keys[0]) == 0;
            if (!cases[i].available) {
                sleep_ms(100);
            }
        }
        if (!cases[i].available) {
            explain_exit(&cases[i]);
        }
    }
    run_rounds(&o, cases);
    for (int i = 0; i < CASES; i++) {
        medians(&cases[i]);
    }
    bench_cleanup("bench_proxy");

    struct verdict v[4] = {
        ratio(&cases[CASE_LOCAL], &cases[CASE_NGINX], 0, 1.0, 1),
        ratio(&cases[CASE_LOCAL], &cases[CASE_NGINX], 1, 1.0, 0),
        ratio(&cases[CASE_HOP], &cases[CASE_LOCAL], 0, 0.5, 1),
        ratio(&cases[CASE_EXCL], &cases[CASE_LOCAL], 0, 0.95, 1),
    };
    if (o.json) {
        print_json(&o, cases, v);
    } else {
        print_text(&o, cases, v);
    }
    return 0;
}
