/* cluster: see cluster.h. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <sodium.h>
#include <unistd.h>

#include "cluster.h"
#include "netns.h"
#include "ring/codec.h"
#include "ring/seal.h"
#include "ring/session.h"

struct cluster cl;

void cluster_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ringd is secure by default: every test cluster gets its own fresh key, as `ringctl keygen`
 * would write it, and every node uses it unless the test says otherwise. */
static void write_cluster_key(void)
{
    cr_assert(ge(int, sodium_init(), 0));
    uint8_t key[SEAL_KEY_BYTES];
    randombytes_buf(key, sizeof(key));
    sodium_bin2base64(cl.key_b64, sizeof(cl.key_b64), key, sizeof(key),
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(key, sizeof(key));
    snprintf(cl.key_path, sizeof(cl.key_path), "%s/cluster.key", cl.dir);
    FILE *f = fopen(cl.key_path, "w");
    cr_assert(f != NULL, "%s: %s", cl.key_path, strerror(errno));
    fprintf(f, "%s\n", cl.key_b64);
    fclose(f);
    for (int i = 0; i < CLUSTER_NODES_MAX; i++) {
        snprintf(cl.keyfile[i], sizeof(cl.keyfile[i]), "%s", cl.key_path);
    }
    /* ringctl, run by the tests through the shell, seals its peer queries with it, and a ringd
     * a test starts by hand uses it as well. */
    setenv("RINGD_KEYFILE", cl.key_path, 1);
}

uint64_t cluster_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

size_t cluster_seal(int context, uint64_t sent_ms, const void *in, size_t len, uint8_t *out,
                    size_t cap)
{
    struct seal_keyring kr;
    char line[80];
    snprintf(line, sizeof(line), "%s\n", cl.key_b64);
    cr_assert(eq(int, seal_keyring_parse(&kr, line, strlen(line), NULL, 0), 0));
    uint8_t nonce[SEAL_NONCE_BYTES];
    randombytes_buf(nonce, sizeof(nonce));
    ssize_t n = seal_encrypt(&kr, context, sent_ms, nonce, in, len, out, cap);
    seal_keyring_clear(&kr);
    cr_assert(gt(i64, (int64_t)n, 0), "seal: %zd", n);
    return (size_t)n;
}

static void parse_key(struct seal_keyring *kr)
{
    char line[80];
    snprintf(line, sizeof(line), "%s\n", cl.key_b64);
    cr_assert(eq(int, seal_keyring_parse(kr, line, strlen(line), NULL, 0), 0));
}

static int read_all(int fd, void *buf, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t r = read(fd, (uint8_t *)buf + off, n - off);
        if (r <= 0) {
            return -1;
        }
        off += (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, (const uint8_t *)buf + off, n - off);
        if (w <= 0) {
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

int cluster_stream_connect(int node)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)cluster_gossip_port(node)) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert(eq(int, connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0));
    return fd;
}

void cluster_stream_hello(int fd, struct session *sess)
{
    struct seal_keyring kr;
    parse_key(&kr);
    session_init(sess, SESSION_CLIENT);
    uint8_t rnd[SESSION_RANDOM_BYTES], f[CODEC_FRAME_HEADER_BYTES + SESSION_HELLO_BYTES];
    randombytes_buf(rnd, sizeof(rnd));
    cr_assert(eq(i64,
                 (int64_t)session_client_hello(sess, &kr, rnd, f + CODEC_FRAME_HEADER_BYTES,
                                               SESSION_HELLO_BYTES),
                 SESSION_HELLO_BYTES));
    seal_keyring_clear(&kr);
    codec_frame_header(f, SESSION_HELLO_BYTES);
    cr_assert(eq(int, write_all(fd, f, sizeof(f)), 0));
}

int cluster_stream_finish(int fd, struct session *sess)
{
    uint8_t f[CODEC_FRAME_HEADER_BYTES + SESSION_HELLO_BYTES];
    if (read_all(fd, f, sizeof(f)) != 0) {
        return -1;
    }
    struct seal_keyring kr;
    parse_key(&kr);
    ssize_t n = session_client_finish(sess, &kr, f + CODEC_FRAME_HEADER_BYTES, SESSION_HELLO_BYTES,
                                      f + CODEC_FRAME_HEADER_BYTES, SESSION_HELLO_BYTES);
    seal_keyring_clear(&kr);
    cr_assert(eq(i64, (int64_t)n, SESSION_CONFIRM_BYTES), "the server hello does not open");
    codec_frame_header(f, SESSION_CONFIRM_BYTES);
    cr_assert(eq(int, write_all(fd, f, CODEC_FRAME_HEADER_BYTES + SESSION_CONFIRM_BYTES), 0));
    return 0;
}

