"""Real-world mail: raw 8-bit headers, nested attachments, lenient MIME, a
mail that keeps failing (RELIABILITY 35). Every mail is built here."""
from __future__ import annotations

import pytest

from core.extensions import db
from plugins.inbound_mail import parsing
from plugins.inbound_mail.models import Mailbox, QuarantinedMail, SeenMail
from plugins.inbound_mail.poller import MAX_STUCK_ATTEMPTS, poll_mailbox
from plugins.ticket.models import Ticket
from tests.helpers import csrf_token, login

from .support import mail, make_mailbox


def titles(tenant_id: int) -> list[str]:
    return list(db.session.execute(db.select(Ticket.title).where(Ticket.tenant_id == tenant_id)
                                   .order_by(Ticket.id)).scalars())


def kept(mailbox_id: int) -> list[QuarantinedMail]:
    return list(db.session.execute(db.select(QuarantinedMail).where(QuarantinedMail.mailbox_id == mailbox_id)
                                   .order_by(QuarantinedMail.id)).scalars())


def raw_mail(from_line: bytes, subject: bytes, *, charset: str | None = None, body: bytes = b"Hallo\r\n") -> bytes:
    content_type = b"text/plain" + (f"; charset={charset}".encode() if charset else b"")
    return (b"From: " + from_line + b"\r\nTo: service@acme.example\r\nSubject: " + subject + b"\r\n"
            b"Message-ID: <" + subject.hex().encode() + b"@mieter.example>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: " + content_type + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body)


# --- raw 8-bit headers -------------------------------------------------------

@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_a_raw_utf8_address_makes_a_ticket_and_blocks_nothing(acme, dovecot, mail_user, recorder, protocol):
    # RFC 6532: UTF-8 straight in the header, address and all.
    dovecot.deliver(mail_user, raw_mail("Jürgen <jürgen@müller.example>".encode(), "Grüße".encode(),
                                        charset="utf-8"))
    dovecot.deliver(mail_user, mail("Dahinter"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, protocol)

    assert "2 handled" in poll_mailbox(mailbox.id)

    assert titles(acme.id) == ["Grüße", "Dahinter"]
    first = recorder.mails[0]
    assert (first.from_address, first.from_name) == ("jürgen@müller.example", "Jürgen")


def test_raw_8bit_display_names_are_decoded_utf8_then_declared_charset_then_windows_1252(
        acme, dovecot, mail_user, recorder):
    dovecot.deliver(mail_user, raw_mail("Jürgen Müller <j@mieter.example>".encode(), b"utf8"))
    dovecot.deliver(mail_user, raw_mail("Jürgen Müller <j@mieter.example>".encode("latin-1"), b"latin1",
                                        charset="iso-8859-1", body="Grüße\r\n".encode("latin-1")))
    # KOI8-R declared by the body: the header bytes are read in it too.
    dovecot.deliver(mail_user, raw_mail("Иван <ivan@mieter.example>".encode("koi8-r"), b"koi8",
                                        charset="koi8-r"))
    # Nothing declared and not UTF-8: windows-1252 (the euro sign is 0x80 there).
    dovecot.deliver(mail_user, raw_mail(b"Caf\xe9 \x80 <cafe@mieter.example>", b"cp1252"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap")

    assert "4 handled" in poll_mailbox(mailbox.id)

    assert [m.from_name for m in recorder.mails] == ["Jürgen Müller", "Jürgen Müller", "Иван", "Café €"]
    assert recorder.mails[1].text.strip() == "Grüße"


def test_a_mail_whose_claim_cannot_be_written_is_kept_aside_after_n_polls(acme, dovecot, mail_user, monkeypatch):
    # A header value the database refuses (here: undecodable bytes, as the
    # parser kept them before they were decoded) makes the claim itself fail.
    real_sender = parsing.sender

    def undecoded(msg):
        address, name = real_sender(msg)
        return (address.replace("@", "\udcc3\udcbc@"), name) if "blocker" in address else (address, name)

    monkeypatch.setattr(parsing, "sender", undecoded)
    dovecot.deliver(mail_user, mail("Blockiert", sender="blocker@mieter.example"))
    dovecot.deliver(mail_user, mail("Wartet"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap")

    for _ in range(MAX_STUCK_ATTEMPTS):
        assert poll_mailbox(mailbox.id).startswith("failed: handling mail")
    assert titles(acme.id) == []

    result = poll_mailbox(mailbox.id)

    assert "1 handled" in result and "1 quarantined" in result
    assert titles(acme.id) == ["Wartet"]
    [aside] = kept(mailbox.id)
    assert aside.reason == "handler_failed" and b"Blockiert" in aside.raw and aside.raw_complete
    assert "1 handled" not in poll_mailbox(mailbox.id)


def test_the_admin_can_skip_the_mail_that_keeps_failing(acme, client, dovecot, mail_user, recorder, monkeypatch):
    from . import support

    real = support.create_ticket

    def fails_for_one(tenant_id, **values):
        if values["title"] == "Kaputt":
            raise RuntimeError("handler bug")
        return real(tenant_id, **values)

    monkeypatch.setattr(support, "create_ticket", fails_for_one)
    dovecot.deliver(mail_user, mail("Kaputt"))
    dovecot.deliver(mail_user, mail("Wartet"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap")
    mailbox_id = mailbox.id
    assert poll_mailbox(mailbox_id).startswith("failed: handling mail")

    login(client)
    page = client.get("/settings/admin/inbound/").get_data(as_text=True)
    assert "Skip this mail" in page
    stuck = db.session.get(Mailbox, mailbox_id).stuck_key
    response = client.post(f"/settings/admin/inbound/{mailbox_id}/skip",
                           data={"csrf_token": csrf_token(page), "key": stuck})

    assert response.status_code == 302
    db.session.expire_all()
    assert titles(acme.id) == ["Wartet"]
    [aside] = kept(mailbox_id)
    assert aside.reason == "skipped" and "handler bug" in aside.detail and b"Kaputt" in aside.raw
    box = db.session.get(Mailbox, mailbox_id)
    assert box.stuck_key is None and box.last_error is None
    assert "Skip this mail" not in client.get("/settings/admin/inbound/").get_data(as_text=True)
    outcomes = sorted(db.session.execute(db.select(SeenMail.outcome)
                                         .where(SeenMail.mailbox_id == mailbox_id)).scalars())
    assert outcomes == ["handled", "quarantined"]
