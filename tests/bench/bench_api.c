/*
 * bench_api: ringd's local API against redis, in the same run, and prints one JSON object.
 *
 * It starts a cluster of ringd on loopback (5 nodes, own ports and sockets under a temp dir,
 * as scripts/run.sh does) and a redis-server on a unix socket in the same temp dir, both
 * single-threaded event loops, and drives them case by case, interleaved round by round so
 * both see the same machine noise (the machine is shared): redis-benchmark's GET (-P, -c)
 * against this file's load generator doing `lookup` of varied keys on node0 with the same
 * pipelining depth and connection count. The same load generator also speaks RESP GET to
 * redis, so the two servers are compared through one client as well (redis_own_ops_s).
 *
 *   pipelined_1    -P 64 -c 1     ops/s
 *   pipelined_8    -P 64 -c 8     ops/s
 *   unpipelined    -P 1  -c 1     ops/s, p50/p99 latency in microseconds
 *
 * ratio_vs_redis is ringd's lookups/s over redis-benchmark's GETs/s (medians over rounds).
 * Afterwards it reads every ringd's VmRSS from /proc and measures the membership table's
 * bytes per member (10,000 members through a counting allocator). Every process it started
 * is killed by its PID at the end, also on error or Ctrl-C.
 *
 *   bench_api [--nodes N] [--requests N] [--rounds R] [--quick] [--ringd PATH]
 *             [--redis-server PATH] [--redis-benchmark PATH]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "client.h"
#include "ring/error.h"
#include "ring/members.h"
#include "ring/mem.h"

#define NODES_MAX     8
#define CONNS_MAX     8
#define PIPELINE_MAX  64 /* ringd answers at most RPC_INFLIGHT_MAX in flight */
#define KEYS          4096
#define ROUNDS_MAX    15
#define READ_BYTES    (64u << 10)
#define TABLE_MEMBERS 10000
#define REDIS_KEY     "key:__rand_int__" /* what redis-benchmark GETs without -r */

struct options {
    int nodes;
    long requests; /* per pipelined run; unpipelined runs do a tenth */
    int rounds;
    const char *ringd;
    const char *redis_server;
    const char *redis_benchmark;
};

static void die(const char *what)
{
    fprintf(stderr, "bench_api: %s\n", what);
    bench_cleanup("bench_api");
    exit(1);
}

static double now_us(void)
{
    return bench_now_ns() / 1e3;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static pid_t spawn(char *const argv[], const char *log_path)
{
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
    bench_procs.pids[bench_procs.count++] = pid;
    return pid;
}

/* ---- processes ---- */

static void start_ringd(const struct options *o)
{
    int base = 30000 + (int)(getpid() % 1000) * 16;
    for (int i = 0; i < o->nodes; i++) {
        char id[16], bind[32], admin[32], sock[96], join[32], log[96];
        snprintf(id, sizeof(id), "node%d", i);
        snprintf(bind, sizeof(bind), "127.0.0.1:%d", base + i);
        snprintf(admin, sizeof(admin), "127.0.0.1:%d", base + 8 + i);
        snprintf(sock, sizeof(sock), "%s/node%d.sock", bench_procs.tmpdir, i);
        snprintf(join, sizeof(join), "127.0.0.1:%d", base);
        snprintf(log, sizeof(log), "%s/node%d.log", bench_procs.tmpdir, i);
        char *argv[] = { (char *)o->ringd,
                         /* plaintext, as the figures in BENCHMARKS.md were taken */
                         "--insecure", "--id", id, "--bind", bind, "--admin", admin, "--socket",
                         sock, "--log-level", "warn", i > 0 ? "--join" : NULL, join, NULL };
        spawn(argv, log);
    }
}

/* Waits until node0 sees every node alive and its ring is built. */
static void wait_converged(const struct options *o)
{
    char sock[96], err[256];
    snprintf(sock, sizeof(sock), "%s/node0.sock", bench_procs.tmpdir);
    for (int i = 0; i < 300; i++, sleep_ms(50)) {
        struct ringc *c;
        if (ringc_connect(&c, sock, err, sizeof(err)) != 0) {
            continue;
        }
        const msgpack_object *res;
        int ok = 0;
        if (ringc_call(c, &res, 1000, "stats", "") == 0) {
            const msgpack_object *m = ringc_get(res, "members");
            ok = m != NULL && ringc_get_u64(m, "alive", 0) == (uint64_t)o->nodes;
        }
        if (ok && ringc_call(c, &res, 1000, "lookup", "s", "probe") != 0) {
            ok = 0;
        }
        ringc_close(c);
        if (ok) {
            return;
        }
    }
    die("the ringd cluster did not converge in 15 s");
}

static int unix_connect(const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

static void write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            die("write to a server failed");
        }
        p += n;
        len -= (size_t)n;
    }
}

