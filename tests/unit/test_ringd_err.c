/*
 * ringd's one error family (ringd/lib/err.h): every libring code has its own errno, and
 * the local API's wire code survives the round trip through ringd.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <string.h>

#include "ring/error.h"
#include "err.h"

Test(ringd_err, every_libring_code_has_its_own_errno_and_comes_back)
{
    int seen[RING__EINDEX_END];
    for (int i = 1; i < RING__EINDEX_END; i++) {
        int err = ringd_err_from_ring(-i);
        cr_assert(lt(int, err, 0), "%s maps to %d", ring_err_name(-i), err);
        for (int j = 1; j < i; j++) {
            cr_assert(ne(int, err, seen[j]), "%s and %s share errno %d", ring_err_name(-i),
                      ring_err_name(-j), -err);
        }
        seen[i] = err;
        cr_assert(eq(int, ringd_err_to_ring(err), -i), "%s", ring_err_name(-i));
    }
}

Test(ringd_err, the_codes_the_api_answers_with_keep_their_names)
{
    cr_assert(eq(int, ringd_err_from_ring(RING_EINVAL), -EINVAL));
    cr_assert(eq(int, ringd_err_from_ring(RING_ENOENT), -ENOENT));
    cr_assert(eq(int, ringd_err_from_ring(RING_EAGAIN), -EAGAIN));
    cr_assert(eq(int, ringd_err_from_ring(RING_ERANGE), -ERANGE));
    cr_assert(eq(int, ringd_err_from_ring(0), 0));
    cr_assert(eq(int, ringd_err_to_ring(0), 0));
}

Test(ringd_err, unknown_codes_have_an_answer)
{
    cr_assert(eq(int, ringd_err_from_ring(-1000), -EINVAL));
    cr_assert(eq(int, ringd_err_from_ring(7), -EINVAL));
    /* An I/O failure with no libring counterpart: the API says "try again later". */
    cr_assert(eq(int, ringd_err_to_ring(-ECONNREFUSED), RING_EAGAIN));
    cr_assert(eq(int, ringd_err_to_ring(-EIO), RING_EAGAIN));
}

Test(ringd_err, messages_read_as_libring_words_them_where_it_has_the_code)
{
    cr_assert(eq(str, (char *)ringd_strerror(-ENOMEM), (char *)ring_strerror(RING_ENOMEM)));
    cr_assert(eq(str, (char *)ringd_strerror(-ENODATA), "ring has no members"));
    cr_assert(eq(str, (char *)ringd_strerror(-ECONNREFUSED), strerror(ECONNREFUSED)));
}
