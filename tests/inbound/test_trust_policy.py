"""The tenant's trust policy, with real mails through Dovecot: which
receiving server's Authentication-Results count, and whether unauthenticated
mail speaks for its sender; the installation's settings are the default."""

from __future__ import annotations

import re

import pytest

from core.extensions import db
from plugins.inbound_mail.models import TrustPolicy
from plugins.inbound_mail.poller import poll_mailbox
from plugins.ticket.models import Ticket, TicketComment
from tests.helpers import csrf_token, login, make_tenant

from .support import make_mailbox

TRUST = "/settings/admin/inbound/trust"
PASS = "dkim=pass header.d=mieter.example; dmarc=pass header.from=mieter.example"


def _mail(subject: str, body: str, *, results: str | None = None) -> bytes:
    extra = f"Authentication-Results: {results}\r\n" if results else ""
    return (
        f"From: Erika Mustermann <erika@mieter.example>\r\nTo: service@acme.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{abs(hash(subject + body))}.{len(body)}@mieter.example>\r\n{extra}"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


@pytest.fixture
def acme(ctx):
    return make_tenant("acme", plugins=("ticket", "inbound_mail"))


def _ticket(acme, dovecot, mail_user, **mailbox) -> tuple[int, int]:
    dovecot.deliver(mail_user, _mail("Heizung kalt", "Bitte kommen."))
    box = make_mailbox(acme.id, dovecot, mail_user, "imap", **mailbox)
    assert "1 handled" in poll_mailbox(box.id)
    return box.id, db.session.execute(db.select(Ticket.id)).scalar_one()


def _comments(dovecot, mail_user, box: int, ticket_id: int, mails: dict[str, str | None]) -> dict[str, bool]:
    """Deliver one reply per body (with its Authentication-Results), poll, and
    say which comments were attributed to the sender."""
    for body, results in mails.items():
        dovecot.deliver(mail_user, _mail(f"Re: [#{ticket_id}] Heizung", body, results=results))
    assert f"{len(mails)} handled" in poll_mailbox(box)
    rows = db.session.execute(db.select(TicketComment.body, TicketComment.sender_verified)).all()
    return {body: verified for body, verified in rows}


def _save(client, **data):
    page = client.get(TRUST).get_data(as_text=True)
    return client.post(TRUST, data={"csrf_token": csrf_token(page), **data})


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_the_tenants_authserv_id_decides_which_header_counts(acme, client, dovecot, mail_user):
    box, ticket_id = _ticket(acme, dovecot, mail_user)  # the mailbox names no host of its own
    login(client)
    assert _save(client, trusted_authserv_id="MX.acme.example", accept_unauthenticated="no").status_code == 302

    verified = _comments(
        dovecot,
        mail_user,
        box,
        ticket_id,
        {
            "ohne Header": None,
            "vom eigenen Server": f"mx.acme.example; {PASS}",
            "von fremdem Server": f"mx.evil.example; {PASS}",
            "dmarc fail": "mx.acme.example; dmarc=fail header.from=mieter.example",
        },
    )
    assert verified == {
        "ohne Header": False,
        "vom eigenen Server": True,
        "von fremdem Server": False,
        "dmarc fail": False,
    }
    row = db.session.execute(db.select(TrustPolicy)).scalar_one()
    assert (row.tenant_id, row.trusted_authserv_id, row.accept_unauthenticated) == (acme.id, "mx.acme.example", False)


def test_a_mailbox_with_its_own_authserv_id_overrides_the_tenants(acme, dovecot, mail_user):
    db.session.add(TrustPolicy(tenant_id=acme.id, trusted_authserv_id="mx.acme.example"))
    db.session.commit()
    box, ticket_id = _ticket(acme, dovecot, mail_user, trusted_authserv_id="mx2.acme.example")

    verified = _comments(
        dovecot,
        mail_user,
        box,
        ticket_id,
        {"tenant host": f"mx.acme.example; {PASS}", "mailbox host": f"mx2.acme.example; {PASS}"},
    )
    assert verified == {"tenant host": False, "mailbox host": True}


@pytest.mark.parametrize(
    "installation, tenant, expected",
    [
        ("0", "default", False),
        ("1", "default", True),  # the installation's setting is the default
        ("0", "yes", True),  # the tenant accepts unauthenticated mail
        ("1", "no", False),  # the tenant refuses what the installation would accept
    ],
)
def test_the_tenant_decides_about_unauthenticated_mail(
    acme, ctx, client, dovecot, mail_user, installation, tenant, expected
):
    ctx.config["TICKET_TRUST_UNAUTHENTICATED_MAIL"] = installation
    box, ticket_id = _ticket(acme, dovecot, mail_user)
    login(client)
    assert _save(client, trusted_authserv_id="", accept_unauthenticated=tenant).status_code == 302
    page = client.get(TRUST).get_data(as_text=True)
    in_force = re.search(r'<strong id="effective">([^<]*)</strong>', page).group(1)
    assert ("unauthenticated mail accepted" in in_force) is expected

    assert _comments(dovecot, mail_user, box, ticket_id, {"Bitte schliessen.": None}) == {"Bitte schliessen.": expected}


def test_the_installations_authserv_id_is_the_default(acme, ctx, dovecot, mail_user):
    ctx.config["TRUSTED_AUTHSERV_ID"] = "mx.hoster.example"
    box, ticket_id = _ticket(acme, dovecot, mail_user)
    verified = _comments(
        dovecot,
        mail_user,
        box,
        ticket_id,
        {"hoster": f"mx.hoster.example; {PASS}", "fremd": f"mx.acme.example; {PASS}"},
    )
    assert verified == {"hoster": True, "fremd": False}


def test_a_malformed_authserv_id_is_refused_where_it_is_entered(acme, client):
    login(client)
    response = _save(client, trusted_authserv_id="mx.acme.example; dmarc=pass", accept_unauthenticated="no")
    assert response.status_code == 200
    assert "an authserv-id is a host name" in response.get_data(as_text=True)
    assert db.session.execute(db.select(TrustPolicy)).scalar() is None


def test_another_tenants_policy_does_not_apply(acme, dovecot, mail_user):
    other = make_tenant("other", plugins=("ticket", "inbound_mail"))
    db.session.add(TrustPolicy(tenant_id=other.id, trusted_authserv_id="mx.acme.example", accept_unauthenticated=True))
    db.session.commit()
    box, ticket_id = _ticket(acme, dovecot, mail_user)
    verified = _comments(dovecot, mail_user, box, ticket_id, {"a": None, "b": f"mx.acme.example; {PASS}"})
    assert verified == {"a": False, "b": False}
