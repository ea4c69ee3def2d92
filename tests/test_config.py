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
        create_app({"ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db"})


def test_malformed_encryption_key_is_a_start_up_error(tmp_path):
    with pytest.raises(SecretError, match="malformed"):
        create_app({"SECRET_KEY": "x", "ENCRYPTION_KEYS": "not-a-key",
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db"})


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
