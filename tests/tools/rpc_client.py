#!/usr/bin/env python3
"""ringd's local API through a real msgpack library (python3-msgpack), as any client would use
it: notifications (a known method, as msgpack5rpc's notify() sends, and an unknown one) and a
stray response, then requests pipelined behind them on the same connection, then a request on
a new connection. Every request must be answered, in order, and nothing else may come back
(proto/RPC.md "Message kinds"). Prints "ok" and exits 0, or says what went wrong and exits 1.

Usage: rpc_client.py SOCKET   (run by tests/cluster/test_api_rpc.c)
"""
import socket
import sys

import msgpack


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    return s


def read(s, unpacker, count):
    """The next |count| messages from |s|."""
    got = []
    while len(got) < count:
        for msg in unpacker:
            got.append(msg)
        if len(got) >= count:
            break
        data = s.recv(65536)
        if not data:
            raise SystemExit("ringd closed the connection after %d of %d messages" % (len(got), count))
        unpacker.feed(data)
    return got


def check_lookup(msg, msgid):
    if not (isinstance(msg, list) and len(msg) == 4 and msg[0] == 1 and msg[1] == msgid):
        raise SystemExit("want the response to msgid %d, got %r" % (msgid, msg))
    if msg[2] is not None or not isinstance(msg[3], dict) or "id" not in msg[3]:
        raise SystemExit("lookup failed: %r" % (msg,))


def main():
    path = sys.argv[1]
    s = connect(path)
    out = b"".join(
        [
            msgpack.packb([2, "lookup", ["user:42"]]),
            msgpack.packb([2, "no_such_method", []]),
            msgpack.packb([1, 77, None, None]),
            msgpack.packb([0, 1, "lookup", ["user:42"]]),
            msgpack.packb([0, 2, "lookup", [b"user:43"]]),
        ]
    )
    s.sendall(out)
    unpacker = msgpack.Unpacker(raw=False)
    first, second = read(s, unpacker, 2)
    check_lookup(first, 1)
    check_lookup(second, 2)
    # Nothing more may come back: the notifications and the response get no answer.
    s.settimeout(0.3)
    try:
        extra = s.recv(65536)
    except socket.timeout:
        extra = None
    if extra:
        unpacker.feed(extra)
        raise SystemExit("unexpected messages: %r" % (list(unpacker),))
    s.close()

    s = connect(path)
    s.sendall(msgpack.packb([0, 3, "lookup", ["user:44"]]))
    check_lookup(read(s, msgpack.Unpacker(raw=False), 1)[0], 3)
    s.close()
    print("ok")


if __name__ == "__main__":
    main()
