"""Polling real Dovecot mailboxes: mail becomes tickets exactly once (RELIABILITY 26, 28)."""

from __future__ import annotations

import threading

import pytest

from core.extensions import db
from plugins.inbound_mail import intake
from plugins.inbound_mail.models import QuarantinedMail, SeenMail
from plugins.inbound_mail.poller import poll_mailbox, poll_tenant
from plugins.ticket.models import Ticket

from .support import files_on_server, mail, make_mailbox


def tickets(tenant_id: int) -> list[Ticket]:
    return (
        db.session.execute(db.select(Ticket).where(Ticket.tenant_id == tenant_id).order_by(Ticket.id)).scalars().all()
    )


def outcomes(mailbox_id: int) -> list[str]:
    return sorted(db.session.execute(db.select(SeenMail.outcome).where(SeenMail.mailbox_id == mailbox_id)).scalars())


RFC2047_SUBJECT = b"=?iso-8859-1?q?Re=3A_Heizung_f=E4llt_aus_=5B=23123=5D?="
ENCODED = (
    b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@mieter.example>\r\n"
    b"To: service@acme.example\r\nSubject: " + RFC2047_SUBJECT + b"\r\n"
    b"Message-ID: <encoded-1@mieter.example>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
    b"--XX\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"Gr=FC=DFe aus dem Bad\r\n"
    b"--XX\r\nContent-Type: application/pdf\r\n"
    b"Content-Disposition: attachment; filename*=utf-8''Mietvertr%C3%A4g%20%E2%82%AC.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--XX--\r\n"
)


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_mail_becomes_one_ticket_and_stays_on_the_server(acme, dovecot, mail_user, recorder, protocol):
    dovecot.deliver(mail_user, ENCODED)
    dovecot.deliver(mail_user, mail("Wasserhahn tropft"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, protocol)

    result = poll_tenant(acme.id)

    assert "2 handled" in result
    assert [t.title for t in tickets(acme.id)] == ["Re: Heizung fällt aus [#123]", "Wasserhahn tropft"]
    first = recorder.mails[0]
    assert first.from_address == "juergen@mieter.example" and first.from_name == "Jürgen Müller"
    assert first.text.strip() == "Grüße aus dem Bad"
    assert [(a.filename, a.content) for a in first.attachments] == [("Mietverträg €.pdf", b"%PDF-")]
    assert first.message_id == "<encoded-1@mieter.example>" and not first.authenticated
    assert len(files_on_server(dovecot, mail_user)) == 2

    assert poll_tenant(acme.id) == f"{mailbox.name}: no new mail"
    assert len(tickets(acme.id)) == 2


def test_pop3_renumbering_neither_repeats_nor_loses_mail(acme, dovecot, mail_user):
    for n in range(3):
        dovecot.deliver(mail_user, mail(f"Alt {n}"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "pop3")
    assert "3 handled" in poll_mailbox(mailbox.id)

    # Someone deletes the first mail in a mail client: every number shifts.
    first = next(p for p in files_on_server(dovecot, mail_user) if b"Alt 0" in p.read_bytes())
    first.unlink()
    dovecot.deliver(mail_user, mail("Neu"))

    assert "1 handled" in poll_mailbox(mailbox.id)
    assert [t.title for t in tickets(acme.id)] == ["Alt 0", "Alt 1", "Alt 2", "Neu"]


def _change_uidvalidity(dovecot, user: str) -> None:
    """What a restored backup or a recreated folder does: new UIDVALIDITY, UIDs from 1."""
    maildir = dovecot.maildir(user)
    old = (maildir / "dovecot-uidlist").read_text().split()[1]  # "3 V<uidvalidity> N<next> ..."
    for index in maildir.glob("dovecot.index*"):
        index.unlink()
    (maildir / "dovecot-uidlist").write_text(f"3 V{int(old[1:]) + 1000} N1\n")


def test_uidvalidity_change_makes_no_duplicate(acme, dovecot, mail_user):
    dovecot.deliver(mail_user, mail("Eins"))
    dovecot.deliver(mail_user, mail("Zwei"))
    dovecot.deliver(
        mail_user, b"From: x@mieter.example\r\nSubject: Kaputt\r\nContent-Type: multipart/mixed\r\n\r\nfoo\r\n"
    )
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap")
    assert "2 handled" in poll_mailbox(mailbox.id)

    _change_uidvalidity(dovecot, mail_user)
    dovecot.deliver(mail_user, mail("Drei"))

    result = poll_mailbox(mailbox.id)
    assert "3 duplicate" in result and "1 handled" in result
    assert db.session.execute(db.select(db.func.count()).select_from(QuarantinedMail)).scalar() == 1
    assert [t.title for t in tickets(acme.id)] == ["Eins", "Zwei", "Drei"]
    assert len(set(db.session.execute(db.select(SeenMail.uidvalidity)).scalars())) == 2


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_two_pollers_at_once_make_each_ticket_once(app, acme, dovecot, mail_user):
    for n in range(6):
        dovecot.deliver(mail_user, mail(f"Parallel {n}"))
    mailbox_id = make_mailbox(acme.id, dovecot, mail_user, "imap").id
    start = threading.Barrier(2)
    results, errors = [], []

    def poller():
        try:
            with app.app_context():
                start.wait()
                results.append(poll_mailbox(mailbox_id))
                db.session.remove()
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=poller) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == [] and len(results) == 2
    db.session.expire_all()
    assert sorted(t.title for t in tickets(acme.id)) == [f"Parallel {n}" for n in range(6)]
    assert outcomes(mailbox_id) == ["handled"] * 6


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_crash_after_the_ticket_insert_neither_duplicates_nor_loses(acme, dovecot, mail_user, monkeypatch):
    dovecot.deliver(mail_user, mail("Absturz"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap")
    real_commit = intake._commit

    def crash():
        raise RuntimeError("power cut after the ticket insert")

    monkeypatch.setattr(intake, "_commit", crash)
    assert poll_mailbox(mailbox.id).startswith("failed: handling mail")
    assert tickets(acme.id) == [] and outcomes(mailbox.id) == []

    monkeypatch.setattr(intake, "_commit", real_commit)
    assert "1 handled" in poll_mailbox(mailbox.id)
    assert [t.title for t in tickets(acme.id)] == ["Absturz"]
    assert "1 handled" not in poll_mailbox(mailbox.id)
    assert len(tickets(acme.id)) == 1


def test_mail_removed_between_listing_and_reading_is_skipped(acme, dovecot, mail_user, monkeypatch):
    from imapclient import IMAPClient

    from plugins.inbound_mail.connections import ImapSource

    from .support import USERS

    dovecot.deliver(mail_user, mail("Weg"))
    dovecot.deliver(mail_user, mail("Da"))
    mailbox = make_mailbox(acme.id, dovecot, mail_user, "imap")
    listed = ImapSource.pending

    def pending_then_someone_deletes(self, watermark, known=None):
        found = listed(self, watermark, known)
        with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False) as other:
            other.login(mail_user, USERS[mail_user])
            other.select_folder("INBOX")
            other.delete_messages([found[0].uid])
            other.expunge()
        return found

    monkeypatch.setattr(ImapSource, "pending", pending_then_someone_deletes)
    result = poll_mailbox(mailbox.id)
    assert "1 handled" in result and "1 vanished before it was read" in result
    assert [t.title for t in tickets(acme.id)] == ["Da"]


def test_a_mailbox_removed_and_added_again_makes_no_second_tickets(acme, dovecot, mail_user):
    dovecot.deliver(mail_user, mail("Einmal"))
    dovecot.deliver(mail_user, b"From: x@mieter.example\r\nSubject: Ohne Message-ID\r\n\r\nbody\r\n")
    first = make_mailbox(acme.id, dovecot, mail_user, "pop3")
    assert "2 handled" in poll_mailbox(first.id)
    db.session.delete(first)
    db.session.commit()

    again = make_mailbox(acme.id, dovecot, mail_user, "imap")
    assert poll_mailbox(again.id) == "2 duplicate"
    assert [t.title for t in tickets(acme.id)] == ["Einmal", "Ohne Message-ID"]


def test_a_stalled_mailbox_delays_only_its_own_tenant(app, acme, dovecot, mail_user):
    """Issue 16 item 2: AUTOMATE only claims and queues; the poll runs in a
    worker and ends at the network deadline, and the other tenant's requested
    poll runs. (RELIABILITY 33)"""
    from sqlalchemy import select

    from core.automate import state as automate
    from core.automate.models import TaskRun
    from core.automate.scheduler import Scheduler
    from plugins.inbound_mail.plugin import POLL_TASK
    from tests.helpers import drain, make_tenant
    from tests.support.tarpit import Tarpit

    app.config["NETWORK_DEADLINE"] = 1.0
    other = make_tenant("globex", plugins=("ticket", "inbound_mail", "inbound_test"))
    with Tarpit(b"* OK " + b"x" * 100_000, give_up=30) as tarpit:
        make_mailbox(acme.id, dovecot, mail_user, host=tarpit.host, port=tarpit.port)
        make_mailbox(other.id, dovecot, mail_user)
        scheduler = Scheduler(app, use_lock=False)
        scheduler.tick()  # creates the task rows; both polls are due at once
        db.session.execute(db.delete(TaskRun))
        db.session.commit()
        automate.request_run(acme.id, POLL_TASK.key, actor="test")
        automate.request_run(other.id, POLL_TASK.key, actor="test")
        queued = [r for r in scheduler.tick() if r.task_key == POLL_TASK.key]
        assert sorted(r.tenant_id for r in queued) == [acme.id, other.id]
        # The scheduler did not wait for the tarpit: nothing has run yet.
        assert tarpit.connections == 0
        drain(app)  # one RQ worker for both tenants
        db.session.expire_all()
        runs = {
            r.tenant_id: r
            for r in db.session.execute(select(TaskRun).where(TaskRun.task_key == POLL_TASK.key)).scalars()
        }
        assert runs[other.id].ok and "failed" not in runs[other.id].result
        assert "took longer than 1 s in all" in runs[acme.id].result
        assert tarpit.wait_dropped(1) == 1
