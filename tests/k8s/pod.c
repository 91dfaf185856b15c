/* pod: see pod.h. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pod.h"

struct pods pods;

#define POD_PREFIX "ringpod-"
#define POD_SUBNET "10.251.0"
/* The DNS server is host 0: 10.251.0.10. */
#define DNS_HOST 0
/* The admin port of k8s/ringd.env (RINGD_ADMIN), where the kubelet's probes go. */
#define ADMIN_PORT 7947
/* The manifest's terminationGracePeriodSeconds is 40; without an app, ringd's SIGTERM drain
 * ends once every node has heard it (about a second) and its leave takes at most 3 s, so a
 * pod still running after this has a bug rather than a slow leave. */
#define DELETE_GRACE_MS 10000
/* Environment entries of a pod: ringd.env's plus the pod's own. */
#define POD_ENV_MAX       32
#define POD_ENV_BYTES_MAX 256
/* The app container's port and ringd's proxy port in a pod (pods.with_app). */
#define POD_APP_PORT   8080
#define POD_PROXY_PORT 7070

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL, "write %s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert(eq(int, fclose(f), 0));
    cr_assert(eq(int, chmod(path, mode), 0));
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
    FILE *in = fopen(from, "rb");
    FILE *out = fopen(to, "wb");
    cr_assert(in != NULL && out != NULL, "copy %s to %s: %s", from, to, strerror(errno));
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
        cr_assert(eq(sz, fwrite(buf, 1, n, out), n));
    }
    fclose(in);
    cr_assert(eq(int, fclose(out), 0));
    cr_assert(eq(int, chmod(to, mode), 0));
}

static void make_dir(const char *path, mode_t mode)
{
    cr_assert(mkdir(path, mode) == 0 || errno == EEXIST, "mkdir %s: %s", path, strerror(errno));
    cr_assert(eq(int, chmod(path, mode), 0));
}

static void dns_start(void)
{
    char hosts[128], log[128], pidfile[128], ip[NETNS_IP_STRLEN];
    snprintf(hosts, sizeof(hosts), "%s/hosts", pods.dir);
    snprintf(log, sizeof(log), "%s/dnsmasq.log", pods.dir);
    snprintf(pidfile, sizeof(pidfile), "%s/dnsmasq.pid", pods.dir);
    write_file(hosts, "", 0644);
    char a_hosts[160], a_listen[64], a_pid[160];
    snprintf(a_hosts, sizeof(a_hosts), "--addn-hosts=%s", hosts);
    snprintf(a_listen, sizeof(a_listen), "--listen-address=%s",
             netns_ip(&pods.net, DNS_HOST, ip, sizeof(ip)));
    snprintf(a_pid, sizeof(a_pid), "--pid-file=%s", pidfile);
    /* Only the records of the hosts file, for cluster.local (anything else there gets
     * NXDOMAIN, as from the cluster DNS), with no upstream and no caching to go stale. */
    char *argv[] = { "/usr/sbin/dnsmasq",
                     "--keep-in-foreground",
                     "--conf-file=/dev/null",
                     "--no-resolv",
                     "--no-hosts",
                     a_hosts,
                     a_listen,
                     "--bind-interfaces",
                     "--local=/cluster.local/",
                     "--cache-size=0",
                     "--log-queries",
                     "--log-facility=-",
                     a_pid,
                     NULL };
    char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
    pods.dns_pid = netns_spawn(&pods.net, DNS_HOST, argv, envp, log);
    cr_assert(gt(int, pods.dns_pid, 0), "dnsmasq did not start");
    for (int waited = 0; access(pidfile, F_OK) != 0; waited += 20) {
        cr_assert(lt(int, waited, 5000), "dnsmasq did not start in 5 s (see %s)", log);
        cr_assert(eq(int, waitpid(pods.dns_pid, NULL, WNOHANG), 0), "dnsmasq exited (see %s)", log);
        sleep_ms(20);
    }
}

