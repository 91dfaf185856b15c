/* Unit tests for ringd's C client (ringd/ctl/client.c) against a fake ringd: a unix socket in a
 * temp dir whose "server" side is written by the test. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "ring/error.h"

static char dir[64];
static char path[128];
static int listen_fd = -1;

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ringc-test-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/sock", dir);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, path, strlen(path) + 1);
    listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert(ge(int, listen_fd, 0));
    cr_assert(eq(int, bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0));
    cr_assert(eq(int, listen(listen_fd, 4), 0));
}

static void teardown(void)
{
    close(listen_fd);
    unlink(path);
    rmdir(dir);
}

TestSuite(ringd_client, .init = setup, .fini = teardown, .timeout = 10);

/* Connects a client and returns it, with the server's end of the connection in |*server|. */
static struct ringc *connect_pair(int *server)
{
    struct ringc *c = NULL;
    char err[256];
    cr_assert(eq(int, ringc_connect(&c, path, err, sizeof(err)), 0), "%s", err);
    *server = accept(listen_fd, NULL, NULL);
    cr_assert(ge(int, *server, 0));
    return c;
}

static void server_write(int fd, const void *p, size_t len)
{
    cr_assert(eq(sz, (size_t)write(fd, p, len), len));
}

/* A server that sends requests (ringd never does) must not stall the client: more of them
 * than the reader's in-flight limit, then the answer to the call. */
Test(ringd_client, requests_from_the_server_are_skipped_not_counted)
{
    int server;
    struct ringc *c = connect_pair(&server);
    for (uint32_t i = 0; i < 2 * RPC_INFLIGHT_MAX; i++) {
        uint8_t req[] = { 0x94, 0x00, (uint8_t)(i & 0x7f), 0xa1, 'x', 0x90 };
        server_write(server, req, sizeof(req));
    }
    /* An error notification is skipped too, then comes the answer to msgid 1. */
    server_write(server,
                 "\x93\x02\xa5"
                 "error\x92\xa6"
                 "ETYPE\xa1m",
                 17);
    server_write(server, "\x94\x01\x01\xc0\xa2ok", 7);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(c, &res, 2000, "stats", ""), 0));
    cr_assert(eq(int, res->type, MSGPACK_OBJECT_STR));
    cr_assert(eq(int, memcmp(res->via.str.ptr, "ok", 2), 0));
    ringc_close(c);
    close(server);
}

/* Garbage from the server is a transport error, not a hang or a crash. */
Test(ringd_client, garbage_from_the_server_is_eproto)
{
    int server;
    struct ringc *c = connect_pair(&server);
    server_write(server, "\xc1\x00", 2);
    const msgpack_object *res;
    cr_assert(eq(int, ringc_call(c, &res, 2000, "stats", ""), -EPROTO));
    ringc_close(c);
    close(server);
}

/* ringctl walks lists with ringc_get_array(): a key holding anything but an array is absent,
 * so odd bytes from the socket cannot be walked as one. */
Test(ringd_client, get_array_only_returns_arrays)
{
    /* {"members": "xy", "groups": [1], "n": 5} */
    static const char bytes[] = "\x83\xa7members\xa2xy\xa6groups\x91\x01\xa1n\x05";
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    cr_assert(
        eq(int, msgpack_unpack_next(&u, bytes, sizeof(bytes) - 1, NULL), MSGPACK_UNPACK_SUCCESS));
    cr_assert(ringc_get(&u.data, "members") != NULL);
    cr_assert(ringc_get_array(&u.data, "members") == NULL);
    cr_assert(ringc_get_array(&u.data, "n") == NULL);
    cr_assert(ringc_get_array(&u.data, "absent") == NULL);
    const msgpack_object *g = ringc_get_array(&u.data, "groups");
    cr_assert(g != NULL);
    cr_assert(eq(u32, g->via.array.size, 1));
    msgpack_unpacked_destroy(&u);
}
