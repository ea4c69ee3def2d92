"""End-to-end delivery against the raw SMTP ceiling, in one run.

(a) ceiling: raw smtplib sends pre-built messages (the very bytes Postwerk
    will send for these events) over one reused connection into an SMTP sink
    running in its own process;
(b) Postwerk: N events (each matching one rule) emitted one per transaction,
    as a web request would, and delivered by the recommended workers into
    the same sink; plus what ``emit()`` adds to the caller.

    python -m bench.delivery [--n 2000] [--workers N] [--database URL] [--redis-aof no|everysec|always]

``--redis-aof`` turns on Redis's append-only file for the run (the delivery
markers are then on disk: ``everysec`` loses up to a second of them in a
crash of the machine, ``always`` fsyncs every marker), to measure what that
persistence costs (docs/reliability.md).
"""
from __future__ import annotations

import argparse
import json
import os
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import environment, percentile, recommended_workers, redis_url
from tests.support.smtp_sink_process import SinkProcess


def payload(i: int) -> dict:
    return {"ticket": {"id": i, "title": f"Heizung {i}", "description": "kalt", "status": "open",
                       "reporter": {"name": "Erika Mustermann", "email": f"mieter{i}@example.org", "language": "de"}}}


def setup(port: int, database_url: str, redis: str):
    """A migrated database with one tenant whose ticket rule is on."""
    env = environment(database_url, redis)
    os.environ.update(env)
    from flask_migrate import upgrade

    from core.app import create_app
    from core.extensions import db
    from core.models import MailSettings, Rule
    from core.plugin_state import set_enabled
    from core.tenancy import create_tenant

    app = create_app()
    with app.app_context():
        upgrade(revision="heads")
        tenant = create_tenant("bench", "Bench GmbH", admin_email="admin@bench.example",
                               admin_password="bench-password")
        set_enabled(tenant.id, "ticket", True)
        for rule in db.session.execute(db.select(Rule)).scalars():
            rule.active = True
        db.session.add(MailSettings(tenant_id=tenant.id, host="127.0.0.1", port=port, security="none",
                                    sender_address="noreply@bench.example"))
        db.session.commit()
        tenant_id = tenant.id
        db.engine.dispose()
    return app, env, tenant_id


def prebuilt(app, tenant_id: int, n: int) -> list[tuple[str, bytes]]:
    """The very messages Postwerk will send for the N events (rendered by the
    dry-run path, which writes nothing), so the ceiling carries the same
    bytes: the sink's cost grows with every line of a message."""
    from core.extensions import db
    from core.mail import expansion, mime
    from core.tenancy import get_tenant, tenant_ref

    messages = []
    with app.app_context():
        tenant = tenant_ref(get_tenant(tenant_id))
        for i in range(n):
            for rule_plan in expansion.plan(tenant, "TICKET_CREATED", payload(i)):
                for mail in rule_plan.mails:
                    data = mime.build(sender="noreply@bench.example", sender_name="Bench GmbH",
                                      recipients=[mail.recipient.address], subject=mail.subject,
                                      body_text=mail.body_text, body_html=mail.body_html,
                                      message_id=mime.new_message_id("noreply@bench.example"))
                    messages.append((mail.recipient.address, data))
        db.session.remove()
    if len(messages) != n:
        raise SystemExit(f"the ticket rule produced {len(messages)} mails for {n} events, expected one each")
    return messages


def raw_ceiling(port: int, messages: list[tuple[str, bytes]]) -> float:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        started = time.perf_counter()
        for recipient, data in messages:
            smtp.sendmail("noreply@bench.example", [recipient], data)
        elapsed = time.perf_counter() - started
    return len(messages) / elapsed


