#!/usr/bin/env python3
"""Slow, idle and greedy clients against one ringd's local listeners, each with a real client
that must still be served while the attack runs. Run by tests/cluster/test_slow_clients.c.

  slow_clients.py admin-loris PORT PID   80 connections trickle a request head at 1 byte/s
                                          (reconnecting when closed) while /readyz is asked
                                          every 100 ms: every probe must answer 200 within 1 s
  slow_clients.py admin-noread PORT PID  100 connections pipeline /metrics and never read,
                                          ~100 idle connections/s arrive: every /readyz probe
                                          must answer 200 within 1 s
  slow_clients.py api-idle SOCKET PID    2,000 idle local API connections, then a real client
                                          (python3-msgpack): answered within 1 s
  slow_clients.py api-greedy SOCKET PID  40 clients pipeline lookups and never read: each must
                                          be disconnected while a real client keeps its answers
                                          (within 5 s)
  slow_clients.py proxy-flood PORT PID   4,200 idle and 100 trickling connections on the proxy
                                          port while a real request is sent every 100 ms: each
                                          must answer 200 within 1 s
  slow_clients.py proxy-noread PORT PID  300 clients ask for 4 MiB each and never read, while a
                                          real request is sent every 100 ms: each must answer
                                          200 within 1 s, the first within 3 s (and ringd's
                                          memory stay bounded);
                                          RING_NOREAD_CLIENTS=N sets how many

The last line says "ok" or "FAIL: why", then peak_rss_kib=N: the highest VmRSS of ringd
(/proc/PID/status) sampled every 20 ms while the attack ran. Exits 0 on ok, 1 on FAIL.
"""
import errno
import os
import resource
import selectors
import socket
import sys
import threading
import time

import msgpack

from httpc import exchange

ATTACK_S = 4.0
PROBE_EVERY_S = 0.1
ANSWER_WITHIN_S = 1.0
# While 40 greedy clients flood it, ringd answers up to a quarter of --api-output-max for
# each of them per loop iteration before the real client's turn comes: a few hundred ms in
# a release build, seconds under sanitizers on a loaded machine.
GREEDY_ANSWER_WITHIN_S = 5.0