void pods_setup(void)
{
    memset(&pods, 0, sizeof(pods));
    cr_assert(eq(int, access("/usr/sbin/dnsmasq", X_OK), 0),
              "dnsmasq not found: apt-get install -y dnsmasq-base");
    cr_assert(eq(int, netns_setup(&pods.net, POD_PREFIX, POD_SUBNET, POD_SLOTS + 1), 0),
              "network namespaces (root, iproute2)");
    snprintf(pods.dir, sizeof(pods.dir), "/tmp/ringpod-XXXXXX");
    cr_assert(mkdtemp(pods.dir) != NULL, "mkdtemp: %s", strerror(errno));
    /* dnsmasq reads its hosts file as "nobody" and the pods' roots are entered as 65532. */
    cr_assert(eq(int, chmod(pods.dir, 0755), 0));
    dns_start();
}

static void kill_and_reap(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
        *pid = 0;
    }
}

void pods_teardown(void)
{
    for (int s = 1; s <= POD_SLOTS; s++) {
        kill_and_reap(&pods.slot[s].pid);
        kill_and_reap(&pods.slot[s].app_pid);
    }
    kill_and_reap(&pods.dns_pid);
    netns_teardown(&pods.net);
    if (pods.dir[0] != '\0' && getenv("RING_K8S_KEEP") == NULL) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pods.dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "pod: could not remove %s\n", pods.dir);
        }
    }
}

/* ---- records ----------------------------------------------------------------------------- */

void pod_publish(int slot, int on)
{
    pods.slot[slot].published = on;
    char text[4096] = "", path[128];
    size_t len = 0;
    for (int s = 1; s <= POD_SLOTS; s++) {
        const struct pod *p = &pods.slot[s];
        if (p->published && p->name[0] != '\0') {
            len +=
                (size_t)snprintf(text + len, sizeof(text) - len,
                                 "%s " POD_SERVICE "." POD_K8S_NAMESPACE ".svc.cluster.local\n"
                                 "%s %s." POD_SERVICE "." POD_K8S_NAMESPACE ".svc.cluster.local\n",
                                 p->ip, p->ip, p->name);
            cr_assert(lt(sz, len, sizeof(text)));
        }
    }
    snprintf(path, sizeof(path), "%s/hosts", pods.dir);
    write_file(path, text, 0644);
    cr_assert(eq(int, kill(pods.dns_pid, SIGHUP), 0));
    /* dnsmasq re-reads the file in its main loop, at once. */
    sleep_ms(50);
}

/* The Secret's key, made as k8s/README.md says (`ringctl keygen`), once per test process:
 * every pod of the test's cluster mounts the same one. */
static const char *pod_cluster_key(void)
{
    static char key[128];
    if (key[0] == '\0') {
        FILE *p = popen(RINGCTL_BIN " keygen", "r");
        cr_assert(ne(ptr, p, NULL));
        size_t n = fread(key, 1, sizeof(key) - 1, p);
        key[n] = '\0';
        cr_assert(eq(int, pclose(p), 0), "ringctl keygen failed");
        cr_assert(gt(sz, n, 40), "ringctl keygen wrote %zu bytes", n);
    }
    return key;
}

/* ---- a pod's root and environment ---------------------------------------------------------- */

