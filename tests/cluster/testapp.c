/* testapp: see testapp.h. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testapp.h"

#define TESTAPP_ARGS_MAX 16
#define TESTAPP_READY_MS 5000

int testapp_port(int i)
{
    /* 8000..11999: apart from the proxies' and the cluster's ports (cluster.h), all below
     * the ephemeral range (32768 and up). */
    return 8000 + (int)(getpid() % 500) * 8 + i;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void exec_app(int out_fd, int port, const char *id, const char *const *extra, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(127);
    }
    dup2(out_fd, 1);
    close(out_fd);
    char listen[32];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    const char *argv[TESTAPP_ARGS_MAX + 6] = { RING_TESTAPP_BIN, "--listen", listen, "--id", id };
    int argc = 5;
    for (int i = 0; extra != NULL && extra[i] != NULL && i < TESTAPP_ARGS_MAX; i++) {
        argv[argc++] = extra[i];
    }
    argv[argc] = NULL;
    execv(RING_TESTAPP_BIN, (char *const *)argv);
    _exit(127);
}

/* Reads the child's stdout until "ready\n"; returns 0, or -1 on EOF or timeout. */
static int wait_ready(int fd)
{
    char buf[64];
    size_t len = 0;
    while (len < sizeof(buf) - 1) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll(&pfd, 1, TESTAPP_READY_MS) <= 0) {
            return -1;
        }
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0) {
            return -1;
        }
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "ready\n") != NULL) {
            return 0;
        }
    }
    return -1;
}

int testapp_start(struct testapp *t, int port, const char *id, const char *const *argv_extra)
{
    int fds[2];
    t->pid = 0;
    t->port = port;
    if (pipe(fds) != 0) {
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        exec_app(fds[1], port, id, argv_extra, parent);
    }
    close(fds[1]);
    t->pid = pid;
    int rv = wait_ready(fds[0]);
    close(fds[0]);
    if (rv != 0) {
        testapp_stop(t);
    }
    return rv;
}

int testapp_term(struct testapp *t, int timeout_ms)
{
    if (t->pid <= 0) {
        return -1;
    }
    kill(t->pid, SIGTERM);
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        int status;
        if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
            t->pid = 0;
            return status;
        }
        sleep_ms(10);
    }
    return -1;
}

void testapp_stop(struct testapp *t)
{
    if (t->pid > 0) {
        kill(t->pid, SIGKILL);
        waitpid(t->pid, NULL, 0);
        t->pid = 0;
    }
}
