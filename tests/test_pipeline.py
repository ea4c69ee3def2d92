"""One event from a plugin to an inbox, end to end, against real servers."""

from __future__ import annotations

import pytest

from core.events import emit
from core.extensions import db
from core.models import Event, EventStatus, Message, MessageStatus, Rule
from core.plugin_state import set_enabled
from core.plugins import PluginDisabledError, UnknownEventError
from plugins.ticket.service import create_ticket
from tests.helpers import make_tenant


def _ticket(tenant_id, **kw):
    values = dict(
        title="Heizung fällt aus",
        description="Bad kalt",
        reporter_name="Erika Mustermann",
        reporter_email="erika@example.org",
        reporter_language="de",
    )
    values.update(kw)
    ticket = create_ticket(tenant_id, **values)
    db.session.commit()
    return ticket


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_ticket_created_reaches_the_inbox_with_the_stored_message_id(tenant, smtp_sink, run_worker):
    ticket = _ticket(tenant.id)
    run_worker()
    received = smtp_sink.wait_for(1)
    assert len(received) == 1
    stored = db.session.execute(db.select(Message)).scalar_one()
    assert stored.status == MessageStatus.SENT
    mail = received[0]
    assert mail.rcpt_tos == ["erika@example.org"]
    assert mail.message["Message-ID"] == stored.message_id
    assert mail.message["Subject"] == f"[#{ticket.id}] Ihre Meldung: Heizung fällt aus"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    text = mail.message.get_body(("plain",)).get_content()
    assert "Hallo Erika Mustermann" in text and "Acme GmbH" in text
    html = mail.message.get_body(("html",)).get_content()
    assert "<strong>[#%d] Heizung fällt aus</strong>" % ticket.id in html


def test_reporter_language_picks_the_english_template(tenant, smtp_sink, run_worker):
    _ticket(tenant.id, reporter_language="en", title="Heating broken")
    run_worker()
    (mail,) = smtp_sink.wait_for(1)
    assert mail.message["Subject"].endswith("Your report: Heating broken")


def test_placeholder_values_are_escaped_in_html_but_not_in_text(tenant, smtp_sink, run_worker):
    _ticket(tenant.id, title="<script>alert(1)</script> & Co")
    run_worker()
    (mail,) = smtp_sink.wait_for(1)
    assert "&lt;script&gt;" in mail.message.get_body(("html",)).get_content()
    assert "<script>alert(1)</script> & Co" in mail.message.get_body(("plain",)).get_content()


def test_inactive_rule_sends_nothing(tenant, smtp_sink, run_worker):
    for rule in db.session.execute(db.select(Rule)).scalars():
        rule.active = False
    db.session.commit()
    _ticket(tenant.id)
    run_worker()
    assert db.session.execute(db.select(Message)).first() is None
    assert db.session.execute(db.select(Event)).scalar_one().status == EventStatus.EXPANDED
    assert smtp_sink.messages == []


def test_disabled_plugin_refuses_its_events(tenant, smtp_sink):
    set_enabled(tenant.id, "ticket", False)
    db.session.commit()
    with pytest.raises(PluginDisabledError, match="ticket"):
        emit(tenant, "TICKET_CREATED", {"ticket": {}})
    set_enabled(tenant.id, "ticket", True)
    db.session.commit()
    assert emit(tenant, "TICKET_CREATED", {"ticket": {}}).key == "TICKET_CREATED"


def test_unknown_event_is_an_error(tenant):
    with pytest.raises(UnknownEventError, match="TICKET_CREATD"):
        emit(tenant, "TICKET_CREATD", {})


def test_rolled_back_producer_sends_nothing(tenant, smtp_sink, run_worker):
    create_ticket(tenant.id, title="x", description="", reporter_name="A", reporter_email="a@example.org")
    db.session.rollback()
    run_worker()
    assert db.session.execute(db.select(Event)).first() is None
    assert smtp_sink.messages == []


def test_pipeline_keeps_tenants_apart(tenant, smtp_sink, run_worker):
    from tests.support.smtp_sink import SmtpSink

    with SmtpSink() as other_sink:
        other = make_tenant("globex", other_sink)
        _ticket(tenant.id, reporter_email="a@acme.example")
        _ticket(other.id, reporter_email="b@globex.example")
        run_worker()
        (mine,) = smtp_sink.wait_for(1)
        (theirs,) = other_sink.wait_for(1)
    assert mine.rcpt_tos == ["a@acme.example"] and "Acme GmbH" in mine.message.get_body(("plain",)).get_content()
    assert theirs.rcpt_tos == ["b@globex.example"]
    assert "Globex GmbH" in theirs.message.get_body(("plain",)).get_content()
    by_tenant = dict(db.session.execute(db.select(Message.tenant_id, Message.recipients)).all())
    assert by_tenant == {tenant.id: ["a@acme.example"], other.id: ["b@globex.example"]}


