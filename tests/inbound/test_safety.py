"""Hostile and machine-made mail: caps, loops, sender patterns, forged
authentication (RELIABILITY 23, 24, 25, 27, 28)."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest

from core.extensions import db
from core.models import Event
from plugins.inbound_mail import intake, parsing, senders
from plugins.inbound_mail.authentication import is_authenticated
from plugins.inbound_mail.models import QuarantinedMail, SeenMail
from plugins.inbound_mail.poller import poll_mailbox
from plugins.ticket.models import Ticket

from .support import files_on_server, mail, make_mailbox


def kept(mailbox_id: int) -> dict[str, QuarantinedMail]:
    rows = db.session.execute(db.select(QuarantinedMail).where(QuarantinedMail.mailbox_id == mailbox_id)).scalars()
    return {row.reason: row for row in rows}


def titles(tenant_id: int) -> list[str]:
    return list(
        db.session.execute(db.select(Ticket.title).where(Ticket.tenant_id == tenant_id).order_by(Ticket.id)).scalars()
    )


def _head(subject: str, content_type: str) -> bytes:
    return (
        f"From: x@mieter.example\r\nTo: service@acme.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@mieter.example>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()


def huge_mail() -> bytes:
    line = b"x" * 76 + b"\r\n"
    return _head("Riesig", "text/plain") + line * (50 * 1024 * 1024 // len(line) + 1)


def many_parts(count: int = 3000) -> bytes:
    parts = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\npart\r\n" for _ in range(count))
    return _head("Viele Teile", "multipart/mixed; boundary=B") + parts + b"--B--\r\n"


def deep_nesting(levels: int = 40) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\ninnen\r\n"
    for level in range(levels):
        body = (
            f"Content-Type: multipart/mixed; boundary=L{level}\r\n\r\n--L{level}\r\n".encode()
            + body
            + f"--L{level}--\r\n".encode()
        )
    return _head("Tief", "multipart/mixed; boundary=TOP") + b"--TOP\r\n" + body + b"--TOP--\r\n"


HOSTILE = {
    "too_large": huge_mail,
    "too_many_parts": many_parts,
    "too_deep": deep_nesting,
    "malformed": lambda: _head("Kaputt", "multipart/mixed") + b"no boundary anywhere\r\n",
    "unknown_charset": lambda: _head("Klingonisch", "text/plain; charset=x-klingon") + b"nuqneH\r\n",
    "header_too_large": lambda: (
        b"X-Filler: " + b"a" * (100 * 1024) + b"\r\n" + _head("Kopflastig", "text/plain") + b"body\r\n"
    ),
}


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_hostile_mail_is_kept_aside_and_polling_goes_on(acme, dovecot, mail_user, recorder, protocol):
    for build in HOSTILE.values():
        dovecot.deliver(mail_user, build())
    dovecot.deliver(mail_user, mail("Harmlos"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, protocol, leave_on_server=False)

    result = poll_mailbox(mailbox.id)

    assert "1 handled" in result and f"{len(HOSTILE)} quarantined" in result
    assert titles(acme.id) == ["Harmlos"]
    aside = kept(mailbox.id)
    assert set(aside) == set(HOSTILE)
    big = aside["too_large"]
    assert not big.raw_complete and big.size > 50 * 1024 * 1024 and big.subject == "Riesig"
    assert len(big.raw) < 64 * 1024  # only its header was fetched
    assert aside["too_many_parts"].raw_complete and aside["too_many_parts"].raw == many_parts()
    # Kept-aside mail stays on the server even where handled mail is deleted.
    assert len(files_on_server(dovecot, mail_user)) == len(HOSTILE)


AUTOMATIC = {
    "auto-reply": {"Auto-Submitted": "auto-replied"},
    "bulk": {"Precedence": "bulk"},
    "list": {"List-Id": "Mieterverein <verein.mieter.example>"},
    "bounce": {"Return-Path": "<>"},
    "exchange ooo": {"X-Auto-Response-Suppress": "All"},
}


def test_machine_mail_gets_no_ticket_and_no_answer(acme, dovecot, mail_user, recorder):
    for name, headers in AUTOMATIC.items():
        dovecot.deliver(mail_user, mail(f"Automatisch {name}", headers=headers))
    dovecot.deliver(mail_user, mail("Von Hand", headers={"Auto-Submitted": "no"}))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap")

    result = poll_mailbox(mailbox.id)

    assert f"{len(AUTOMATIC)} automatic" in result and "1 handled" in result
    assert [m.subject for m in recorder.mails] == ["Von Hand"]
    assert titles(acme.id) == ["Von Hand"]
    # One answer at most: the one for the hand-written mail (an outbox event).
    assert db.session.execute(db.select(db.func.count()).select_from(Event)).scalar() == 1


def test_two_systems_mailing_each_other_stop(acme, dovecot, mail_user, monkeypatch):
    monkeypatch.setattr(intake, "LOOP_LIMIT", 3)
    for n in range(5):
        dovecot.deliver(mail_user, mail(f"Ticket eröffnet {n}", sender="robot@helpdesk.example"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "pop3")

    result = poll_mailbox(mailbox.id)

    assert "3 handled" in result and "2 quarantined" in result
    assert set(kept(mailbox.id)) == {"loop"}


def test_catastrophic_sender_pattern_is_bounded_and_no_match(acme, dovecot, mail_user, recorder):
    assert senders.allowed("(a+)+$", "a" * 5000 + "!") is False
    dovecot.deliver(mail_user, mail("Lang", sender="a" * 230 + "@mieter.example"))
    dovecot.deliver(mail_user, mail("Zu lang", sender="a" * 3000 + "@mieter.example"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap", sender_pattern="(a+)+$")

    assert "2 quarantined" in poll_mailbox(mailbox.id)
    assert set(kept(mailbox.id)) == {"sender_refused", "no_sender"} and recorder.mails == []


def test_sender_pattern_allows_and_refuses(acme, dovecot, mail_user):
    dovecot.deliver(mail_user, mail("Erlaubt", sender="erika@mieter.example"))
    dovecot.deliver(mail_user, mail("Fremd", sender="spam@elsewhere.example"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap", sender_pattern=r".*@mieter\.example")

    poll_mailbox(mailbox.id)

    assert titles(acme.id) == ["Erlaubt"]
    assert kept(mailbox.id)["sender_refused"].from_address == "spam@elsewhere.example"


def test_mail_without_a_single_sender_is_kept_aside(acme, dovecot, mail_user, recorder):
    dovecot.deliver(mail_user, b"From: a@x.example, b@y.example\r\nSubject: Zwei\r\n\r\nbody\r\n")
    dovecot.deliver(mail_user, b"Subject: Niemand\r\n\r\nbody\r\n")
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap")
    assert "2 quarantined" in poll_mailbox(mailbox.id)
    assert set(kept(mailbox.id)) == {"no_sender"} and recorder.mails == []


@pytest.mark.parametrize("pattern", ["(", "a{2,1}", "x" * 501])
def test_invalid_sender_pattern_is_refused(pattern):
    with pytest.raises(senders.PatternError):
        senders.validate(pattern)


def _parsed(*auth_results: str, sender: str = "erika@mieter.example"):
    headers = "".join(f"Authentication-Results: {value}\r\n" for value in auth_results)
    return BytesParser(policy=policy.default).parsebytes(headers.encode() + mail(sender=sender))


@pytest.mark.parametrize(
    "headers, expected",
    [
        (["mx.acme.example; dmarc=pass header.from=mieter.example"], True),
        (["mx.acme.example; dmarc=fail header.from=mieter.example; spf=pass smtp.mailfrom=mieter.example"], False),
        (["mx.acme.example; dmarc=pass header.from=other.example"], False),
        # Forged by the sender: another host's verdict, or a second one with our id.
        (["mx.evil.example; dmarc=pass header.from=mieter.example"], False),
        (
            [
                "mx.acme.example; dmarc=fail header.from=mieter.example",
                "mx.acme.example; dmarc=pass header.from=mieter.example",
            ],
            False,
        ),
        (["this is not ; = an authentication result ;;"], False),
        ([], False),
    ],
)
def test_only_our_servers_dmarc_pass_authenticates(headers, expected):
    msg = _parsed(*headers)
    assert is_authenticated(msg, "erika@mieter.example", "mx.acme.example") is expected
    assert is_authenticated(msg, "erika@mieter.example", "") is False


def test_forged_authentication_results_are_not_attributed(acme, dovecot, mail_user, recorder):
    trusted = b"Authentication-Results: mx.acme.example; dmarc=pass header.from=mieter.example\r\n"
    forged = b"Authentication-Results: mx.acme.example; dmarc=pass header.from=mieter.example\r\n"
    dovecot.deliver(mail_user, trusted + mail("Echt"))
    dovecot.deliver(mail_user, trusted + forged + mail("Gefälscht"))
    dovecot.deliver(mail_user, mail("Ohne"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap", trusted_authserv_id="mx.acme.example")

    poll_mailbox(mailbox.id)

    assert [(m.subject, m.authenticated) for m in recorder.mails] == [
        ("Echt", True),
        ("Gefälscht", False),
        ("Ohne", False),
    ]


def test_html_only_mail_is_sanitised_and_has_text():
    raw = _head("Nur HTML", "text/html; charset=utf-8") + (
        b"<p>Hallo <b>Team</b></p><script>alert(1)</script><img src=x onerror=alert(2)>"
    )
    inbound = parsing.to_inbound(parsing.parse(raw, parsing.Limits()), mailbox="m", authenticated=False)
    assert "<script" not in inbound.html and "onerror" not in inbound.html
    assert "Hallo Team" in inbound.text


def test_header_values_cannot_carry_line_breaks():
    raw = b"From: x@mieter.example\r\nSubject: =?utf-8?q?Hallo=0D=0ABcc=3A_evil=40x.example?=\r\n\r\nbody\r\n"
    inbound = parsing.to_inbound(parsing.parse(raw, parsing.Limits()), mailbox="m", authenticated=False)
    assert "\r" not in inbound.subject and "\n" not in inbound.subject


def test_a_reused_message_id_from_a_stranger_is_no_duplicate(acme, dovecot, mail_user):
    headers = {"Message-ID": "<same@mieter.example>"}
    dovecot.deliver(mail_user, mail("Echt", sender="erika@mieter.example", msgid=False, headers=headers))
    dovecot.deliver(mail_user, mail("Fremd", sender="eve@elsewhere.example", msgid=False, headers=headers))
    dovecot.deliver(mail_user, mail("Echt", sender="erika@mieter.example", msgid=False, headers=headers))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap")
    assert poll_mailbox(mailbox.id) == "1 duplicate, 2 handled"
    assert titles(acme.id) == ["Echt", "Fremd"]


def test_seen_mail_records_every_outcome(acme, dovecot, mail_user):
    dovecot.deliver(mail_user, mail("A"))
    dovecot.deliver(mail_user, mail("B", headers={"Precedence": "list"}))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap")
    poll_mailbox(mailbox.id)
    rows = db.session.execute(db.select(SeenMail.outcome, SeenMail.detail).order_by(SeenMail.id)).all()
    assert [r.outcome for r in rows] == ["handled", "automatic"]
    assert rows[0].detail.startswith("ticket ")