static void start_redis(const struct options *o)
{
    char sock[96], log[96];
    snprintf(sock, sizeof(sock), "%s/redis.sock", bench_procs.tmpdir);
    snprintf(log, sizeof(log), "%s/redis.log", bench_procs.tmpdir);
    char *argv[] = {
        (char *)o->redis_server, "--port", "0",     "--unixsocket",     sock, "--save", "",
        "--appendonly",          "no",     "--dir", bench_procs.tmpdir, NULL
    };
    spawn(argv, log);
    for (int i = 0; i < 200; i++, sleep_ms(25)) {
        int fd = unix_connect(sock);
        if (fd < 0) {
            continue;
        }
        static const char set[] = "*3\r\n$3\r\nSET\r\n$16\r\n" REDIS_KEY "\r\n$3\r\nxxx\r\n";
        char reply[16];
        write_all(fd, set, sizeof(set) - 1);
        ssize_t n = read(fd, reply, sizeof(reply));
        close(fd);
        if (n >= 3 && memcmp(reply, "+OK", 3) == 0) {
            return;
        }
        die("redis-server did not accept SET");
    }
    die("redis-server did not start (is it installed? scripts/bench.sh installs it)");
}

/* ---- the load generator: one thread, C connections, P requests in flight on each ---- */

struct proto {
    /* Requests laid back to back, KEYS of them then the first PIPELINE_MAX again, so any P
     * consecutive requests are one contiguous run: off[k]..off[k + P]. */
    char *reqs;
    size_t off[KEYS + PIPELINE_MAX + 1];
    size_t keys;
    /* Length of the complete reply at |p|, 0 when more bytes are needed, -1 when broken. */
    long (*reply_len)(const char *p, size_t len);
};

static long ringd_reply_len(const char *p, size_t len)
{
    struct rpc_msg m;
    size_t used = 0;
    int rv = rpc_parse(p, len, &m, &used);
    if (rv == RING_ETRUNC) {
        return 0;
    }
    if (rv != 0 || m.kind != RPC_RESPONSE || m.is_error) {
        return -1;
    }
    return (long)used;
}

static long redis_reply_len(const char *p, size_t len)
{
    const char *nl = memchr(p, '\n', len);
    if (nl == NULL) {
        return 0;
    }
    if (p[0] != '$') {
        return -1;
    }
    long body = strtol(p + 1, NULL, 10);
    size_t total = (size_t)(nl - p) + 1 + (size_t)body + 2;
    return body < 0 ? -1 : len >= total ? (long)total : 0;
}

static void proto_finish(struct proto *pr, struct rpc_buf *b, size_t keys)
{
    pr->keys = keys;
    pr->reqs = b->data;
    pr->off[keys + PIPELINE_MAX] = b->len;
}

static void ringd_proto(struct proto *pr)
{
    struct rpc_buf b;
    rpc_buf_init(&b, NULL, 0);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, rpc_buf_write);
    for (size_t i = 0; i < KEYS + PIPELINE_MAX; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "user:%zu", (i % KEYS) * 7919);
        pr->off[i] = b.len;
        rpc_pack_request_begin(&pk, (uint32_t)i, "lookup", 6, 1);
        msgpack_pack_str_with_body(&pk, key, (size_t)n);
    }
    proto_finish(pr, &b, KEYS);
    pr->reply_len = ringd_reply_len;
}

static void redis_proto(struct proto *pr)
{
    static const char get[] = "*2\r\n$3\r\nGET\r\n$16\r\n" REDIS_KEY "\r\n";
    struct rpc_buf b;
    rpc_buf_init(&b, NULL, 0);
    for (size_t i = 0; i < KEYS + PIPELINE_MAX; i++) {
        pr->off[i] = b.len;
        rpc_buf_write(&b, get, sizeof(get) - 1);
    }
    proto_finish(pr, &b, KEYS);
    pr->reply_len = redis_reply_len;
}

struct conn {
    int fd;
    size_t next; /* the next request index */
    int inflight;
    double sent_us;
    char *buf;
    size_t len;
};

struct run {
    double ops_s;
    double p50_us, p99_us;
};

