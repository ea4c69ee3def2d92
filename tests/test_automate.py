"""AUTOMATE: tasks, schedules, pause, two schedulers, the admin page, the sweeper's markers."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import select, update

from core.api import TaskSpec, hookimpl
from core.app import create_app
from core.automate import state as automate
from core.automate.models import AutomateState, TaskRun, TaskState
from core.automate.scheduler import Scheduler
from core.automate.status import MAIL_WORKER_OFF, PAUSED, why_mail_waits
from core.automate.tasks import MAIL_WORKER, RETENTION, SWEEPER, run_retention
from core.extensions import db
from core.mail import markers
from core.mail.delivery import claim
from core.mail.sweeper import POSSIBLY_SENT, RECONCILED, sweep
from core.models import Event, EventStatus, Message, MessageStatus
from core.models.types import utcnow
from core.plugin_state import set_enabled
from plugins.ticket.service import create_ticket
from tests.helpers import csrf_token, drain, login, make_tenant

RUNS: list[int] = []
OUTCOMES: list[tuple[int, str]] = []
_RUNS_LOCK = threading.Lock()


# A test may hold the counting task in the middle of its run.
GATE: threading.Event | None = None
RUNNING = threading.Event()


def count_run(tenant_id: int) -> str:
    RUNNING.set()
    if GATE is not None:
        GATE.wait(30)
    with _RUNS_LOCK:
        RUNS.append(tenant_id)
    return f"counted {len(RUNS)}"


def failing_task(tenant_id: int) -> str:
    raise RuntimeError("mailbox unreachable")


class CountingPlugin:
    """A plugin bringing two tasks, like the inbound poller does."""

    @hookimpl
    def postwerk_tasks(self):
        return [
            TaskSpec(key="counting", label="Counting", function="tests.test_automate:count_run", interval=3600),
            TaskSpec(key="failing", label="Failing", function="tests.test_automate.failing_task", interval=3600),
        ]

    @hookimpl
    def postwerk_delivery_outcome(self, tenant, message_id, status, detail):
        OUTCOMES.append((message_id, status))


@pytest.fixture
def app(config):
    app = create_app(config, extra_plugins={"counting": CountingPlugin()})
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def acme(tenant):
    set_enabled(tenant.id, "counting", True)
    db.session.commit()
    RUNS.clear()
    OUTCOMES.clear()
    return tenant


def _ticket(tenant_id: int, n: int = 1) -> None:
    for i in range(n):
        create_ticket(
            tenant_id,
            title=f"Heizung {i}",
            description="kalt",
            reporter_name="Erika",
            reporter_email=f"erika{i}@example.org",
        )
    db.session.commit()


def _messages(tenant_id=None):
    q = select(Message).order_by(Message.id)
    if tenant_id is not None:
        q = q.where(Message.tenant_id == tenant_id)
    return db.session.execute(q).scalars().all()


# --- tasks and schedules ---------------------------------------------------------


def test_core_and_plugin_tasks_are_listed_with_defaults(acme):
    tasks = automate.ensure_tasks(acme.id)
    assert {MAIL_WORKER, SWEEPER, RETENTION, "counting", "failing"} <= set(tasks)
    assert all(t.enabled and t.next_run_at is not None for t in tasks.values())
    set_enabled(acme.id, "counting", False)
    db.session.commit()
    assert "counting" not in automate.ensure_tasks(acme.id)


def test_a_tick_runs_due_tasks_and_records_results(app, acme):
    queued = {r.task_key: r for r in Scheduler(app, use_lock=False).tick() if r.tenant_id == acme.id}
    # The scheduler only claims and queues; a worker runs the task and records it.
    assert RUNS == [] and queued["counting"].ok is None and queued["counting"].result == "queued"
    drain(app)
    assert RUNS == [acme.id]
    db.session.expire_all()
    runs = {r.task_key: r for r in db.session.execute(select(TaskRun).where(TaskRun.tenant_id == acme.id)).scalars()}
    assert runs["counting"].ok and runs["counting"].result == "counted 1" and runs["counting"].finished_at
    assert runs["failing"].ok is False and "mailbox unreachable" in runs["failing"].result
    task = db.session.execute(select(TaskState).where(TaskState.task_key == "failing")).scalar_one()
    assert task.last_ok is False and "RuntimeError" in task.last_result
    assert task.next_run_at > utcnow() + timedelta(seconds=3500)
    # Nothing is due any more: a second tick runs nothing.
    assert Scheduler(app, use_lock=False).tick() == []


def test_a_failing_task_run_names_its_plugin_in_the_history_and_the_notification_log(app, acme):
    from core.automate.scheduler import run_claimed
    from core.models import Notification

    automate.ensure_tasks(acme.id)
    for _ in range(2):
        run = TaskRun(tenant_id=acme.id, task_key="failing", started_at=utcnow())
        db.session.add(run)
        db.session.commit()
        run_claimed(run.id)
    db.session.expire_all()
    results = [r.result for r in db.session.execute(select(TaskRun).where(TaskRun.task_key == "failing")).scalars()]
    assert results == ["plugin 'counting' failed in task failing: RuntimeError: mailbox unreachable"] * 2
    texts = [
        n.text for n in db.session.execute(select(Notification).where(Notification.tenant_id == acme.id)).scalars()
    ]
    # Noted when it starts failing, not on every run.
    assert texts == [
        "AUTOMATE task failing failed: plugin 'counting' failed in task failing: RuntimeError: mailbox unreachable"
    ], texts


def test_cron_schedule_and_bad_input(acme):
    task = automate.set_schedule(acme.id, "counting", interval_seconds=None, cron="17 3 * * *", actor="test")
    assert (task.next_run_at.hour, task.next_run_at.minute) == (3, 17)
    with pytest.raises(automate.ScheduleError, match="not a cron expression"):
        automate.set_schedule(acme.id, "counting", interval_seconds=None, cron="every day", actor="test")
    with pytest.raises(automate.ScheduleError, match="at least"):
        automate.set_schedule(acme.id, "counting", interval_seconds=0, cron="", actor="test")
    with pytest.raises(KeyError):
        automate.set_schedule(acme.id, "no_such_task", interval_seconds=10, cron="", actor="test")


def test_disabled_and_paused_tasks_do_not_run_but_run_now_does(app, acme):
    automate.set_task_enabled(acme.id, "counting", False, actor="test")
    Scheduler(app, use_lock=False).tick()
    assert RUNS == []
    automate.request_run(acme.id, "counting", actor="test")
    automate.set_paused(acme.id, True, actor="test")
    Scheduler(app, use_lock=False).tick()
    assert RUNS == []  # paused: nothing runs, not even by hand
    automate.set_paused(acme.id, False, actor="test")
    runs = Scheduler(app, use_lock=False).tick()
    drain(app)
    assert RUNS == [acme.id]
    assert [r.trigger for r in runs if r.task_key == "counting"] == ["manual"]


def test_two_schedulers_never_run_one_slot_twice(app, acme, backend):
    first, second = Scheduler(app, use_lock=False, name="a"), Scheduler(app, use_lock=False, name="b")
    tenant_id = acme.id
    first.tick()  # creates the rows and claims the first slot
    drain(app)
    rounds = 12
    for _ in range(rounds):
        automate.request_run(tenant_id, "counting", actor="test")
        db.session.remove()
        barrier = threading.Barrier(2)
        errors = []

        def go(scheduler, barrier=barrier, errors=errors):
            try:
                barrier.wait(timeout=10)
                scheduler.tick()
            except Exception as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=go, args=(s,)) for s in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors
        drain(app)
    assert len(RUNS) == rounds + 1
    runs = db.session.execute(select(TaskRun).where(TaskRun.task_key == "counting")).scalars().all()
    assert len(runs) == rounds + 1


def test_the_leader_lock_lets_one_scheduler_work(app, acme):
    first, second = Scheduler(app, name="a"), Scheduler(app, name="b")
    with app.app_context():
        assert first.is_leader() and first.is_leader()  # renewing its own lock
        assert not second.is_leader()
        assert second.tick() == []
        first.release()
        assert second.is_leader()


def test_a_long_tick_keeps_the_leader_lock_and_notices_when_it_is_lost(app, acme, monkeypatch):
    import sys
    import time

    from core.queueing import redis

    from core.automate import scheduler

    gate = threading.Event()
    monkeypatch.setattr(sys.modules[__name__], "GATE", gate)
    RUNNING.clear()
    ensure_tasks = scheduler.ensure_tasks

    def slow_ensure_tasks(*args):  # a tick over many tenants, or a slow database
        RUNNING.set()
        gate.wait(30)
        return ensure_tasks(*args)

    monkeypatch.setattr(scheduler, "ensure_tasks", slow_ensure_tasks)
    first, second = Scheduler(app, tick=0.3, name="a"), Scheduler(app, tick=0.3, name="b")  # a 2 s lock
    ticking = threading.Thread(target=first.tick)
    ticking.start()
    try:
        assert RUNNING.wait(10)
        time.sleep(2.5)  # longer than the lock lives without renewal
        with app.app_context():
            assert not second.is_leader()  # renewed while the long tick runs
            redis().delete(first._lock_key())  # lost anyway (say, Redis restarted empty)
        assert first._lock_lost.wait(5)  # noticed, not lost silently
    finally:
        gate.set()
        ticking.join(30)


# --- mail waits while AUTOMATE holds it ----------------------------------------------


@pytest.mark.parametrize("hold", ["pause", "mail_worker_off"])
def test_mail_waits_as_pending_and_leaves_after_resume(acme, smtp_sink, run_worker, client, hold):
    if hold == "pause":
        automate.set_paused(acme.id, True, actor="test")
        reason = PAUSED
    else:
        automate.set_task_enabled(acme.id, MAIL_WORKER, False, actor="test")
        reason = MAIL_WORKER_OFF
    _ticket(acme.id, 3)
    run_worker()
    assert [m.status for m in _messages()] == [MessageStatus.PENDING] * 3
    assert smtp_sink.messages == []
    assert why_mail_waits(acme.id) == reason
    login(client)
    assert reason in client.get("/").get_data(as_text=True)
    assert reason in client.get("/settings/admin/automate/").get_data(as_text=True)

    if hold == "pause":
        automate.set_paused(acme.id, False, actor="test")
    else:
        automate.set_task_enabled(acme.id, MAIL_WORKER, True, actor="test")
    run_worker()  # resuming woke the deliverer: no tick needed
    smtp_sink.wait_for(3)
    db.session.expire_all()
    assert [m.status for m in _messages()] == [MessageStatus.SENT] * 3
    assert why_mail_waits(acme.id) is None


# --- the admin page ------------------------------------------------------------------------


def test_admin_page_pauses_toggles_runs_and_shows_history(app, acme, client):
    login(client)
    page = client.get("/settings/admin/automate/").get_data(as_text=True)
    assert "Mail-Versand" in page and "Jetzt ausführen" in page  # the tenant speaks German
    assert "Versendet fällige Mails" in page
    token = csrf_token(page)
    assert client.post("/settings/admin/automate/pause", data={"action": "pause"}).status_code == 400  # no CSRF
    response = client.post("/settings/admin/automate/pause", data={"action": "pause", "csrf_token": token})
    assert response.status_code == 302
    assert db.session.get(AutomateState, acme.id).paused
    assert "Pausiert" in client.get("/settings/admin/automate/").get_data(as_text=True)
    client.post("/settings/admin/automate/pause", data={"action": "resume", "csrf_token": token})
    db.session.expire_all()
    assert not db.session.get(AutomateState, acme.id).paused

    client.post("/settings/admin/automate/tasks/counting/enabled", data={"enabled": "0", "csrf_token": token})
    client.post(
        "/settings/admin/automate/tasks/counting/schedule",
        data={"interval_seconds": "", "cron": "0 * * * *", "csrf_token": token},
    )
    bad = client.post(
        "/settings/admin/automate/tasks/counting/schedule",
        data={"interval_seconds": "", "cron": "soon", "csrf_token": token},
        follow_redirects=True,
    )
    assert "not a cron expression" in bad.get_data(as_text=True)
    task = db.session.execute(select(TaskState).where(TaskState.task_key == "counting")).scalar_one()
    db.session.refresh(task)
    assert not task.enabled and task.cron == "0 * * * *" and task.interval_seconds is None

    client.post("/settings/admin/automate/tasks/counting/run", data={"csrf_token": token})
    Scheduler(app, use_lock=False).tick()
    drain(app)
    assert RUNS == [acme.id]
    history = client.get("/settings/admin/automate/tasks/counting/history").get_data(as_text=True)
    assert "manual" in history and "counted 1" in history
    assert client.post("/settings/admin/automate/tasks/nope/run", data={"csrf_token": token}).status_code == 404
    assert client.get("/settings/admin/automate/tasks/nope/history").status_code == 404


def test_admin_page_is_per_tenant_and_english_for_english_tenants(app, acme, client, smtp_sink):
    other = make_tenant("globex", smtp_sink, language="en")
    automate.set_paused(acme.id, True, actor="test")
    login(client, "globex")
    page = client.get("/settings/admin/automate/").get_data(as_text=True)
    assert "Run now" in page and "Active" in page and "Paused" not in page
    # globex has not enabled the counting plugin: its task is not globex's to run.
    token = csrf_token(page)
    assert client.post("/settings/admin/automate/tasks/counting/run", data={"csrf_token": token}).status_code == 404
    client.post("/settings/admin/automate/pause", data={"action": "pause", "csrf_token": token})
    db.session.expire_all()
    assert db.session.get(AutomateState, other.id).paused and db.session.get(AutomateState, acme.id).paused
    client.post("/settings/admin/automate/pause", data={"action": "resume", "csrf_token": token})
    db.session.expire_all()
    assert db.session.get(AutomateState, acme.id).paused  # acme's pause is acme's
    # Histories are per tenant: acme's runs never show on globex's page.
    automate.set_paused(acme.id, False, actor="test")
    Scheduler(app, use_lock=False).tick()
    acme_runs = (
        db.session.execute(select(TaskRun).where(TaskRun.tenant_id == acme.id, TaskRun.task_key == RETENTION))
        .scalars()
        .all()
    )
    assert acme_runs
    db.session.execute(update(TaskRun).where(TaskRun.tenant_id == acme.id).values(result="acme-only result"))
    db.session.commit()
    assert "acme-only" not in client.get(f"/settings/admin/automate/tasks/{RETENTION}/history").get_data(as_text=True)


def test_automate_page_is_for_admins_only(acme, client):
    from core.models import User

    clerk = User(tenant_id=acme.id, email="clerk@acme.example", name="Clerk", is_admin=False)
    clerk.set_password("another password")
    db.session.add(clerk)
    db.session.commit()
    login(client, email="clerk@acme.example", password="another password")
    assert client.get("/settings/admin/automate/").status_code == 403


def test_every_core_task_and_page_word_has_german():
    """The page's words and the core tasks' labels are in the core's gettext
    catalogue (the .po is the source; no Python dict)."""
    import re
    from pathlib import Path

    from babel.messages.pofile import read_po

    from core.automate import labels
    from core.automate.tasks import CORE_TASKS

    root = Path(labels.__file__).resolve().parent.parent
    with (root / "translations" / "de" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        german = {m.id: m.string for m in read_po(f) if m.id and m.string}
    for spec in CORE_TASKS:
        assert spec.label in german
        assert spec.description in german
    folder = Path(labels.__file__).parent / "templates" / "automate"
    for page in folder.glob("*.html"):
        for text in re.findall(r't\("([^"]+)"\)', page.read_text()):
            assert text in german, f"{page.name}: {text!r} has no German"


def test_the_page_shows_the_catalogue_german(app, client):
    """labels.translator reads the compiled catalogue in the page's language."""
    from core.automate.labels import translator

    with app.test_request_context():
        assert translator("de")("Run now") == "Jetzt ausführen"
        assert translator("en")("Run now") == "Run now"


