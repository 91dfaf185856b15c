/*
 * fuzz_replay: the replay filter driven by arbitrary sequences of offered datagrams. Each
 * 4-byte step is (nonce id, time step, clock step, flags): a small filter (16 nonces, 1 s
 * window) sees the same few nonces again and again, with times moving both ways. Checked:
 * the same datagram (nonce and time: both are authenticated, so a replay repeats both) is
 * never admitted twice, whatever the filter forgot meanwhile (a shadow list remembers every
 * admission), and the filter's bound holds.
 */
#include <stdlib.h>
#include <string.h>

#include "ring/error.h"
#include "ring/replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Offers per input: enough to overflow the filter many times. */
#define STEPS_MAX 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct replay *r = NULL;
    struct replay_config cfg = { .window_ms = 1000, .entries_max = 16 };
    if (replay_new(&r, &cfg, NULL) != 0) {
        abort();
    }
    static struct {
        size_t key;
        uint64_t sent;
    } admitted[STEPS_MAX];
    size_t admitted_count = 0;
    uint64_t start = 1u << 20, now = start + 1000;
    for (size_t i = 0; i + 4 <= size && i < 4 * STEPS_MAX; i += 4) {
        uint8_t id = data[i] % 64;
        /* A few distinct times around a slowly moving clock, so the same (nonce, time) comes
         * back often, before and after the filter forgot it; some fall outside the window. */
        uint64_t sent = start + (uint64_t)data[i + 1] * 8;
        now += data[i + 2] % 8;
        uint8_t nonce[24];
        memset(nonce, 0, sizeof(nonce));
        nonce[0] = id;
        nonce[7] = data[i + 3] & 1; /* the part of the nonce the filter keeps */
        size_t key = id + 64u * nonce[7];
        int rv = replay_admit(r, sent, nonce, now);
        if (rv == 0) {
            for (size_t k = 0; k < admitted_count; k++) {
                if (admitted[k].key == key && admitted[k].sent == sent) {
                    abort(); /* a replay got through */
                }
            }
            admitted[admitted_count].key = key;
            admitted[admitted_count++].sent = sent;
        } else if (rv != RING_EREPLAY && rv != RING_ESKEW) {
            abort();
        }
        if (replay_count(r) > cfg.entries_max) {
            abort();
        }
    }
    replay_del(r);
    return 0;
}
