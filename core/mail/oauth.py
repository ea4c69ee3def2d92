"""OAuth2 for SMTP (XOAUTH2): the authorization-code flow with PKCE, token
storage and refresh, for Microsoft 365 / Exchange Online and Google.

A plain OAuth2 client over ``urllib`` rather than msal: the same few lines
serve both providers, and the identity provider's base URL is a setting, so
the whole flow runs in tests against a small OAuth server on loopback.

Tokens are stored encrypted (core.crypto). An access token is refreshed a
few minutes before it expires; a refresh token the provider rotates is
stored (committed) at once, because the old one may already be invalid.
Two workers refreshing at the same moment are serialised by a Redis lock,
and the second one uses the token the first one stored.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from .. import targets
from ..crypto import decrypt, encrypt
from ..extensions import db
from ..models import MailSettings
from ..models.types import utcnow
from .deadline import Deadline
from ..queueing import redis

MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
GOOGLE_AUTHORITY = "https://accounts.google.com"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"

DEFAULT_SCOPES = {
    "microsoft": "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access",
    "google": "https://mail.google.com/",
}
# Refresh this long before the access token expires: a send may take a
# while, and clocks differ.
REFRESH_MARGIN = timedelta(minutes=5)
HTTP_TIMEOUT = 15
# Overall, however slowly the provider answers; below the refresh lock's life.
HTTP_DEADLINE = HTTP_TIMEOUT * 1.5


class OAuthError(RuntimeError):
    """The identity provider refused, or the settings are incomplete.

    Only an admin can fix it (re-link the account, correct the app settings).
    """


@dataclass(frozen=True)
class Endpoints:
    authorize: str
    token: str


def endpoints(settings: MailSettings) -> Endpoints:
    provider = settings.oauth_provider
    if provider == "microsoft":
        base = (settings.oauth_authority or MICROSOFT_AUTHORITY).rstrip("/")
        directory = urllib.parse.quote(settings.oauth_tenant or "organizations", safe="")
        return Endpoints(f"{base}/{directory}/oauth2/v2.0/authorize", f"{base}/{directory}/oauth2/v2.0/token")
    if provider == "google":
        if settings.oauth_authority:
            base = settings.oauth_authority.rstrip("/")
            return Endpoints(f"{base}/o/oauth2/v2/auth", f"{base}/token")
        return Endpoints(f"{GOOGLE_AUTHORITY}/o/oauth2/v2/auth", GOOGLE_TOKEN_URL)
    raise OAuthError("no OAuth provider is chosen (microsoft or google)")


def scopes(settings: MailSettings) -> str:
    chosen = (settings.oauth_scopes or "").split() or DEFAULT_SCOPES.get(settings.oauth_provider, "").split()
    if settings.oauth_provider == "microsoft" and "offline_access" not in chosen:
        chosen.append("offline_access")  # without it there is no refresh token
    return " ".join(chosen)


def new_pkce() -> tuple[str, str]:
    """(verifier, S256 challenge) per RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(settings: MailSettings, *, redirect_uri: str, state: str, code_challenge: str) -> str:
    if not settings.oauth_client_id:
        raise OAuthError("the OAuth client id is missing")
    params = {
        "client_id": settings.oauth_client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": scopes(settings),
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    if settings.oauth_provider == "google":
        # Google issues a refresh token only for offline access with consent.
        params.update(access_type="offline", prompt="consent")
    if settings.username:
        params["login_hint"] = settings.username
    return endpoints(settings).authorize + "?" + urllib.parse.urlencode(params)


def _watched(connection_class, deadline: Deadline):
    def connection(*args, **kwargs):
        conn = connection_class(*args, **kwargs)
        conn._create_connection = lambda address, timeout, source_address=None: deadline.connect(address, timeout)
        return conn

    return connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline):
        super().__init__()
        self.deadline = deadline

    def http_open(self, req):
        return self.do_open(_watched(http.client.HTTPConnection, self.deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline):
        super().__init__()
        self.deadline = deadline

    def https_open(self, req):
        return self.do_open(_watched(http.client.HTTPSConnection, self.deadline), req, context=self._context)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A token endpoint that redirects could lead the client secret anywhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _post(url: str, form: dict) -> dict:
    try:
        # The form only here; the addresses are checked where the socket is
        # opened (Deadline.connect), on the one DNS answer connected to.
        targets.check_url(url, resolve=False)
    except targets.TargetRefused as exc:
        raise OAuthError(f"the identity provider's address is refused: {exc}") from None
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    deadline = Deadline(HTTP_DEADLINE).start()
    opener = urllib.request.build_opener(_NoRedirect, _HTTPHandler(deadline), _HTTPSHandler(deadline))
    try:
        with opener.open(request, timeout=HTTP_TIMEOUT) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read().decode("utf-8", "replace"))
        except (ValueError, OSError, http.client.HTTPException):
            body = {}
        reason = body.get("error_description") or body.get("error") or exc.reason
        raise OAuthError(f"the identity provider refused ({exc.code}): {reason}") from exc
    except targets.TargetRefused as exc:
        raise OAuthError(f"the identity provider's address is refused: {exc}") from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        if deadline.expired:
            raise OAuthError(
                f"the identity provider at {url} took longer than {HTTP_DEADLINE:g} s in all (it answers too slowly)"
            ) from exc
        raise OAuthError(f"the identity provider at {url} cannot be reached: {exc}") from exc
    finally:
        deadline.release()


