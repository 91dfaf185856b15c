/*
 * Every test executable is compiled with this header forced in first (tests/CMakeLists.txt).
 * Criterion 2.4.1, Debian 12's, evaluates the C assertion gt(Tag, a, b) as !(a < b), that
 * is a >= b: gt(u64, 0, 0) passes. This restores a > b, so an assertion that something grew
 * fails when it stayed the same (tests/unit/test_criterion_gt.c checks it).
 */
#ifndef RING_TESTS_CRITERION_GT_H
#define RING_TESTS_CRITERION_GT_H

/* Forced in before a test file's own first line, so its feature macro must come first: */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#ifndef __cplusplus
#undef CRI_BINOP_T_GT
#define CRI_BINOP_T_GT(Tag, Actual, Ref) (!CRI_BINOP_T_LE(Tag, Actual, Ref))
#endif

#endif
