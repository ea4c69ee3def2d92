"""A counting-only SMTP sink in a separate process, for benchmarks.

The in-process :mod:`smtp_sink` shares the GIL with the code under test, so a
benchmark would measure both together. This sink runs in its own process
(``spawn`` start method: no fork of a process that has threads) and does as
little as possible per message: it stores the Message-ID, found with a byte
search in the header block, and bumps a shared counter. No MIME parsing.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import re
from multiprocessing.connection import Connection

_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


def _message_id(data: bytes) -> str | None:
    """Message-ID from the header block only (a body may quote headers)."""
    end = data.find(b"\r\n\r\n")
    headers = data if end < 0 else data[:end]
    match = _MESSAGE_ID.search(headers)
    if match is None:
        return None
    # Unfold a continued header line.
    return b" ".join(match.group(1).split()).decode("ascii", "replace")


def run_sink_process(conn: Connection, counter, pipelining: bool = False, reply_delay: float = 0.0) -> None:
    """Process entry point: serve SMTP, answer commands from ``conn`` until "stop".

    Protocol on ``conn``: the child first sends ("port", n) or ("error", text);
    then the parent may send "ids" (answered with the list of Message-IDs) or
    "stop" (answered with "stopped").
    """
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    # aiosmtpd logs every command at INFO; even unprinted records cost time.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    message_ids: list[str | None] = []

    class CountingHandler:
        async def handle_DATA(self, server, session, envelope):
            message_ids.append(_message_id(envelope.original_content))
            # Append first, count second: count() == n implies n ids are stored.
            counter.value += 1
            return "250 2.0.0 Ok"

        if pipelining:  # RFC 2920: aiosmtpd reads buffered commands in order; only the offer is missing

            async def handle_EHLO(self, server, session, envelope, hostname, responses):
                session.host_name = hostname
                return [*responses[:-1], "250-PIPELINING", responses[-1]]

    class DelayedSMTP(SMTP):
        """Each reply reaches the client ``reply_delay`` later, like over a
        network, without holding up the commands already received."""

        async def push(self, status):
            data = status if isinstance(status, bytes) else status.encode("utf-8")
            transport = self.transport
            self.loop.call_later(reply_delay, lambda: transport.is_closing() or transport.write(data + b"\r\n"))

    class PortZeroController(Controller):
        def _trigger_server(self):
            # Listen on port 0 (no race for a free port); tell aiosmtpd's
            # start-up self-test which port the kernel picked.
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

        def factory(self):
            if not reply_delay:
                return super().factory()
            return DelayedSMTP(self.handler, **self.SMTP_kwargs)

    try:
        controller = PortZeroController(
            CountingHandler(),
            hostname="127.0.0.1",
            port=0,
            server_hostname="sink.postwerk.test",  # avoid a slow getfqdn()
            decode_data=False,
        )
        controller.start()
    except Exception as exc:  # report instead of dying silently
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("port", controller.port))
    command = None
    try:
        while command != "stop":
            try:
                command = conn.recv()
            except EOFError:  # parent is gone: stop too
                return
            if command == "ids":
                conn.send(list(message_ids))
    finally:
        controller.stop()
    conn.send("stopped")  # only now is the port closed


class SinkProcess:
    """Handle on a counting SMTP sink process: start(), count(), message_ids(), stop()."""

    host = "127.0.0.1"

    def __init__(self, start_timeout: float = 30, *, pipelining: bool = False, reply_delay: float = 0.0) -> None:
        self._options = (pipelining, reply_delay)
        self._context = multiprocessing.get_context("spawn")
        self._start_timeout = start_timeout
        # A raw shared integer: the child is the only writer, so no lock is
        # needed, and reads from this process cost nothing.
        self._counter = self._context.RawValue(ctypes.c_longlong, 0)
        self._conn: Connection | None = None
        self._process = None
        self.port: int | None = None

    def start(self) -> int:
        parent, child = self._context.Pipe()
        self._process = self._context.Process(
            target=run_sink_process, args=(child, self._counter, *self._options), name="smtp-sink", daemon=True
        )
        self._process.start()
        child.close()  # our copy; lets recv() see EOF if the child dies
        self._conn = parent
        if not parent.poll(self._start_timeout):
            self.stop()
            raise RuntimeError(f"SMTP sink process did not start within {self._start_timeout} s")
        try:
            kind, value = parent.recv()
        except EOFError:
            self.stop()
            raise RuntimeError("SMTP sink process died during start-up") from None
        if kind != "port":
            self.stop()
            raise RuntimeError(f"SMTP sink process failed to start: {value}")
        self.port = value
        return value

    def count(self) -> int:
        """Messages accepted so far."""
        return self._counter.value

    def message_ids(self) -> list[str | None]:
        """Message-IDs in arrival order (None for a message without one)."""
        assert self._conn is not None, "SinkProcess is not started"
        self._conn.send("ids")
        return self._conn.recv()

    def stop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send("stop")
                if self._conn.poll(10):
                    self._conn.recv()
            except (OSError, EOFError):
                pass  # the child is already gone
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
            self._process.close()
            self._process = None

    def __enter__(self) -> SinkProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