def _client_form(settings: MailSettings) -> dict:
    form = {"client_id": settings.oauth_client_id}
    if settings.oauth_client_secret_encrypted:
        form["client_secret"] = decrypt(settings.oauth_client_secret_encrypted)
    return form


def _store(settings: MailSettings, answer: dict) -> None:
    token = answer.get("access_token")
    if not token:
        raise OAuthError("the identity provider answered without an access token")
    settings.oauth_access_token_encrypted = encrypt(token)
    if answer.get("refresh_token"):
        settings.oauth_refresh_token_encrypted = encrypt(answer["refresh_token"])
    settings.oauth_expires_at = utcnow() + timedelta(seconds=int(answer.get("expires_in") or 3600))


def exchange_code(settings: MailSettings, *, code: str, redirect_uri: str, verifier: str) -> None:
    """The callback's half: trade the code for tokens and store them (caller commits)."""
    form = {
        **_client_form(settings),
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "scope": scopes(settings),
    }
    answer = _post(endpoints(settings).token, form)
    if not answer.get("refresh_token"):
        raise OAuthError(
            "the identity provider gave no refresh token: for Microsoft add the scope "
            "offline_access, for Google allow offline access"
        )
    _store(settings, answer)
    settings.broken_reason = None


def _fresh(expires_at: datetime | None) -> bool:
    return expires_at is not None and expires_at - REFRESH_MARGIN > utcnow()


def access_token(settings: MailSettings) -> str:
    """A valid access token, refreshed first when it expires soon."""
    if not settings.oauth_refresh_token_encrypted and not settings.oauth_access_token_encrypted:
        raise OAuthError("the account is not linked yet: use 'Link account' in the mail settings")
    if _fresh(settings.oauth_expires_at) and settings.oauth_access_token_encrypted:
        return decrypt(settings.oauth_access_token_encrypted)
    return refresh(settings)


def refresh(settings: MailSettings) -> str:
    lock = redis().lock(
        f"{current_app.config['QUEUE_PREFIX']}:oauth-refresh:{settings.tenant_id}",
        timeout=HTTP_TIMEOUT * 2,
        blocking_timeout=HTTP_TIMEOUT * 2,
    )
    if not lock.acquire():
        raise OAuthError("another worker is refreshing the token and did not finish")
    try:
        # Another worker may have refreshed while we waited for the lock.
        db.session.refresh(settings)
        if _fresh(settings.oauth_expires_at) and settings.oauth_access_token_encrypted:
            return decrypt(settings.oauth_access_token_encrypted)
        if not settings.oauth_refresh_token_encrypted:
            raise OAuthError("the access token expired and there is no refresh token: link the account again")
        form = {
            **_client_form(settings),
            "grant_type": "refresh_token",
            "refresh_token": decrypt(settings.oauth_refresh_token_encrypted),
            "scope": scopes(settings),
        }
        try:
            answer = _post(endpoints(settings).token, form)
        except OAuthError as exc:
            raise OAuthError(f"the OAuth token could not be refreshed, link the account again: {exc}") from exc
        _store(settings, answer)
        # Commit now: a rotated refresh token must never be lost to a later
        # rollback, or the next refresh uses a revoked one.
        db.session.commit()
        return decrypt(settings.oauth_access_token_encrypted)
    finally:
        lock.release()