int cluster_stream_open(int node, struct session *sess)
{
    int fd = cluster_stream_connect(node);
    cluster_stream_hello(fd, sess);
    cr_assert(eq(int, cluster_stream_finish(fd, sess), 0), "no server hello");
    return fd;
}

int cluster_stream_send(int fd, struct session *sess, const void *p, size_t len)
{
    uint8_t *frame = malloc(CODEC_FRAME_HEADER_BYTES + len + SESSION_OVERHEAD_BYTES);
    cr_assert(ne(ptr, frame, NULL));
    ssize_t n =
        session_seal(sess, p, len, frame + CODEC_FRAME_HEADER_BYTES, len + SESSION_OVERHEAD_BYTES);
    cr_assert(gt(i64, (int64_t)n, 0));
    codec_frame_header(frame, (uint32_t)n);
    int rv = write_all(fd, frame, CODEC_FRAME_HEADER_BYTES + (size_t)n);
    free(frame);
    return rv;
}

void cluster_init(void)
{
    memset(&cl, 0, sizeof(cl));
    snprintf(cl.dir, sizeof(cl.dir), "/tmp/ring-cluster-XXXXXX");
    cr_assert(mkdtemp(cl.dir) != NULL, "mkdtemp: %s", strerror(errno));
    /* Distinct ports per test process (Criterion runs each test in its own). */
    /* Below the kernel's ephemeral ports (32768 and up), so no outgoing connection of another
     * process can hold a port a node is about to bind. */
    cl.base_port = 16000 + (int)(getpid() % 800) * 20;
    write_cluster_key();
}

const char *cluster_socket(int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/n%d.sock", cl.dir, i);
    return buf;
}

int cluster_gossip_port(int i)
{
    /* In its own namespace every node has ringd's default ports to itself. */
    return cl.ns != NULL ? 7946 : cl.base_port + i;
}

int cluster_proxy_port(int i)
{
    return 12000 + (int)(getpid() % 500) * CLUSTER_NODES_MAX + i;
}

int cluster_admin_port(int i)
{
    return cl.ns != NULL ? 7947 : cl.base_port + 10 + i;
}

/* Node |i|'s gossip (|port_of| = cluster_gossip_port) or admin address: 127.0.0.1 and a port
 * of this test process, or its namespace's address and the fixed port inside one. */
static void node_addr(int i, int (*port_of)(int), char *buf, size_t cap)
{
    char ip[NETNS_IP_STRLEN] = "127.0.0.1";
    if (cl.ns != NULL) {
        netns_ip(cl.ns, i, ip, sizeof(ip));
    }
    snprintf(buf, cap, "%s:%d", ip, port_of(i));
}

/* The child side of cluster_start_node() on loopback: ringd in this network. */
static pid_t spawn_here(char *const argv[], char *const envp[], const char *logf)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execve(argv[0], argv, envp);
        _exit(127);
    }
    return pid;
}

