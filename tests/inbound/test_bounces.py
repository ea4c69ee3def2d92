"""Bounces close the loop: a DSN or a non-standard bounce in the tenant's
mailbox marks the sent message BOUNCED, suppresses the address, and rules
skip it (against the real Dovecot; every mail built here)."""

from __future__ import annotations

import pytest

from core.extensions import db
from core.mail import return_path
from core.mail import jobs
from core.models import Message, MessageStatus
from core.models.suppression import SuppressedAddress
from plugins.inbound_mail.models import SeenMail
from plugins.inbound_mail.poller import poll_mailbox
from plugins.ticket.models import Ticket
from plugins.ticket.service import create_ticket
from tests.helpers import csrf_token, login

from .support import make_mailbox


def sent(tenant_id: int, to: str, message_id: str = "<sent-1@acme.example>") -> Message:
    message = Message(
        tenant_id=tenant_id,
        message_id=message_id,
        sender="noreply@acme.example",
        recipients=[to],
        subject="Ihre Meldung",
        status=MessageStatus.SENT,
    )
    db.session.add(message)
    db.session.commit()
    return message


def dsn(
    recipient: str,
    *,
    status: str = "5.1.1",
    action: str = "failed",
    returned_id: str = "<sent-1@acme.example>",
    to: str = "noreply@acme.example",
    diagnostic: str = "smtp; 550 5.1.1 <{r}>: Recipient address rejected: User unknown",
    serial: int = 1,
) -> bytes:
    diagnostic = diagnostic.format(r=recipient)
    return (
        f"Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.mieter.example (Mail Delivery System)\r\nTo: {to}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-{serial}-{status}@mx.mieter.example>\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        "--R\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n"
        "--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.mieter.example\r\nArrival-Date: Tue, 1 Dec 2026 02:00:00 +0000\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\nRemote-MTA: dns; mx.mieter.example\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n\r\n"
        "--R\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Acme <noreply@acme.example>\r\nTo: {recipient}\r\nSubject: Ihre Meldung\r\n"
        f"Message-ID: {returned_id}\r\n\r\n--R--\r\n"
    ).encode()


