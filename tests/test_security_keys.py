"""`postwerk keys rotate` re-encrypts every secret (issue 16, item 5)."""

from __future__ import annotations

from click.testing import CliRunner
from cryptography.fernet import Fernet

from core.cli import main
from core.crypto import decrypt, encrypt
from core.extensions import db
from core.models import MailSettings
from core.secrets_store import encrypted_columns
from tests.conftest import ENCRYPTION_KEY

# Every encrypted column of every model, core and plugins. A new one must be
# added here, and so is rotated by `postwerk keys rotate` (which finds the
# columns the same way: the "_encrypted" suffix).
ENCRYPTED = {
    ("mail_settings", "dkim_private_key_encrypted"),
    ("mail_settings", "oauth_access_token_encrypted"),
    ("mail_settings", "oauth_client_secret_encrypted"),
    ("mail_settings", "oauth_refresh_token_encrypted"),
    ("mail_settings", "password_encrypted"),
    ("mail_settings", "pop3_password_encrypted"),
    ("inbound_mailbox", "oauth_access_token_encrypted"),
    ("inbound_mailbox", "oauth_refresh_token_encrypted"),
    ("inbound_mailbox", "password_encrypted"),
}
# Secret-looking columns that are not reversible secrets (one-way hashes, key ids).
NOT_SECRETS = {
    ("user", "password_hash"),
    ("api_token", "token_hash"),
    ("api_token", "prefix"),
    ("account_secret", "secret_hash"),  # SHA-256 of a reset token or a code: one-way
    ("message", "claim_token"),
}  # a lease id, not a secret
SECRET_WORDS = ("password", "secret", "token", "private_key", "credential")


def test_every_encrypted_column_is_known_and_no_secret_hides_under_another_name(app):
    with app.app_context():
        found = {(model.__tablename__, name) for model, name in encrypted_columns()}
        assert found == ENCRYPTED
        suspicious = set()
        for mapper in db.Model.registry.mappers:
            for prop in mapper.column_attrs:
                name = prop.key
                if (
                    any(word in name for word in SECRET_WORDS)
                    and not name.endswith("_encrypted")
                    and "_at" not in name
                    and (mapper.class_.__tablename__, name) not in NOT_SECRETS
                ):
                    suspicious.add((mapper.class_.__tablename__, name))
        assert suspicious == set()


def test_keys_rotate_re_encrypts_every_secret(app, tenant, config, monkeypatch):
    from plugins.inbound_mail.models import Mailbox

    settings = db.session.get(MailSettings, tenant.id) or MailSettings(tenant_id=tenant.id)
    mailbox = Mailbox(
        tenant_id=tenant.id,
        name="box",
        protocol="imap",
        host="127.0.0.1",
        port=993,
        security="ssl",
        username="u",
        folder="INBOX",
        leave_on_server=True,
    )
    db.session.add_all([settings, mailbox])
    rows = {"mail_settings": settings, "inbound_mailbox": mailbox}
    plain = {}
    for table, name in sorted(ENCRYPTED):
        plain[(table, name)] = f"secret {table}.{name}"
        setattr(rows[table], name, encrypt(plain[(table, name)]))
    db.session.commit()

    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("POSTWERK_DATABASE_URL", config["SQLALCHEMY_DATABASE_URI"])
    monkeypatch.setenv("POSTWERK_REDIS_URL", config["REDIS_URL"])
    monkeypatch.setenv("POSTWERK_SECRET_KEY", "cli-test")
    monkeypatch.setenv("POSTWERK_ENCRYPTION_KEY", f"{new_key},{ENCRYPTION_KEY}")
    result = CliRunner().invoke(main, ["keys", "rotate"], catch_exceptions=False)
    assert result.exit_code == 0 and f"{len(ENCRYPTED)} secrets re-encrypted" in result.output, result.output

    # Only the new key from now on: every secret still reads.
    app.config["ENCRYPTION_KEYS"] = [new_key]
    app.extensions.pop("postwerk.fernet", None)
    db.session.expire_all()
    for (table, name), value in plain.items():
        row = db.session.get(type(rows[table]), rows[table].tenant_id if table == "mail_settings" else mailbox.id)
        assert decrypt(getattr(row, name)) == value, (table, name)
