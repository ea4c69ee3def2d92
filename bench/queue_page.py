"""Benchmark: the admin's queue page with 1,000,000 messages in one tenant.

    python -m bench.queue_page [--messages N] [--requests N] [--backend sqlite|postgresql|both]

Fills the message table with bulk inserts (executemany on SQLite, COPY on
PostgreSQL: a throwaway database on a private server from tests.support, or
on POSTWERK_TEST_POSTGRES_URL), then times the page through the Flask test
client: the first page, a page deep in the list (keyset cursor near the
oldest messages), and the same two with a status filter. Prints the figures
and ends with one JSON line. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.fernet import Fernet

COLUMNS = (
    "tenant_id",
    "event_key",
    "template_key",
    "language",
    "message_id",
    "sender",
    "sender_name",
    "reply_to",
    "recipients",
    "subject",
    "body_text",
    "body_html",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "created_at",
    "updated_at",
    "sent_at",
)
PASSWORD = "bench password 1"


def rows(tenant_id: int, count: int):
    """Realistic messages: mostly SENT, 1 % FAILED, some PENDING, oldest first."""
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for n in range(count):
        created = start + timedelta(seconds=n * 30)
        status = "FAILED" if n % 100 == 7 else "PENDING" if n % 1000 == 3 else "SENT"
        yield (
            tenant_id,
            "TICKET_CREATED",
            "ticket_created",
            "de",
            f"<{uuid.uuid4().hex}@bench.example>",
            "noreply@bench.example",
            "Bench GmbH",
            "",
            json.dumps([f"user{n % 5000}@example.org"]),
            f"[#{n}] Ihre Meldung: Heizung fällt aus",
            "Hallo,\n\nvielen Dank.\n" * 3,
            "<p>Hallo,</p><p>vielen Dank.</p>" * 3,
            status,
            1 if status != "PENDING" else 0,
            created,
            "550 5.1.1 no such user" if status == "FAILED" else None,
            created,
            created,
            created if status == "SENT" else None,
        )


def fill_sqlite(path: str, tenant_id: int, count: int) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    sql = f"INSERT INTO message ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"

    def convert(row):
        return tuple(v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in row)

    batch = []
    for row in rows(tenant_id, count):
        batch.append(convert(row))
        if len(batch) == 50_000:
            conn.executemany(sql, batch)
            batch.clear()
    if batch:
        conn.executemany(sql, batch)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def fill_postgres(dsn: str, tenant_id: int, count: int) -> None:
    import psycopg

    with psycopg.connect(dsn) as conn:
        with conn.cursor() as cur:
            with cur.copy(f"COPY message ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows(tenant_id, count):
                    copy.write_row(row)
    # What autovacuum would do soon after a bulk load anyway; done now so it
    # does not run in the middle of the timings (and index-only scans work).
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) message")


def prepare_app(url: str, redis_url: str = "redis://127.0.0.1:1/0"):
    from flask_migrate import upgrade

    from core.app import create_app
    from core.extensions import db
    from core.tenancy import create_tenant

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
            "REDIS_URL": redis_url,
        }
    )
    with app.app_context():
        upgrade(revision="heads")
        tenant = create_tenant("bench", "Bench GmbH", admin_email="admin@bench.example", admin_password=PASSWORD)
        tenant_id = tenant.id
        db.session.remove()
        db.engine.dispose()
    return app, tenant_id


def time_pages(app, count: int, requests: int) -> dict:
    from core.extensions import db
    from core.models import Message

    client = app.test_client()
    response = client.post("/login", data={"tenant": "bench", "email": "admin@bench.example", "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        ids = db.session.execute(db.select(Message.id).order_by(Message.id).limit(1)).scalar()
        deep = ids + count // 20  # 95 % of the way down the list
        db.session.remove()
    urls = {
        "first_page": "/settings/admin/mail/queue",
        "deep_page": f"/settings/admin/mail/queue?before={deep}",
        "failed_first_page": "/settings/admin/mail/queue?status=FAILED",
        "failed_deep_page": f"/settings/admin/mail/queue?status=FAILED&before={deep}",
        "event_first_page": "/settings/admin/mail/queue?event=TICKET_CREATED",
        "message_body": f"/settings/admin/mail/queue/body?id={deep}",
        # Not a target of the brief; shown so nobody is surprised: counting
        # a million rows by status is the overview's cost.
        "overview": "/settings/admin/mail",
    }
    figures = {}
    for name, url in urls.items():
        for _ in range(3):  # warm caches
            client.get(url)
        samples, cpu = [], []
        for _ in range(requests):
            started, started_cpu = time.perf_counter(), time.thread_time()
            response = client.get(url)
            samples.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - started_cpu) * 1000)
            assert response.status_code == 200
        html = response.get_data(as_text=True)
        shown = len(re.findall(r'id="message-\d+"', html))
        samples.sort()
        cpu.sort()
        # Wall time is what a user waits; this thread's CPU time shows the
        # work itself when other processes compete for the machine.
        figures[name] = {
            "p50_ms": round(statistics.median(samples), 2),
            "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 2),
            "cpu_p95_ms": round(cpu[int(len(cpu) * 0.95) - 1], 2),
            "rows": shown,
        }
    return figures


@contextmanager
def postgres_database():
    import os

    from tests.support.postgres_server import PostgresServer

    with tempfile.TemporaryDirectory() as tmp:
        server = PostgresServer(Path(tmp) / "pg")
        server.start()
        name = f"postwerk_bench_{os.getpid()}"
        try:
            url = server.create_database(name)
            yield url, server.dsn(name)
        finally:
            from core.extensions import db  # noqa: F401  (engines are disposed by the caller)

            server.drop_database(name)
            server.stop()


def run_sqlite(count: int, requests: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench.sqlite3")
        app, tenant_id = prepare_app(f"sqlite:///{path}")
        started = time.perf_counter()
        fill_sqlite(path, tenant_id, count)
        fill_seconds = time.perf_counter() - started
        figures = time_pages(app, count, requests)
        with app.app_context():
            from core.extensions import db

            db.engine.dispose()
    return {"fill_seconds": round(fill_seconds, 1), **figures}


def run_postgres(count: int, requests: int) -> dict:
    with postgres_database() as (url, dsn):
        app, tenant_id = prepare_app(url)
        started = time.perf_counter()
        fill_postgres(dsn, tenant_id, count)
        fill_seconds = time.perf_counter() - started
        figures = time_pages(app, count, requests)
        with app.app_context():
            from core.extensions import db

            db.engine.dispose()
    return {"fill_seconds": round(fill_seconds, 1), **figures}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args(argv)
    import os

    results = {
        "messages": args.messages,
        "requests": args.requests,
        "cpus": os.cpu_count(),
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        runner = run_sqlite if backend == "sqlite" else run_postgres
        results[backend] = runner(args.messages, args.requests)
        print(f"{backend}: filled {args.messages} messages in {results[backend]['fill_seconds']} s", file=sys.stderr)
        for name, figure in results[backend].items():
            if isinstance(figure, dict):
                print(
                    f"  {name:<18} p50 {figure['p50_ms']:>7} ms   p95 {figure['p95_ms']:>7} ms   "
                    f"CPU p95 {figure['cpu_p95_ms']:>7} ms   ({figure['rows']} rows)",
                    file=sys.stderr,
                )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
