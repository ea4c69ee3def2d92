"""Mail through kills, flushes and dropped links: does every promise hold?

Real processes on loopback, as in tests/test_faults.py: `postwerk worker`
processes and two `postwerk scheduler`s (the sweeper and the mail worker
task every second) against a private Redis, a SQLite (or PostgreSQL)
database and an SMTP sink that counts deliveries by Message-ID. While the
mail goes out, workers are SIGKILLed at random moments (and restarted, as a
supervisor would), Redis is FLUSHALLed and restarted empty, and the sink
drops links after the final dot. At the end it prints

    {"delivered", "dup_silent", "lost", "unknown", ...}

delivered: SENT and counted exactly once by the server; dup_silent: counted
more than once (a second hand-over nobody can see; must be 0); lost: not
finished, or SENT but never counted (must be 0); unknown: UNKNOWN (the
server may have it; counted at most once, shown to the admin).

    python -m bench.chaos [--n 3000] [--workers 2] [--kills 8] [--flushes 2] [--restarts 1] [--drops 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--tenants", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--flushes", type=int, default=2)
    parser.add_argument("--restarts", type=int, default=1)
    parser.add_argument("--drops", type=int, default=5, help="links dropped after the final dot")
    parser.add_argument("--database", default=None, help="SQLAlchemy URL (default: a temporary SQLite file)")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--bound", type=float, default=600, help="give up after this many seconds")
    args = parser.parse_args()

    from redis import Redis
    from sqlalchemy import func, select, update

    from core.app import create_app
    from core.automate.models import TaskState
    from core.automate.state import ensure_tasks
    from core.automate.tasks import MAIL_WORKER, SWEEPER
    from core.extensions import db
    from core.models import Event, EventStatus, Message, MessageStatus
    from plugins.ticket.service import create_ticket
    from tests.conftest import base_config, migrate
    from tests.helpers import make_tenant
    from tests.support.redis_server import RedisServer
    from tests.support.smtp_sink import SmtpSink
    from tests.test_faults import Cluster

    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp, SmtpSink() as sink:
        redis_server = RedisServer(Path(tmp) / "redis").start()
        try:
            database_url = args.database or f"sqlite:///{Path(tmp) / 'chaos.sqlite3'}"
            config = base_config(database_url, redis_server.url)
            config.update(SMTP_TIMEOUT=2, DELIVERY_JOB_TIMEOUT=12, CLOCK_SKEW_SECONDS=1)
            app = create_app(config)
            migrate(app)
            with app.app_context():
                tenants = [make_tenant(f"c{i}", sink).id for i in range(args.tenants)]
                for tenant_id in tenants:
                    ensure_tasks(tenant_id)
                db.session.execute(
                    update(TaskState).where(TaskState.task_key.in_((SWEEPER, MAIL_WORKER))).values(interval_seconds=1)
                )
                db.session.commit()
                for i in range(args.n):
                    create_ticket(
                        tenants[i % len(tenants)],
                        title=f"Ticket {i}",
                        description="",
                        reporter_name="Erika",
                        reporter_email=f"r{i}@example.org",
                    )
                    if i % 100 == 99:
                        db.session.commit()
                db.session.commit()
                sink.behaviour.drop_after_data = args.drops
                (logdir := Path(tmp) / "logs").mkdir()
                cluster = Cluster(config, logdir, args.workers).start()
                faults = ["kill"] * args.kills + ["flush"] * args.flushes + ["restart"] * args.restarts
                rng.shuffle(faults)
                started = time.monotonic()
                next_fault = started + rng.uniform(0.5, 1.5)
                try:
                    while True:
                        db.session.remove()
                        open_ = db.session.execute(
                            select(func.count())
                            .select_from(Message)
                            .where(Message.status.in_((MessageStatus.PENDING, MessageStatus.SENDING)))
                        ).scalar()
                        new = db.session.execute(
                            select(func.count()).select_from(Event).where(Event.status == EventStatus.NEW)
                        ).scalar()
                        total = db.session.execute(select(func.count()).select_from(Message)).scalar()
                        db.session.remove()
                        if total == args.n and not open_ and not new:
                            break
                        now = time.monotonic()
                        if now - started > args.bound:
                            print(f"not finished after {args.bound:.0f} s: {open_} open, {new} events", file=sys.stderr)
                            break
                        if faults and now >= next_fault and total and open_:
                            fault = faults.pop()
                            if fault == "kill":
                                cluster.kill_one(rng)
                            elif fault == "flush":
                                cluster.kill_one(rng)  # a worker dies and Redis forgets, in one go
                                Redis.from_url(redis_server.url).flushall()
                            else:
                                cluster.kill_one(rng)
                                redis_server.restart()
                            next_fault = now + rng.uniform(0.5, 1.5)
                        cluster.supervise()
                        time.sleep(0.2)
                    elapsed = time.monotonic() - started
                finally:
                    cluster.stop()
                counts = sink.count_by_message_id()
                result = {"delivered": 0, "dup_silent": 0, "lost": 0, "unknown": 0, "failed": 0}
                for message_id, status in db.session.execute(select(Message.message_id, Message.status)):
                    seen = counts.get(message_id, 0)
                    if seen > 1:
                        result["dup_silent"] += 1
                    if status == MessageStatus.SENT:
                        if seen == 1:
                            result["delivered"] += 1
                        elif seen == 0:
                            result["lost"] += 1
                    elif status == MessageStatus.UNKNOWN:
                        result["unknown"] += 1
                    elif status == MessageStatus.FAILED:
                        result["failed"] += 1
                    else:
                        result["lost"] += 1
                db.session.remove()
        finally:
            redis_server.stop()
    result.update(
        n=args.n,
        workers=args.workers,
        kills=cluster.killed,
        flushes=args.flushes,
        restarts=args.restarts,
        drops=args.drops,
        seconds=round(elapsed, 1),
        database=database_url.split(":", 1)[0],
        load_average_1min=round(os.getloadavg()[0], 2),
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
