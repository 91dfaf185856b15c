/*
 * ringd: the sidecar daemon. Parses the config (config.c), starts everything (node.c), runs
 * the loop until a graceful leave (SIGTERM, SIGINT, or leave() from the local API) ends it.
 * Exit status: 0 after a leave, 1 when startup fails, 2 for bad flags.
 */
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <string.h>

#include "admin.h"
#include "api.h"
#include "daemon.h"
#include "fdlimit.h"
#include "health.h"
#include "proxy.h"
#include "version.h"

extern char **environ;

/* Raises the open-file limit (fdlimit.h) and says so when it stays below what ringd may hold
 * with this config: past it, connections fail with nothing else in the log. */
static void raise_fd_limit(struct ringd *d)
{
    uint64_t soft = 0;
    int rv = ringd_fdlimit_raise(&soft);
    uint64_t need = (uint64_t)ringd_node_fds_max() + ringd_api_fds_max() + ringd_admin_fds_max() +
                    ringd_proxy_fds_max(&d->cfg);
    if (rv == 0 && soft >= need) {
        return;
    }
    char limit[24], want[24];
    snprintf(limit, sizeof(limit), "%llu", (unsigned long long)soft);
    snprintf(want, sizeof(want), "%llu", (unsigned long long)need);
    ringd_log(
        &d->log, RINGD_LOG_WARN, "open_files_limit_low", "limit", limit, "may_need", want, "hint",
        "raise the hard limit (ulimit -Hn, systemd LimitNOFILE=, a container's nofile ulimit)",
        NULL);
}

/* Buffers of 128 KiB and more (a large local API message being received, a proxy client's
 * queued answers) get pages of their own, given back when freed. glibc otherwise raises
 * that threshold to the largest block freed, and then serves such buffers from the heap,
 * which does not shrink: after a burst of 1,088 API clients each sending most of a 1 MiB
 * message, ringd kept 150 MiB. */
static void malloc_setup(void)
{
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD)
    (void)mallopt(M_MMAP_THRESHOLD, 128 << 10);
#endif
}

int main(int argc, char **argv)
{
    static struct ringd d;
    malloc_setup();
    struct ringd_admin *admin = NULL;
    struct ringd_api *api = NULL;
    struct ringd_health *health = NULL;
    struct ringd_proxy *proxy = NULL;
    char err[512];
    if (ringd_config_parse(&d.cfg, argc, argv, environ, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (d.cfg.show_help) {
        ringd_config_usage(stdout);
        return 0;
    }
    if (d.cfg.show_version) {
        printf("ringd %s (commit %s)\n", ringd_version(), ringd_commit());
        return 0;
    }
    if (ringd_config_require_key(&d.cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    d.log.level = d.cfg.log_level;
    d.log.format = d.cfg.log_format;
    ringd_log_crash_handler_install(&d.log);
    raise_fd_limit(&d);
    d.loop = uv_default_loop();
    /* The node first, then the subsystems that subscribe to it, then the join. */
    int rv = ringd_start(&d);
    if (rv == 0) {
        rv = ringd_api_start(&d, &api);
    }
    if (rv == 0) {
        rv = ringd_admin_start(&d, &admin);
    }
    if (rv == 0) {
        rv = ringd_proxy_start(&d, &proxy);
    }
    if (rv == 0) {
        rv = ringd_health_start(&d, &health);
    }
    if (rv == 0) {
        rv = ringd_join(&d);
    }
    if (rv == 0) {
        char port[8];
        snprintf(port, sizeof(port), "%u", d.cfg.bind.port);
        ringd_log(&d.log, RINGD_LOG_INFO, "started", "id", d.cfg.id, "bind", d.cfg.bind.host,
                  "port", port, "version", ringd_version(), "commit", ringd_commit(), NULL);
    } else {
        ringd_stop(&d);
    }
    uv_run(d.loop, UV_RUN_DEFAULT);
    ringd_health_free(health);
    ringd_proxy_free(proxy);
    ringd_admin_free(admin);
    ringd_api_free(api);
    ringd_free(&d);
    uv_loop_close(d.loop);
    return rv == 0 ? 0 : 1;
}
