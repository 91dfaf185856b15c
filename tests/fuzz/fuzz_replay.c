/*
 * fuzz_replay: the replay filter driven by arbitrary sequences of offered datagrams. Each
 * 4-byte step is (nonce id, time step, clock step, flags): a small filter (16 nonces, 1 s
 * window) sees the same few nonces again and again, with times moving both ways. Checked:
 * a nonce is never admitted twice (a shadow table remembers every admitted nonce), and the
 * filter's bound holds.
 */
#include <stdlib.h>
#include <string.h>

#include "ring/error.h"
#include "ring/replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Distinct nonces: 64 first bytes times two values of byte 7. */
#define NONCES 128

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct replay *r = NULL;
    struct replay_config cfg = { .window_ms = 1000, .entries_max = 16 };
    if (replay_new(&r, &cfg, NULL) != 0) {
        abort();
    }
    uint8_t admitted[NONCES] = { 0 };
    uint64_t now = 1u << 20, sent = now;
    for (size_t i = 0; i + 4 <= size && i < 4 * 4096; i += 4) {
        uint8_t id = data[i] % 64;
        /* times move forward mostly, sometimes back, within and beyond the window */
        sent += (uint64_t)(int8_t)data[i + 1] * 16;
        now += data[i + 2];
        uint8_t nonce[24];
        memset(nonce, 0, sizeof(nonce));
        nonce[0] = id;
        nonce[7] = data[i + 3] & 1; /* the part of the nonce the filter keeps */
        size_t key = id + 64u * nonce[7];
        int rv = replay_admit(r, sent, nonce, now);
        if (rv == 0) {
            if (admitted[key]) {
                abort(); /* a replay got through */
            }
            admitted[key] = 1;
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