# --- retention -----------------------------------------------------------------------------


def _old_message(tenant_id: int, status: str, age_days: int, event_id=None) -> Message:
    when = utcnow() - timedelta(days=age_days)
    m = Message(
        tenant_id=tenant_id,
        event_id=event_id,
        message_id=f"<{next(_ids)}@test>",
        sender="a@x.example",
        recipients=["b@example.org"],
        subject="s",
        status=status,
        created_at=when,
        sent_at=when if status == MessageStatus.SENT else None,
    )
    db.session.add(m)
    db.session.flush()
    return m


_ids = itertools.count(1)


def test_retention_deletes_old_sent_mail_and_its_events_only(acme):
    old_event = Event(
        tenant_id=acme.id,
        key="TICKET_CREATED",
        payload={},
        status=EventStatus.EXPANDED,
        created_at=utcnow() - timedelta(days=100),
    )
    kept_event = Event(
        tenant_id=acme.id,
        key="TICKET_CREATED",
        payload={},
        status=EventStatus.EXPANDED,
        created_at=utcnow() - timedelta(days=100),
    )
    db.session.add_all([old_event, kept_event])
    db.session.flush()
    gone = _old_message(acme.id, MessageStatus.SENT, 100, old_event.id)
    resend = _old_message(acme.id, MessageStatus.SENT, 1)
    resend.resend_of_id = gone.id
    failed = _old_message(acme.id, MessageStatus.FAILED, 100, kept_event.id)
    young = _old_message(acme.id, MessageStatus.SENT, 10)
    db.session.commit()
    ids = {gone.id, resend.id, failed.id, young.id}
    assert run_retention(acme.id).startswith("deleted 1 message(s) and 1 event(s) older than 90 days")
    left = {m.id for m in _messages()}
    assert left == ids - {gone.id}
    automate.set_retention(acme.id, 5, actor="test")
    assert run_retention(acme.id).startswith("deleted 1 message(s)")  # the 10 days old one
    assert {m.id for m in _messages()} == {failed.id, resend.id}
    assert db.session.get(Event, kept_event.id) is not None


