/* Whole-tree checks that run with the unit tests, so CI fails when the tree breaks a rule. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int run(const char *cmd)
{
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(tree, is_clang_format_clean)
{
    cr_assert(eq(int, run(RING_SOURCE_DIR "/tests/check/format.sh " RING_SOURCE_DIR), 0));
}

Test(libring, calls_no_io_clock_or_rand)
{
    cr_assert(
        eq(int,
           run(RING_SOURCE_DIR "/tests/check/sans_io.sh " RING_SOURCE_DIR " " RING_LIBRING_ARCHIVE),
           0));
}

Test(ringd, subsystems_depend_one_way)
{
    cr_assert(eq(int, run(RING_SOURCE_DIR "/tests/check/layers.sh " RING_SOURCE_DIR "/ringd"), 0));
}

/* The layer check itself fails on a back edge: a copy of ringd/ whose node includes the
 * local API's header, and one where the proxy includes admin's. */
Test(ringd, the_layer_check_catches_a_back_edge)
{
    const char *edges[] = { "node/node.c:api.h", "proxy/proxy.c:admin.h", "lib/log.c:daemon.h" };
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        char cmd[1024];
        const char *colon = strchr(edges[i], ':');
        snprintf(cmd, sizeof(cmd),
                 "d=$(mktemp -d) && cp -r " RING_SOURCE_DIR "/ringd \"$d\"/ && "
                 "echo '#include \"%s\"' >> \"$d/ringd/%.*s\" && " RING_SOURCE_DIR
                 "/tests/check/layers.sh \"$d/ringd\" >/dev/null; rv=$?; "
                 "rm -rf \"$d\"; exit $rv",
                 colon + 1, (int)(colon - edges[i]), edges[i]);
        cr_assert(eq(int, run(cmd), 1), "a back edge %s passed the check", edges[i]);
    }
}

/* The node holds no subsystem's state: a copy of ringd/ whose struct ringd points at the
 * proxy's fails the layer check. */
Test(ringd, the_layer_check_catches_the_node_holding_a_subsystem)
{
    cr_assert(eq(int,
                 run("d=$(mktemp -d) && cp -r " RING_SOURCE_DIR "/ringd \"$d\"/ && "
                     "echo 'struct ringd_proxy;' >> \"$d/ringd/node/daemon.h\" && " RING_SOURCE_DIR
                     "/tests/check/layers.sh \"$d/ringd\" >/dev/null; rv=$?; rm -rf \"$d\"; "
                     "exit $rv"),
                 1));
}

Test(ringd, speaks_one_error_family)
{
    cr_assert(eq(int, run(RING_SOURCE_DIR "/tests/check/errors.sh " RING_SOURCE_DIR "/ringd"), 0));
}

/* The error check itself fails on a -1 and on a libring code returned as ringd's own, and
 * passes a libring call's result compared at the call and a wire code packed. */
Test(ringd, the_error_check_catches_a_stray_code)
{
    static const struct {
        const char *line;
        int want;
    } cases[] = {
        { "static int f(void) { return -1; }", 1 },
        { "static int f(int x) { return x > 0 ? 0 : -1; }", 1 },
        { "static int f(void) { return RING_EINVAL; }", 1 },
        { "static int f(int rv) { return rv == RING_EAGAIN; }", 0 },
        { "static int f(int rv) { return ringd_err_to_ring(rv); }", 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char cmd[1024];
        snprintf(cmd, sizeof(cmd),
                 "d=$(mktemp -d) && cp -r " RING_SOURCE_DIR "/ringd \"$d\"/ && "
                 "echo '%s' >> \"$d/ringd/node/route.c\" && " RING_SOURCE_DIR
                 "/tests/check/errors.sh \"$d/ringd\" >/dev/null; rv=$?; "
                 "rm -rf \"$d\"; exit $rv",
                 cases[i].line);
        cr_assert(eq(int, run(cmd), cases[i].want), "%s", cases[i].line);
    }
}
