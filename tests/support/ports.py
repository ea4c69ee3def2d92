"""Free TCP ports on the loopback interface."""

from __future__ import annotations

import socket


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now.

    The kernel picks the port (bind to port 0), so concurrent test runs do not
    collide. There is a small window between closing our socket and the server
    binding the port; Linux hands out ephemeral ports round-robin, so another
    process getting the same port in that window is very unlikely.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