void cluster_start_node(int i, int seed)
{
    char id[16], bind[48], admin[48], join[48], sock[128], logf[128];
    snprintf(id, sizeof(id), "n%d", i);
    node_addr(i, cluster_gossip_port, bind, sizeof(bind));
    node_addr(i, cluster_admin_port, admin, sizeof(admin));
    node_addr(seed < 0 ? i : seed, cluster_gossip_port, join, sizeof(join));
    snprintf(logf, sizeof(logf), "%s/n%d.log", cl.dir, i);
    cluster_socket(i, sock, sizeof(sock));
    char *argv[21 + 2 * CLUSTER_EXTRA_ARGS_MAX];
    int argc = 0;
    for (int k = 0; k < CLUSTER_EXTRA_ARGS_MAX && cl.wrapper[i][k] != NULL; k++) {
        argv[argc++] = (char *)cl.wrapper[i][k];
    }
    char *fixed[] = { RINGD_BIN, "--id",     id,   "--bind",      bind,   "--admin",
                      admin,     "--socket", sock, "--log-level", "debug" };
    for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++) {
        argv[argc++] = fixed[k];
    }
    if (!cl.default_timing) {
        argv[argc++] = "--probe-interval";
        argv[argc++] = "100ms";
        argv[argc++] = "--probe-timeout";
        argv[argc++] = "50ms";
    }
    if (seed >= 0) {
        argv[argc++] = "--join";
        argv[argc++] = join;
    }
    if (cl.insecure[i]) {
        argv[argc++] = "--insecure";
    }
    for (int k = 0; k < CLUSTER_EXTRA_ARGS_MAX && cl.extra_args[i][k] != NULL; k++) {
        argv[argc++] = (char *)cl.extra_args[i][k];
    }
    argv[argc] = NULL;
    /* Flags read the environment too: the key file goes that way (RINGD_KEYFILE). */
    char keyfile[200];
    snprintf(keyfile, sizeof(keyfile), "RINGD_KEYFILE=%s", cl.keyfile[i]);
    char *envp[] = { cl.keyfile[i][0] != '\0' && !cl.insecure[i] ? keyfile : NULL, NULL };
    unlink(sock); /* a restarted node's old socket must not pass for the new one's */
    pid_t pid =
        cl.ns != NULL ? netns_spawn(cl.ns, i, argv, envp, logf) : spawn_here(argv, envp, logf);
    cr_assert(pid > 0, "could not start node %d", i);
    cl.pids[i] = pid;
    if (i >= cl.n) {
        cl.n = i + 1;
    }
    /* Wait until its socket accepts, so callers can talk to it at once (the file exists a
     * moment before ringd listens on it; 10 s: under valgrind ringd takes seconds to start). */
    for (int t = 0; t < 1000; t++) {
        struct ringc *c = NULL;
        char err[256];
        if (access(sock, F_OK) == 0 && ringc_connect(&c, sock, err, sizeof(err)) == 0) {
            ringc_close(c);
            return;
        }
        cluster_sleep_ms(10);
    }
    char cmd[200], tail[2048];
    snprintf(cmd, sizeof(cmd), "tail -n 5 '%s'", logf);
    cluster_sh(cmd, tail, sizeof(tail));
    cr_assert(0, "node %d did not create its socket %s; its log ends:\n%s", i, sock, tail);
}

void cluster_start(int n)
{
    cluster_start_node(0, -1);
    for (int i = 1; i < n; i++) {
        cluster_start_node(i, 0);
    }
}

void cluster_signal(int i, int sig)
{
    cr_assert(cl.pids[i] > 0);
    kill(cl.pids[i], sig);
}

int cluster_wait_exit(int i, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    int status;
    while (now_ms() < end) {
        pid_t p = waitpid(cl.pids[i], &status, WNOHANG);
        if (p == cl.pids[i]) {
            cl.pids[i] = 0;
            return status;
        }
        cluster_sleep_ms(10);
    }
    return -1;
}

void cluster_stop(void)
{
    for (int i = 0; i < CLUSTER_NODES_MAX; i++) {
        if (cl.pids[i] > 0) {
            kill(cl.pids[i], SIGKILL);
            waitpid(cl.pids[i], NULL, 0);
            cl.pids[i] = 0;
        }
    }
    if (cl.dir[0] != '\0' && getenv("RING_CLUSTER_KEEP") == NULL) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cl.dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not remove %s\n", cl.dir);
        }
    }
}

struct ringc *cluster_connect(int i)
{
    char sock[128], err[256];
    struct ringc *c = NULL;
    int rv = ringc_connect(&c, cluster_socket(i, sock, sizeof(sock)), err, sizeof(err));
    cr_assert(eq(int, rv, 0), "%s", err);
    return c;
}

int cluster_member(int i, const char *id, char *status, size_t cap, uint64_t *inc)
{
    char sock[128], err[256];
    struct ringc *c;
    if (ringc_connect(&c, cluster_socket(i, sock, sizeof(sock)), err, sizeof(err)) != 0) {
        return -1;
    }
    const msgpack_object *res;
    int found = -1;
    if (ringc_call(c, &res, 2000, "members", "") == 0) {
        const msgpack_object *list = ringc_get(res, "members");
        for (uint32_t k = 0; list != NULL && k < list->via.array.size; k++) {
            char mid[130];
            ringc_get_str(&list->via.array.ptr[k], "id", mid, sizeof(mid));
            if (strcmp(mid, id) == 0) {
                ringc_get_str(&list->via.array.ptr[k], "status", status, cap);
                *inc = ringc_get_u64(&list->via.array.ptr[k], "incarnation", 0);
                found = 0;
            }
        }
    }
    ringc_close(c);
    return found;
}

