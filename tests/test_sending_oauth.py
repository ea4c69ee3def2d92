"""OAuth2 (XOAUTH2): linking an account through the admin pages, token
refresh and rotation, expired tokens -- against a loopback OAuth server and
an SMTP server that checks the token."""

from __future__ import annotations

import urllib.parse
import urllib.request
from datetime import timedelta

import pytest

from core.crypto import decrypt, encrypt
from core.extensions import db
from core.models import AuditEntry, MailSettings, MessageStatus
from core.models.types import utcnow
from tests.helpers import login, point_at
from tests.sending_helpers import deliver, queue_message
from tests.support.oauth_server import OAuthServer
from tests.support.smtp_sink import SmtpSink


@pytest.fixture
def idp():
    server = OAuthServer().start()
    yield server
    server.stop()


@pytest.fixture
def xoauth_sink(idp):
    with SmtpSink(auth=idp.valid) as sink:
        yield sink


def _configure(tenant_id, sink, idp, provider="microsoft", **extra):
    return point_at(
        tenant_id,
        sink,
        auth="oauth2",
        username=idp.user,
        oauth_provider=provider,
        oauth_tenant="contoso",
        oauth_client_id=idp.client_id,
        oauth_client_secret_encrypted=encrypt(idp.client_secret),
        oauth_authority=idp.url,
        **extra,
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _consent(url: str) -> str:
    """What the admin's browser does at the identity provider: returns the callback URL."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(url, timeout=5)
    except urllib.error.HTTPError as exc:
        assert exc.code == 302
        return exc.headers["Location"]
    raise AssertionError("the identity provider did not redirect")


def _link(client) -> str:
    response = client.get("/settings/admin/mail/oauth/link")
    assert response.status_code == 302
    return response.headers["Location"]


def test_link_account_stores_encrypted_tokens_and_xoauth2_sends(tenant, ctx, client, idp, xoauth_sink):
    _configure(tenant.id, xoauth_sink, idp)
    login(client)
    authorize = _link(client)
    parts = urllib.parse.urlsplit(authorize)
    assert authorize.startswith(f"{idp.url}/contoso/oauth2/v2.0/authorize?")
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert query["scope"] == (
        "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access"
    )
    assert query["code_challenge_method"] == "S256" and query["state"] and query["client_id"] == "client-1"
    callback = _consent(authorize)
    response = client.get(callback[callback.index("/settings") :])
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    settings = db.session.get(MailSettings, tenant.id)
    access = decrypt(settings.oauth_access_token_encrypted)
    assert access in idp.access and access not in settings.oauth_access_token_encrypted
    assert decrypt(settings.oauth_refresh_token_encrypted) in idp.refresh_tokens
    assert settings.oauth_expires_at > utcnow() + timedelta(minutes=50)
    assert db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "mail.oauth_linked")).scalar_one()
    # The code exchange proved the PKCE verifier.
    assert idp.requests[-1]["grant_type"] == "authorization_code" and idp.requests[-1]["code_verifier"]

    message = queue_message(tenant.id)
    deliver(tenant.id)
    assert message.status == MessageStatus.SENT, message.last_error
    assert xoauth_sink.messages[0].login == idp.user


def test_callback_with_a_foreign_state_is_refused(tenant, ctx, client, idp, xoauth_sink):
    _configure(tenant.id, xoauth_sink, idp)
    login(client)
    authorize = _link(client)
    callback = _consent(authorize.replace("state=", "state=forged"))
    assert client.get(callback[callback.index("/settings") :]).status_code == 400
    assert db.session.get(MailSettings, tenant.id).oauth_access_token_encrypted is None


def test_google_asks_for_offline_access(tenant, ctx, client, idp, xoauth_sink):
    _configure(tenant.id, xoauth_sink, idp, provider="google")
    login(client)
    authorize = _link(client)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize).query))
    assert authorize.startswith(f"{idp.url}/o/oauth2/v2/auth?")
    assert query["access_type"] == "offline" and query["scope"] == "https://mail.google.com/"
    callback = _consent(authorize)
    assert client.get(callback[callback.index("/settings") :]).status_code == 302
    message = queue_message(tenant.id)
    deliver(tenant.id)
    assert message.status == MessageStatus.SENT, message.last_error


def _linked(tenant_id, sink, idp, *, expires_in_minutes):
    """Tokens as if linked earlier (issued by the loopback server)."""
    import secrets
    import time

    access, refresh = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
    idp.access[access] = (idp.user, time.time() + expires_in_minutes * 60)
    idp.refresh_tokens[refresh] = idp.user
    _configure(
        tenant_id,
        sink,
        idp,
        oauth_access_token_encrypted=encrypt(access),
        oauth_refresh_token_encrypted=encrypt(refresh),
        oauth_expires_at=utcnow() + timedelta(minutes=expires_in_minutes),
    )
    return access, refresh


def test_token_is_refreshed_before_it_expires_and_the_rotated_one_stored(tenant, ctx, idp, xoauth_sink):
    old_access, old_refresh = _linked(tenant.id, xoauth_sink, idp, expires_in_minutes=2)  # inside the margin
    message = queue_message(tenant.id)
    deliver(tenant.id)
    assert message.status == MessageStatus.SENT, message.last_error
    assert [r["grant_type"] for r in idp.requests] == ["refresh_token"]
    settings = db.session.get(MailSettings, tenant.id)
    new_refresh = decrypt(settings.oauth_refresh_token_encrypted)
    assert new_refresh != old_refresh and new_refresh in idp.refresh_tokens
    assert old_refresh not in idp.refresh_tokens  # rotated: the old one is dead
    assert decrypt(settings.oauth_access_token_encrypted) != old_access
    # A fresh token is used as is.
    queue_message(tenant.id)
    deliver(tenant.id)
    assert len(idp.requests) == 1 and len(xoauth_sink.messages) == 2


def test_expired_token_that_cannot_be_refreshed_is_a_configuration_error(tenant, ctx, idp, xoauth_sink):
    _linked(tenant.id, xoauth_sink, idp, expires_in_minutes=-1)
    idp.refuse = "invalid_grant"
    message = queue_message(tenant.id)
    stats = deliver(tenant.id)
    assert message.status == MessageStatus.PENDING and message.attempts == 0 and stats.retried == 0
    reason = db.session.get(MailSettings, tenant.id).broken_reason
    assert "link the account again" in reason and "invalid_grant" in reason
    assert xoauth_sink.connections == 0


def test_token_rejected_by_the_smtp_server_is_a_configuration_error(tenant, ctx, idp, xoauth_sink):
    _linked(tenant.id, xoauth_sink, idp, expires_in_minutes=30)
    idp.expire_access_tokens()  # the server no longer accepts it, though we think it fresh
    message = queue_message(tenant.id)
    deliver(tenant.id)
    assert message.status == MessageStatus.PENDING and message.attempts == 0, message.last_error
    assert "535" in db.session.get(MailSettings, tenant.id).broken_reason
    assert xoauth_sink.messages == []


def test_linking_again_clears_the_broken_state(tenant, ctx, client, idp, xoauth_sink):
    _configure(tenant.id, xoauth_sink, idp, broken_reason="535 token expired")
    login(client)
    callback = _consent(_link(client))
    client.get(callback[callback.index("/settings") :])
    db.session.expire_all()
    assert db.session.get(MailSettings, tenant.id).broken_reason is None


def test_presets_and_notification_log_pages(tenant, ctx, client, smtp_sink):
    from core.notify import notify

    login(client)
    presets = client.get("/settings/admin/mail/presets.json").get_json()
    keys = {p["key"] for p in presets}
    assert keys == {"google", "microsoft365", "sendgrid", "mailgun", "postmark", "postfix"}
    m365 = next(p for p in presets if p["key"] == "microsoft365")
    assert (m365["host"], m365["port"], m365["security"], m365["auth"]) == (
        "smtp.office365.com",
        587,
        "starttls",
        "oauth2",
    )
    notify(tenant.id, "error", "Message 7 to x@example.org failed: 550 no such user")
    db.session.commit()
    # The old address of the notification log leads to the mail admin's log.
    moved = client.get("/settings/admin/mail/notifications?before=99")
    assert moved.status_code == 301 and moved.headers["Location"].endswith("/settings/admin/mail/log?before=99")
    page = client.get(moved.headers["Location"]).get_data(as_text=True)
    assert "550 no such user" in page


def test_pages_need_an_admin_login(client, tenant):
    assert client.get("/settings/admin/mail/notifications").status_code in (302, 401)
    assert client.get("/settings/admin/mail/oauth/link").status_code in (302, 401)
