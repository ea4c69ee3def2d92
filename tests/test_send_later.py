"""Send later: emit(send_at=), "send_at" in the HTTP API, rules with a delay,
scheduled mail on the queue page and its cancellation.

A scheduled mail is a PENDING row due at its time: the claim skips it, a
Redis flush loses nothing, and the sweeper wakes a deliverer once it is due.
"Time passing" is simulated by moving the row's due time, never by waiting.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from redis import Redis
from sqlalchemy import update

from core import api_tokens
from core.events import MAX_SEND_AHEAD, SendAtError, emit
from core.extensions import db
from core.mail.delivery import claim
from core.mail.sweeper import sweep
from core.models import Event, Message, MessageStatus, Rule
from core.models.types import utcnow
from tests.helpers import csrf_token
from tests.test_admin_pages import BASE, admin, page  # noqa: F401  (fixture)
from tests.test_http_api import TICKET

BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def _messages():
    db.session.expire_all()
    return db.session.execute(db.select(Message).order_by(Message.id)).scalars().all()


def _make_due():
    db.session.execute(
        update(Message)
        .where(Message.status == MessageStatus.PENDING)
        .values(next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()


@BACKENDS
def test_scheduled_mail_waits_in_the_database_survives_a_flush_and_goes_when_due(tenant, smtp_sink, run_worker, config):
    when = (utcnow() + timedelta(hours=3)).replace(microsecond=0)
    emit(tenant.id, "TICKET_CREATED", TICKET, send_at=when)
    db.session.commit()
    run_worker()
    (message,) = _messages()
    assert message.status == MessageStatus.PENDING and message.next_attempt_at == when
    assert smtp_sink.messages == []
    assert claim(tenant.id, 10)[1] == []  # not due: no worker takes it
    Redis.from_url(config["REDIS_URL"]).flushall()
    assert sweep(tenant.id)["deliver"] == 0  # nothing due yet
    run_worker()
    assert smtp_sink.messages == [] and _messages()[0].status == MessageStatus.PENDING
    _make_due()  # three hours later
    assert sweep(tenant.id)["deliver"] == 1
    run_worker()
    (mail,) = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ["erika@example.org"]
    assert _messages()[0].status == MessageStatus.SENT


def test_emit_refuses_a_naive_or_far_send_at_and_takes_a_past_one_as_now(tenant):
    with pytest.raises(SendAtError, match="time zone"):
        emit(tenant.id, "TICKET_CREATED", TICKET, send_at=datetime.now())
    with pytest.raises(SendAtError, match="366 days"):
        emit(tenant.id, "TICKET_CREATED", TICKET, send_at=utcnow() + MAX_SEND_AHEAD + timedelta(hours=1))
    emit(tenant.id, "TICKET_CREATED", TICKET, send_at=utcnow() - timedelta(minutes=5))
    db.session.commit()
    (event,) = db.session.execute(db.select(Event)).scalars().all()
    assert event.send_at is None


@pytest.fixture
def token(tenant):
    _, value = api_tokens.create(tenant.id, "ERP", actor="test")
    db.session.commit()
    return value


@pytest.mark.parametrize(
    "send_at, why",
    [
        ("2026-13-01T09:00:00+01:00", "not an ISO 8601"),
        ("tomorrow", "not an ISO 8601"),
        (1767254400, "ISO 8601 time with a time zone"),
        ("2026-12-24T09:00:00", "time zone"),
        ("2999-12-24T09:00:00+01:00", "366 days"),
    ],
)
def test_the_api_refuses_a_bad_send_at_with_422(tenant, token, client, send_at, why):
    response = client.post(
        "/api/v1/events",
        json={"event": "TICKET_CREATED", "payload": TICKET, "send_at": send_at},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422, response.json
    assert response.json["field"] == "send_at" and why in response.json["error"]
    assert db.session.execute(db.select(Event)).scalars().all() == []


def test_the_api_schedules_with_send_at(tenant, token, client, run_worker, smtp_sink):
    when = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    response = client.post(
        "/api/v1/events",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "event": "TICKET_CREATED",
            "payload": TICKET,
            "send_at": when.astimezone(timezone(timedelta(hours=1))).isoformat(),
        },
    )
    assert response.status_code == 202, response.json
    run_worker()
    (message,) = _messages()
    assert message.status == MessageStatus.PENDING and message.next_attempt_at == when
    assert smtp_sink.messages == []


def test_a_rule_with_a_delay_writes_its_mail_due_that_long_after_the_event(tenant, run_worker, smtp_sink):
    rule = (
        db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant.id, Rule.event == "TICKET_CREATED"))
        .scalars()
        .first()
    )
    rule.delay_minutes = 24 * 60
    db.session.commit()
    emit(tenant.id, "TICKET_CREATED", TICKET)
    db.session.commit()
    run_worker()
    (event,) = db.session.execute(db.select(Event)).scalars().all()
    (message,) = _messages()
    assert message.status == MessageStatus.PENDING
    assert message.next_attempt_at == event.created_at + timedelta(hours=24)
    assert smtp_sink.messages == []


def test_the_rule_form_saves_the_delay(admin, tenant):
    rule = db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant.id)).scalars().first()
    html = page(admin, f"{BASE}/rules/edit?id={rule.id}")
    assert 'name="delay_minutes"' in html
    response = admin.post(
        BASE + "/rules/save",
        data={
            "csrf_token": csrf_token(html),
            "id": rule.id,
            "name": rule.name,
            "event": rule.event,
            "recipient_kind": rule.recipient.partition(":")[0],
            f"recipient_{rule.recipient.partition(':')[0]}": rule.recipient.partition(":")[2],
            "template_key": rule.template_key,
            "delay_minutes": "1440",
            "active": "y",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    db.session.expire_all()
    assert db.session.get(Rule, rule.id).delay_minutes == 1440


@BACKENDS
def test_the_queue_shows_scheduled_mail_with_its_local_time_and_cancel_beats_a_later_claim(
    admin, tenant, run_worker, smtp_sink
):
    when = datetime(utcnow().year + 1, 1, 15, 8, 30, tzinfo=timezone.utc)
    if when - utcnow() > MAX_SEND_AHEAD:
        when = (utcnow() + timedelta(days=30)).replace(hour=8, minute=30, second=0, microsecond=0)
    emit(tenant.id, "TICKET_CREATED", TICKET, send_at=when)
    db.session.commit()
    run_worker()
    (message,) = _messages()
    html = page(admin, BASE + "/queue")
    assert "status-scheduled" in html
    # The tenant reads Europe/Berlin time (UTC+1 in January, +2 in summer).
    shown = when.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert shown.strftime("%Y-%m-%d %H:%M:%S") in html
    response = admin.post(BASE + "/queue/cancel", data={"csrf_token": csrf_token(html), "id": message.id})
    assert response.status_code == 302
    assert _messages()[0].status == MessageStatus.CANCELLED
    _make_due()
    assert claim(tenant.id, 10)[1] == []
    run_worker()
    assert smtp_sink.messages == []
    # A second cancel (or one after a claim) changes nothing.
    response = admin.post(
        BASE + "/queue/cancel", data={"csrf_token": csrf_token(html), "id": message.id}, follow_redirects=True
    )
    assert "nothing changed" in response.get_data(as_text=True) or "nichts" in response.get_data(as_text=True)


@BACKENDS
def test_a_claimed_message_cannot_be_cancelled(admin, tenant, run_worker):
    emit(tenant.id, "TICKET_CREATED", TICKET, send_at=utcnow() + timedelta(hours=1))
    db.session.commit()
    run_worker()
    _make_due()
    token, taken = claim(tenant.id, 10)
    assert len(taken) == 1
    html = page(admin, BASE + "/queue")
    response = admin.post(
        BASE + "/queue/cancel", data={"csrf_token": csrf_token(html), "id": taken[0]}, follow_redirects=True
    )
    text = response.get_data(as_text=True)
    assert "nothing changed" in text or "nichts geändert" in text
    assert _messages()[0].status == MessageStatus.SENDING


# --- the priority lane ---------------------------------------------------------


@BACKENDS
def test_the_claim_takes_a_system_mail_before_an_older_bulk_backlog(tenant):
    from core.mail import mime
    from core.models.message import Priority

    old = utcnow() - timedelta(minutes=10)
    values = dict(
        tenant_id=tenant.id,
        sender="noreply@acme.example",
        subject="bulk",
        body_text="x",
        status=MessageStatus.PENDING,
        next_attempt_at=old,
        priority=Priority.BULK,
    )
    db.session.execute(
        db.insert(Message),
        [
            dict(values, message_id=mime.new_message_id("acme.example"), recipients=[f"user{n}@example.org"])
            for n in range(300)
        ],
    )
    db.session.commit()
    emit(tenant.id, "TICKET_CREATED", TICKET, priority=Priority.SYSTEM)
    db.session.commit()
    from core.mail import jobs

    jobs.expand_events(tenant.id)
    db.session.remove()
    (system,) = db.session.execute(db.select(Message).where(Message.event_id.is_not(None))).scalars().all()
    assert system.priority == Priority.SYSTEM
    _, taken = claim(tenant.id, 10, by=(None, None))
    assert system.id in taken and len(taken) == 10


def test_a_rule_priority_is_set_in_the_form_and_carried_to_its_mail(admin, tenant, run_worker):
    from core.models.message import Priority

    rule = (
        db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant.id, Rule.event == "TICKET_CREATED"))
        .scalars()
        .first()
    )
    html = page(admin, f"{BASE}/rules/edit?id={rule.id}")
    kind, _, value = rule.recipient.partition(":")
    response = admin.post(
        BASE + "/rules/save",
        data={
            "csrf_token": csrf_token(html),
            "id": rule.id,
            "name": rule.name,
            "event": rule.event,
            "recipient_kind": kind,
            f"recipient_{kind}": value,
            "template_key": rule.template_key,
            "delay_minutes": "0",
            "priority": "0",
            "active": "y",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    emit(tenant.id, "TICKET_CREATED", TICKET)
    db.session.commit()
    run_worker()
    assert [m.priority for m in _messages()] == [Priority.BULK]
    with pytest.raises(ValueError, match="priority"):
        emit(tenant.id, "TICKET_CREATED", TICKET, priority=7)


def test_the_expander_takes_a_system_event_before_older_ones(tenant):
    from core.mail import jobs
    from core.models.message import Priority

    for _n in range(5):
        emit(tenant.id, "TICKET_CREATED", TICKET)
    system = emit(tenant.id, "TICKET_CREATED", TICKET, priority=Priority.SYSTEM)
    db.session.commit()
    assert jobs._new_events(tenant.id, 2)[0] == system.id