int cluster_stats(int i, uint64_t *alive, uint64_t *ring_checksum, uint64_t *checksum)
{
    char sock[128], err[256];
    struct ringc *c;
    if (ringc_connect(&c, cluster_socket(i, sock, sizeof(sock)), err, sizeof(err)) != 0) {
        return -1;
    }
    const msgpack_object *res;
    int rv = ringc_call(c, &res, 2000, "stats", "");
    if (rv == 0) {
        *alive = ringc_get_u64(ringc_get(res, "members"), "alive", 0);
        *ring_checksum = ringc_get_u64(res, "ring_checksum", 0);
        *checksum = ringc_get_u64(res, "checksum", 0);
    }
    ringc_close(c);
    return rv == 0 ? 0 : -1;
}

int cluster_wait(int (*cond)(void *), void *arg, int timeout_ms)
{
    int64_t start = now_ms();
    while (now_ms() - start < timeout_ms) {
        if (cond(arg)) {
            return (int)(now_ms() - start);
        }
        cluster_sleep_ms(20);
    }
    return -1;
}

int cluster_converged(void *want)
{
    uint64_t first_ring = 0, first_sum = 0;
    int seen = 0;
    for (int i = 0; i < cl.n; i++) {
        if (cl.pids[i] <= 0) {
            continue;
        }
        uint64_t alive, ring, sum;
        if (cluster_stats(i, &alive, &ring, &sum) != 0 || alive != (uint64_t)(intptr_t)want) {
            return 0;
        }
        if (seen++ == 0) {
            first_ring = ring;
            first_sum = sum;
        } else if (ring != first_ring || sum != first_sum) {
            return 0;
        }
    }
    return seen > 0;
}

int cluster_http(int i, const char *request, char *body, size_t cap)
{
    int fd = cl.ns != NULL ? netns_socket(cl.ns, i, AF_INET, SOCK_STREAM)
                           : socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(cluster_admin_port(i)) };
    char ip[NETNS_IP_STRLEN] = "127.0.0.1";
    if (cl.ns != NULL) {
        netns_ip(cl.ns, i, ip, sizeof(ip));
    }
    inet_pton(AF_INET, ip, &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    struct timeval tv = { .tv_sec = 3 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
        close(fd);
        return -1;
    }
    static char resp[1 << 20];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(resp) - 1 && (n = read(fd, resp + len, sizeof(resp) - 1 - len)) > 0) {
        len += (size_t)n;
    }
    close(fd);
    resp[len] = '\0';
    int status = -1;
    if (sscanf(resp, "HTTP/1.1 %d", &status) != 1) {
        return -1;
    }
    const char *b = strstr(resp, "\r\n\r\n");
    snprintf(body, cap, "%s", b != NULL ? b + 4 : "");
    return status;
}

int cluster_sh(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        return -1;
    }
    size_t len = fread(out, 1, cap - 1, p);
    out[len] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

long long cluster_metric(int i, const char *name)
{
    static char body[1 << 20];
    if (cluster_http(i, "GET /metrics HTTP/1.0\r\n\r\n", body, sizeof(body)) != 200) {
        return -1;
    }
    char want[256];
    snprintf(want, sizeof(want), "\n%s ", name);
    const char *at = strstr(body, want);
    return at != NULL ? strtoll(at + strlen(want), NULL, 10) : -1;
}

void cluster_proxy_flags(int i, int app_port, const char *const *extra)
{
    static char proxy_addr[CLUSTER_NODES_MAX][32], app_addr[CLUSTER_NODES_MAX][32];
    snprintf(proxy_addr[i], sizeof(proxy_addr[i]), "127.0.0.1:%d", cluster_proxy_port(i));
    snprintf(app_addr[i], sizeof(app_addr[i]), "127.0.0.1:%d", app_port);
    const char **a = cl.extra_args[i];
    size_t n = 0;
    a[n++] = "--proxy";
    a[n++] = proxy_addr[i];
    a[n++] = "--app";
    a[n++] = app_addr[i];
    for (size_t k = 0; extra != NULL && extra[k] != NULL; k++) {
        cr_assert(lt(sz, n, (size_t)CLUSTER_EXTRA_ARGS_MAX), "too many flags for node %d", i);
        a[n++] = extra[k];
    }
    a[n] = NULL;
}