def postwerk(app, env: dict, tenant_id: int, n: int, workers: int, sink: SinkProcess) -> dict:
    from core.events import emit
    from core.extensions import db

    procs = [subprocess.Popen([sys.executable, "-m", "core.cli", "worker", "--name", f"bench-{i}"],
                              env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in range(workers)]
    time.sleep(2.0)  # workers up and listening before the clock starts
    base = sink.count()
    emit_ms, commit_ms = [], []
    try:
        with app.app_context():
            started = time.perf_counter()
            for i in range(n):
                data = payload(i)
                t0 = time.perf_counter()
                emit(tenant_id, "TICKET_CREATED", data)
                t1 = time.perf_counter()
                db.session.commit()  # the wake-up of the workers happens here, after commit
                t2 = time.perf_counter()
                emit_ms.append((t1 - t0) * 1000)
                commit_ms.append((t2 - t1) * 1000)
            emitted = time.perf_counter()
            deadline = emitted + 600
            while sink.count() - base < n:
                if time.perf_counter() > deadline:
                    raise SystemExit(f"only {sink.count() - base} of {n} mails arrived in 600 s")
                time.sleep(0.01)
            finished = time.perf_counter()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    return {
        "mails_per_s": n / (finished - started),
        "emit_p50_ms": percentile(emit_ms, 50), "emit_p95_ms": percentile(emit_ms, 95),
        "commit_p50_ms": percentile(commit_ms, 50), "commit_p95_ms": percentile(commit_ms, 95),
        "emit_phase_s": emitted - started, "total_s": finished - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=recommended_workers(),
                        help="worker processes (default: what the README recommends, one per CPU core, at most 4)")
    parser.add_argument("--database", default=None, help="SQLAlchemy URL (default: a temporary SQLite file)")
    parser.add_argument("--redis-aof", choices=("no", "everysec", "always"), default="no",
                        help="Redis append-only file for the run (default: no persistence)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, redis_url() as redis, SinkProcess() as sink:
        if args.redis_aof != "no":
            from redis import Redis

            server = Redis.from_url(redis)
            server.config_set("appendfsync", args.redis_aof)
            server.config_set("appendonly", "yes")
        port = sink.port or sink.start()
        database_url = args.database or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        app, env, tenant_id = setup(port, database_url, redis)
        messages = prebuilt(app, tenant_id, args.n)
        # The ceiling before and after, averaged: these machines drift, and a
        # ceiling taken at one moment only can flatter or wrong the ratio.
        raw_before = raw_ceiling(port, messages)
        result = postwerk(app, env, tenant_id, args.n, args.workers, sink)
        raw_after = raw_ceiling(port, messages)
    raw = (raw_before + raw_after) / 2
    ratio = result["mails_per_s"] / raw
    print(f"raw smtplib, one connection      {raw:8.0f} mails/s  (before {raw_before:.0f}, after {raw_after:.0f})")
    print(f"Postwerk end to end ({args.workers} workers)  {result['mails_per_s']:8.0f} mails/s  "
          f"(ratio {ratio:.2f}; {args.n} events in {result['total_s']:.2f} s)")
    print(f"events emitted in {result['emit_phase_s']:.2f} s; the last mail arrived {result['total_s']:.2f} s "
          "after the first emit")
    print(f"emit()                           p50 {result['emit_p50_ms']:.3f} ms   p95 {result['emit_p95_ms']:.3f} ms")
    print(f"commit incl. worker wake-up      p50 {result['commit_p50_ms']:.3f} ms   p95 {result['commit_p95_ms']:.3f} ms")
    print(json.dumps({"postwerk_mails_per_s": round(result["mails_per_s"], 1), "raw_mails_per_s": round(raw, 1),
                      "ratio": round(ratio, 3), "raw_before_mails_per_s": round(raw_before, 1),
                      "raw_after_mails_per_s": round(raw_after, 1), "emit_p50_ms": round(result["emit_p50_ms"], 3),
                      "emit_p95_ms": round(result["emit_p95_ms"], 3),
                      "commit_p50_ms": round(result["commit_p50_ms"], 3),
                      "commit_p95_ms": round(result["commit_p95_ms"], 3), "n": args.n, "workers": args.workers,
                      "redis_aof": args.redis_aof, "load_average_1min": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
