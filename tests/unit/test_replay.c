/* Unit tests for the replay module (the recent-nonce filter of sealed datagrams). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "ring/error.h"
#include "ring/replay.h"
#include "testmem.h"

static struct testmem tm;

static void setup(void)
{
    testmem_init(&tm);
}

static void teardown(void)
{
    cr_assert(eq(sz, tm.bytes, 0), "leaked %zu bytes", tm.bytes);
}

TestSuite(replay, .init = setup, .fini = teardown);

/* Receiver time: any large Unix ms value will do. */
#define NOW    1767225600000u
#define WINDOW 30000u

static struct replay *make(uint32_t entries_max)
{
    struct replay *r = NULL;
    struct replay_config cfg = { .window_ms = WINDOW, .entries_max = entries_max };
    cr_assert(eq(int, replay_new(&r, &cfg, &tm.mem), 0));
    return r;
}

static void nonce_of(uint64_t k, uint8_t nonce[24])
{
    memset(nonce, 0, 24);
    memcpy(nonce, &k, sizeof(k));
    nonce[20] = 0x5a;
}

static int admit(struct replay *r, uint64_t k, uint64_t sent_ms, uint64_t now_ms)
{
    uint8_t n[24];
    nonce_of(k, n);
    return replay_admit(r, sent_ms, n, now_ms);
}

Test(replay, a_nonce_is_admitted_once)
{
    struct replay *r = make(64);
    cr_assert(eq(int, admit(r, 1, NOW, NOW), 0));
    cr_assert(eq(int, admit(r, 2, NOW, NOW), 0));
    cr_assert(eq(int, admit(r, 1, NOW, NOW + 5), RING_EREPLAY));
    cr_assert(eq(int, admit(r, 1, NOW, NOW + WINDOW), RING_EREPLAY));
    cr_assert(eq(u32, replay_count(r), 2));
    replay_del(r);
}

Test(replay, times_outside_the_window_are_skew)
{
    struct replay *r = make(64);
    cr_assert(eq(int, admit(r, 1, NOW - WINDOW - 1, NOW), RING_ESKEW));
    cr_assert(eq(int, admit(r, 2, NOW + WINDOW + 1, NOW), RING_ESKEW));
    cr_assert(eq(int, admit(r, 3, NOW - WINDOW, NOW), 0));
    cr_assert(eq(int, admit(r, 4, NOW + WINDOW, NOW), 0));
    /* A replay after the window is refused by its time alone. */
    cr_assert(eq(int, admit(r, 3, NOW - WINDOW, NOW + 1), RING_ESKEW));
    replay_del(r);
}

/* A full filter forgets its oldest nonce and raises the floor to its time, so the forgotten
 * nonce still cannot come back. */
Test(replay, a_full_filter_raises_the_floor_and_never_admits_a_replay)
{
    struct replay *r = make(8);
    for (uint64_t k = 0; k < 8; k++) {
        cr_assert(eq(int, admit(r, k, NOW + k, NOW), 0));
    }
    cr_assert(eq(u64, replay_floor_ms(r), 0));
    cr_assert(eq(int, admit(r, 100, NOW + 8, NOW), 0));
    cr_assert(eq(u32, replay_count(r), 8));
    cr_assert(eq(u64, replay_floor_ms(r), NOW));
    cr_assert(eq(int, admit(r, 0, NOW, NOW), RING_EREPLAY), "the forgotten nonce");
    /* A fresh nonce stamped at or below the floor cannot be told from a replay. */
    cr_assert(eq(int, admit(r, 200, NOW, NOW), RING_EREPLAY));
    for (uint64_t k = 1; k < 8; k++) {
        cr_assert(eq(int, admit(r, k, NOW + k, NOW), RING_EREPLAY), "nonce %llu",
                  (unsigned long long)k);
    }
    replay_del(r);
}

Test(replay, expired_nonces_leave_without_refusing_fresh_ones)
{
    struct replay *r = make(1024);
    for (uint64_t k = 0; k < 100; k++) {
        cr_assert(eq(int, admit(r, k, NOW, NOW), 0));
    }
    uint64_t later = NOW + WINDOW + 1000;
    for (uint64_t k = 1000; k < 1100; k++) {
        cr_assert(eq(int, admit(r, k, later, later), 0));
    }
    cr_assert(eq(u32, replay_count(r), 100), "the expired hundred left as the new came");
    cr_assert(eq(u64, replay_floor_ms(r), NOW));
    replay_del(r);
}

/* Many nonces through a small filter with colliding index slots: each is admitted once, and
 * after deletions by backward shift every remembered nonce is still found. */
Test(replay, churn_keeps_every_remembered_nonce_findable)
{
    struct replay *r = make(64);
    uint64_t seed = 7;
    uint64_t keys[5000];
    for (size_t i = 0; i < 5000; i++) {
        keys[i] = test_rand(&seed);
        uint64_t t = NOW + i;
        cr_assert(eq(int, admit(r, keys[i], t, t), 0), "key %zu", i);
        cr_assert(eq(int, admit(r, keys[i], t, t), RING_EREPLAY));
        size_t lo = i >= 63 ? i - 63 : 0;
        cr_assert(eq(int, admit(r, keys[lo], NOW + lo, t), RING_EREPLAY));
    }
    replay_del(r);
}

Test(replay, bad_configs_and_failed_allocations)
{
    struct replay *r = NULL;
    struct replay_config none = { 0 };
    cr_assert(eq(int, replay_new(&r, &none, &tm.mem), RING_EINVAL));
    struct replay_config big = { .window_ms = 1, .entries_max = REPLAY_ENTRIES_MAX + 1 };
    cr_assert(eq(int, replay_new(&r, &big, &tm.mem), RING_EINVAL));
    struct replay_config ok = { .window_ms = 1 };
    for (uint64_t k = 1; k <= 3; k++) {
        tm.fail_at = tm.calls + k;
        cr_assert(eq(int, replay_new(&r, &ok, &tm.mem), RING_ENOMEM));
    }
    tm.fail_at = 0;
}
