/*
 * netns: a private test network of Linux network namespaces, for tests that run real
 * processes on separate hosts and break the network between them (tests/fault, the k8s
 * pod test). Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN), iproute2 and iptables.
 *
 * Topology. One "hub" namespace holds a bridge; each of the n host namespaces has one veth
 * (eth0, address <subnet>.<10 + i>/24) whose peer is a port of that bridge:
 *
 *      <prefix><pid>-0 (eth0 10.250.0.10) --+
 *      <prefix><pid>-1 (eth0 10.250.0.11) --+-- br0 in <prefix><pid>-hub
 *      ...                                  |
 *
 * Nothing is added to the namespace the test runs in: the subnet is reachable only from
 * inside the namespaces, so two networks on the same subnet never meet, and faults are
 * injected with iptables inside a host namespace (where its own rules see only its own
 * traffic). Loopback is up in every host namespace.
 *
 * Names carry the creating process's PID (prefix "ringf-" gives "ringf-4242-3"), so two
 * test processes never collide, and netns_sweep() removes the namespaces of a crashed run
 * (those whose PID is gone) without touching a live one. Deleting a namespace deletes its
 * veths and the bridge with it, so teardown is one `ip netns del` per namespace.
 *
 * Processes. netns_spawn() forks, enters namespace i with setns(2), and execs; the child
 * asks the kernel to SIGKILL it if the test process dies (PR_SET_PDEATHSIG), and the PID
 * returned is the program's own (no `ip netns exec` wrapper in between), so signals sent
 * to it (SIGSTOP, SIGKILL) reach the program. netns_socket() opens a socket inside a host
 * namespace from the test process, e.g. to talk HTTP to a server bound there.
 */
#ifndef RING_TESTS_NETNS_H
#define RING_TESTS_NETNS_H

#include <stddef.h>
#include <sys/types.h>

/* Host namespaces per network: the subnet plan <subnet>.10 .. <subnet>.(10 + max - 1). */
#define NETNS_HOSTS_MAX 32
/* Room for a host address string (netns_ip). */
#define NETNS_IP_STRLEN 32
/* First host address in the subnet (.1 .. .9 stay free for the tests' own use). */
#define NETNS_HOST_FIRST 10

struct netns {
    /* "ringf-1234-" : the prefix plus the creating PID; every namespace name starts so. */
    char stem[48];
    /* "10.250.0": the /24 the hosts are numbered in. */
    char subnet[16];
    int n;
    /* Namespaces made so far (the hub, then hosts 0..made-2), so a failed setup cleans up. */
    int made;
};

/* Removes every namespace named <prefix><pid>-* whose <pid> is not a running process: the
 * leftovers of a run that crashed before its teardown. Returns the number removed. */
int netns_sweep(const char *prefix);

/* Creates the hub with its bridge and |n| host namespaces on |subnet| ("10.250.0", a /24
 * this run owns), sweeping |prefix|'s leftovers first. Returns 0, or -1 with a message on
 * stderr after removing whatever it made. */
int netns_setup(struct netns *ns, const char *prefix, const char *subnet, int n);

/* Deletes every namespace |ns| made (processes still inside keep running: kill them first).
 * Safe to call twice and after a failed setup. */
void netns_teardown(struct netns *ns);

/* Host |i|'s namespace name, e.g. "ringf-1234-3". */
const char *netns_name(const struct netns *ns, int i, char *buf, size_t cap);
/* Host |i|'s address, e.g. "10.250.0.13". */
const char *netns_ip(const struct netns *ns, int i, char *buf, size_t cap);

/* Runs argv[0] (a path) inside host |i| with |envp|, stdout and stderr appended to
 * |log_path| (NULL: inherited). Returns the program's PID, or -1. The caller waits for it. */
pid_t netns_spawn(const struct netns *ns, int i, char *const argv[], char *const envp[],
                  const char *log_path);

/* socket(2) inside host |i|: the socket stays in that namespace for its whole life, so
 * connect/bind/sendto on it use host |i|'s network. Returns the fd, or -1 with errno. */
int netns_socket(const struct netns *ns, int i, int domain, int type);

/* Runs `/bin/sh -c |cmd|` inside host |i| (through `ip netns exec`); returns its exit status
 * or -1. Output goes to stderr. */
int netns_exec(const struct netns *ns, int i, const char *cmd);

/* `iptables |rule|` inside host |i| (rule e.g. "-A INPUT -s 10.250.0.11 -j DROP");
 * returns the exit status (0 on success). */
int netns_iptables(const struct netns *ns, int i, const char *rule);

/* Removes every iptables rule in host |i| (filter table, all chains). Returns 0 or -1. */
int netns_iptables_flush(const struct netns *ns, int i);

/* Host |i| drops every packet, UDP and TCP, between it and host |j|, both directions
 * (rules in |i| only: call it for j as well to be symmetric). Returns 0 or -1. */
int netns_block(const struct netns *ns, int i, int j);

/* Host |i| drops packets coming from host |j| (j still receives from i). Returns 0 or -1. */
int netns_block_from(const struct netns *ns, int i, int j);

/* Host |i| drops each packet arriving on eth0 with probability |p| (0..1), UDP and TCP
 * alike (iptables -m statistic --mode random). Returns 0 or -1. */
int netns_loss(const struct netns *ns, int i, double p);

#endif
