/*
 * pod: network namespaces standing in for the pods of k8s/statefulset.yaml, for the pod-like
 * end-to-end test (test_pods.c). Needs root.
 *
 * The network is tests/netns (the fault suite's): prefix "ringpod-", subnet 10.251.0.0/24.
 * Host 0 is the cluster DNS: dnsmasq answering for cluster.local from a hosts file that
 * holds the headless Service's records, one A record per published pod under
 * ring-headless.ring.svc.cluster.local (and NAME.ring-headless... per pod), re-read on
 * SIGHUP when the test publishes or withdraws a pod. Hosts 1.. are pod "slots": a pod runs
 * in a slot, so a pod replaced into another slot comes back at another IP.
 *
 * A pod is what the kubelet would make of the manifest's ringd container: a root directory
 * holding only the image's files (the static ringd and ringctl, k8s/rootfs/etc) plus what the
 * kubelet adds (/etc/resolv.conf naming the cluster DNS with the pod's search path,
 * /etc/hosts, the Secret's key file at /etc/ringd/keyfile, an empty /run/ringd for the socket),
 * and ringd started in the slot's namespace, chrooted there, as the image's user 65532, with
 * the environment the manifest gives it: k8s/ringd.env (the ConfigMap), POD_IP, POD_NAME,
 * POD_NAMESPACE and RINGD_JOIN as statefulset.yaml spells it with $(POD_NAMESPACE)
 * expanded. So a dns: seed is resolved by the static binary with nothing but those files.
 *
 * Every process is killed by PID in pods_teardown() (the test's fini), which also deletes
 * the namespaces and the temp dir.
 */
#ifndef RING_TESTS_POD_H
#define RING_TESTS_POD_H

#include <stddef.h>
#include <sys/types.h>

#include "netns.h"

/* Pod slots (hosts 1..POD_SLOTS of the network; host 0 is the DNS server). */
#define POD_SLOTS 8
/* The Kubernetes namespace the pods pretend to be in, and the headless Service's name. */
#define POD_K8S_NAMESPACE "ring"
#define POD_SERVICE       "ring-headless"
/* The image's user (k8s/Containerfile, USER). */
#define POD_UID 65532

struct pod {
    char name[32]; /* "" while the slot is empty */
    pid_t pid;
    pid_t app_pid; /* the app container (pods.with_app), 0 without */
    int published; /* in the headless Service's DNS records */
    char root[128];
    char ip[NETNS_IP_STRLEN];
};

struct pods {
    struct netns net;
    char dir[64];
    pid_t dns_pid;
    struct pod slot[POD_SLOTS + 1]; /* 1..POD_SLOTS */
    /* Set before pod_start(): every pod also runs an app container (ring_testapp on
     * 127.0.0.1:8080, answering with X-App-Id: the pod's name) and ringd's forwarding proxy in
     * front of it on 127.0.0.1:7070, as k8s/app.env's RINGD_PROXY and RINGD_APP describe. */
    int with_app;
    /* Set before pod_start() (with with_app): the pod as a manifest with native sidecars runs
     * it. ringd (the sidecar) starts first with --app-health on the app (RINGD_APP_HEALTH,
     * checked every POD_APP_HEALTH_INTERVAL), and the app container's start waits on
     * `ringctl wait-ready`; pod_stop_native() stops it in the order native sidecars impose. */
    int sidecar;
    /* Set before pod_start() (with sidecar), or NULL: ringd's --delayed-rebalance (as
     * RINGD_DELAYED_REBALANCE), and the app's preStop announces a restart
     * (/v1/drain?wait=1&restart=1) instead of draining: k8s/components/ringd-delayed-rebalance. */
    const char *delayed_rebalance;
    /* Set before pod_start() (with sidecar), or NULL for ringd's default: the app health
     * check's hold-down (RINGD_APP_HEALTH_HOLDDOWN). */
    const char *app_health_holddown;
};

/* The app health check a sidecar pod runs (any path: ring_testapp answers 200 on every
 * path but its special ones), and its interval: shorter than ringd's 2 s default so the
 * test stays short; the order of events is the same. */
#define POD_APP_HEALTH_PATH     "/healthz"
#define POD_APP_HEALTH_INTERVAL "300ms"

extern struct pods pods;

/* Sets up the network, the temp dir and the cluster DNS (no records yet). Asserts. */
void pods_setup(void);
/* Kills every pod and dnsmasq by PID, deletes the namespaces and the temp dir. */
void pods_teardown(void);

/* Starts pod |name| in |slot| (asserts). Its DNS record is not published. */
void pod_start(int slot, const char *name);
/* Starts the app container of the pod in |slot| again (pods.with_app; after it stopped). */
void pod_app_start(int slot);
/* Kills the app container of the pod in |slot| (SIGKILL): a crashed app, ringd still up. */
void pod_app_kill(int slot);
/* Deletes the pod as the kubelet does: SIGTERM (ringd has no preStop: it drains, leaves
 * and exits), then SIGKILL after the grace period. Returns ringd's exit status (-1: killed). */
int pod_delete(int slot);
/* Starts pod_delete() for several slots at once: SIGTERM everywhere, then the waits.
 * Returns the number of ringd that exited 0. */
int pod_delete_all(const int *slots, int n);
/* Deletes a sidecar pod as the kubelet does with native sidecars: the app container's
 * preStop hook (httpGet /v1/drain?wait=1 on the admin port, from the node), then SIGTERM to
 * the app and the wait for its exit, then SIGTERM to ringd (it drains, if not already, then
 * leaves) and the wait for its exit, SIGKILL after the grace period. Returns ringd's exit
 * status (-1: killed); the preStop hook's HTTP status into |*prestop| (may be NULL). */
int pod_stop_native(int slot, int *prestop);

/* kill -9 (a crashed node). */
void pod_kill(int slot);

/* Adds (1) or removes (0) the slot's A records and makes dnsmasq re-read them. */
void pod_publish(int slot, int on);

/* Runs |argv| (a path inside the pod's root) in the pod as `kubectl exec` would: same
 * network, root and user. Returns the exit status; stdout (at most |cap| - 1 bytes) in
 * |out|. */
int pod_exec(int slot, char *const argv[], char *out, size_t cap);

/* The kubelet's httpGet probe: GET |path| on POD_IP:7947 from inside the slot's network.
 * Returns the HTTP status, or -1. Thread-safe. */
int pod_probe(int slot, const char *path);
/* The same with a timeout of |timeout_ms| (a preStop hook waits). */
int pod_probe_ms(int slot, const char *path, int timeout_ms);

/* An app's request through slot |slot|'s forwarding proxy (GET / with X-Ring-Key: |key|),
 * from inside the pod's network: returns the HTTP status (-1: no answer) and the answering
 * app's X-App-Id into |app| ("" when none). */
int pod_request(int slot, const char *key, char *app, size_t cap);

/* The pod's local API socket (under its root). */
const char *pod_socket(int slot, char *buf, size_t cap);

#endif
