/*
 * Admin HTTP as HTTP tools expect it: HEAD on every GET path, 405 with Allow, one JSON error
 * shape ({"code", "message"}, as the local API's) on every error, a Date header, /livez,
 * /readyz?verbose, each member's group in /v1/members, n= on /v1/lookup.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cluster.h"

/* Prints 0 when stdin is one JSON object with exactly the keys "code" and "message", both
 * strings, and the bytes are valid UTF-8. */
#define PY_ERROR_SHAPE                                                                             \
    "python3 -c 'import json,sys\n"                                                                \
    "d=json.loads(sys.stdin.buffer.read().decode(\"utf-8\"))\n"                                    \
    "ok=sorted(d)==[\"code\",\"message\"] and all(isinstance(v,str) for v in d.values())\n"        \
    "print(0 if ok else d)'"

static void setup(void)
{
    cluster_init();
}

static void teardown(void)
{
    cluster_stop();
}

TestSuite(admin, .init = setup, .fini = teardown, .timeout = 40);

static void converge(int n)
{
    int ms = cluster_wait(cluster_converged, (void *)(intptr_t)n, 10000);
    cr_assert(ge(int, ms, 0), "%d nodes did not converge in 10 s", n);
}

/* Sends |req| to node |i|'s admin port and reads the whole response (head and body) until
 * the server closes; returns its status. */
static int raw_http(int i, const char *req, char *resp, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(cluster_admin_port(i)) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert(eq(int, connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0));
    struct timeval tv = { .tv_sec = 3 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert(eq(long, (long)write(fd, req, strlen(req)), (long)strlen(req)));
    size_t len = 0;
    ssize_t n;
    while (len < cap - 1 && (n = read(fd, resp + len, cap - 1 - len)) > 0) {
        len += (size_t)n;
    }
    close(fd);
    resp[len] = '\0';
    int status = -1;
    sscanf(resp, "HTTP/1.1 %d", &status);
    return status;
}

static char *body_of(char *resp)
{
    char *b = strstr(resp, "\r\n\r\n");
    return b != NULL ? b + 4 : resp + strlen(resp);
}

/* The value of header |name| in |resp| (to the end of its line) into |out|, or "". */
static char *header(const char *resp, const char *name, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\r\n%s: ", name);
    const char *h = strstr(resp, pat);
    const char *end = h != NULL ? strstr(h + 2, "\r\n") : NULL;
    out[0] = '\0';
    if (h != NULL && end != NULL && end < strstr(resp, "\r\n\r\n") + 1) {
        snprintf(out, cap, "%.*s", (int)(end - h - strlen(pat)), h + strlen(pat));
    }
    return out;
}

/* |json| piped to PY_ERROR_SHAPE: 1 when it is {"code","message"}. */
static int is_error_shape(const char *json)
{
    char path[128], cmd[512], out[1024];
    snprintf(path, sizeof(path), "%s/error.json", cl.dir);
    FILE *f = fopen(path, "w");
    cr_assert(not(eq(ptr, f, NULL)));
    fputs(json, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), PY_ERROR_SHAPE " < %s 2>&1", path);
    return cluster_sh(cmd, out, sizeof(out)) == 0 && strcmp(out, "0\n") == 0;
}

Test(admin, head_on_every_get_path_405_with_allow_and_a_date)
{
    cluster_start(1);
    converge(1);
    static char get[1 << 20], head[1 << 16];
    const char *paths[] = { "/metrics",    "/healthz", "/livez",           "/readyz",
                            "/v1/members", "/v1/ring", "/v1/lookup?key=k", "/nope" };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char req[256], a[64], b[64], date[64];
        snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", paths[i]);
        int status = raw_http(0, req, get, sizeof(get));
        snprintf(req, sizeof(req), "HEAD %s HTTP/1.0\r\n\r\n", paths[i]);
        cr_assert(eq(int, raw_http(0, req, head, sizeof(head)), status), "%s: %s", paths[i], head);
        header(head, "Content-Length", a, sizeof(a));
        header(get, "Content-Length", b, sizeof(b));
        if (strcmp(paths[i], "/metrics") == 0) {
            /* its counters (and CPU seconds) move between the two requests: only the length's
             * presence is comparable */
            cr_assert(gt(long, strtol(a, NULL, 10), 0), "/metrics HEAD: Content-Length \"%s\"", a);
        } else {
            cr_assert(eq(str, a, b), "%s", paths[i]);
        }
        cr_assert(eq(str, body_of(head), ""), "HEAD %s has a body", paths[i]);
        header(get, "Date", date, sizeof(date));
        cr_assert(eq(int, (int)strlen(date), 29), "%s: Date \"%s\"", paths[i], date);
        cr_assert(not(eq(ptr, strstr(date, " GMT"), NULL)), "%s", date);
    }
    char allow[64];
    cr_assert(eq(int, raw_http(0, "POST /metrics HTTP/1.1\r\n\r\n", get, sizeof(get)), 405));
    cr_assert(eq(str, header(get, "Allow", allow, sizeof(allow)), "GET, HEAD"), "%s", get);
    cr_assert(eq(int, raw_http(0, "DELETE /v1/members HTTP/1.1\r\n\r\n", get, sizeof(get)), 405));
    cr_assert(eq(str, header(get, "Allow", allow, sizeof(allow)), "GET, HEAD"), "%s", get);
    cr_assert(eq(int, raw_http(0, "GET /livez HTTP/1.0\r\n\r\n", get, sizeof(get)), 200));
}

