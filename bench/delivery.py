"""End-to-end delivery against the raw SMTP ceiling, in one run.

(a) ceiling: raw smtplib sends pre-built messages (the very bytes Postwerk
    will send for these events) over one reused connection into an SMTP sink
    running in its own process;
(b) Postwerk: N events (each matching one rule) delivered by the
    recommended workers (one ``postwerk worker --processes N``, N = one per
    core; ``--separate-workers``: N ``postwerk worker`` processes) into the same sink; plus what ``emit()`` adds to the
    caller and the workers' CPU time per mail (from /proc).

Modes (``--mode``):

- ``single`` (the first version of this benchmark): one producer thread
  emits one transaction per event while the workers run;
- ``steady``: ``--producers`` threads (default 4) each emit one transaction
  per event while the workers run, as web requests do;
- ``backlog``: every event is committed before the workers start; the clock
  runs from the workers' start (their start-up included) to the last mail;
- ``bulk``: ``emit_many()`` in transactions of ``--bulk`` events while the
  workers run (an importer).

In ``single``, ``steady`` and ``bulk`` the workers are *already running*,
as in production: before the clock starts they have sent one mail (an
uncounted event of their own) and gone idle again, so the first job's
one-time costs (compiling the templates and SQL statements, opening the
first connections) are not counted as throughput. ``--cold`` leaves that
out: the workers' first jobs fall into the clock, as right after a deploy.
``backlog`` always counts the start (a cron-style start is its case).

``--fanout K`` replaces the N events by one event to K recipients through
distribution lists (at most 500 addresses each, the product's cap).
``--db postgresql`` starts a private PostgreSQL the way the tests do
(tests/support/postgres_server.py: durability off in that cluster).

    python -m bench.delivery [--n 2000] [--workers N] [--mode steady] [--db sqlite|postgresql]
                             [--fanout K] [--database URL] [--cold]
                             [--redis-aof no|everysec|always]

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
import threading
import time
from pathlib import Path

from bench.common import environment, percentile, recommended_workers, redis_url, start_database
from tests.support.smtp_sink_process import SinkProcess


def payload(i: int) -> dict:
    return {
        "ticket": {
            "id": i,
            "title": f"Heizung {i}",
            "description": "kalt",
            "status": "open",
            "reporter": {"name": "Erika Mustermann", "email": f"mieter{i}@example.org", "language": "de"},
        }
    }


LIST_CAP = 500  # core.distribution_lists.MAX_ADDRESSES


def setup(port: int, database_url: str, redis: str, fanout: int = 0):
    """A migrated database with one tenant whose ticket rule is on (or,
    with ``fanout``, rules sending each ticket to K list members with a
    template that has no ``recipient.*`` placeholder)."""
    env = environment(database_url, redis)
    if fanout > 500:
        # One event to more recipients than the default cap allows
        # (POSTWERK_MAX_RECIPIENTS_PER_EVENT): an installation that fans out
        # this wide raises it the same way.
        env["POSTWERK_MAX_RECIPIENTS_PER_EVENT"] = str(fanout)
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
        tenant = create_tenant(
            "bench", "Bench GmbH", admin_email="admin@bench.example", admin_password="bench-password"
        )
        set_enabled(tenant.id, "ticket", True)
        for rule in db.session.execute(db.select(Rule)).scalars():
            rule.active = True
        db.session.add(
            MailSettings(
                tenant_id=tenant.id,
                host="127.0.0.1",
                port=port,
                security="none",
                sender_address="noreply@bench.example",
            )
        )
        if fanout:
            _fanout_rules(tenant.id, fanout)
        db.session.commit()
        tenant_id = tenant.id
        db.engine.dispose()
    return app, env, tenant_id


def _fanout_rules(tenant_id: int, k: int) -> None:
    from core.extensions import db
    from core.models import DistributionList, Rule, Template

    base = (
        db.session.execute(
            db.select(Template).where(
                Template.tenant_id == tenant_id, Template.language == "de", Template.key.like("%ticket%created%")
            )
        )
        .scalars()
        .first()
    )
    if base is None:
        base = (
            db.session.execute(db.select(Template).where(Template.tenant_id == tenant_id, Template.language == "de"))
            .scalars()
            .first()
        )
    strip = [" {{ recipient.name }}", "{% if recipient.name %}", "{% endif %}"]
    html, text = base.body_html, base.body_text
    for part in strip:
        html, text = html.replace(part, ""), text.replace(part, "")
    if "recipient." in html + text + base.subject:
        raise SystemExit("the fan-out template still uses recipient.*")
    db.session.add(
        Template(
            tenant_id=tenant_id, key="bench_fanout", language="de", subject=base.subject, body_html=html, body_text=text
        )
    )
    for rule in db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant_id)).scalars():
        rule.active = False
    for start in range(0, k, LIST_CAP):
        name = f"bench{start // LIST_CAP}"
        db.session.add(
            DistributionList(
                tenant_id=tenant_id,
                name=name,
                addresses=[f"member{i}@example.org" for i in range(start, min(k, start + LIST_CAP))],
            )
        )
        db.session.add(
            Rule(
                tenant_id=tenant_id,
                name=f"fan-out {name}",
                event="TICKET_CREATED",
                recipient=f"list:{name}",
                template_key="bench_fanout",
                active=True,
            )
        )


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
                    data = mime.build(
                        sender="noreply@bench.example",
                        sender_name="Bench GmbH",
                        recipients=[mail.recipient.address],
                        subject=mail.subject,
                        body_text=mail.body_text,
                        body_html=mail.body_html,
                        message_id=mime.new_message_id("noreply@bench.example"),
                    )
                    messages.append((mail.recipient.address, data))
        db.session.remove()
    return messages


def raw_ceiling(port: int, messages: list[tuple[str, bytes]]) -> float:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        started = time.perf_counter()
        for recipient, data in messages:
            smtp.sendmail("noreply@bench.example", [recipient], data)
        elapsed = time.perf_counter() - started
    return len(messages) / elapsed


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def _wait_listening(app, workers: int) -> None:
    """Until every worker has registered (its start-up done): on a busy
    machine a fixed pause ended mid-start-up, and the start-up's CPU time
    (about 1 s each) was counted as delivery."""
    from rq import Worker

    from core import queueing

    deadline = time.monotonic() + 120
    with app.app_context():
        while len([w for w in Worker.all(connection=queueing.redis()) if w.name.startswith("bench-")]) < workers:
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not start within 120 s")
            time.sleep(0.1)
    time.sleep(0.5)


WARM_UP_INDEX = 10**9  # the warm-up event's ticket id: no measured event has it


def _warm_up(app, tenant_id: int, sink: SinkProcess, fanout: int) -> int:
    """One event of its own through the running workers, then a wait until
    they are idle again (their lingering jobs ended): the state of a
    production worker between two bursts. Returns the mails it produced,
    which the caller counts out."""
    from core.events import emit
    from core.extensions import db
    from core.mail.jobs import LINGER_IDLE_SECONDS

    before = sink.count()
    with app.app_context():
        emit(tenant_id, "TICKET_CREATED", payload(WARM_UP_INDEX))
        db.session.commit()
        db.session.remove()
    expected = fanout or 1
    deadline = time.monotonic() + 120
    while sink.count() - before < expected:
        if time.monotonic() > deadline:
            raise SystemExit("the warm-up mail did not arrive within 120 s")
        time.sleep(0.01)
    time.sleep(LINGER_IDLE_SECONDS * 2 + 0.5)
    return expected


_QUIET: dict = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


def _start_workers(env: dict, workers: int, separate: bool = False) -> list[subprocess.Popen]:
    """The workers the way docs/operations.md runs them: one ``postwerk
    worker --processes N`` (loads Postwerk once, forks N), or with
    ``separate`` N ``postwerk worker`` processes (systemd's worker@N)."""
    stamp = time.time()
    if not separate:
        command = ["worker", "--processes", str(workers), "--name", f"bench-{stamp}"]
        return [subprocess.Popen([sys.executable, "-m", "core.cli", *command], env={**os.environ, **env}, **_QUIET)]
    return [
        subprocess.Popen(
            [sys.executable, "-m", "core.cli", "worker", "--name", f"bench-{i}-{stamp}"],
            env={**os.environ, **env},
            **_QUIET,
        )
        for i in range(workers)
    ]


def _worker_pids(procs: list[subprocess.Popen]) -> list[int]:
    """The started processes and their children (a pool's workers; not
    the RQ scheduler each worker forks, as with separate workers)."""
    pids = []
    for p in procs:
        pids.append(p.pid)
        try:
            pids += [int(c) for c in Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()]
        except OSError:
            pass
    return pids


def _emit_all(app, tenant_id: int, indexes: list[int], bulk: int, emit_ms: list, commit_ms: list) -> None:
    from core.events import emit, emit_many
    from core.extensions import db

    with app.app_context():
        if bulk:
            for start in range(0, len(indexes), bulk):
                t0 = time.perf_counter()
                emit_many(tenant_id, "TICKET_CREATED", [payload(i) for i in indexes[start : start + bulk]])
                t1 = time.perf_counter()
                db.session.commit()
                t2 = time.perf_counter()
                emit_ms.append((t1 - t0) * 1000)
                commit_ms.append((t2 - t1) * 1000)
        else:
            for i in indexes:
                data = payload(i)
                t0 = time.perf_counter()
                emit(tenant_id, "TICKET_CREATED", data)
                t1 = time.perf_counter()
                db.session.commit()  # the wake-up of the workers happens here, after commit
                t2 = time.perf_counter()
                emit_ms.append((t1 - t0) * 1000)
                commit_ms.append((t2 - t1) * 1000)
        db.session.remove()


def postwerk(
    app,
    env: dict,
    tenant_id: int,
    events: int,
    mails: int,
    workers: int,
    sink: SinkProcess,
    *,
    mode: str,
    producers: int,
    bulk: int,
    warm: bool,
    fanout: int,
    separate: bool,
) -> dict:
    emit_ms: list[float] = []
    commit_ms: list[float] = []
    base = sink.count()
    if mode == "backlog":
        _emit_all(app, tenant_id, list(range(events)), 0, emit_ms, commit_ms)
        started = time.perf_counter()
        procs = _start_workers(env, workers, separate)
        pids = None  # a pool's workers are forked later: counted at the end
        cpu_before = 0.0
        emitted = started
    else:
        procs = _start_workers(env, workers, separate)
        _wait_listening(app, workers)  # workers up and listening before the clock starts
        if warm:
            base += _warm_up(app, tenant_id, sink, fanout)
        pids = _worker_pids(procs)
        cpu_before = _cpu_seconds(pids)
        started = time.perf_counter()
        threads = producers if mode == "steady" else 1
        parts = [list(range(t, events, threads)) for t in range(threads)]
        runners = [
            threading.Thread(
                target=_emit_all, args=(app, tenant_id, part, bulk if mode == "bulk" else 0, emit_ms, commit_ms)
            )
            for part in parts
        ]
        for r in runners:
            r.start()
        for r in runners:
            r.join()
        emitted = time.perf_counter()
    try:
        deadline = time.perf_counter() + 600
        while sink.count() - base < mails:
            if time.perf_counter() > deadline:
                raise SystemExit(f"only {sink.count() - base} of {mails} mails arrived in 600 s")
            time.sleep(0.005)
        finished = time.perf_counter()
        cpu = _cpu_seconds(_worker_pids(procs) if pids is None else pids) - cpu_before
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    return {
        "mails_per_s": mails / (finished - started),
        "emit_p50_ms": percentile(emit_ms, 50),
        "emit_p95_ms": percentile(emit_ms, 95),
        "commit_p50_ms": percentile(commit_ms, 50),
        "commit_p95_ms": percentile(commit_ms, 95),
        "emit_phase_s": emitted - started,
        "total_s": finished - started,
        "worker_cpu_ms_per_mail": cpu * 1000 / mails,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="events (ignored with --fanout)")
    parser.add_argument(
        "--workers",
        type=int,
        default=recommended_workers(),
        help="worker processes (default: what the README recommends, one per CPU core, at most 4)",
    )
    parser.add_argument("--mode", choices=("single", "steady", "backlog", "bulk"), default="single")
    parser.add_argument("--producers", type=int, default=4, help="producer threads in steady mode")
    parser.add_argument("--bulk", type=int, default=100, help="events per emit_many() in bulk mode")
    parser.add_argument("--fanout", type=int, default=0, help="one event to K recipients (distribution lists)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--separate-workers",
        action="store_true",
        help="N 'postwerk worker' processes instead of one 'postwerk worker --processes N' (the recommended pool)",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="count the workers' first jobs (by default they have sent one mail before the clock starts)",
    )
    parser.add_argument(
        "--no-pipelining",
        action="store_true",
        help="the sink does not offer PIPELINING (by default it does, like Postfix and Exchange; "
        "raw smtplib never uses it)",
    )
    parser.add_argument(
        "--database",
        default=None,
        help="SQLAlchemy URL (default: a temporary SQLite file, or a private PostgreSQL with --db postgresql)",
    )
    parser.add_argument(
        "--redis-aof",
        choices=("no", "everysec", "always"),
        default="no",
        help="Redis append-only file for the run (default: no persistence)",
    )
    args = parser.parse_args()
    events = 1 if args.fanout else args.n
    postgres = None
    with (
        tempfile.TemporaryDirectory() as tmp,
        redis_url() as redis,
        SinkProcess(pipelining=not args.no_pipelining) as sink,
    ):
        if args.redis_aof != "no":
            from redis import Redis

            server = Redis.from_url(redis)
            server.config_set("appendfsync", args.redis_aof)
            server.config_set("appendonly", "yes")
        port = sink.port or sink.start()
        try:
            if args.database:
                database_url = args.database
            else:
                database_url, postgres = start_database(args.db, tmp, "bench_delivery")
            app, env, tenant_id = setup(port, database_url, redis, args.fanout)
            messages = prebuilt(app, tenant_id, events)
            mails = len(messages)
            if mails != (args.fanout or events):
                raise SystemExit(f"the rules produced {mails} mails, expected {args.fanout or events}")
            # The ceiling before and after, averaged: these machines drift, and a
            # ceiling taken at one moment only can flatter or wrong the ratio.
            raw_before = raw_ceiling(port, messages)
            result = postwerk(
                app,
                env,
                tenant_id,
                events,
                mails,
                args.workers,
                sink,
                mode=args.mode,
                producers=args.producers,
                bulk=args.bulk,
                warm=not args.cold,
                fanout=args.fanout,
                separate=args.separate_workers,
            )
            raw_after = raw_ceiling(port, messages)
        finally:
            if postgres is not None:
                postgres.stop()
    if database_url.startswith("sqlite"):
        setting = "sqlite synchronous=" + os.environ.get("POSTWERK_SQLITE_SYNCHRONOUS", "FULL").upper()
    else:
        setting = "postgresql" + (" (test cluster: fsync=off, synchronous_commit=off)" if postgres else "")
    setting += ", sink " + ("without" if args.no_pipelining else "with") + " PIPELINING"
    setting += f", redis appendfsync={args.redis_aof}" if args.redis_aof != "no" else ", redis without AOF"
    setting += ", separate worker processes" if args.separate_workers else ", one worker pool (--processes)"
    if args.mode != "backlog":
        setting += ", workers cold (first jobs counted)" if args.cold else ", workers warm (one mail sent before)"
    raw = (raw_before + raw_after) / 2
    ratio = result["mails_per_s"] / raw
    load = os.getloadavg()
    what = f"1 event to {mails} recipients" if args.fanout else f"{events} events"
    print(f"mode {args.mode}, {what}, {args.workers} workers, {setting}, load {load[0]:.2f} {load[1]:.2f}")
    print(f"raw smtplib, one connection      {raw:8.0f} mails/s  (before {raw_before:.0f}, after {raw_after:.0f})")
    print(
        f"Postwerk end to end              {result['mails_per_s']:8.0f} mails/s  "
        f"(ratio {ratio:.2f}; {mails} mails in {result['total_s']:.2f} s)"
    )
    print(
        f"events emitted in {result['emit_phase_s']:.2f} s; the last mail arrived {result['total_s']:.2f} s "
        "after the clock started"
    )
    print(f"worker CPU per mail              {result['worker_cpu_ms_per_mail']:.3f} ms")
    print(f"emit()                           p50 {result['emit_p50_ms']:.3f} ms   p95 {result['emit_p95_ms']:.3f} ms")
    print(
        f"commit incl. worker wake-up      p50 {result['commit_p50_ms']:.3f} ms   p95 {result['commit_p95_ms']:.3f} ms"
    )
    print(
        json.dumps(
            {
                "mode": args.mode,
                "db": "sqlite" if database_url.startswith("sqlite") else "postgresql",
                "setting": setting,
                "fanout": args.fanout,
                "load_average_1min": round(load[0], 2),
                "postwerk_mails_per_s": round(result["mails_per_s"], 1),
                "raw_mails_per_s": round(raw, 1),
                "ratio": round(ratio, 3),
                "raw_before_mails_per_s": round(raw_before, 1),
                "raw_after_mails_per_s": round(raw_after, 1),
                "worker_cpu_ms_per_mail": round(result["worker_cpu_ms_per_mail"], 3),
                "emit_p50_ms": round(result["emit_p50_ms"], 3),
                "emit_p95_ms": round(result["emit_p95_ms"], 3),
                "commit_p50_ms": round(result["commit_p50_ms"], 3),
                "commit_p95_ms": round(result["commit_p95_ms"], 3),
                "worker_pool": not args.separate_workers,
                "workers_warm": args.mode != "backlog" and not args.cold,
                "n": events,
                "mails": mails,
                "workers": args.workers,
                "redis_aof": args.redis_aof,
            }
        )
    )


if __name__ == "__main__":
    main()
