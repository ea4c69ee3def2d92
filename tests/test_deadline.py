"""Every network conversation has an overall deadline (issue 16 item 2, RELIABILITY 33).

A tarpit answers one byte at a time, so no per-read timeout ever fires; only
the overall deadline ends the conversation and frees the shared worker.
"""

from __future__ import annotations

import pytest

from core.extensions import db
from core.mail.transport import PopLogin, Security, SmtpConfig, SmtpTransport, TemporaryError
from core.models import Message, MessageStatus
from plugins.ticket.service import create_ticket
from tests.helpers import make_tenant, point_at
from tests.support.tarpit import Tarpit

DEADLINE = 1.0


def _ticket(tenant_id, email):
    create_ticket(
        tenant_id,
        title="Heizung",
        description="kalt",
        reporter_name="Erika",
        reporter_email=email,
        reporter_language="de",
    )
    db.session.commit()


def test_a_tarpit_smtp_server_holds_the_shared_worker_only_until_the_deadline(app, tenant, smtp_sink, run_worker):
    app.config["NETWORK_DEADLINE"] = DEADLINE
    with Tarpit(give_up=30) as tarpit:
        other = make_tenant("globex")
        point_at(other.id, tarpit)
        _ticket(other.id, "b@globex.example")
        _ticket(tenant.id, "a@acme.example")
        run_worker()  # one RQ worker for both tenants: it returns, so the tarpit let it go
        (mine,) = smtp_sink.wait_for(1)
        # The worker hung up on the tarpit while it still had bytes to dribble.
        assert tarpit.connections >= 1 and tarpit.wait_dropped(tarpit.connections) == tarpit.connections
    assert mine.rcpt_tos == ["a@acme.example"]
    stalled = db.session.execute(db.select(Message).where(Message.tenant_id == other.id)).scalar_one()
    assert stalled.status != MessageStatus.SENT
    assert f"took longer than {DEADLINE:g} s in all" in stalled.last_error


@pytest.mark.parametrize(
    "script", [b"220-slow\r\n" * 10_000, b"220 " + b"x" * 100_000], ids=["endless greeting", "endless line"]
)
def test_smtp_login_ends_at_the_deadline(script):
    with Tarpit(script, give_up=30) as tarpit:
        transport = SmtpTransport(
            SmtpConfig(host=tarpit.host, port=tarpit.port, security=Security.NONE, timeout=5, deadline=DEADLINE)
        )
        with pytest.raises(TemporaryError, match="in all"):
            transport.open()
        assert tarpit.wait_dropped(1) == 1


def test_pop_before_smtp_ends_at_the_deadline():
    with Tarpit(b"+OK " + b"x" * 100_000, give_up=30) as tarpit:
        config = SmtpConfig(
            host="127.0.0.1",
            port=1,
            security=Security.NONE,
            timeout=5,
            deadline=DEADLINE,
            pop_before_smtp=PopLogin(tarpit.host, tarpit.port, "u", "p", security="none"),
        )
        with pytest.raises(TemporaryError, match="POP-before-SMTP: .* took longer than"):
            SmtpTransport(config).open()
        assert tarpit.wait_dropped(1) == 1


def _mailbox(tarpit, protocol):
    from types import SimpleNamespace

    return SimpleNamespace(
        host=tarpit.host,
        port=tarpit.port,
        security="none",
        protocol=protocol,
        username="u",
        password="p",
        trusted_ca_pem=None,
        folder="INBOX",
        leave_on_server=True,
        oauth_access_token=None,
    )


@pytest.mark.parametrize("protocol,script", [("pop3", b"+OK " + b"x" * 100_000), ("imap", b"* OK " + b"x" * 100_000)])
def test_a_mailbox_login_ends_at_the_deadline(protocol, script):
    from plugins.inbound_mail.connections import MailboxError, open_source

    with Tarpit(script, give_up=30) as tarpit:
        with pytest.raises(MailboxError, match=f"took longer than {DEADLINE:g} s in all"):
            open_source(_mailbox(tarpit, protocol), timeout=5, deadline=DEADLINE)
        assert tarpit.wait_dropped(1) == 1


def test_a_mailbox_that_stalls_after_the_login_ends_at_the_deadline():
    from plugins.inbound_mail.connections import MailboxError, open_source

    with Tarpit(b"+OK " + b"x" * 100_000, prefix=b"+OK hello\r\n+OK\r\n+OK\r\n", give_up=30) as tarpit:
        source = open_source(_mailbox(tarpit, "pop3"), timeout=5, deadline=DEADLINE)
        with pytest.raises(MailboxError, match="in all"):
            source.pending(0)
        source.close()
        assert tarpit.wait_dropped(1) == 1


def test_an_oauth_token_call_ends_at_the_deadline(monkeypatch):
    from core.mail import oauth

    monkeypatch.setattr(oauth, "HTTP_DEADLINE", DEADLINE)
    with Tarpit(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 100_000, give_up=30) as tarpit:
        with pytest.raises(oauth.OAuthError, match=f"took longer than {DEADLINE:g} s in all"):
            oauth._post(f"http://{tarpit.host}:{tarpit.port}/token", {"grant_type": "refresh_token"})
        assert tarpit.wait_dropped(1) == 1
