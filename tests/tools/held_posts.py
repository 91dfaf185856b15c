#!/usr/bin/env python3
"""Many large POSTs at once through one ringd proxy, each to a new connection, and the status
of each answer. Run by tests/cluster/test_restart.c against a key whose owner is restarting.

  held_posts.py PORT KEY N BYTES    N clients each POST BYTES to /sink with X-Ring-Key: KEY

Prints one line per status, "STATUS COUNT" (STATUS "none": no HTTP answer), then "done".
"""
import sys
import threading
from collections import Counter

from httpc import exchange


def post(port, key, body, out, i):
    try:
        code = exchange(port, b"POST /sink HTTP/1.1\r\nHost: t\r\nX-Ring-Key: " + key.encode() +
                        b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) +
                        body, 60)
        out[i] = code.decode() if code is not None else "none"
    except (OSError, IndexError):
        out[i] = "none"


def main():
    port, key, n, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    body = bytes(i % 251 for i in range(size))
    out = ["none"] * n
    threads = [threading.Thread(target=post, args=(port, key, body, out, i)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for status, count in sorted(Counter(out).items()):
        print(status, count)
    print("done")


if __name__ == "__main__":
    main()
