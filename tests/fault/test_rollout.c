/*
 * Scenario 6, a rolling restart of all eight nodes one by one, as a Kubernetes rollout does,
 * with traffic through the forwarding proxy the whole time. Every node runs ringd with
 * --proxy <ip>:8081 --app <ip>:8080 beside a ring_testapp on <ip>:8080. A client thread sends
 * an idempotent GET with a fresh key (X-Ring-Key) every 10 ms, round robin over the nodes in
 * rotation, on one keep-alive connection per node, and waits for each answer (closed loop, so
 * "every 10 ms" holds while answers take under 10 ms; the count sent is reported).
 *
 * One step of the rollout, per node, in the order Kubernetes imposes on a pod whose ringd is a
 * native sidecar (k8s/statefulset.yaml): take it out of rotation (a Service drops a
 * terminating pod's endpoint); the app container's preStop hook, GET /v1/drain?wait=1 on
 * ringd's admin port (the node gives its keys away and finishes what it serves); SIGTERM to
 * the app and its exit; only then SIGTERM to ringd (already drained: it leaves) and its exit.
 * Then the new pod: ringd first (with --app-health, so it joins owning no keys), then the app,
 * wait until all eight agree on the membership, and put it back in rotation.
 *
 * Bars: >= 99.9% of requests answered 200, and every request answered (none lost to a
 * timeout or a dropped connection). Full: a 5 s pause between steps; short: 1 s (not in
 * scripts/test.sh).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"
#include "httpc.h"

#define APP_PORT       8080
#define PROXY_PORT     8081
#define SEND_EVERY_MS  10
#define ANSWER_MS_MAX  5000 /* a request without an answer this long counts as lost */
#define SUCCESS_MIN    0.999
#define PAUSE_MS_FULL  5000
#define PAUSE_MS_SHORT 1000
#define READY_MS_MAX   20000
#define EXIT_MS_MAX    10000

TestSuite(fault_rollout, .init = fault_setup, .fini = fault_teardown, .timeout = 300);

static pid_t apps[FAULT_NODES];
static char proxy_arg[FAULT_NODES][48], app_arg[FAULT_NODES][48];

/* What the client thread did; the test reads it once the thread has ended. */
struct client {
    atomic_uint rotation; /* fault_set of the nodes the client may send to */
    atomic_int busy_on;   /* the node a request is in flight to, -1 for none */
    atomic_int stop;
    long sent, ok, non_200, lost;
    int latency_ms_max;
    int last_status;
    char last_body[96]; /* the body of the last non-200 answer (the proxy says why) */
};

static struct client client;

static void start_app(int i)
{
    char listen[48], id[16], logf[160];
    snprintf(listen, sizeof(listen), "%s", app_arg[i]);
    snprintf(id, sizeof(id), "app%d", i);
    snprintf(logf, sizeof(logf), "%s/app%d.log", cl.dir, i);
    char *argv[] = { RING_TESTAPP_BIN, "--listen", listen, "--id", id, NULL };
    char *envp[] = { NULL };
    apps[i] = netns_spawn(&fault_net, i, argv, envp, logf);
    cr_assert(gt(int, apps[i], 0));
    /* Ready when it accepts a connection. */
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(APP_PORT) };
    char ip[NETNS_IP_STRLEN];
    inet_pton(AF_INET, netns_ip(&fault_net, i, ip, sizeof(ip)), &sa.sin_addr);
    for (int t = 0; t < 500; t++) {
        int fd = netns_socket(&fault_net, i, AF_INET, SOCK_STREAM);
        int up = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        if (fd >= 0) {
            close(fd);
        }
        if (up) {
            return;
        }
        cluster_sleep_ms(10);
    }
    cr_assert(0, "app %d did not start listening", i);
}

static void stop_app(int i)
{
    if (apps[i] > 0) {
        kill(apps[i], SIGKILL);
        waitpid(apps[i], NULL, 0);
        apps[i] = 0;
    }
}

