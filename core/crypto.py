"""Secrets at rest: Fernet with key rotation (cryptography's MultiFernet).

The first key encrypts; every key decrypts, so an operator rotates by putting
a new key in front and running ``postwerk keys rotate``.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

from .logs import redact


class SecretError(RuntimeError):
    """A stored secret cannot be decrypted with the configured keys."""


def _fernet() -> MultiFernet:
    fernet = current_app.extensions.get("postwerk.fernet")
    if fernet is None:
        fernet = MultiFernet([Fernet(k) for k in current_app.config["ENCRYPTION_KEYS"]])
        current_app.extensions["postwerk.fernet"] = fernet
    return fernet


def encrypt(plaintext: str) -> str:
    """Encrypt a secret for storage (Fernet, the installation's newest key)."""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt what ``encrypt`` stored; ``SecretError`` when no key fits."""
    try:
        plain = _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretError(
            "a stored secret cannot be decrypted: was POSTWERK_ENCRYPTION_KEY changed without keeping the old key?"
        ) from exc
    redact(plain)  # whatever happens to it next, it never reaches a log line
    return plain


def rotate(token: str) -> str:
    return _fernet().rotate(token.encode()).decode()


def check_keys(keys: list[str]) -> None:
    """Fail at start-up on a malformed key rather than at the first send."""
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError) as exc:
            raise SecretError("POSTWERK_ENCRYPTION_KEY holds a malformed Fernet key") from exc