class RssSampler(threading.Thread):
    """The peak VmRSS of |pid|, sampled every 20 ms until stop()."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kib = 0
        self.done = threading.Event()

    def sample(self):
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        self.peak_kib = max(self.peak_kib, int(line.split()[1]))
        except OSError:
            pass

    def run(self):
        while not self.done.is_set():
            self.sample()
            self.done.wait(0.02)

    def stop(self):
        self.done.set()
        self.join()
        self.sample()
        return self.peak_kib


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def http_get(port, path, headers=""):
    """One GET on a new connection: (status, seconds) or (None, seconds) on any failure."""
    t0 = time.monotonic()
    try:
        code = exchange(port, ("GET %s HTTP/1.1\r\nHost: t\r\n%sConnection: close\r\n\r\n" %
                               (path, headers)).encode(), 2)
        status = int(code) if code is not None else None
    except (OSError, ValueError, IndexError):
        status = None
    return status, time.monotonic() - t0


class Trickler:
    """A connection that sends |head| one byte per second and reconnects when closed."""

    def __init__(self, port, head):
        self.port, self.head, self.sock, self.sent, self.reconnects = port, head, None, 0, 0

    def tick(self):
        if self.sock is None:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                self.sock.setblocking(False)
                self.sent = 0
            except OSError:
                self.sock = None
                return
        try:
            self.sock.send(self.head[self.sent % len(self.head):][:1])
            self.sent += 1
        except OSError:
            self.closed()

    def closed(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            self.reconnects += 1


def run_probes(port, path, headers, tricklers):
    """Probes |path| every PROBE_EVERY_S for ATTACK_S while |tricklers| trickle (one byte each
    per second). Returns (probes, worst seconds, failures)."""
    probes, worst, failures = 0, 0.0, []
    next_trickle = time.monotonic()
    end = time.monotonic() + ATTACK_S
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_trickle:
            for t in tricklers:
                t.tick()
            next_trickle = now + 1.0
        status, took = http_get(port, path, headers)
        probes += 1
        worst = max(worst, took)
        if status != 200 or took > ANSWER_WITHIN_S:
            failures.append("probe %d: status %s after %.3f s" % (probes, status, took))
        # notice tricklers the server closed (they reconnect on their next tick)
        for t in tricklers:
            if t.sock is not None:
                try:
                    if t.sock.recv(1) == b"":
                        t.closed()
                except BlockingIOError:
                    pass
                except OSError:
                    t.closed()
        time.sleep(max(0.0, PROBE_EVERY_S - took))
    return probes, worst, failures


def admin_loris(port):
    head = b"GET /readyz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 4000
    tricklers = [Trickler(port, head) for _ in range(80)]
    probes, worst, failures = run_probes(port, "/readyz", "", tricklers)
    reconnects = sum(t.reconnects for t in tricklers)
    print("admin-loris: %d probes, slowest %.3f s, %d trickler reconnects" %
          (probes, worst, reconnects))
    return failures[0] if failures else None


def admin_noread(port):
    """100 connections that pipeline requests for /metrics and never read the answers (each
    stalls with an answer unsent), and new connections arriving at ~100/s that send nothing,
    while /readyz is probed: the stalled readers and the idle ones are evicted, never a
    probe."""
    stalled = []
    for _ in range(100):
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            try:
                s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 200)
            except BlockingIOError:
                pass
            stalled.append(s)
        except OSError:
            pass
    stop = threading.Event()
    opened = [0]

    def flood():
        idle = []
        while not stop.is_set():
            try:
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=1))
                opened[0] += 1
            except OSError:
                pass
            if len(idle) > 300:
                idle.pop(0).close()
            time.sleep(0.01)
        for s in idle:
            s.close()

    t = threading.Thread(target=flood)
    t.start()
    probes, worst, failures = run_probes(port, "/readyz", "", [])
    stop.set()
    t.join()
    for s in stalled:
        s.close()
    print("admin-noread: 100 stalled readers, %d idle connections opened; %d probes, slowest %.3f s"
          % (opened[0], probes, worst))
    # Under ASan (the test sets this) ringd reads so slowly that a probe accepted in the same
    # millisecond as flood connections may be closed before its request is read, which the
    # eviction rule allows: one such probe is tolerated there, none in a normal build.
    allowed = int(os.environ.get("RING_SLOW_PROBE_FAILURES_ALLOWED", "0"))
    return failures[0] if len(failures) > allowed else None


def close_counting(socks):
    """Closes |socks|; returns how many ringd had already closed (they read EOF or an error
    within a second)."""
    closed = 0
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    for key, _ in sel.select(timeout=1.0):
        try:
            if key.fileobj.recv(1) == b"":
                closed += 1
        except OSError:
            closed += 1
    sel.close()
    for s in socks:
        s.close()
    return closed


def unix_connect(path, timeout=5):
    """A connection to |path|, retried while the listen backlog is full (EAGAIN)."""
    end = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() >= end:
                raise
            time.sleep(0.001)


def api_lookup(path, msgid=1):
    """A lookup on a new connection through python3-msgpack: (ok, seconds, detail)."""
    t0 = time.monotonic()
    try:
        s = unix_connect(path, 8)
        s.sendall(msgpack.packb([0, msgid, "lookup", ["user:42"]]))
        unpacker = msgpack.Unpacker(raw=False)
        while True:
            data = s.recv(65536)
            if not data:
                return False, time.monotonic() - t0, "closed before the answer"
            unpacker.feed(data)
            for msg in unpacker:
                s.close()
                ok = msg[0] == 1 and msg[1] == msgid and msg[2] is None
                return ok, time.monotonic() - t0, repr(msg)[:200]
    except OSError as e:
        return False, time.monotonic() - t0, str(e)


def api_idle(path):
    raise_fd_limit(8192)
    flood = []
    for _ in range(2000):
        flood.append(unix_connect(path))
    ok, took, detail = api_lookup(path)
    # the flood's connections ringd closed to make room read EOF
    closed = close_counting(flood)
    print("api-idle: 2000 idle connections, %d closed by ringd; real client %s in %.3f s" %
          (closed, "answered" if ok else "FAILED", took))
    if not ok or took > ANSWER_WITHIN_S:
        return "the real client was not answered within %.1f s: %s" % (ANSWER_WITHIN_S, detail)
    return None


def api_greedy(path, deadline_s=15.0):
    batch = b"".join(msgpack.packb([0, i, "lookup", ["user:%d" % i]]) for i in range(2000))
    greedy = []
    for _ in range(40):
        s = unix_connect(path)
        s.setblocking(False)
        greedy.append(s)
    alive = set(range(len(greedy)))
    offset = [0] * len(greedy)  # into |batch|: a message cut by a short send is finished first
    probes, worst, failures = 0, 0.0, []
    end = time.monotonic() + deadline_s
    next_probe = time.monotonic()
    while alive and time.monotonic() < end:
        for i in list(alive):
            try:
                while True:
                    offset[i] = (offset[i] + greedy[i].send(batch[offset[i]:])) % len(batch)
            except BlockingIOError:
                pass
            except OSError as e:
                if e.errno in (errno.EPIPE, errno.ECONNRESET):
                    alive.discard(i)
                else:
                    raise
        if time.monotonic() >= next_probe:
            ok, took, detail = api_lookup(path)
            probes += 1
            worst = max(worst, took)
            if not ok or took > GREEDY_ANSWER_WITHIN_S:
                failures.append("real client, lookup %d: %s after %.3f s" % (probes, detail, took))
            next_probe = time.monotonic() + PROBE_EVERY_S
        time.sleep(0.01)
    for s in greedy:
        s.close()
    print("api-greedy: %d of %d greedy clients disconnected; real client %d lookups, slowest "
          "%.3f s" % (len(greedy) - len(alive), len(greedy), probes, worst))
    if alive:
        return "%d greedy clients still connected after %.0f s" % (len(alive), deadline_s)
    return failures[0] if failures else None


def proxy_flood(port):
    raise_fd_limit(16384)
    idle = []
    for _ in range(4200):
        idle.append(socket.create_connection(("127.0.0.1", port), timeout=2))
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Ring-Key: k\r\nX-Slow: " + b"a" * 4000
    tricklers = [Trickler(port, head) for _ in range(100)]
    probes, worst, failures = run_probes(port, "/", "X-Ring-Key: user:42\r\n", tricklers)
    closed = close_counting(idle)
    print("proxy-flood: 4200 idle + 100 trickling; %d idle closed by ringd; %d requests, slowest "
          "%.3f s" % (closed, probes, worst))
    return failures[0] if failures else None


def proxy_noread(port):
    raise_fd_limit(4096)
    stalled = []
    count = int(os.environ.get("RING_NOREAD_CLIENTS", "300"))  # more for a measurement
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel holds little
        s.settimeout(2)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /gen?bytes=4194304 HTTP/1.1\r\nHost: x\r\nX-Ring-Key: k%d\r\n\r\n" % i)
        stalled.append(s)
    # The one app behind this ringd (a single-threaded test app) is busy for a second or more
    # writing 300 answers at once (far longer on a loaded machine or under ASan, where one
    # run took over 15 s); the probes start once a request gets through, so they measure
    # ringd with the stalled readers in place. The bound only ends a run that never settles.
    settle_end = time.monotonic() + 60.0
    while http_get(port, "/", "X-Ring-Key: user:42\r\n")[0] != 200:
        if time.monotonic() > settle_end:
            return "no request got through in 60 s after the stalled readers connected"
    probes, worst, failures = run_probes(port, "/", "X-Ring-Key: user:42\r\n", [])
    # The first probe comes while that app is still writing the first of 1.2 GB of answers:
    # it took 0.15-0.4 s alone, and 1.2 s on 2 cores shared with another heavy test. It may
    # take up to 3 s if it is answered; every later one must within 1 s.
    first = "probe 1: status 200 after "
    if failures and failures[0].startswith(first) and float(failures[0][len(first):-2]) <= 3.0:
        print("proxy-noread: the first probe took %s (tolerated)" % failures[0][len(first):])
        failures = failures[1:]
    for s in stalled:
        s.close()
    print("proxy-noread: %d clients asked for 4 MiB each and read nothing; %d requests, slowest "
          "%.3f s" % (count, probes, worst))
    return failures[0] if failures else None


def main():
    attack, target, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sampler = RssSampler(pid)
    sampler.start()
    if attack == "admin-loris":
        why = admin_loris(int(target))
    elif attack == "admin-noread":
        why = admin_noread(int(target))
    elif attack == "api-idle":
        why = api_idle(target)
    elif attack == "api-greedy":
        why = api_greedy(target)
    elif attack == "proxy-flood":
        why = proxy_flood(int(target))
    elif attack == "proxy-noread":
        why = proxy_noread(int(target))
    else:
        raise SystemExit("unknown attack %r" % attack)
    peak = sampler.stop()
    print("ok" if why is None else "FAIL: " + why)
    print("peak_rss_kib=%d" % peak)
    sys.exit(0 if why is None else 1)


if __name__ == "__main__":
    main()
