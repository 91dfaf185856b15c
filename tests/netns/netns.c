/* netns: see netns.h. Namespaces and links are made with iproute2 and iptables, run through
 * the shell: a test harness is allowed the dependency, and the commands are the ones a person
 * would type to reproduce a failure by hand. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netns.h"

/* Where `ip netns add` puts the namespace handles. */
#define NETNS_RUN_DIR "/run/netns"

/* Runs a formatted shell command, its stdout dropped; returns its exit status or -1. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof(cmd)) {
        fprintf(stderr, "netns: command too long\n");
        return -1;
    }
    int status = system(cmd);
    if (status == -1 || !WIFEXITED(status)) {
        return -1;
    }
    if (WEXITSTATUS(status) != 0 && getenv("NETNS_VERBOSE") != NULL) {
        fprintf(stderr, "netns: exit %d: %s\n", WEXITSTATUS(status), cmd);
    }
    return WEXITSTATUS(status);
}

const char *netns_name(const struct netns *ns, int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%d", ns->stem, i);
    return buf;
}

static const char *hub_name(const struct netns *ns, char *buf, size_t cap)
{
    snprintf(buf, cap, "%shub", ns->stem);
    return buf;
}

const char *netns_ip(const struct netns *ns, int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s.%d", ns->subnet, NETNS_HOST_FIRST + i);
    return buf;
}

/* The PID in "<prefix><pid>-...", or -1 when the name does not have that shape. */
static long name_pid(const char *name, const char *prefix)
{
    size_t plen = strlen(prefix);
    if (strncmp(name, prefix, plen) != 0) {
        return -1;
    }
    char *end;
    long pid = strtol(name + plen, &end, 10);
    return end != name + plen && *end == '-' && pid > 0 ? pid : -1;
}

int netns_sweep(const char *prefix)
{
    DIR *d = opendir(NETNS_RUN_DIR);
    if (d == NULL) {
        return 0;
    }
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = name_pid(e->d_name, prefix);
        if (pid < 0) {
            continue;
        }
        int leftover = kill((pid_t)pid, 0) != 0 && errno == ESRCH;
        /* Our own PID on an old name: a dead process had it before us. */
        if (leftover || pid == (long)getpid()) {
            removed += sh("ip netns del '%s' 2>/dev/null", e->d_name) == 0;
        }
    }
    closedir(d);
    return removed;
}

static int add_namespace(struct netns *ns, const char *name)
{
    if (sh("ip netns add '%s'", name) != 0) {
        return -1;
    }
    ns->made++;
    return sh("ip -n '%s' link set lo up", name);
}

static int make_hub(struct netns *ns)
{
    char hub[64];
    hub_name(ns, hub, sizeof(hub));
    if (add_namespace(ns, hub) != 0) {
        return -1;
    }
    return sh("ip -n '%s' link add br0 type bridge && ip -n '%s' link set br0 up", hub, hub);
}

/* Host |i|: its namespace, a veth pair with eth0 inside and v<i> on the hub's bridge. */
static int make_host(struct netns *ns, int i)
{
    char hub[64], name[64], ip[NETNS_IP_STRLEN];
    hub_name(ns, hub, sizeof(hub));
    netns_name(ns, i, name, sizeof(name));
    netns_ip(ns, i, ip, sizeof(ip));
    if (add_namespace(ns, name) != 0) {
        return -1;
    }
    return sh("ip -n '%s' link add v%d type veth peer name eth0 netns '%s'"
              " && ip -n '%s' link set v%d master br0 up"
              " && ip -n '%s' addr add %s/24 dev eth0 && ip -n '%s' link set eth0 up",
              hub, i, name, hub, i, name, ip, name);
}

int netns_setup(struct netns *ns, const char *prefix, const char *subnet, int n)
{
    memset(ns, 0, sizeof(*ns));
    if (n < 1 || n > NETNS_HOSTS_MAX) {
        fprintf(stderr, "netns: %d hosts (1..%d)\n", n, NETNS_HOSTS_MAX);
        return -1;
    }
    snprintf(ns->stem, sizeof(ns->stem), "%s%ld-", prefix, (long)getpid());
    snprintf(ns->subnet, sizeof(ns->subnet), "%s", subnet);
    ns->n = n;
    netns_sweep(prefix);
    int rv = make_hub(ns);
    for (int i = 0; rv == 0 && i < n; i++) {
        rv = make_host(ns, i);
    }
    if (rv != 0) {
        fprintf(stderr, "netns: setup of %s* failed (root, iproute2 and veth/bridge support?)\n",
                ns->stem);
        netns_teardown(ns);
        return -1;
    }
    return 0;
}

