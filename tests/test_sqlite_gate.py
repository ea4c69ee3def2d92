"""The SQLite writer gate (core.sqlite_gate): the writers of one process
queue on a lock, taken at a transaction's first write and given back when
the transaction ends, however it ends; the writers of several processes
queue on flock(2) of a file beside the database."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from sqlalchemy import text

from core.extensions import db
from core.sqlite_gate import FileGate, file_gate


def _gate():
    engine = db.engine
    # install() wraps the dialect's commit; the gate sits in its closure.
    commit = engine.dialect.do_commit
    cells = [c.cell_contents for c in (commit.__closure__ or ())]
    gates = [c for c in cells if type(c).__name__ == "WriterGate"]
    assert gates, "no writer gate on the SQLite engine"
    return gates[0]


def _write_in_thread(app, row: int, name: str | None = None):
    """A writer in a thread of its own: (thread, done, errors), started."""
    done = threading.Event()
    errors: list[BaseException] = []

    def write():
        try:
            with app.app_context():
                db.session.execute(text(f"UPDATE tenant SET name = name WHERE id = {row}"))
                db.session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=write, name=name)
    thread.start()
    return thread, done, errors


def test_a_write_holds_the_gate_until_commit(ctx):
    gate = _gate()
    db.session.execute(text("SELECT 1")).all()
    assert not gate._lock.locked()  # a read takes nothing
    db.session.execute(text("UPDATE tenant SET name = name WHERE id = -1"))
    assert gate._lock.locked()
    db.session.commit()
    assert not gate._lock.locked()


def test_rollback_and_a_returned_connection_release_the_gate(ctx):
    gate = _gate()
    db.session.execute(text("UPDATE tenant SET name = name WHERE id = -1"))
    db.session.rollback()
    assert not gate._lock.locked()
    conn = db.engine.connect()
    conn.execute(text("UPDATE tenant SET name = name WHERE id = -1"))
    assert gate._lock.locked()
    conn.close()  # back to the pool, which rolls back
    assert not gate._lock.locked()


def test_a_second_writer_waits_for_the_first_to_commit(app):
    with app.app_context():
        gate = _gate()
        db.session.execute(text("UPDATE tenant SET name = name WHERE id = -1"))
        waiting = threading.Event()
        enter = gate.enter

        def watched_enter(connection):
            if threading.current_thread().name == "second":
                waiting.set()
            enter(connection)

        gate.enter = watched_enter
        thread, done, errors = _write_in_thread(app, -2, name="second")
        assert waiting.wait(30)
        assert not done.is_set()  # parked on the gate while the first holds it
        db.session.commit()
        thread.join(60)
        gate.enter = enter
        assert done.is_set() and not errors
        assert not gate._lock.locked()


def test_one_thread_on_two_connections_passes_its_own_gate(ctx):
    """A thread inside the gate through one connection is not parked by it
    on another (SQLite's own lock decides then, as without the gate)."""
    gate = _gate()
    db.session.execute(text("UPDATE tenant SET name = name WHERE id = -1"))
    other = object()  # stands for a second DBAPI connection of this thread
    gate.enter(other)  # returns at once
    gate.leave(other)
    assert gate._lock.locked()  # still the first connection's
    db.session.commit()
    assert not gate._lock.locked()


def _other_process_gate(gate) -> FileGate:
    """A FileGate on the same lock file through a descriptor of its own:
    what another process's writers lock (flock(2) locks of two open files
    exclude each other, in one process as across two)."""
    assert gate.files is not None, "no file gate beside the SQLite database"
    return FileGate(gate.files.path)


def test_a_write_holds_the_file_gate_of_every_process_until_it_ends(ctx):
    gate = _gate()
    other = _other_process_gate(gate)
    assert gate.files.path == os.path.realpath(db.engine.url.database) + "-writers.lock"
    db.session.execute(text("SELECT 1")).all()
    assert other.acquire(0)  # a read takes nothing
    other.release()
    db.session.execute(text("UPDATE tenant SET name = name WHERE id = -1"))
    assert not other.acquire(0.05)  # another process's writer waits
    db.session.commit()
    assert other.acquire(0)
    other.release()
    db.session.execute(text("UPDATE tenant SET name = name WHERE id = -1"))
    db.session.rollback()
    assert other.acquire(0)
    other.release()


def test_a_writer_waits_while_another_process_writes_and_goes_on_after(app):
    """The other process's writer holds the file: this process's writer is
    parked before its statement reaches SQLite, and writes once it is free."""
    with app.app_context():
        gate = _gate()
    other = _other_process_gate(gate)
    assert other.acquire(0)
    thread, done, errors = _write_in_thread(app, -3)
    try:
        assert not done.wait(0.3)  # parked on the file
        assert gate._lock.locked()  # past its own process's gate, waiting for the file
    finally:
        other.release()
    thread.join(60)
    assert done.is_set() and not errors
    assert other.acquire(0)  # given back after the commit
    other.release()


def test_a_forked_child_opens_the_lock_file_anew(ctx):
    """A child shares its parent's open files: on the inherited descriptor
    it would pass the lock its parent holds."""
    gate = _gate()
    db.session.execute(text("UPDATE tenant SET name = name WHERE id = -1"))
    pid = os.fork()
    if pid == 0:  # the child: the parent is inside; the child must wait
        code = 0 if not gate.files.acquire(0.05) else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    db.session.commit()
    assert os.waitstatus_to_exitcode(status) == 0


def test_no_file_gate_for_an_in_memory_database():
    assert file_gate(":memory:") is None
    assert file_gate("file::memory:?cache=shared") is None
    assert file_gate(None) is None


def test_a_child_of_a_writer_that_died_holding_the_file_does_not_keep_it_held(tmp_path):
    """flock(2) lets go when every copy of the descriptor is closed: a
    forked child that kept its copy would keep the lock of a parent killed
    while holding it. The parent here is a process that takes the file gate,
    forks a child that lives on, and dies holding it."""
    path = str(tmp_path / "db.sqlite3-writers.lock")
    code = f"""
import os, time
from core.sqlite_gate import file_gate
gate = file_gate({str(tmp_path / "db.sqlite3")!r})
assert gate.acquire(1)
if os.fork() == 0:  # the child lives on, holding whatever it inherited
    time.sleep(30)
    os._exit(0)
print("held", flush=True)
os.kill(os.getpid(), 9)
"""
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert parent.stdout.readline().strip() == "held"
        parent.wait(30)
        other = FileGate(path)
        assert other.acquire(5), "the dead writer's lock is still held by its child"
        other.release()
    finally:
        os.killpg(parent.pid, 9)
        parent.stdout.close()
