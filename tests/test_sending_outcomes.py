"""Outgoing mail against misbehaving SMTP servers: RELIABILITY cases 1-4, 13 (password), 18, 19."""

from __future__ import annotations

import math
import time

import pytest

from core.extensions import db
from core.mail import delivery
from core.models import MailSettings, MessageStatus
from core.models.types import utcnow
from tests.helpers import point_at
from tests.sending_helpers import audits, deliver, make_due, notifications, queue_message
from tests.support.ports import free_port
from tests.support.smtp_sink import Behaviour, SmtpSink


# --- 1. refused / timed out -> retries, then FAILED with the server's words ----


def test_refused_connection_is_retried_three_times_then_failed_with_an_audit_entry(tenant, ctx):
    closed = type("Closed", (), {"host": "127.0.0.1", "port": free_port()})()
    point_at(tenant.id, closed)
    message = queue_message(tenant.id)
    for attempt in (1, 2, 3):
        stats = deliver(tenant.id)
        assert stats.retried == 1
        assert (message.status, message.attempts) == (MessageStatus.PENDING, attempt)
        assert "cannot connect to 127.0.0.1" in message.last_error
        make_due(message)
    deliver(tenant.id)
    assert (message.status, message.attempts) == (MessageStatus.FAILED, 4)
    assert "no SMTP server answered" in message.last_error
    (entry,) = audits(tenant.id, "mail.failed")
    assert entry.object_id == str(message.id) and "no SMTP server answered" in entry.detail["reason"]
    assert any(n.level == "error" and n.message_pk == message.id for n in notifications(tenant.id))


def test_default_retry_delays_are_5s_30s_5min(tenant, ctx, app):
    app.config.pop("RETRY_DELAYS")
    assert delivery.RETRY_DELAYS == (5, 30, 300)
    point_at(tenant.id, type("Closed", (), {"host": "127.0.0.1", "port": free_port()})())
    message = queue_message(tenant.id)
    for expected in (5, 30, 300):
        before = utcnow()
        deliver(tenant.id)
        assert message.status == MessageStatus.PENDING
        delay = (message.next_attempt_at - before).total_seconds()
        assert expected - 1 < delay <= expected + 1
        make_due(message)
    deliver(tenant.id)
    assert message.status == MessageStatus.FAILED


def test_greeting_that_never_comes_times_out_and_frees_the_worker(tenant, ctx, app, smtp_sink):
    app.config["SMTP_TIMEOUT"] = 0.5
    assert app.config["SMTP_TIMEOUT"] < app.config["DELIVERY_JOB_TIMEOUT"]
    smtp_sink.behaviour.hang_after_connect = math.inf
    message = queue_message(tenant.id)
    stats = deliver(tenant.id)  # returns: the worker is free again
    assert stats.retried == 1
    assert message.status == MessageStatus.PENDING and "no SMTP server answered" in message.last_error
    smtp_sink.behaviour.hang_after_connect = 0
    make_due(message)
    deliver(tenant.id)
    assert message.status == MessageStatus.SENT
    assert smtp_sink.count_by_message_id()[message.message_id] == 1


def test_one_connection_carries_all_due_mail_of_the_tenant(tenant, ctx, smtp_sink):
    messages = [queue_message(tenant.id) for _ in range(5)]
    deliver(tenant.id)
    assert {m.status for m in messages} == {MessageStatus.SENT}
    assert smtp_sink.connections == 1


# --- 2. 4xx retry, 5xx FAILED at once, per-recipient results ------------------


def test_4xx_is_retried_and_then_delivered_once(tenant, ctx, smtp_sink):
    smtp_sink.behaviour.data_reply = ["451 4.3.0 try later"]
    message = queue_message(tenant.id)
    deliver(tenant.id)
    assert (message.status, message.attempts) == (MessageStatus.PENDING, 1)
    assert "451 4.3.0 try later" in message.last_error
    make_due(message)
    deliver(tenant.id)
    assert message.status == MessageStatus.SENT and message.attempts == 2
    assert smtp_sink.count_by_message_id() == {message.message_id: 1}


