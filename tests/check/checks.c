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