/* The app container's own end: SIGTERM, and its exit (SIGKILL after the grace period). */
static void term_app(int i)
{
    if (apps[i] <= 0) {
        return;
    }
    kill(apps[i], SIGTERM);
    for (int t = 0; t < EXIT_MS_MAX / 10; t++) {
        if (waitpid(apps[i], NULL, WNOHANG) == apps[i]) {
            apps[i] = 0;
            return;
        }
        cluster_sleep_ms(10);
    }
    stop_app(i);
}

static void teardown(void)
{
    atomic_store(&client.stop, 1);
    for (int i = 0; i < FAULT_NODES; i++) {
        stop_app(i);
    }
    fault_teardown();
}

static struct httpc *connect_proxy(int i)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PROXY_PORT) };
    char ip[NETNS_IP_STRLEN];
    inet_pton(AF_INET, netns_ip(&fault_net, i, ip, sizeof(ip)), &sa.sin_addr);
    int fd = netns_socket(&fault_net, i, AF_INET, SOCK_STREAM);
    if (fd < 0) {
        return NULL;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return NULL;
    }
    return httpc_wrap(fd);
}

/* Sends one GET for |key| through node |i|'s proxy on *h (connecting when NULL); returns
 * the status, or -1 when no answer came (the connection is then dropped). */
static int one_request(struct httpc **h, int i, const char *key)
{
    static struct httpc_resp resp;
    resp.body[0] = '\0';
    if (*h == NULL && (*h = connect_proxy(i)) == NULL) {
        return -1;
    }
    char req[256];
    snprintf(req, sizeof(req), "GET /item HTTP/1.1\r\nHost: ring\r\nX-Ring-Key: %s\r\n\r\n", key);
    if (httpc_send_str(*h, req) != 0 || httpc_read(*h, &resp, ANSWER_MS_MAX) != 0) {
        httpc_close(*h);
        *h = NULL;
        return -1;
    }
    if (!resp.keep_alive) {
        httpc_close(*h);
        *h = NULL;
    }
    if (resp.status != 200) {
        snprintf(client.last_body, sizeof(client.last_body), "%.*s",
                 (int)strcspn(resp.body, "\"\\\r\n"), resp.body);
    }
    return resp.status;
}

static int next_entry(int last)
{
    unsigned rot = atomic_load(&client.rotation);
    for (int k = 1; k <= FAULT_NODES; k++) {
        int i = (last + k) % FAULT_NODES;
        if (FAULT_IN(rot, i)) {
            return i;
        }
    }
    return -1;
}

static void *client_main(void *arg)
{
    (void)arg;
    struct httpc *conns[FAULT_NODES] = { NULL };
    int entry = 0;
    int64_t next = fault_now_ms();
    while (!atomic_load(&client.stop)) {
        entry = next_entry(entry);
        atomic_store(&client.busy_on, entry);
        /* Out-of-rotation nodes are about to restart: their connections go now. */
        for (int i = 0; i < FAULT_NODES; i++) {
            if (conns[i] != NULL && !FAULT_IN(atomic_load(&client.rotation), i)) {
                httpc_close(conns[i]);
                conns[i] = NULL;
            }
        }
        if (entry >= 0) {
            char key[32];
            snprintf(key, sizeof(key), "item:%ld", client.sent);
            int64_t t = fault_now_ms();
            int status = one_request(&conns[entry], entry, key);
            int ms = (int)(fault_now_ms() - t);
            client.sent++;
            client.ok += status == 200;
            client.non_200 += status > 0 && status != 200;
            client.lost += status < 0;
            client.latency_ms_max = ms > client.latency_ms_max ? ms : client.latency_ms_max;
            if (status != 200) {
                client.last_status = status;
            }
        }
        atomic_store(&client.busy_on, -1);
        next += SEND_EVERY_MS;
        int64_t wait = next - fault_now_ms();
        cluster_sleep_ms(wait > 0 ? (int)wait : 0);
    }
    for (int i = 0; i < FAULT_NODES; i++) {
        httpc_close(conns[i]);
    }
    return NULL;
}