def test_5xx_fails_at_once_with_the_servers_words(tenant, ctx, smtp_sink):
    smtp_sink.behaviour.data_reply = "554 5.7.1 rejected as spam"
    message = queue_message(tenant.id)
    deliver(tenant.id)
    assert (message.status, message.attempts) == (MessageStatus.FAILED, 1)
    assert "554 5.7.1 rejected as spam" in message.last_error
    assert audits(tenant.id, "mail.failed")
    assert smtp_sink.messages == []


def test_one_rejected_recipient_of_three_keeps_the_other_two(tenant, ctx, smtp_sink):
    smtp_sink.behaviour.rcpt_replies = {"gone@example.org": "550 5.1.1 no such user"}
    message = queue_message(tenant.id, recipients=["a@example.org", "gone@example.org", "b@example.org"])
    deliver(tenant.id)
    assert message.status == MessageStatus.SENT
    assert message.rcpt_results["gone@example.org"].startswith("550 5.1.1")
    assert message.rcpt_results["a@example.org"].startswith("250")
    assert message.rcpt_results["b@example.org"].startswith("250")
    assert "not delivered to gone@example.org" in message.last_error
    (mail,) = smtp_sink.messages
    assert mail.rcpt_tos == ["a@example.org", "b@example.org"]
    assert audits(tenant.id, "mail.recipients_refused")
    assert any("gone@example.org" in n.text for n in notifications(tenant.id))


def test_all_recipients_refused_permanently_is_failed(tenant, ctx, smtp_sink):
    smtp_sink.behaviour.rcpt_replies = {"gone@example.org": "550 5.1.1 no such user"}
    message = queue_message(tenant.id, recipients=["gone@example.org"])
    deliver(tenant.id)
    assert message.status == MessageStatus.FAILED and "550 5.1.1" in message.last_error


# --- 3. link drops after the final dot -> UNKNOWN, never resent ------------------


def test_drop_after_data_is_unknown_shown_and_not_resent(tenant, ctx, smtp_sink, client):
    smtp_sink.behaviour.drop_after_data = 1
    message = queue_message(tenant.id)
    second = queue_message(tenant.id)
    stats = deliver(tenant.id)
    assert message.status == MessageStatus.UNKNOWN and stats.unknown == 1
    assert "may or may not have been delivered" in message.last_error
    # The next message got a fresh connection and went out.
    assert second.status == MessageStatus.SENT
    deliver(tenant.id)
    assert message.status == MessageStatus.UNKNOWN
    assert smtp_sink.count_by_message_id()[message.message_id] == 1  # the "dropped" copy only
    assert any(n.level == "warning" and n.message_pk == message.id for n in notifications(tenant.id))


def test_silence_after_the_final_dot_is_unknown(tenant, ctx, app, smtp_sink):
    app.config["SMTP_TIMEOUT"] = 0.5
    smtp_sink.behaviour.hang_after_data = math.inf
    message = queue_message(tenant.id)
    deliver(tenant.id)
    assert message.status == MessageStatus.UNKNOWN


# --- 4. 421 to DATA, no greeting ----------------------------------------------


def test_421_to_data_is_temporary(tenant, ctx, smtp_sink):
    smtp_sink.behaviour.data_command_reply = ["421 4.3.2 shutting down"]
    message = queue_message(tenant.id)
    deliver(tenant.id)
    assert (message.status, message.attempts) == (MessageStatus.PENDING, 1)
    assert "421" in message.last_error
    make_due(message)
    deliver(tenant.id)
    assert message.status == MessageStatus.SENT


@pytest.mark.parametrize(
    "behaviour", [Behaviour(no_greeting=True), Behaviour(greeting_reply="421 4.3.2 Service not available")]
)
def test_no_greeting_is_temporary(tenant, ctx, behaviour):
    with SmtpSink(behaviour=behaviour) as sink:
        point_at(tenant.id, sink)
        message = queue_message(tenant.id)
        deliver(tenant.id)
        assert (message.status, message.attempts) == (MessageStatus.PENDING, 1)
        assert db.session.get(MailSettings, tenant.id).broken_reason is None


