"""The priority lane: how long a system mail takes from ``emit()`` to the
sink while a backlog of bulk mail of the same tenant is being delivered.

The tenant's ticket rule is made a bulk rule; ``--backlog`` events (10,000 by
default) are committed with ``emit_many()``; the workers start; once the
sink has taken its first bulk mails, ``--samples`` system mails
(``emit(..., priority=Priority.SYSTEM)``) are emitted one after another, each
once the previous one arrived, and the time from ``emit()`` to its arrival at
the sink (by Message-ID) is measured. Only samples taken while bulk mail
is still waiting count: sampling stops once the backlog has drained (a
system mail alone in the queue says nothing of the lane), and the bench
prints how many samples were taken under backlog and the least bulk mail
still waiting at any of them. Each sample is split into its steps, from
the rows' own timestamps: emit -> event expanded -> message written ->
claimed by a delivery job -> SMTP done (sent_at) -> seen at the sink.

    python -m bench.priority [--backlog 10000] [--samples 20] [--workers N] [--db sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import timezone

from bench.common import percentile, recommended_workers, redis_url, start_database
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
    latencies: list[float] = []
    steps: dict[str, list[float]] = {name: [] for name in STEPS}
    waiting: list[int] = []
    messages_waiting: list[int] = []
    drained_after = None
    slowest: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 300
        while sink.count() < min(50, backlog):
            if time.monotonic() > deadline:
                raise SystemExit("the bulk backlog did not start going out within 300 s")
            _stop_on_failures(app, tenant_id)
            time.sleep(0.01)
        with app.app_context():
            for n in range(samples):
                if sum(_bulk_waiting(db, tenant_id)) == 0:
                    drained_after = n
                    break
                emitted = time.time()
                started = time.perf_counter()
                event = emit(tenant_id, "TICKET_CREATED", payload(backlog + n), priority=Priority.SYSTEM)
                db.session.commit()
                message_id, claimed = None, None
                limit = time.monotonic() + 120
                while True:
                    if time.monotonic() > limit:
                        raise SystemExit(f"system mail {n} did not arrive within 120 s")
                    if claimed is None:
                        # The claim leaves no timestamp behind (the lease is
                        # cleared once sent): watch for the row in a job's hands.
                        row = db.session.execute(
                            db.select(Message.message_id, Message.status).where(Message.event_id == event.id)
                        ).first()
                        db.session.rollback()
                        if row is not None:
                            message_id = row[0]
                            if row[1] != MessageStatus.PENDING:
                                claimed = time.time()
                    if message_id is not None and f"<{message_id.strip('<>')}>" in {
                        f"<{(m or '').strip('<>')}>" for m in sink.message_ids()[-500:]
                    }:
                        break
                    time.sleep(0.005)
                elapsed = time.perf_counter() - started
                messages, events = _bulk_waiting(db, tenant_id)
                still = messages + events
                if still == 0:
                    # The backlog drained while this one was on its way: it
                    # may have had the queue to itself, so it does not count.
                    drained_after = n
                    break
                latencies.append(elapsed)
                waiting.append(still)
                messages_waiting.append(messages)
                split = _steps(db, event.id, emitted, claimed, emitted + elapsed)
                for name, value in split.items():
                    steps[name].append(value)
                if elapsed >= max(latencies):
                    slowest = {name: round(value, 3) for name, value in split.items()}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    if not latencies:
        raise SystemExit("the backlog drained before the first sample: take a larger --backlog")
    return {
        "backlog": backlog,
        "samples_asked": samples,
        "samples_under_backlog": len(latencies),
        "backlog_drained_at_sample": drained_after,
        "workers": workers,
        "p50_s": round(percentile(latencies, 50), 3),
        "p95_s": round(percentile(latencies, 95), 3),
        "max_s": round(max(latencies), 3),
        "bulk_still_waiting_min": min(waiting),
        "bulk_still_waiting_max": max(waiting),
        # Of those, bulk mail already written and waiting for delivery (the
        # rest: events not yet expanded).
        "bulk_messages_waiting_min": min(messages_waiting),
        # Each step's p50/p95 in seconds (the time since the step before).
        "steps_p50_p95_s": {
            name: [round(percentile(values, 50), 3), round(percentile(values, 95), 3)] for name, values in steps.items()
        },
        "slowest_sample_steps_s": slowest,
    }


STEPS = ("emit_to_expanded", "expanded_to_written", "written_to_claimed", "claimed_to_smtp_done", "smtp_done_to_seen")


def _bulk_waiting(db, tenant_id: int) -> tuple[int, int]:
    """Bulk mail not yet sent: (messages pending or in a delivery job's
    hands, events not yet expanded)."""
    from core.models import Event, EventStatus, Message, MessageStatus

    messages = db.session.execute(
        db.select(db.func.count())
        .select_from(Message)
        .where(
            Message.tenant_id == tenant_id,
            Message.priority == 0,
            Message.status.in_((MessageStatus.PENDING, MessageStatus.SENDING)),
        )
    ).scalar()
    events = db.session.execute(
        db.select(db.func.count())
        .select_from(Event)
        .where(Event.tenant_id == tenant_id, Event.status == EventStatus.NEW)
    ).scalar()
    db.session.rollback()
    return messages, events


def _steps(db, event_id: int, emitted: float, claimed: float | None, seen: float) -> dict[str, float]:
    """Where a system mail's time went, from its rows' timestamps (UTC) and
    the moment the bench saw it claimed (``claimed``, to its polling step)."""
    from core.models import Event, Message

    expanded_at = db.session.execute(db.select(Event.expanded_at).where(Event.id == event_id)).scalar()
    limit = time.monotonic() + 10
    while True:
        # SENT (with sent_at, the moment the server took it) is written in
        # groups, a moment after the sink has the mail.
        created_at, sent_at = db.session.execute(
            db.select(Message.created_at, Message.sent_at).where(Message.event_id == event_id)
        ).one()
        db.session.rollback()
        if sent_at is not None or time.monotonic() > limit:
            break
        time.sleep(0.02)

    def stamp(value) -> float:
        return value.replace(tzinfo=timezone.utc).timestamp() if value.tzinfo is None else value.timestamp()

    smtp_done = stamp(sent_at) if sent_at is not None else seen
    marks = [emitted, stamp(expanded_at), stamp(created_at), min(claimed or smtp_done, smtp_done), smtp_done, seen]
    return {name: marks[i + 1] - marks[i] for i, name in enumerate(STEPS)}


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
            database_url, postgres = start_database(args.db, tmp, "bench_priority")
            app, env, tenant_id = setup(port, database_url, redis)
            load = os.getloadavg()[0]
            figures = run(app, env, tenant_id, args.backlog, args.samples, args.workers, sink)
            figures["load_before"], figures["load_after"] = round(load, 2), round(os.getloadavg()[0], 2)
            print(json.dumps(figures, indent=2))
            print(json.dumps(figures))  # the one line bench.series reads
        finally:
            if postgres is not None:
                postgres.stop()


if __name__ == "__main__":
    main()