static void send_batch(const struct proto *pr, struct conn *c, int p)
{
    size_t k = c->next % pr->keys;
    write_all(c->fd, pr->reqs + pr->off[k], pr->off[k + (size_t)p] - pr->off[k]);
    c->next += (size_t)p;
    c->inflight = p;
    c->sent_us = now_us();
}

/* Reads what |c| has, counts complete replies; returns how many. */
static long take_replies(const struct proto *pr, struct conn *c)
{
    ssize_t n = read(c->fd, c->buf + c->len, READ_BYTES - c->len);
    if (n <= 0) {
        die(n == 0 ? "a server closed the connection" : "read from a server failed");
    }
    c->len += (size_t)n;
    size_t at = 0;
    long got = 0;
    for (;;) {
        long r = pr->reply_len(c->buf + at, c->len - at);
        if (r < 0) {
            die("a server sent a reply that is not a plain answer");
        }
        if (r == 0) {
            break;
        }
        at += (size_t)r;
        got++;
    }
    memmove(c->buf, c->buf + at, c->len - at);
    c->len -= at;
    return got;
}

static void run_load(const struct proto *pr, const char *sock, int conns, int p, long total,
                     struct run *out)
{
    struct conn c[CONNS_MAX];
    struct pollfd pfd[CONNS_MAX];
    long batches = total / p, sent = 0, done = 0, samples = 0;
    double *lat = calloc((size_t)batches + 1, sizeof(double));
    for (int i = 0; i < conns; i++) {
        c[i] = (struct conn){ .fd = unix_connect(sock), .next = (size_t)i * 512 };
        c[i].buf = malloc(READ_BYTES);
        if (c[i].fd < 0) {
            die("cannot connect to a server's socket");
        }
        pfd[i] = (struct pollfd){ .fd = c[i].fd, .events = POLLIN };
    }
    double t0 = now_us();
    for (int i = 0; i < conns && sent < batches; i++, sent++) {
        send_batch(pr, &c[i], p);
    }
    while (done < batches) {
        if (poll(pfd, (nfds_t)conns, 10000) <= 0) {
            die("a server stopped answering");
        }
        for (int i = 0; i < conns; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            c[i].inflight -= (int)take_replies(pr, &c[i]);
            if (c[i].inflight > 0) {
                continue;
            }
            lat[samples++] = now_us() - c[i].sent_us;
            done++;
            if (sent < batches) {
                send_batch(pr, &c[i], p);
                sent++;
            }
        }
    }
    double t1 = now_us();
    for (int i = 0; i < conns; i++) {
        close(c[i].fd);
        free(c[i].buf);
    }
    bench_sort(lat, (int)samples);
    out->ops_s = (double)(batches * p) / ((t1 - t0) / 1e6);
    out->p50_us = lat[samples / 2];
    out->p99_us = lat[(size_t)((double)samples * 0.99)];
    free(lat);
}

/* redis-benchmark --csv: "GET","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",... */
static void run_redis_benchmark(const struct options *o, int conns, int p, long total,
                                struct run *out)
{
    char cmd[512], line[512];
    snprintf(cmd, sizeof(cmd), "'%s' -s '%s/redis.sock' -t get -n %ld -P %d -c %d --csv 2>&1",
             o->redis_benchmark, bench_procs.tmpdir, total, p, conns);
    FILE *f = popen(cmd, "r");
    if (f == NULL) {
        die("cannot run redis-benchmark");
    }
    int found = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        double v[7];
        if (strncmp(line, "\"GET\"", 5) == 0 &&
            sscanf(line + 5, ",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\"", &v[0], &v[1],
                   &v[2], &v[3], &v[4], &v[5]) >= 6) {
            out->ops_s = v[0];
            out->p50_us = v[3] * 1000.0;
            out->p99_us = v[5] * 1000.0;
            found = 1;
        }
    }
    if (pclose(f) != 0 || !found) {
        die("redis-benchmark failed or printed no GET line (is redis-tools installed?)");
    }
}

/* ---- cases ---- */

struct bench_case {
    const char *name;
    int conns;
    int pipeline;
    int total_div; /* requests / total_div */
    struct run ringd, redis, redis_own;
};

