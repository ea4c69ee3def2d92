"""OAuth2 "link account" for mail accounts other than the sending one -- an
inbound mailbox on Exchange Online / Microsoft 365 or Gmail.

The same flow and the same code as the sending side (core.mail.oauth):
authorization code with PKCE, the tenant's OAuth app (provider, directory,
client id and secret under Mail -> Settings), tokens refreshed a few minutes
before they expire, a rotated refresh token committed at once, two workers
serialised by a Redis lock. Only the tokens differ: they belong to the
account (the ``holder``, e.g. a plugin's mailbox row), which keeps them in
three columns named as MailSettings names them
(``oauth_access_token_encrypted``, ``oauth_refresh_token_encrypted``,
``oauth_expires_at``), so ``postwerk keys rotate`` covers them too.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from ..crypto import decrypt
from ..extensions import db
from ..models import MailSettings
from . import oauth
from ..queueing import redis

#: IMAP access (plus refresh tokens) instead of the sending side's SMTP.Send.
IMAP_SCOPES = {
    "microsoft": "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
    "google": "https://mail.google.com/",
}
_TOKEN_FIELDS = ("oauth_access_token_encrypted", "oauth_refresh_token_encrypted", "oauth_expires_at")


@dataclass(frozen=True)
class OAuthLink:
    """A started link: send the admin's browser to ``url``; keep the rest in
    the session for the callback."""

    #: The identity provider's sign-in page for this attempt.
    url: str
    #: The random state the callback must bring back (checks it is this link).
    state: str
    #: The PKCE code verifier, secret until the code is traded for tokens.
    verifier: str
    #: The callback address the provider sends the browser back to.
    redirect_uri: str


class _Account:
    """The tenant's OAuth app with the holder's tokens, shaped like the
    MailSettings that core.mail.oauth works on."""

    def __init__(self, app: MailSettings, holder, login_hint: str = "") -> None:
        object.__setattr__(self, "_holder", holder)
        for name in (
            "tenant_id",
            "oauth_provider",
            "oauth_authority",
            "oauth_tenant",
            "oauth_client_id",
            "oauth_client_secret_encrypted",
        ):
            object.__setattr__(self, name, getattr(app, name))
        object.__setattr__(self, "oauth_scopes", IMAP_SCOPES.get(app.oauth_provider, ""))
        object.__setattr__(self, "username", login_hint)
        object.__setattr__(self, "broken_reason", None)

    def __getattr__(self, name):
        if name in _TOKEN_FIELDS:
            return getattr(self._holder, name)
        raise AttributeError(name)

    def __setattr__(self, name, value) -> None:
        if name in _TOKEN_FIELDS:
            setattr(self._holder, name, value)
        else:
            object.__setattr__(self, name, value)


def _app(tenant_id: int) -> MailSettings:
    settings = db.session.get(MailSettings, tenant_id)
    if settings is None or not settings.oauth_provider or not settings.oauth_client_id:
        raise oauth.OAuthError(
            "no OAuth app is set up: choose the provider and enter the client id (and secret) "
            "under Mail -> Settings first"
        )
    return settings


def start_link(tenant_id: int, *, redirect_uri: str, login_hint: str = "") -> OAuthLink:
    """Begin linking an account with the tenant's OAuth app."""
    import secrets

    account = _Account(_app(tenant_id), None, login_hint)
    state = secrets.token_urlsafe(24)
    verifier, challenge = oauth.new_pkce()
    url = oauth.authorize_url(account, redirect_uri=redirect_uri, state=state, code_challenge=challenge)
    return OAuthLink(url, state, verifier, redirect_uri)


def finish_link(tenant_id: int, holder, *, code: str, redirect_uri: str, verifier: str) -> None:
    """The callback's half: trade the code for tokens, stored encrypted on
    ``holder`` (the caller commits). Raises OAuthError with the reason."""
    oauth.exchange_code(_Account(_app(tenant_id), holder), code=code, redirect_uri=redirect_uri, verifier=verifier)


def access_token(tenant_id: int, holder, *, lock_name: str) -> str:
    """A valid access token for the linked account, refreshed first when it
    expires within a few minutes; a rotated refresh token is committed at
    once. ``lock_name`` names the account among the tenant's (e.g.
    ``"mailbox-7"``). Raises OAuthError when only an admin can help."""
    if not holder.oauth_refresh_token_encrypted and not holder.oauth_access_token_encrypted:
        raise oauth.OAuthError("the account is not linked yet: use 'Link account'")
    if oauth._fresh(holder.oauth_expires_at) and holder.oauth_access_token_encrypted:
        return decrypt(holder.oauth_access_token_encrypted)
    account = _Account(_app(tenant_id), holder)
    lock = redis().lock(
        f"{current_app.config['QUEUE_PREFIX']}:oauth-refresh:{tenant_id}:{lock_name}",
        timeout=oauth.HTTP_TIMEOUT * 2,
        blocking_timeout=oauth.HTTP_TIMEOUT * 2,
    )
    if not lock.acquire():
        raise oauth.OAuthError("another worker is refreshing the token and did not finish")
    try:
        # Another worker may have refreshed while we waited for the lock.
        db.session.refresh(holder)
        if oauth._fresh(holder.oauth_expires_at) and holder.oauth_access_token_encrypted:
            return decrypt(holder.oauth_access_token_encrypted)
        if not holder.oauth_refresh_token_encrypted:
            raise oauth.OAuthError("the access token expired and there is no refresh token: link the account again")
        form = {
            **oauth._client_form(account),
            "grant_type": "refresh_token",
            "refresh_token": decrypt(holder.oauth_refresh_token_encrypted),
            "scope": oauth.scopes(account),
        }
        try:
            answer = oauth._post(oauth.endpoints(account).token, form)
        except oauth.OAuthError as exc:
            raise oauth.OAuthError(f"the OAuth token could not be refreshed, link the account again: {exc}") from exc
        oauth._store(account, answer)
        # Commit now: a rotated refresh token must never be lost to a later
        # rollback, or the next refresh uses a revoked one.
        db.session.commit()
        return decrypt(holder.oauth_access_token_encrypted)
    finally:
        lock.release()
