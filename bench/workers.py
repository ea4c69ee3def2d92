"""Delivered mails per second with 1, 2 and 4 `postwerk worker` processes.

    python -m bench.workers [--messages 2000] [--tenants 16] [--backends sqlite,postgresql]

Everything runs on loopback in throw-away servers: a private redis-server, a
private PostgreSQL cluster (tests/support), and a counting SMTP sink in its
own process (tests/support/smtp_sink_process), so the sink does not share a
GIL with anything measured. The sink's own ceiling is measured first in the
same run with raw smtplib (one connection, and four in parallel), so the
worker figures can be read against what the sink can take at all.

For each backend and worker count: a fresh database, ``--messages`` PENDING
messages pre-inserted across ``--tenants`` tenants (expansion is not
measured), the workers started and registered, then every tenant's
deliverer woken; the clock runs until the sink has counted every message.
A tenant's mail is delivered by one job at a time (the wake-up is
deduplicated per tenant, and one job reuses one SMTP connection), so
parallelism comes from tenants: with fewer tenants than workers, workers idle.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from cryptography.fernet import Fernet

# The console script next to this interpreter; `python -m core.cli` where it is not installed as one.
_SCRIPT = Path(sys.executable).parent / "postwerk"
POSTWERK = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "core.cli"]


def _mail(i: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "bench@example.org"
    msg["To"] = f"r{i}@example.org"
    msg["Subject"] = f"Benchmark {i}"
    msg["Message-ID"] = make_msgid(domain="bench.example")
    msg.set_content("Hallo,\n\nein kurzer Text, wie ihn eine Benachrichtigung hat.\n" * 5)
    return msg.as_bytes()


def sink_ceiling(port: int, n: int, connections: int) -> float:
    """Messages/s raw smtplib gets into the sink over ``connections`` links."""
    payloads = [_mail(i) for i in range(n)]
    share = [payloads[i::connections] for i in range(connections)]

    def send(chunk):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            for data in chunk:
                smtp.sendmail("bench@example.org", ["r@example.org"], data)

    threads = [threading.Thread(target=send, args=(c,)) for c in share]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return n / (time.perf_counter() - started)


class Setup:
    """Servers and a migrated template database for one backend."""

    def __init__(self, backend: str, workdir: Path, redis_url: str, postgres=None):
        self.backend = backend
        self.workdir = workdir
        self.redis_url = redis_url
        self.postgres = postgres
        self.key = Fernet.generate_key().decode()
        self.runs = 0

    def config(self, database_url: str) -> dict:
        return {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": self.redis_url,
            # Unique per backend and run: jobs a run leaves queued (a helper
            # lane that was not needed) must not wake in the next run's workers.
            "QUEUE_PREFIX": f"bench{os.getpid()}-{self.backend}-{self.runs}",
            "SECRET_KEY": "bench",
            "ENCRYPTION_KEYS": [self.key],
            "POSTWERK_ENV": "production",
            "TARGET_ALLOWLIST": "127.0.0.1",
        }

    def fresh_database(self) -> str:
        self.runs += 1
        if self.backend == "sqlite":
            return f"sqlite:///{self.workdir / f'bench-{self.runs}.sqlite3'}"
        name = f"bench_{os.getpid()}_{self.runs}"
        return self.postgres.create_database(name)


def _prepare(config: dict, port: int, messages: int, tenants: int) -> list[int]:
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
        ids = []
        for i in range(tenants):
            tenant = create_tenant(
                f"bench{i}", f"Bench {i}", admin_email=f"a@bench{i}.example", admin_password="bench-password"
            )
            db.session.add(
                MailSettings(
                    tenant_id=tenant.id,
                    host="127.0.0.1",
                    port=port,
                    security="none",
                    auth="none",
                    sender_address=f"noreply@bench{i}.example",
                )
            )
            ids.append(tenant.id)
        db.session.commit()
        now = utcnow()
        rows = [
            dict(
                tenant_id=ids[i % tenants],
                message_id=make_msgid(domain=f"bench{i % tenants}.example"),
                sender="",
                recipients=[f"r{i}@example.org"],
                subject=f"Benachrichtigung {i}",
                body_text="Hallo,\n\nein kurzer Text, wie ihn eine Benachrichtigung hat.\n" * 5,
                status="PENDING",
                next_attempt_at=now,
            )
            for i in range(messages)
        ]
        for start in range(0, messages, 1000):
            db.session.execute(insert(Message), rows[start : start + 1000])
        db.session.commit()
        db.engine.dispose()
    return ids


def _wake_all(app, tenant_ids: list[int]) -> None:
    from core.mail.jobs import wake_deliverer

    with app.app_context():
        for tenant_id in tenant_ids:
            wake_deliverer(tenant_id)


def _registered_workers(config: dict) -> int:
    from redis import Redis
    from rq import Queue, Worker

    conn = Redis.from_url(config["REDIS_URL"])
    return len(Worker.all(queue=Queue(f"{config['QUEUE_PREFIX']}-mail", connection=conn)))


def run_workers(setup: Setup, sink, workers: int, messages: int, tenants: int) -> float:
    config = setup.config(setup.fresh_database())
    tenant_ids = _prepare(config, sink.port, messages, tenants)
    env = {
        **os.environ,
        "POSTWERK_DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "POSTWERK_REDIS_URL": config["REDIS_URL"],
        "POSTWERK_ENCRYPTION_KEY": setup.key,
        "POSTWERK_SECRET_KEY": "bench",
        "POSTWERK_QUEUE_PREFIX": config["QUEUE_PREFIX"],
        "POSTWERK_TARGET_ALLOWLIST": "127.0.0.1",  # the sink is on loopback (refused by default in production)
    }
    logs = setup.workdir / "logs"
    logs.mkdir(exist_ok=True)
    procs = []
    for i in range(workers):
        with open(logs / f"worker-{setup.runs}-{i}.log", "wb") as log:
            procs.append(
                subprocess.Popen(
                    [*POSTWERK, "worker", "--name", f"bench-{setup.runs}-{i}"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    try:
        deadline = time.monotonic() + 60
        while _registered_workers(config) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not start; see {logs}")
            time.sleep(0.1)
        from core.app import create_app

        app = create_app(config)  # outside the clock: building an app is start-up cost
        before = sink.count()
        started = time.perf_counter()
        _wake_all(app, tenant_ids)
        deadline = time.monotonic() + 600
        while sink.count() - before < messages:
            if time.monotonic() > deadline:
                ids = sink.message_ids()[before:]
                raise RuntimeError(
                    f"only {sink.count() - before}/{messages} delivered ({len(set(ids))} distinct, "
                    f"{len(sink.message_ids())} in all); see {logs}"
                )
            time.sleep(0.01)
        return messages / (time.perf_counter() - started)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--tenants", type=int, default=16)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.workers.split(",")]
    backends = [b for b in args.backends.split(",") if b]

    from tests.support.postgres_server import PostgresServer
    from tests.support.redis_server import RedisServer
    from tests.support.smtp_sink_process import SinkProcess

    workdir = Path(tempfile.mkdtemp(prefix="postwerk-bench-"))
    redis = RedisServer(workdir / "redis").start()
    postgres = PostgresServer(workdir / "postgres").start() if "postgresql" in backends else None
    sink = SinkProcess()
    sink.start()
    # Worker processes scale with CPUs: on a machine with two, four workers
    # cannot be twice as fast as two. Say so next to the figures.
    figures: dict = {
        "messages": args.messages,
        "tenants": args.tenants,
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    try:
        figures["sink_ceiling_1_connection"] = round(sink_ceiling(sink.port, args.messages, 1), 1)
        figures["sink_ceiling_4_connections"] = round(sink_ceiling(sink.port, args.messages, 4), 1)
        print(
            f"SMTP sink ceiling, raw smtplib: {figures['sink_ceiling_1_connection']:.0f} mails/s over one "
            f"connection, {figures['sink_ceiling_4_connections']:.0f} mails/s over four"
        )
        for backend in backends:
            setup = Setup(backend, workdir, redis.url, postgres)
            for n in counts:
                rate = run_workers(setup, sink, n, args.messages, args.tenants)
                figures[f"{backend}_{n}_workers"] = round(rate, 1)
                print(
                    f"{backend:<10} {n} worker process(es): {rate:7.0f} mails/s "
                    f"({args.messages} mails, {args.tenants} tenants)"
                )
    finally:
        sink.stop()
        if postgres is not None:
            postgres.stop()
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
