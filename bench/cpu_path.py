"""CPU time of the per-mail path, in this process: the expander per event
and the deliverer per mail, over pre-inserted events.

Wall-clock ratios on a shared machine swing with the load; CPU time of one
process (``time.process_time``) swings far less, so this is the figure to
compare a change by, before and after in turns. The events are the ones of
``bench.delivery`` (one rule, the German ticket template, three parts); the
mail goes into the same SMTP sink (its own process, PIPELINING offered).

    python -m bench.cpu_path [--n 1000] [--db sqlite|postgresql] [--batch K] [--profile]

``--profile`` prints cProfile's top functions of each step (by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import tempfile
import time

from bench.common import redis_url, start_database
from bench.delivery import payload, setup
from tests.support.smtp_sink_process import SinkProcess


def _timed(label: str, fn, profile: bool) -> tuple[float, object]:
    profiler = cProfile.Profile(time.process_time) if profile else None
    t0 = time.process_time()
    if profiler is not None:
        profiler.enable()
    result = fn()
    if profiler is not None:
        profiler.disable()
    cpu = time.process_time() - t0
    if profiler is not None:
        print(f"--- {label}")
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats("core/", 40)
    return cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help="events per expansion batch and messages per claim (default: the jobs' own, 200 and 100); "
        "small batches stand for a trickle, where each job takes what arrived since its last look",
    )
    args = parser.parse_args()
    postgres = None
    with tempfile.TemporaryDirectory() as tmp, redis_url() as redis, SinkProcess(pipelining=True) as sink:
        port = sink.port or sink.start()
        try:
            database_url, postgres = start_database(args.db, tmp, "bench_cpu")
            app, _env, tenant_id = setup(port, database_url, redis)
            from core.events import emit
            from core.extensions import db
            from core.mail import delivery, jobs

            if args.batch:
                delivery.BATCH_SIZE = jobs.EXPAND_BATCH = args.batch
            from core.models import Message, MessageStatus

            with app.app_context():
                for i in range(args.n):
                    emit(tenant_id, "TICKET_CREATED", payload(i))
                    db.session.commit()
            base = sink.count()
            statements = {"n": 0}
            with app.app_context():
                from sqlalchemy import event

                @event.listens_for(db.engine, "before_cursor_execute")
                def _count(*_args):
                    statements["n"] += 1

            with app.app_context():
                expand_cpu, expanded = _timed("expand_events", lambda: jobs.expand_events(tenant_id), args.profile)
            expand_statements, statements["n"] = statements["n"], 0
            with app.app_context():
                deliver_cpu, _ = _timed(
                    "deliver_messages", lambda: _deliver_all(jobs, tenant_id, db, Message, MessageStatus), args.profile
                )
                deliver_statements = statements["n"]  # with one count of what is left per call below
                sent = db.session.scalar(
                    db.select(db.func.count()).select_from(Message).where(Message.status == MessageStatus.SENT)
                )
            deadline = time.monotonic() + 60
            while sink.count() - base < sent and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            if postgres is not None:
                postgres.stop()
    load = os.getloadavg()
    result = {
        "db": args.db,
        "n": args.n,
        "batch": args.batch or "default",
        "expanded": expanded,
        "sent": sent,
        "expand_cpu_ms_per_event": round(expand_cpu * 1000 / max(expanded, 1), 3),
        "deliver_cpu_ms_per_mail": round(deliver_cpu * 1000 / max(sent, 1), 3),
        "expand_statements_per_event": round(expand_statements / max(expanded, 1), 3),
        "deliver_statements_per_mail": round(deliver_statements / max(sent, 1), 3),
        "load_average_1min": round(load[0], 2),
        "setting": (
            "sqlite synchronous=" + os.environ.get("POSTWERK_SQLITE_SYNCHRONOUS", "FULL").upper()
            if args.db == "sqlite"
            else "postgresql test cluster"
        ),
    }
    print(
        f"{args.db}: expander {result['expand_cpu_ms_per_event']:.3f} ms CPU per event ({expanded}), "
        f"deliverer {result['deliver_cpu_ms_per_mail']:.3f} ms CPU per mail ({sent}), load {load[0]:.2f}"
    )
    print(json.dumps(result))


def _deliver_all(jobs, tenant_id, db, Message, MessageStatus) -> None:
    # deliver_messages ends after its fair share when jobs wait (none run
    # here); call it until nothing is PENDING.
    while True:
        jobs.deliver_messages(tenant_id)
        left = db.session.scalar(
            db.select(db.func.count()).select_from(Message).where(Message.status == MessageStatus.PENDING)
        )
        if not left:
            return


if __name__ == "__main__":
    main()
