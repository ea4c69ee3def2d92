"""Delivery guarantees under faults, with real processes on loopback.

Each test starts `postwerk worker` processes and `postwerk scheduler`
(AUTOMATE, whose sweeper repairs what a fault broke) against its own Redis,
the test's database and an SMTP sink, produces mail, breaks something
mid-run, waits (bounded) until nothing is PENDING or SENDING, and then checks
what the SMTP server counted by Message-ID: every SENT message exactly once,
every other message UNKNOWN or FAILED with its reason, nothing lost, nothing
twice. The test plays the process supervisor (systemd, Kubernetes): a worker
that exits is started again. Two schedulers run, as if started twice by
mistake; no task slot may run twice.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from core.automate.models import TaskRun, TaskState
from core.automate.state import ensure_tasks
from core.automate.tasks import MAIL_WORKER, SWEEPER
from core.extensions import db
from core.models import Event, EventStatus, Message, MessageStatus
from plugins.ticket.service import create_ticket
from tests.conftest import base_config
from tests.helpers import make_tenant
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.faults

# How long a fault run may take before it counts as stuck: the early take-back
# alone needs the heartbeat's 20 s plus a sweep, and a full suite on two busy
# cores once needed more than 60 s for it (the run passed alone in 25 s).
BOUND_SECONDS = 120
JOB_TIMEOUT = 12
# The console script next to this interpreter; `python -m core.cli` where it is not installed as one.
_SCRIPT = Path(sys.executable).parent / "postwerk"
POSTWERK = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "core.cli"]


def _workers_for(backend: str) -> int:
    return 4 if backend == "postgresql" else 2


class Cluster:
    """Worker and scheduler processes around one database and one Redis."""

    def __init__(self, config: dict, logdir: Path, workers: int):
        self.config = config
        self.logdir = logdir
        self.size = workers
        self.workers: list[subprocess.Popen] = []
        # Two schedulers, as if started twice by mistake: they must not run a task slot twice.
        self.schedulers: list[subprocess.Popen] = []
        self.started = 0
        self.killed = 0
        self.env = {
            **os.environ,
            "POSTWERK_DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
            "POSTWERK_REDIS_URL": config["REDIS_URL"],
            "POSTWERK_ENCRYPTION_KEY": config["ENCRYPTION_KEYS"][0],
            "POSTWERK_SECRET_KEY": config["SECRET_KEY"],
            # Production settings relaying to the test servers on loopback (docs/security.md).
            "POSTWERK_TARGET_ALLOWLIST": "127.0.0.1",
            "POSTWERK_QUEUE_PREFIX": config["QUEUE_PREFIX"],
            "POSTWERK_SMTP_TIMEOUT": str(config["SMTP_TIMEOUT"]),
            "POSTWERK_DELIVERY_JOB_TIMEOUT": str(config["DELIVERY_JOB_TIMEOUT"]),
            "POSTWERK_CLOCK_SKEW_SECONDS": str(config["CLOCK_SKEW_SECONDS"]),
        }

    def _spawn(self, *args: str) -> subprocess.Popen:
        self.started += 1
        log = open(self.logdir / f"{args[0]}-{self.started}.log", "wb")
        with log:
            return subprocess.Popen(
                [*POSTWERK, *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self) -> "Cluster":
        self.schedulers = [self._spawn("scheduler", "--interval", "0.5", "--name", f"s{i}") for i in range(2)]
        self.workers = [self._spawn("worker", "--name", f"w{i}-{os.getpid()}") for i in range(self.size)]
        return self

    def supervise(self) -> None:
        """Start again what exited, like systemd's Restart=always."""
        for index, proc in enumerate(self.workers):
            if proc.poll() is not None:
                self.workers[index] = self._spawn("worker", "--name", f"w{index}-{self.started}")
        for index, proc in enumerate(self.schedulers):
            if proc.poll() is not None:
                self.schedulers[index] = self._spawn("scheduler", "--interval", "0.5", "--name", f"s{index}")

    def kill_one(self, rng: random.Random) -> None:
        proc = rng.choice(self.workers)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            self.killed += 1

    def stop(self) -> None:
        for proc in [*self.workers, *self.schedulers]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        for proc in [*self.workers, *self.schedulers]:
            proc.wait(10)

    def logs(self) -> str:
        tails = []
        for path in sorted(self.logdir.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()
            errors = [line for line in lines if "Error" in line or "error" in line][-5:]
            if errors:
                tails.append(f"--- {path.name}\n" + "\n".join(errors))
        return "\n".join(tails)[-6000:]


@pytest.fixture
def fault_redis(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def config(database_url, fault_redis) -> dict:
    config = base_config(database_url, fault_redis.url)
    config.update(SMTP_TIMEOUT=2, DELIVERY_JOB_TIMEOUT=JOB_TIMEOUT, CLOCK_SKEW_SECONDS=1)
    return config


@pytest.fixture
def cluster(app, config, backend, tmp_path):
    logdir = tmp_path / "logs"
    logdir.mkdir()
    running = Cluster(config, logdir, _workers_for(backend))
    yield running
    running.stop()


def _tenants(smtp_sink, n: int) -> list[int]:
    ids = [make_tenant(f"t{i}", smtp_sink).id for i in range(n)]
    for tenant_id in ids:
        ensure_tasks(tenant_id)
    # The sweeper and the mail worker every second, so repairs come quickly.
    db.session.execute(
        update(TaskState).where(TaskState.task_key.in_((SWEEPER, MAIL_WORKER))).values(interval_seconds=1)
    )
    db.session.commit()
    return ids


def _produce(tenant_ids: list[int], n: int, *, rollback_every: int = 0) -> int:
    """Create ``n`` tickets round-robin over the tenants (one mail each);
    with ``rollback_every`` every k-th producer transaction rolls back after
    its emit. Returns how many were committed."""
    committed = 0
    for i in range(n):
        create_ticket(
            tenant_ids[i % len(tenant_ids)],
            title=f"Ticket {i}",
            description="",
            reporter_name="Erika",
            reporter_email=f"r{i}@example.org",
        )
        if rollback_every:  # one transaction per ticket: some roll back after their emit
            if i % rollback_every == 0:
                db.session.rollback()
                continue
            db.session.commit()
        committed += 1
        if committed % 50 == 0:
            db.session.commit()
    db.session.commit()
    return committed


def _open_work() -> tuple[int, int, int]:
    db.session.remove()
    unfinished = db.session.execute(
        select(func.count())
        .select_from(Message)
        .where(Message.status.in_((MessageStatus.PENDING, MessageStatus.SENDING)))
    ).scalar()
    new_events = db.session.execute(
        select(func.count()).select_from(Event).where(Event.status == EventStatus.NEW)
    ).scalar()
    total = db.session.execute(select(func.count()).select_from(Message)).scalar()
    db.session.remove()
    return unfinished, new_events, total


def _run(cluster: Cluster, expected: int, *, fault=None, kills: int = 0, seed: int = 6) -> float:
    """Supervise until every message is finished; ``fault(progress)`` is
    called on every round with the share of messages finished (0..1)."""
    rng = random.Random(seed)
    started = time.monotonic()
    # Kills come every 0.1-0.5 s while mail is being delivered: a round of
    # 1,000 mails takes a few seconds once the workers are warm, and wider
    # gaps left some of the kills asked for undone (3 of 6 once delivery got
    # faster), so the test checked less than it says.
    next_kill = started + rng.uniform(0.1, 0.5)
    while True:
        try:
            unfinished, new_events, total = _open_work()
        except Exception:  # the database may be restarting right now
            unfinished, new_events, total = expected, 1, 0
        if total == expected and unfinished == 0 and new_events == 0:
            return time.monotonic() - started
        now = time.monotonic()
        if now - started > BOUND_SECONDS:
            pytest.fail(
                f"not finished in {BOUND_SECONDS} s: {unfinished} unfinished, {new_events} events "
                f"not expanded, {total}/{expected} messages\n{cluster.logs()}"
            )
        progress = 1 - unfinished / expected if total == expected else 0.0
        if fault is not None:
            fault(progress)
        delivering = 0 < progress < 0.95
        if kills and cluster.killed < kills and now >= next_kill and delivering:
            cluster.kill_one(rng)
            next_kill = now + rng.uniform(0.1, 0.5)
        cluster.supervise()
        time.sleep(0.2)


def _check(smtp_sink, expected: int) -> dict[str, int]:
    """Every SENT message counted exactly once; every other one UNKNOWN or
    FAILED with a reason; none lost, none twice, nothing foreign."""
    db.session.remove()
    messages = db.session.execute(select(Message)).scalars().all()
    counts = smtp_sink.count_by_message_id()
    assert len(messages) == expected
    by_status: dict[str, int] = {}
    for m in messages:
        by_status[m.status] = by_status.get(m.status, 0) + 1
        seen = counts.get(m.message_id, 0)
        if m.status == MessageStatus.SENT:
            assert seen == 1, f"message {m.id} SENT but counted {seen} times"
        elif m.status in (MessageStatus.UNKNOWN, MessageStatus.FAILED):
            assert m.last_error, f"message {m.id} {m.status} without a reason"
            assert seen <= 1, f"message {m.id} {m.status} counted {seen} times"
        else:
            pytest.fail(f"message {m.id} lost in {m.status}")
    assert set(counts) <= {m.message_id for m in messages}, "the server got mail nobody asked for"
    _check_no_slot_ran_twice()
    by_status["taken_back"] = _taken_back()
    print(f"\n{by_status}")
    return by_status


def _check_no_slot_ran_twice() -> None:
    """Each run moves the task's next run one interval past its start, so two
    runs of one task closer than its interval mean one slot ran twice."""
    intervals = {(t.tenant_id, t.task_key): t.interval_seconds for t in db.session.execute(select(TaskState)).scalars()}
    runs: dict[tuple[int, str], list] = {}
    for run in db.session.execute(
        select(TaskRun).where(TaskRun.trigger == "schedule").order_by(TaskRun.started_at)
    ).scalars():
        runs.setdefault((run.tenant_id, run.task_key), []).append(run.started_at)
    assert runs, "the schedulers ran nothing"
    for key, starts in runs.items():
        for earlier, later in zip(starts, starts[1:]):
            assert (later - earlier).total_seconds() >= intervals[key] - 0.01, f"{key} ran twice at {earlier}"


def _taken_back() -> int:
    """Messages the sweeper took back from dead claims (from its run history)."""
    total = 0
    for result in db.session.execute(select(TaskRun.result).where(TaskRun.task_key == SWEEPER)).scalars():
        parts = dict(part.rsplit(" ", 1) for part in (result or "").split(", ") if " " in part)
        total += sum(int(parts.get(k, 0)) for k in ("reclaimed", "reconciled", "unknown"))
    return total


BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@BACKENDS
def test_sigkilled_workers_deliver_every_message_once(ctx, cluster, smtp_sink):
    tenant_ids = _tenants(smtp_sink, 8)
    expected = _produce(tenant_ids, 1000)
    cluster.start()
    _run(cluster, expected, kills=6)
    statuses = _check(smtp_sink, expected)
    assert cluster.killed == 6
    assert statuses["taken_back"] >= 1  # the kills did hit workers holding mail
    # Only a message in the very hands of a killed worker may be UNKNOWN.
    assert statuses.get(MessageStatus.UNKNOWN, 0) <= cluster.killed
    assert statuses[MessageStatus.SENT] >= expected - cluster.killed


@BACKENDS
def test_redis_restarted_empty_mid_run_loses_nothing(ctx, cluster, smtp_sink, fault_redis):
    tenant_ids = _tenants(smtp_sink, 6)
    expected = _produce(tenant_ids, 300)
    cluster.start()
    restarted = []

    def restart_redis(progress):
        if not restarted and progress >= 0.2:
            fault_redis.restart()  # empty: queues, wake keys, scheduled retries, leader lock all gone
            restarted.append(progress)

    _run(cluster, expected, fault=restart_redis)
    assert restarted, "the run finished before Redis could be restarted"
    statuses = _check(smtp_sink, expected)
    assert statuses.get(MessageStatus.SENT) == expected


@BACKENDS
def test_smtp_server_dropping_links(ctx, cluster, smtp_sink):
    tenant_ids = _tenants(smtp_sink, 6)
    expected = _produce(tenant_ids, 300)
    # Five messages lose the link after the final dot (RFC 1047: UNKNOWN),
    # and for a while no connection gets a greeting (retried later).
    smtp_sink.behaviour.drop_after_data = 5
    cluster.start()
    state = {"refusing": None}

    def refuse_for_a_while(progress):
        if state["refusing"] is None and progress >= 0.3:
            smtp_sink.behaviour.no_greeting = True
            state["refusing"] = time.monotonic()
        elif state["refusing"] and time.monotonic() - state["refusing"] > 1.0:
            smtp_sink.behaviour.no_greeting = False
            state["refusing"] = 0

    _run(cluster, expected, fault=refuse_for_a_while)
    smtp_sink.behaviour.no_greeting = False
    statuses = _check(smtp_sink, expected)
    assert statuses.get(MessageStatus.UNKNOWN) == 5
    assert statuses.get(MessageStatus.SENT) == expected - 5
    unknown = db.session.execute(select(Message).where(Message.status == MessageStatus.UNKNOWN)).scalars().all()
    assert all("may or may not have been delivered" in m.last_error for m in unknown)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_restarted_mid_run(ctx, cluster, smtp_sink, postgres_server):
    tenant_ids = _tenants(smtp_sink, 6)
    expected = _produce(tenant_ids, 300)
    cluster.start()
    restarted = []

    def restart_database(progress):
        if not restarted and progress >= 0.25:
            postgres_server.restart()  # every connection is cut; the data stays
            restarted.append(progress)

    _run(cluster, expected, fault=restart_database)
    assert restarted, "the run finished before PostgreSQL could be restarted"
    statuses = _check(smtp_sink, expected)
    assert set(statuses) <= {MessageStatus.SENT, MessageStatus.UNKNOWN, "taken_back"}


@BACKENDS
def test_rolled_back_producers_send_nothing_while_workers_run(ctx, cluster, smtp_sink):
    tenant_ids = _tenants(smtp_sink, 4)
    cluster.start()
    expected = _produce(tenant_ids, 200, rollback_every=3)
    _run(cluster, expected)
    statuses = _check(smtp_sink, expected)
    assert statuses[MessageStatus.SENT] == expected and len(statuses) == 2
    # Only committed tickets have events; the rolled-back ones left no trace.
    assert db.session.execute(select(func.count()).select_from(Event)).scalar() == expected
    sent_to = {r for m in db.session.execute(select(Message)).scalars() for r in m.recipients}
    assert not any(f"r{i}@example.org" in sent_to for i in range(0, 200, 3))


# -- Issue 10: the edges of the delivery guarantee ------------------------------


def _statuses_by_message_id() -> dict[str, tuple[str, str | None]]:
    db.session.remove()
    rows = db.session.execute(select(Message.message_id, Message.status, Message.last_error)).all()
    db.session.remove()
    return {row.message_id: (row.status, row.last_error) for row in rows}


def _wait(condition, what: str, cluster: Cluster) -> None:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > BOUND_SECONDS:
            pytest.fail(f"waited in vain for {what}\n{cluster.logs()}")
        time.sleep(0.01)


@BACKENDS
@pytest.mark.parametrize("loss", ["flushall", "restart"])
def test_worker_killed_while_sending_then_redis_loses_its_data(ctx, config, smtp_sink, fault_redis, tmp_path, loss):
    """A worker is SIGKILLed while the server has accepted messages whose SENT
    is not in the database yet; then Redis loses the markers that recorded
    them, while the dead claim is still live. None of them may be handed over
    a second time: each one is UNKNOWN, with the reason."""
    from redis import Redis

    from core.mail.delivery import BATCH_SIZE
    from core.mail.sweeper import REDIS_FORGOT

    (logdir := tmp_path / "logs").mkdir()
    tenant_ids = _tenants(smtp_sink, 1)
    expected = _produce(tenant_ids, 400)
    cluster = Cluster(config, logdir, 1).start()
    try:
        unrecorded: set[str] = set()
        for round_ in range(5):
            seen = len(smtp_sink.messages)
            _wait(lambda seen=seen: len(smtp_sink.messages) >= seen + 20, "the worker to send", cluster)
            cluster.kill_one(random.Random(round_))
            accepted = {m.message_id for m in smtp_sink.messages}
            unrecorded = {
                mid
                for mid, (status, _) in _statuses_by_message_id().items()
                if mid in accepted and status != MessageStatus.SENT
            }
            if unrecorded:  # the kill hit the window between 250 and SENT in the database
                break
            cluster.supervise()
        assert unrecorded, "the kills never hit a worker holding accepted mail"
        if loss == "flushall":
            Redis.from_url(config["REDIS_URL"]).flushall()
        else:
            fault_redis.restart()  # no persistence: empty
        cluster.supervise()
        _run(cluster, expected)
        statuses = _check(smtp_sink, expected)  # nothing counted twice
        after = _statuses_by_message_id()
        for mid in unrecorded:
            assert after[mid] == (MessageStatus.UNKNOWN, REDIS_FORGOT), mid
        # The rest of the dead claim cannot be told apart either (at most
        # one batch); everything else went out once.
        assert len(unrecorded) <= statuses[MessageStatus.UNKNOWN] <= BATCH_SIZE
    finally:
        cluster.stop()


@BACKENDS
def test_dead_worker_is_taken_back_early_and_precisely(ctx, config, smtp_sink, tmp_path):
    """The worker dies after one message was accepted and while the next one
    waits for its MAIL FROM reply: nothing of it reached the server. Its
    claim comes back as soon as RQ knows the worker is dead (the lease of 10
    minutes never runs out in this test), the accepted message is recorded
    SENT from its marker, and the next one is delivered once, not UNKNOWN;
    the take-back is in the audit with its reason and counts the attempt."""
    from core.models import AuditEntry

    (logdir := tmp_path / "logs").mkdir()
    tenant_ids = _tenants(smtp_sink, 1)
    expected = _produce(tenant_ids, 3)
    smtp_sink.behaviour.hang_after_mail = [0, 300]  # the second MAIL FROM stalls
    cluster = Cluster(config, logdir, 1)
    cluster.env.update(POSTWERK_DELIVERY_JOB_TIMEOUT="600", POSTWERK_SMTP_TIMEOUT="120")
    cluster.start()
    try:
        _wait(lambda: smtp_sink.mail_commands >= 2 and len(smtp_sink.messages) == 1, "the second MAIL FROM", cluster)
        cluster.kill_one(random.Random(1))
        _run(cluster, expected)
        statuses = _check(smtp_sink, expected)
        assert statuses[MessageStatus.SENT] == expected
        db.session.remove()
        first, second, third = db.session.execute(select(Message).order_by(Message.id)).scalars().all()
        stalled = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "mail.reclaimed", AuditEntry.object_id == str(second.id))
        ).scalar_one()
        assert "dead" in stalled.detail["taken_back"] and stalled.detail["worker"]
        assert second.attempts == 2  # the taken-back attempt counts
        reconciled = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "mail.sent_reconciled", AuditEntry.object_id == str(first.id))
        ).scalar_one()
        assert "dead" in reconciled.detail["taken_back"]
    finally:
        cluster.stop()