def test_retention_expires_api_idempotency_keys_and_keeps_the_events_they_hold(acme):
    from core.models import IdempotencyKey

    def event(days):
        row = Event(
            tenant_id=acme.id,
            key="TICKET_CREATED",
            payload={},
            status=EventStatus.EXPANDED,
            created_at=utcnow() - timedelta(days=days),
        )
        db.session.add(row)
        db.session.flush()
        return row

    held, freed = event(100), event(100)
    db.session.add_all(
        [
            IdempotencyKey(
                tenant_id=acme.id,
                key="young",
                request_hash="0" * 64,
                event_id=held.id,
                created_at=utcnow() - timedelta(days=1),
            ),
            IdempotencyKey(
                tenant_id=acme.id,
                key="old",
                request_hash="0" * 64,
                event_id=freed.id,
                created_at=utcnow() - timedelta(days=10),
            ),
        ]
    )
    db.session.commit()
    held_id, freed_id = held.id, freed.id
    assert "1 expired API idempotency key(s)" in run_retention(acme.id)
    assert [k.key for k in db.session.execute(db.select(IdempotencyKey)).scalars()] == ["young"]
    assert db.session.get(Event, held_id) is not None  # a retry within days must still find it
    assert db.session.get(Event, freed_id) is None


# --- claiming and the sweeper ------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_concurrent_claims_never_share_a_message(app, acme, backend):
    for _ in range(300):
        _old_message(acme.id, MessageStatus.PENDING, 0)
    db.session.execute(update(Message).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    tenant_id = acme.id
    taken: list[list[int]] = [[] for _ in range(4)]
    barrier = threading.Barrier(4)

    def claimer(index):
        with app.app_context():
            barrier.wait(timeout=10)
            while True:
                _, ids = claim(tenant_id, 7)
                if not ids:
                    return
                taken[index].extend(ids)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    every = [i for ids in taken for i in ids]
    assert len(every) == len(set(every)) == 300


def _sending(tenant_id: int, token: str) -> Message:
    m = _old_message(tenant_id, MessageStatus.PENDING, 0)
    m.status, m.claim_token, m.lease_until = MessageStatus.SENDING, token, utcnow() - timedelta(seconds=1)
    m.claim_epoch = markers.epoch()  # claimed under the Redis that holds its markers
    db.session.commit()
    return m


def test_sweeper_reclaims_by_the_markers(acme):
    never = _sending(acme.id, "t-never")
    accepted = _sending(acme.id, "t-accepted")
    in_flight = _sending(acme.id, "t-flight")
    older_attempt = _sending(acme.id, "t-new")
    alive = _sending(acme.id, "t-alive")
    alive.lease_until = utcnow() + timedelta(minutes=5)
    db.session.commit()
    writer = markers.Writer()
    writer.attempting(accepted.id, "t-accepted")
    writer.sent(accepted.id)
    writer.attempting(in_flight.id, "t-flight")
    writer.attempting(older_attempt.id, "t-old")  # an earlier claim's attempt, which failed cleanly
    writer.close()
    result = sweep(acme.id)
    assert result["reclaimed"] == 2 and result["reconciled"] == 1 and result["unknown"] == 1
    db.session.expire_all()
    status = {m.id: (m.status, m.last_error) for m in _messages()}
    assert status[never.id][0] == status[older_attempt.id][0] == MessageStatus.PENDING
    assert status[accepted.id] == (MessageStatus.SENT, RECONCILED)
    assert status[in_flight.id] == (MessageStatus.UNKNOWN, POSSIBLY_SENT)
    assert status[alive.id][0] == MessageStatus.SENDING
    # Plugins hear of the final states the sweeper decided, as from a worker.
    assert sorted(OUTCOMES) == [(accepted.id, MessageStatus.SENT), (in_flight.id, MessageStatus.UNKNOWN)]
    assert sweep(acme.id)["reclaimed"] == 0  # idempotent


def test_sweeper_replaces_a_wake_whose_job_is_gone(app, acme, smtp_sink, redis_server):
    from redis import Redis

    from core.mail import jobs
    from core.queueing import queue, wake_key

    _ticket(acme.id)
    drain(app)  # expanded and sent
    smtp_sink.wait_for(1)
    _old_message(acme.id, MessageStatus.PENDING, 0)
    db.session.commit()
    # A wake key left behind by a job that vanished (worker killed after taking it).
    Redis.from_url(redis_server.url).set(wake_key("deliver_messages", acme.id), "deliver_messages-gone", ex=300)
    assert not jobs.wake_deliverer(acme.id)  # deduplicated against the dead key
    assert sweep(acme.id)["deliver"] == 1
    assert sweep(acme.id)["deliver"] == 0  # now a live job waits
    assert len(queue()) == 1


def test_sweeper_replaces_a_queued_job_a_killed_worker_took_but_never_started(app, acme, smtp_sink, redis_server):
    """RQ moves a job out of its queue when a worker takes it; a worker killed
    before starting it leaves the job "queued" but nowhere in the queue."""
    from datetime import datetime, timezone

    from redis import Redis
    from rq.job import Job

    from core.mail import jobs
    from core.queueing import queue, wake_key

    _old_message(acme.id, MessageStatus.PENDING, 0)
    db.session.commit()
    assert jobs.wake_deliverer(acme.id)
    conn = Redis.from_url(redis_server.url)
    job_id = conn.get(wake_key("deliver_messages", acme.id)).decode()
    conn.lrem(queue().key, 0, job_id)  # taken by a worker that died at once
    job = Job.fetch(job_id, connection=conn)
    job.enqueued_at = datetime.now(timezone.utc) - timedelta(seconds=60)
    job.save()
    assert sweep(acme.id)["deliver"] == 1
    assert queue().get_job_ids() != [] and job_id not in queue().get_job_ids()
    drain(app)
    assert smtp_sink.wait_for(1)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_database_lost_after_the_server_accepted_never_resends(app, acme, smtp_sink, postgres_server, database_url):
    """The Odoo / django-post_office bug: an error after the SMTP server took
    the mail must not turn it back into PENDING."""
    tenant_id = acme.id
    _ticket(tenant_id)
    db.session.remove()
    smtp_sink.behaviour.hang_after_data = 1.5  # time to cut the database while the server holds the mail
    name = database_url.rsplit("/", 1)[1]

    def cut_database():
        smtp_sink.wait_for(1, timeout=30)
        with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )

    cutter = threading.Thread(target=cut_database)
    cutter.start()
    drain(app)  # the job dies recording SENT
    cutter.join(30)
    smtp_sink.behaviour.hang_after_data = 0
    (message,) = _messages()
    assert message.status == MessageStatus.SENDING
    # Time passes: the lease runs out (set it, rather than wait ten minutes).
    db.session.execute(update(Message).values(lease_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert sweep(tenant_id)["reconciled"] == 1
    drain(app)
    db.session.expire_all()
    (message,) = _messages()
    assert message.status == MessageStatus.SENT and message.last_error == RECONCILED
    assert smtp_sink.count_by_message_id() == {message.message_id: 1}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_two_deliverers_at_once_send_each_message_once(app, acme, smtp_sink):
    """Two jobs for one tenant at the same moment (a duplicate wake, "send
    now" pressed twice, two workers): every message reaches the server once."""
    from core.mail.delivery import deliver_due

    tenant_id = acme.id
    for _ in range(250):  # more than one claim batch each
        _old_message(tenant_id, MessageStatus.PENDING, 0)
    db.session.execute(update(Message).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    barrier = threading.Barrier(2)
    sent = []

    def deliverer():
        with app.app_context():
            barrier.wait(timeout=10)
            sent.append(deliver_due(tenant_id).sent)

    threads = [threading.Thread(target=deliverer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(sent) == 250
    counts = smtp_sink.count_by_message_id()
    assert len(counts) == 250 and set(counts.values()) == {1}


def test_retention_deletes_ended_log_in_sessions_of_its_tenant_only(acme):
    from core.models import User, WebSession
    from tests.helpers import make_tenant

    other = make_tenant("other")
    admin = db.session.execute(db.select(User).where(User.tenant_id == acme.id)).scalars().first()
    stranger = db.session.execute(db.select(User).where(User.tenant_id == other.id)).scalars().first()
    now = utcnow()
    db.session.add_all(
        [
            WebSession(
                id="a" * 64, user_id=admin.id, started_at=now - timedelta(days=3), last_seen_at=now - timedelta(days=3)
            ),  # idle for days: ended
            WebSession(
                id="b" * 64, user_id=admin.id, started_at=now - timedelta(days=30), last_seen_at=now
            ),  # active, but past the absolute lifetime: ended
            WebSession(id="c" * 64, user_id=admin.id, started_at=now, last_seen_at=now),  # open
            WebSession(
                id="d" * 64,
                user_id=stranger.id,
                started_at=now - timedelta(days=3),
                last_seen_at=now - timedelta(days=3),
            ),  # ended, but another tenant's
        ]
    )
    db.session.commit()
    assert "2 ended log-in session(s)" in run_retention(acme.id)
    assert {row.id[0] for row in db.session.execute(db.select(WebSession)).scalars()} == {"c", "d"}
