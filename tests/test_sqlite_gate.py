"""The SQLite writer gate (core.sqlite_gate): the writers of one process
queue on a lock, taken at a transaction's first write and given back when
the transaction ends, however it ends."""

from __future__ import annotations

import threading

from sqlalchemy import text

from core.extensions import db


def _gate():
    engine = db.engine
    # install() wraps the dialect's commit; the gate sits in its closure.
    commit = engine.dialect.do_commit
    cells = [c.cell_contents for c in (commit.__closure__ or ())]
    gates = [c for c in cells if type(c).__name__ == "WriterGate"]
    assert gates, "no writer gate on the SQLite engine"
    return gates[0]


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
        done = threading.Event()
        errors: list[BaseException] = []
        enter = gate.enter

        def watched_enter(connection):
            if threading.current_thread().name == "second":
                waiting.set()
            enter(connection)

        gate.enter = watched_enter

        def second():
            try:
                with app.app_context():
                    db.session.execute(text("UPDATE tenant SET name = name WHERE id = -2"))
                    db.session.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=second, name="second")
        thread.start()
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
