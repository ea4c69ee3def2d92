"""The SMTP settings page's sending options, through the Flask test client:
every login method, presets, DKIM, OAuth2 linking, the connection check,
tenant isolation and CSRF -- against the real aiosmtpd sink, Dovecot and the
loopback OAuth server."""

from __future__ import annotations

import base64
import io
import re
import urllib.parse

import pytest

from core.api import MailboxLogin, hookimpl
from core.app import create_app
from core.crypto import decrypt, encrypt
from core.extensions import db
from core.models import AuditEntry, MailSettings
from core.plugin_state import set_enabled
from tests.helpers import csrf_token, login, make_tenant, point_at
from tests.support.oauth_server import OAuthServer
from tests.support.smtp_sink import SmtpSink

SETTINGS = "/settings/admin/mail/settings"


@pytest.fixture
def admin(client, tenant):
    login(client)
    return client


def page(client, url=SETTINGS, status=200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def save(client, data, status=302, url=SETTINGS):
    response = client.post(
        url, data={"csrf_token": csrf_token(page(client)), **data}, content_type="multipart/form-data"
    )
    assert response.status_code == status, response.get_data(as_text=True)[:3000]
    return response


def form_data(sink, **overrides):
    data = dict(
        host=sink.host,
        port=str(sink.port),
        security="none",
        auth="none",
        username="",
        password="",
        sender_address="noreply@acme.example",
        sender_name="Acme",
        reply_to="",
        sender_mode="system",
        encoding="utf-8",
        max_connections="5",
        pop3_host="",
        pop3_port="995",
        pop3_security="ssl",
        pop3_username="",
        pop3_password="",
        oauth_provider="microsoft",
        oauth_authority="",
        oauth_tenant="",
        oauth_client_id="",
        oauth_client_secret="",
        oauth_scopes="",
        dkim_domain="",
        dkim_selector="",
    )
    data.update(overrides)
    return data


def stored(tenant_id) -> MailSettings:
    db.session.expire_all()
    return db.session.get(MailSettings, tenant_id)


def rsa_pem() -> tuple[str, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    public = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pem, public


# --- each login method, saved and shown again --------------------------------------------


@pytest.mark.parametrize(
    "auth, extra, secrets",
    [
        ("none", {}, {}),
        ("password", {"username": "mailer", "password": "pw-Secret-1"}, {"password_encrypted": "pw-Secret-1"}),
        ("inbound", {}, {}),
        (
            "pop_before_smtp",
            {
                "pop3_host": "pop.acme.example",
                "pop3_port": "110",
                "pop3_security": "starttls",
                "pop3_username": "box",
                "pop3_password": "pop-Secret-2",
            },
            {"pop3_password_encrypted": "pop-Secret-2"},
        ),
        (
            "oauth2",
            {
                "username": "mailbox@acme.example",
                "oauth_tenant": "contoso",
                "oauth_client_id": "client-1",
                "oauth_client_secret": "oauth-Secret-3",
                "oauth_authority": "https://login.example.org",
            },
            {"oauth_client_secret_encrypted": "oauth-Secret-3"},
        ),
    ],
)
def test_each_login_method_round_trips_with_secrets_encrypted_and_never_shown(
    admin, tenant, smtp_sink, auth, extra, secrets
):
    save(admin, form_data(smtp_sink, auth=auth, **extra))
    settings = stored(tenant.id)
    assert settings.auth == auth
    for name, value in extra.items():
        if name in ("password", "pop3_password", "oauth_client_secret"):
            continue
        assert str(getattr(settings, name)) == value
    html = page(admin)
    assert f'<option selected value="{auth}">' in html
    for column, secret in secrets.items():
        ciphertext = getattr(settings, column)
        assert decrypt(ciphertext) == secret and secret not in ciphertext
        assert secret not in html and ciphertext not in html
        assert "stored — leave empty to keep it" in html
    # Saving again with the secret fields empty keeps the stored secrets.
    save(
        admin,
        form_data(
            smtp_sink, auth=auth, **{k: v for k, v in extra.items() if "password" not in k and "secret" not in k}
        ),
    )
    again = stored(tenant.id)
    for column, secret in secrets.items():
        assert decrypt(getattr(again, column)) == secret
    entries = db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "mail_settings.saved")).scalars()
    for entry in entries:
        for secret in secrets.values():
            assert secret not in str(entry.detail)


def test_login_methods_say_what_they_need(admin, tenant, smtp_sink):
    html = save(admin, form_data(smtp_sink, auth="pop_before_smtp"), status=400).get_data(as_text=True)
    assert "POP-before-SMTP needs the POP3 server." in html and "POP-before-SMTP needs the POP3 user name." in html
    html = save(admin, form_data(smtp_sink, auth="oauth2"), status=400).get_data(as_text=True)
    assert "OAuth2 needs the mailbox address as user name." in html
    assert "OAuth2 needs the application (client) ID." in html
    assert stored(tenant.id).auth == "none"


