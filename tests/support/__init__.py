"""Helpers that start real servers (Redis, PostgreSQL, SMTP, Dovecot) for tests.

Plain Python on purpose: no pytest fixtures live here, so the helpers can be
used from conftest fixtures, benchmarks and ad-hoc scripts alike.

Every helper raises :class:`ServerUnavailable` when the program it needs is not
installed. That exception, and only that one, is what the test suite turns into
a skip; any other failure to start is a real error and must fail loudly.
"""

from __future__ import annotations


class ServerUnavailable(RuntimeError):
    """A server binary needed by a test is not installed on this machine.

    ``reason`` is a human readable sentence naming the package to install, so
    a skipped test tells the developer exactly what to do about it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


__all__ = ["ServerUnavailable"]
