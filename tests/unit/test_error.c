/* Unit tests for the error module. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "ring/error.h"
#include "testmem.h"

Test(error, every_code_has_a_name_and_message)
{
#define XX(name, msg)                                                                              \
    ASSERT_STR_EQ(ring_err_name(RING_E##name), "E" #name);                                         \
    ASSERT_STR_EQ(ring_strerror(RING_E##name), msg);                                               \
    cr_assert(lt(int, RING_E##name, 0));
    RING_ERRNO_MAP(XX)
#undef XX
}

Test(error, success_and_unknown_codes)
{
    ASSERT_STR_EQ(ring_err_name(0), "OK");
    ASSERT_STR_EQ(ring_strerror(0), "success");
    ASSERT_STR_EQ(ring_err_name(-100000), "EUNKNOWN");
    ASSERT_STR_EQ(ring_strerror(12345), "unknown error");
}

Test(error, codes_are_distinct)
{
    int codes[] = {
#define XX(name, msg) RING_E##name,
        RING_ERRNO_MAP(XX)
#undef XX
    };
    size_t n = sizeof(codes) / sizeof(codes[0]);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            cr_assert(ne(int, codes[i], codes[j]));
        }
    }
}