void netns_teardown(struct netns *ns)
{
    char name[64];
    /* Hosts first (their veths go with them), then the hub. */
    for (int i = ns->made - 2; i >= 0; i--) {
        sh("ip netns del '%s' 2>/dev/null", netns_name(ns, i, name, sizeof(name)));
    }
    if (ns->made > 0) {
        sh("ip netns del '%s' 2>/dev/null", hub_name(ns, name, sizeof(name)));
    }
    ns->made = 0;
}

static int open_ns(const struct netns *ns, int i)
{
    char name[64], path[128];
    snprintf(path, sizeof(path), NETNS_RUN_DIR "/%s", netns_name(ns, i, name, sizeof(name)));
    return open(path, O_RDONLY | O_CLOEXEC);
}

pid_t netns_spawn(const struct netns *ns, int i, char *const argv[], char *const envp[],
                  const char *log_path)
{
    int nsfd = open_ns(ns, i);
    if (nsfd < 0) {
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent || setns(nsfd, CLONE_NEWNET) != 0) {
            _exit(127);
        }
        if (log_path != NULL) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
        }
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(nsfd);
    return pid;
}

int netns_socket(const struct netns *ns, int i, int domain, int type)
{
    int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int there = open_ns(ns, i);
    int fd = -1;
    if (home >= 0 && there >= 0 && setns(there, CLONE_NEWNET) == 0) {
        fd = socket(domain, type, 0);
        int saved = errno;
        if (setns(home, CLONE_NEWNET) != 0) {
            /* This thread would do everything else in the wrong network: stop here. */
            fprintf(stderr, "netns: cannot return to the home namespace: %s\n", strerror(errno));
            abort();
        }
        errno = saved;
    }
    if (home >= 0) {
        close(home);
    }
    if (there >= 0) {
        close(there);
    }
    return fd;
}

int netns_exec(const struct netns *ns, int i, const char *cmd)
{
    char name[64];
    netns_name(ns, i, name, sizeof(name));
    /* The command goes in single quotes: callers pass no single quote. */
    if (strchr(cmd, '\'') != NULL) {
        return -1;
    }
    return sh("ip netns exec '%s' /bin/sh -c '%s' >&2", name, cmd);
}

int netns_iptables(const struct netns *ns, int i, const char *rule)
{
    char cmd[512];
    /* -w: the xtables lock is shared by every namespace on the machine. */
    snprintf(cmd, sizeof(cmd), "iptables -w %s", rule);
    return netns_exec(ns, i, cmd);
}

int netns_iptables_flush(const struct netns *ns, int i)
{
    return netns_iptables(ns, i, "-F") == 0 ? 0 : -1;
}

int netns_block(const struct netns *ns, int i, int j)
{
    char ip[NETNS_IP_STRLEN], rule[128];
    netns_ip(ns, j, ip, sizeof(ip));
    snprintf(rule, sizeof(rule), "-A INPUT -s %s -j DROP", ip);
    int rv = netns_iptables(ns, i, rule);
    snprintf(rule, sizeof(rule), "-A OUTPUT -d %s -j DROP", ip);
    return rv == 0 && netns_iptables(ns, i, rule) == 0 ? 0 : -1;
}

int netns_block_from(const struct netns *ns, int i, int j)
{
    char ip[NETNS_IP_STRLEN], rule[128];
    snprintf(rule, sizeof(rule), "-A INPUT -s %s -j DROP", netns_ip(ns, j, ip, sizeof(ip)));
    return netns_iptables(ns, i, rule) == 0 ? 0 : -1;
}

int netns_loss(const struct netns *ns, int i, double p)
{
    char rule[128];
    snprintf(rule, sizeof(rule),
             "-A INPUT -i eth0 -m statistic --mode random --probability %.4f -j DROP", p);
    return netns_iptables(ns, i, rule) == 0 ? 0 : -1;
}
