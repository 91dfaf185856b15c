/* Whole-tree checks that run with the unit tests, so CI fails when the tree breaks a rule. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
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