def test_the_audit_entry_names_changed_fields_but_no_secret(admin, tenant, smtp_sink):
    save(
        admin, form_data(smtp_sink, auth="password", username="mailer", password="pw-Secret-1", system_sender_only="y")
    )
    entry = (
        db.session.execute(
            db.select(AuditEntry).where(AuditEntry.action == "mail_settings.saved").order_by(AuditEntry.id.desc())
        )
        .scalars()
        .first()
    )
    changed = entry.detail["changed"]
    assert {"auth", "username", "password", "system_sender_only"} <= set(changed)
    assert "pw-Secret-1" not in str(entry.detail) and stored(tenant.id).system_sender_only


def test_the_bounce_address_is_checked_where_it_is_entered_and_stored(admin, tenant, smtp_sink):
    response = save(admin, form_data(smtp_sink, bounce_address="bounce+x@acme.example"), status=400)
    assert "no &#39;+&#39;" in response.get_data(as_text=True) or "no '+'" in response.get_data(as_text=True)
    assert stored(tenant.id).bounce_address == ""
    save(admin, form_data(smtp_sink, bounce_address=" bounce@ACME.example "))
    assert stored(tenant.id).bounce_address == "bounce@acme.example"
    assert 'value="bounce@acme.example"' in page(admin)


# --- the port follows the security choice ---------------------------------------------------


def test_the_port_follows_the_security_when_left_empty_or_at_the_old_default(admin, tenant, smtp_sink):
    save(admin, form_data(smtp_sink, security="starttls", port=""))
    assert stored(tenant.id).port == 587
    save(admin, form_data(smtp_sink, security="ssl", port="587"))  # unchanged from STARTTLS's usual port
    assert stored(tenant.id).port == 465
    save(admin, form_data(smtp_sink, security="starttls", port="2525"))  # the admin's own choice stays
    assert stored(tenant.id).port == 2525
    save(admin, form_data(smtp_sink, security="none", port="2525"))
    assert stored(tenant.id).port == 2525


# --- presets --------------------------------------------------------------------------------


def test_apply_preset_fills_the_form_without_saving(admin, tenant, smtp_sink):
    response = save(
        admin, form_data(smtp_sink, preset="microsoft365", apply_preset="1", sender_name="Kept"), status=200
    )
    html = response.get_data(as_text=True)
    assert 'value="smtp.office365.com"' in html and re.search(r'<input [^>]*name="port"[^>]* value="587"', html)
    assert '<option selected value="oauth2">' in html and '<option selected value="microsoft">' in html
    assert '<option selected value="starttls">' in html and 'value="Kept"' in html
    assert "SMTP.Send" in html and "5.7.139" in html  # the default scopes and the preset's note
    assert re.search(r'<input checked [^>]*name="system_sender_only"', html)
    assert stored(tenant.id).host == smtp_sink.host  # nothing saved yet
    html = save(admin, form_data(smtp_sink, preset="", apply_preset="1"), status=400).get_data(as_text=True)
    assert "Choose a provider preset first." in html


# --- test mail with the other logins -----------------------------------------------------------


def test_pop_before_smtp_test_mail(admin, tenant, smtp_sink, pop_dovecot):
    pop = dict(
        auth="pop_before_smtp",
        pop3_host=pop_dovecot.host,
        pop3_port=str(pop_dovecot.pop3_port),
        pop3_security="none",
        pop3_username="box",
    )
    save(admin, form_data(smtp_sink, **pop, pop3_password="wrong"))
    html = save(admin, {"recipient": "check@example.org"}, status=200, url="/settings/admin/mail/test").get_data(
        as_text=True
    )
    assert "POP-before-SMTP login at 127.0.0.1 refused" in html and smtp_sink.messages == []
    save(admin, form_data(smtp_sink, **pop, pop3_password="boxpw"))
    html = save(admin, {"recipient": "check@example.org"}, status=200, url="/settings/admin/mail/test").get_data(
        as_text=True
    )
    assert "Sent." in html, html
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["check@example.org"]]


class InboundPlugin:
    """Stands in for the inbound_mail plugin."""

    @hookimpl
    def postwerk_mailbox_credentials(self, tenant):
        return MailboxLogin("box@acme.example", "inbound-pw", host="127.0.0.1") if tenant.slug == "acme" else None


