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
    return list(
        db.session.execute(db.select(Ticket.title).where(Ticket.tenant_id == tenant_id).order_by(Ticket.id)).scalars()
    )


def kept(mailbox_id: int) -> list[QuarantinedMail]:
    return list(
        db.session.execute(
            db.select(QuarantinedMail).where(QuarantinedMail.mailbox_id == mailbox_id).order_by(QuarantinedMail.id)
        ).scalars()
    )


def raw_mail(from_line: bytes, subject: bytes, *, charset: str | None = None, body: bytes = b"Hallo\r\n") -> bytes:
    content_type = b"text/plain" + (f"; charset={charset}".encode() if charset else b"")
    return (
        b"From: " + from_line + b"\r\nTo: service@acme.example\r\nSubject: " + subject + b"\r\n"
        b"Message-ID: <" + subject.hex().encode() + b"@mieter.example>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: " + content_type + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body
    )


# --- raw 8-bit headers -------------------------------------------------------


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_a_raw_utf8_address_makes_a_ticket_and_blocks_nothing(acme, dovecot, mail_user, recorder, protocol):
    # RFC 6532: UTF-8 straight in the header, address and all.
    dovecot.deliver(mail_user, raw_mail("Jürgen <jürgen@müller.example>".encode(), "Grüße".encode(), charset="utf-8"))
    dovecot.deliver(mail_user, mail("Dahinter"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, protocol)

    assert "2 handled" in poll_mailbox(mailbox.id)

    assert titles(acme.id) == ["Grüße", "Dahinter"]
    first = recorder.mails[0]
    assert (first.from_address, first.from_name) == ("jürgen@müller.example", "Jürgen")


def test_raw_8bit_display_names_are_decoded_utf8_then_declared_charset_then_windows_1252(
    acme, dovecot, mail_user, recorder
):
    dovecot.deliver(mail_user, raw_mail("Jürgen Müller <j@mieter.example>".encode(), b"utf8"))
    dovecot.deliver(
        mail_user,
        raw_mail(
            "Jürgen Müller <j@mieter.example>".encode("latin-1"),
            b"latin1",
            charset="iso-8859-1",
            body="Grüße\r\n".encode("latin-1"),
        ),
    )
    # KOI8-R declared by the body: the header bytes are read in it too.
    dovecot.deliver(mail_user, raw_mail("Иван <ivan@mieter.example>".encode("koi8-r"), b"koi8", charset="koi8-r"))
    # Nothing declared and not UTF-8: windows-1252 (the euro sign is 0x80 there).
    dovecot.deliver(mail_user, raw_mail(b"Caf\xe9 \x80 <cafe@mieter.example>", b"cp1252"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap")

    assert "4 handled" in poll_mailbox(mailbox.id)

    assert [m.from_name for m in recorder.mails] == ["Jürgen Müller", "Jürgen Müller", "Иван", "Café €"]
    assert recorder.mails[1].text.strip() == "Grüße"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
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
    response = client.post(
        f"/settings/admin/inbound/{mailbox_id}/skip", data={"csrf_token": csrf_token(page), "key": stuck}
    )

    assert response.status_code == 302
    db.session.expire_all()
    assert titles(acme.id) == ["Wartet"]
    [aside] = kept(mailbox_id)
    assert aside.reason == "skipped" and "handler bug" in aside.detail and b"Kaputt" in aside.raw
    box = db.session.get(Mailbox, mailbox_id)
    assert box.stuck_key is None and box.last_error is None
    assert "Skip this mail" not in client.get("/settings/admin/inbound/").get_data(as_text=True)
    outcomes = sorted(
        db.session.execute(db.select(SeenMail.outcome).where(SeenMail.mailbox_id == mailbox_id)).scalars()
    )
    assert outcomes == ["handled", "quarantined"]


# --- attachments are never lost ----------------------------------------------


def _signed_with_pdf() -> bytes:
    # Apple Mail / Outlook S/MIME layout: the attachments sit one multipart down.
    return (
        b"From: Erika <erika@mieter.example>\r\nTo: service@acme.example\r\nSubject: Signiert\r\n"
        b"Message-ID: <signed-1@mieter.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256;'
        b' boundary="OUTER"\r\n\r\n'
        b'--OUTER\r\nContent-Type: multipart/mixed; boundary="INNER"\r\n\r\n'
        b"--INNER\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAnbei der Vertrag.\r\n"
        b'--INNER\r\nContent-Type: application/pdf; name="Vertrag.pdf"\r\n'
        b'Content-Disposition: attachment; filename="Vertrag.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        b"JVBERi0=\r\n--INNER--\r\n"
        b"--OUTER\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
        b"Content-Disposition: attachment; filename=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"MIAGCSqGSIb3DQEHAqCAMIACAQE=\r\n--OUTER--\r\n"
    )


def _attachment_only() -> bytes:
    return (
        b"From: scanner@mieter.example\r\nTo: service@acme.example\r\nSubject: Scan\r\n"
        b"Message-ID: <scan-1@mieter.example>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: application/pdf\r\nContent-Disposition: attachment\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n"
    )


def _every_leaf() -> bytes:
    forwarded = (
        b"From: alt@mieter.example\r\nSubject: Alte Meldung: Fenster\r\n"
        b"Message-ID: <old-1@mieter.example>\r\n\r\nDas Fenster klemmt.\r\n"
    )
    return (
        b"From: Erika <erika@mieter.example>\r\nTo: service@acme.example\r\nSubject: Alles dabei\r\n"
        b"Message-ID: <leaves-1@mieter.example>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=M\r\n\r\n"
        b"--M\r\nContent-Type: multipart/alternative; boundary=A\r\n\r\n"
        b"--A\r\nContent-Type: text/plain\r\n\r\nText\r\n"
        b"--A\r\nContent-Type: text/html\r\n\r\n<p>Text</p>\r\n--A--\r\n"
        b"--M\r\nContent-Type: message/rfc822\r\n\r\n"
        + forwarded
        + b"--M\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4A==\r\n"
        b"--M\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="=?utf-8?q?Nebenkosten_M=C3=A4rz.pdf?="\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
        b"--M\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Disposition: inline\r\n\r\nNachtrag\r\n"
        b"--M--\r\n"
    )


def _boundary_with_equals() -> bytes:
    # Outlook Express / many mailers: an unquoted boundary with "=" in it.
    return (
        b"From: Erika <erika@mieter.example>\r\nTo: service@acme.example\r\nSubject: Unquoted\r\n"
        b"Message-ID: <unquoted-1@mieter.example>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed;\r\n\tboundary=----=_NextPart_000_0001_01C2\r\n\r\n"
        b"------=_NextPart_000_0001_01C2\r\nContent-Type: text/plain\r\n\r\nSiehe Anhang\r\n"
        b"------=_NextPart_000_0001_01C2\r\nContent-Type: application/pdf; name=Plan.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
        b"------=_NextPart_000_0001_01C2--\r\n"
    )


def _broken_inner_part() -> bytes:
    # The inner multipart has no boundary: that part is unreadable, the rest is fine.
    return (
        b"From: Erika <erika@mieter.example>\r\nTo: service@acme.example\r\nSubject: Halb kaputt\r\n"
        b"Message-ID: <half-1@mieter.example>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=M\r\n\r\n"
        b"--M\r\nContent-Type: text/plain\r\n\r\nDer Text\r\n"
        b"--M\r\nContent-Type: multipart/related\r\n\r\nkein boundary hier\r\n"
        b"--M\r\nContent-Type: application/pdf; name=Gut.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"JVBERi0=\r\n--M--\r\n"
    )


def _html_only() -> bytes:
    return (
        b"From: Erika <erika@mieter.example>\r\nTo: service@acme.example\r\nSubject: Nur HTML\r\n"
        b"Message-ID: <html-1@mieter.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><title>Outlook-Vorlage</title><style>p {color: red}</style></head>"
        b"<body><p>Die T\xc3\xbcr klemmt.</p></body></html>\r\n"
    )


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_attachments_inside_an_smime_signed_mail_are_kept(acme, dovecot, mail_user, recorder, protocol):
    dovecot.deliver(mail_user, _signed_with_pdf())
    mailbox = make_mailbox(acme.id, dovecot, mail_user, protocol)

    assert "1 handled" in poll_mailbox(mailbox.id)

    [got] = recorder.mails
    assert got.text.strip() == "Anbei der Vertrag."
    assert [(a.filename, a.content_type, a.content) for a in got.attachments] == [
        ("Vertrag.pdf", "application/pdf", b"%PDF-"),
        (
            "smime.p7s",
            "application/pkcs7-signature",
            b"0\x80\x06\t*\x86H\x86\xf7\r\x01\x07\x02\xa0\x800\x80\x02\x01\x01",
        ),
    ]
    assert all(a.filename != "attachment" and a.content for a in got.attachments)


def test_a_mail_that_is_only_an_attachment_keeps_its_content(acme, dovecot, mail_user, recorder):
    dovecot.deliver(mail_user, _attachment_only())
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap")

    assert "1 handled" in poll_mailbox(mailbox.id)

    [got] = recorder.mails
    assert [(a.filename, a.content) for a in got.attachments] == [("attachment-1.pdf", b"%PDF-1.4")]


def test_every_leaf_that_is_not_the_body_becomes_a_named_attachment(acme, dovecot, mail_user, recorder):
    dovecot.deliver(mail_user, _every_leaf())
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap")

    assert "1 handled" in poll_mailbox(mailbox.id)

    [got] = recorder.mails
    assert got.text.strip() == "Text"
    names = [a.filename for a in got.attachments]
    assert names == ["Alte Meldung_ Fenster.eml", "attachment-2.jpg", "Nebenkosten März.pdf", "attachment-4.txt"]
    eml = got.attachments[0]
    assert eml.content_type == "message/rfc822" and b"Das Fenster klemmt." in eml.content
    assert got.attachments[1].content == b"\xff\xd8\xff\xe0" and got.attachments[3].content.strip() == b"Nachtrag"


def test_lenient_mime_an_unquoted_boundary_and_one_broken_part(acme, dovecot, mail_user, recorder):
    dovecot.deliver(mail_user, _boundary_with_equals())
    dovecot.deliver(mail_user, _broken_inner_part())
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap")

    assert "2 handled" in poll_mailbox(mailbox.id)

    unquoted, half = recorder.mails
    assert unquoted.text.strip() == "Siehe Anhang"
    assert [(a.filename, a.content) for a in unquoted.attachments] == [("Plan.pdf", b"%PDF-")]
    assert half.text.strip() == "Der Text"
    assert [a.filename for a in half.attachments] == ["attachment-1.bin", "Gut.pdf"]
    assert b"kein boundary hier" in half.attachments[0].content
    assert kept(mailbox.id) == []


def test_the_description_of_html_only_mail_has_no_head_or_title(acme, dovecot, mail_user, recorder):
    dovecot.deliver(mail_user, _html_only())
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap")

    assert "1 handled" in poll_mailbox(mailbox.id)

    [got] = recorder.mails
    assert got.text.strip() == "Die Tür klemmt."
    assert "Outlook-Vorlage" not in got.html and "color" not in got.html
    [ticket] = db.session.execute(db.select(Ticket).where(Ticket.tenant_id == acme.id)).scalars()
    assert "Outlook-Vorlage" not in ticket.description


# --- delete mode ------------------------------------------------------------


def _fail_for(monkeypatch, title: str) -> None:
    from . import support

    real = support.create_ticket

    def fails_for_one(tenant_id, **values):
        if values["title"] == title:
            raise RuntimeError("handler bug")
        return real(tenant_id, **values)

    monkeypatch.setattr(support, "create_ticket", fails_for_one)


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_delete_mode_deletes_committed_mail_even_when_a_later_one_fails(
    acme, dovecot, mail_user, monkeypatch, protocol
):
    from .support import files_on_server

    _fail_for(monkeypatch, "Kaputt")
    dovecot.deliver(mail_user, mail("Erledigt"))
    dovecot.deliver(mail_user, mail("Kaputt"))
    dovecot.deliver(mail_user, mail("Danach"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, protocol, leave_on_server=False)

    assert poll_mailbox(mailbox.id).startswith("failed: handling mail")

    assert titles(acme.id) == ["Erledigt"]
    left = [p.read_bytes() for p in files_on_server(dovecot, mail_user)]
    assert len(left) == 2 and not any(b"Erledigt" in raw for raw in left)


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_switching_to_delete_mode_removes_mail_processed_before(acme, dovecot, mail_user, protocol):
    from .support import files_on_server

    dovecot.deliver(mail_user, mail("Alt 1"))
    dovecot.deliver(mail_user, mail("Alt 2"))
    dovecot.deliver(mail_user, mail("Kept", headers={"X-Filler": "x"}, body="x"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, protocol, sender_pattern=r".*@nobody\.example")
    assert "3 quarantined" in poll_mailbox(mailbox.id)
    mailbox.sender_pattern = ""
    db.session.commit()
    dovecot.deliver(mail_user, mail("Neu"))
    assert "1 handled" in poll_mailbox(mailbox.id)
    assert len(files_on_server(dovecot, mail_user)) == 4

    mailbox.leave_on_server = False
    db.session.commit()
    dovecot.deliver(mail_user, mail("Nach dem Umschalten"))
    result = poll_mailbox(mailbox.id)

    assert "1 handled" in result and "2 deleted from server" in result
    # Kept-aside mail always stays on the server.
    assert len(files_on_server(dovecot, mail_user)) == 3
    assert titles(acme.id) == ["Neu", "Nach dem Umschalten"]


# --- the list of processed mail ----------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_the_admin_lists_processed_mail_with_outcome_and_filter(ctx, client, dovecot, mail_user, other_user):
    from tests.helpers import make_tenant

    acme = make_tenant("acme", plugins=("ticket", "inbound_mail"))  # the real ticket plugin: its link
    dovecot.deliver(mail_user, mail("Ein Ticket", headers={"Message-ID": "<same@mieter.example>"}, msgid=False))
    dovecot.deliver(mail_user, mail("Abwesend", headers={"Auto-Submitted": "auto-replied"}))
    first = make_mailbox(acme.id, dovecot, mail_user, "imap")
    assert "1 handled" in poll_mailbox(first.id)
    # The same mail reaches a second mailbox of the tenant: a duplicate.
    dovecot.deliver(other_user, mail("Ein Ticket", headers={"Message-ID": "<same@mieter.example>"}, msgid=False))
    dovecot.deliver(
        other_user,
        b"From: x@mieter.example\r\nSubject: Kaputt\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed\r\n\r\nno boundary\r\n",
    )
    second = make_mailbox(acme.id, dovecot, other_user, "pop3")
    assert "1 duplicate" in poll_mailbox(second.id)
    [ticket_id] = db.session.execute(db.select(Ticket.id).where(Ticket.tenant_id == acme.id)).scalars()
    original = db.session.execute(
        db.select(SeenMail.id).where(SeenMail.mailbox_id == first.id, SeenMail.outcome == "handled")
    ).scalar_one()
    first_id, second_id = first.id, second.id

    login(client)
    page = client.get(f"/settings/admin/inbound/{first_id}/mails").get_data(as_text=True)
    assert "Ein Ticket" in page and "Abwesend" in page and "Auto-Submitted: auto-replied" in page
    assert f'href="/tickets/{ticket_id}"' in page

    page = client.get(f"/settings/admin/inbound/{second_id}/mails").get_data(as_text=True)
    assert f"duplicate of #{original}" in page and "malformed" in page and "kept aside: download" in page
    duplicates = client.get(f"/settings/admin/inbound/{second_id}/mails?outcome=duplicate").get_data(as_text=True)
    assert "Ein Ticket" in duplicates and "Kaputt" not in duplicates
    automatic = client.get(f"/settings/admin/inbound/{first_id}/mails?outcome=automatic").get_data(as_text=True)
    assert "Abwesend" in automatic and "Ein Ticket" not in automatic


def test_a_batch_whose_commit_fails_blames_the_mail_at_fault_not_the_first(acme, dovecot, mail_user, monkeypatch):
    # A commit that refuses one mail's work (a constraint checked only at
    # commit, a trigger): the batch is rolled back whole, and which mail was at
    # fault is unknown until they are taken in one by one.
    from plugins.inbound_mail import intake

    real_commit = intake._commit

    def refuses_kaputt():
        # The transaction sees its own uncommitted rows.
        if db.session.execute(db.select(Ticket.id).where(Ticket.title == "Kaputt")).first() is not None:
            raise RuntimeError("the database refused the commit")
        real_commit()

    monkeypatch.setattr(intake, "_commit", refuses_kaputt)
    for subject in ("Eins", "Kaputt", "Drei"):
        dovecot.deliver(mail_user, mail(subject))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap")

    for _ in range(MAX_STUCK_ATTEMPTS):
        assert "failed" in poll_mailbox(mailbox.id)
    assert titles(acme.id) == ["Eins"]  # committed alone in the first poll

    result = poll_mailbox(mailbox.id)

    assert "1 quarantined" in result
    assert titles(acme.id) == ["Eins", "Drei"]
    [aside] = kept(mailbox.id)
    assert aside.reason == "handler_failed" and b"Kaputt" in aside.raw
