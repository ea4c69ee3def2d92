"""A server that answers, but one byte at a time (RELIABILITY 33).

Every connection gets ``script`` dribbled out one byte every ``interval``
seconds; per-read socket timeouts never fire. After ``give_up`` seconds the
server closes by itself, so that a client without an overall deadline still
ends (and its test fails instead of hanging).
"""

from __future__ import annotations

import socket
import threading
import time

from tests.support.ports import free_port


class Tarpit:
    def __init__(
        self,
        script: bytes = b"220-slow\r\n" * 10_000,
        *,
        interval: float = 0.2,
        give_up: float = 60,
        prefix: bytes = b"",
    ):
        self.script = script
        self.prefix = prefix  # sent at once, before the dribble (a server that stalls later)
        self.interval = interval
        self.give_up = give_up
        self.host = "127.0.0.1"
        self.port = free_port()
        self.connections = 0
        #: Connections the client closed while the tarpit still had bytes to dribble.
        self.dropped_by_client = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None

    def start(self) -> "Tarpit":
        self._sock = socket.create_server(("127.0.0.1", self.port))
        self._sock.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> "Tarpit":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._dribble, args=(conn,), daemon=True).start()

    def _dribble(self, conn: socket.socket) -> None:
        ends = time.monotonic() + self.give_up
        with conn:
            conn.settimeout(self.interval)
            if self.prefix:
                conn.sendall(self.prefix)
            for i in range(len(self.script)):
                if self._stop.is_set() or time.monotonic() > ends:
                    return
                try:
                    conn.sendall(self.script[i : i + 1])
                    if conn.recv(4096) == b"":  # the client hung up
                        break
                except TimeoutError:
                    continue
                except OSError:
                    break
            else:
                return
        with self._lock:
            self.dropped_by_client += 1

    def wait_dropped(self, n: int = 1, timeout: float = 10) -> int:
        """Wait until the client has hung up on ``n`` connections (the tarpit
        notices at its next byte); returns how many it has."""
        ends = time.monotonic() + timeout
        while self.dropped_by_client < n and time.monotonic() < ends:
            time.sleep(0.05)
        return self.dropped_by_client