def test_template_escaping_the_sandbox_is_refused_not_executed(tenant, smtp_sink, run_worker):
    from core.models import Template

    template = db.session.execute(
        db.select(Template).where(Template.language == "de", Template.key == "ticket_created")
    ).scalar_one()
    template.subject = "{{ ''.__class__.__mro__ }}"
    db.session.commit()
    _ticket(tenant.id)
    run_worker()
    message = db.session.execute(db.select(Message)).scalar_one()
    assert message.status == MessageStatus.FAILED
    assert "not allowed" in message.last_error and "__class__" in message.last_error
    assert smtp_sink.messages == []


@pytest.mark.parametrize(
    "part,source,error",
    [
        ("subject", "{{ (9**100**100**100**20) > 1 }}", "too large"),
        (
            "body_html",
            "{% for a in 'a'*1000 %}{% for b in 'a'*1000 %}{% for c in 'a'*1000 %}{% endfor %}{% endfor %}{% endfor %}",
            "loops more than",
        ),
        ("body_html", "{{ ('a'*100000)|replace('a', 'b'*1000) }}", "too large"),
    ],
    ids=["power tower", "nested loops", "replace"],
)
def test_a_runaway_template_fails_its_mail_and_the_worker_serves_the_other_tenant(
    tenant, smtp_sink, run_worker, part, source, error
):
    """RELIABILITY 16 and 34: the budget holds in the worker all tenants share."""
    from core.models import Template
    from tests.support.smtp_sink import SmtpSink

    template = db.session.execute(
        db.select(Template).where(
            Template.tenant_id == tenant.id, Template.language == "de", Template.key == "ticket_created"
        )
    ).scalar_one()
    setattr(template, part, source)  # written past the editor's check, as an older version could have been
    db.session.commit()
    with SmtpSink() as other_sink:
        other = make_tenant("globex", other_sink)
        _ticket(tenant.id)
        _ticket(other.id, reporter_email="b@globex.example")
        run_worker()
        (theirs,) = other_sink.wait_for(1)
    assert theirs.rcpt_tos == ["b@globex.example"]
    mine = db.session.execute(db.select(Message).where(Message.tenant_id == tenant.id)).scalar_one()
    assert mine.status == MessageStatus.FAILED and error in mine.last_error
    assert smtp_sink.messages == []


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    from tests.support.certs import make_certs

    return make_certs(tmp_path_factory.mktemp("certs"))


def test_starttls_with_a_trusted_certificate_delivers(ctx, certs, run_worker):
    from tests.helpers import point_at
    from tests.support.smtp_sink import SmtpSink

    with SmtpSink(starttls_context=certs.server_context("ca_signed"), require_starttls=True) as sink:
        tenant = make_tenant("tls")
        point_at(tenant.id, sink, host="localhost", security="starttls", trusted_ca_pem=certs.ca_cert.read_text())
        _ticket(tenant.id)
        run_worker()
        (mail,) = sink.wait_for(1)
    assert mail.tls
    assert db.session.execute(db.select(Message.status)).scalar_one() == MessageStatus.SENT


def test_starttls_with_an_untrusted_certificate_holds_the_mail_and_says_why(ctx, certs, run_worker):
    from core.models import MailSettings
    from tests.helpers import point_at
    from tests.support.smtp_sink import SmtpSink

    with SmtpSink(starttls_context=certs.server_context("selfsigned"), require_starttls=True) as sink:
        tenant = make_tenant("tls")
        point_at(tenant.id, sink, host="localhost", security="starttls")
        _ticket(tenant.id)
        run_worker()
        assert sink.messages == []
    message = db.session.execute(db.select(Message)).scalar_one()
    assert message.status == MessageStatus.PENDING and "certificate" in message.last_error
    settings = db.session.get(MailSettings, tenant.id)
    db.session.refresh(settings)
    assert "certificate" in settings.broken_reason