static void run_case(const struct options *o, struct bench_case *bc, const struct proto *ringd,
                     const struct proto *redis)
{
    double v[3][ROUNDS_MAX], p50[3][ROUNDS_MAX], p99[3][ROUNDS_MAX];
    char ringd_sock[96], redis_sock[96];
    long total = o->requests / bc->total_div;
    snprintf(ringd_sock, sizeof(ringd_sock), "%s/node0.sock", bench_procs.tmpdir);
    snprintf(redis_sock, sizeof(redis_sock), "%s/redis.sock", bench_procs.tmpdir);
    for (int r = 0; r < o->rounds; r++) {
        struct run x[3] = { { 0 } };
        run_redis_benchmark(o, bc->conns, bc->pipeline, total, &x[0]);
        run_load(ringd, ringd_sock, bc->conns, bc->pipeline, total, &x[1]);
        run_load(redis, redis_sock, bc->conns, bc->pipeline, total, &x[2]);
        for (int k = 0; k < 3; k++) {
            v[k][r] = x[k].ops_s;
            p50[k][r] = x[k].p50_us;
            p99[k][r] = x[k].p99_us;
        }
    }
    struct run *dst[3] = { &bc->redis, &bc->ringd, &bc->redis_own };
    for (int k = 0; k < 3; k++) {
        dst[k]->ops_s = bench_median(v[k], o->rounds);
        dst[k]->p50_us = bench_median(p50[k], o->rounds);
        dst[k]->p99_us = bench_median(p99[k], o->rounds);
    }
}

static void print_case(const struct bench_case *bc, int last)
{
    printf("    \"%s\": {\"connections\": %d, \"pipeline\": %d, \"ringd_ops_s\": %.0f, "
           "\"redis_ops_s\": %.0f, \"redis_own_ops_s\": %.0f, \"ratio_vs_redis\": %.3f, "
           "\"ratio_vs_redis_own\": %.3f",
           bc->name, bc->conns, bc->pipeline, bc->ringd.ops_s, bc->redis.ops_s, bc->redis_own.ops_s,
           bc->ringd.ops_s / bc->redis.ops_s, bc->ringd.ops_s / bc->redis_own.ops_s);
    if (bc->pipeline == 1) {
        printf(", \"ringd_p50_us\": %.1f, \"ringd_p99_us\": %.1f, \"redis_p50_us\": %.1f, "
               "\"redis_p99_us\": %.1f, \"redis_own_p50_us\": %.1f, \"redis_own_p99_us\": %.1f",
               bc->ringd.p50_us, bc->ringd.p99_us, bc->redis.p50_us, bc->redis.p99_us,
               bc->redis_own.p50_us, bc->redis_own.p99_us);
    }
    printf("}%s\n", last ? "" : ",");
}

/* ---- memory ---- */

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = atol(line + 6);
        }
    }
    fclose(f);
    return kib;
}

struct count_mem {
    size_t bytes;
};

static void *cm_malloc(size_t size, void *ud)
{
    size_t *p = malloc(size + 16);
    if (p == NULL) {
        return NULL;
    }
    *p = size;
    ((struct count_mem *)ud)->bytes += size;
    return (char *)p + 16;
}

static void *cm_calloc(size_t nmemb, size_t size, void *ud)
{
    if (size != 0 && nmemb > (SIZE_MAX - 16) / size) {
        return NULL;
    }
    void *p = cm_malloc(nmemb * size, ud);
    if (p != NULL) {
        memset(p, 0, nmemb * size);
    }
    return p;
}

static void cm_free(void *ptr, void *ud)
{
    if (ptr != NULL) {
        size_t *p = (size_t *)((char *)ptr - 16);
        ((struct count_mem *)ud)->bytes -= *p;
        free(p);
    }
}

static void *cm_realloc(void *ptr, size_t size, void *ud)
{
    void *q = cm_malloc(size, ud);
    if (q != NULL && ptr != NULL) {
        size_t old = *(size_t *)((char *)ptr - 16);
        memcpy(q, ptr, old < size ? old : size);
        cm_free(ptr, ud);
    }
    return q;
}

/* The membership table's allocator bytes over its member count, for 10,000 members with
 * address-like ids (as ringsim's nodes and a Kubernetes cluster's pods have). */
static double table_bytes_per_member(void)
{
    struct count_mem cm = { 0 };
    struct ring_mem mem = { &cm, cm_malloc, cm_calloc, cm_realloc, cm_free };
    struct members *t;
    if (members_new(&t, TABLE_MEMBERS, &mem) != 0) {
        die("members_new failed");
    }
    for (uint32_t i = 0; i < TABLE_MEMBERS; i++) {
        struct member m;
        char id[32];
        memset(&m, 0, sizeof(m));
        snprintf(id, sizeof(id), "10.0.%u.%u:7946", i / 256, i % 256);
        member_set_id(&m, id, strlen(id));
        m.status = MEMBER_ALIVE;
        m.weight = 1;
        m.incarnation = 1;
        m.addr.family = RING_ADDR_V4;
        m.addr.ip[0] = 10;
        m.addr.ip[2] = (uint8_t)(i >> 8);
        m.addr.ip[3] = (uint8_t)i;
        m.addr.port = 7946;
        if (members_put(t, &m) != 0) {
            die("members_put failed");
        }
    }
    double per = (double)cm.bytes / TABLE_MEMBERS;
    members_del(t);
    return per;
}