/* Takes node |i| out of rotation and waits until no request is in flight to it. */
static void drain(int i)
{
    atomic_fetch_and(&client.rotation, ~(1u << i));
    while (atomic_load(&client.busy_on) == i) {
        cluster_sleep_ms(1);
    }
}

static void restart(int i)
{
    drain(i);
    char body[512];
    int prestop = cluster_http(i, "GET /v1/drain?wait=1 HTTP/1.0\r\n\r\n", body, sizeof(body));
    cr_assert(eq(int, prestop, 200), "node %d: the preStop drain answered %d: %s", i, prestop,
              body);
    term_app(i);
    cluster_signal(i, SIGTERM);
    int status = cluster_wait_exit(i, EXIT_MS_MAX);
    cr_assert(ne(int, status, -1), "ringd %d did not exit after SIGTERM", i);
    cluster_start_node(i, (i + 1) % FAULT_NODES);
    start_app(i);
    int ms = fault_wait_agree(FAULT_ALL, FAULT_ALL, fault_now_ms(), READY_MS_MAX);
    cr_assert(ge(int, ms, 0), "node %d did not rejoin", i);
    atomic_fetch_or(&client.rotation, 1u << i);
}

Test(fault_rollout, proxy_answers_through_a_rolling_restart, .fini = teardown)
{
    int pause_ms = fault_ms(PAUSE_MS_SHORT, PAUSE_MS_FULL);
    char ip[NETNS_IP_STRLEN];
    for (int i = 0; i < FAULT_NODES; i++) {
        netns_ip(&fault_net, i, ip, sizeof(ip));
        snprintf(proxy_arg[i], sizeof(proxy_arg[i]), "%s:%d", ip, PROXY_PORT);
        snprintf(app_arg[i], sizeof(app_arg[i]), "%s:%d", ip, APP_PORT);
        /* The app's health check: a new ringd joins owning no keys until its app answers. */
        const char *extra[] = { "--proxy",
                                proxy_arg[i],
                                "--app",
                                app_arg[i],
                                "--app-health",
                                "/healthz",
                                "--app-health-interval",
                                "200ms",
                                NULL };
        memcpy(cl.extra_args[i], extra, sizeof(extra));
        start_app(i);
    }
    fault_start_all();
    memset(&client, 0, sizeof(client));
    atomic_store(&client.rotation, FAULT_ALL);
    atomic_store(&client.busy_on, -1);
    pthread_t th;
    cr_assert(eq(int, pthread_create(&th, NULL, client_main, NULL), 0));
    cluster_sleep_ms(pause_ms);
    int64_t t0 = fault_now_ms();
    for (int i = 0; i < FAULT_NODES; i++) {
        restart(i);
        cluster_sleep_ms(pause_ms);
    }
    int rollout_ms = (int)(fault_now_ms() - t0);
    atomic_store(&client.stop, 1);
    pthread_join(th, NULL);
    double success = client.sent > 0 ? (double)client.ok / (double)client.sent : 0.0;
    fault_report("rollout",
                 "\"nodes\": %d, \"rollout_ms\": %d, \"pause_ms\": %d, "
                 "\"send_every_ms\": %d, \"sent\": %ld, \"ok\": %ld, \"non_200\": %ld, "
                 "\"unanswered\": %ld, \"success\": %.5f, \"latency_ms_max\": %d, "
                 "\"last_failure_status\": %d, \"last_failure_body\": \"%s\"",
                 FAULT_NODES, rollout_ms, pause_ms, SEND_EVERY_MS, client.sent, client.ok,
                 client.non_200, client.lost, success, client.latency_ms_max, client.last_status,
                 client.last_body);
    cr_assert(gt(long, client.sent, 0));
    cr_assert(eq(long, client.lost, 0), "%ld requests got no answer", client.lost);
    cr_assert(ge(dbl, success, SUCCESS_MIN), "%.4f%% answered 200", 100.0 * success);
}
