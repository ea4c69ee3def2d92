"""Secrets go only where the admin meant them to go (issue 16, items 4 and 5;
RELIABILITY 36): a stored secret never follows a changed host, port or
identity-provider URL."""

from __future__ import annotations

import pytest

from core.crypto import decrypt, encrypt
from core.extensions import db
from tests.helpers import csrf_token, login
from tests.support.smtp_sink import SmtpSink
from tests.test_admin_settings import SETTINGS, form_data, page, save, stored


@pytest.fixture
def admin(client, tenant):
    login(client)
    return client


def test_the_smtp_password_never_follows_a_changed_host(admin, tenant):
    """Save host A with a password, change only the host to B (password left
    empty), press "Test connection": B never gets the password."""
    with SmtpSink(auth={"mailer": "pw-Secret-1"}) as first, SmtpSink(auth={"mailer": "pw-Secret-1"}) as second:
        attempts = []
        authenticate = second._authenticate
        second._authenticate = lambda *args: attempts.append(args[-1].password) or authenticate(*args)
        save(admin, form_data(first, auth="password", username="mailer", password="pw-Secret-1"))
        assert decrypt(stored(tenant.id).password_encrypted) == "pw-Secret-1"

        response = save(admin, form_data(second, auth="password", username="mailer"))
        html = admin.get(response.headers["Location"]).get_data(as_text=True)
        assert "the stored secret was removed" in html
        assert stored(tenant.id).password_encrypted is None
        admin.post(f"{SETTINGS}/check", data={"csrf_token": csrf_token(page(admin)), "id": "check"})
        assert attempts == [] and second.messages == []


def test_a_changed_port_drops_the_password_and_pop3_and_a_new_one_is_kept(admin, tenant, smtp_sink):
    save(
        admin,
        form_data(
            smtp_sink,
            auth="pop_before_smtp",
            pop3_host="pop.acme.example",
            pop3_port="995",
            pop3_username="box",
            pop3_password="pop-Secret-2",
            password="pw-Secret-1",
            username="mailer",
        ),
    )
    save(
        admin,
        form_data(
            smtp_sink,
            auth="pop_before_smtp",
            pop3_host="pop.acme.example",
            pop3_port="110",
            pop3_security="starttls",
            pop3_username="box",
            port="2525",
            username="mailer",
        ),
    )
    settings = stored(tenant.id)
    assert settings.pop3_password_encrypted is None and settings.password_encrypted is None
    # Entered again together with the change: kept.
    save(
        admin,
        form_data(
            smtp_sink,
            auth="pop_before_smtp",
            pop3_host="pop2.acme.example",
            pop3_port="110",
            pop3_security="starttls",
            pop3_username="box",
            pop3_password="pop-Secret-3",
        ),
    )
    assert decrypt(stored(tenant.id).pop3_password_encrypted) == "pop-Secret-3"
    # Nothing about the server changed: the empty field keeps it.
    save(
        admin,
        form_data(
            smtp_sink,
            auth="pop_before_smtp",
            pop3_host="pop2.acme.example",
            pop3_port="110",
            pop3_security="starttls",
            pop3_username="box",
            sender_name="Acme GmbH",
        ),
    )
    assert decrypt(stored(tenant.id).pop3_password_encrypted) == "pop-Secret-3"


def test_the_oauth_client_secret_and_tokens_never_follow_a_changed_provider_url(admin, tenant, smtp_sink):
    oauth = dict(
        auth="oauth2",
        username="box@acme.example",
        oauth_client_id="client-1",
        oauth_authority="https://login.acme.example",
    )
    save(admin, form_data(smtp_sink, oauth_client_secret="oauth-Secret-3", **oauth))
    settings = stored(tenant.id)
    settings.oauth_access_token_encrypted = encrypt("access-1")
    settings.oauth_refresh_token_encrypted = encrypt("refresh-1")
    db.session.commit()
    save(admin, form_data(smtp_sink, **{**oauth, "oauth_authority": "https://login.evil.example"}))
    settings = stored(tenant.id)
    assert settings.oauth_client_secret_encrypted is None
    assert settings.oauth_access_token_encrypted is None and settings.oauth_refresh_token_encrypted is None


def test_oauth_tokens_never_follow_a_changed_smtp_host(admin, tenant, smtp_sink):
    oauth = dict(
        auth="oauth2", username="box@acme.example", oauth_client_id="client-1", oauth_client_secret="oauth-Secret-3"
    )
    save(admin, form_data(smtp_sink, **oauth))
    settings = stored(tenant.id)
    settings.oauth_access_token_encrypted = encrypt("access-1")
    db.session.commit()
    save(
        admin,
        form_data(smtp_sink, host="smtp.evil.example", security="starttls", **{**oauth, "oauth_client_secret": ""}),
    )
    settings = stored(tenant.id)
    assert settings.oauth_access_token_encrypted is None
    # The client secret goes to the identity provider, which did not change.
    assert decrypt(settings.oauth_client_secret_encrypted) == "oauth-Secret-3"