/* ---- main ---- */

static int parse_options(struct options *o, int argc, char **argv)
{
    *o = (struct options){ .nodes = 5,
                           .requests = 2000000,
                           .rounds = 5,
                           .ringd = RINGD_BIN,
                           .redis_server = "redis-server",
                           .redis_benchmark = "redis-benchmark" };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            o->requests = 400000;
            o->rounds = 3;
            continue;
        }
        if (v == NULL) {
            return -1;
        } else if (strcmp(a, "--nodes") == 0) {
            o->nodes = atoi(v);
        } else if (strcmp(a, "--requests") == 0) {
            o->requests = atol(v);
        } else if (strcmp(a, "--rounds") == 0) {
            o->rounds = atoi(v);
        } else if (strcmp(a, "--ringd") == 0) {
            o->ringd = v;
        } else if (strcmp(a, "--redis-server") == 0) {
            o->redis_server = v;
        } else if (strcmp(a, "--redis-benchmark") == 0) {
            o->redis_benchmark = v;
        } else {
            return -1;
        }
        i++;
    }
    return o->nodes >= 1 && o->nodes <= NODES_MAX && o->rounds >= 1 && o->rounds <= ROUNDS_MAX &&
                   o->requests >= 6400
               ? 0
               : -1;
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_options(&o, argc, argv) != 0) {
        fprintf(stderr, "usage: bench_api [--nodes 1..8] [--requests N] [--rounds 1..15] "
                        "[--quick] [--ringd PATH] [--redis-server PATH] "
                        "[--redis-benchmark PATH]\n");
        return 2;
    }
    snprintf(bench_procs.tmpdir, sizeof(bench_procs.tmpdir), "/tmp/bench_api-XXXXXX");
    if (mkdtemp(bench_procs.tmpdir) == NULL) {
        bench_procs.tmpdir[0] = '\0';
        die("mkdtemp failed");
    }
    signal(SIGINT, bench_on_signal);
    signal(SIGTERM, bench_on_signal);
    signal(SIGPIPE, SIG_IGN);
    start_ringd(&o);
    start_redis(&o);
    wait_converged(&o);

    static struct proto ringd, redis;
    ringd_proto(&ringd);
    redis_proto(&redis);
    struct bench_case cases[] = {
        { .name = "pipelined_1", .conns = 1, .pipeline = 64, .total_div = 1 },
        { .name = "pipelined_8", .conns = 8, .pipeline = 64, .total_div = 1 },
        { .name = "unpipelined", .conns = 1, .pipeline = 1, .total_div = 20 },
    };
    for (size_t i = 0; i < RING_ARRAY_LEN(cases); i++) {
        run_case(&o, &cases[i], &ringd, &redis);
    }
    long rss0 = rss_kib(bench_procs.pids[0]), rss_max = 0;
    for (int i = 0; i < o.nodes; i++) {
        long r = rss_kib(bench_procs.pids[i]);
        rss_max = r > rss_max ? r : rss_max;
    }
    long redis_rss = rss_kib(bench_procs.pids[o.nodes]);
    double per_member = table_bytes_per_member();
    bench_cleanup("bench_api");
    free(ringd.reqs);
    free(redis.reqs);

    printf("{\"benchmark\": \"api\", \"nodes\": %d, \"requests\": %ld, \"rounds\": %d, "
           "\"cases\": {\n",
           o.nodes, o.requests, o.rounds);
    for (size_t i = 0; i < RING_ARRAY_LEN(cases); i++) {
        print_case(&cases[i], i + 1 == RING_ARRAY_LEN(cases));
    }
    printf("  },\n  \"ringd_rss_kib\": %ld, \"ringd_rss_kib_max\": %ld, \"rss_target_kib\": %d, "
           "\"redis_rss_kib\": %ld,\n  \"members_table_bytes_per_member\": %.1f, "
           "\"members_table_members\": %d}\n",
           rss0, rss_max, 16 * 1024, redis_rss, per_member, TABLE_MEMBERS);
    return 0;
}