def test_one_expander_per_tenant_and_nothing_left_behind(tenant, smtp_sink, run_worker, ctx):
    """A job woken while another expands ends at once and keeps its wake key,
    so no stream of empty jobs follows; the running one, when done, clears
    the key and wakes a successor for what arrived meanwhile."""
    from redis import Redis

    from core import queueing
    from core.mail import jobs

    _ticket(tenant.id)
    running = queueing.TenantMutex("expand_events", tenant.id)  # another worker's expander
    assert running.acquire()
    key = queueing.wake_key("expand_events", tenant.id)
    conn = Redis.from_url(ctx.config["REDIS_URL"])
    conn.set(key, "expand_events-late-job")
    assert jobs.expand_events(tenant.id, key) == 0
    assert conn.get(key) == b"expand_events-late-job"  # further wakes still wait for the running one
    assert not jobs.wake_expander(tenant.id)
    assert db.session.execute(db.select(Event.status)).scalar_one() == EventStatus.NEW
    running.release()

    # Now the one expander. Right after its last look a request commits an
    # event, and that request's wake is swallowed by a key still in place:
    # only the expander's look after letting go can find the event.
    original = jobs._new_events
    looks = []

    def new_events(tenant_id, limit):
        found = original(tenant_id, limit)
        looks.append(limit)
        if limit == jobs.EXPAND_BATCH and not found:
            conn.set(key, "expand_events-swallowing-job")
            _ticket(tenant.id, title="Fenster klemmt")
        return found

    queueing.queue().empty()
    jobs._new_events = new_events
    try:
        assert jobs.expand_events(tenant.id, key) == 1
    finally:
        jobs._new_events = original
    assert looks == [jobs.EXPAND_BATCH, jobs.EXPAND_BATCH, 1]
    assert conn.get(key) not in (None, b"expand_events-swallowing-job")  # the successor's wake
    run_worker()
    assert sorted(m.message["Subject"] for m in smtp_sink.wait_for(2)) == [
        f"[#{n}] Ihre Meldung: {t}" for n, t in ((1, "Heizung fällt aus"), (2, "Fenster klemmt"))
    ]


def test_redis_down_at_commit_fails_no_request_and_the_sweeper_catches_up(
    tenant, smtp_sink, run_worker, app, monkeypatch
):
    from core.mail.sweeper import sweep
    from tests.support.ports import free_port

    # Redis is away when this process first needs its wake-up connection.
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.delitem(app.extensions, "postwerk.redis.wake", raising=False)
    _ticket(tenant.id)  # commits; the wake-up is lost
    assert db.session.execute(db.select(Event.status)).scalar_one() == EventStatus.NEW
    monkeypatch.undo()
    assert sweep(tenant.id)["expand"] == 1
    run_worker()
    assert len(smtp_sink.wait_for(1)) == 1


def test_a_trickle_is_taken_by_the_lingering_jobs_on_one_connection(tenant, smtp_sink, app, tmp_path):
    """A running `postwerk worker`: the first event goes out at once; the
    next one, committed while the jobs linger, enqueues no job (the wake
    key is held) and leaves over the SMTP connection already open."""
    import os
    import subprocess
    import sys
    import time

    from redis import Redis
    from rq import Worker

    from core import queueing

    env = {
        **os.environ,
        "POSTWERK_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "POSTWERK_REDIS_URL": app.config["REDIS_URL"],
        "POSTWERK_ENCRYPTION_KEY": app.config["ENCRYPTION_KEYS"][0],
        "POSTWERK_SECRET_KEY": app.config["SECRET_KEY"],
        "POSTWERK_QUEUE_PREFIX": app.config["QUEUE_PREFIX"],
        # Long enough that the test's next commit surely falls inside it.
        "POSTWERK_LINGER_SECONDS": "10",
        # Production settings relaying to the test sink on loopback (docs/security.md).
        "POSTWERK_TARGET_ALLOWLIST": "127.0.0.1",
    }
    log = open(tmp_path / "worker.log", "wb")
    # Two, as recommended: one lingers as the expander, one as the deliverer.
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "core.cli", "worker", "--name", f"linger-{os.getpid()}-{i}"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for i in range(2)
    ]
    try:
        conn = Redis.from_url(app.config["REDIS_URL"])
        queue_key = queueing.queue().key
        # Both listening first: with one, the expander gives its worker to the
        # queued deliverer (the wait for readiness is not part of the check).
        ready_by = time.monotonic() + 60
        while len(Worker.all(queue=queueing.queue())) < 2 and time.monotonic() < ready_by:
            time.sleep(0.1)
        _ticket(tenant.id)
        smtp_sink.wait_for(1, timeout=30)
        # Both jobs lingering (each holds its wake key while it waits): the
        # first mail can arrive before the expander has finished its batch
        # and begun to linger, and a commit then enqueues a job as it should.
        with app.app_context():
            keys = [queueing.wake_key(job, tenant.id) for job in ("expand_events", "deliver_messages")]
        lingering_by = time.monotonic() + 30
        while not all(conn.exists(key) for key in keys) and time.monotonic() < lingering_by:
            time.sleep(0.01)
        assert all(conn.exists(key) for key in keys), "the jobs never lingered"
        _ticket(tenant.id, title="Fenster klemmt")
        assert conn.llen(queue_key) == 0  # the commit's wake found the expander's key held
        received = smtp_sink.wait_for(2, timeout=30)
        assert [m.message["Subject"] for m in received] == [
            "[#1] Ihre Meldung: Heizung fällt aus",
            "[#2] Ihre Meldung: Fenster klemmt",
        ]
        assert smtp_sink.connections == 1
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(60)
        log.close()
    # Stopped cleanly (a warm shutdown waits for the lingering job): nothing left.
    db.session.expire_all()
    assert {m.status for m in db.session.execute(db.select(Message)).scalars()} == {MessageStatus.SENT}