static void make_root(struct pod *p, int slot)
{
    char path[256], text[512], root[sizeof(p->root)];
    snprintf(root, sizeof(root), "%s/%s-s%d", pods.dir, p->name, slot);
    memcpy(p->root, root, sizeof(root));
    const char *dirs[] = {
        "", "/etc", "/etc/ringd", "/run", "/usr", "/usr/local", "/usr/local/bin"
    };
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", p->root, dirs[i]);
        make_dir(path, 0755);
    }
    /* The image's files. */
    snprintf(path, sizeof(path), "%s/usr/local/bin/ringd", p->root);
    copy_file(RINGD_BIN, path, 0555);
    snprintf(path, sizeof(path), "%s/usr/local/bin/ringctl", p->root);
    copy_file(RINGCTL_BIN, path, 0555);
    const char *etc[] = { "passwd", "group", "nsswitch.conf" };
    for (size_t i = 0; i < sizeof(etc) / sizeof(etc[0]); i++) {
        char from[256];
        snprintf(from, sizeof(from), RING_SOURCE_DIR "/k8s/rootfs/etc/%s", etc[i]);
        snprintf(path, sizeof(path), "%s/etc/%s", p->root, etc[i]);
        copy_file(from, path, 0644);
    }
    /* The kubelet's: resolv.conf (ClusterFirst DNS), hosts, the Secret (fsGroup 65532, mode
     * 0440) and the emptyDir (fsGroup, setgid). */
    char dns[NETNS_IP_STRLEN];
    snprintf(text, sizeof(text),
             "search " POD_K8S_NAMESPACE ".svc.cluster.local svc.cluster.local cluster.local\n"
             "nameserver %s\noptions ndots:5\n",
             netns_ip(&pods.net, DNS_HOST, dns, sizeof(dns)));
    snprintf(path, sizeof(path), "%s/etc/resolv.conf", p->root);
    write_file(path, text, 0644);
    snprintf(text, sizeof(text),
             "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
             "%s\t%s." POD_SERVICE "." POD_K8S_NAMESPACE ".svc.cluster.local\t%s\n",
             p->ip, p->name, p->name);
    snprintf(path, sizeof(path), "%s/etc/hosts", p->root);
    write_file(path, text, 0644);
    snprintf(path, sizeof(path), "%s/etc/ringd/keyfile", p->root);
    write_file(path, pod_cluster_key(), 0440);
    cr_assert(eq(int, chown(path, 0, POD_UID), 0));
    snprintf(path, sizeof(path), "%s/run/ringd", p->root);
    make_dir(path, 02770);
    cr_assert(eq(int, chown(path, 0, POD_UID), 0));
}

/* statefulset.yaml's RINGD_JOIN value, $(POD_NAMESPACE) expanded, into |out|. */
static void manifest_join(char *out, size_t cap)
{
    FILE *f = fopen(RING_SOURCE_DIR "/k8s/statefulset.yaml", "r");
    cr_assert(f != NULL);
    char line[512];
    int next = 0;
    out[0] = '\0';
    while (fgets(line, sizeof(line), f) != NULL && out[0] == '\0') {
        char *v = strstr(line, "value: ");
        if (next && v != NULL) {
            v += strlen("value: ");
            v[strcspn(v, "\r\n")] = '\0';
            char *ns = strstr(v, "$(POD_NAMESPACE)");
            cr_assert(ns != NULL, "RINGD_JOIN in statefulset.yaml names no $(POD_NAMESPACE)");
            *ns = '\0';
            snprintf(out, cap, "%s" POD_K8S_NAMESPACE "%s", v, ns + strlen("$(POD_NAMESPACE)"));
        }
        next = strstr(line, "name: RINGD_JOIN") != NULL;
    }
    fclose(f);
    cr_assert(ne(int, out[0], '\0'), "no RINGD_JOIN value in k8s/statefulset.yaml");
}

