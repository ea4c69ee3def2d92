"""Start-up refuses unsafe configuration instead of falling back to plaintext."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from core.app import create_app
from core.config import ConfigError
from core.crypto import SecretError, decrypt, encrypt


def test_missing_encryption_key_outside_development_is_a_start_up_error(tmp_path, monkeypatch):
    monkeypatch.delenv("POSTWERK_ENCRYPTION_KEY", raising=False)
    monkeypatch.delenv("POSTWERK_ENV", raising=False)
    with pytest.raises(ConfigError, match="POSTWERK_ENCRYPTION_KEY"):
        create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db"})


def test_missing_secret_key_outside_development_is_a_start_up_error(tmp_path, monkeypatch):
    monkeypatch.delenv("POSTWERK_SECRET_KEY", raising=False)
    monkeypatch.delenv("POSTWERK_ENV", raising=False)
    with pytest.raises(ConfigError, match="POSTWERK_SECRET_KEY"):
        create_app(
            {"ENCRYPTION_KEYS": [Fernet.generate_key().decode()], "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db"}
        )


def test_malformed_encryption_key_is_a_start_up_error(tmp_path):
    with pytest.raises(SecretError, match="malformed"):
        create_app(
            {"SECRET_KEY": "x", "ENCRYPTION_KEYS": "not-a-key", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db"}
        )


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("POSTWERK_DELIVERY_LANES", "many", "POSTWERK_DELIVERY_LANES must be a number, not 'many'"),
        ("POSTWERK_DELIVERY_LANES", "0", "POSTWERK_DELIVERY_LANES must be at least 1"),
        ("POSTWERK_SMTP_TIMEOUT", "30s", "POSTWERK_SMTP_TIMEOUT must be a number, not '30s'"),
        (
            "POSTWERK_RETRY_DELAYS",
            "5,30s",
            "POSTWERK_RETRY_DELAYS must be whole seconds separated by commas, not '5,30s'",
        ),
        (
            "POSTWERK_RETRY_DELAYS",
            "5,0",
            "POSTWERK_RETRY_DELAYS needs at least one delay, each from 1 second to a week, not '5,0'",
        ),
    ],
)
def test_malformed_number_is_a_start_up_error_naming_its_variable(tmp_path, monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        create_app(
            {
                "SECRET_KEY": "x",
                "ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db",
            }
        )
    assert str(raised.value) == message


def test_rotation_keeps_old_secrets_readable(tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    base = {"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db"}
    with create_app({**base, "ENCRYPTION_KEYS": old}).app_context():
        token = encrypt("s3cret")
    with create_app({**base, "ENCRYPTION_KEYS": f"{new},{old}"}).app_context():
        assert decrypt(token) == "s3cret"
    with create_app({**base, "ENCRYPTION_KEYS": new}).app_context():
        with pytest.raises(SecretError):
            decrypt(token)


def test_retry_delays_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("POSTWERK_RETRY_DELAYS", " 7, 8 ,900")
    app = create_app(
        {
            "SECRET_KEY": "x",
            "ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db",
        }
    )
    assert app.config["RETRY_DELAYS"] == (7, 8, 900)
    monkeypatch.delenv("POSTWERK_RETRY_DELAYS")
    app = create_app(
        {
            "SECRET_KEY": "x",
            "ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db",
        }
    )
    assert app.config["RETRY_DELAYS"] == (5, 30, 300)


def _synchronous(app) -> int:
    from sqlalchemy import text

    from core.extensions import db

    with app.app_context():
        with db.engine.connect() as conn:
            return conn.execute(text("PRAGMA synchronous")).scalar_one()


def test_sqlite_commits_are_durable_by_default_and_the_level_is_a_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("POSTWERK_SQLITE_SYNCHRONOUS", raising=False)
    base = {
        "SECRET_KEY": "x",
        "ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db",
    }
    assert _synchronous(create_app(base)) == 2  # FULL: a commit survives a power loss
    monkeypatch.setenv("POSTWERK_SQLITE_SYNCHRONOUS", "normal")
    assert _synchronous(create_app(base)) == 1
    monkeypatch.setenv("POSTWERK_SQLITE_SYNCHRONOUS", "off")
    with pytest.raises(ConfigError, match="POSTWERK_SQLITE_SYNCHRONOUS must be one of FULL, EXTRA, NORMAL"):
        create_app(base)
