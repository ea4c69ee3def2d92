"""An Exchange / Microsoft 365 mailbox linked with the same "link account"
flow as outgoing mail, against a real OAuth server on loopback (authorize,
token endpoint with rotating refresh tokens) and a Dovecot that checks each
XOAUTH2 token with that server's issued tokens."""

from __future__ import annotations

import urllib.parse
from datetime import timedelta

import pytest

from core.crypto import decrypt, encrypt
from core.extensions import db
from core.models import MailSettings
from core.models.types import utcnow
from plugins.inbound_mail.models import Mailbox
from plugins.inbound_mail.poller import poll_mailbox
from plugins.ticket.models import Ticket
from tests.helpers import login
from tests.support.oauth_server import OAuthServer
from tests.test_sending_oauth import _consent

from .support import files_on_server, mail, make_mailbox


@pytest.fixture
def idp(oauth_dovecot):
    server = OAuthServer(user="exchange").start()
    # The session's one Exchange user: start with an empty mailbox.
    for path in files_on_server(oauth_dovecot, "exchange"):
        path.unlink()
    # Dovecot takes exactly the access tokens this server issued and that have not expired.
    oauth_dovecot.introspection.also = lambda token: "exchange" if server.valid("exchange", token) else None
    yield server
    oauth_dovecot.introspection.also = None
    server.stop()


def _oauth_app(tenant_id: int, idp: OAuthServer) -> None:
    settings = db.session.get(MailSettings, tenant_id) or MailSettings(tenant_id=tenant_id)
    settings.oauth_provider, settings.oauth_authority, settings.oauth_tenant = "microsoft", idp.url, "contoso"
    settings.oauth_client_id = idp.client_id
    settings.oauth_client_secret_encrypted = encrypt(idp.client_secret)
    db.session.add(settings)
    db.session.commit()


def _link(client, mailbox_id: int) -> None:
    response = client.get(f"/settings/admin/inbound/{mailbox_id}/oauth/link")
    assert response.status_code == 302, response.get_data(as_text=True)
    authorize = response.headers["Location"]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize).query))
    assert "IMAP.AccessAsUser.All" in query["scope"] and "offline_access" in query["scope"]
    assert query["login_hint"] == "exchange" and query["code_challenge_method"] == "S256"
    callback = _consent(authorize)
    response = client.get(callback[callback.index("/settings") :])
    assert response.headers["Location"].endswith(f"/settings/admin/inbound/{mailbox_id}/edit")


def _tickets() -> int:
    return db.session.execute(db.select(db.func.count()).select_from(Ticket)).scalar()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_a_linked_mailbox_stays_linked_across_expiry_and_rotation(acme, client, oauth_dovecot, idp):
    _oauth_app(acme.id, idp)
    box_id = make_mailbox(acme.id, oauth_dovecot, "exchange", "exchange", password="").id
    login(client)
    page = client.get(f"/settings/admin/inbound/{box_id}/edit").get_data(as_text=True)
    assert "Not linked" in page and "/settings/admin/inbound/oauth/callback" in page
    _link(client, box_id)

    box = db.session.get(Mailbox, box_id)
    first_refresh = decrypt(box.oauth_refresh_token_encrypted)
    access = decrypt(box.oauth_access_token_encrypted)
    assert idp.valid("exchange", access) and box.oauth_expires_at > utcnow() + timedelta(minutes=50)
    page = client.get(f"/settings/admin/inbound/{box_id}/edit").get_data(as_text=True)
    assert "Linked</span>" in page and access not in page and first_refresh not in page

    oauth_dovecot.deliver("exchange", mail("Über Exchange 1"))
    assert poll_mailbox(box_id) == "1 handled"
    assert oauth_dovecot.introspection.seen[-1] == access

    # An hour later: the provider no longer takes the old access token, and
    # ours expires within the margin. The poll refreshes first.
    for round_ in (2, 3):
        idp.expire_access_tokens()
        box = db.session.get(Mailbox, box_id)
        box.oauth_expires_at = utcnow() + timedelta(minutes=2)
        db.session.commit()
        oauth_dovecot.deliver("exchange", mail(f"Über Exchange {round_}"))
        assert poll_mailbox(box_id) == "1 handled"
        assert idp.requests[-1]["grant_type"] == "refresh_token"
        box = db.session.get(Mailbox, box_id)
        rotated = decrypt(box.oauth_refresh_token_encrypted)
        # The provider revoked the used refresh token; the new one is stored
        # (the third round would fail with the revoked one).
        assert rotated != first_refresh and rotated in idp.refresh_tokens
        first_refresh = rotated
    assert _tickets() == 3
    assert sum(1 for r in idp.requests if r["grant_type"] == "refresh_token") == 2


def test_a_fresh_token_is_not_refreshed(acme, client, oauth_dovecot, idp):
    _oauth_app(acme.id, idp)
    box_id = make_mailbox(acme.id, oauth_dovecot, "exchange", "exchange", password="").id
    login(client)
    _link(client, box_id)
    for n in range(2):
        oauth_dovecot.deliver("exchange", mail(f"Frisch {n}"))
        assert poll_mailbox(box_id) == "1 handled"
    assert [r["grant_type"] for r in idp.requests] == ["authorization_code"]


def test_a_revoked_refresh_token_fails_that_mailbox_with_the_reason(acme, client, oauth_dovecot, idp):
    _oauth_app(acme.id, idp)
    box_id = make_mailbox(acme.id, oauth_dovecot, "exchange", "exchange", password="").id
    login(client)
    _link(client, box_id)
    idp.refresh_tokens.clear()  # the admin revoked the app's access
    box = db.session.get(Mailbox, box_id)
    box.oauth_expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    result = poll_mailbox(box_id)
    assert result.startswith("failed:") and "link the account again" in result and "refresh token revoked" in result
    box = db.session.get(Mailbox, box_id)
    assert box.failures == 1 and decrypt(box.oauth_refresh_token_encrypted) not in result


def test_linking_without_an_oauth_app_says_what_to_set_up(acme, client, oauth_dovecot):
    box_id = make_mailbox(acme.id, oauth_dovecot, "exchange", "exchange", password="").id
    login(client)
    response = client.get(f"/settings/admin/inbound/{box_id}/oauth/link", follow_redirects=True)
    assert "no OAuth app is set up" in response.get_data(as_text=True)


def test_a_callback_that_was_not_started_here_is_refused(acme, client, oauth_dovecot, idp):
    _oauth_app(acme.id, idp)
    make_mailbox(acme.id, oauth_dovecot, "exchange", "exchange", password="")
    login(client)
    assert client.get("/settings/admin/inbound/oauth/callback?code=x&state=forged").status_code == 400