def test_the_worker_job_finishes_and_schedules_the_retry(tenant, ctx, app, smtp_sink, run_worker):
    """Through a real RQ worker: the retry is woken, not lost."""
    smtp_sink.behaviour.data_reply = ["451 4.3.0 try later"]
    message = queue_message(tenant.id)
    from core.mail.jobs import wake_deliverer

    wake_deliverer(tenant.id)
    run_worker(wait_retries=True)
    db.session.expire_all()
    assert message.status == MessageStatus.SENT and message.attempts == 2


# --- 13 (password). AUTH rejected -> configuration error, no retry storm ---------


@pytest.mark.parametrize(
    "reply", [None, "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."]
)
def test_rejected_login_stops_the_tenants_sending_and_tells_the_admin(tenant, ctx, client, reply):
    from aiosmtpd.smtp import AuthResult

    from core.crypto import encrypt
    from tests.helpers import login

    sink = SmtpSink(auth={"user": "right"})
    if reply:
        sink._authenticate = lambda *a: AuthResult(success=False, handled=False, message=reply)
    with sink:
        point_at(tenant.id, sink, auth="password", username="user", password_encrypted=encrypt("wrong"))
        messages = [queue_message(tenant.id) for _ in range(3)]
        stats = deliver(tenant.id)
        assert stats.held and stats.retried == 0 and stats.failed == 0
        for m in messages:
            assert (m.status, m.attempts) == (MessageStatus.PENDING, 0)
        settings = db.session.get(MailSettings, tenant.id)
        assert "535" in settings.broken_reason
        if reply:
            assert "5.7.139" in settings.broken_reason
        assert audits(tenant.id, "mail.sending_broken")
        # Held, not retried: the next job attempts nothing.
        assert deliver(tenant.id).held.startswith("sending is stopped")
        assert sink.connections == 1
        login(client)
        assert settings.broken_reason in client.get("/").get_data(as_text=True)
        assert sink.messages == []


# --- 18. header injection ----------------------------------------------------------


@pytest.mark.parametrize("field", ["subject", "recipient", "sender_name"])
def test_crlf_in_a_header_value_is_refused_and_adds_no_recipient(tenant, ctx, smtp_sink, field):
    values = {"subject": "Hallo", "recipients": ["erika@example.org"], "sender_name": "Acme"}
    evil = "x\r\nBcc: evil@x.example"
    if field == "recipient":
        values["recipients"] = ["erika@example.org" + evil]
    else:
        values[field] = evil
    message = queue_message(tenant.id, **values)
    deliver(tenant.id)
    assert message.status == MessageStatus.FAILED
    assert "line break" in message.last_error or "not a valid" in message.last_error
    assert smtp_sink.messages == []


# --- 19. non-ASCII, ISO-8859-1, IDN, SMTPUTF8 ----------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "iso-8859-1"])
def test_non_ascii_names_subject_and_body_are_correct_mime(tenant, ctx, smtp_sink, encoding):
    point_at(tenant.id, smtp_sink, encoding=encoding, sender_address="post@acme.example")
    message = queue_message(
        tenant.id,
        subject="Größere Wärme für Müller – Übergabe",
        sender_name="Hausverwaltung Jürgen Weiß",
        body="Sehr geehrte Frau Jäger, grüß Gott.",
        html="<p>Grüße aus Köln</p>",
    )
    deliver(tenant.id)
    assert message.status == MessageStatus.SENT
    (mail,) = smtp_sink.messages
    assert mail.raw.isascii()  # everything encoded: no 8-bit header reaches a 7-bit server
    assert mail.message["Subject"] == "Größere Wärme für Müller – Übergabe"
    assert mail.message["From"].addresses[0].display_name == "Hausverwaltung Jürgen Weiß"
    plain = mail.message.get_body(("plain",))
    assert plain.get_content_charset() == encoding
    assert plain.get_content().strip() == "Sehr geehrte Frau Jäger, grüß Gott."
    assert "Grüße aus Köln" in mail.message.get_body(("html",)).get_content()


