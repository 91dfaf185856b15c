/*
 * The local API's socket path: ringd takes a path only when nothing is there or a stale
 * socket nothing answers on is there; it never removes a regular file or a live ringd's
 * socket, and says why it will not start.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "cluster.h"

static void setup(void)
{
    cluster_init();
}

static void teardown(void)
{
    cluster_stop();
}

TestSuite(socket_path, .init = setup, .fini = teardown, .timeout = 30);

/* Runs a second ringd on its own ports with --socket |path| and no join; returns its exit
 * status (it must exit by itself, within the timeout's 10 s) and its output in |out|. */
static int run_second(const char *path, char *out, size_t cap)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "timeout 10 %s --id other --bind 127.0.0.1:%d --admin 127.0.0.1:%d --socket '%s' "
             "2>&1",
             RINGD_BIN, cluster_gossip_port(7), cluster_admin_port(7), path);
    return cluster_sh(cmd, out, cap);
}

Test(socket_path, a_regular_file_is_never_removed)
{
    char path[160], out[4096];
    snprintf(path, sizeof(path), "%s/not-a-socket", cl.dir);
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL);
    fputs("precious\n", f);
    fclose(f);

    int status = run_second(path, out, sizeof(out));
    cr_assert(eq(int, status, 1), "ringd must fail to start (exit 1), got %d:\n%s", status, out);
    cr_assert(strstr(out, "not a socket") != NULL, "the error says why:\n%s", out);
    struct stat st;
    cr_assert(eq(int, stat(path, &st), 0), "the file is still there");
    cr_assert(eq(int, S_ISREG(st.st_mode) ? 1 : 0, 1), "still a regular file");
    cr_assert(eq(int, (int)st.st_size, 9), "and unchanged");
}

Test(socket_path, a_live_ringds_socket_is_never_taken)
{
    cluster_start_node(0, -1);
    char sock[128], out[4096];
    cluster_socket(0, sock, sizeof(sock));

    int status = run_second(sock, out, sizeof(out));
    cr_assert(eq(int, status, 1), "a second ringd must not start on a live socket:\n%s", out);
    cr_assert(strstr(out, "another process is listening") != NULL, "it says why:\n%s", out);

    struct ringc *c = cluster_connect(0);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(c, &res, 2000, "lookup", "s", "k"), 0),
              "the first ringd still answers on its socket");
    ringc_close(c);
}

/* A socket file whose process is gone: bound, never listened on, closed. */
static void make_stale_socket(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    cr_assert(lt(sz, strlen(path), sizeof(sa.sun_path)));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert(ge(int, fd, 0));
    cr_assert(eq(int, bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0));
    close(fd);
    struct stat st;
    cr_assert(eq(int, lstat(path, &st), 0));
    cr_assert(eq(int, S_ISSOCK(st.st_mode) ? 1 : 0, 1), "a socket file");
}

Test(socket_path, a_stale_socket_is_replaced_and_removed_at_exit)
{
    char path[100], cmd[1024], out[4096];
    snprintf(path, sizeof(path), "%s/stale.sock", cl.dir);
    make_stale_socket(path);
    /* Start on the stale socket, ask it once through ringctl, then SIGTERM it. */
    snprintf(cmd, sizeof(cmd),
             "%s --id other --bind 127.0.0.1:%d --admin 127.0.0.1:%d --socket '%s' "
             ">/dev/null 2>&1 & pid=$!; "
             "for i in $(seq 100); do %s --socket '%s' lookup k >/dev/null 2>&1 && break; "
             "sleep 0.05; done; %s --socket '%s' lookup k; kill -TERM $pid; wait $pid",
             RINGD_BIN, cluster_gossip_port(7), cluster_admin_port(7), path, RINGCTL_BIN, path,
             RINGCTL_BIN, path);
    int status = cluster_sh(cmd, out, sizeof(out));
    cr_assert(eq(int, status, 0), "ringd replaced the stale socket, answered, left: %d\n%s", status,
              out);
    cr_assert(strstr(out, "other") != NULL, "the lookup names the node:\n%s", out);
    cr_assert(ne(int, access(path, F_OK), 0), "a clean exit removes its own socket");
}

/* ringd removes its socket at exit only while it is still its own: a file someone put at the
 * path meanwhile, or another ringd's live socket there, survives the exit. */
Test(socket_path, exit_leaves_what_replaced_the_socket_alone)
{
    char path[100], cmd[1200], out[4096];
    snprintf(path, sizeof(path), "%s/own.sock", cl.dir);
    snprintf(cmd, sizeof(cmd),
             "%s --id a --bind 127.0.0.1:%d --admin 127.0.0.1:%d --socket '%s' >/dev/null 2>&1 & "
             "pid=$!; for i in $(seq 100); do %s --socket '%s' lookup k >/dev/null 2>&1 && "
             "break; sleep 0.05; done; rm '%s'; echo precious > '%s'; kill -TERM $pid; "
             "wait $pid; cat '%s'",
             RINGD_BIN, cluster_gossip_port(6), cluster_admin_port(6), path, RINGCTL_BIN, path,
             path, path, path);
    int status = cluster_sh(cmd, out, sizeof(out));
    cr_assert(eq(int, status, 0), "exit %d: %s", status, out);
    cr_assert(ne(ptr, strstr(out, "precious"), NULL), "the file was removed: %s", out);

    /* node 0 takes over the path of a ringd that is still running, then that one exits */
    unlink(path);
    snprintf(cmd, sizeof(cmd),
             "%s --id a --bind 127.0.0.1:%d --admin 127.0.0.1:%d --socket '%s' >/dev/null 2>&1 & "
             "echo $!",
             RINGD_BIN, cluster_gossip_port(6), cluster_admin_port(6), path);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0));
    int first = atoi(out);
    snprintf(cmd, sizeof(cmd),
             "for i in $(seq 100); do %s --socket '%s' lookup k >/dev/null 2>&1 && exit 0; "
             "sleep 0.05; done; exit 1",
             RINGCTL_BIN, path);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "the first ringd never answered");
    char sock[128];
    cluster_socket(0, sock, sizeof(sock));
    unlink(path);
    /* node 0 runs on its own socket path; move it here by a hard link, as a restarted ringd
     * binding the same path would */
    cluster_start_node(0, -1);
    cr_assert(eq(int, link(sock, path), 0));
    kill(first, SIGTERM);
    snprintf(cmd, sizeof(cmd), "while kill -0 %d 2>/dev/null; do sleep 0.05; done", first);
    cluster_sh(cmd, out, sizeof(out));
    cr_assert(eq(int, access(path, F_OK), 0), "the first ringd's exit removed another's socket");
    snprintf(cmd, sizeof(cmd), "%s --socket '%s' lookup k", RINGCTL_BIN, path);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
}
