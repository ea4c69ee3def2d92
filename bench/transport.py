"""Sending throughput and the per-tenant connection limit.

    python -m bench.transport [--messages 2000] [--limit-messages 300]

1. raw: smtplib over ONE reused connection, prebuilt messages (the same
   text + HTML message Postwerk sends), into a counting SMTP sink in a
   separate process -- the ceiling on this machine;
2. postwerk: the same number of PENDING messages in a temporary SQLite
   database, sent by ``deliver_due`` (claim, build MIME, send over a reused
   connection, commit each outcome) into the same sink, in the same run;
3. limit: 4 worker processes deliver one tenant's mail with
   max_connections=2 into a sink that counts simultaneous sessions; the
   peak must not exceed the limit.

Prints the figures and ends with one JSON line of them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import smtplib
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

LIMIT = 2
WORKERS = 4


def _config(db_path: Path, redis_url: str, key: str) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
        "REDIS_URL": redis_url,
        "QUEUE_PREFIX": "bench",
        "SECRET_KEY": "bench",
        "ENCRYPTION_KEYS": [key],
        "SMTP_TIMEOUT": 10,
        "POSTWERK_SKIP_ENTRY_POINTS": True,
        "CONNECTION_WAIT": 0.05,
    }


def _fields(i: int) -> dict:
    """One bench message: the same for the raw ceiling and for Postwerk, so
    the sink does the same work on both sides."""
    return dict(
        sender_name="Bench GmbH",
        recipients=["r@example.org"],
        subject=f"[#{i}] Ihre Meldung: Heizung fällt aus",
        body_text="Guten Tag,\nIhre Meldung ist eingegangen.\n",
        body_html="<p>Guten Tag,</p><p>Ihre Meldung ist eingegangen.</p>",
    )


def raw_smtp(host: str, port: int, n: int) -> float:
    from core.mail import mime

    payloads = [
        mime.build(sender="noreply@bench.example", message_id=f"<raw{i}@bench.example>", **_fields(i)) for i in range(n)
    ]
    started = time.perf_counter()
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        for payload in payloads:
            smtp.sendmail("noreply@bench.example", ["r@example.org"], payload)
    return time.perf_counter() - started


def _setup_db(config: dict, host: str, port: int, n: int, max_connections: int = 10) -> int:
    from flask_migrate import upgrade
    from sqlalchemy import insert

    from core.app import create_app
    from core.extensions import db
    from core.models import MailSettings, Message
    from core.models.types import utcnow
    from core.tenancy import create_tenant

    app = create_app(config)
    with app.app_context():
        upgrade(revision="heads")
        tenant = create_tenant(
            "bench", "Bench GmbH", admin_email="admin@bench.example", admin_password="bench-password"
        )
        db.session.add(
            MailSettings(
                tenant_id=tenant.id,
                host=host,
                port=port,
                security="none",
                auth="none",
                sender_address="noreply@bench.example",
                max_connections=max_connections,
            )
        )
        now = utcnow()
        db.session.execute(
            insert(Message),
            [
                dict(
                    tenant_id=tenant.id,
                    message_id=f"<pw{i}@bench.example>",
                    sender="",
                    reply_to="",
                    **_fields(i),
                    status="PENDING",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                )
                for i in range(n)
            ],
        )
        db.session.commit()
        tenant_id = tenant.id
        db.engine.dispose()
    return tenant_id


def _pending(db) -> int:
    from core.models import Message

    count = db.session.execute(
        db.select(db.func.count()).select_from(Message).where(Message.status.in_(("PENDING", "SENDING")))
    ).scalar()
    db.session.rollback()
    return count


def postwerk(config: dict, tenant_id: int) -> tuple[float, dict]:
    from core.app import create_app
    from core.extensions import db
    from core.mail.delivery import deliver_due

    app = create_app(config)
    with app.app_context():
        started = time.perf_counter()
        stats = deliver_due(tenant_id)
        elapsed = time.perf_counter() - started
        left = _pending(db)
        db.engine.dispose()
    return elapsed, {"sent": stats.sent, "left": left}


def _worker(config: dict, tenant_id: int, result) -> None:
    from core.app import create_app
    from core.extensions import db
    from core.mail import delivery

    delivery.BATCH_SIZE = 10  # several claims per worker, so the workers really compete
    app = create_app(config)
    sent = waited = 0
    with app.app_context():
        while _pending(db):
            stats = delivery.deliver_due(tenant_id)
            sent += stats.sent
            waited += stats.waited
            if stats.waited:
                time.sleep(0.05)  # stands in for the re-wake a moment later
        db.engine.dispose()
    result.put((sent, waited))


def limit_check(config: dict, n: int) -> dict:
    from tests.support.smtp_sink import Behaviour, SmtpSink

    with SmtpSink(behaviour=Behaviour(hang_after_data=0.005)) as sink:
        tenant_id = _setup_db(config, sink.host, sink.port, n, max_connections=LIMIT)
        ctx = multiprocessing.get_context("spawn")
        result = ctx.Queue()
        started = time.perf_counter()
        procs = [ctx.Process(target=_worker, args=(config, tenant_id, result)) for _ in range(WORKERS)]
        for p in procs:
            p.start()
        answers = [result.get(timeout=300) for _ in procs]
        for p in procs:
            p.join(30)
        elapsed = time.perf_counter() - started
        received = len(sink.messages)
        duplicates = sum(c - 1 for c in sink.count_by_message_id().values() if c > 1)
        return {
            "workers": WORKERS,
            "limit": LIMIT,
            "messages": n,
            "received": received,
            "duplicates": duplicates,
            "peak_connections": sink.max_concurrent_connections,
            "connections_opened": sink.connections,
            "slot_waits": sum(w for _, w in answers),
            "seconds": round(elapsed, 2),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--limit-messages", type=int, default=300)
    args = parser.parse_args(argv)

    from tests.support.redis_server import RedisServer
    from tests.support.smtp_sink_process import SinkProcess

    key = Fernet.generate_key().decode()
    with tempfile.TemporaryDirectory(prefix="pw-bench-") as tmp:
        tmp = Path(tmp)
        redis_server = RedisServer(tmp / "redis")
        redis_server.start()
        try:
            with SinkProcess() as sink:
                raw_seconds = raw_smtp(sink.host, sink.port, args.messages)
                config = _config(tmp / "throughput.sqlite3", redis_server.url, key)
                tenant_id = _setup_db(config, sink.host, sink.port, args.messages)
                before = sink.count()
                pw_seconds, pw_stats = postwerk(config, tenant_id)
                pw_received = sink.count() - before
            limit = limit_check(_config(tmp / "limit.sqlite3", redis_server.url, key), args.limit_messages)
        finally:
            redis_server.stop()

    raw_rate = args.messages / raw_seconds
    pw_rate = pw_stats["sent"] / pw_seconds
    figures = {
        "messages": args.messages,
        "raw_smtplib_msgs_per_s": round(raw_rate, 1),
        "postwerk_msgs_per_s": round(pw_rate, 1),
        "postwerk_vs_raw": round(pw_rate / raw_rate, 3),
        "postwerk_sent": pw_stats["sent"],
        "postwerk_received": pw_received,
        "postwerk_left": pw_stats["left"],
        "limit": limit,
        "limit_held": limit["peak_connections"] <= LIMIT
        and limit["received"] == limit["messages"]
        and limit["duplicates"] == 0,
    }
    print(f"raw smtplib, one reused connection : {raw_rate:8.1f} msg/s ({args.messages} in {raw_seconds:.2f} s)")
    print(
        f"postwerk deliver_due (SQLite)      : {pw_rate:8.1f} msg/s ({pw_stats['sent']} in {pw_seconds:.2f} s,"
        f" {pw_received} received)"
    )
    print(f"postwerk / raw                     : {pw_rate / raw_rate:8.3f}")
    print(
        f"limit: {WORKERS} workers, max {LIMIT} connections -> peak {limit['peak_connections']}, "
        f"{limit['received']}/{limit['messages']} received, {limit['duplicates']} duplicates, "
        f"{limit['slot_waits']} slot waits, {limit['connections_opened']} connections opened, "
        f"{limit['seconds']} s"
    )
    print(json.dumps(figures))
    return 0 if figures["limit_held"] and pw_received == args.messages else 1


if __name__ == "__main__":
    sys.exit(main())