def test_iso_8859_1_replaces_characters_it_cannot_carry(tenant, ctx, smtp_sink):
    point_at(tenant.id, smtp_sink, encoding="iso-8859-1")
    message = queue_message(tenant.id, body="Preis: 5 € ✓")
    deliver(tenant.id)
    assert message.status == MessageStatus.SENT
    (mail,) = smtp_sink.messages
    assert mail.message.get_body(("plain",)).get_content().strip() == "Preis: 5 ? ?"


def test_idn_domain_goes_out_as_punycode_without_smtputf8(tenant, ctx, smtp_sink):
    message = queue_message(tenant.id, recipients=["info@bücher.example"])
    deliver(tenant.id)
    assert message.status == MessageStatus.SENT
    (mail,) = smtp_sink.messages
    assert mail.rcpt_tos == ["info@xn--bcher-kva.example"]
    assert "SMTPUTF8" not in str(mail.raw[:0])
    assert mail.message["To"].addresses[0].domain in ("xn--bcher-kva.example", "bücher.example")


def test_international_local_part_is_a_clear_error_without_smtputf8(tenant, ctx):
    sink = SmtpSink().start()
    try:
        # The sink offers SMTPUTF8 by default; new sessions pick this up.
        sink._controller.SMTP_kwargs["enable_SMTPUTF8"] = False
        point_at(tenant.id, sink)
        message = queue_message(tenant.id, recipients=["jürgen@example.org"])
        deliver(tenant.id)
        assert message.status == MessageStatus.FAILED
        assert "does not support SMTPUTF8" in message.last_error
        assert sink.messages == []
    finally:
        sink.stop()


def test_international_local_part_uses_smtputf8_when_offered(tenant, ctx, smtp_sink):
    message = queue_message(tenant.id, recipients=["jürgen@example.org"], subject="Grüße")
    deliver(tenant.id)
    assert message.status == MessageStatus.SENT, message.last_error
    (mail,) = smtp_sink.messages
    assert mail.rcpt_tos == ["jürgen@example.org"]
    assert "jürgen@example.org" in mail.raw.decode("utf-8")


def test_every_mail_carries_auto_submitted_and_its_fixed_message_id(tenant, ctx, smtp_sink):
    smtp_sink.behaviour.data_reply = ["451 4.3.0 later"]
    message = queue_message(tenant.id)
    deliver(tenant.id)
    make_due(message)
    deliver(tenant.id)
    (mail,) = smtp_sink.messages
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert mail.message["Message-ID"] == message.message_id


# --- sender -----------------------------------------------------------------------


def test_user_sender_mode_uses_the_users_address_unless_the_server_forbids_it(tenant, ctx, smtp_sink):
    point_at(tenant.id, smtp_sink, sender_address="system@acme.example", sender_mode="user")
    queue_message(tenant.id, sender="hausmeister@acme.example", sender_name="Hausmeister")
    deliver(tenant.id)
    (mail,) = smtp_sink.messages
    assert mail.message["From"].addresses[0].addr_spec == "hausmeister@acme.example"
    assert mail.mail_from == "system@acme.example"  # bounces reach the system mailbox
    smtp_sink.clear()
    point_at(tenant.id, smtp_sink, sender_address="system@acme.example", system_sender_only=True)
    queue_message(tenant.id, sender="hausmeister@acme.example", reply_to="hausmeister@acme.example")
    deliver(tenant.id)
    (mail,) = smtp_sink.messages
    assert mail.message["From"].addresses[0].addr_spec == "system@acme.example"
    assert mail.message["Reply-To"].addresses[0].addr_spec == "hausmeister@acme.example"


