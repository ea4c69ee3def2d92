"""The priority lane: how long a system mail takes from ``emit()`` to the
sink while a backlog of bulk mail of the same tenant is being delivered.

The tenant's ticket rule is made a bulk rule; ``--backlog`` events (10,000 by
default) are committed with ``emit_many()``; the workers start; once the
sink has taken its first bulk mails, ``--samples`` system mails
(``emit(..., priority=Priority.SYSTEM)``) are emitted one after another, each
once the previous one arrived, and the time from ``emit()`` to its arrival at
the sink (by Message-ID) is measured. Prints p50/p95 and how much of the
backlog was still waiting when each system mail arrived.

    python -m bench.priority [--backlog 10000] [--samples 20] [--workers N] [--db sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.common import percentile, recommended_workers, redis_url
from bench.delivery import _start_workers, payload, setup
from tests.support.smtp_sink_process import SinkProcess


def run(app, env: dict, tenant_id: int, backlog: int, samples: int, workers: int, sink: SinkProcess) -> dict:
    from core.events import emit, emit_many
    from core.extensions import db
    from core.models import Message, MessageStatus, Rule
    from core.models.message import Priority

    with app.app_context():
        for rule in db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant_id)).scalars():
            rule.priority = Priority.BULK
        db.session.commit()
        for start in range(0, backlog, 1000):
            emit_many(tenant_id, "TICKET_CREATED", [payload(i) for i in range(start, min(backlog, start + 1000))])
            db.session.commit()
        db.session.remove()
    procs = _start_workers(env, workers)
    latencies, waiting = [], []
    try:
        deadline = time.monotonic() + 300
        while sink.count() < min(50, backlog):
            if time.monotonic() > deadline:
                raise SystemExit("the bulk backlog did not start going out within 300 s")
            _stop_on_failures(app, tenant_id)
            time.sleep(0.01)
        with app.app_context():
            for n in range(samples):
                started = time.perf_counter()
                event = emit(tenant_id, "TICKET_CREATED", payload(backlog + n), priority=Priority.SYSTEM)
                db.session.commit()
                message_id = None
                limit = time.monotonic() + 120
                while True:
                    if time.monotonic() > limit:
                        raise SystemExit(f"system mail {n} did not arrive within 120 s")
                    if message_id is None:
                        message_id = db.session.execute(
                            db.select(Message.message_id).where(Message.event_id == event.id)
                        ).scalar()
                        db.session.rollback()
                    if message_id is not None and f"<{message_id.strip('<>')}>" in {
                        f"<{(m or '').strip('<>')}>" for m in sink.message_ids()[-500:]
                    }:
                        break
                    time.sleep(0.01)
                latencies.append(time.perf_counter() - started)
                waiting.append(
                    db.session.execute(
                        db.select(db.func.count())
                        .select_from(Message)
                        .where(Message.tenant_id == tenant_id, Message.status == MessageStatus.PENDING)
                    ).scalar()
                )
                db.session.rollback()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    return {
        "backlog": backlog,
        "samples": len(latencies),
        "workers": workers,
        "p50_s": round(percentile(latencies, 50), 3),
        "p95_s": round(percentile(latencies, 95), 3),
        "max_s": round(max(latencies), 3),
        "bulk_still_waiting_min": min(waiting),
        "bulk_still_waiting_max": max(waiting),
    }


def _stop_on_failures(app, tenant_id: int) -> None:
    """A backlog that fails instead of going out would leave the wait above
    running into its time-out: say why at once."""
    from core.extensions import db
    from core.models import Message, MessageStatus

    with app.app_context():
        error = db.session.execute(
            db.select(Message.last_error)
            .where(Message.tenant_id == tenant_id, Message.status == MessageStatus.FAILED)
            .limit(1)
        ).scalar()
        db.session.remove()
    if error is not None:
        raise SystemExit(f"the backlog fails instead of going out: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--workers", type=int, default=recommended_workers())
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    postgres = None
    with tempfile.TemporaryDirectory() as tmp, redis_url() as redis, SinkProcess() as sink:
        port = sink.port or sink.start()
        try:
            if args.db == "postgresql":
                from tests.support.postgres_server import PostgresServer

                postgres = PostgresServer(Path(tmp) / "postgres").start()
                database_url = postgres.create_database("bench_priority")
            else:
                database_url = f"sqlite:///{tmp}/bench.sqlite3"
            app, env, tenant_id = setup(port, database_url, redis)
            print(json.dumps(run(app, env, tenant_id, args.backlog, args.samples, args.workers, sink), indent=2))
        finally:
            if postgres is not None:
                postgres.stop()


if __name__ == "__main__":
    main()