def test_a_fan_out_renders_once_when_the_template_never_names_the_recipient(tenant, monkeypatch):
    from core.mail import expansion, rendering
    from core.models import DistributionList, Template
    from core.tenancy import get_tenant, tenant_ref

    members = [f"m{i}@example.org" for i in range(5)]
    db.session.add(DistributionList(tenant_id=tenant.id, name="all", addresses=members))
    db.session.add(
        Template(
            tenant_id=tenant.id,
            key="notice",
            language="de",
            subject="Neu: {{ ticket.title }}",
            body_html="<p>{{ ticket.title }}</p>",
            body_text="{{ ticket.title }}",
        )
    )
    db.session.add(
        Template(
            tenant_id=tenant.id,
            key="greeting",
            language="de",
            subject="Hallo {{ recipient.address }}",
            body_html="<p>x</p>",
            body_text="x",
        )
    )
    for rule in db.session.execute(db.select(Rule)).scalars():
        rule.active = False
    db.session.add(Rule(tenant_id=tenant.id, event="TICKET_CREATED", recipient="list:all", template_key="notice"))
    db.session.add(Rule(tenant_id=tenant.id, event="TICKET_CREATED", recipient="list:all", template_key="greeting"))
    db.session.commit()
    renders = []
    original = rendering.render
    monkeypatch.setattr(
        rendering, "render", lambda source, *a, **kw: renders.append(source) or original(source, *a, **kw)
    )
    payload = {
        "ticket": {
            "id": 1,
            "title": "Heizung",
            "description": "",
            "status": "open",
            "reporter": {"name": "E", "email": "e@example.org", "language": "de"},
            "assignee": None,
            "watchers": [],
        }
    }
    notice, greeting = [
        p for p in expansion.plan(tenant_ref(get_tenant(tenant.id)), "TICKET_CREATED", payload) if p.fires
    ]
    assert [m.recipient.address for m in notice.mails] == members
    assert {(m.subject, m.body_text) for m in notice.mails} == {("Neu: Heizung", "Heizung")}
    assert renders.count("Neu: {{ ticket.title }}") == 1  # once, not once per member
    assert [m.subject for m in greeting.mails] == [f"Hallo {a}" for a in members]  # per recipient


def test_an_event_emitted_in_a_savepoint_wakes_the_expander_after_the_commit(tenant, ctx):
    """Inbound mail takes a batch in one transaction with a savepoint per mail:
    releasing a savepoint is no commit (no wake yet: an expander would find
    nothing), and a later savepoint rolled back keeps the wake of the events
    before it (else they waited for the sweeper)."""
    from redis import Redis

    from core import queueing
    from tests.test_http_api import TICKET

    key = queueing.wake_key("expand_events", tenant.id)
    conn = Redis.from_url(ctx.config["REDIS_URL"])
    db.session.commit()  # whatever the fixtures left
    conn.delete(key)

    with db.session.begin_nested():
        emit(tenant, "TICKET_CREATED", TICKET)
    assert conn.get(key) is None  # released, not committed
    savepoint = db.session.begin_nested()
    db.session.execute(db.text("SELECT 1"))
    savepoint.rollback()
    assert conn.get(key) is None
    db.session.commit()

    assert conn.get(key) is not None
    assert db.session.execute(db.select(Event.status)).scalar_one() == EventStatus.NEW