def test_server_refusing_the_users_address_forces_the_system_sender(tenant, ctx, smtp_sink):
    point_at(tenant.id, smtp_sink, sender_address="system@acme.example", sender_mode="user")
    smtp_sink.behaviour.data_reply = [
        "554 5.2.252 SendAsDenied; system@acme.example not allowed to send as hausmeister@acme.example"
    ]
    message = queue_message(tenant.id, sender="hausmeister@acme.example")
    deliver(tenant.id)
    assert message.status == MessageStatus.SENT, message.last_error
    (mail,) = smtp_sink.messages
    assert mail.message["From"].addresses[0].addr_spec == "system@acme.example"
    assert db.session.get(MailSettings, tenant.id).system_sender_only is True
    assert audits(tenant.id, "mail.system_sender_forced")


def test_a_job_past_its_time_budget_hands_the_rest_to_a_successor(tenant, ctx, app, smtp_sink, monkeypatch):
    # The first message stalls for a whole socket timeout (0.5 s), which is
    # more than the whole job budget (0.2 s): the other two must not wait.
    app.config["SMTP_TIMEOUT"] = 0.5
    monkeypatch.setattr(delivery, "JOB_BUDGET_SECONDS", 0.2)
    smtp_sink.behaviour.hang_after_data = math.inf
    first, *rest = [queue_message(tenant.id) for _ in range(3)]
    stats = deliver(tenant.id)
    assert stats.more and first.status == MessageStatus.UNKNOWN
    assert [(m.status, m.attempts, m.claim_token) for m in rest] == [(MessageStatus.PENDING, 0, None)] * 2


def test_after_its_fair_share_a_job_makes_way_for_waiting_jobs(tenant, ctx, app, smtp_sink, monkeypatch):
    """One tenant's backlog must not keep a worker while other tenants' jobs
    wait: after its share the job sends no further batch and queues its
    successor behind them; with nobody waiting it goes on."""
    from core.mail import jobs
    from core.queueing import queue

    monkeypatch.setattr(delivery, "BATCH_SIZE", 3)
    monkeypatch.setitem(app.config, "FAIR_SHARE_SECONDS", 0)
    for _ in range(7):
        queue_message(tenant.id)
    assert deliver(tenant.id).sent == 7  # the queue is empty: nobody to make way for

    ids = [queue_message(tenant.id).id for _ in range(7)]
    other = queue().enqueue(len, [])  # another tenant's job, waiting
    assert jobs.deliver_messages(tenant.id)["sent"] == 3
    statuses = (
        db.session.execute(
            db.select(delivery.Message.status).where(delivery.Message.id.in_(ids)).order_by(delivery.Message.id)
        )
        .scalars()
        .all()
    )
    assert statuses == [MessageStatus.SENT] * 3 + [MessageStatus.PENDING] * 4
    waiting = queue().get_job_ids()
    assert waiting[0] == other.id and waiting[1].startswith("deliver_messages-")  # the successor, behind


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_a_claim_taken_back_before_sent_is_written_stays_with_the_sweeper(tenant, ctx, smtp_sink, monkeypatch):
    """The SENT group is written in one statement; should the sweeper have
    taken one message back meanwhile, only that one is left alone."""
    messages = [queue_message(tenant.id) for _ in range(4)]
    taken_back = messages[2]
    original = delivery.Delivery._write_sent

    def sweeper_first(self):
        if self._sent:
            with db.engine.begin() as conn:
                conn.execute(
                    db.update(delivery.Message)
                    .where(delivery.Message.id == taken_back.id)
                    .values(claim_token="the-sweepers", status=MessageStatus.SENDING)
                )
        original(self)

    monkeypatch.setattr(delivery.Delivery, "_write_sent", sweeper_first)
    stats = deliver(tenant.id)
    assert stats.sent == 3
    assert [m.status for m in messages] == [
        MessageStatus.SENT,
        MessageStatus.SENT,
        MessageStatus.SENDING,
        MessageStatus.SENT,
    ]
    assert taken_back.claim_token == "the-sweepers" and taken_back.sent_at is None
    assert len(smtp_sink.messages) == 4


# --- PIPELINING (RFC 2920): the same outcomes in one round trip ------------------