def test_same_login_as_the_incoming_mailbox_test_mail_and_check(config):
    app = create_app(config, extra_plugins={"inbound_test": InboundPlugin()})
    with app.app_context(), SmtpSink(auth={"box@acme.example": "inbound-pw"}) as sink:
        tenant = make_tenant("acme", sink)
        set_enabled(tenant.id, "inbound_test", True)
        client = app.test_client()
        login(client)
        save(client, form_data(sink, auth="inbound"))
        html = save(client, {"id": "check"}, status=200, url="/settings/admin/mail/settings/check").get_data(
            as_text=True
        )
        assert "Connection works." in html and "logged in as box@acme.example" in html
        assert sink.messages == []
        save(client, {"recipient": "check@example.org"}, status=200, url="/settings/admin/mail/test")
        assert [m.login for m in sink.messages] == ["box@acme.example"]
        db.session.remove()
        db.engine.dispose()


def test_check_connection_shows_the_servers_words_and_a_hint(admin, tenant):
    with SmtpSink(auth={"mailer": "right"}) as sink:
        save(admin, form_data(sink, auth="password", username="mailer", password="wrong"))
        html = save(admin, {"id": "check"}, status=200, url="/settings/admin/mail/settings/check").get_data(
            as_text=True
        )
        assert "No connection." in html and "535" in html
        assert "Authentication: check user name" in html  # the hint
        assert sink.messages == []
        assert stored(tenant.id).last_test_result.startswith("FAILED: ")


# --- DKIM ---------------------------------------------------------------------------------------


def test_dkim_key_upload_signs_the_test_mail_and_shows_the_dns_record(admin, tenant, smtp_sink):
    import dkim

    pem, public = rsa_pem()
    save(
        admin,
        form_data(
            smtp_sink, dkim_domain="Acme.Example", dkim_selector="pw1", dkim_key=(io.BytesIO(pem.encode()), "dkim.pem")
        ),
    )
    settings = stored(tenant.id)
    assert settings.dkim_domain == "acme.example" and decrypt(settings.dkim_private_key_encrypted) == pem
    html = page(admin)
    assert "BEGIN RSA PRIVATE KEY" not in html and settings.dkim_private_key_encrypted not in html
    assert "pw1._domainkey.acme.example" in html and f"v=DKIM1; k=rsa; p={public.decode()}" in html
    save(admin, {"recipient": "check@example.org"}, status=200, url="/settings/admin/mail/test")
    (mail,) = smtp_sink.messages
    assert mail.message["DKIM-Signature"]

    def dns(name, timeout=5):
        assert name == b"pw1._domainkey.acme.example."
        return b"v=DKIM1; k=rsa; p=" + public

    assert dkim.verify(mail.raw, dnsfunc=dns)
    # Saving without a new upload keeps the key; the remove button deletes it.
    save(admin, form_data(smtp_sink, dkim_domain="acme.example", dkim_selector="pw1"))
    assert stored(tenant.id).dkim_private_key_encrypted
    save(admin, {"id": "dkim"}, url="/settings/admin/mail/settings/delete-dkim-key")
    assert stored(tenant.id).dkim_private_key_encrypted is None


@pytest.mark.parametrize(
    "upload, domain, words",
    [
        (
            b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
            "acme.example",
            "This key cannot sign",
        ),
        (b"hello", "acme.example", "This key cannot sign"),
        (None, "", "Enter the DKIM domain and selector with the key."),
    ],
)
def test_a_bad_dkim_key_is_refused_at_the_field(admin, tenant, smtp_sink, upload, domain, words):
    data = form_data(smtp_sink, dkim_domain=domain, dkim_selector="pw1" if domain else "")
    data["dkim_key"] = (io.BytesIO(upload or rsa_pem()[0].encode()), "dkim.pem")
    html = save(admin, data, status=400).get_data(as_text=True)
    assert words in html
    assert stored(tenant.id).dkim_private_key_encrypted is None


# --- OAuth2 ---------------------------------------------------------------------------------------


def test_oauth_settings_and_the_link_button(admin, tenant, smtp_sink):
    idp = OAuthServer().start()
    try:
        save(
            admin,
            form_data(
                smtp_sink,
                auth="oauth2",
                username=idp.user,
                oauth_provider="microsoft",
                oauth_tenant="contoso",
                oauth_client_id=idp.client_id,
                oauth_client_secret=idp.client_secret,
                oauth_authority=idp.url,
                oauth_scopes="https://outlook.office.com/IMAP.AccessAsUser.All "
                "https://outlook.office.com/SMTP.Send offline_access",
            ),
        )
        settings = stored(tenant.id)
        assert settings.oauth_scopes == ""  # the defaults, kept as "defaults"
        assert decrypt(settings.oauth_client_secret_encrypted) == idp.client_secret
        html = page(admin)
        assert idp.client_secret not in html and "Not linked" in html
        assert 'href="/settings/admin/mail/oauth/link"' in html
        assert "http://localhost/settings/admin/mail/oauth/callback" in html  # the redirect URI to register
        response = admin.get("/settings/admin/mail/oauth/link")
        authorize = response.headers["Location"]
        assert authorize.startswith(f"{idp.url}/contoso/oauth2/v2.0/authorize?")
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize).query))
        assert query["client_id"] == idp.client_id and "SMTP.Send" in query["scope"]
        # The identity provider consents at once and sends the browser back.
        from tests.test_sending_oauth import _consent

        callback = _consent(authorize)
        response = admin.get(callback[callback.index("/settings") :])
        assert response.headers["Location"].endswith(SETTINGS)
        html = page(admin)
        assert "Linked</span>" in html and idp.user in html and re.search(r"valid until [0-9-]+ [0-9:]+ CES?T", html)
        for column in ("oauth_access_token_encrypted", "oauth_refresh_token_encrypted"):
            token = getattr(stored(tenant.id), column)
            assert decrypt(token) not in html and token not in html
        # Another application: the old tokens are useless and go.
        save(
            admin,
            form_data(
                smtp_sink,
                auth="oauth2",
                username=idp.user,
                oauth_tenant="contoso",
                oauth_client_id="client-2",
                oauth_authority=idp.url,
            ),
        )
        settings = stored(tenant.id)
        assert settings.oauth_refresh_token_encrypted is None and settings.oauth_client_secret_encrypted
    finally:
        idp.stop()