Test(admin, every_error_is_json_code_and_message)
{
    cluster_start(1);
    converge(1);
    static char resp[1 << 16];
    const struct {
        const char *req;
        int status;
        const char *code;
    } cases[] = {
        { "GET /nope HTTP/1.0\r\n\r\n", 404, "ENOENT" },
        { "POST /v1/ring HTTP/1.0\r\n\r\n", 405, "EINVAL" },
        { "garbage\r\n\r\n", 400, "EPROTO" },
        { "GET /v1/lookup HTTP/1.0\r\n\r\n", 400, "EINVAL" },
        { "GET /v1/lookup?key=%zz HTTP/1.0\r\n\r\n", 400, "EINVAL" },
        { "GET /v1/lookup?key=k&n=0 HTTP/1.0\r\n\r\n", 400, "ERANGE" },
        { "GET /v1/lookup?key=k&n=65 HTTP/1.0\r\n\r\n", 400, "ERANGE" },
        { "GET /v1/lookup?key=k&n=two HTTP/1.0\r\n\r\n", 400, "ERANGE" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char type[64], want[32];
        cr_assert(eq(int, raw_http(0, cases[i].req, resp, sizeof(resp)), cases[i].status), "%s: %s",
                  cases[i].req, resp);
        cr_assert(eq(str, header(resp, "Content-Type", type, sizeof(type)), "application/json"),
                  "%s", resp);
        cr_assert(is_error_shape(body_of(resp)), "%s: %s", cases[i].req, body_of(resp));
        snprintf(want, sizeof(want), "{\"code\":\"%s\"", cases[i].code);
        cr_assert(eq(ptr, strstr(body_of(resp), want), body_of(resp)), "%s: %s", cases[i].req,
                  body_of(resp));
    }
}

Test(admin, readyz_verbose_livez_members_group_and_lookup_n)
{
    for (int i = 0; i < 3; i++) {
        cl.extra_args[i][0] = "--label";
        cl.extra_args[i][1] = "zone=a";
    }
    cluster_start(3);
    converge(3);
    static char body[1 << 20];
    int ready = 0;
    for (int t = 0; t < 100 && ready != 200; t++) {
        ready = cluster_http(0, "GET /readyz?verbose HTTP/1.0\r\n\r\n", body, sizeof(body));
        cluster_sleep_ms(50);
    }
    cr_assert(eq(int, ready, 200), "%s", body);
    const char *lines[] = { "[+]joined ok\n", "[+]not_leaving ok\n", "[+]ring_built ok\n",
                            "[+]groups_known ok\n", "readyz check passed\n" };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        cr_assert(not(eq(ptr, strstr(body, lines[i]), NULL)), "no %s in:\n%s", lines[i], body);
    }
    cr_assert(eq(int, cluster_http(0, "GET /readyz HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    cr_assert(eq(str, body, "ready\n"));
    cr_assert(eq(int, cluster_http(0, "GET /livez HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));

    cr_assert(
        eq(int, cluster_http(1, "GET /v1/members HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    cr_assert(
        not(eq(ptr, strstr(body, "\"weight\":1,\"group\":\"\",\"labels\":{\"zone\":\"a\"}"), NULL)),
        "%s", body);

    /* n= is a list of owners in ring order, as lookup_n; without n, a list of one */
    cr_assert(eq(
        int, cluster_http(0, "GET /v1/lookup?key=user:9&n=3 HTTP/1.0\r\n\r\n", body, sizeof(body)),
        200));
    static char cmd[(1 << 20) + 1024];
    char out[4096], sock[128];
    snprintf(cmd, sizeof(cmd),
             "%s --socket %s lookup user:9 -n 3 --json | python3 -c 'import json,sys\n"
             "d=json.load(sys.stdin)\n"
             "h=json.loads(sys.argv[1])\n"
             "print(len(h[\"owners\"]), h==d)' '%s'",
             RINGCTL_BIN, cluster_socket(2, sock, sizeof(sock)), body);
    cr_assert(eq(int, cluster_sh(cmd, out, sizeof(out)), 0), "%s", out);
    cr_assert(eq(str, out, "3 True\n"), "admin %s vs ringctl: %s", body, out);
    cr_assert(eq(int,
                 cluster_http(0, "GET /v1/lookup?key=user:9 HTTP/1.0\r\n\r\n", body, sizeof(body)),
                 200));
    cr_assert(eq(ptr, strstr(body, "{\"key\":\"user:9\",\"id\":\"n"), body), "%s", body);
    cr_assert(not(eq(ptr, strstr(body, "\"owners\":[{\"id\":\"n"), NULL)), "%s", body);
    cr_assert(eq(ptr, strstr(body, "},{"), NULL), "one owner without n: %s", body);

    /* checksums in admin JSON are hex strings too */
    cr_assert(eq(int, cluster_http(0, "GET /v1/ring HTTP/1.0\r\n\r\n", body, sizeof(body)), 200));
    cr_assert(eq(ptr, strstr(body, "{\"checksum\":\""), body), "%s", body);
}