def exim_bounce(recipient: str, to: str) -> bytes:
    # Not RFC 3464: Exim's own text, found by flufl.bounce; matched by VERP.
    return (
        f"Return-Path: <>\r\nFrom: Mail Delivery System <Mailer-Daemon@mx.mieter.example>\r\nTo: {to}\r\n"
        "Subject: Mail delivery failed: returning message to sender\r\n"
        "Message-ID: <exim-1@mx.mieter.example>\r\nX-Failed-Recipients: " + recipient + "\r\n"
        "Auto-Submitted: auto-replied\r\n\r\n"
        "This message was created automatically by mail delivery software.\r\n\r\n"
        "A message that you sent could not be delivered to one or more of its\r\n"
        "recipients. This is a permanent error. The following address(es) failed:\r\n\r\n"
        f"  {recipient}\r\n    SMTP error from remote mail server after RCPT TO:<{recipient}>:\r\n"
        "    550 5.1.1 mailbox unavailable\r\n\r\n"
        "------ This is a copy of the message, including all the headers. ------\r\n\r\n"
        "From: noreply@acme.example\r\nSubject: Ihre Meldung\r\n\r\nHallo\r\n"
    ).encode()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_a_dsn_marks_the_message_bounced_and_suppresses_the_address(acme, dovecot, mail_user, recorder):
    message = sent(acme.id, "weg@mieter.example")
    dovecot.deliver(mail_user, dsn("weg@mieter.example"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user)

    assert "1 bounce" in poll_mailbox(mailbox.id)

    db.session.expire_all()
    message = db.session.get(Message, message.id)
    assert message.status == MessageStatus.BOUNCED
    assert "5.1.1" in message.last_error and "User unknown" in message.last_error
    assert [(m, s) for m, s, _ in recorder.outcomes] == [(message.id, "BOUNCED")]
    row = db.session.execute(db.select(SuppressedAddress)).scalar_one()
    assert (row.address, row.suppressed, row.message_pk) == ("weg@mieter.example", True, message.id)
    seen = db.session.execute(db.select(SeenMail)).scalar_one()
    assert seen.outcome == "bounce" and f"message {message.id}" in seen.detail
    assert db.session.execute(db.select(Ticket)).first() is None and recorder.mails == []


def test_a_non_standard_bounce_is_matched_by_its_verp_address(acme, dovecot, mail_user, recorder):
    message = sent(acme.id, "alt@mieter.example", "<sent-verp@acme.example>")
    verp = return_path.for_message("bounce@acme.example", acme.id, message.id)
    dovecot.deliver(mail_user, exim_bounce("alt@mieter.example", verp))
    mailbox = make_mailbox(acme.id, dovecot, mail_user)

    assert "1 bounce" in poll_mailbox(mailbox.id)

    db.session.expire_all()
    assert db.session.get(Message, message.id).status == MessageStatus.BOUNCED
    seen = db.session.execute(db.select(SeenMail)).scalar_one()
    assert seen.detail.startswith("flufl.bounce: alt@mieter.example: 5.1.1 (hard)")
    assert db.session.execute(db.select(SuppressedAddress.suppressed)).scalar_one() is True


def test_soft_bounces_are_counted_and_repeated_ones_suppress(acme, dovecot, mail_user):
    message = sent(acme.id, "voll@mieter.example")
    for serial in range(3):
        dovecot.deliver(
            mail_user,
            dsn(
                "voll@mieter.example",
                status="4.2.2",
                action="delayed",
                serial=serial,
                diagnostic="smtp; 452 4.2.2 mailbox full",
            ),
        )
    mailbox = make_mailbox(acme.id, dovecot, mail_user)

    assert "3 bounce" in poll_mailbox(mailbox.id)

    db.session.expire_all()
    assert db.session.get(Message, message.id).status == MessageStatus.SENT  # only delayed
    row = db.session.execute(db.select(SuppressedAddress)).scalar_one()
    assert row.soft_bounces == 3 and row.suppressed and "3 soft bounces" in row.reason


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_rules_skip_a_suppressed_address_with_the_reason_in_queue_and_dry_run(acme, client, dovecot, mail_user):
    sent(acme.id, "weg@mieter.example")
    dovecot.deliver(mail_user, dsn("weg@mieter.example"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user)
    assert "1 bounce" in poll_mailbox(mailbox.id)

    ticket = create_ticket(
        acme.id,
        title="Neu",
        description="x",
        reporter_name="Weg",
        reporter_email="weg@mieter.example",
        reporter_language="de",
    )
    db.session.commit()
    ticket_id = ticket.id
    jobs.expand_events(acme.id)

    rows = (
        db.session.execute(
            db.select(Message).where(Message.recipients.is_not(None), Message.id > 1).order_by(Message.id)
        )
        .scalars()
        .all()
    )
    assert rows and all(r.status == MessageStatus.FAILED for r in rows)
    assert all("suppression list" in r.last_error and "5.1.1" in r.last_error for r in rows)

    login(client)
    queue = client.get("/settings/admin/mail/queue?status=FAILED").get_data(as_text=True)
    assert "suppression list" in queue
    page = client.get("/settings/admin/mail/rules/dryrun").get_data(as_text=True)
    from core.models import Event

    event_id = db.session.execute(db.select(Event.id).where(Event.key == "TICKET_CREATED")).scalar_one()
    html = client.post(
        "/settings/admin/mail/rules/dryrun",
        data={"csrf_token": csrf_token(page), "target": "event:TICKET_CREATED", "source": str(event_id)},
    ).get_data(as_text=True)
    assert "suppression list" in html and "weg@mieter.example" in html and ticket_id


def test_the_admin_sees_adds_and_removes_suppressed_addresses(acme, client):
    login(client)
    page = client.get("/settings/admin/mail/suppression").get_data(as_text=True)
    response = client.post(
        "/settings/admin/mail/suppression",
        data={"csrf_token": csrf_token(page), "address": "Nie@Mieter.example", "reason": "asked us to stop"},
    )
    assert response.status_code == 302
    listing = client.get("/settings/admin/mail/suppression").get_data(as_text=True)
    assert "nie@mieter.example" in listing and "asked us to stop" in listing
    row = db.session.execute(db.select(SuppressedAddress)).scalar_one()
    assert row.suppressed and row.tenant_id == acme.id
    response = client.post(
        f"/settings/admin/mail/suppression/{row.id}/remove", data={"csrf_token": csrf_token(listing)}
    )
    assert response.status_code == 302
    assert db.session.execute(db.select(SuppressedAddress)).first() is None


def test_a_bounce_is_announced_when_a_later_mail_of_its_batch_fails(acme, dovecot, mail_user, recorder, monkeypatch):
    # One poll, one batch: the DSN commits with the batch; the next mail's
    # handler raises and only that mail's savepoint is rolled back, which
    # must not take the bounce's announcement (or its expander wake-up) along.
    from . import support

    def broken(tenant_id, **values):
        raise RuntimeError("handler bug")

    monkeypatch.setattr(support, "create_ticket", broken)
    message = sent(acme.id, "weg@mieter.example")
    dovecot.deliver(mail_user, dsn("weg@mieter.example"))
    dovecot.deliver(mail_user, support.mail("Kaputt"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user)

    assert poll_mailbox(mailbox.id).startswith("failed: handling mail")

    db.session.expire_all()
    assert db.session.get(Message, message.id).status == MessageStatus.BOUNCED
    assert [(m, s) for m, s, _ in recorder.outcomes] == [(message.id, "BOUNCED")]
    assert [s.outcome for s in db.session.execute(db.select(SeenMail)).scalars()] == ["bounce"]
