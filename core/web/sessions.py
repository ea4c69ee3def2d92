"""Log-in sessions kept on the server, and the throttle on failed log-ins.

Flask's session is a signed cookie: by itself, a cookie copied before
logout keeps working until it expires. So each log-in gets a random session
id, kept as a row of ``web_session`` in the database (its SHA-256 only);
requests renew it, logout deletes it, and a session idle for longer than
the idle lifetime or older than the absolute lifetime ends whatever the
cookie says. The database is the source of truth, so signing in and the
admin keep working while Redis is down (docs/security.md).

Failed log-ins are counted per account (tenant + e-mail) and per client
address in Redis; past the limit the account (or client) is locked for the
lock-out time, even for the right password, and the tenant's admins get a
notice in the notification log once per lock-out. While Redis is down they
are not counted (logged): the password hashing still bounds guessing.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import urllib.parse
from datetime import timedelta

from flask import current_app, g, session
from redis.exceptions import RedisError
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..models import WebSession, web_session
from ..models.types import utcnow
from ..queueing import redis

log = logging.getLogger(__name__)

SID = "_pw_sid"
# Failures one client address may have in the lock-out time, over all accounts.
CLIENT_FAILURES = 20
# A session's last request is written at most this often: not one UPDATE
# per page view, and the idle lifetime is still kept to within a minute.
RENEW_SECONDS = 60
_DUMMY_HASH: str | None = None


def _key(*parts: object) -> str:
    return ":".join([current_app.config["QUEUE_PREFIX"], *map(str, parts)])


# --- sessions --------------------------------------------------------------------


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _idle() -> timedelta:
    return timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])


def _longest() -> timedelta:
    return timedelta(hours=current_app.config["SESSION_MAX_HOURS"])


def start(user_id: int) -> None:
    """At log-in: a fresh session (new CSRF secret too) with a new server-side id."""
    session.clear()
    # Flask-WTF keeps the signed token of this request in g: forget it too.
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    sid = secrets.token_urlsafe(32)
    now = utcnow()
    # This user's ended sessions go now; nobody else's rows are touched.
    db.session.execute(
        db.delete(WebSession).where(
            WebSession.user_id == user_id,
            web_session.ended(now),
        )
    )
    db.session.add(WebSession(id=_digest(sid), user_id=user_id, started_at=now, last_seen_at=now))
    db.session.commit()
    session[SID] = sid  # the start and the last request are the row's
    session.permanent = True


def end_all(user_id: int) -> int:
    """End every session of a user (a password change): their rows go, in
    the caller's transaction, so the new password and the ended sessions
    are committed together; then every cookie of theirs, in any browser, is
    worthless. Returns how many were open. Needs only the database."""
    return db.session.execute(db.delete(WebSession).where(WebSession.user_id == user_id)).rowcount


def alive(user_id: str) -> bool:
    """Whether the cookie's session is still open on the server; renews it."""
    sid = session.get(SID)
    if not sid or not isinstance(sid, str):
        return False
    row = db.session.get(WebSession, _digest(sid))
    if row is None or str(row.user_id) != str(user_id):
        return False
    now = utcnow()
    if now - row.last_seen_at > _idle() or now - row.started_at > _longest():
        db.session.delete(row)
        db.session.commit()
        return False
    if (now - row.last_seen_at).total_seconds() > RENEW_SECONDS:
        row.last_seen_at = now
        db.session.commit()
    return True


def end() -> None:
    sid = session.get(SID)
    if sid and isinstance(sid, str):
        db.session.execute(db.delete(WebSession).where(WebSession.id == _digest(sid)))
        db.session.commit()
    session.clear()
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)


# --- failed log-ins ----------------------------------------------------------------


def locked(account: str, client: str) -> bool:
    limit = current_app.config["LOGIN_LOCKOUT_FAILURES"]
    try:
        counts = redis().mget(_key("login-fail", "account", account), _key("login-fail", "client", client))
    except RedisError as exc:
        log.warning("log-in throttle not checked (Redis: %s)", exc)
        return False
    account_count, client_count = (int(c or 0) for c in counts)
    return account_count >= limit or client_count >= max(4 * limit, CLIENT_FAILURES)


def failed(account: str, client: str) -> bool:
    """Count a failure; True when this one locked the account (notify once)."""
    window = int(current_app.config["LOGIN_LOCKOUT_MINUTES"] * 60)
    try:
        pipe = redis().pipeline()
        for key in (_key("login-fail", "account", account), _key("login-fail", "client", client)):
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
        account_count = pipe.execute()[0]
    except RedisError as exc:
        log.warning("failed log-in not counted (Redis: %s)", exc)
        return False
    return int(account_count) == current_app.config["LOGIN_LOCKOUT_FAILURES"]


def succeeded(account: str) -> None:
    try:
        redis().delete(_key("login-fail", "account", account))
    except RedisError:
        pass


def burn_password_check(password: str) -> None:
    """The same hashing work as a real password check, for an unknown tenant
    or user: the answer's timing does not tell which accounts exist."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))
    check_password_hash(_DUMMY_HASH, password)


# --- next= ----------------------------------------------------------------------


def safe_next(target: str) -> str | None:
    """A same-site path, or None. Browsers drop tabs and newlines and read
    backslashes as slashes, so ``/%09/evil.example`` is ``//evil.example``."""
    if not target or any(ord(c) < 33 or c == "\\" or ord(c) == 127 for c in target):
        return None
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
