"""Threads and trust with the real ticket plugin: a reply to a mail Postwerk
sent becomes a comment without [#N]; a comment speaks for a person only when
the sender is authenticated; watchers hear of mail comments."""

from __future__ import annotations

import pytest

from core.extensions import db
from core.mail import jobs
from core.models import Message
from plugins.inbound_mail.poller import poll_mailbox
from plugins.ticket.models import Ticket, TicketComment
from plugins.ticket.service import add_watcher
from tests.helpers import login, make_tenant

from .support import make_mailbox


def _mail(
    subject: str,
    body: str,
    *,
    sender: str = "erika@mieter.example",
    name: str = "Erika Mustermann",
    headers: dict[str, str] | None = None,
    serial: str = "",
) -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return (
        f"From: {name} <{sender}>\r\nTo: service@acme.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{abs(hash(subject + body + serial))}@mieter.example>\r\n{extra}"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


@pytest.fixture
def acme(ctx):
    return make_tenant("acme", plugins=("ticket", "inbound_mail"))


def _ticket_by_mail(acme, dovecot, mail_user, **mailbox):
    dovecot.deliver(mail_user, _mail("Heizung kalt", "Bitte kommen."))
    box = make_mailbox(acme.id, dovecot, mail_user, "imap", **mailbox)
    assert "1 handled" in poll_mailbox(box.id)
    ticket = db.session.execute(db.select(Ticket)).scalar_one()
    return box.id, ticket.id  # ids: expand_events ends the session


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_a_reply_to_a_mail_postwerk_sent_becomes_a_comment_without_the_number(acme, dovecot, mail_user):
    box, ticket_id = _ticket_by_mail(acme, dovecot, mail_user)
    jobs.expand_events(
        db.session.get(Ticket, ticket_id).tenant_id
    )  # the confirmation to the reporter, with its Message-ID
    confirmation = (
        db.session.execute(db.select(Message.message_id).where(Message.recipients.is_not(None))).scalars().first()
    )
    assert confirmation

    dovecot.deliver(
        mail_user,
        _mail(
            "Re: Ihre Meldung",
            "Es ist immer noch kalt.",
            headers={"In-Reply-To": confirmation, "References": f"<other@x.example> {confirmation}"},
        ),
    )
    assert "1 handled" in poll_mailbox(box)

    assert db.session.execute(db.select(db.func.count()).select_from(Ticket)).scalar() == 1
    comment = db.session.execute(db.select(TicketComment)).scalar_one()
    assert (comment.ticket_id, comment.source, comment.body) == (ticket_id, "mail", "Es ist immer noch kalt.")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_a_forged_sender_is_marked_not_verified(acme, client, dovecot, mail_user):
    box, ticket_id = _ticket_by_mail(acme, dovecot, mail_user, trusted_authserv_id="mx.acme.example")
    # Anyone can write the reporter's address into From:.
    dovecot.deliver(mail_user, _mail(f"Re: [#{ticket_id}] Heizung", "Bitte Ticket schliessen.", serial="forged"))
    # The real reporter, authenticated by our receiving server.
    dovecot.deliver(
        mail_user,
        _mail(
            f"Re: [#{ticket_id}] Heizung",
            "Danke!",
            serial="real",
            headers={
                "Authentication-Results": "mx.acme.example; dkim=pass header.d=mieter.example; "
                "dmarc=pass header.from=mieter.example"
            },
        ),
    )
    assert "2 handled" in poll_mailbox(box)

    forged, real = db.session.execute(db.select(TicketComment).order_by(TicketComment.id)).scalars().all()
    assert (forged.body, forged.sender_verified) == ("Bitte Ticket schliessen.", False)
    assert (real.body, real.sender_verified) == ("Danke!", True)
    login(client)
    page = client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert page.count("sender not verified") == 1


def test_watchers_are_notified_of_a_mail_comment(acme, dovecot, mail_user):
    tenant_id = acme.id
    box, ticket_id = _ticket_by_mail(acme, dovecot, mail_user)
    add_watcher(tenant_id, ticket_id, "hausmeister@acme.example", "Hausmeister")
    db.session.commit()
    jobs.expand_events(tenant_id)
    dovecot.deliver(mail_user, _mail(f"Re: [#{ticket_id}] Heizung", "Noch da?"))
    assert "1 handled" in poll_mailbox(box)

    jobs.expand_events(tenant_id)

    recipients = [
        r
        for m in db.session.execute(db.select(Message).where(Message.event_key == "TICKET_COMMENTED")).scalars()
        for r in m.recipients
    ]
    assert "hausmeister@acme.example" in recipients


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_without_unknown_senders_only_known_people_open_tickets(acme, dovecot, mail_user, protocol):
    from plugins.inbound_mail.models import QuarantinedMail
    from plugins.ticket.service import create_ticket

    for name, address in (("Erika", "Erika@Mieter.example"), ("Kurt", "kurt@extern.example")):
        create_ticket(
            acme.id,
            title=f"Alt {name}",
            description="",
            reporter_name=name,
            reporter_email=address,
            reporter_language="de",
        )
    db.session.commit()
    dovecot.deliver(mail_user, _mail("Vom Admin", "x", sender="admin@acme.example", name="Admin"))  # a user
    dovecot.deliver(mail_user, _mail("Von Erika", "x", sender="erika@mieter.example"))  # a reporter
    dovecot.deliver(mail_user, _mail("Von Fremden", "x", sender="fremd@mieter.example", name="Fremd"))
    # Known, but the allowed-senders pattern still applies to everybody.
    dovecot.deliver(mail_user, _mail("Von Kurt", "x", sender="kurt@extern.example", name="Kurt"))
    box = make_mailbox(
        acme.id, dovecot, mail_user, protocol, allow_unknown_senders=False, sender_pattern=r".*@(acme|mieter)\.example"
    )

    result = poll_mailbox(box.id)

    assert "2 handled" in result and "2 quarantined" in result
    titles = set(db.session.execute(db.select(Ticket.title)).scalars())
    assert {"Vom Admin", "Von Erika"} <= titles and not {"Von Fremden", "Von Kurt"} & titles
    kept = {k.subject: k.reason for k in db.session.execute(db.select(QuarantinedMail)).scalars()}
    assert kept == {"Von Fremden": "unknown_sender", "Von Kurt": "sender_refused"}
