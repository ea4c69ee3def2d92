"""An overall deadline for a network conversation.

A socket timeout bounds each read, so a server that answers one byte every
two seconds never trips it and can hold a shared worker for as long as it
likes. A :class:`Deadline` watches the sockets of one conversation (an SMTP
login, one message, a mailbox poll, a token call) and shuts them down when
its time is up: the blocked read returns at once, the client library raises
its usual "connection closed" error, and :attr:`Deadline.expired` tells the
caller why.

One watchdog thread per process serves every deadline (RQ's work horses are
forked, so it is started again in a child).
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time

from .. import targets


class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._seq = itertools.count()
        self._pid = 0

    def arm(self, deadline: "Deadline", at: float) -> None:
        with self._cond:
            if self._pid != os.getpid():  # first use, or a forked child
                self._pid = os.getpid()
                self._heap = []
                threading.Thread(target=self._run, name="postwerk-deadlines", daemon=True).start()
            entry = (at, next(self._seq), deadline)
            heapq.heappush(self._heap, entry)
            # The watchdog sleeps until the earliest entry: only a new earliest
            # one needs it awake. Each message arms a deadline later than the
            # previous one's, and waking the thread for it cost a thread switch
            # per mail.
            if self._heap[0] is entry:
                self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    at, _, deadline = heapq.heappop(self._heap)
                    deadline._expire(at)
                self._cond.wait(self._heap[0][0] - now if self._heap else None)


_watchdog = _Watchdog()


class Deadline:
    """``with Deadline(60) as d: d.watch(sock); ...`` (re-usable: :meth:`start` again)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.until: float | None = None
        self.expired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self, seconds: float | None = None) -> "Deadline":
        """Arm for a new step of the conversation; watched sockets stay watched."""
        with self._lock:
            self.expired = False
            self.until = time.monotonic() + (self.seconds if seconds is None else seconds)
        _watchdog.arm(self, self.until)
        return self

    def remaining(self) -> float:
        return max(0.0, self.until - time.monotonic()) if self.until is not None else self.seconds

    def connect(self, address: tuple[str, int], timeout: float | None) -> socket.socket:
        """``socket.create_connection``, within the deadline and watched, and
        pinned to the addresses checked against the installation's target
        policy (``core.targets.connect``: no second DNS lookup)."""
        left = self.remaining()
        if left <= 0:
            raise TimeoutError("the overall deadline of the conversation passed")
        sock = targets.connect(address, min(timeout, left) if timeout else left)
        if timeout is not None:
            sock.settimeout(timeout)
        return self.watch(sock)

    def watch(self, sock: socket.socket) -> socket.socket:
        """Shut ``sock`` down at the deadline. A duplicate descriptor is kept,
        so the socket may be wrapped in TLS (which detaches it) meanwhile."""
        with self._lock:
            dup = sock.dup()
            self._socks.append(dup)
            if self.expired:
                self._shut(dup)
        return sock

    def stop(self) -> None:
        """The conversation step is over: disarm (watched sockets stay watched)."""
        with self._lock:
            self.until = None

    def release(self) -> None:
        """The conversation is over: disarm and let go of its sockets."""
        with self._lock:
            self.until = None
            socks, self._socks = self._socks, []
        for dup in socks:
            dup.close()

    def _expire(self, at: float) -> None:
        with self._lock:
            if self.until != at:  # re-armed or stopped since
                return
            self.expired = True
            for dup in self._socks:
                self._shut(dup)

    @staticmethod
    def _shut(dup: socket.socket) -> None:
        try:
            dup.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def __enter__(self) -> "Deadline":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.release()
