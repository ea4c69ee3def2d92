"""Mailboxes that fail, back off alone and lose nothing (RELIABILITY 29);
deleting processed mail; Exchange's XOAUTH2; the AUTOMATE task."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

from core.extensions import db
from core.models.types import utcnow
from core.plugins import registry
from plugins.inbound_mail import poller
from plugins.inbound_mail.connections import xoauth2_string
from plugins.inbound_mail.models import Mailbox, QuarantinedMail
from plugins.inbound_mail.plugin import POLL_TASK
from plugins.ticket.models import Ticket
from tests.support.ports import free_port

from .support import files_on_server, mail, make_mailbox


def ticket_count(tenant_id: int) -> int:
    return db.session.execute(
        db.select(db.func.count()).select_from(Ticket).where(Ticket.tenant_id == tenant_id)
    ).scalar()


def test_a_failing_mailbox_backs_off_alone_and_nothing_is_deleted(acme, dovecot, mail_user, other_user):
    down = make_mailbox(acme.id, dovecot, "nobody-home", "imap", name="down", port=free_port())
    dovecot.deliver(mail_user, mail("Bleibt liegen"))
    refused = make_mailbox(acme.id, dovecot, mail_user, "pop3", name="refused", password="wrong", leave_on_server=False)
    dovecot.deliver(other_user, mail("Geht durch"))
    make_mailbox(acme.id, dovecot, other_user, "imap", name="working")

    result = poller.poll_tenant(acme.id)

    assert "working: 1 handled" in result
    assert "down: failed:" in result and "no IMAP server answered" in result
    assert "refused: failed:" in result
    for box, words in ((down, "no imap server answered"), (refused, "auth")):
        db.session.refresh(box)
        assert box.failures == 1 and box.next_poll_at > utcnow() and words in box.last_error.lower()
    assert len(files_on_server(dovecot, mail_user)) == 1  # leave_on_server is off, yet nothing went

    dovecot.deliver(other_user, mail("Noch eine"))
    result = poller.poll_tenant(acme.id)
    assert result == "working: 1 handled"  # the failing ones wait out their backoff
    assert ticket_count(acme.id) == 2


def test_backoff_doubles_up_to_a_cap_and_success_resets_it(acme, dovecot, mail_user):
    # A closed port fails at once (Dovecot delays repeated bad logins itself).
    box = make_mailbox(acme.id, dovecot, mail_user, "imap", port=free_port())
    delays = []
    for _ in range(8):
        before = utcnow()
        poller.poll_mailbox(box.id)
        db.session.refresh(box)
        delays.append(round((box.next_poll_at - before).total_seconds() / 60))
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]

    box.port = dovecot.imap_port
    db.session.commit()
    assert poller.poll_mailbox(box.id) == "no new mail"
    db.session.refresh(box)
    assert (box.failures, box.next_poll_at, box.last_error) == (0, None, None)


def test_handled_mail_is_deleted_only_when_asked_and_kept_aside_mail_stays(acme, dovecot, mail_user):
    dovecot.deliver(mail_user, mail("Erledigt"))
    dovecot.deliver(mail_user, mail("Abwesend", headers={"Auto-Submitted": "auto-replied"}))
    broken = b"From: x@mieter.example\r\nSubject: Kaputt\r\nContent-Type: multipart/mixed\r\n\r\nfoo\r\n"
    dovecot.deliver(mail_user, broken)
    box = make_mailbox(acme.id, dovecot, mail_user, "imap", leave_on_server=False)

    result = poller.poll_mailbox(box.id)

    assert "2 deleted from server" in result
    remaining = files_on_server(dovecot, mail_user)
    assert [p.read_bytes() for p in remaining] == [broken]


def test_mail_whose_handling_keeps_failing_is_kept_aside_after_three_tries(
    acme, dovecot, mail_user, recorder, monkeypatch
):
    dovecot.deliver(mail_user, mail("Giftig"))
    dovecot.deliver(mail_user, mail("Danach"))
    box = make_mailbox(acme.id, dovecot, mail_user, "imap")
    real = recorder.postwerk_inbound_mail

    def picky(tenant, mail):
        if mail.subject == "Giftig":
            raise ValueError("the handler cannot digest this")
        return real(tenant, mail)

    monkeypatch.setattr(recorder, "postwerk_inbound_mail", picky)
    # pluggy calls the function it registered; route it through the patch.
    for impl in registry().pm.hook.postwerk_inbound_mail.get_hookimpls():
        if impl.plugin_name == "inbound_test":
            monkeypatch.setattr(impl, "function", picky)

    for _attempt in range(3):
        assert "cannot digest" in poller.poll_mailbox(box.id)
        assert ticket_count(acme.id) == 0  # stops at the failing mail: order and watermark hold
    result = poller.poll_mailbox(box.id)
    assert "1 handled" in result and "1 quarantined" in result
    aside = db.session.execute(db.select(QuarantinedMail)).scalar_one()
    assert aside.reason == "handler_failed" and "cannot digest" in aside.detail


def test_exchange_logs_in_with_the_stored_token_over_xoauth2(acme, oauth_dovecot):
    assert xoauth2_string("a@b.example", "tok") == "user=a@b.example\x01auth=Bearer tok\x01\x01"
    oauth_dovecot.deliver("exchange", mail("Über Exchange"))
    box = make_mailbox(acme.id, oauth_dovecot, "exchange", "exchange", password="")
    assert "no OAuth access token" in poller.poll_mailbox(box.id)

    box = db.session.get(Mailbox, box.id)
    box.oauth_access_token = "valid-exchange"
    db.session.commit()
    assert poller.poll_mailbox(box.id) == "1 handled"
    assert oauth_dovecot.introspection.seen[-1] == "valid-exchange"  # checked by the token endpoint
    assert ticket_count(acme.id) == 1

    # An expired or revoked token: the login fails, the mailbox backs off, the token stays secret.
    box = db.session.get(Mailbox, box.id)
    box.oauth_access_token = "expired-token"
    db.session.commit()
    result = poller.poll_mailbox(box.id)
    assert result.startswith("failed:") and "AUTHENTICATIONFAILED" in result and "expired-token" not in result
    box = db.session.get(Mailbox, box.id)
    assert box.failures == 1 and "expired-token" not in box.oauth_access_token_encrypted


def test_the_poller_is_an_automate_task(acme, dovecot, mail_user):
    tasks = [spec for _, specs in registry().call_each("postwerk_tasks") for spec in specs or ()]
    assert POLL_TASK in tasks
    module, name = POLL_TASK.function.rsplit(".", 1)
    function = getattr(import_module(module), name)
    dovecot.deliver(mail_user, mail("Über AUTOMATE"))
    make_mailbox(acme.id, dovecot, mail_user, "pop3")
    assert "1 handled" in function(acme.id)


def test_disabled_plugin_or_mailbox_is_not_polled(acme, dovecot, mail_user):
    from core.plugin_state import set_enabled

    dovecot.deliver(mail_user, mail("Wartet"))
    box = make_mailbox(acme.id, dovecot, mail_user, "imap", enabled=False)
    assert poller.poll_tenant(acme.id) == "no mailbox due"
    box.enabled = True
    set_enabled(acme.id, "inbound_mail", False)
    db.session.commit()
    assert poller.poll_tenant(acme.id) == "inbound mail is not enabled for this tenant"
    assert ticket_count(acme.id) == 0


def test_a_mailbox_in_backoff_is_polled_again_when_due(acme, dovecot, mail_user):
    dovecot.deliver(mail_user, mail("Später"))
    box = make_mailbox(acme.id, dovecot, mail_user, "imap", failures=3, next_poll_at=utcnow() + timedelta(minutes=5))
    assert poller.poll_tenant(acme.id) == "no mailbox due"
    box.next_poll_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert "1 handled" in poller.poll_tenant(acme.id)


def test_a_secret_that_cannot_be_decrypted_fails_that_mailbox_only(acme, dovecot, mail_user, other_user):
    from cryptography.fernet import Fernet

    broken = make_mailbox(acme.id, dovecot, mail_user, "pop3", name="broken")
    # Encrypted under a key this installation no longer has.
    broken.password_encrypted = Fernet(Fernet.generate_key()).encrypt(b"old").decode()
    db.session.commit()
    dovecot.deliver(other_user, mail("Trotzdem"))
    make_mailbox(acme.id, dovecot, other_user, "imap", name="fine")

    result = poller.poll_tenant(acme.id)

    assert "fine: 1 handled" in result and "broken: failed: a stored secret cannot be decrypted" in result


def test_tls_always_verifies_and_trusts_an_admins_ca(tmp_path):
    import ssl

    from core.api import tls_context
    from tests.support.certs import make_certs

    plain = tls_context(None)
    assert plain.verify_mode == ssl.CERT_REQUIRED and plain.check_hostname
    certs = make_certs(tmp_path / "certs")
    trusting = tls_context(certs.ca_cert.read_text())
    assert trusting.verify_mode == ssl.CERT_REQUIRED and trusting.check_hostname
    assert any(
        c["subject"] == ((("organizationName", "Postwerk tests"),), (("commonName", "Postwerk Test CA"),))
        for c in trusting.get_ca_certs()
    )


def test_hook_postwerk_mailbox_credentials_gives_the_first_enabled_mailbox_login(ctx):
    """'Same login as the incoming mailbox' on the sending side reads this."""
    from core.api import MailboxLogin, encrypt
    from core.extensions import db
    from core.mail.delivery import mailbox_credentials
    from plugins.inbound_mail.models import Mailbox
    from tests.helpers import make_tenant

    tenant = make_tenant("acme", plugins=("inbound_mail",))
    assert mailbox_credentials(tenant.id) is None
    db.session.add_all(
        [
            Mailbox(
                tenant_id=tenant.id,
                name="off",
                protocol="imap",
                host="127.0.0.1",
                port=143,
                security="none",
                username="off@acme.example",
                password_encrypted=encrypt("x"),
                enabled=False,
            ),
            Mailbox(
                tenant_id=tenant.id,
                name="office",
                protocol="imap",
                host="127.0.0.1",
                port=143,
                security="none",
                username="office@acme.example",
                password_encrypted=encrypt("s3cret"),
            ),
        ]
    )
    db.session.commit()
    assert mailbox_credentials(tenant.id) == MailboxLogin("office@acme.example", "s3cret", host="127.0.0.1")
