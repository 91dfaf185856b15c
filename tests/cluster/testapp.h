/*
 * testapp: starts ring_testapp (tests/tools/ring_testapp.c) as a child process for the cluster
 * tests and stops it by its PID. The child asks the kernel to SIGKILL it if the test process
 * dies first, so no app outlives a test.
 */
#ifndef RING_TESTS_TESTAPP_H
#define RING_TESTS_TESTAPP_H

#include <sys/types.h>

struct testapp {
    pid_t pid;
    int port;
};

/* A port for app |i| (0..7) of this test process, apart from the cluster's ports. */
int testapp_port(int i);

/* Starts ring_testapp on 127.0.0.1:|port| as |id| (extra arguments in |argv_extra|, NULL-ended,
 * may be NULL) and waits until it prints "ready". Returns 0, or -1 (the process is reaped). */
int testapp_start(struct testapp *t, int port, const char *id, const char *const *argv_extra);

/* Sends SIGTERM and waits up to |timeout_ms| for the exit; returns its wait status, or -1 (the
 * app is then still running: testapp_stop() kills it). */
int testapp_term(struct testapp *t, int timeout_ms);

/* Kills the app (SIGKILL) and reaps it; does nothing if it is not running. */
void testapp_stop(struct testapp *t);

#endif
