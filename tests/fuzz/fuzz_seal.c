/*
 * fuzz_seal: the two inputs of the seal module that come from outside. Byte 0 even: the rest
 * is a packet to open (with a fixed two-key ring; whatever opens must reseal and open to the
 * same bytes). Byte 0 odd: the rest is a key file to parse.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "ring/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char keyfile[] = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n"
                              "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n";

static void open_packet(const uint8_t *data, size_t size)
{
    static struct seal_keyring kr;
    if (kr.count == 0 && seal_keyring_parse(&kr, keyfile, strlen(keyfile), NULL, 0) != 0) {
        abort();
    }
    static uint8_t plain[70000], again[70000], sealed[70100];
    for (int ctx = SEAL_DATAGRAM; ctx <= SEAL_STREAM; ctx++) {
        uint64_t sent = 0, sent_again = 0;
        ssize_t n = seal_decrypt(&kr, ctx, data, size, plain, sizeof(plain), NULL, &sent);
        if (n < 0) {
            continue;
        }
        uint8_t nonce[SEAL_NONCE_BYTES] = { 0 };
        ssize_t s = seal_encrypt(&kr, ctx, sent, nonce, plain, (size_t)n, sealed, sizeof(sealed));
        if (s < 0 ||
            seal_decrypt(&kr, ctx, sealed, (size_t)s, again, sizeof(again), NULL, &sent_again) !=
                n ||
            sent_again != sent || memcmp(plain, again, (size_t)n) != 0) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536 || sodium_init() < 0) {
        return 0;
    }
    if (data[0] % 2 == 0) {
        open_packet(data + 1, size - 1);
        return 0;
    }
    struct seal_keyring kr;
    char err[128];
    if (seal_keyring_parse(&kr, (const char *)data + 1, size - 1, err, sizeof(err)) == 0) {
        if (kr.count == 0 || kr.count > SEAL_KEYS_MAX) {
            abort();
        }
        seal_keyring_clear(&kr);
    }
    return 0;
}
