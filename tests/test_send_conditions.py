"""The send-time condition: "remind 24 hours after TICKET_CREATED, only if the
ticket is still open", asked of the plugins through postwerk_send_condition
when the delayed mail is due (a real worker, a real SMTP sink).

"Time passing" is simulated by moving the row's due time, never by waiting.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from core.api import hookimpl
from core.app import create_app
from core.extensions import db
from core.mail.sweeper import sweep
from core.models import AuditEntry, Message, MessageStatus, Rule
from core.models.types import utcnow
from plugins.ticket import service
from tests.helpers import csrf_token, drain, make_tenant
from tests.test_admin_pages import BASE, admin, page  # noqa: F401  (fixture)


def _reminder_rule(tenant_id: int, condition: str = "ticket_open") -> Rule:
    rule = Rule(
        tenant_id=tenant_id,
        name="Reminder",
        event="TICKET_CREATED",
        recipient="address:max@example.org",
        template_key="ticket_created",
        active=True,
        delay_minutes=24 * 60,
        send_condition=condition,
    )
    db.session.add(rule)
    db.session.commit()
    return rule


def _ticket(tenant_id: int):
    ticket = service.create_ticket(
        tenant_id,
        title="Heizung fällt aus",
        description="Bad kalt",
        reporter_name="Erika Mustermann",
        reporter_email="erika@example.org",
        reporter_language="de",
    )
    db.session.commit()
    return ticket


def _reminder(rule: Rule) -> Message:
    db.session.expire_all()
    return db.session.execute(db.select(Message).where(Message.rule_id == rule.id)).scalar_one()


def _make_due(message_pk: int) -> None:
    db.session.execute(
        update(Message).where(Message.id == message_pk).values(next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()


def _to_max(sink) -> list:
    return [m for m in sink.messages if m.rcpt_tos == ["max@example.org"]]


def test_a_reminder_for_a_closed_ticket_is_cancelled_with_the_reason_in_the_queue(admin, tenant, smtp_sink, run_worker):
    rule = _reminder_rule(tenant.id)
    ticket = _ticket(tenant.id)
    run_worker()
    reminder = _reminder(rule)
    assert reminder.status == MessageStatus.PENDING and reminder.send_condition == "ticket_open"
    service.change_status(tenant.id, ticket.id, "closed")
    db.session.commit()
    _make_due(reminder.id)  # 24 hours later
    sweep(tenant.id)
    run_worker()
    reminder = _reminder(rule)
    assert reminder.status == MessageStatus.CANCELLED
    assert reminder.last_error == (
        "not sent: the condition 'only if the ticket is not closed when the mail is due' no longer holds"
    )
    assert _to_max(smtp_sink) == []
    # The reporter's own mails (created, closed) went out as usual.
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == ["erika@example.org", "erika@example.org"]
    actions = (
        db.session.execute(
            db.select(AuditEntry.action).where(
                AuditEntry.object_type == "message", AuditEntry.object_id == str(reminder.id)
            )
        )
        .scalars()
        .all()
    )
    assert "mail.condition_cancelled" in actions
    body = page(admin, f"{BASE}/queue/body?id={reminder.id}")
    assert "no longer holds" in body or "nicht mehr" in body


def test_a_reminder_for_an_open_ticket_goes_out_when_due(tenant, smtp_sink, run_worker):
    rule = _reminder_rule(tenant.id)
    ticket = _ticket(tenant.id)
    run_worker()
    service.change_status(tenant.id, ticket.id, "in_progress")  # still open
    db.session.commit()
    reminder = _reminder(rule)
    _make_due(reminder.id)
    sweep(tenant.id)
    run_worker()
    assert _reminder(rule).status == MessageStatus.SENT
    assert len(_to_max(smtp_sink)) == 1


def test_without_the_condition_the_reminder_for_a_closed_ticket_goes_out(tenant, smtp_sink, run_worker):
    rule = _reminder_rule(tenant.id, condition="")
    ticket = _ticket(tenant.id)
    run_worker()
    service.change_status(tenant.id, ticket.id, "closed")
    db.session.commit()
    _make_due(_reminder(rule).id)
    sweep(tenant.id)
    run_worker()
    assert _reminder(rule).status == MessageStatus.SENT and len(_to_max(smtp_sink)) == 1


class RaisingCondition:
    @hookimpl(tryfirst=True)
    def postwerk_send_condition(self, tenant, event, condition, payload):
        raise RuntimeError("database of the contracts is away")


@pytest.fixture
def raising_app(config):
    app = create_app(config, extra_plugins={"raiser": RaisingCondition()})
    with app.app_context():
        yield app
        db.engine.dispose()


def test_a_raising_condition_hook_names_the_plugin_and_retries_and_another_plugin_is_not_asked_in_vain(
    raising_app, smtp_sink
):
    tenant = make_tenant("acme", smtp_sink, plugins=("ticket", "raiser"))
    rule = _reminder_rule(tenant.id)
    only_raiser = _reminder_rule(tenant.id, condition="moon_is_full")
    _ticket(tenant.id)
    drain(raising_app)
    for r in (rule, only_raiser):
        _make_due(_reminder(r).id)
    sweep(tenant.id)
    drain(raising_app)
    # The ticket plugin answered after the raiser failed: the mail went out.
    reminder = _reminder(rule)
    assert reminder.status == MessageStatus.SENT, reminder.last_error
    # Nobody else answers this one: retried later like a temporary error, the plugin named.
    held = _reminder(only_raiser)
    assert held.status == MessageStatus.PENDING and held.attempts == 1
    assert "plugin 'raiser' failed in postwerk_send_condition" in held.last_error
    assert held.next_attempt_at > utcnow()


def test_a_condition_nobody_answers_fails_the_message_with_the_reason(tenant, smtp_sink, run_worker):
    rule = _reminder_rule(tenant.id, condition="moon_is_full")
    _ticket(tenant.id)
    run_worker()
    _make_due(_reminder(rule).id)
    sweep(tenant.id)
    run_worker()
    reminder = _reminder(rule)
    assert reminder.status == MessageStatus.FAILED
    assert reminder.last_error == "no enabled plugin checks the send-time condition 'moon_is_full' of TICKET_CREATED"
    assert _to_max(smtp_sink) == []


def _save(admin, rule: Rule, **fields):
    html = page(admin, f"{BASE}/rules/edit?id={rule.id}")
    kind, _, value = rule.recipient.partition(":")
    data = {
        "csrf_token": csrf_token(html),
        "id": rule.id,
        "name": rule.name,
        "event": rule.event,
        "recipient_kind": kind,
        f"recipient_{kind}": value,
        "template_key": rule.template_key,
        "delay_minutes": "1440",
        "priority": "1",
        "active": "y",
        **fields,
    }
    return html, admin.post(BASE + "/rules/save", data=data)


def test_the_rule_form_offers_the_events_conditions_and_refuses_another(admin, tenant):
    rule = (
        db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant.id, Rule.event == "TICKET_CREATED"))
        .scalars()
        .first()
    )
    html, response = _save(admin, rule, send_condition="ticket_open")
    assert 'name="send_condition"' in html and 'value="ticket_open"' in html
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    db.session.expire_all()
    assert db.session.get(Rule, rule.id).send_condition == "ticket_open"
    _, response = _save(admin, rule, send_condition="moon_is_full")
    assert response.status_code == 400
    assert "ticket_open" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Rule, rule.id).send_condition == "ticket_open"