def test_unlink_removes_the_tokens(admin, tenant, smtp_sink):
    point_at(
        tenant.id,
        smtp_sink,
        auth="oauth2",
        username="m@acme.example",
        oauth_provider="google",
        oauth_client_id="c",
        oauth_refresh_token_encrypted=encrypt("r"),
        oauth_access_token_encrypted=encrypt("a"),
    )
    assert "Remove the link" in page(admin)
    save(admin, {"id": "oauth"}, url="/settings/admin/mail/settings/unlink-oauth")
    settings = stored(tenant.id)
    assert settings.oauth_refresh_token_encrypted is None and settings.oauth_access_token_encrypted is None
    assert settings.oauth_client_id == "c"


# --- system sender --------------------------------------------------------------------------------


def test_a_forced_system_sender_shows_the_servers_reason(admin, tenant, smtp_sink):
    from core.notify import audit

    point_at(tenant.id, smtp_sink, system_sender_only=True)
    audit(
        tenant.id,
        "system",
        "mail.system_sender_forced",
        "mail_settings",
        tenant.id,
        reason="550 5.7.60 SMTP; Client does not have permissions to send as this sender",
    )
    db.session.commit()
    html = page(admin)
    assert 'id="forced-reason"' in html and "5.7.60" in html


# --- isolation and CSRF -----------------------------------------------------------------------------


def test_another_tenant_neither_sees_nor_changes_these_settings(admin, tenant, smtp_sink):
    other = make_tenant("other", smtp_sink)
    point_at(
        other.id,
        smtp_sink,
        auth="pop_before_smtp",
        pop3_host="pop.other.example",
        pop3_username="otherbox",
        pop3_password_encrypted=encrypt("other-pw"),
        dkim_domain="other.example",
        dkim_selector="o1",
        dkim_private_key_encrypted=encrypt(rsa_pem()[0]),
        oauth_refresh_token_encrypted=encrypt("r"),
    )
    html = page(admin)
    assert "pop.other.example" not in html and "other.example" not in html and "o1._domainkey" not in html
    save(
        admin,
        form_data(
            smtp_sink, auth="pop_before_smtp", pop3_host="pop.acme.example", pop3_username="a", pop3_password="acme-pw"
        ),
    )
    save(admin, {"id": "dkim"}, url="/settings/admin/mail/settings/delete-dkim-key")
    save(admin, {"id": "oauth"}, url="/settings/admin/mail/settings/unlink-oauth")
    theirs = stored(other.id)
    assert theirs.pop3_host == "pop.other.example" and decrypt(theirs.pop3_password_encrypted) == "other-pw"
    assert theirs.dkim_private_key_encrypted and theirs.oauth_refresh_token_encrypted
    assert stored(tenant.id).pop3_host == "pop.acme.example"


def test_posts_without_csrf_token_are_refused(admin, tenant, smtp_sink):
    for url, data in (
        (SETTINGS, form_data(smtp_sink, host="evil.example")),
        (SETTINGS, form_data(smtp_sink, preset="google", apply_preset="1")),
        (SETTINGS + "/check", {"id": "check"}),
        (SETTINGS + "/delete-dkim-key", {"id": "dkim"}),
        (SETTINGS + "/unlink-oauth", {"id": "oauth"}),
    ):
        assert admin.post(url, data=data).status_code == 400, url
    assert stored(tenant.id).host == smtp_sink.host


def test_the_page_is_german_for_a_german_browser(admin, tenant):
    html = admin.get(SETTINGS, headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(as_text=True)
    for german in ("Verbindung testen", "Anbieter-Vorgabe", "Signatur", "Grenzen", "Nur als Systemadresse senden"):
        assert german in html, german