/* The pod's environment: the ConfigMap (k8s/ringd.env), then the downward API and the join. */
static int pod_env(const struct pod *p, char env[][POD_ENV_BYTES_MAX])
{
    int n = 0;
    FILE *f = fopen(RING_SOURCE_DIR "/k8s/ringd.env", "r");
    cr_assert(f != NULL);
    char line[POD_ENV_BYTES_MAX];
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] != '#' && strchr(line, '=') != NULL) {
            cr_assert(lt(int, n, POD_ENV_MAX - 11));
            snprintf(env[n++], POD_ENV_BYTES_MAX, "%s", line);
        }
    }
    fclose(f);
    char join[256];
    manifest_join(join, sizeof(join));
    snprintf(env[n++], POD_ENV_BYTES_MAX, "POD_IP=%s", p->ip);
    snprintf(env[n++], POD_ENV_BYTES_MAX, "POD_NAME=%s", p->name);
    snprintf(env[n++], POD_ENV_BYTES_MAX, "POD_NAMESPACE=" POD_K8S_NAMESPACE);
    snprintf(env[n++], POD_ENV_BYTES_MAX, "RINGD_JOIN=%s", join);
    if (pods.with_app) {
        snprintf(env[n++], POD_ENV_BYTES_MAX, "RINGD_PROXY=127.0.0.1:%d", POD_PROXY_PORT);
        snprintf(env[n++], POD_ENV_BYTES_MAX, "RINGD_APP=127.0.0.1:%d", POD_APP_PORT);
    }
    if (pods.with_app && pods.sidecar) {
        snprintf(env[n++], POD_ENV_BYTES_MAX, "RINGD_APP_HEALTH=" POD_APP_HEALTH_PATH);
        snprintf(env[n++], POD_ENV_BYTES_MAX, "RINGD_APP_HEALTH_INTERVAL=" POD_APP_HEALTH_INTERVAL);
        if (pods.app_health_holddown != NULL) {
            snprintf(env[n++], POD_ENV_BYTES_MAX, "RINGD_APP_HEALTH_HOLDDOWN=%s",
                     pods.app_health_holddown);
        }
        if (pods.delayed_rebalance != NULL) {
            snprintf(env[n++], POD_ENV_BYTES_MAX, "RINGD_DELAYED_REBALANCE=%s",
                     pods.delayed_rebalance);
        }
    }
    return n;
}

/* ---- processes in a pod ------------------------------------------------------------------ */

/* Forks a process that enters the slot's network namespace, chroots into the pod's root,
 * becomes the image's user and execs |argv| with |envp|; its stdout and stderr go to |out_fd|
 * (-1: inherited). Returns the PID. */
