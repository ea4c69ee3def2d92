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

Across processes the writers queue on ``flock(2)`` of a file beside the
database (``<database>-writers.lock``), taken after the process's own lock
and given back before it. Without it a worker's claim or SENT update lost
every round to the web's writers: their hand-over inside one process is
immediate, while the worker slept 25-100 ms in SQLite's busy handler
between tries (bench.delivery steady mode: claims that waited 80-235 ms,
and mail stalled for as long while the producers kept committing). A waiter
asks again every 0.1-0.5 ms instead, so it takes the lock in the moment
between two of another process's transactions. The kernel drops the lock of
a process that dies; a forked child opens the file anew (it would share its
parent's lock otherwise); where the file cannot be opened (a read-only
directory) the writers go on without it, as before.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import time

from sqlalchemy import event
from sqlalchemy.engine import Engine

_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


class FileGate:
    """The writers of every process on one SQLite file: ``flock(2)`` of a
    file beside it, asked for again every 0.1-0.5 ms up to a timeout (the
    module's docstring says why not SQLite's busy handler)."""

    FIRST_PAUSE = 0.0001
    LONGEST_PAUSE = 0.0005

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None
        self._pid: int | None = None

    def _descriptor(self) -> int | None:
        if self._pid != os.getpid():
            # A forked child shares its parent's open file, and with it any
            # lock the parent holds: it needs one of its own.
            self._pid = os.getpid()
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError:
                self._fd = None  # no gate across processes; SQLite's lock still decides
        return self._fd

    def acquire(self, timeout: float) -> bool:
        fd = self._descriptor()
        if fd is None:
            return False
        deadline = time.monotonic() + timeout
        pause = self.FIRST_PAUSE
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
            if time.monotonic() >= deadline:
                return False  # SQLite's own lock decides, as without the gate
            time.sleep(pause)
            pause = min(pause * 2, self.LONGEST_PAUSE)

    def release(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            fcntl.flock(self._fd, fcntl.LOCK_UN)


_FILE_GATES: dict[str, FileGate] = {}
_FILE_GATES_LOCK = threading.Lock()


def _forget_descriptors_in_child() -> None:
    """A forked child's copy of a descriptor keeps the parent's open file
    alive, and with it a lock the parent holds: a parent killed while it
    held one would leave it held for as long as the child lives. The child
    closes its copies (the parent's lock stays the parent's: flock(2) lets
    go only when every copy is closed) and opens its own on first use."""
    for gate in list(_FILE_GATES.values()):
        if gate._fd is not None:
            try:
                os.close(gate._fd)
            except OSError:
                pass
        gate._fd, gate._pid = None, None


os.register_at_fork(after_in_child=_forget_descriptors_in_child)


def file_gate(database: str | None) -> FileGate | None:
    """The one FileGate of this process for a database file (two engines
    on one file, as tests have, must not lock each other out through two
    descriptors); None for an in-memory database."""
    if not database or database == ":memory:" or database.startswith("file::memory:") or "mode=memory" in database:
        return None
    path = os.path.realpath(database.removeprefix("file:").split("?", 1)[0]) + "-writers.lock"
    with _FILE_GATES_LOCK:
        return _FILE_GATES.setdefault(path, FileGate(path))


class WriterGate:
    """The gate of one engine (see the module's docstring)."""

    def __init__(self, timeout: float, files: FileGate | None = None):
        self.timeout = timeout
        self.files = files
        self._lock = threading.Lock()
        self._state = threading.Lock()  # guards owner, holders and file_held
        self._owner: int | None = None
        self._holders: set[int] = set()  # id() of the DBAPI connections inside
        self._file_held = False

    def enter(self, dbapi_connection) -> None:
        key = _key(dbapi_connection)
        me = threading.get_ident()
        with self._state:
            if key in self._holders:
                return
            if self._owner == me:
                self._holders.add(key)  # this thread is inside already (another connection)
                return
        started = time.monotonic()
        if not self._lock.acquire(timeout=self.timeout):
            return  # SQLite's own lock decides, as without the gate
        held = self.files is not None and self.files.acquire(max(0.0, self.timeout - (time.monotonic() - started)))
        with self._state:
            self._owner = me
            self._holders.add(key)
            self._file_held = held

    def leave(self, dbapi_connection) -> None:
        with self._state:
            key = _key(dbapi_connection)
            if key not in self._holders:
                return
            self._holders.discard(key)
            if self._holders:
                return
            self._owner = None
            if self._file_held:
                self._file_held = False
                assert self.files is not None
                self.files.release()
            self._lock.release()


def _key(connection) -> int:
    # The dialect is handed the pool's proxy or the raw DBAPI connection.
    return id(getattr(connection, "dbapi_connection", None) or connection)


def install(engine: Engine, timeout: float) -> WriterGate:
    """Put a gate in front of the writers of a SQLite ``engine``."""
    gate = WriterGate(timeout, file_gate(engine.url.database))
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