@pytest.mark.parametrize("pipelining", [False, True])
def test_pipelining_where_offered_keeps_every_outcome(tenant, ctx, smtp_sink, pipelining):
    smtp_sink.behaviour.pipelining = pipelining
    smtp_sink.behaviour.rcpt_replies = {"gone@example.org": "550 5.1.1 no such user"}
    first = queue_message(tenant.id, subject="eins")
    partly = queue_message(tenant.id, recipients=["a@example.org", "gone@example.org"], subject="zwei")
    nobody = queue_message(tenant.id, recipients=["gone@example.org"], subject="drei")
    deferred = queue_message(tenant.id, subject="vier")
    last = queue_message(tenant.id, subject="fünf")
    smtp_sink.behaviour.mail_reply = [None, None, None, "451 4.3.0 try later"]  # the fourth MAIL
    deliver(tenant.id)
    assert (first.status, partly.status, last.status) == (MessageStatus.SENT,) * 3
    assert partly.rcpt_results["gone@example.org"].startswith("550 5.1.1")
    assert nobody.status == MessageStatus.FAILED and "550 5.1.1" in nobody.last_error
    assert deferred.status == MessageStatus.PENDING and "451 4.3.0" in deferred.last_error
    # The replies stayed in step: one connection, each accepted message once, nothing of the refused.
    assert smtp_sink.connections == 1
    assert [(m.message["Subject"], m.rcpt_tos) for m in smtp_sink.messages] == [
        ("eins", ["erika@example.org"]),
        ("zwei", ["a@example.org"]),
        ("fünf", ["erika@example.org"]),
    ]
    # Without PIPELINING offered the client waits for every reply, as before.
    assert smtp_sink.pipelined == (5 if pipelining else 0)


def test_pipelined_link_lost_after_the_final_dot_is_unknown(tenant, ctx, smtp_sink):
    smtp_sink.behaviour.pipelining = True
    smtp_sink.behaviour.drop_after_data = 1
    message = queue_message(tenant.id)
    deliver(tenant.id)
    assert message.status == MessageStatus.UNKNOWN and "may or may not have been delivered" in message.last_error
    assert smtp_sink.pipelined == 1


def test_a_synchronous_5_1_1_at_rcpt_suppresses_the_address(tenant, ctx, smtp_sink):
    from core.models.suppression import SuppressedAddress

    smtp_sink.behaviour.rcpt_replies = {
        "gone@example.org": "550 5.1.1 no such user",
        "spam@example.org": "550 5.7.1 policy",
    }
    alone = queue_message(tenant.id, recipients=["gone@example.org"])
    deliver(tenant.id)
    assert alone.status == MessageStatus.FAILED
    queue_message(tenant.id, recipients=["a@example.org", "spam@example.org"])
    deliver(tenant.id)
    both = queue_message(tenant.id, recipients=["spam@example.org", "gone@example.org"])
    deliver(tenant.id)  # all refused, each for its own reason: only gone@ is unknown
    assert both.status == MessageStatus.FAILED

    rows = db.session.execute(db.select(SuppressedAddress)).scalars().all()
    assert [(r.address, r.suppressed) for r in rows] == [("gone@example.org", True)]
    assert "refused at RCPT: " in rows[0].reason and "5.1.1" in rows[0].reason


def test_a_worker_with_an_overdue_heartbeat_hands_nothing_over(tenant, ctx, smtp_sink, monkeypatch):
    """Its RQ registration may have expired (Redis unreachable from this
    worker only): the sweeper may take its claim back any moment, so it must
    not send what it claimed; the mail goes back to PENDING, untouched."""
    from core import heartbeat

    messages = [queue_message(tenant.id, subject=f"m{i}") for i in range(3)]
    monkeypatch.setattr(heartbeat, "last_beat", time.monotonic() - heartbeat.HEARTBEAT_STALE - 1)
    stats = deliver(tenant.id)
    assert smtp_sink.messages == [] and stats.sent == 0 and stats.more
    assert [(m.status, m.attempts) for m in messages] == [(MessageStatus.PENDING, 0)] * 3
    monkeypatch.setattr(heartbeat, "last_beat", time.monotonic())  # a fresh heartbeat
    assert deliver(tenant.id).sent == 3