static pid_t spawn(int slot, char *const argv[], char *const envp[], int out_fd)
{
    char name[64], path[128];
    snprintf(path, sizeof(path), "/run/netns/%s", netns_name(&pods.net, slot, name, sizeof(name)));
    int nsfd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert(ge(int, nsfd, 0), "open %s: %s", path, strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        if (setns(nsfd, CLONE_NEWNET) != 0 || chroot(pods.slot[slot].root) != 0 ||
            chdir("/") != 0 || setgroups(0, NULL) != 0 || setgid(POD_UID) != 0 ||
            setuid(POD_UID) != 0) {
            _exit(126);
        }
        /* After setuid, which clears it: die with the test process. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(126);
        }
        if (out_fd >= 0) {
            dup2(out_fd, 1);
            dup2(out_fd, 2);
        }
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(nsfd);
    cr_assert(gt(int, pid, 0), "fork: %s", strerror(errno));
    return pid;
}

void pod_app_start(int slot)
{
    /* The app container: same network namespace, its own image (not chrooted here). */
    struct pod *p = &pods.slot[slot];
    cr_assert(eq(int, p->app_pid, 0), "the app of slot %d runs", slot);
    char listen[32], app_log[192];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", POD_APP_PORT);
    snprintf(app_log, sizeof(app_log), "%s/%s-s%d-app.log", pods.dir, p->name, slot);
    char *app_argv[] = { RING_TESTAPP_BIN, "--listen", listen, "--id", p->name, NULL };
    char *app_envp[] = { NULL };
    p->app_pid = netns_spawn(&pods.net, slot, app_argv, app_envp, app_log);
    cr_assert(gt(int, p->app_pid, 0), "the app container of %s did not start", p->name);
}

void pod_app_kill(int slot)
{
    kill_and_reap(&pods.slot[slot].app_pid);
}

void pod_start(int slot, const char *name)
{
    struct pod *p = &pods.slot[slot];
    cr_assert(eq(int, p->pid, 0), "slot %d is busy", slot);
    snprintf(p->name, sizeof(p->name), "%s", name);
    netns_ip(&pods.net, slot, p->ip, sizeof(p->ip));
    p->published = 0;
    make_root(p, slot);
    char env[POD_ENV_MAX][POD_ENV_BYTES_MAX];
    char *envp[POD_ENV_MAX + 1];
    int n = pod_env(p, env);
    for (int i = 0; i < n; i++) {
        envp[i] = env[i];
    }
    envp[n] = NULL;
    char log[192];
    if (pods.with_app && pods.sidecar) {
        /* Native sidecars: ringd first; the app's start waits on `ringctl wait-ready`. */
        snprintf(log, sizeof(log), "%s/%s-s%d.log", pods.dir, name, slot);
        int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        cr_assert(ge(int, lfd, 0));
        char *argv[] = { "/usr/local/bin/ringd", NULL };
        p->pid = spawn(slot, argv, envp, lfd);
        close(lfd);
        pod_publish(slot, 1); /* the Service publishes not-ready addresses (service.yaml) */
        char out[256];
        char *wait[] = { "/usr/local/bin/ringctl", "wait-ready", "--timeout", "20s", NULL };
        int rv = pod_exec(slot, wait, out, sizeof(out));
        cr_assert(eq(int, rv, 0), "%s: `ringctl wait-ready`: exit %d: %s", name, rv, out);
        pod_app_start(slot);
        return;
    }
    if (pods.with_app) {
        pod_app_start(slot);
    }
    snprintf(log, sizeof(log), "%s/%s-s%d.log", pods.dir, name, slot);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    cr_assert(ge(int, fd, 0));
    /* The image's entrypoint, no arguments: everything comes from the environment. */
    char *argv[] = { "/usr/local/bin/ringd", NULL };
    p->pid = spawn(slot, argv, envp, fd);
    close(fd);
}

int pod_exec(int slot, char *const argv[], char *out, size_t cap)
{
    int fds[2];
    cr_assert(eq(int, pipe2(fds, O_CLOEXEC), 0));
    char *envp[] = { "PATH=/usr/local/bin", NULL };
    pid_t pid = spawn(slot, argv, envp, fds[1]);
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    char sink[512];
    while ((n = read(fds[0], len + 1 < cap ? out + len : sink,
                     len + 1 < cap ? cap - 1 - len : sizeof(sink))) > 0) {
        len += len + 1 < cap ? (size_t)n : 0;
    }
    close(fds[0]);
    if (cap > 0) {
        out[len] = '\0';
    }
    int status;
    cr_assert(eq(int, waitpid(pid, &status, 0), pid));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Waits up to |ms| for the slot's ringd to exit; returns its exit status, -1 if it died of a
 * signal, -2 if it is still running. */
static int wait_exit(struct pod *p, int ms)
{
    for (int waited = 0;; waited += 20) {
        int status;
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        if (waited >= ms) {
            return -2;
        }
        sleep_ms(20);
    }
}

int pod_delete_all(const int *slots, int n)
{
    /* ringd has no preStop: its SIGTERM drains, leaves and exits */
    for (int i = 0; i < n; i++) {
        kill(pods.slot[slots[i]].pid, SIGTERM);
    }
    int clean = 0;
    for (int i = 0; i < n; i++) {
        struct pod *p = &pods.slot[slots[i]];
        int rv = wait_exit(p, DELETE_GRACE_MS);
        if (rv == -2) {
            kill_and_reap(&p->pid);
        }
        clean += rv == 0;
        kill_and_reap(&p->app_pid);
        p->name[0] = '\0';
    }
    return clean;
}

int pod_delete(int slot)
{
    return pod_delete_all(&slot, 1) == 1 ? 0 : -1;
}

/* Waits up to |ms| for |*pid| to exit (reaped, *pid = 0); returns its status or -2. */
static int wait_pid(pid_t *pid, int ms)
{
    for (int waited = 0;; waited += 10) {
        int status;
        if (waitpid(*pid, &status, WNOHANG) == *pid) {
            *pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        if (waited >= ms) {
            return -2;
        }
        sleep_ms(10);
    }
}

int pod_stop_native(int slot, int *prestop)
{
    struct pod *p = &pods.slot[slot];
    /* The app container's preStop: the kubelet's httpGet, bounded by the grace period. */
    const char *hook =
        pods.delayed_rebalance != NULL ? "/v1/drain?wait=1&restart=1" : "/v1/drain?wait=1";
    int code = pod_probe_ms(slot, hook, DELETE_GRACE_MS);
    if (prestop != NULL) {
        *prestop = code;
    }
    kill(p->app_pid, SIGTERM);
    if (wait_pid(&p->app_pid, DELETE_GRACE_MS) == -2) {
        kill_and_reap(&p->app_pid);
    }
    /* Then the sidecar. */
    kill(p->pid, SIGTERM);
    int rv = wait_exit(p, DELETE_GRACE_MS);
    if (rv == -2) {
        kill_and_reap(&p->pid);
    }
    p->name[0] = '\0';
    return rv == -2 ? -1 : rv;
}

void pod_kill(int slot)
{
    kill_and_reap(&pods.slot[slot].pid);
    kill_and_reap(&pods.slot[slot].app_pid);
    pods.slot[slot].name[0] = '\0';
}

int pod_probe(int slot, const char *path)
{
    return pod_probe_ms(slot, path, 1000);
}

int pod_probe_ms(int slot, const char *path, int timeout_ms)
{
    int fd = netns_socket(&pods.net, slot, AF_INET, SOCK_STREAM);
    if (fd < 0) {
        return -1;
    }
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(ADMIN_PORT) };
    inet_pton(AF_INET, pods.slot[slot].ip, &sa.sin_addr);
    char req[256], resp[64] = "";
    int len = snprintf(req, sizeof(req),
                       "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: kube-probe/1.30\r\n"
                       "Connection: close\r\n\r\n",
                       path, pods.slot[slot].ip, ADMIN_PORT);
    int code = -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        write(fd, req, (size_t)len) == len && read(fd, resp, sizeof(resp) - 1) > 12 &&
        strncmp(resp, "HTTP/1.1 ", 9) == 0) {
        code = atoi(resp + 9);
    }
    close(fd);
    return code;
}

int pod_request(int slot, const char *key, char *app, size_t cap)
{
    app[0] = '\0';
    int fd = netns_socket(&pods.net, slot, AF_INET, SOCK_STREAM);
    if (fd < 0) {
        return -1;
    }
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(POD_PROXY_PORT) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    char req[256], resp[4096];
    int len =
        snprintf(req, sizeof(req),
                 "GET / HTTP/1.1\r\nHost: app\r\nX-Ring-Key: %s\r\nConnection: close\r\n\r\n", key);
    int code = -1;
    size_t got = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        write(fd, req, (size_t)len) == len) {
        ssize_t n;
        while (got + 1 < sizeof(resp) && (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0) {
            got += (size_t)n;
        }
    }
    close(fd);
    resp[got] = '\0';
    if (got > 12 && strncmp(resp, "HTTP/1.1 ", 9) == 0) {
        code = atoi(resp + 9);
        const char *h = strcasestr(resp, "\r\nX-App-Id: ");
        if (h != NULL) {
            h += strlen("\r\nX-App-Id: ");
            snprintf(app, cap, "%.*s", (int)strcspn(h, "\r\n"), h);
        }
    }
    return code;
}

const char *pod_socket(int slot, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/run/ringd/ringd.sock", pods.slot[slot].root);
    return buf;
}
