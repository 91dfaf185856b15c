/*
 * fault_app: the smallest HTTP/1.1 app a ringd forwarding proxy can stand in front of, for
 * the fault suite's rolling-restart scenario (one per namespace, beside its ringd).
 *
 *   fault_app IP:PORT ID
 *
 * Answers every request, keep-alive, with 200 and a body "ID KEY\n", KEY being the value of
 * the X-Ring-Key header (so the test can see which node served which key). Request bodies
 * (Content-Length) are read and dropped; chunked bodies are not supported (the test sends
 * none). One poll(2) loop, no threads; exits on SIGTERM/SIGKILL.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Open connections at once; requests larger than a buffer are refused (400). */
#define CONNS_MAX     256
#define CONN_BUF_SIZE 8192

struct conn {
    int fd;
    size_t len;
    size_t body_left; /* request body bytes still to drop */
    char buf[CONN_BUF_SIZE];
};

static struct conn conns[CONNS_MAX];
static const char *app_id;

static int listen_on(const char *hostport)
{
    char host[64];
    int port;
    if (sscanf(hostport, "%63[^:]:%d", host, &port) != 2) {
        return -1;
    }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 128) != 0) {
        return -1;
    }
    return fd;
}

/* The value of header |name| in the head |head| (NUL-terminated), into |out|. */
static void header(const char *head, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    size_t nlen = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, nlen) == 0 && h[nlen] == ':') {
            h += nlen + 1;
            while (*h == ' ') {
                h++;
            }
            size_t vlen = strcspn(h, "\r\n");
            snprintf(out, cap, "%.*s", (int)(vlen < cap ? vlen : cap - 1), h);
            return;
        }
    }
}

static int reply(int fd, int status, const char *body)
{
    char resp[1024];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
                     status, status == 200 ? "OK" : "Bad Request", strlen(body), body);
    return write(fd, resp, (size_t)n) == n ? 0 : -1;
}

/* Answers every complete request in |c|'s buffer; returns -1 to close the connection. */
static int serve(struct conn *c)
{
    for (;;) {
        if (c->body_left > 0) {
            size_t drop = c->body_left < c->len ? c->body_left : c->len;
            memmove(c->buf, c->buf + drop, c->len - drop);
            c->len -= drop;
            c->body_left -= drop;
            if (c->body_left > 0) {
                return 0;
            }
        }
        c->buf[c->len] = '\0';
        char *end = strstr(c->buf, "\r\n\r\n");
        if (end == NULL) {
            return c->len >= CONN_BUF_SIZE - 1 ? (reply(c->fd, 400, "too large\n"), -1) : 0;
        }
        end[2] = '\0';
        char key[256], clen[32], body[512];
        header(c->buf, "X-Ring-Key", key, sizeof(key));
        header(c->buf, "Content-Length", clen, sizeof(clen));
        snprintf(body, sizeof(body), "%s %s\n", app_id, key);
        size_t used = (size_t)(end + 4 - c->buf);
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
        c->body_left = clen[0] != '\0' ? strtoul(clen, NULL, 10) : 0;
        if (reply(c->fd, 200, body) != 0) {
            return -1;
        }
    }
}

static void accept_one(int lfd)
{
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
        return;
    }
    for (int i = 0; i < CONNS_MAX; i++) {
        if (conns[i].fd < 0) {
            conns[i].fd = fd;
            conns[i].len = 0;
            conns[i].body_left = 0;
            return;
        }
    }
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fault_app IP:PORT ID\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    app_id = argv[2];
    int lfd = listen_on(argv[1]);
    if (lfd < 0) {
        fprintf(stderr, "fault_app: cannot listen on %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    for (int i = 0; i < CONNS_MAX; i++) {
        conns[i].fd = -1;
    }
    struct pollfd pfd[CONNS_MAX + 1];
    for (;;) {
        pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
        for (int i = 0; i < CONNS_MAX; i++) {
            pfd[i + 1] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };
        }
        if (poll(pfd, CONNS_MAX + 1, -1) < 0) {
            continue;
        }
        if (pfd[0].revents & POLLIN) {
            accept_one(lfd);
        }
        for (int i = 0; i < CONNS_MAX; i++) {
            struct conn *c = &conns[i];
            if (c->fd < 0 || pfd[i + 1].revents == 0) {
                continue;
            }
            ssize_t n = read(c->fd, c->buf + c->len, CONN_BUF_SIZE - 1 - c->len);
            if (n <= 0 || (c->len += (size_t)n, serve(c)) != 0) {
                close(c->fd);
                c->fd = -1;
            }
        }
    }
}
