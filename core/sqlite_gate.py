"""One SQLite writer at a time per process, waiting on a lock instead of
SQLite's busy handler.

SQLite lets one connection write at a time. A connection that finds the
file locked sleeps in SQLite's busy handler, in steps of 1, 2, 5, 10, 15,
20, 25 ms, 25 ms... and tries again: with several threads of one process
committing (web requests' ``emit()`` with ``synchronous=FULL``, each commit
holding the lock through an fsync), a writer that missed the lock by a
moment slept 10-25 ms after it was free (bench.delivery steady mode:
``emit()`` p95 40-94 ms while p50 was 0.3-0.5 ms).

The gate makes the writers of one process queue on a ``threading.Lock``
before their first write statement: the next one runs as soon as the
previous one committed. It is only an optimisation: SQLite's own lock still
decides (writers in other processes wait in its busy handler as before),
and the gate never holds a writer longer than SQLite would: it is taken at
the first INSERT/UPDATE/DELETE of a transaction, where SQLite takes its
write lock, and given back right after the COMMIT or ROLLBACK that ends it.
A thread that already holds the gate through another connection passes
(SQLite then decides, as without the gate), and a writer that waits longer
than the connection's busy timeout goes on to SQLite's lock, so the gate
adds no deadlock and no error that SQLite's lock alone would not give.
"""

from __future__ import annotations

import re
import threading

from sqlalchemy import event
from sqlalchemy.engine import Engine

_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


class WriterGate:
    """The gate of one engine (see the module's docstring)."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._lock = threading.Lock()
        self._state = threading.Lock()  # guards owner and holders
        self._owner: int | None = None
        self._holders: set[int] = set()  # id() of the DBAPI connections inside

    def enter(self, dbapi_connection) -> None:
        key = _key(dbapi_connection)
        me = threading.get_ident()
        with self._state:
            if key in self._holders:
                return
            if self._owner == me:
                self._holders.add(key)  # this thread is inside already (another connection)
                return
        if not self._lock.acquire(timeout=self.timeout):
            return  # SQLite's own lock decides, as without the gate
        with self._state:
            self._owner = me
            self._holders.add(key)

    def leave(self, dbapi_connection) -> None:
        with self._state:
            key = _key(dbapi_connection)
            if key not in self._holders:
                return
            self._holders.discard(key)
            if self._holders:
                return
            self._owner = None
            self._lock.release()


def _key(connection) -> int:
    # The dialect is handed the pool's proxy or the raw DBAPI connection.
    return id(getattr(connection, "dbapi_connection", None) or connection)


def install(engine: Engine, timeout: float) -> WriterGate:
    """Put a gate in front of the writers of a SQLite ``engine``."""
    gate = WriterGate(timeout)
    dialect = engine.dialect
    do_commit, do_rollback, do_close = dialect.do_commit, dialect.do_rollback, dialect.do_close

    # The dialect's own calls, not the Connection events (which run before
    # the COMMIT): the pool's rollback of a returned connection passes here too.
    def commit(dbapi_connection):
        try:
            do_commit(dbapi_connection)
        finally:
            gate.leave(dbapi_connection)

    def rollback(dbapi_connection):
        try:
            do_rollback(dbapi_connection)
        finally:
            gate.leave(dbapi_connection)

    def close(dbapi_connection):
        try:
            do_close(dbapi_connection)
        finally:
            gate.leave(dbapi_connection)

    dialect.do_commit, dialect.do_rollback, dialect.do_close = commit, rollback, close  # type: ignore[method-assign]

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        if _WRITE.match(statement):
            gate.enter(conn.connection.dbapi_connection)

    @event.listens_for(engine, "invalidate")
    def _invalidated(dbapi_connection, connection_record, exception):
        gate.leave(dbapi_connection)

    return gate
