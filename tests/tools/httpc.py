"""The one HTTP exchange the test tools make: a request on a new connection to 127.0.0.1, read
until the other side closes it (the requests say Connection: close)."""
import socket


def exchange(port, request, timeout):
    """Sends |request| (bytes) to |port| and returns the answer's status code as bytes (b"200"),
    or None when the bytes are no HTTP answer. Raises OSError when the connection fails and
    IndexError when the status line is cut short."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    return data.split(b" ", 2)[1] if data.startswith(b"HTTP/1.") else None
