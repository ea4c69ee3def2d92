"""End to end with the real ticket plugin's inbound hook: a new mail opens a
ticket, a reply whose RFC 2047 subject carries [#N] becomes a comment
(RELIABILITY 28). Skipped while the ticket plugin has no inbound hook."""

from __future__ import annotations

from email.header import Header

import pytest

from core.extensions import db
from plugins.inbound_mail.poller import poll_tenant
from plugins.ticket.plugin import TicketPlugin

from .support import make_mailbox

pytestmark = pytest.mark.skipif(
    not hasattr(TicketPlugin, "postwerk_inbound_mail"),
    reason="the ticket plugin does not handle inbound mail in this checkout",
)


def _mail(subject: str, body: str, *, attachment: bool = False) -> bytes:
    encoded = Header(subject, "iso-8859-1").encode()  # =?iso-8859-1?q?...?=
    head = (
        f"From: Erika Mustermann <erika@mieter.example>\r\nTo: service@acme.example\r\n"
        f"Subject: {encoded}\r\nMessage-ID: <{abs(hash(subject))}@mieter.example>\r\nMIME-Version: 1.0\r\n"
    )
    if not attachment:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n").encode()
    return (
        head + "Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n--XX\r\n"
        "Content-Type: image/jpeg\r\n"
        "Content-Disposition: attachment; filename*=utf-8''Fl%C3%BCssigkeit%20im%20Bad.jpg\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n/9j/4A==\r\n--XX--\r\n"
    ).encode()


def test_new_mail_opens_a_ticket_and_a_reply_becomes_a_comment(ctx, dovecot, mail_user):
    from plugins.ticket.models import Ticket, TicketAttachment, TicketComment
    from tests.helpers import make_tenant

    acme = make_tenant("acme", plugins=("ticket", "inbound_mail"))
    dovecot.deliver(mail_user, _mail("Wasser läuft aus der Decke", "Bitte schnell kommen.", attachment=True))
    make_mailbox(acme.id, dovecot, mail_user, "imap")
    assert "1 handled" in poll_tenant(acme.id)
    ticket = db.session.execute(db.select(Ticket)).scalar_one()
    assert ticket.title == "Wasser läuft aus der Decke" and ticket.reporter_email == "erika@mieter.example"
    attachment = db.session.execute(db.select(TicketAttachment)).scalar_one()
    assert attachment.filename == "Flüssigkeit im Bad.jpg"

    dovecot.deliver(mail_user, _mail(f"AW: [#{ticket.id}] Ihre Meldung: Wasser läuft", "Es tropft weiter."))
    assert "1 handled" in poll_tenant(acme.id)
    comment = db.session.execute(db.select(TicketComment)).scalar_one()
    assert (comment.ticket_id, comment.source, comment.body) == (ticket.id, "mail", "Es tropft weiter.")
    assert db.session.execute(db.select(db.func.count()).select_from(Ticket)).scalar() == 1
