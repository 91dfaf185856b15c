/*
 * The assertions the suites rely on mean what they say (tests/criterion_gt.h): gt() is
 * strict, ge() is not, for integers and doubles.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdint.h>

static volatile uint64_t zero_u64;
static volatile double zero_dbl;

Test(criterion_gt, gt_fails_on_equal_values)
{
    uint64_t a = zero_u64, b = zero_u64;
    double x = zero_dbl, y = zero_dbl;
    cr_assert(not(gt(u64, a, b)));
    cr_assert(not(gt(int, (int)a, (int)b)));
    cr_assert(not(gt(dbl, x, y)));
    cr_assert(ge(u64, a, b));
    cr_assert(gt(u64, a + 1, b));
    cr_assert(not(gt(u64, a, b + 1)));
}
